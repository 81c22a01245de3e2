import Foundation
import SecretsCore

extension SQLiteStorage: DisclosureQueue {
    /// One transaction (joined with concurrent callers' by group commit); returns after it committed.
    /// A record that already has an outcome is stored finished (`finished_at = received_at`); every other
    /// record also gets a job due at its `received_at`. Ids passed in are ignored: the table assigns them.
    ///
    /// Rows go in by multi-row `INSERT`s of fixed sizes (64, 8, 1: three cached statements), and the jobs
    /// by one `INSERT … SELECT` over the new id range: a batch of many reports costs a few statements,
    /// not two per record. The single writer holds the write lock, so the ids of one multi-row insert
    /// are consecutive, ending at `last_insert_rowid`.
    public func accept(_ records: [DisclosureRecord]) throws(StoreError) -> [DisclosureRecord] {
        guard !records.isEmpty else { return [] }
        // A vendor's answer waits for this commit: it goes ahead of the workers' writes.
        return try write(urgent: true) { connection in
            var stored = records
            var start = 0
            var firstID: Int64?
            while start < stored.count {
                let size = Self.insertChunkSizes.first { $0 <= stored.count - start } ?? 1
                let chunk = stored[start ..< start + size]
                var values: [SQLiteValue] = []
                values.reserveCapacity(size * 10)
                for record in chunk {
                    values.append(contentsOf: [
                        .text(record.vendor), .text(record.tokenHash), .text(record.tokenType), .optional(record.identity),
                        .text(record.url), .optional(record.source), .time(record.receivedAt), .optional(record.outcome?.rawValue),
                        .optional(record.detail), record.outcome == nil ? .null : .time(record.receivedAt),
                    ])
                }
                let inserted = try connection.withStatement(Self.insertDisclosures(rows: size)) { statement in
                    try statement.bind(values)
                    while try statement.step() {}
                    return Int(connection.changes)
                }
                let last = connection.lastInsertRowID
                guard inserted == size else {
                    throw StoreError(.permanent, "SQLite stored \(inserted) of \(size) disclosures")
                }
                for offset in 0 ..< size { stored[start + offset].id = last - Int64(size - 1 - offset) }
                if firstID == nil { firstID = last - Int64(size - 1) }
                start += size
            }
            guard let first = firstID, let last = stored.last?.id, last - first + 1 == Int64(stored.count) else {
                throw StoreError(.permanent, "SQLite assigned disclosure ids out of sequence")
            }
            if stored.contains(where: { $0.outcome == nil }) {
                // Every new row without an outcome gets its job, due when it was received.
                try connection.run("""
                    INSERT INTO jobs (id, run_after, attempts)
                    SELECT id, received_at, 0 FROM disclosures WHERE id BETWEEN ? AND ? AND outcome IS NULL
                    """, .integer(first), .integer(last))
            }
            return stored
        }
    }

    /// Rows per multi-row `INSERT`, largest first (10 parameters each, far below SQLite's limit).
    private static let insertChunkSizes = [64, 8, 1]

    /// The multi-row `INSERT` for `rows` disclosures (one SQL text per size: cached once each).
    private static func insertDisclosures(rows: Int) -> String {
        switch rows {
        case 64: insert64
        case 8: insert8
        default: insert1
        }
    }

    private static let insert1 = insertSQL(rows: 1)
    private static let insert8 = insertSQL(rows: 8)
    private static let insert64 = insertSQL(rows: 64)

