import Foundation
import SecretsCore

/// A `MailMessage` rendered as the bytes of an RFC 5322 message, ready for a maildir file or an SMTP
/// `DATA` upload, together with the envelope addresses SMTP needs.
///
/// - Headers, in this order: `Date` (RFC 5322, UTC, `+0000`), `From`, `To` (comma-separated),
///   `Subject`, `Message-ID` (`<messageID>`), `MIME-Version: 1.0`,
///   `Content-Type: text/plain; charset=utf-8` and `Content-Transfer-Encoding`.
/// - A non-ASCII subject (or display name) is written as RFC 2047 encoded-words (`=?UTF-8?B?…?=`),
///   folded so no header line exceeds 78 characters; a long ASCII subject is folded at spaces.
/// - Header injection is impossible: control characters (CR and LF included) in the subject are
///   replaced by spaces; an address or message id holding one is refused (`MailError.isPermanent`),
///   because silently changing where a mail goes is worse than not sending it.
/// - The body's line endings (LF, CRLF or CR) become CRLF. A body of short ASCII lines is sent as
///   `7bit`, anything else (non-ASCII text, a line over 998 octets) as `quoted-printable`, so the
///   message is valid on any SMTP server, with or without 8BITMIME.
/// - Lines starting with "." are left alone here: libcurl dot-stuffs SMTP uploads itself (see
///   `SMTPMailSink`), and a maildir file holds the message as is.
public struct RFC5322Message: Sendable, Equatable {
    /// The whole message, headers and body, CRLF line endings, ending in CRLF.
    public let bytes: [UInt8]
    /// The sender's bare address (`a@example.org`), for `MAIL FROM`.
    public let envelopeFrom: String
    /// The recipients' bare addresses, for `RCPT TO`.
    public let envelopeTo: [String]

    public init(_ message: MailMessage) throws(MailError) {
        let from = try Self.address(message.from, field: "From")
        guard !message.to.isEmpty else { throw MailError(.invalidMessage, "no recipient") }
        var to: [(header: String, bare: String)] = []
        for recipient in message.to { to.append(try Self.address(recipient, field: "To")) }
        let messageID = try Self.messageID(message.messageID)
        let body = Self.encodeBody(message.body)

        var head = ""
        head += "Date: \(Self.date(message.date))\r\n"
        head += "From: \(from.header)\r\n"
        head += Self.fold(name: "To", items: to.map(\.header))
        head += Self.subject(message.subject)
        head += "Message-ID: <\(messageID)>\r\n"
        head += "MIME-Version: 1.0\r\n"
        head += "Content-Type: text/plain; charset=utf-8\r\n"
        head += "Content-Transfer-Encoding: \(body.encoding)\r\n"
        head += "\r\n"
        bytes = Array(head.utf8) + body.bytes
        envelopeFrom = from.bare
        envelopeTo = to.map(\.bare)
    }

    // MARK: Headers

    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `Fri, 04 Dec 2026 20:27:09 +0000` (RFC 5322 §3.3), whole seconds, always UTC.
    static func date(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let weekday = days[Int(parts.tm_wday) % 7]
        let month = months[Int(parts.tm_mon) % 12]
        return "\(weekday), \(two(parts.tm_mday)) \(month) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) +0000"
    }

    /// Checks an address (`a@b` or `Display Name <a@b>`) and splits off the bare address.
    static func address(_ raw: String, field: String) throws(MailError) -> (header: String, bare: String) {
        let text = trimSpaces(raw)
        if text.unicodeScalars.contains(where: isControl) {
            throw MailError(.invalidMessage, "\(field) address contains a control character")
        }
        var display = ""
        var bare = text
        if text.hasSuffix(">"), let open = text.lastIndex(of: "<") {
            display = trimSpaces(String(text[..<open]))
            bare = String(text[text.index(after: open)..<text.index(before: text.endIndex)])
        }
        guard !bare.isEmpty, !bare.unicodeScalars.contains(where: { " <>,;\"".unicodeScalars.contains($0) }) else {
            throw MailError(.invalidMessage, "\(field) address is not a mailbox")
        }
        if display.isEmpty { return (bare, bare) }
        let name = display.unicodeScalars.allSatisfy(\.isASCII) ? display : encodedWords(display).joined(separator: " ")
        return ("\(name) <\(bare)>", bare)
    }

