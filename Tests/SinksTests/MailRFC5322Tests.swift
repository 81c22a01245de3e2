import Foundation
import SecretsCore
import Sinks
import Testing

@Suite("RFC5322Message")
struct MailRFC5322Tests {
    static func render(subject: String = "Revoked", body: String = "Hi\n", to: [String] = ["a@example.org"],
                       date: Date = Date(timeIntervalSince1970: 0)) throws -> String {
        let message = MailMessage(messageID: "id-1@tokenscan.test", from: "security@example.org", to: to,
                                  subject: subject, body: body, date: date, user: "u")
        return String(decoding: try RFC5322Message(message).bytes, as: UTF8.self)
    }

    @Test func goldenPlainMessage() throws {
        let text = try Self.render(to: ["a@example.org", "B <b@example.org>"], date: Date(timeIntervalSince1970: 1_700_000_000.9))
        #expect(text == """
            Date: Tue, 14 Nov 2023 22:13:20 +0000\r
            From: security@example.org\r
            To: a@example.org, B <b@example.org>\r
            Subject: Revoked\r
            Message-ID: <id-1@tokenscan.test>\r
            MIME-Version: 1.0\r
            Content-Type: text/plain; charset=utf-8\r
            Content-Transfer-Encoding: 7bit\r
            \r
            Hi\r

            """)
    }

    @Test func envelopeAddressesAreBare() throws {
        let message = MailMessage(messageID: "x@y", from: "Tokenscan <security@example.org>", to: ["O <o@example.org>", "p@example.org"],
                                  subject: "s", body: "b", date: Date(), user: "u")
        let rendered = try RFC5322Message(message)
        #expect(rendered.envelopeFrom == "security@example.org")
        #expect(rendered.envelopeTo == ["o@example.org", "p@example.org"])
    }

    @Test(arguments: [("a\nb", "a\r\nb\r\n"), ("a\r\nb\r\n", "a\r\nb\r\n"), ("a\rb", "a\r\nb\r\n"), ("", ""),
                      ("\n\n", "\r\n\r\n"), (".\n..\n.x\n", ".\r\n..\r\n.x\r\n")])
    func bodyLineEndingsBecomeCRLF(body: String, expected: String) throws {
        let text = try Self.render(body: body)
        let bodyPart = try #require(text.range(of: "\r\n\r\n")).upperBound
        #expect(String(text[bodyPart...]) == expected)
    }

    @Test func longASCIILinesUseQuotedPrintableWithShortLines() throws {
        let text = try Self.render(body: String(repeating: "abcdefghij", count: 120) + "\n")
        #expect(text.contains("Content-Transfer-Encoding: quoted-printable\r\n"))
        #expect(text.components(separatedBy: "\r\n").allSatisfy { $0.utf8.count <= 76 })
    }

    @Test func longASCIISubjectIsFoldedAtSpaces() throws {
        let subject = (1...30).map { "word\($0)" }.joined(separator: " ")
        let text = try Self.render(subject: subject)
        let header = try #require(text.components(separatedBy: "Subject:").last?.components(separatedBy: "\r\nMessage-ID").first)
        #expect(header.components(separatedBy: "\r\n").count > 1)
        #expect(header.components(separatedBy: "\r\n").dropFirst().allSatisfy { $0.hasPrefix(" ") })
        #expect(header.replacingOccurrences(of: "\r\n", with: "") == " " + subject)
    }

    @Test func subjectThatLooksLikeAnEncodedWordIsEncoded() throws {
        let text = try Self.render(subject: "=?UTF-8?B?SGk=?=")
        #expect(text.contains("Subject: =?UTF-8?B?PT9VVEYtOD9CP1NHaz0/PQ==?=\r\n"))
    }

    @Test func nonASCIIDisplayNameIsEncoded() throws {
        let message = MailMessage(messageID: "x@y", from: "Sécurité <security@example.org>", to: ["a@example.org"],
                                  subject: "s", body: "b", date: Date(), user: "u")
        let text = String(decoding: try RFC5322Message(message).bytes, as: UTF8.self)
        #expect(text.contains("From: =?UTF-8?B?U8OpY3VyaXTDqQ==?= <security@example.org>\r\n"))
    }

    @Test func noRecipientIsRefused() throws {
        let error = try #require(throws: MailError.self) { try Self.render(to: []) }
        #expect(error.isPermanent)
    }
}
