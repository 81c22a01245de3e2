import Foundation
import Testing
@testable import SecretsCore

/// `StandardReportParser` reads bodies with `JSONReader`; these tests pin its JSON rules and compare it,
/// body by body, with the parser it replaced (`FoundationReportParser` below, on `JSONSerialization`).
@Suite("JSON report reading")
struct JSONReaderTests {
    /// Ours, and what the old parser made of the same body; the two must agree unless a test says why not.
    func outcomes(_ body: [UInt8], _ parser: StandardReportParser = StandardReportParser()) -> (ours: Outcome, before: Outcome) {
        let before = FoundationReportParser(maxItems: parser.maxItems, maxTokenLength: parser.maxTokenLength)
        return (Outcome { () throws(ReportError) in try parser.disclosures(from: body) },
                Outcome { () throws(ReportError) in try before.disclosures(from: body) })
    }

    // MARK: Refused as a whole, as before

    @Test(arguments: [
        "", " ", "\n\t\r ", "[", "]", "[}", "{]", "[1 2]", "[1]x", "[1] [2]", "[][]", "[1]]",
        // whitespace is space, tab, CR and LF only
        "\u{0C}[1]", "[1]\u{0C}", "\u{0B}[1]", "[\u{A0}1]", "[1]\u{0}",
        // separators
        "[1,,2]", "[,1]", "[,]", "[{,}]", #"[{"a" 1}]"#, #"[{"a"::1}]"#, #"[{1:2}]"#, #"[{"a"}]"#, #"[{"a":}]"#,
        #"[{"a":1 "b":2}]"#, #"[{"a":1,,"b":2}]"#, #"[{"token":"a"};"#, #"[{"token":"a"}"#,
        // not JSON at all
        "[/*c*/1]", "[1]//c", "['a']", "[{a:1}]", "[undefined]", "[0x10]",
        // numbers
        "[01]", "[-01]", "[00]", "[1.]", "[.5]", "[1e]", "[1e+]", "[1E-]", "[-]", "[+1]", "[--1]", "[1.5.3]", "[1e5e3]",
        "[1.e5]", "[NaN]", "[Infinity]", "[-Infinity]", "[nan]", "[inf]", "[1e400]", "[-1e400]", "[1E309]",
        "[1.7976931348623159e308]", #"[{"token":"ok","n":1e309}]"#, "[\(String(repeating: "9", count: 310))]",
        // literals
        "[tru]", "[True]", "[nul]", "[NULL]", "[falsey]", "[truefalse]",
        // strings
        "[\"a\tb\"]", "[\"a\nb\"]", "[\"\u{1F}\"]", "[\"\u{0}\"]", #"["\x"]"#, #"["\'"]"#, #"["\uZZZZ"]"#, #"["\u00"]"#,
        #"["\u00e"]"#, #"["\U0041"]"#, #"["\"#, #"["abc"#, #"["abc\"#, #"["abc\u12"#, #"["\ud83d"#,
        // unpaired surrogate escapes: Foundation refuses every one of them, and so do we
        #"["\ud800"]"#, #"["\udc00"]"#, #"["\ud800\u0041"]"#, #"["\ud800x"]"#, #"["\ud800\ud800"]"#,
        #"["\udc00\ud800"]"#, #"["\udbff\ue000"]"#, #"[{"token":"\udfff"}]"#, #"[{"\ud800":1}]"#,
    ])
    func refusedAsNotJSON(_ body: String) {
        let (ours, before) = outcomes(Array(body.utf8))
        #expect(ours == .refused(.notJSON))
        #expect(before == ours)
    }

