import Foundation
import SecretsCore
import Testing
@testable import Sinks

@Suite("JSONText: the string overloads write JSONEncoder's bytes")
struct SQLiteJSONTextTests {
    /// What every JSON column held before the overloads: the generic encoder's text.
    static func reference<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Every ASCII character alone, and text where escaping, sorting and non-ASCII meet.
    static let samples: [String] = (0..<128).map { String(UnicodeScalar(UInt8($0))) } + [
        "", "plain", "a/b</script>", "q\"b\\s", "line\nbreak\r\n", "\u{8}\u{C}\u{1}\u{1F}\u{7F}", "é", "e\u{301}",
        "\u{80}\u{9F}\u{A0}", "\u{2028}\u{2029}", "🔑 key", "\u{FFFD}", "日本語", "tab\tand space ",
    ]

    @Test func stringArrays() throws {
        #expect(try JSONText.encode([String]()) == (try Self.reference([String]())))
        for sample in Self.samples {
            #expect(try JSONText.encode([sample, "x"]) == (try Self.reference([sample, "x"])), "\(Array(sample.utf8))")
        }
        #expect(try JSONText.encode(Self.samples) == (try Self.reference(Self.samples)))
    }

    @Test func stringObjectsWithKeysInByteOrder() throws {
        #expect(try JSONText.encode([String: String]()) == (try Self.reference([String: String]())))
        for sample in Self.samples {
            var object = ["k": sample]
            object[sample] = "v"
            #expect(try JSONText.encode(object) == (try Self.reference(object)), "\(Array(sample.utf8))")
        }
        let keys = ["a10", "a9", "B", "a", "_x", "Z", "é", "e", "f", "A", "ab", "a_b", "aB", "ea", "e\u{301}x", "\u{FFFD}", "🔑"]
        let object = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, "v\($0)") })
        #expect(try JSONText.encode(object) == (try Self.reference(object)))
        // An event's data as the pipeline records it.
        let event = ["vendor": "github", "public_url": "https://github.com/a/b/blob/main/.pypirc", "token_id": "3f0c",
                     "description": "CI — \"upload\"", "token_hash": String(repeating: "ab", count: 32)]
        #expect(try JSONText.encode(event) == (try Self.reference(event)))
        #expect(try JSONText.decode([String: String].self, try JSONText.encode(event), what: "event") == event)
    }
}
