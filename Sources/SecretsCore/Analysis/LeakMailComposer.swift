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
        var lines: [String] = []
        lines.append("Hello \(Self.oneLine(token.user)),")
        lines.append("")
        lines.append("One of your API tokens for \(site) was found in a public place, and \(vendor) reported it to us.")
        lines.append("To protect your account we have revoked the token: it no longer works, and anything")
        lines.append("still using it will now fail to authenticate.")
        lines.append("")
        lines.append("Which token")
        lines.append("  Description: \(description.isEmpty ? "(none)" : description)")
        lines.append("  Token ID:    \(Self.oneLine(token.id))")
        lines.append("  Created:     \(Self.timestamp(token.createdAt))")
        lines.append("  Revoked:     \(Self.timestamp(token.revokedAt ?? disclosure.receivedAt))")
        lines.append("")
        lines.append("How we know")
        lines.append("  Reported by: \(vendor) (a secret-scanning service that checks public code)")
        lines.append("  Found at:    \(url.isEmpty ? "(the report did not say where)" : url)")
        if let source = disclosure.source.map(Self.oneLine), !source.isEmpty {
            lines.append("  Source:      \(source)")
        }
        lines.append("  Reported on: \(Self.timestamp(disclosure.receivedAt))")
        lines.append("")
        lines.append("What you should do")
        lines.append("  1. Create a new token to replace it, with the narrowest scope that works, and put it")
        lines.append("     wherever the old one was used.")
        lines.append("  2. Check where the token leaked (the address above) and remove it from there, including")
        lines.append("     from the history of the repository or file; treat anything else kept next to it as")
        lines.append("     exposed too.")
        lines.append("  3. Review your account's recent activity and security history for anything you did not do.")
        if let help = settings.helpURL.map(Self.oneLine), !help.isEmpty {
            lines.append("")
            lines.append("More help: \(help)")
        }
        lines.append("")
        lines.append("You are receiving this because you own this token. This mail does not contain the token.")
        lines.append("")
        lines.append("-- ")
        lines.append("\(site) security")
        return lines.joined(separator: "\n") + "\n"
    }

    /// Control characters (line breaks included) replaced by spaces, so reported text cannot add lines.
    static func oneLine(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map {
            $0.properties.generalCategory == .control || $0 == "\u{2028}" || $0 == "\u{2029}" ? " " : $0
        }))
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false).timeZone(separator: .omitted))
    }
}
