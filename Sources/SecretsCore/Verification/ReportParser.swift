/// Turns a verified report body into disclosures.
///
/// Implementation requirements: read the **raw body bytes** (never a re-serialized form); throw
/// `ReportError` only when the body as a whole is unusable (not JSON, not an array, too many items);
/// judge every item on its own, turning a malformed one into a `Disclosure` with `problem` set; never
/// put a raw token into `problem` or any other text. Must be safe to call from many threads at once.
public protocol ReportParser: Sendable {
    func disclosures(from body: [UInt8]) throws(ReportError) -> [Disclosure]
}

/// The report format every known vendor sends: a JSON array of `{"token","type","url","source"}`.
///
/// `url` may be empty or absent, `source` may be absent, `type` absent reads as empty (classified by
/// token prefix later). Each item is tolerant: a non-object, a missing, non-string, empty or too long
/// token, or a non-string `type`/`url`/`source` yields a `Disclosure` whose `problem` says so. A
/// usable token is kept even when another field is malformed, so the leak can still be recorded.
/// `null` reads as absent; when a name repeats, the last member counts; names are compared after
/// unescaping (`"\u0074oken"` is `token`); members with other names may hold any JSON and are skipped.
///
/// The body is read in place by `JSONReader` (strict RFC 8259, UTF-8 only, at most 512 levels of
/// nesting; its doc comment has the rules). The whole body is validated before anything is answered:
/// not JSON beats not an array, which beats too many items. Past `maxItems` items nothing more is
/// built; the rest is only validated.
///
/// This answers what `JSONSerialization` (swift-corelibs-foundation) answered for every body — same
/// refusals, same disclosures; numbers that overflow `Double` refused, unpaired `\u` surrogates refused,
/// one leading BOM skipped — except on purpose in four places, where we are stricter or more literal:
/// - a trailing comma (`[1,]`, `{"a":1,}`) is not JSON; Foundation accepted one;
/// - only UTF-8 is read; Foundation also guessed UTF-16 and UTF-32 from zero bytes and BOMs;
/// - a number that overflows `Double` is refused wherever it is; Foundation converted numbers after
///   parsing and so missed one whose member a later member of the same name replaced;
/// - U+FEFF inside a string is content; Foundation dropped it when it began the string or followed an
///   escape (so `"\u{FEFF}token"` was the name `token`), and kept it anywhere else.
public struct StandardReportParser: ReportParser {
    /// Most items one report may hold. Default 10,000.
    public var maxItems: Int
    /// Longest token accepted, in UTF-8 bytes. Default 4096.
    public var maxTokenLength: Int

    public init(maxItems: Int = 10_000, maxTokenLength: Int = 4096) {
        self.maxItems = maxItems
        self.maxTokenLength = maxTokenLength
    }

    public func disclosures(from body: [UInt8]) throws(ReportError) -> [Disclosure] {
        let reading: Reading
        do {
            reading = try body.withUnsafeBufferPointer { (bytes) throws(JSONReader.Malformed) -> Reading in
                var reader = JSONReader(bytes)
                return try read(&reader)
            }
        } catch {
            throw .notJSON
        }
        switch reading {
        case .items(let disclosures): return disclosures
        case .notArray: throw .notArray
        case .tooManyItems: throw .tooManyItems(limit: maxItems)
        }
    }

    /// What a well-formed body holds.
    private enum Reading {
        case items([Disclosure])
        case notArray
        case tooManyItems
    }

    private func read(_ reader: inout JSONReader) throws(JSONReader.Malformed) -> Reading {
        guard try reader.peekKind() == .array else {
            try reader.skipValue()
            try reader.finish()
            return .notArray
        }
        try reader.enterArray()
        var disclosures: [Disclosure] = []
        var count = 0
        while try reader.nextElement(first: count == 0) {
            count += 1
            if count > maxItems {
                disclosures = [] // refused anyway: free what was built, build nothing more
                try reader.skipValue()
            } else {
                disclosures.append(try disclosure(&reader))
            }
        }
        try reader.finish()
        return count > maxItems ? .tooManyItems : .items(disclosures)
    }

    /// The last value an item gave one of the names we read.
    private enum Member {
        case absent
        case string(JSONReader.StringSpan)
        /// Anything but a string or `null`.
        case other
    }

    private func disclosure(_ reader: inout JSONReader) throws(JSONReader.Malformed) -> Disclosure {
        guard try reader.peekKind() == .object else {
            try reader.skipValue()
            return Disclosure(token: nil, type: "", url: "", problem: "item is not an object")
        }
        try reader.enterObject()
        var tokenMember = Member.absent, typeMember = Member.absent
        var urlMember = Member.absent, sourceMember = Member.absent
        var first = true
        while let name = try reader.nextKey(first: first) {
            first = false
            if reader.string(name, equals: "token") {
                tokenMember = try member(&reader)
            } else if reader.string(name, equals: "type") {
                typeMember = try member(&reader)
            } else if reader.string(name, equals: "url") {
                urlMember = try member(&reader)
            } else if reader.string(name, equals: "source") {
                sourceMember = try member(&reader)
            } else {
                try reader.skipValue()
            }
        }

        var problems: [String] = []
        var token: LeakedToken?
        switch tokenMember {
        case .absent:
            problems.append("token missing")
        case .string(let span):
            if span.utf8Count == 0 {
                problems.append("token empty")
            } else if span.utf8Count > maxTokenLength {
                problems.append("token too long")
            } else {
                token = LeakedToken(reader.string(span))
            }
        case .other:
            problems.append("token is not a string")
        }
        let type = field("type", typeMember, reader, problems: &problems) ?? ""
        let url = field("url", urlMember, reader, problems: &problems) ?? ""
        let source = field("source", sourceMember, reader, problems: &problems)
        return Disclosure(token: token, type: type, url: url, source: source,
                          problem: problems.isEmpty ? nil : problems.joined(separator: "; "))
    }

    /// Reads a member's value: a string is kept as a span, `null` reads as absent, anything else is
    /// only validated.
    private func member(_ reader: inout JSONReader) throws(JSONReader.Malformed) -> Member {
        switch try reader.peekKind() {
        case .string:
            return .string(try reader.readString())
        case .null:
            try reader.skipValue()
            return .absent
        default:
            try reader.skipValue()
            return .other
        }
    }

    /// The string under `name`; nil when absent or null; a problem noted when of another type.
    private func field(_ name: String, _ member: Member, _ reader: JSONReader, problems: inout [String]) -> String? {
        switch member {
        case .absent: return nil
        case .string(let span): return reader.string(span)
        case .other:
            problems.append("\(name) is not a string")
            return nil
        }
    }
}
