/// The two request headers a vendor signs with: the key identifier and the signature.
///
/// Names compare case-insensitively, as HTTP header names do; `==` compares them that way too.
public struct HeaderPair: Sendable, Hashable, CustomStringConvertible {
    /// Header carrying the key identifier, e.g. `Github-Public-Key-Identifier`.
    public var keyIdentifier: String
    /// Header carrying the base64 DER signature, e.g. `Github-Public-Key-Signature`.
    public var signature: String

    public init(keyIdentifier: String, signature: String) {
        self.keyIdentifier = keyIdentifier
        self.signature = signature
    }

    public static func == (lhs: HeaderPair, rhs: HeaderPair) -> Bool {
        lhs.keyIdentifier.caseInsensitiveEquals(rhs.keyIdentifier) && lhs.signature.caseInsensitiveEquals(rhs.signature)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(keyIdentifier.lowercased())
        hasher.combine(signature.lowercased())
    }

    public var description: String { "\(keyIdentifier) / \(signature)" }
}

/// How an accepted report is answered.
public enum ResponseStyle: String, Sendable, Codable, CaseIterable {
    /// `204 No Content` (the default, and Warehouse's behaviour).
    case accepted
    /// `200` with `[{"token_hash","token_type","label"}]`, GitHub's feedback format, where labels
    /// are `true_positive` / `false_positive`.
    case labels
}
