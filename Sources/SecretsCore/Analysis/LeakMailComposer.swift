import Foundation

/// Writes the mail that tells a token's owner it leaked and was revoked.
///
/// The text names the token by its description and id, and the leak by the reporting vendor and the
/// public URL: never by the token's value, which the composer never sees.
public struct LeakMailComposer: Sendable {
    public let settings: MailSettings

    public init(settings: MailSettings) { self.settings = settings }

    public var subject: String { "Your API token was found in public and has been revoked" }

    /// The mail to the token's owner (its primary address), or nil when the owner has no address.
    public func compose(token: IssuedToken, disclosure: DisclosureRecord, messageID: String, date: Date) -> MailMessage? {
        guard let to = token.emails.first else { return nil }
        return MailMessage(messageID: messageID, from: settings.from, to: [to], subject: subject,
                           body: body(token: token, disclosure: disclosure), date: date, user: token.user)
    }

    /// The plain-text body, LF line endings.
    public func body(token: IssuedToken, disclosure: DisclosureRecord) -> String {
        let site = Self.oneLine(settings.siteName)
        let vendor = Self.oneLine(disclosure.vendor)
        let url = Self.oneLine(disclosure.url)
        let description = Self.oneLine(token.description)
        var text = ""
        text.reserveCapacity(1_800)
        func line(_ piece: String) {
            text += piece
            text += "\n"
        }
        line("Hello \(Self.oneLine(token.user)),")
        line("")
        line("One of your API tokens for \(site) was found in a public place, and \(vendor) reported it to us.")
        line("To protect your account we have revoked the token: it no longer works, and anything")
        line("still using it will now fail to authenticate.")
        line("")
        line("Which token")
        line("  Description: \(description.isEmpty ? "(none)" : description)")
        line("  Token ID:    \(Self.oneLine(token.id))")
        line("  Created:     \(Self.timestamp(token.createdAt))")
        line("  Revoked:     \(Self.timestamp(token.revokedAt ?? disclosure.receivedAt))")
        line("")
        line("How we know")
        line("  Reported by: \(vendor) (a secret-scanning service that checks public code)")
        line("  Found at:    \(url.isEmpty ? "(the report did not say where)" : url)")
        if let source = disclosure.source.map(Self.oneLine), !source.isEmpty {
            line("  Source:      \(source)")
        }
        line("  Reported on: \(Self.timestamp(disclosure.receivedAt))")
        line("")
        line("What you should do")
        line("  1. Create a new token to replace it, with the narrowest scope that works, and put it")
        line("     wherever the old one was used.")
        line("  2. Check where the token leaked (the address above) and remove it from there, including")
        line("     from the history of the repository or file; treat anything else kept next to it as")
        line("     exposed too.")
        line("  3. Review your account's recent activity and security history for anything you did not do.")
        if let help = settings.helpURL.map(Self.oneLine), !help.isEmpty {
            line("")
            line("More help: \(help)")
        }
        line("")
        line("You are receiving this because you own this token. This mail does not contain the token.")
        line("")
        line("-- ")
        line("\(site) security")
        return text
    }

    /// Control characters (line breaks included) replaced by spaces, so reported text cannot add lines.
    static func oneLine(_ text: String) -> String {
        // Printable ASCII (nearly every description, URL and vendor) has nothing to replace.
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.map {
            $0.properties.generalCategory == .control || $0 == "\u{2028}" || $0 == "\u{2029}" ? " " : $0
        }))
    }

    /// `2026-12-04T20:17:09Z`: ISO 8601, UTC, whole seconds (rounded down).
    static func timestamp(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        // gmtime's calendar is proleptic Gregorian, Foundation's is Julian before October 1582: the fast
        // path covers the years 1600 to 9999, where they agree; anything else goes to Foundation.
        guard seconds >= -11_676_096_000, seconds < 253_402_300_800 else {
            return date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false).timeZone(separator: .omitted))
        }
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        var out = [UInt8]()
        out.reserveCapacity(20)
        func digits(_ value: Int32, _ count: Int) {
            var divisor: Int32 = 1
            for _ in 1..<count { divisor *= 10 }
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
        }
        digits(parts.tm_year + 1900, 4)
        out.append(UInt8(ascii: "-"))
        digits(parts.tm_mon + 1, 2)
        out.append(UInt8(ascii: "-"))
        digits(parts.tm_mday, 2)
        out.append(UInt8(ascii: "T"))
        digits(parts.tm_hour, 2)
        out.append(UInt8(ascii: ":"))
        digits(parts.tm_min, 2)
        out.append(UInt8(ascii: ":"))
        digits(parts.tm_sec, 2)
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }
}
