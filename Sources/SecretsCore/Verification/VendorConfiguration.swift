/// One vendor as configured: the `vendors[]` entry of the configuration file, decoded.
///
/// Which fields are required or allowed depends on the kind (see `VendorKind`); `validated(by:)`
/// checks them and fills in the kind's defaults.
public struct VendorConfiguration: Sendable, CustomStringConvertible {
    /// Unique among enabled vendors; 1 to 64 ASCII letters, digits, `-` and `_`. The `{vendor-id}` path
    /// segment and the `vendor` metrics label.
    public var id: String
    /// A catalog kind: `github`, `depsdev`, `gitlab`, `generic`.
    public var kind: String
    /// The meta-API URL of the vendor's public keys (http or https). Default: the kind's, if it has one.
    public var keysURL: String?
    /// Header carrying the key id. Only for kinds whose headers are configurable (generic).
    public var keyIdentifierHeader: String?
    /// Header carrying the signature. Only for kinds whose headers are configurable (generic).
    public var signatureHeader: String?
    /// Token for the vendor's API, sent as `Authorization: Bearer …`. A secret: never printed.
    public var apiToken: String?
    /// `accepted` (204, default) or `labels` (200 + GitHub's feedback array).
    public var response: ResponseStyle
    /// Disabled vendors are validated but not registered. Default true.
    public var enabled: Bool
    /// Key cache tuning; `apiToken` above overrides the one in here.
    public var keyCache: KeyCacheConfiguration
    /// In labels mode, how long labelling may take before answering without labels. Default 500 ms.
    public var labelsDeadline: Duration
    /// Most items one report may hold. Default 10,000.
    public var maxItems: Int
    /// Longest token accepted, in UTF-8 bytes. Default 4096.
    public var maxTokenLength: Int
    /// Where this entry sits in the configuration file, e.g. `vendors[1]`; prefixes error fields.
    /// Default: `vendors["<id>"]`.
    public var path: String?

    public init(id: String, kind: String, keysURL: String? = nil, keyIdentifierHeader: String? = nil,
                signatureHeader: String? = nil, apiToken: String? = nil, response: ResponseStyle = .accepted,
                enabled: Bool = true, keyCache: KeyCacheConfiguration = KeyCacheConfiguration(),
                labelsDeadline: Duration = .milliseconds(500), maxItems: Int = 10_000, maxTokenLength: Int = 4096,
                path: String? = nil) {
        self.id = id
        self.kind = kind
        self.keysURL = keysURL
        self.keyIdentifierHeader = keyIdentifierHeader
        self.signatureHeader = signatureHeader
        self.apiToken = apiToken
        self.response = response
        self.enabled = enabled
        self.keyCache = keyCache
        self.labelsDeadline = labelsDeadline
        self.maxItems = maxItems
        self.maxTokenLength = maxTokenLength
        self.path = path
    }

    /// The configuration-file path of `key` in this entry: `vendors[1].keys_url`.
    public func field(_ key: String) -> String {
        "\(path ?? "vendors[\"\(id)\"]").\(key)"
    }

    /// An error about `key` in this entry.
    public func error(_ key: String, _ problem: String) -> VendorConfigurationError {
        VendorConfigurationError(field: field(key), problem: problem)
    }

    public var description: String {
        "VendorConfiguration(id: \(id), kind: \(kind), keysURL: \(keysURL ?? "default"), "
            + "headers: \(keyIdentifierHeader ?? "default") / \(signatureHeader ?? "default"), "
            + "apiToken: \(apiToken == nil ? "none" : "set"), response: \(response.rawValue), enabled: \(enabled))"
    }
}

/// A configuration checked against its kind, with the kind's defaults filled in.
public struct ResolvedVendorConfiguration: Sendable {
    public let configuration: VendorConfiguration
    public let headers: HeaderPair
    public let keysURL: String
    /// The key cache configuration with the vendor's API token in it.
    public let keyCache: KeyCacheConfiguration
}