    @Test(arguments: [
        [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF], [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF],
        [0xF0, 0x8F, 0xBF, 0xBF], [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80],
        [0x80], [0xBF], [0xC3], [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0xC3, 0x41], [0xE2, 0x41, 0xAC], [0xFE], [0xFF],
    ] as [[UInt8]])
    func invalidUTF8IsNotJSONWhereverItIs(_ bad: [UInt8]) {
        let places: [([UInt8], [UInt8])] = [
            (Array(#"[{"token":""#.utf8), Array(#""}]"#.utf8)),                    // in the token
            (Array(#"[{""#.utf8), Array(#"":1}]"#.utf8)),                          // in a name
            (Array(#"[{"token":"t","x":[{"y":""#.utf8), Array(#""}]}]"#.utf8)),   // deep in a skipped value
            (Array(#"[""#.utf8), Array(#""]"#.utf8)),                              // in an item that is no object
            (Array("[".utf8), Array("]".utf8)),                                    // outside any string
            (Array(#"{"a":""#.utf8), Array(#""}"#.utf8)),                          // in a top level that is no array
        ]
        for (head, tail) in places {
            let (ours, before) = outcomes(head + bad + tail)
            #expect(ours == .refused(.notJSON))
            #expect(before == ours)
        }
    }

    @Test(arguments: ["{}", #""text""#, "42", "-0.5e-3", "null", "true", #"{"token":"t"}"#, #"  {"a":[1,{"b":null}]} "#])
    func notArrayOnlyWhenTheWholeBodyIsJSON(_ body: String) {
        let (ours, before) = outcomes(Array(body.utf8))
        #expect(ours == .refused(.notArray))
        #expect(before == ours)
        // The same body broken anywhere after its first byte is not JSON, not "not an array".
        #expect(outcomes(Array((body + " x").utf8)).ours == .refused(.notJSON))
    }

    // MARK: Accepted, with the same meaning as before

    @Test(arguments: [
        "0", "-0", "1", "-1", "0.5", "-0.0", "1e5", "1E5", "1e+5", "1e-5", "1e05", "0e0", "10.25E-2",
        "123456789012345678901234567890", "-9223372036854775809", "18446744073709551616",
        "1e-400", "0e999999999999", "1.7976931348623157e308", "-1.7976931348623157e308", "17976931348623157e292",
        "0.000001e313", "\(String(repeating: "9", count: 300))", "1e-99999999999999999999", "true", "false",
        "[]", "{}", #"[1,[2,[3,{"a":[]}]]]"#, #"{"a":{"b":{"c":"d"}},"e":[null,true,false]}"#,
        "\"\u{7F}\"", #""\uFFFF\uFFFE""#, #""\ud83d\ude00""#, #""\uDBFF\uDFFF""#,
    ])
    func valuesOfOtherMembersAreValidatedAndSkipped(_ value: String) throws {
        let body = #"[{"token":"t","extra":\#(value),"type":"x"}]"#
        let (ours, before) = outcomes(Array(body.utf8))
        #expect(ours == .items([Item(token: "t", type: "x", url: "", source: nil, problem: nil)]))
        #expect(before == ours)
    }

    @Test func escapesAreDecoded() {
        let body = #"[{"token":"a\n\u00e9\u20AC\ud83d\ude00\/\"\\\b\f\r\t\u0000z","url":"\u0068ttps://x/\u4e2d","source":"\u00"#
            + #"41"}]"#
        let (ours, before) = outcomes(Array(body.utf8))
        #expect(ours == .items([Item(token: "a\né€😀/\"\\\u{08}\u{0C}\r\t\u{0}z", type: "", url: "https://x/中", source: "A", problem: nil)]))
        #expect(before == ours)
    }

    @Test func rawMultibyteTextIsKeptAsIs() {
        let body = #"[{"token":"é€😀\#u{7F}\#u{10FFFF}","type":"ü"}]"#
        let (ours, before) = outcomes(Array(body.utf8))
        #expect(ours == .items([Item(token: "é€😀\u{7F}\u{10FFFF}", type: "ü", url: "", source: nil, problem: nil)]))
        #expect(before == ours)
    }

    @Test(arguments: [
        (#"{"\u0074oken":"a"}"#, "a"),
        (#"{"\u0074\u006F\u006B\u0065\u006E":"a"}"#, "a"),
        (#"{"tok\u0065n":"a","t\u006fken":"b"}"#, "b"),
        (#"{"token":"a","token":"b"}"#, "b"),
        (#"{"token":1,"token":"b"}"#, "b"),
        (#"{"token":"a","Token":"b","tokens":"c","toke":"d","token\u0000":"e","":"f"}"#, "a"),
    ])
    func namesAreComparedUnescapedAndTheLastOneWins(_ item: String, _ token: String) {
        let (ours, before) = outcomes(Array("[\(item)]".utf8))
        #expect(ours == .items([Item(token: token, type: "", url: "", source: nil, problem: nil)]))
        #expect(before == ours)
    }

    @Test(arguments: [
        (#"{"token":"a","token":null}"#, "token missing"),
        (#"{"token":"a","token":[]}"#, "token is not a string"),
        (#"{"token":"a","token":""}"#, "token empty"),
        (#"{"token":"a","type":"x","\u0074ype":2}"#, "type is not a string"),
        (#"{"token":"a","url":{},"url":null}"#, nil),
        (#"{"Token":"a"}"#, "token missing"),
        (#"{"token":"\u0000"}"#, nil),
        (#"{"token":"ok","type":null,"url":null,"source":null}"#, nil),
        (#"{"token":"ok","type":false,"url":-1.5e3,"source":[null]}"#,
         "type is not a string; url is not a string; source is not a string"),
    ])
    func problemsAreTheSameAsBefore(_ item: String, _ problem: String?) throws {
        let (ours, before) = outcomes(Array("[\(item)]".utf8))
        guard case .items(let items) = ours else {
            Issue.record("refused: \(ours)")
            return
        }
        #expect(items.map(\.problem) == [problem])
        #expect(before == ours)
    }

    @Test func whitespaceMayBeAnywhereBetweenTokens() {
        let body = " \t\r\n[ \t\r\n{ \n\"token\" \t: \r\"a\" , \"source\"\n:\n\"b\"\n}\t,\r1 ,[ ] , { } ]\r\n "
        let (ours, before) = outcomes(Array(body.utf8))
        #expect(ours == .items([
            Item(token: "a", type: "", url: "", source: "b", problem: nil),
            Item(token: nil, type: "", url: "", source: nil, problem: "item is not an object"),
            Item(token: nil, type: "", url: "", source: nil, problem: "item is not an object"),
            Item(token: nil, type: "", url: "", source: nil, problem: "token missing"),
        ]))
        #expect(before == ours)
    }

    @Test func tokenLengthCountsDecodedUTF8Bytes() {
        let limited = StandardReportParser(maxTokenLength: 8)
        // 8 escapes of 6 characters each decode to 8 bytes; "\u00e9" is 2 bytes, so the second is 9.
        let body = #"[{"token":"\u0041\u0041\u0041\u0041\u0041\u0041\u0041\u0041"},{"token":"\u00e9-secret"}]"#
        let (ours, before) = outcomes(Array(body.utf8), limited)
        #expect(ours == .items([
            Item(token: "AAAAAAAA", type: "", url: "", source: nil, problem: nil),
            Item(token: nil, type: "", url: "", source: nil, problem: "token too long"),
        ]))
        #expect(before == ours)
    }

    // MARK: Byte order marks and encodings

    @Test func oneLeadingByteOrderMarkIsSkipped() {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        let item = Array(#"[{"token":"a"}]"#.utf8)
        let cases: [([UInt8], Outcome)] = [
            (bom + item, .items([Item(token: "a", type: "", url: "", source: nil, problem: nil)])),
            (bom + Array("42".utf8), .refused(.notArray)),
            (bom, .refused(.notJSON)),
            (Array(bom.prefix(2)) + item, .refused(.notJSON)),
            (bom + bom + item, .refused(.notJSON)),
            (Array(" ".utf8) + bom + item, .refused(.notJSON)),
            (item + bom, .refused(.notJSON)),
        ]
        for (body, expected) in cases {
            let (ours, before) = outcomes(body)
            #expect(ours == expected)
            #expect(before == ours)
        }
    }

    /// Known difference: Foundation dropped U+FEFF when raw bytes EF BB BF began a string or followed
    /// an escape (an artefact of how it cut strings up), so `"\u{FEFF}token"` was the name `token`.
    /// We keep it everywhere, as Foundation itself did in the middle of a string or when escaped.
    @Test func byteOrderMarkInsideAStringIsContent() {
        let bom = "\u{FEFF}"
        let (ours, before) = outcomes(Array(#"[{"token":"\#(bom)a","type":"\n\#(bom)b","url":"u\#(bom)"}]"#.utf8))
        #expect(ours == .items([Item(token: "\u{FEFF}a", type: "\n\u{FEFF}b", url: "u\u{FEFF}", source: nil, problem: nil)]))
        #expect(before == .items([Item(token: "a", type: "\nb", url: "u\u{FEFF}", source: nil, problem: nil)]))

        let name = outcomes(Array(#"[{"\#(bom)token":"a"}]"#.utf8))
        #expect(name.ours == .items([Item(token: nil, type: "", url: "", source: nil, problem: "token missing")]))
        #expect(name.before == .items([Item(token: "a", type: "", url: "", source: nil, problem: nil)]))

        let escaped = outcomes(Array(#"[{"token":"\ufeffa"}]"#.utf8))
        #expect(escaped.ours == .items([Item(token: "\u{FEFF}a", type: "", url: "", source: nil, problem: nil)]))
        #expect(escaped.before == escaped.ours)
    }

    /// Known difference: Foundation also guessed UTF-16 and UTF-32 from BOMs and zero bytes. Reports
    /// are UTF-8 (RFC 8259 §8.1; `ReportError.notJSON` says "or not UTF-8"), so we refuse the rest.
    @Test func onlyUTF8IsRead() throws {
        let text = #"[{"token":"a"}]"#
        let encodings: [(String.Encoding, [UInt8])] = [
            (.utf16LittleEndian, []), (.utf16BigEndian, []), (.utf32LittleEndian, []), (.utf32BigEndian, []),
            (.utf16LittleEndian, [0xFF, 0xFE]), (.utf16BigEndian, [0xFE, 0xFF]),
            (.utf32LittleEndian, [0xFF, 0xFE, 0x00, 0x00]), (.utf32BigEndian, [0x00, 0x00, 0xFE, 0xFF]),
        ]
        for (encoding, bom) in encodings {
            let body = bom + Array(try #require(text.data(using: encoding)))
            let (ours, before) = outcomes(body)
            #expect(ours == .refused(.notJSON))
            #expect(before == .items([Item(token: "a", type: "", url: "", source: nil, problem: nil)]))
        }
    }

    /// Known difference: RFC 8259 has no trailing commas. Foundation accepted one before `]` or `}`.
    @Test(arguments: ["[1,]", #"[{"token":"a"},]"#, #"[{"token":"a",}]"#, #"[{"token":"a","x":[1,]}]"#,
                      "[{\"token\":\"a\" , \n}]", #"{"a":1,}"#])
    func trailingCommasAreNotJSON(_ body: String) {
        let (ours, before) = outcomes(Array(body.utf8))
        #expect(ours == .refused(.notJSON))
        #expect(before != .refused(.notJSON))
    }

    /// Known difference: Foundation refused a number that overflows `Double` only if it survived to
    /// conversion, after parsing; one replaced by a later member of the same name slipped through.
    @Test(arguments: [#"[{"token":1e400,"token":"a"}]"#, #"[{"token":"a","x":{"n":-1e999,"n":0}}]"#,
                      #"[{"token":"a","x":[{"n":1.8e308,"n":null,"m":1}]}]"#])
    func outOfRangeNumbersAreNotJSONEvenWhenAnotherMemberReplacesThem(_ body: String) {
        let (ours, before) = outcomes(Array(body.utf8))
        #expect(ours == .refused(.notJSON))
        #expect(before == .items([Item(token: "a", type: "", url: "", source: nil, problem: nil)]))
    }

    // MARK: Limits

    @Test func nestingStopsAt512Levels() {
        func nested(_ levels: Int) -> [UInt8] {
            Array(repeating: UInt8(ascii: "["), count: levels) + Array(repeating: UInt8(ascii: "]"), count: levels)
        }
        let notAnObject = Outcome.items([Item(token: nil, type: "", url: "", source: nil, problem: "item is not an object")])
        // The top-level array counts as a level.
        #expect(outcomes(nested(512)).ours == notAnObject)
        #expect(outcomes(nested(512)).before == notAnObject)
        #expect(outcomes(nested(513)).ours == .refused(.notJSON))
        #expect(outcomes(nested(513)).before == .refused(.notJSON))

        func insideAnItem(_ levels: Int) -> [UInt8] {
            Array(#"[{"token":"t","x":"#.utf8) + nested(levels) + Array("}]".utf8)
        }
        let kept = Outcome.items([Item(token: "t", type: "", url: "", source: nil, problem: nil)])
        #expect(outcomes(insideAnItem(510)).ours == kept)
        #expect(outcomes(insideAnItem(510)).before == kept)
        #expect(outcomes(insideAnItem(511)).ours == .refused(.notJSON))
        #expect(outcomes(insideAnItem(511)).before == .refused(.notJSON))

        let objects = Array(String(repeating: #"{"a":"#, count: 512).utf8) + [UInt8(ascii: "1")]
            + Array(repeating: UInt8(ascii: "}"), count: 512)
        #expect(outcomes(objects).ours == .refused(.notArray))
        #expect(outcomes(Array(#"{"a":"#.utf8) + objects + [UInt8(ascii: "}")]).ours == .refused(.notJSON))
    }

    @Test func deepInputNeverExhaustsTheStack() {
        let opens = Array(repeating: UInt8(ascii: "["), count: 100_000)
        #expect(outcomes(opens).ours == .refused(.notJSON))
        #expect(outcomes(opens + Array(repeating: UInt8(ascii: "]"), count: 100_000)).ours == .refused(.notJSON))
        #expect(outcomes(Array(String(repeating: #"{"a":"#, count: 100_000).utf8)).ours == .refused(.notJSON))
        #expect(outcomes(Array(String(repeating: #"[{"token":"#, count: 100_000).utf8)).ours == .refused(.notJSON))
    }

    @Test func itemLimitIsCheckedOnlyOnceTheBodyIsKnownToBeJSON() {
        let three = StandardReportParser(maxItems: 3)
        let cases: [(String, Outcome)] = [
            ("[1,2,3]", .items(Array(repeating: Item(token: nil, type: "", url: "", source: nil, problem: "item is not an object"), count: 3))),
            ("[1,2,3,4]", .refused(.tooManyItems(limit: 3))),
            (#"[1,2,3,{"token":"a"},[{"b":[]}],"x"]"#, .refused(.tooManyItems(limit: 3))),
            // broken after the limit: still not JSON, as before
            ("[1,2,3,4,", .refused(.notJSON)),
            ("[1,2,3,4,[[[", .refused(.notJSON)),
            ("[1,2,3,4]]", .refused(.notJSON)),
            (#"[1,2,3,4,"\ud800"]"#, .refused(.notJSON)),
        ]
        for (body, expected) in cases {
            let (ours, before) = outcomes(Array(body.utf8), three)
            #expect(ours == expected, "\(body)")
            #expect(before == ours, "\(body)")
        }
        let none = StandardReportParser(maxItems: 0)
        #expect(outcomes(Array("[]".utf8), none).ours == .items([]))
        #expect(outcomes(Array("[{}]".utf8), none).ours == .refused(.tooManyItems(limit: 0)))

        let many = Array(("[" + Array(repeating: #"{"token":"t"}"#, count: 100_000).joined(separator: ",") + "]").utf8)
        #expect(outcomes(many, StandardReportParser(maxItems: 10)).ours == .refused(.tooManyItems(limit: 10)))
    }

    // MARK: Differential

    /// A few thousand bodies — random reports, then the same with bytes flipped, cut off, inserted and
    /// deleted — read by both parsers, which must agree except for the four documented differences
    /// (trailing commas, non-UTF-8 encodings, out-of-range numbers hidden by a repeated name, U+FEFF in
    /// strings; the generator never writes U+FEFF, a test above covers it).
    @Test(arguments: [StandardReportParser(), StandardReportParser(maxItems: 3, maxTokenLength: 24)])
    func agreesWithJSONSerialization(_ parser: StandardReportParser) {
        var generator = ReportGenerator(seed: 0x6A73_6F6E_7265_6164)
        var mismatches: [String] = []
        var tally: [String: Int] = [:]
        for round in 0 ..< 1_500 {
            let valid = generator.report()
            var bodies = [valid]
            for _ in 0 ..< 2 { bodies.append(generator.mutate(valid)) }
            for body in bodies {
                let (ours, before) = outcomes(body, parser)
                var expected = before
                if Self.foundationGuessesAnotherEncoding(body) {
                    expected = .refused(.notJSON)
                    tally["difference: not UTF-8", default: 0] += 1
                } else if before != .refused(.notJSON), Self.hasTrailingComma(body) {
                    expected = .refused(.notJSON)
                    tally["difference: trailing comma", default: 0] += 1
                } else if before != .refused(.notJSON), Self.hasNumberOverflowingDouble(body) {
                    expected = .refused(.notJSON)
                    tally["difference: hidden out-of-range number", default: 0] += 1
                }
                tally[ours.category, default: 0] += 1
                if ours != expected, mismatches.count < 5 {
                    mismatches.append("round \(round): \(String(decoding: body, as: UTF8.self).debugDescription) "
                        + "bytes \(body): ours \(ours), expected \(expected)")
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.joined(separator: "\n"))")
        // The corpus must reach every outcome, or agreeing proves little.
        for category in ["items", "not_json", "not_array", "difference: trailing comma", "difference: hidden out-of-range number"] {
            #expect(tally[category, default: 0] >= 20, "\(category): \(tally)")
        }
        #expect(tally["items", default: 0] >= 500, "\(tally)")
        if parser.maxItems == 3 {
            #expect(tally["too_many_items", default: 0] >= 100, "\(tally)")
        }
    }

    /// Whether `JSONSerialization` would read the body as UTF-16 or UTF-32 (its `parseBOM` and
    /// `detectEncoding`).
    static func foundationGuessesAnotherEncoding(_ body: [UInt8]) -> Bool {
        if body.count >= 3, body[0] == 0xEF, body[1] == 0xBB, body[2] == 0xBF { return false }
        if body.count >= 2, (body[0] == 0xFF && body[1] == 0xFE) || (body[0] == 0xFE && body[1] == 0xFF) { return true }
        if body.count >= 4, body[0] == 0, body[1] == 0, body[2] == 0xFE, body[3] == 0xFF { return true }
        if body.count >= 4 {
            return (body[0] == 0 && body[1] == 0 && body[2] == 0) || (body[1] == 0 && body[2] == 0 && body[3] == 0)
                || (body[0] == 0 && body[2] == 0) || (body[1] == 0 && body[3] == 0)
        }
        return body.count >= 2 && (body[0] == 0 || body[1] == 0)
    }

    /// Whether a comma outside strings is followed, after whitespace, by `]` or `}`. Only meaningful
    /// for bodies `JSONSerialization` accepted.
    static func hasTrailingComma(_ body: [UInt8]) -> Bool {
        let inString = insideStrings(body)
        return body.indices.contains { i in
            guard !inString[i], body[i] == UInt8(ascii: ",") else { return false }
            let next = body[(i + 1)...].first { !" \t\r\n".utf8.contains($0) }
            return next == UInt8(ascii: "]") || next == UInt8(ascii: "}")
        }
    }

    /// Whether a number outside strings overflows `Double`. Only meaningful for bodies
    /// `JSONSerialization` accepted: it converts numbers after parsing, so one survives only when a later
    /// member of the same name replaced it.
    static func hasNumberOverflowingDouble(_ body: [UInt8]) -> Bool {
        let numeric = Set("+-.0123456789eE".utf8)
        let inString = insideStrings(body)
        var run: [UInt8] = []
        for i in body.indices + [body.count] {
            if i < body.count, !inString[i], numeric.contains(body[i]) {
                run.append(body[i])
                continue
            }
            if let value = Double(String(decoding: run, as: UTF8.self)), !value.isFinite { return true }
            run = []
        }
        return false
    }

    /// For each byte, whether it lies between the quotes of a string.
    static func insideStrings(_ body: [UInt8]) -> [Bool] {
        var flags: [Bool] = []
        var inString = false
        var escaped = false
        for byte in body {
            if !inString {
                flags.append(false)
                inString = byte == UInt8(ascii: "\"")
            } else if escaped {
                flags.append(true)
                escaped = false
            } else {
                inString = byte != UInt8(ascii: "\"")
                flags.append(inString)
                escaped = byte == UInt8(ascii: "\\")
            }
        }
        return flags
    }
}

extension JSONReaderTests {
    /// A parser's answer, comparable.
    enum Outcome: Equatable, CustomStringConvertible {
        case refused(ReportError)
        case items([Item])

        init(_ parse: () throws(ReportError) -> [Disclosure]) {
            do {
                self = .items(try parse().map {
                    Item(token: $0.token?.value, type: $0.type, url: $0.url, source: $0.source, problem: $0.problem)
                })
            } catch {
                self = .refused(error)
            }
        }

        var category: String {
            switch self {
            case .refused(let error): error.reason
            case .items: "items"
            }
        }

        var description: String {
            switch self {
            case .refused(let error): "refused(\(error.reason))"
            case .items(let items): "items(\(items))"
            }
        }
    }

    /// A `Disclosure` reduced to what can be compared.
    struct Item: Equatable {
        var token: String?
        var type: String
        var url: String
        var source: String?
        var problem: String?
    }

    /// `StandardReportParser` as it was before `JSONReader`, on `JSONSerialization`: the reference the
    /// tests compare with.
    struct FoundationReportParser {
        var maxItems = 10_000
        var maxTokenLength = 4096

        func disclosures(from body: [UInt8]) throws(ReportError) -> [Disclosure] {
            let parsed: Any
            do {
                parsed = try JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])
            } catch {
                throw .notJSON
            }
            guard let items = parsed as? [Any] else { throw .notArray }
            guard items.count <= maxItems else { throw .tooManyItems(limit: maxItems) }
            return items.map(disclosure(from:))
        }

        private func disclosure(from item: Any) -> Disclosure {
            guard let object = item as? [String: Any] else {
                return Disclosure(token: nil, type: "", url: "", problem: "item is not an object")
            }
            var problems: [String] = []
            var token: LeakedToken?
            switch object["token"] {
            case nil, is NSNull:
                problems.append("token missing")
            case let value as String:
                if value.isEmpty {
                    problems.append("token empty")
                } else if value.utf8.count > maxTokenLength {
                    problems.append("token too long")
                } else {
                    token = LeakedToken(value)
                }
            default:
                problems.append("token is not a string")
            }
            let type = field("type", of: object, problems: &problems) ?? ""
            let url = field("url", of: object, problems: &problems) ?? ""
            let source = field("source", of: object, problems: &problems)
            return Disclosure(token: token, type: type, url: url, source: source,
                              problem: problems.isEmpty ? nil : problems.joined(separator: "; "))
        }

        private func field(_ name: String, of object: [String: Any], problems: inout [String]) -> String? {
            switch object[name] {
            case nil, is NSNull: return nil
            case let value as String: return value
            default:
                problems.append("\(name) is not a string")
                return nil
            }
        }
    }

    /// Random reports for the differential test: mostly well-formed, with every kind of value, escape,
    /// duplicate and near-miss name, then damaged on request.
    struct ReportGenerator {
        var random: SplitMix64

        init(seed: UInt64) { random = SplitMix64(seed: seed) }

        mutating func report() -> [UInt8] {
            var out = ""
            out += space()
            if chance(5) {
                out += value(depth: 0)
            } else {
                out += "["
                let count = Int.random(in: 0 ... 6, using: &random)
                for i in 0 ..< count {
                    if i > 0 { out += space() + "," }
                    out += space() + (chance(10) ? value(depth: 1) : item()) + space()
                }
                out += (count > 0 && chance(3) ? "," : "") + "]"
            }
            out += space()
            return Array(out.utf8)
        }

        mutating func mutate(_ body: [UInt8]) -> [UInt8] {
            var bytes = body
            for _ in 0 ..< Int.random(in: 1 ... 3, using: &random) {
                let at = Int.random(in: 0 ... bytes.count, using: &random)
                switch Int.random(in: 0 ..< 4, using: &random) {
                case 0 where at < bytes.count:
                    bytes[at] = chance(50) ? UInt8.random(in: 0 ... 255, using: &random) : pick(Self.interestingBytes)
                case 1:
                    bytes.removeSubrange(at...)
                case 2:
                    bytes.insert(contentsOf: pick(Self.snippets), at: at)
                default:
                    bytes.removeSubrange(at ..< min(bytes.count, at + Int.random(in: 1 ... 4, using: &random)))
                }
            }
            return bytes
        }

        static let interestingBytes: [UInt8] = Array(#""\,:[]{}0-e.u+tn "#.utf8) + [0x00, 0x09, 0x0A, 0x1F, 0x7F, 0x80, 0xBF, 0xC3, 0xE2, 0xED, 0xF0, 0xFF]
        static let snippets: [[UInt8]] = [
            ",", "]", "}", "[", "{", "\"", "\\", ":", "\\u", "\\ud800", "\\udc00", "\\ud83d\\ude00", "e999", "e-999", "0", "-",
            " ", "\t", "\n", "null", "true", ",]", ",}", "\"token\":", "\"token\":\"x\",", "[[[[", "1e400", ".5", "é",
        ].map { Array($0.utf8) } + [[0xC3], [0xE2, 0x82], [0xF0, 0x9F, 0x98, 0x80], [0xED, 0xA0, 0x80], [0x00], [0xFF, 0xFE]]

        private mutating func item() -> String {
            var members: [String] = []
            for _ in 0 ..< Int.random(in: 0 ... 6, using: &random) {
                let name = pick(Self.names)
                let isKnown = Self.knownNames.contains(name)
                let memberValue = isKnown && chance(80) ? (chance(85) ? string(longish: true) : "null") : value(depth: 2)
                members.append(space() + "\"\(name)\"" + space() + ":" + space() + memberValue + space())
            }
            // Now and then a trailing comma, which only Foundation accepts.
            return "{" + members.joined(separator: ",") + (members.isEmpty ? space() : chance(3) ? "," : "") + "}"
        }

        static let knownNames: Set<String> = ["token", "type", "url", "source", #"\u0074oken"#, #"typ\u0065"#, #"ur\u006C"#, #"\u0073ource"#]
        static let names = Array(knownNames).sorted() + ["token", "token", "type", "url", "source", "Token", "tokens", "toke", "url ",
                                                         "extra", "", "n", #"a\u0000b"#, #"\"token\""#, "é"]

        private mutating func value(depth: Int) -> String {
            switch Int.random(in: 0 ..< (depth < 6 ? 10 : 7), using: &random) {
            case 0, 1: return string(longish: false)
            case 2, 3: return pick(Self.numbers)
            case 4: return pick(["true", "false"])
            case 5: return "null"
            case 6:
                // Now and then nesting right at Foundation's 512-level limit, either side of it.
                guard chance(3) else { return pick(["0", "\"s\"", "[]", "{}"]) }
                let levels = Int.random(in: 508 ... 512, using: &random) - depth
                return String(repeating: "[", count: max(levels, 1)) + String(repeating: "]", count: max(levels, 1))
            case 7, 8:
                let count = Int.random(in: 0 ... 3, using: &random)
                return "[" + (0 ..< count).map { _ in space() + value(depth: depth + 1) + space() }.joined(separator: ",") + "]"
            default:
                let count = Int.random(in: 0 ... 3, using: &random)
                return "{" + (0 ..< count).map { _ in "\"\(pick(Self.names))\":" + value(depth: depth + 1) }.joined(separator: ",") + "}"
            }
        }

        static let numbers = [
            "0", "-0", "7", "-12", "3.25", "-0.5", "1e3", "2E-3", "1e+2", "6.02e23", "123456789012345678901234567890",
            "-9223372036854775809", "18446744073709551616", "1e400", "-1e309", "1e-400", "1.7976931348623157e308",
            "1.7976931348623159e308", "0e99999", "0.1e310", "1e308",
        ]

        private mutating func string(longish: Bool) -> String {
            var out = "\""
            let pieces = longish && chance(30) ? Int.random(in: 10 ... 30, using: &random) : Int.random(in: 0 ... 8, using: &random)
            for _ in 0 ..< pieces { out += pick(Self.stringPieces) }
            return out + "\""
        }

        static let stringPieces = [
            "a", "Z", "pypi-", "ghp_", "0", "9", " ", "/", "https://github.com/x/y", "é", "€", "😀", "\u{7F}",
            #"\n"#, #"\""#, #"\\"#, #"\/"#, #"\t"#, #"\b"#, #"\f"#, #"\r"#, #"\u00e9"#, #"\u20AC"#, #"\ud83d\ude00"#,
            #"\u0000"#, #"\uFFFF"#, #"\u0041"#,
        ]

        private mutating func space() -> String {
            chance(70) ? "" : pick([" ", "\n", "\t", "\r\n  ", "  "])
        }

        private mutating func chance(_ percent: Int) -> Bool {
            Int.random(in: 0 ..< 100, using: &random) < percent
        }

        private mutating func pick<T>(_ choices: [T]) -> T {
            choices[Int.random(in: 0 ..< choices.count, using: &random)]
        }
    }
}
