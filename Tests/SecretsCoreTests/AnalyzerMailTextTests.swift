import Foundation
import Testing
@testable import SecretsCore

@Suite("LeakMailComposer text: the fast paths write what the Foundation formatting wrote")
struct AnalyzerMailTextTests {
    /// What `timestamp` wrote before its fast path, and still writes outside the years 1600–9999.
    static func foundationTimestamp(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false).timeZone(separator: .omitted))
    }

    /// What `oneLine` wrote before its ASCII fast path.
    static func generalCategoryOneLine(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map {
            $0.properties.generalCategory == .control || $0 == "\u{2028}" || $0 == "\u{2029}" ? " " : $0
        }))
    }

    @Test func timestampsMatchFoundationsISO8601() {
        var generator = SystemRandomNumberGenerator()
        var seconds: [TimeInterval] = [0, -0.5, -1, -1.5, 0.999, 59.999_999, 951_782_400, 1_796_415_429.75, 4_107_542_400,
                                       -11_676_096_000, -11_676_096_000.5, -11_676_096_001, 253_402_300_799.9, 253_402_300_800,
                                       -62_135_596_800, 1e11, -1e11]
        for _ in 0..<2_000 { seconds.append(TimeInterval(Int64.random(in: -12_000_000_000...260_000_000_000, using: &generator)) / 7) }
        for value in seconds {
            let date = Date(timeIntervalSince1970: value)
            #expect(LeakMailComposer.timestamp(date) == Self.foundationTimestamp(date), "at \(value)")
        }
    }

    @Test(arguments: ["plain ASCII", "", "tab\there", "new\nline", "cr\rlf\r\n", "del\u{7F}", "nel\u{85}x", "ls\u{2028}ps\u{2029}",
                      "ünïcode — 🔑", "c1\u{9F}", "e\u{301}", "nul\u{0}", " ~", "\u{1F}\u{20}"])
    func oneLineMatchesTheGeneralCategoryMapping(text: String) {
        #expect(LeakMailComposer.oneLine(text) == Self.generalCategoryOneLine(text))
        #expect(!LeakMailComposer.oneLine(text).contains { $0.isNewline })
    }

    @Test func theBodyIsTheOneTheLineArrayWrote() {
        let composer = LeakMailComposer(settings: MailSettings(from: "security@example.org", siteName: "Example Index",
                                                               helpURL: "https://example.org/help/leaks"))
        let token = IssuedToken(id: "3f0c1e7a-5d2b-4c8e-9a61-0b7d2e4f6a88", type: "pypi_api_token",
                                identity: "3f0c1e7a-5d2b-4c8e-9a61-0b7d2e4f6a88", user: "alice", emails: ["alice@example.org"],
                                description: "CI upload — ünïcode\ttab", createdAt: Date(timeIntervalSince1970: 1_700_000_000.75),
                                revokedAt: Date(timeIntervalSince1970: 1_796_415_429.25), revokedByDisclosure: 42)
        let record = DisclosureRecord(id: 42, vendor: "github", tokenHash: "h", tokenType: "pypi_api_token", identity: "x",
                                      url: "https://github.com/alice/repo/blob/main/.pypirc\u{2028}x", source: "commit",
                                      receivedAt: Date(timeIntervalSince1970: 1_796_415_428))
        // Written by the composer as it was before (lines joined, Foundation dates), run on these inputs.
        let expected = """
        Hello alice,

        One of your API tokens for Example Index was found in a public place, and github reported it to us.
        To protect your account we have revoked the token: it no longer works, and anything
        still using it will now fail to authenticate.

        Which token
          Description: CI upload — ünïcode tab
          Token ID:    3f0c1e7a-5d2b-4c8e-9a61-0b7d2e4f6a88
          Created:     2023-11-14T22:13:20Z
          Revoked:     2026-12-04T20:17:09Z

        How we know
          Reported by: github (a secret-scanning service that checks public code)
          Found at:    https://github.com/alice/repo/blob/main/.pypirc x
          Source:      commit
          Reported on: 2026-12-04T20:17:08Z

        What you should do
          1. Create a new token to replace it, with the narrowest scope that works, and put it
             wherever the old one was used.
          2. Check where the token leaked (the address above) and remove it from there, including
             from the history of the repository or file; treat anything else kept next to it as
             exposed too.
          3. Review your account's recent activity and security history for anything you did not do.

        More help: https://example.org/help/leaks

        You are receiving this because you own this token. This mail does not contain the token.

        --\u{20}
        Example Index security

        """
        #expect(composer.body(token: token, disclosure: record) == expected)
    }
}
