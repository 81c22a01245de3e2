import Foundation
import SecretsCore

extension SQLiteStorage: Outbox {
    /// Idempotent per message id (`ON CONFLICT DO NOTHING`). Due at once: `run_after` is the message's date.
    public func enqueue(_ message: MailMessage) throws(StoreError) {
        let recipients = try JSONText.encode(message.to)
        try write { try Self.insert(message, recipients: recipients, on: $0) }
    }

    /// `enqueue`'s statement, inside the caller's transaction; `recipients` is `message.to` as `JSONText`.
    static func insert(_ message: MailMessage, recipients: String, on connection: SQLiteConnection) throws {
        try connection.run("""
            INSERT INTO outbox (message_id, user_name, sender, recipients, subject, body, created_at, run_after, attempts)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT DO NOTHING
            """, .text(message.messageID), .text(message.user), .text(message.from), .text(recipients),
            .text(message.subject), .text(message.body), .time(message.date), .time(message.date))
    }

    /// In one `BEGIN IMMEDIATE` transaction: unsent, due, unleased entries in id order, leased and counted.
    public func claimMail(limit: Int, lease: Duration, now: Date) throws(StoreError) -> [OutboxEntry] {
        guard limit > 0 else { return [] }
        let nowMicros = SQLTime.micros(now)
        let leaseUntil = SQLTime.micros(now, plus: lease)
        return try write { connection in
            let entries = try connection.query("""
                SELECT id, message_id, sender, recipients, subject, body, created_at, user_name, attempts FROM outbox
                WHERE sent_at IS NULL AND run_after <= ? AND (lease_until IS NULL OR lease_until <= ?)
                ORDER BY id LIMIT ?
                """, .integer(nowMicros), .integer(nowMicros), .integer(limit)) { row in
                OutboxEntry(id: row.int64(0),
                            message: MailMessage(messageID: row.text(1), from: row.text(2),
                                                 to: try JSONText.decode([String].self, row.text(3), what: "outbox recipients"),
                                                 subject: row.text(4), body: row.text(5), date: row.time(6), user: row.text(7)),
                            attempts: row.int(8) + 1)
            }
            for entry in entries {
                try connection.run("UPDATE outbox SET lease_until = ?, attempts = attempts + 1 WHERE id = ?",
                                   .integer(leaseUntil), .integer(entry.id))
            }
            return entries
        }
    }

    /// Idempotent: marking a sent entry again changes nothing. An unknown id is `.notFound`.
    public func markSent(id: Int64, at time: Date) throws(StoreError) {
        try write { try Self.markSent(id: id, at: time, on: $0) }
    }

    /// `markSent`'s statements, inside the caller's transaction.
    static func markSent(id: Int64, at time: Date, on connection: SQLiteConnection) throws {
        let changed = try connection.run("UPDATE outbox SET sent_at = ?, lease_until = NULL WHERE id = ? AND sent_at IS NULL",
                                         .time(time), .integer(id))
        if changed == 0 { try requireMail(id, on: connection) }
    }

    /// Due again at `retryAt`; a sent entry stays sent. An unknown id is `.notFound`.
    public func markFailed(id: Int64, retryAt: Date, error: String) throws(StoreError) {
        try write { connection in
            let changed = try connection.run("""
                UPDATE outbox SET run_after = ?, lease_until = NULL, last_error = ? WHERE id = ? AND sent_at IS NULL
                """, .time(retryAt), .text(String(error.prefix(1000))), .integer(id))
            if changed == 0 { try Self.requireMail(id, on: connection) }
        }
    }

    public func pendingMailCount() throws(StoreError) -> Int {
        try read { try $0.queryFirst("SELECT count(*) FROM outbox WHERE sent_at IS NULL") { $0.int(0) } ?? 0 }
    }

    private static func requireMail(_ id: Int64, on connection: SQLiteConnection) throws {
        if try connection.queryFirst("SELECT 1 FROM outbox WHERE id = ?", .integer(id), row: { _ in true }) == nil {
            throw StoreError(.notFound, "no outbox entry \(id)")
        }
    }
}