extension VendorConfiguration {
    /// Checks this entry against `kind` and fills in its defaults. Errors name the field.
    public func validated(by kind: any VendorKind) throws(VendorConfigurationError) -> ResolvedVendorConfiguration {
        guard !id.isEmpty, id.utf8.count <= 64, id.utf8.allSatisfy(Self.isIDCharacter) else {
            throw error("id", "must be 1 to 64 of A-Z, a-z, 0-9, '-' and '_' (got \"\(id.prefix(64))\")")
        }
        guard self.kind == kind.kind else {
            throw error("kind", "is \"\(self.kind)\", not \"\(kind.kind)\"")
        }

        let headers: HeaderPair
        if kind.headersConfigurable {
            let keyID = keyIdentifierHeader ?? kind.defaultHeaders?.keyIdentifier
            let signature = signatureHeader ?? kind.defaultHeaders?.signature
            guard let keyID else { throw error("key_identifier_header", "is required for kind \"\(kind.kind)\"") }
            guard let signature else { throw error("signature_header", "is required for kind \"\(kind.kind)\"") }
            headers = HeaderPair(keyIdentifier: keyID, signature: signature)
        } else {
            guard let defaults = kind.defaultHeaders else {
                throw error("kind", "\"\(kind.kind)\" has neither default nor configurable headers")
            }
            if let keyIdentifierHeader, !keyIdentifierHeader.caseInsensitiveEquals(defaults.keyIdentifier) {
                throw error("key_identifier_header", "cannot be changed for kind \"\(kind.kind)\" (it is always \(defaults.keyIdentifier))")
            }
            if let signatureHeader, !signatureHeader.caseInsensitiveEquals(defaults.signature) {
                throw error("signature_header", "cannot be changed for kind \"\(kind.kind)\" (it is always \(defaults.signature))")
            }
            headers = defaults
        }
        guard HTTPClient.isToken(headers.keyIdentifier) else {
            throw error("key_identifier_header", "is not a valid HTTP header name")
        }
        guard HTTPClient.isToken(headers.signature) else {
            throw error("signature_header", "is not a valid HTTP header name")
        }
        guard !headers.keyIdentifier.caseInsensitiveEquals(headers.signature) else {
            throw error("signature_header", "must differ from key_identifier_header")
        }

        guard let url = keysURL ?? kind.defaultKeysURL else {
            throw error("keys_url", "is required for kind \"\(kind.kind)\"")
        }
        let lower = url.lowercased()
        guard (lower.hasPrefix("https://") || lower.hasPrefix("http://")), url.utf8.count > 8,
              !url.utf8.contains(where: { $0 <= 32 || $0 == 127 }) else {
            throw error("keys_url", "must be an http:// or https:// URL")
        }

        if let apiToken, apiToken.isEmpty || apiToken.utf8.contains(where: { $0 < 32 || $0 == 127 }) {
            throw error("api_token", "must be non-empty printable text")
        }
        guard labelsDeadline > .zero else { throw error("labels_deadline", "must be positive") }
        guard maxItems > 0 else { throw error("max_items", "must be positive") }
        guard maxTokenLength > 0 else { throw error("max_token_length", "must be positive") }
        guard keyCache.ttl > .zero, keyCache.connectTimeout > .zero, keyCache.totalTimeout > .zero,
              keyCache.refetchInterval >= .zero, keyCache.negativeCacheTTL >= .zero,
              keyCache.retryAfterFailure >= .zero, keyCache.maxDocumentBytes > 0 else {
            throw error("key_cache", "durations and sizes must be positive")
        }

        var cache = keyCache
        if let apiToken { cache.apiToken = apiToken }
        return ResolvedVendorConfiguration(configuration: self, headers: headers, keysURL: url, keyCache: cache)
    }

    private static func isIDCharacter(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z"))
            || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
            || c == UInt8(ascii: "-") || c == UInt8(ascii: "_")
    }
}
