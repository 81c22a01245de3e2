/// A strict RFC 8259 cursor over UTF-8 bytes that validates as it moves and builds nothing it is not
/// asked for.
///
/// The caller walks the document (`peekKind`, `enterArray`/`nextElement`, `enterObject`/`nextKey`,
/// `readString`, `skipValue`, `finish`) and gets string *positions* back; only `string(_:)` allocates
/// (and the rare number too large to judge by its digits alone).
/// Any malformation throws `Malformed`, wherever it is, including inside values that are skipped.
///
/// What it accepts is what Foundation's `JSONSerialization` (swift-corelibs-foundation, Linux) accepts
/// from UTF-8, with the same meaning, except where `StandardReportParser`'s doc comment says otherwise:
/// - UTF-8 only, well-formed everywhere (Unicode table 3-7: no overlongs, no encoded surrogates, nothing
///   above U+10FFFF). One BOM (EF BB BF) as the very first bytes is skipped; anywhere else it is content.
/// - Whitespace is space, tab, CR and LF only. No comments, no trailing commas, no trailing garbage.
/// - Strings: no raw U+0000–U+001F; escapes `\" \\ \/ \b \f \n \r \t \uXXXX` only; a `\u` high surrogate
///   must be followed at once by a `\u` low one, and a lone low surrogate is refused (as Foundation does).
/// - Numbers: the RFC grammar (no leading zeros, no `+`, no bare `.`, no NaN/Infinity); one whose value
///   overflows `Double` is refused, because Foundation refuses it.
/// - At most `maximumDepth` nested arrays and objects, Foundation's limit. Skipping is iterative, so
///   no input can exhaust the stack.
///
/// The buffer must stay valid while the reader is used (use it inside `withUnsafeBufferPointer`).
/// Every read is bounds-checked and all counting is bounded by the buffer's length: no input traps.
struct JSONReader {
    /// The input is not JSON as this reader defines it.
    struct Malformed: Error {}

    /// What the next value is, judged by its first byte only.
    enum ValueKind { case array, object, string, number, boolean, null }

    /// Where a string's content lies in the buffer (between the quotes, escapes not yet decoded).
    struct StringSpan {
        fileprivate let start: Int
        fileprivate let end: Int
        fileprivate let hasEscapes: Bool
        /// Length of the decoded string in UTF-8 bytes.
        let utf8Count: Int
    }

    /// Most arrays and objects that may be open at once, counting the outermost.
    static let maximumDepth = 512

    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    /// Arrays and objects open now.
    private var depth = 0

