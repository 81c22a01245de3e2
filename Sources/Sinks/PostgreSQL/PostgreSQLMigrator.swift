import Foundation
import SecretsCore

/// Brings a PostgreSQL database up to the latest `StorageSchema` version, recorded one row per applied
/// step in the table `schema_version` (`version`, `applied_at` in microseconds).
///
/// Everything runs in one transaction that first takes a transaction-scoped advisory lock
/// (`pg_advisory_xact_lock`, one fixed key per database): when several instances start at once, one
/// applies the missing steps and the others, waiting on the lock, find them done. PostgreSQL's DDL is
/// transactional, so a failing step leaves the version and the tables as they were. Reopening an
/// up-to-date database only reads. A database from a newer tokenscan is refused.
enum PostgreSQLMigrator {
    /// The advisory lock key: "tokensca" in ASCII.
    static let lockKey: Int64 = 0x746f_6b65_6e73_6361

    static func migrate(_ connection: PostgreSQLConnection, steps: [StorageSchema.Migration]) throws(StoreError) {
        let latest = steps.last?.version ?? 0
        try connection.execute("BEGIN")
        do throws(StoreError) {
            try connection.query("SELECT pg_advisory_xact_lock($1)", .integer(lockKey))
            let exists = try connection.query("SELECT to_regclass('schema_version') IS NOT NULL").first { $0.bool(0) } ?? false
            if !exists {
                try connection.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)")
            }
            let found = try version(connection)
            guard found <= latest else {
                throw StoreError(.permanent, "PostgreSQL schema version \(found) is newer than this tokenscan knows (\(latest))")
            }
            for step in steps where step.version > found {
                try connection.execute(step.sql)
                try connection.run("INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
                                   .integer(step.version), .time(Date()))
            }
            try connection.commit()
        } catch {
            if !connection.isBroken && connection.inTransaction { try? connection.execute("ROLLBACK") }
            throw error
        }
    }

    /// The highest applied step (0 for an empty `schema_version`).
    static func version(_ connection: PostgreSQLConnection) throws(StoreError) -> Int {
        try connection.query("SELECT coalesce(max(version), 0) FROM schema_version").first { row throws(StoreError) in
            try row.int(0)
        } ?? 0
    }
}
