import Foundation
import SecretsCore

extension PostgreSQLStorage: DisclosureQueue {
    /// One statement, whatever the number of records (so one transaction and one round trip): the
    /// records travel as one JSON parameter, get ids from the table's sequence in their order, and are
    /// inserted with a job each when they have no outcome (those with an outcome are stored finished,
    /// `finished_at = received_at`). Returns after the commit. Ids passed in are ignored.
    public func accept(_ records: [DisclosureRecord]) throws(StoreError) -> [DisclosureRecord] {
        guard !records.isEmpty else { return [] }
        let input = try JSONText.encode(records.map(AcceptedRow.init))
        return try autocommit { connection throws(StoreError) in
            let assigned = try connection.query("""
                WITH input AS (
                    SELECT nextval(pg_get_serial_sequence('disclosures', 'id')) AS id, r.*
                    FROM ROWS FROM (json_to_recordset($1::json) AS (vendor text, token_hash text, token_type text,
                        identity text, url text, source text, received_at bigint, outcome text, detail text))
                        WITH ORDINALITY AS r (vendor, token_hash, token_type, identity, url, source, received_at, outcome, detail, ord)
                    ORDER BY r.ord),
                d AS (
                    INSERT INTO disclosures (id, vendor, token_hash, token_type, identity, url, source, received_at, outcome, detail, finished_at)
                    SELECT id, vendor, token_hash, token_type, identity, url, source, received_at, outcome, detail,
                           CASE WHEN outcome IS NULL THEN NULL ELSE received_at END
                    FROM input),
                j AS (INSERT INTO jobs (id, run_after, attempts) SELECT id, received_at, 0 FROM input WHERE outcome IS NULL)
                SELECT ord, id FROM input ORDER BY ord
                """, .text(input)).map { row throws(StoreError) in (try row.int(0), try row.int64(1)) }
            guard assigned.map(\.0) == Array(1...records.count) else {
                throw StoreError(.permanent, "PostgreSQL: stored \(assigned.count) disclosures for \(records.count)")
            }
            var stored = records
            for (index, id) in assigned.map(\.1).enumerated() { stored[index].id = id }
            return stored
        }
    }

    /// A record as `accept` sends it: a JSON object whose keys are the columns (an absent key is NULL).
    private struct AcceptedRow: Encodable {
        let vendor, tokenHash, tokenType: String
        let identity: String?
        let url: String
        let source: String?
        let receivedAt: Int64
        let outcome, detail: String?

        enum CodingKeys: String, CodingKey {
            case vendor, tokenHash = "token_hash", tokenType = "token_type", identity, url, source
            case receivedAt = "received_at", outcome, detail
        }

        init(_ record: DisclosureRecord) {
            let storable = PostgreSQLValue.storable
            vendor = storable(record.vendor)
            tokenHash = storable(record.tokenHash)
            tokenType = storable(record.tokenType)
            identity = record.identity.map(storable)
            url = storable(record.url)
            source = record.source.map(storable)
            receivedAt = SQLTime.micros(record.receivedAt)
            outcome = record.outcome?.rawValue
            detail = record.detail.map(storable)
        }
    }

    /// One statement: the due, unleased jobs in id order, locked with `FOR UPDATE SKIP LOCKED` (rows
    /// another instance is claiming right now are passed over, not waited for), then leased and counted.
    public func claim(limit: Int, lease: Duration, now: Date) throws(StoreError) -> [DisclosureJob] {
        guard limit > 0 else { return [] }
        let nowMicros = SQLTime.micros(now)
        let leaseUntil = SQLTime.micros(now, plus: lease)
        return try autocommit { connection throws(StoreError) in
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

    /// One statement: removes the job and records the outcome, atomically. A job that is gone (another
    /// worker whose lease lapsed finished it first) is `.notFound`, and the disclosure keeps the first
    /// outcome.
    public func finish(jobID: Int64, outcome: DisclosureOutcome, detail: String?, at time: Date) throws(StoreError) {
        try autocommit { connection throws(StoreError) in
            let finished = try connection.query("""
                WITH gone AS (DELETE FROM jobs WHERE id = $1 RETURNING id)
                UPDATE disclosures SET outcome = $2, detail = $3, finished_at = $4 WHERE id IN (SELECT id FROM gone) RETURNING id
                """, .integer(jobID), .text(outcome.rawValue), .optional(detail), .time(time))
            if finished.count == 0 { throw StoreError(.notFound, "no job \(jobID)") }
        }
    }

    /// A job that is gone (finished meanwhile) is `.notFound`.
    public func retry(jobID: Int64, after: Date, error: String) throws(StoreError) {
        try autocommit { connection throws(StoreError) in
            let changed = try connection.run("UPDATE jobs SET run_after = $1, lease_until = NULL, last_error = $2 WHERE id = $3",
                                             .time(after), .text(String(error.prefix(1000))), .integer(jobID))
            if changed == 0 { throw StoreError(.notFound, "no job \(jobID)") }
        }
    }

    /// Clears every lease, jobs and unsent mail alike. Only right for a single instance starting up: with
    /// several instances sharing the database, it would hand their in-flight jobs out again, so the server
    /// does not call it for PostgreSQL (leases lapse on their own).
    public func releaseLeases() throws(StoreError) {
        try transaction { connection throws(StoreError) in
            try connection.run("UPDATE jobs SET lease_until = NULL WHERE lease_until IS NOT NULL")
            try connection.run("UPDATE outbox SET lease_until = NULL WHERE lease_until IS NOT NULL AND sent_at IS NULL")
        }
    }

    /// Newest first (by `received_at`, then id). With `user`: disclosures whose identity is one of the
    /// user's tokens.
    public func disclosures(user: String?) throws(StoreError) -> [DisclosureRecord] {
        try autocommit { connection throws(StoreError) in
            if let user {
                // Finished ones through the partial identity index; pending ones through their jobs.
                return try connection.query("""
                    SELECT \(Self.disclosureColumns) FROM disclosures d JOIN tokens t ON t.identity = d.identity
                    WHERE t.user_name = $1 AND d.outcome IN ('revoked', 'duplicate', 'error')
                    UNION ALL
                    SELECT \(Self.disclosureColumns) FROM jobs j JOIN disclosures d ON d.id = j.id
                    JOIN tokens t ON t.identity = d.identity
                    WHERE t.user_name = $1 AND d.outcome IS NULL
                    ORDER BY 8 DESC, 1 DESC
                    """, .text(user)).map { row throws(StoreError) in try Self.disclosureRow(row, from: 0) }
            }
            return try connection.query("SELECT \(Self.disclosureColumns) FROM disclosures d ORDER BY d.received_at DESC, d.id DESC")
                .map { row throws(StoreError) in try Self.disclosureRow(row, from: 0) }
        }
    }

    public func pendingJobCount() throws(StoreError) -> Int {
        try autocommit { connection throws(StoreError) in
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
