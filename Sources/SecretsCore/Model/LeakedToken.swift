/// A raw leaked token, held in memory only between the request and the durable inbox.
///
/// It is a secret: `description` and string interpolation show its SHA-256, never its value.
/// Only token types read `value`; everything that is stored, logged or answered uses `sha256`.
public struct LeakedToken: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The raw token. Never log, store or return it.
    public let value: String
    /// Lower-case hex SHA-256 of the token's UTF-8 bytes: the form that may be stored and logged.
    public let sha256: String

    public init(_ value: String) {
        self.value = value
        self.sha256 = SHA256.hex(value)
    }

    public var description: String { "token(sha256:\(sha256))" }
    public var debugDescription: String { description }
}
