/// Strict base64 codecs. Nothing is silently cleaned: whitespace, a wrong alphabet, bad padding or
/// non-zero trailing bits make the input invalid.
public enum Base64 {
    private static let standard = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let url = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    private static func table(for alphabet: [UInt8]) -> [UInt8] {
        var t = [UInt8](repeating: 0xff, count: 256)
        for (i, c) in alphabet.enumerated() { t[Int(c)] = UInt8(i) }
        return t
    }
    private static let standardTable = table(for: standard)
    private static let urlTable = table(for: url)

    /// Standard alphabet, padding required (RFC 4648 §4), as vendors send signatures.
    public static func decodeStandard<S: StringProtocol>(_ text: S) -> [UInt8]? {
        let bytes = Array(text.utf8)
        guard bytes.count % 4 == 0 else { return nil }
        var end = bytes.count
        var pad = 0
        while end > 0 && bytes[end - 1] == UInt8(ascii: "=") && pad < 2 { end -= 1; pad += 1 }
        return decode(bytes[0..<end], table: standardTable)
    }

    /// URL-safe alphabet (RFC 4648 §5). Padding is optional but, when present, must be exact.
    public static func decodeURLSafe<S: StringProtocol>(_ text: S) -> [UInt8]? {
        let bytes = Array(text.utf8)
        var end = bytes.count
        var pad = 0
        while end > 0 && bytes[end - 1] == UInt8(ascii: "=") && pad < 2 { end -= 1; pad += 1 }
        if pad > 0 && bytes.count % 4 != 0 { return nil }
        return decode(bytes[0..<end], table: urlTable)
    }

    private static func decode(_ chars: ArraySlice<UInt8>, table: [UInt8]) -> [UInt8]? {
        if chars.count % 4 == 1 { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for c in chars {
            let v = table[Int(c)]
            if v == 0xff { return nil }
            accumulator = (accumulator << 6) | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8((accumulator >> UInt32(bits)) & 0xff))
            }
        }
        // Leftover bits must be zero: otherwise two encodings decode to the same bytes.
        if bits > 0 && (accumulator & ((1 << UInt32(bits)) - 1)) != 0 { return nil }
        return out
    }

    public static func encodeStandard(_ bytes: [UInt8]) -> String { encode(bytes, alphabet: standard, pad: true) }
    public static func encodeURLSafe(_ bytes: [UInt8], padded: Bool = false) -> String { encode(bytes, alphabet: url, pad: padded) }

    private static func encode(_ bytes: [UInt8], alphabet: [UInt8], pad: Bool) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)], alphabet[Int(n & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)]]
            if pad { out += [UInt8(ascii: "="), UInt8(ascii: "=")] }
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out += [alphabet[Int(n >> 18 & 63)], alphabet[Int(n >> 12 & 63)], alphabet[Int(n >> 6 & 63)]]
            if pad { out.append(UInt8(ascii: "=")) }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
