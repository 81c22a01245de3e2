/// Opaque tokens recognised by a prefix (`ghp_`, `acme_live_`), optionally ending in a checksum.
/// The identity is the SHA-256 hex of the whole token, which is what a store of such tokens keeps.
public struct PrefixedTokenType: TokenType {
    /// How the end of the token checks the rest.
    public enum Checksum: String, Sendable, CaseIterable {
        /// No checksum.
        case none
        /// GitHub's scheme: the last 6 characters are the CRC-32 (IEEE) of the characters between the
        /// prefix and the checksum, in base62 (`0-9A-Za-z`), left-padded with `0`.
        case crc32Base62 = "crc32-base62-6"
    }

    public let name: String
    public let prefix: String
    public let checksum: Checksum
    public let maxLength: Int
    public var prefixes: [String] { [prefix] }

    public init(name: String, prefix: String, checksum: Checksum = .none, maxLength: Int = defaultMaxTokenLength) {
        self.name = name
        self.prefix = prefix
        self.checksum = checksum
        self.maxLength = maxLength
    }

    /// Checks length, prefix and checksum, then answers the token's SHA-256 hex.
    public func identity(of token: LeakedToken) throws(TokenFormatError) -> String {
        let utf8 = token.value.utf8
        guard !utf8.isEmpty else { throw .empty() }
        guard utf8.count <= maxLength else { throw .tooLong(utf8.count, max: maxLength) }
        guard utf8.starts(with: prefix.utf8) else { throw .wrongPrefix(prefix) }
        let body = Array(utf8.dropFirst(prefix.utf8.count))
        switch checksum {
        case .none:
            guard !body.isEmpty else { throw .malformed("nothing after the prefix") }
        case .crc32Base62:
            guard body.count > Base62Checksum.length else { throw .malformed("too short for its checksum") }
            let payload = body.dropLast(Base62Checksum.length)
            guard Base62Checksum.encode(CRC32.checksum(payload)) == Array(body.suffix(Base62Checksum.length)) else {
                throw .checksum()
            }
        }
        return token.sha256
    }

    /// A new random token of this type: the prefix, `length` random base62 characters, and the checksum
    /// when the type has one.
    public func mint(length: Int = 30) -> String {
        let random = Base62Checksum.randomCharacters(max(1, length))
        var out = Array(prefix.utf8) + random
        if checksum == .crc32Base62 { out += Base62Checksum.encode(CRC32.checksum(random)) }
        return String(decoding: out, as: UTF8.self)
    }
}

/// CRC-32 (IEEE 802.3, reflected, as zlib's `crc32`).
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}

/// Base62 (`0-9A-Za-z`) of a CRC-32, fixed at 6 characters (62^6 > 2^32).
enum Base62Checksum {
    static let length = 6
    static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    static func encode(_ value: UInt32) -> [UInt8] {
        var out = [UInt8](repeating: alphabet[0], count: length)
        var v = value
        var i = length - 1
        while v > 0 && i >= 0 {
            out[i] = alphabet[Int(v % 62)]
            v /= 62
            i -= 1
        }
        return out
    }

    /// Uniform random base62 characters (rejection sampling, no modulo bias).
    static func randomCharacters(_ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            for byte in SecureRandom.bytes(count * 2) where byte < 248 && out.count < count {
                out.append(alphabet[Int(byte % 62)])
            }
        }
        return out
    }
}