    private static func insertSQL(rows: Int) -> String {
        "INSERT INTO disclosures (vendor, token_hash, token_type, identity, url, source, received_at, outcome, detail, finished_at) VALUES "
            + Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: rows).joined(separator: ", ")
    }

    /// In one `BEGIN IMMEDIATE` transaction: the due, unleased jobs in id order, leased and counted.
    public func claim(limit: Int, lease: Duration, now: Date) throws(StoreError) -> [DisclosureJob] {
        guard limit > 0 else { return [] }
        let nowMicros = SQLTime.micros(now)
        let leaseUntil = SQLTime.micros(now, plus: lease)
        return try write { connection in
            let jobs = try connection.query("""
                SELECT j.attempts, \(Self.disclosureColumns)
                FROM jobs j JOIN disclosures d ON d.id = j.id
                WHERE j.run_after <= ? AND (j.lease_until IS NULL OR j.lease_until <= ?)
                ORDER BY j.id LIMIT ?
                """, .integer(nowMicros), .integer(nowMicros), .integer(limit)) { row in
                let disclosure = try Self.disclosureRow(row, from: 1)
                return DisclosureJob(id: disclosure.id ?? 0, disclosure: disclosure, attempts: row.int(0) + 1)
            }
            for job in jobs {
                try connection.run("UPDATE jobs SET lease_until = ?, attempts = attempts + 1 WHERE id = ?",
                                   .integer(leaseUntil), .integer(job.id))
            }
            return jobs
        }
    }

    /// Removes the job and records the outcome, atomically. A job that is gone (another worker whose lease
    /// lapsed finished it first) is `.notFound`, and the disclosure keeps the first outcome.
    public func finish(jobID: Int64, outcome: DisclosureOutcome, detail: String?, at time: Date) throws(StoreError) {
        try write { try Self.finish(jobID: jobID, outcome: outcome, detail: detail, at: time, on: $0) }
    }

    /// `finish`'s statements, inside the caller's transaction.
    static func finish(jobID: Int64, outcome: DisclosureOutcome, detail: String?, at time: Date,
                       on connection: SQLiteConnection) throws {
        guard try connection.run("DELETE FROM jobs WHERE id = ?", .integer(jobID)) == 1 else {
            throw StoreError(.notFound, "no job \(jobID)")
        }
        try connection.run("UPDATE disclosures SET outcome = ?, detail = ?, finished_at = ? WHERE id = ?",
                           .text(outcome.rawValue), .optional(detail), .time(time), .integer(jobID))
    }

    /// A job that is gone (finished meanwhile) is `.notFound`.
    public func retry(jobID: Int64, after: Date, error: String) throws(StoreError) {
        try write { connection in
            let changed = try connection.run("UPDATE jobs SET run_after = ?, lease_until = NULL, last_error = ? WHERE id = ?",
                                             .time(after), .text(String(error.prefix(1000))), .integer(jobID))
            if changed == 0 { throw StoreError(.notFound, "no job \(jobID)") }
        }
    }

    /// Releases the outbox's leases too: a single process starting up holds none of either.
    public func releaseLeases() throws(StoreError) {
        try write { connection in
            try connection.run("UPDATE jobs SET lease_until = NULL WHERE lease_until IS NOT NULL")
            try connection.run("UPDATE outbox SET lease_until = NULL WHERE lease_until IS NOT NULL AND sent_at IS NULL")
        }
    }

    /// Newest first (by `received_at`, then id). With `user`: disclosures whose identity is one of the
    /// user's tokens.
    public func disclosures(user: String?) throws(StoreError) -> [DisclosureRecord] {
        try read { connection in
            if let user {
                return try connection.query(Self.userListingSQL, .text(user), .text(user)) { try Self.disclosureRow($0, from: 0) }
            }
            return try connection.query("SELECT \(Self.disclosureColumns) FROM disclosures d ORDER BY d.received_at DESC, d.id DESC") {
                try Self.disclosureRow($0, from: 0)
            }
        }
    }

    public func pendingJobCount() throws(StoreError) -> Int {
        try read { try $0.queryFirst("SELECT count(*) FROM jobs") { $0.int(0) } ?? 0 }
    }

    /// A user's disclosures: finished ones through the partial identity index (the IN list is the
    /// index's own condition, so the planner can use it), pending ones through their jobs.
    static let userListingSQL = """
        SELECT \(disclosureColumns) FROM disclosures d JOIN tokens t ON t.identity = d.identity
        WHERE t.user_name = ? AND d.outcome IN ('revoked', 'duplicate', 'error')
        UNION ALL
        SELECT \(disclosureColumns) FROM jobs j JOIN disclosures d ON d.id = j.id
        JOIN tokens t ON t.identity = d.identity
        WHERE t.user_name = ? AND d.outcome IS NULL
        ORDER BY 8 DESC, 1 DESC
        """

    private static let disclosureColumns =
        "d.id, d.vendor, d.token_hash, d.token_type, d.identity, d.url, d.source, d.received_at, d.outcome, d.detail"

    /// A row of `disclosureColumns` starting at column `first`.
    private static func disclosureRow(_ row: SQLiteStatement, from first: Int32) throws -> DisclosureRecord {
        var outcome: DisclosureOutcome?
        if let stored = row.optionalText(first + 8) {
            guard let known = DisclosureOutcome(rawValue: stored) else {
                throw StoreError(.permanent, "disclosure \(row.int64(first)) has an unknown outcome \"\(stored)\"")
            }
            outcome = known
        }
        return DisclosureRecord(id: row.int64(first), vendor: row.text(first + 1), tokenHash: row.text(first + 2),
                                tokenType: row.text(first + 3), identity: row.optionalText(first + 4), url: row.text(first + 5),
                                source: row.optionalText(first + 6), receivedAt: row.time(first + 7), outcome: outcome,
                                detail: row.optionalText(first + 9))
    }
}
