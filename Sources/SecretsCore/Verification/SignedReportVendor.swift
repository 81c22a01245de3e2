/// The one `VendorVerifier` every known vendor uses: ECDSA P-256 / SHA-256 over the raw body, the
/// DER signature in strict standard base64 in one header and the key id in another, keys from the
/// vendor's own `PublicKeyCache`.
public struct SignedReportVendor: VendorVerifier {
    public let id: String
    public let kind: String
    public let headers: HeaderPair
    public let response: ResponseStyle
    public let labelsDeadline: Duration
    public let keyCache: PublicKeyCache
    public let parser: any ReportParser

    /// A signature header longer than this cannot hold a DER P-256 signature (≤ 72 bytes → 96
    /// base64 characters); a generous bound keeps junk from being decoded at all.
    static let longestSignatureHeader = 512

    public init(id: String, kind: String, headers: HeaderPair, response: ResponseStyle = .accepted,
                labelsDeadline: Duration = .milliseconds(500), keyCache: PublicKeyCache,
                parser: any ReportParser = StandardReportParser()) {
        self.id = id
        self.kind = kind
        self.headers = headers
        self.response = response
        self.labelsDeadline = labelsDeadline
        self.keyCache = keyCache
        self.parser = parser
    }

    public func verify(body: [UInt8], headers requestHeaders: HTTPHeaders) -> VerificationOutcome {
        let keyIDs = requestHeaders.values(headers.keyIdentifier)
        let signatures = requestHeaders.values(headers.signature)
        guard keyIDs.count == 1, signatures.count == 1, !keyIDs[0].isEmpty, !signatures[0].isEmpty else {
            return .failed(.missingHeaders)
        }
        let keyID = keyIDs[0]
        // The signature is parsed before the key is looked up: a malformed one never causes a fetch.
        guard signatures[0].utf8.count <= Self.longestSignatureHeader,
              let signature = try? P256.Signing.Signature(base64Header: signatures[0]),
              Self.isPlausibleDER(signature.derRepresentation) else {
            return .failed(.malformedSignature)
        }
        switch keyCache.key(for: keyID) {
        case .found(let key):
            return key.isValidSignature(signature, for: body) ? .verified(keyIdentifier: keyID) : .failed(.invalidSignature)
        case .unknownKeyID:
            return .failed(.unknownKeyID)
        case .unavailable:
            return .failed(.keysUnavailable)
        }
    }

    /// A DER ECDSA P-256 signature is a SEQUENCE of two INTEGERs, 8 to 72 bytes. Anything else is
    /// refused before the key lookup; the strict DER check is OpenSSL's, during verification.
    static func isPlausibleDER(_ der: [UInt8]) -> Bool {
        der.count >= 8 && der.count <= 72 && der[0] == 0x30
    }

    public func disclosures(from body: [UInt8]) throws(ReportError) -> [Disclosure] {
        try parser.disclosures(from: body)
    }
}