    /// A reader at the start of `bytes`, past a leading UTF-8 BOM if there is one.
    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            index = 3
        }
    }

    // MARK: Walking the document

    /// The kind of the next value, which is not consumed.
    mutating func peekKind() throws(Malformed) -> ValueKind {
        switch try peekByte() {
        case .openBracket: .array
        case .openBrace: .object
        case .quote: .string
        case .minus, UInt8(ascii: "0") ... UInt8(ascii: "9"): .number
        case UInt8(ascii: "t"), UInt8(ascii: "f"): .boolean
        case UInt8(ascii: "n"): .null
        default: throw Malformed()
        }
    }

    /// Consumes the `[` that opens an array.
    mutating func enterArray() throws(Malformed) {
        guard try nextByte() == .openBracket else { throw Malformed() }
        try open()
    }

    /// True when another element follows (positioned at it); false once the closing `]` is consumed.
    /// `first` says whether this is the call right after `enterArray`.
    mutating func nextElement(first: Bool) throws(Malformed) -> Bool {
        let byte = try peekByte()
        if byte == .closeBracket {
            index += 1
            depth -= 1
            return false
        }
        if first { return true }
        guard byte == .comma else { throw Malformed() }
        index += 1
        // A value must follow: the caller's next read refuses a `]` here (a trailing comma).
        return true
    }

    /// Consumes the `{` that opens an object.
    mutating func enterObject() throws(Malformed) {
        guard try nextByte() == .openBrace else { throw Malformed() }
        try open()
    }

    /// The next member's name, with its `:` consumed so the value follows; nil once the closing `}` is
    /// consumed. `first` says whether this is the call right after `enterObject`.
    mutating func nextKey(first: Bool) throws(Malformed) -> StringSpan? {
        var byte = try nextByte()
        if byte == .closeBrace {
            // Ends `{}` or a last member; after a comma only a name may follow, so `{"a":1,}` is refused.
            depth -= 1
            return nil
        }
        if !first {
            guard byte == .comma else { throw Malformed() }
            byte = try nextByte()
        }
        guard byte == .quote else { throw Malformed() }
        let name = try scanStringBody()
        guard try nextByte() == .colon else { throw Malformed() }
        return name
    }

    /// Reads a string value.
    mutating func readString() throws(Malformed) -> StringSpan {
        guard try nextByte() == .quote else { throw Malformed() }
        return try scanStringBody()
    }

    /// Validates and passes over one value of any kind, however deeply nested, without building it.
    mutating func skipValue() throws(Malformed) {
        let base = depth
        var objects = ContainerKinds()
        value: while true {
            switch try nextByte() {
            case .quote:
                _ = try scanStringBody()
            case .openBracket:
                try open()
                objects.set(depth - base - 1, isObject: false)
                if try peekByte() == .closeBracket {
                    index += 1
                    depth -= 1
                } else {
                    continue value
                }
            case .openBrace:
                try open()
                objects.set(depth - base - 1, isObject: true)
                if try peekByte() == .closeBrace {
                    index += 1
                    depth -= 1
                } else {
                    try skipMemberName()
                    continue value
                }
            case .minus, UInt8(ascii: "0") ... UInt8(ascii: "9"):
                index -= 1
                try scanNumber()
            case UInt8(ascii: "t"):
                try expect("rue")
            case UInt8(ascii: "f"):
                try expect("alse")
            case UInt8(ascii: "n"):
                try expect("ull")
            default:
                throw Malformed()
            }
            // A value is complete: close what it completes, or move on to the next element or member.
            while depth > base {
                let inObject = objects.isObject(depth - base - 1)
                switch try nextByte() {
                case .comma:
                    if inObject { try skipMemberName() }
                    continue value
                case .closeBracket where !inObject, .closeBrace where inObject:
                    depth -= 1
                default:
                    throw Malformed()
                }
            }
            return
        }
    }

    /// Checks that nothing but whitespace is left.
    mutating func finish() throws(Malformed) {
        skipWhitespace()
        guard index == bytes.count else { throw Malformed() }
    }

    // MARK: Strings

    /// The decoded string.
    func string(_ span: StringSpan) -> String {
        let raw = UnsafeBufferPointer(rebasing: bytes[span.start ..< span.end])
        guard span.hasEscapes else { return String(decoding: raw, as: UTF8.self) }
        return String(unsafeUninitializedCapacity: span.utf8Count) { Self.decode(raw, into: $0) }
    }

    /// Whether the decoded string is exactly `name` (ASCII), without building it.
    func string(_ span: StringSpan, equals name: StaticString) -> Bool {
        let expected = UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        guard span.utf8Count == expected.count else { return false }
        let raw = UnsafeBufferPointer(rebasing: bytes[span.start ..< span.end])
        guard span.hasEscapes else { return raw.elementsEqual(expected) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: span.utf8Count) { decoded in
            Self.decode(raw, into: decoded) == expected.count && decoded.elementsEqual(expected)
        }
    }

    /// Decodes the content of a validated string into `out`; returns the bytes written. Stops rather
    /// than overrun `out` or `raw`.
    private static func decode(_ raw: UnsafeBufferPointer<UInt8>, into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var written = 0
        func put(_ byte: UInt8) {
            if written < out.count {
                out[written] = byte
                written += 1
            }
        }
        var i = 0
        while i < raw.count {
            let byte = raw[i]
            guard byte == .backslash, i + 1 < raw.count else {
                put(byte)
                i += 1
                continue
            }
            let escape = raw[i + 1]
            i += 2
            switch escape {
            case UInt8(ascii: "b"): put(0x08)
            case UInt8(ascii: "f"): put(0x0C)
            case UInt8(ascii: "n"): put(0x0A)
            case UInt8(ascii: "r"): put(0x0D)
            case UInt8(ascii: "t"): put(0x09)
            case UInt8(ascii: "u"):
                var scalar = UInt32(hexValue(raw, at: i) ?? 0xFFFD)
                i += 4
                if scalar & 0xFC00 == 0xD800 {
                    // Validation guaranteed `\u` + a low surrogate here.
                    let low = UInt32(hexValue(raw, at: i + 2) ?? 0xDC00)
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low & 0x3FF)
                    i += 6
                }
                switch scalar {
                case ..<0x80:
                    put(UInt8(truncatingIfNeeded: scalar))
                case ..<0x800:
                    put(0xC0 | UInt8(truncatingIfNeeded: scalar >> 6))
                    put(0x80 | UInt8(truncatingIfNeeded: scalar) & 0x3F)
                case ..<0x10000:
                    put(0xE0 | UInt8(truncatingIfNeeded: scalar >> 12))
                    put(0x80 | UInt8(truncatingIfNeeded: scalar >> 6) & 0x3F)
                    put(0x80 | UInt8(truncatingIfNeeded: scalar) & 0x3F)
                default:
                    put(0xF0 | UInt8(truncatingIfNeeded: scalar >> 18))
                    put(0x80 | UInt8(truncatingIfNeeded: scalar >> 12) & 0x3F)
                    put(0x80 | UInt8(truncatingIfNeeded: scalar >> 6) & 0x3F)
                    put(0x80 | UInt8(truncatingIfNeeded: scalar) & 0x3F)
                }
            default: put(escape) // `"`, `\` and `/` stand for themselves
            }
        }
        return written
    }

    /// Scans a string's content and its closing quote (the opening one already consumed), validating
    /// UTF-8 and escapes.
    private mutating func scanStringBody() throws(Malformed) -> StringSpan {
        let start = index
        var count = 0
        var hasEscapes = false
        while index < bytes.count {
            // Plain ASCII runs are the common case: scan them in a tight loop.
            let run = index
            while index < bytes.count {
                let byte = bytes[index]
                guard byte >= 0x20, byte < 0x80, byte != .quote, byte != .backslash else { break }
                index += 1
            }
            count += index - run
            guard index < bytes.count else { break }
            switch bytes[index] {
            case .quote:
                let span = StringSpan(start: start, end: index, hasEscapes: hasEscapes, utf8Count: count)
                index += 1
                return span
            case .backslash:
                hasEscapes = true
                count += try scanEscape()
            case 0x80...:
                count += try scanMultibyte()
            default: // U+0000–U+001F must be escaped
                throw Malformed()
            }
        }
        throw Malformed()
    }

    /// Scans one escape sequence at `index` (the backslash); returns its decoded UTF-8 length.
    private mutating func scanEscape() throws(Malformed) -> Int {
        guard index + 1 < bytes.count else { throw Malformed() }
        switch bytes[index + 1] {
        case .quote, .backslash, UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
             UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            index += 2
            return 1
        case UInt8(ascii: "u"):
            guard let unit = Self.hexValue(bytes, at: index + 2) else { throw Malformed() }
            index += 6
            switch unit {
            case 0xD800 ... 0xDBFF:
                guard index + 1 < bytes.count, bytes[index] == .backslash, bytes[index + 1] == UInt8(ascii: "u"),
                      let low = Self.hexValue(bytes, at: index + 2), (0xDC00 ... 0xDFFF).contains(low)
                else { throw Malformed() }
                index += 6
                return 4
            case 0xDC00 ... 0xDFFF:
                throw Malformed()
            case ..<0x80:
                return 1
            case ..<0x800:
                return 2
            default:
                return 3
            }
        default:
            throw Malformed()
        }
    }

    /// The value of the four hex digits at `offset`, nil if they are not all there.
    private static func hexValue(_ buffer: UnsafeBufferPointer<UInt8>, at offset: Int) -> UInt16? {
        guard offset >= 0, offset <= buffer.count - 4 else { return nil }
        var value: UInt16 = 0
        for i in offset ..< offset + 4 {
            let byte = buffer[i]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0") ... UInt8(ascii: "9"): digit = byte - .digitZero
            case UInt8(ascii: "a") ... UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A") ... UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt16(digit)
        }
        return value
    }

    /// Validates one multi-byte UTF-8 sequence at `index` and passes it; returns its length.
    private mutating func scanMultibyte() throws(Malformed) -> Int {
        let lead = bytes[index]
        // The allowed range of the second byte narrows for E0, ED, F0 and F4 (Unicode table 3-7).
        let length: Int
        var secondLow: UInt8 = 0x80
        var secondHigh: UInt8 = 0xBF
        switch lead {
        case 0xC2 ... 0xDF: length = 2
        case 0xE0: length = 3; secondLow = 0xA0
        case 0xE1 ... 0xEC, 0xEE ... 0xEF: length = 3
        case 0xED: length = 3; secondHigh = 0x9F
        case 0xF0: length = 4; secondLow = 0x90
        case 0xF1 ... 0xF3: length = 4
        case 0xF4: length = 4; secondHigh = 0x8F
        default: throw Malformed()
        }
        guard length <= bytes.count - index else { throw Malformed() }
        guard (secondLow ... secondHigh).contains(bytes[index + 1]) else { throw Malformed() }
        for i in index + 2 ..< index + length where bytes[i] & 0xC0 != 0x80 {
            throw Malformed()
        }
        index += length
        return length
    }

    // MARK: Numbers and literals

    /// Scans a number at `index`.
    private mutating func scanNumber() throws(Malformed) {
        let start = index
        if bytes[index] == .minus { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw Malformed() }
        // Digits of the integer part when it is not 0: with the exponent, an upper bound on the size.
        var magnitude = 0
        if bytes[index] == .digitZero {
            index += 1
        } else {
            let digits = index
            skipDigits()
            magnitude = index - digits
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            let digits = index
            skipDigits()
            guard index > digits else { throw Malformed() }
        }
        var exponent = 0
        if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
            index += 1
            var negative = false
            if index < bytes.count, bytes[index] == .minus || bytes[index] == UInt8(ascii: "+") {
                negative = bytes[index] == .minus
                index += 1
            }
            let digits = index
            while index < bytes.count, isDigit(bytes[index]) {
                // Saturates: any exponent past a million decides the same way.
                if exponent < 1_000_000 { exponent = exponent * 10 + Int(bytes[index] - .digitZero) }
                index += 1
            }
            guard index > digits else { throw Malformed() }
            if negative { exponent = -exponent }
        }
        // Foundation refuses a number that overflows Double. Below 10^300 none can; above, ask Double
        // itself (the same conversion Foundation uses), which is rare enough to allocate for.
        if magnitude + exponent > 300 {
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start ..< index]), as: UTF8.self)
            guard let value = Double(text), value.isFinite else { throw Malformed() }
        }
    }

    private mutating func skipDigits() {
        while index < bytes.count, isDigit(bytes[index]) { index += 1 }
    }

    private func isDigit(_ byte: UInt8) -> Bool { byte >= .digitZero && byte <= .digitNine }

    /// Consumes exactly `rest` (the remainder of `true`, `false` or `null`).
    private mutating func expect(_ rest: StaticString) throws(Malformed) {
        let expected = UnsafeBufferPointer(start: rest.utf8Start, count: rest.utf8CodeUnitCount)
        guard expected.count <= bytes.count - index,
              UnsafeBufferPointer(rebasing: bytes[index ..< index + expected.count]).elementsEqual(expected)
        else { throw Malformed() }
        index += expected.count
    }

    // MARK: Structure

    private mutating func open() throws(Malformed) {
        guard depth < Self.maximumDepth else { throw Malformed() }
        depth += 1
    }

    private mutating func skipMemberName() throws(Malformed) {
        guard try nextByte() == .quote else { throw Malformed() }
        _ = try scanStringBody()
        guard try nextByte() == .colon else { throw Malformed() }
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case .space, .tab, .lineFeed, .carriageReturn: index += 1
            default: return
            }
        }
    }

    /// The next byte after whitespace, not consumed; the input must not end here.
    private mutating func peekByte() throws(Malformed) -> UInt8 {
        skipWhitespace()
        guard index < bytes.count else { throw Malformed() }
        return bytes[index]
    }

    /// The next byte after whitespace, consumed; the input must not end here.
    private mutating func nextByte() throws(Malformed) -> UInt8 {
        let byte = try peekByte()
        index += 1
        return byte
    }
}

