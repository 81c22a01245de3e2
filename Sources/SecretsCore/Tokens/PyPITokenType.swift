/// PyPI API tokens (`pypi_api_token`): `pypi-` + base64url of a serialized macaroon, as Warehouse issues
/// them. The identity is the macaroon identifier, a UUID, in its lower-case canonical form.
///
/// Warehouse finds the token by its identifier alone (a tampered signature still names the token), so
/// identity extraction does not check the HMAC; `PyPITokenMinter` and `Macaroon.verifySignature` do.
public struct PyPITokenType: TokenType {
    public static let defaultName = "pypi_api_token"
    public static let prefix = "pypi-"

    public let name: String
    public let maxLength: Int
    public var prefixes: [String] { [Self.prefix] }

    public init(name: String = PyPITokenType.defaultName, maxLength: Int = defaultMaxTokenLength) {
        self.name = name
        self.maxLength = maxLength
    }

    /// The macaroon inside the token: base64url (padding optional, but exact when present) of a V2
    /// or V1 serialization.
    public func macaroon(of token: LeakedToken) throws(TokenFormatError) -> Macaroon {
        let utf8 = token.value.utf8
        guard !utf8.isEmpty else { throw .empty() }
        guard utf8.count <= maxLength else { throw .tooLong(utf8.count, max: maxLength) }
        guard utf8.starts(with: Self.prefix.utf8) else { throw .wrongPrefix(Self.prefix) }
        let body = token.value.utf8.dropFirst(Self.prefix.utf8.count)
        guard !body.isEmpty else { throw .malformed("no macaroon after the prefix") }
        guard let raw = Base64.decodeURLSafe(Substring(body)) else { throw .encoding("not base64url") }
        return try Macaroon(deserializing: raw)
    }

    public func identity(of token: LeakedToken) throws(TokenFormatError) -> String {
        let macaroon = try macaroon(of: token)
        guard let uuid = CanonicalUUID.parse(macaroon.identifier) else {
            throw .identifier("macaroon identifier is not a UUID")
        }
        return uuid
    }
}

/// UUID text as Python's `uuid.UUID(str)` reads it (Warehouse parses macaroon identifiers so), answered
/// in the canonical lower-case `8-4-4-4-12` form.
enum CanonicalUUID {
    /// Accepts what `uuid.UUID` accepts, minus its oddities: optional `urn:uuid:` prefix, optional
    /// surrounding braces, hyphens anywhere, then exactly 32 hex digits of either case.
    static func parse(_ bytes: [UInt8]) -> String? {
        guard bytes.count <= 64, var text = String(validating: bytes, as: UTF8.self) else { return nil }
        text = text.replacingOccurrencesOfASCII("urn:", with: "").replacingOccurrencesOfASCII("uuid:", with: "")
        var scalars = Array(text.utf8)
        while scalars.first == UInt8(ascii: "{") { scalars.removeFirst() }
        while scalars.last == UInt8(ascii: "}") { scalars.removeLast() }
        let hex = scalars.filter { $0 != UInt8(ascii: "-") }
        guard hex.count == 32 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (i, c) in hex.enumerated() {
            let lower: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"): lower = c
            case UInt8(ascii: "A")...UInt8(ascii: "F"): lower = c + 32
            default: return nil
            }
            if i == 8 || i == 12 || i == 16 || i == 20 { out.append(UInt8(ascii: "-")) }
            out.append(lower)
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension String {
    /// Every occurrence of an ASCII `target` replaced, without Foundation.
    fileprivate func replacingOccurrencesOfASCII(_ target: String, with replacement: String) -> String {
        let source = Array(utf8), t = Array(target.utf8)
        guard !t.isEmpty, source.count >= t.count else { return self }
        var out: [UInt8] = []
        var i = 0
        while i < source.count {
            if i + t.count <= source.count && source[i ..< i + t.count].elementsEqual(t) {
                out += replacement.utf8
                i += t.count
            } else {
                out.append(source[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