    /// A message id is an identifier: printable ASCII without spaces or angle brackets, or refused.
    static func messageID(_ raw: String) throws(MailError) -> String {
        guard !raw.isEmpty, raw.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "<") && $0 != UInt8(ascii: ">") }) else {
            throw MailError(.invalidMessage, "message id must be printable ASCII without spaces or angle brackets")
        }
        return raw
    }

    /// `To: a, b` folded after a comma whenever the line would pass 78 characters.
    static func fold(name: String, items: [String]) -> String {
        var out = "\(name):"
        var lineLength = out.utf8.count
        for (i, item) in items.enumerated() {
            let piece = (i < items.count - 1 ? item + "," : item)
            if i > 0 && lineLength + 1 + piece.utf8.count > 78 {
                out += "\r\n"
                lineLength = 0
            }
            out += " " + piece
            lineLength += 1 + piece.utf8.count
        }
        return out + "\r\n"
    }

    /// The `Subject:` header line(s): control characters become spaces, surrounding spaces go; non-ASCII text (or text that
    /// could be mistaken for an encoded-word) becomes encoded-words; long ASCII text is folded at spaces.
    static func subject(_ raw: String) -> String {
        let clean = trimSpaces(String(String.UnicodeScalarView(raw.unicodeScalars.map { isControl($0) ? " " : $0 })))
        if !clean.unicodeScalars.allSatisfy(\.isASCII) || clean.contains("=?") {
            return "Subject: " + encodedWords(clean).joined(separator: "\r\n ") + "\r\n"
        }
        return "Subject:" + foldWords(clean, used: "Subject:".utf8.count) + "\r\n"
    }

    /// ASCII text as ` word word…`, a line break before a word that would pass column 78.
    private static func foldWords(_ text: String, used: Int) -> String {
        var out = ""
        var lineLength = used
        for word in text.split(separator: " ", omittingEmptySubsequences: false) {
            if lineLength + 1 + word.utf8.count > 78 && lineLength > 1 {
                out += "\r\n"
                lineLength = 0
            }
            out += " " + word
            lineLength += 1 + word.utf8.count
        }
        return out
    }

    /// RFC 2047 `B` encoded-words of 64 characters at most (the RFC allows 75), so that even
    /// `Subject: ` plus one word stays within 78 columns; split between Unicode scalars, so each word
    /// decodes on its own to whole characters.
    static func encodedWords(_ text: String) -> [String] {
        let maxBytes = 39 // 52 base64 characters + "=?UTF-8?B?" + "?=" = 64
        var words: [String] = []
        var chunk: [UInt8] = []
        for scalar in text.unicodeScalars {
            let encoded = Array(String(scalar).utf8)
            if chunk.count + encoded.count > maxBytes {
                words.append("=?UTF-8?B?\(Base64.encodeStandard(chunk))?=")
                chunk = []
            }
            chunk += encoded
        }
        if !chunk.isEmpty || words.isEmpty { words.append("=?UTF-8?B?\(Base64.encodeStandard(chunk))?=") }
        return words
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value)
            || scalar == "\u{2028}" || scalar == "\u{2029}"
    }

    private static func trimSpaces(_ text: String) -> String {
        String(text.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }

    // MARK: Body

    /// The body's lines with CRLF endings, as `7bit` when every line is short ASCII, else `quoted-printable`.
    static func encodeBody(_ body: String) -> (encoding: String, bytes: [UInt8]) {
        var lines: [ArraySlice<UInt8>] = []
        let utf8 = Array(body.utf8)
        var start = 0
        var i = 0
        while i < utf8.count {
            if utf8[i] == 0x0A || utf8[i] == 0x0D {
                lines.append(utf8[start..<i])
                if utf8[i] == 0x0D && i + 1 < utf8.count && utf8[i + 1] == 0x0A { i += 1 }
                start = i + 1
            }
            i += 1
        }
        if start < utf8.count { lines.append(utf8[start...]) }

        let plain = lines.allSatisfy { line in line.count <= 998 && line.allSatisfy { $0 < 0x80 && $0 != 0 } }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count + lines.count * 2)
        for line in lines {
            if plain { out += line } else { appendQuotedPrintable(line, to: &out) }
            out += [0x0D, 0x0A]
        }
        return (plain ? "7bit" : "quoted-printable", out)
    }

    private static let hexDigits = Array("0123456789ABCDEF".utf8)

    /// One line in quoted-printable (RFC 2045 §6.7): soft breaks keep encoded lines at 76 characters,
    /// trailing spaces and tabs are encoded so no transport can strip them.
    private static func appendQuotedPrintable(_ line: ArraySlice<UInt8>, to out: inout [UInt8]) {
        var column = 0
        for (offset, byte) in zip(line.indices, line) {
            let isLast = offset == line.index(before: line.endIndex)
            let literal = (byte >= 33 && byte <= 126 && byte != UInt8(ascii: "=")) || ((byte == 0x20 || byte == 0x09) && !isLast)
            let width = literal ? 1 : 3
            // Keep room for the "=" of a soft break: at most 75 characters plus "=" per encoded line.
            if column + width > (isLast ? 76 : 75) {
                out += [UInt8(ascii: "="), 0x0D, 0x0A]
                column = 0
            }
            if literal {
                out.append(byte)
            } else {
                out += [UInt8(ascii: "="), hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0x0F)]]
            }
            column += width
        }
    }
}
