/// A kind of token we issue, and how a leaked one is recognised and found again.
///
/// Implementation requirements: `Sendable` and immutable; `identity(of:)` is a pure function of the
/// token (no I/O), bounded in time and memory for any input, and never puts the token value into the
/// error it throws.
public protocol TokenType: Sendable {
    /// The type's name as vendors report it (`pypi_api_token`); matched case-insensitively.
    var name: String { get }
    /// Prefixes a token of this type starts with (`pypi-`); matched exactly, used when the reported type is unknown.
    var prefixes: [String] { get }
    /// What a `TokenStore` finds the token by (a macaroon identifier, the token's SHA-256 hex).
    ///
    /// Throws when the token is not well-formed for this type; that ends the disclosure as `invalid_format`
    /// before any lookup.
    func identity(of token: LeakedToken) throws(TokenFormatError) -> String
}

/// The default upper bound on a token's length, in UTF-8 bytes, for the built-in token types.
public let defaultMaxTokenLength = 4096

/// Why a token is not well-formed for its type. The description never contains the token.
public struct TokenFormatError: Error, Sendable, Equatable, CustomStringConvertible {
    enum Code: Sendable, Equatable {
        case empty, tooLong, wrongPrefix, encoding, malformed, identifier, checksum
    }
    let code: Code
    /// A short reason (`"not base64url"`, `"truncated in the caveats"`); safe to store and log.
    public let reason: String

    init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    static func empty() -> Self { .init(.empty, "empty token") }
    static func tooLong(_ count: Int, max: Int) -> Self { .init(.tooLong, "token is \(count) bytes, over the limit of \(max)") }
    static func wrongPrefix(_ expected: String) -> Self { .init(.wrongPrefix, "token does not start with \"\(expected)\"") }
    static func encoding(_ reason: String) -> Self { .init(.encoding, reason) }
    static func malformed(_ reason: String) -> Self { .init(.malformed, reason) }
    static func identifier(_ reason: String) -> Self { .init(.identifier, reason) }
    static func checksum() -> Self { .init(.checksum, "checksum does not match") }

    /// The token failed its type's checksum (so it cannot be one we issued).
    public var isChecksumFailure: Bool { code == .checksum }
    public var description: String { reason }
}
