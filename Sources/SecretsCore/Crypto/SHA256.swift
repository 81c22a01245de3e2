internal import COpenSSL

/// SHA-256 over exact bytes, via OpenSSL's one-shot digest.
public enum SHA256 {
    /// SHA-256 fetched once: `EVP_sha256()` in OpenSSL 3 makes every digest look the algorithm up
    /// again (a provider search under a lock). Falls back to `EVP_sha256()` if the fetch fails.
    /// `nonisolated(unsafe)`: written once by the lazy initializer, read-only after; OpenSSL allows a
    /// fetched `EVP_MD` to be shared by threads.
    nonisolated(unsafe) static let algorithm: OpaquePointer? = EVP_MD_fetch(nil, "SHA256", nil) ?? EVP_sha256()

    /// Writes the 32-byte digest of `data` into `out`; false only if OpenSSL failed.
    static func digest(_ data: UnsafeBufferPointer<UInt8>, into out: UnsafeMutableBufferPointer<UInt8>) -> Bool {
        guard out.count >= 32 else { return false }
        var length: UInt32 = 0
        let ok = EVP_Digest(data.baseAddress, data.count, out.baseAddress, &length, algorithm, nil)
        return ok == 1 && length == 32
    }

    /// The 32-byte digest of `data`.
    public static func digest<Bytes: Collection>(_ data: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        var out = [UInt8](repeating: 0, count: 32)
        let ok: Bool = out.withUnsafeMutableBufferPointer { target in
            if let done = data.withContiguousStorageIfAvailable({ digest($0, into: target) }) { return done }
            return Array(data).withUnsafeBufferPointer { digest($0, into: target) }
        }
        // EVP_Digest with SHA-256 cannot fail short of memory exhaustion; an empty digest would be caught by callers comparing hex.
        precondition(ok, "EVP_Digest(SHA-256) failed")
        return out
    }

    /// Lower-case hex of the digest: the form tokens are stored and logged in.
    public static func hex<Bytes: Collection>(_ data: Bytes) -> String where Bytes.Element == UInt8 {
        Hex.encode(digest(data))
    }

    public static func hex(_ string: String) -> String { hex(Array(string.utf8)) }
}

/// HMAC-SHA-256, used to mint and check macaroon signatures.
public enum HMACSHA256 {
    public static func authenticationCode(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let result = key.withUnsafeBufferPointer { k in
            message.withUnsafeBufferPointer { m in
                HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), m.baseAddress, m.count, &out, &length)
            }
        }
        precondition(result != nil && length == 32, "HMAC-SHA-256 failed")
        return out
    }
}

/// Cryptographically secure random bytes from OpenSSL's DRBG.
public enum SecureRandom {
    public static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let ok = RAND_bytes(&out, Int32(count))
        precondition(ok == 1, "RAND_bytes failed")
        return out
    }
}

/// Lower-case hexadecimal.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var chars: [UInt8] = []
        chars.reserveCapacity(64)
        for byte in bytes {
            chars.append(digits[Int(byte >> 4)])
            chars.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: chars, as: UTF8.self)
    }

    /// Decodes hex (either case); nil for odd length or a non-hex character.
    public static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let hi = value(utf8[i]), let lo = value(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func value(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
