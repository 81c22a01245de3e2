import SecretsCore

/// Which vendor the fake vendor pretends to be: it decides the two headers a report is signed under.
public enum FakeVendorStyle: String, Sendable, CaseIterable {
    case github
    case depsdev
    case gitlab
    /// Header names given with the send.
    case custom

    /// The key-identifier and signature header names; nil for `custom`.
    public var headerNames: (keyIdentifier: String, signature: String)? {
        switch self {
        case .github: ("Github-Public-Key-Identifier", "Github-Public-Key-Signature")
        case .depsdev: ("GOSST-Public-Key-Identifier", "GOSST-Public-Key-Signature")
        case .gitlab: ("Gitlab-Public-Key-Identifier", "Gitlab-Public-Key-Signature")
        case .custom: nil
        }
    }
}

/// A deliberate fault in a send, to see the receiver refuse (or, for `notCurrentKey`, accept) it.
public enum FakeVendorTamper: String, Sendable, CaseIterable {
    /// Signed with the current key over the exact body.
    case none
    /// A well-formed signature by the current key, but over other bytes (the body plus one byte): it does not verify.
    case wrongSignature = "wrong_signature"
    /// Signed by a throw-away key whose id the meta document does not list.
    case unknownKeyID = "unknown_key_id"
    /// Signed correctly by a published key that is not current (vendors rotate keys; receivers must accept it).
    case notCurrentKey = "not_current_key"
    /// The body loses its last non-space character (a report array its closing `]`), so it is not JSON,
    /// and is then signed correctly with the current key.
    case malformedJSON = "malformed_json"
}

/// A refusal of the fake vendor's API: an HTTP status and words for the page.
public struct FakeVendorAPIError: Error, Sendable, CustomStringConvertible, Equatable {
    public let status: Int
    public let message: String

    public init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { message }
}

/// Exactly what goes on the wire for one send: the body bytes and the key id and signature for them.
public struct FakeVendorSignedReport: Sendable, Equatable {
    public var body: [UInt8]
    public var keyID: String
    /// Standard base64 of the DER signature, as the signature header carries it.
    public var signature: String
}

/// Signs report bodies as a vendor does, with the current key of a `FakeVendorState` or as `tamper` says.
public struct FakeVendorSigner: Sendable {
    public let state: FakeVendorState

    public init(state: FakeVendorState) { self.state = state }

    /// Signs `body` (its exact UTF-8 bytes, never re-serialized) as `tamper` says.
    public func sign(_ body: String, tamper: FakeVendorTamper = .none) throws(FakeVendorAPIError) -> FakeVendorSignedReport {
        var bytes = Array(body.utf8)
        switch tamper {
        case .none:
            let key = try current()
            return FakeVendorSignedReport(body: bytes, keyID: key.id, signature: try Self.signature(key, bytes))
        case .wrongSignature:
            let key = try current()
            return FakeVendorSignedReport(body: bytes, keyID: key.id, signature: try Self.signature(key, bytes + [UInt8(ascii: " ")]))
        case .unknownKeyID:
            let stranger: FakeVendorKey
            do {
                stranger = try FakeVendorKey.generate()
            } catch {
                throw FakeVendorAPIError(500, "cannot generate a throw-away key: \(error)")
            }
            return FakeVendorSignedReport(body: bytes, keyID: stranger.id, signature: try Self.signature(stranger, bytes))
        case .notCurrentKey:
            guard state.currentKey != nil else { throw Self.noCurrentKey }
            guard let other = state.keys.first(where: { !$0.isCurrent }) else {
                throw FakeVendorAPIError(409, "not_current_key needs a published key that is not current: create a second key first")
            }
            return FakeVendorSignedReport(body: bytes, keyID: other.id, signature: try Self.signature(other, bytes))
        case .malformedJSON:
            let key = try current()
            bytes = Self.malformed(bytes)
            return FakeVendorSignedReport(body: bytes, keyID: key.id, signature: try Self.signature(key, bytes))
        }
    }

    static let noCurrentKey = FakeVendorAPIError(409, "there is no current signing key: create a key or make one current")

    private func current() throws(FakeVendorAPIError) -> FakeVendorKey {
        guard let key = state.currentKey else { throw Self.noCurrentKey }
        return key
    }

    private static func signature(_ key: FakeVendorKey, _ bytes: [UInt8]) throws(FakeVendorAPIError) -> String {
        do {
            return try key.signingKey().signature(for: bytes).base64Representation
        } catch {
            throw FakeVendorAPIError(500, "cannot sign with key \(key.id.prefix(12)): \(error)")
        }
    }

    /// The body without its last non-space character; `{` for a body with none.
    static func malformed(_ bytes: [UInt8]) -> [UInt8] {
        let spaces: Set<UInt8> = [9, 10, 13, 32]
        guard let last = bytes.lastIndex(where: { !spaces.contains($0) }) else { return Array("{".utf8) }
        var cut = bytes
        cut.remove(at: last)
        // A single-character body ("1", "[") cut to nothing would be empty, which some parsers call absent.
        if !cut.contains(where: { !spaces.contains($0) }) { return Array("{".utf8) }
        return cut
    }
}

/// Builds a report body in the vendors' format: a JSON array of `{"token","type","url","source"}`.
public enum FakeVendorReport {
    /// Largest `count` the builder makes (the receiver's default item limit).
    public static let maxCount = 10_000

    /// `count` copies of one item, compact, keys in the vendors' order; `source` is left out when nil or empty.
    public static func build(token: String, type: String, url: String, source: String?, count: Int) throws(FakeVendorAPIError) -> String {
        guard (1...maxCount).contains(count) else {
            throw FakeVendorAPIError(400, "count must be a whole number from 1 to \(maxCount), got \(count)")
        }
        var item = "{\"token\":\(JSONText.quote(token)),\"type\":\(JSONText.quote(type)),\"url\":\(JSONText.quote(url))"
        if let source, !source.isEmpty { item += ",\"source\":\(JSONText.quote(source))" }
        item += "}"
        return "[" + Array(repeating: item, count: count).joined(separator: ",") + "]"
    }
}