/// Which containers opened inside one `skipValue` are objects: a bit per level, kept inline so
/// skipping never allocates.
private struct ContainerKinds {
    private var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    private static let levels = 8 * 64

    mutating func set(_ level: Int, isObject: Bool) {
        guard level >= 0, level < Self.levels else { return }
        withUnsafeMutableBytes(of: &words) { raw in
            let offset = (level >> 6) * 8
            var word = raw.load(fromByteOffset: offset, as: UInt64.self)
            let bit: UInt64 = 1 << UInt64(level & 63)
            word = isObject ? word | bit : word & ~bit
            raw.storeBytes(of: word, toByteOffset: offset, as: UInt64.self)
        }
    }

    func isObject(_ level: Int) -> Bool {
        guard level >= 0, level < Self.levels else { return false }
        return withUnsafeBytes(of: words) { raw in
            raw.load(fromByteOffset: (level >> 6) * 8, as: UInt64.self) & (1 << UInt64(level & 63)) != 0
        }
    }
}

private extension UInt8 {
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let lineFeed = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let comma = UInt8(ascii: ",")
    static let colon = UInt8(ascii: ":")
    static let minus = UInt8(ascii: "-")
    static let digitZero = UInt8(ascii: "0")
    static let digitNine = UInt8(ascii: "9")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
}
