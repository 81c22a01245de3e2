import Foundation
import SecretsCore

/// The `--json` and table forms of what the listing commands print.
///
/// JSON: one array of objects with snake_case keys (DESIGN.md "Command line"); times are ISO 8601 UTC;
/// a missing value is `null`. Nothing printed here can hold a raw token: records only carry hashes.
enum Listings {
    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    static func tokenObject(_ t: IssuedToken) -> [String: Any] {
        [
            "id": t.id,
            "type": t.type,
            "user": t.user,
            "emails": t.emails,
            "description": t.description,
            "created_at": timestamp(t.createdAt),
            "revoked_at": t.revokedAt.map(timestamp) ?? NSNull(),
            "revoked_by_disclosure": t.revokedByDisclosure.map { NSNumber(value: $0) } ?? NSNull(),
        ]
    }

    static func eventObject(_ e: SecurityEvent) -> [String: Any] {
        ["tag": e.tag, "user": e.user, "time": timestamp(e.time), "data": e.data]
    }

    static func disclosureObject(_ d: DisclosureRecord) -> [String: Any] {
        [
            "id": d.id.map { NSNumber(value: $0) } ?? NSNull(),
            "vendor": d.vendor,
            "token_hash": d.tokenHash,
            "token_type": d.tokenType,
            "url": d.url,
            "source": d.source ?? NSNull(),
            "outcome": d.outcome?.rawValue ?? NSNull(),
            "detail": d.detail ?? NSNull(),
            "received_at": timestamp(d.receivedAt),
        ]
    }

    static func json(_ objects: [[String: Any]]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys, .withoutEscapingSlashes]) else {
            return "[]"
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// A plain text table: a header row, then one row per item, columns padded to fit.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        var widths = header.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in
                i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }

    static func tokensTable(_ tokens: [IssuedToken]) -> String {
        if tokens.isEmpty { return "no tokens" }
        return table(["ID", "USER", "DESCRIPTION", "CREATED", "REVOKED"], tokens.map {
            [$0.id, $0.user, $0.description, timestamp($0.createdAt), $0.revokedAt.map(timestamp) ?? "-"]
        })
    }

    static func eventsTable(_ events: [SecurityEvent]) -> String {
        if events.isEmpty { return "no events" }
        return table(["TIME", "USER", "TAG", "DATA"], events.map {
            [timestamp($0.time), $0.user, $0.tag, $0.data.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")]
        })
    }

    static func disclosuresTable(_ records: [DisclosureRecord]) -> String {
        if records.isEmpty { return "no disclosures" }
        return table(["ID", "RECEIVED", "VENDOR", "TYPE", "OUTCOME", "TOKEN SHA-256", "URL"], records.map {
            [$0.id.map(String.init) ?? "-", timestamp($0.receivedAt), $0.vendor, $0.tokenType,
             $0.outcome?.rawValue ?? "pending", String($0.tokenHash.prefix(16)), $0.url]
        })
    }
}
