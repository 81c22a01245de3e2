import SecretsCore

/// Brings a database file up to the latest `StorageSchema` version, recorded in `PRAGMA user_version`.
///
/// Each step runs in its own `BEGIN IMMEDIATE` transaction that first re-reads the version: when two
/// processes open a fresh file at once, one applies the step and the other, having waited for the write
/// lock (`busy_timeout`), finds it done. Reopening an up-to-date file writes nothing.
enum SQLiteMigrator {
    static func migrate(_ connection: SQLiteConnection, steps: [StorageSchema.Migration]) throws {
        let latest = steps.last?.version ?? 0
        let found = try userVersion(connection)
        guard found <= latest else {
            throw StoreError(.permanent, "SQLite schema version \(found) is newer than this tokenscan knows (\(latest))")
        }
        for step in steps where step.version > found {
            try connection.execute("BEGIN IMMEDIATE")
            do {
                if try userVersion(connection) < step.version {
                    try connection.execute(step.sql)
                    try connection.execute("PRAGMA user_version = \(step.version)")
                }
                try connection.execute("COMMIT")
            } catch {
                if connection.inTransaction { try? connection.execute("ROLLBACK") }
                throw error
            }
        }
    }

    static func userVersion(_ connection: SQLiteConnection) throws -> Int {
        try connection.queryFirst("PRAGMA user_version") { $0.int(0) } ?? 0
    }
}
