/// A failure in the crypto layer, carrying OpenSSL's own message where there is one.
///
/// The description never contains key material or signed data.
public struct CryptoError: Error, Sendable, CustomStringConvertible, Equatable {
    enum Code: Sendable, Equatable {
        case malformedKey
        case unsupportedKey
        case malformedSignature
        case library
    }
    let code: Code
    public let message: String

    public static func malformedKey(_ message: String) -> CryptoError { .init(code: .malformedKey, message: message) }
    public static func unsupportedKey(_ message: String) -> CryptoError { .init(code: .unsupportedKey, message: message) }
    public static func malformedSignature(_ message: String) -> CryptoError { .init(code: .malformedSignature, message: message) }
    static func library(_ what: String) -> CryptoError { .init(code: .library, message: "\(what): \(OpenSSLErrors.drain())") }

    public var isMalformedKey: Bool { code == .malformedKey || code == .unsupportedKey }
    public var isMalformedSignature: Bool { code == .malformedSignature }
    public var description: String { message }
}
