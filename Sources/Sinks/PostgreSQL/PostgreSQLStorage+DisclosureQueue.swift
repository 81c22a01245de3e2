import Foundation
import SecretsCore

extension PostgreSQLStorage: DisclosureQueue {
    /// One transaction; returns after it committed. A record that already has an outcome is stored
    /// finished (`finished_at = received_at`); every other record also gets a job due at its
    /// `received_at`. Ids passed in are ignored: the table assigns them.
    public func accept(_ records: [DisclosureRecord]) throws(StoreError) -> [DisclosureRecord] {
        guard !records.isEmpty else { return [] }
        return try write { connection throws(StoreError) in
            var stored = records
            for index in stored.indices {
                let record = stored[index]
                // One round trip per record: the disclosure, and its job when it has no outcome yet.
                let id = try connection.query("""
                    WITH d AS (
                        INSERT INTO disclosures (vendor, token_hash, token_type, identity, url, source, received_at, outcome, detail, finished_at)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id),
                    j AS (INSERT INTO jobs (id, run_after, attempts) SELECT id, $7, 0 FROM d WHERE $11)
                    SELECT id FROM d
                    """, .text(record.vendor), .text(record.tokenHash), .text(record.tokenType), .optional(record.identity),
                    .text(record.url), .optional(record.source), .time(record.receivedAt), .optional(record.outcome?.rawValue),
                    .optional(record.detail), record.outcome == nil ? .null : .time(record.receivedAt), .bool(record.outcome == nil))
                    .first { row throws(StoreError) in try row.int64(0) }
                guard let id else { throw StoreError(.permanent, "PostgreSQL: an insert into disclosures returned no id") }
                stored[index].id = id
            }
            return stored
        }
    }

    /// In one transaction: the due, unleased jobs in id order, locked with `FOR UPDATE SKIP LOCKED` (rows
    /// another instance is claiming right now are passed over, not waited for), then leased and counted.
    public func claim(limit: Int, lease: Duration, now: Date) throws(StoreError) -> [DisclosureJob] {
        guard limit > 0 else { return [] }
        let nowMicros = SQLTime.micros(now)
        let leaseUntil = SQLTime.micros(now, plus: lease)
        return try write { connection throws(StoreError) in
            let jobs = try connection.query("""
                WITH due AS (
                    SELECT id FROM jobs
                    WHERE run_after <= $1 AND (lease_until IS NULL OR lease_until <= $1)
                    ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
                UPDATE jobs j SET lease_until = $3, attempts = j.attempts + 1
                FROM due JOIN disclosures d ON d.id = due.id
                WHERE j.id = due.id
                RETURNING j.attempts, \(Self.disclosureColumns)
                """, .integer(nowMicros), .integer(limit), .integer(leaseUntil)).map { row throws(StoreError) in
                let disclosure = try Self.disclosureRow(row, from: 1)
                return DisclosureJob(id: disclosure.id ?? 0, disclosure: disclosure, attempts: try row.int(0))
            }
            return jobs.sorted { $0.id < $1.id }
        }
    }

    /// Removes the job and records the outcome, atomically. A job that is gone (another worker whose lease
    /// lapsed finished it first) is `.notFound`, and the disclosure keeps the first outcome.
    public func finish(jobID: Int64, outcome: DisclosureOutcome, detail: String?, at time: Date) throws(StoreError) {
        try write { connection throws(StoreError) in
            guard try connection.run("DELETE FROM jobs WHERE id = $1", .integer(jobID)) == 1 else {
                throw StoreError(.notFound, "no job \(jobID)")
            }
            try connection.run("UPDATE disclosures SET outcome = $1, detail = $2, finished_at = $3 WHERE id = $4",
                               .text(outcome.rawValue), .optional(detail), .time(time), .integer(jobID))
        }
    }

    /// A job that is gone (finished meanwhile) is `.notFound`.
    public func retry(jobID: Int64, after: Date, error: String) throws(StoreError) {
        try write { connection throws(StoreError) in
            let changed = try connection.run("UPDATE jobs SET run_after = $1, lease_until = NULL, last_error = $2 WHERE id = $3",
                                             .time(after), .text(String(error.prefix(1000))), .integer(jobID))
            if changed == 0 { throw StoreError(.notFound, "no job \(jobID)") }
        }
    }

    /// Clears every lease, jobs and unsent mail alike. Only right for a single instance starting up: with
    /// several instances sharing the database, it would hand their in-flight jobs out again, so the server
    /// does not call it for PostgreSQL (leases lapse on their own).
    public func releaseLeases() throws(StoreError) {
        try write { connection throws(StoreError) in
            try connection.run("UPDATE jobs SET lease_until = NULL WHERE lease_until IS NOT NULL")
            try connection.run("UPDATE outbox SET lease_until = NULL WHERE lease_until IS NOT NULL AND sent_at IS NULL")
        }
    }

    /// Newest first (by `received_at`, then id). With `user`: disclosures whose identity is one of the
    /// user's tokens.
    public func disclosures(user: String?) throws(StoreError) -> [DisclosureRecord] {
        try read { connection throws(StoreError) in
            if let user {
                return try connection.query("""
                    SELECT \(Self.disclosureColumns) FROM disclosures d JOIN tokens t ON t.identity = d.identity
                    WHERE t.user_name = $1 ORDER BY d.received_at DESC, d.id DESC
                    """, .text(user)).map { row throws(StoreError) in try Self.disclosureRow(row, from: 0) }
            }
            return try connection.query("SELECT \(Self.disclosureColumns) FROM disclosures d ORDER BY d.received_at DESC, d.id DESC")
                .map { row throws(StoreError) in try Self.disclosureRow(row, from: 0) }
        }
    }

    public func pendingJobCount() throws(StoreError) -> Int {
        try read { connection throws(StoreError) in
            try connection.query("SELECT count(*) FROM jobs").first { row throws(StoreError) in try row.int(0) } ?? 0
        }
    }

    private static let disclosureColumns =
        "d.id, d.vendor, d.token_hash, d.token_type, d.identity, d.url, d.source, d.received_at, d.outcome, d.detail"

    /// A row of `disclosureColumns` starting at column `first`.
    private static func disclosureRow(_ row: PostgreSQLRow, from first: Int32) throws(StoreError) -> DisclosureRecord {
        var outcome: DisclosureOutcome?
        if let stored = row.optionalText(first + 8) {
            guard let known = DisclosureOutcome(rawValue: stored) else {
                throw StoreError(.permanent, "disclosure \(row.text(first)) has an unknown outcome \"\(stored)\"")
            }
            outcome = known
        }
        return DisclosureRecord(id: try row.int64(first), vendor: row.text(first + 1), tokenHash: row.text(first + 2),
                                tokenType: row.text(first + 3), identity: row.optionalText(first + 4), url: row.text(first + 5),
                                source: row.optionalText(first + 6), receivedAt: try row.time(first + 7), outcome: outcome,
                                detail: row.optionalText(first + 9))
    }
}
