import Foundation
import SecretsCore

extension PostgreSQLStorage: Outbox {
    /// Idempotent per message id (`ON CONFLICT DO NOTHING`, across instances too). Due at once:
    /// `run_after` is the message's date.
    public func enqueue(_ message: MailMessage) throws(StoreError) {
        let recipients = try JSONText.encode(message.to)
        try autocommit { connection throws(StoreError) in
            try connection.run("""
                INSERT INTO outbox (message_id, user_name, sender, recipients, subject, body, created_at, run_after, attempts)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 0) ON CONFLICT DO NOTHING
                """, .text(message.messageID), .text(message.user), .text(message.from), .text(recipients),
                .text(message.subject), .text(message.body), .time(message.date))
        }
    }

    /// One statement (so one transaction): unsent, due, unleased entries in id order, locked with
    /// `FOR UPDATE SKIP LOCKED`, then leased and counted.
    public func claimMail(limit: Int, lease: Duration, now: Date) throws(StoreError) -> [OutboxEntry] {
        guard limit > 0 else { return [] }
        let nowMicros = SQLTime.micros(now)
        let leaseUntil = SQLTime.micros(now, plus: lease)
        return try autocommit { connection throws(StoreError) in
            try connection.query("""
                WITH due AS (
                    SELECT id FROM outbox
                    WHERE sent_at IS NULL AND run_after <= $1 AND (lease_until IS NULL OR lease_until <= $1)
                    ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
                UPDATE outbox o SET lease_until = $3, attempts = o.attempts + 1 FROM due WHERE o.id = due.id
                RETURNING o.id, o.message_id, o.sender, o.recipients, o.subject, o.body, o.created_at, o.user_name, o.attempts
                """, .integer(nowMicros), .integer(limit), .integer(leaseUntil)).map { row throws(StoreError) in
                OutboxEntry(id: try row.int64(0),
                            message: MailMessage(messageID: row.text(1), from: row.text(2),
                                                 to: try JSONText.decode([String].self, row.text(3), what: "outbox recipients"),
                                                 subject: row.text(4), body: row.text(5), date: try row.time(6), user: row.text(7)),
                            attempts: try row.int(8))
            }.sorted { $0.id < $1.id }
        }
    }

    /// Idempotent: marking a sent entry again changes nothing. An unknown id is `.notFound` (looked up after
    /// an update that changed nothing; the two need not be one transaction, as entries are never deleted).
    public func markSent(id: Int64, at time: Date) throws(StoreError) {
        try autocommit { connection throws(StoreError) in
            let changed = try connection.run("UPDATE outbox SET sent_at = $1, lease_until = NULL WHERE id = $2 AND sent_at IS NULL",
                                             .time(time), .integer(id))
            if changed == 0 { try Self.requireMail(id, on: connection) }
        }
    }

    /// Due again at `retryAt`; a sent entry stays sent. An unknown id is `.notFound`.
    public func markFailed(id: Int64, retryAt: Date, error: String) throws(StoreError) {
        try autocommit { connection throws(StoreError) in
            let changed = try connection.run("""
                UPDATE outbox SET run_after = $1, lease_until = NULL, last_error = $2 WHERE id = $3 AND sent_at IS NULL
                """, .time(retryAt), .text(String(error.prefix(1000))), .integer(id))
            if changed == 0 { try Self.requireMail(id, on: connection) }
        }
    }

    public func pendingMailCount() throws(StoreError) -> Int {
        try autocommit { connection throws(StoreError) in
            try connection.query("SELECT count(*) FROM outbox WHERE sent_at IS NULL").first { row throws(StoreError) in
                try row.int(0)
            } ?? 0
        }
    }

    private static func requireMail(_ id: Int64, on connection: PostgreSQLConnection) throws(StoreError) {
        if try connection.query("SELECT 1 FROM outbox WHERE id = $1", .integer(id)).count == 0 {
            throw StoreError(.notFound, "no outbox entry \(id)")
        }
    }
}
