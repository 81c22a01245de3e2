import Foundation

/// A vendor's public-key document: `{"public_keys": [{"key_identifier", "key", "is_current"}]}`.
///
/// Entries are judged one by one: an entry with a missing or non-string `key_identifier` or `key`, an
/// empty identifier, a PEM that does not parse, a key that is not ECDSA P-256, a non-boolean
/// `is_current` or an identifier already seen is skipped and counted in `skippedEntries`; the good ones
/// are kept. `is_current` may be absent (read as false): it is recorded, never required, because vendors
/// sign with rotating keys. The key identifier is an opaque string matched exactly — GitHub's is the
/// SHA-256 of the PEM, GitLab's a SHA-1 — and is never recomputed.
public struct PublicKeyDocument: Sendable {
    /// One usable key.
    public struct Key: Sendable {
        public let keyIdentifier: String
        public let publicKey: P256.Signing.PublicKey
        public let isCurrent: Bool

        public init(keyIdentifier: String, publicKey: P256.Signing.PublicKey, isCurrent: Bool) {
            self.keyIdentifier = keyIdentifier
            self.publicKey = publicKey
            self.isCurrent = isCurrent
        }
    }

    /// The usable keys, in document order.
    public let keys: [Key]
    /// How many entries were skipped as malformed.
    public var skippedEntries: Int { skippedReasons.count }
    /// Why each skipped entry was skipped ("entry 2: key is not ECDSA P-256"); never contains key material.
    public let skippedReasons: [String]

    public init(keys: [Key], skippedReasons: [String] = []) {
        self.keys = keys
        self.skippedReasons = skippedReasons
    }

    /// Parses the document's raw bytes. Throws when the document is not this shape at all (not JSON,
    /// no `public_keys` array — e.g. GitHub's `{"message": "API rate limit exceeded …"}`).
    public init(jsonBytes: [UInt8]) throws(PublicKeyDocumentError) {
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(jsonBytes), options: [.fragmentsAllowed])
        } catch {
            throw PublicKeyDocumentError("key document is not JSON")
        }
        guard let object = parsed as? [String: Any] else {
            throw PublicKeyDocumentError("key document is not a JSON object")
        }
        guard let entries = object["public_keys"] as? [Any] else {
            if let message = object["message"] as? String {
                throw PublicKeyDocumentError("key document has no public_keys array; it says: \(message.prefix(200))")
            }
            throw PublicKeyDocumentError("key document has no public_keys array")
        }
        var keys: [Key] = []
        var reasons: [String] = []
        var seen = Set<String>()
        for (index, entry) in entries.enumerated() {
            switch Self.key(from: entry) {
            case .success(let key):
                if seen.insert(key.keyIdentifier).inserted {
                    keys.append(key)
                } else {
                    reasons.append("entry \(index): key_identifier repeats an earlier entry")
                }
            case .failure(let reason):
                reasons.append("entry \(index): \(reason.message)")
            }
        }
        self.init(keys: keys, skippedReasons: reasons)
    }

    private static func key(from entry: Any) -> Result<Key, PublicKeyDocumentError> {
        guard let object = entry as? [String: Any] else { return .failure(.init("not an object")) }
        guard let identifier = object["key_identifier"] as? String, !identifier.isEmpty else {
            return .failure(.init("key_identifier missing, empty or not a string"))
        }
        guard let pem = object["key"] as? String else { return .failure(.init("key missing or not a string")) }
        var isCurrent = false
        if let value = object["is_current"], !(value is NSNull) {
            guard let flag = value as? Bool else { return .failure(.init("is_current is not a boolean")) }
            isCurrent = flag
        }
        do {
            let key = try P256.Signing.PublicKey(pemRepresentation: pem)
            return .success(Key(keyIdentifier: identifier, publicKey: key, isCurrent: isCurrent))
        } catch {
            return .failure(.init(error.isMalformedKey && error.message.hasPrefix("not a PEM") ? "key is not a PEM public key" : "key refused: \(error.message)"))
        }
    }
}

/// A key document that is not `{"public_keys": [...]}`. The message never contains key material.
public struct PublicKeyDocumentError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
