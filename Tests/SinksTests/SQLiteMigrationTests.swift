import Foundation
import SecretsCore
import Testing
@testable import Sinks

private typealias F = SQLiteFixture

@Suite("SQLite migrations and settings")
struct SQLiteMigrationTests {
    static let tables = ["disclosures", "events", "jobs", "outbox", "settings", "tokens", "user_emails", "users"]

    private func tableNames(_ connection: SQLiteConnection) throws -> [String] {
        try connection.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name") {
            $0.text(0)
        }
    }

    @Test func aFreshFileGetsTheWholeSchemaInWALMode() throws {
        let folder = try TemporaryDirectory("sqlite")
        let path = F.databasePath(in: folder)
        _ = try SQLiteStorage.open(path: path)
        let raw = try SQLiteConnection(path: path)
        #expect(try tableNames(raw) == Self.tables)
        #expect(try SQLiteMigrator.userVersion(raw) == StorageSchema.latestVersion)
        #expect(try raw.queryFirst("PRAGMA journal_mode") { $0.text(0) } == "wal")
    }

    @Test(arguments: [(SQLiteOptions.Durability.process, 1), (.powerLoss, 2)])
    func connectionSettingsFollowTheOptions(durability: SQLiteOptions.Durability, synchronous: Int) throws {
        let folder = try TemporaryDirectory("sqlite")
        let store = try SQLiteStorage.open(path: F.databasePath(in: folder),
                                           options: SQLiteOptions(durability: durability, busyTimeout: .milliseconds(1234)))
        let settings = try store.write { connection in
            [try connection.queryFirst("PRAGMA synchronous") { $0.int(0) },
             try connection.queryFirst("PRAGMA foreign_keys") { $0.int(0) },
             try connection.queryFirst("PRAGMA busy_timeout") { $0.int(0) }]
        }
        #expect(settings == [synchronous, 1, 1234])
        let readerSettings = try store.read { connection in
            [try connection.queryFirst("PRAGMA synchronous") { $0.int(0) },
             try connection.queryFirst("PRAGMA query_only") { $0.int(0) }]
        }
        #expect(readerSettings == [synchronous, 1])
    }

    @Test func reopeningKeepsDataAndAppliesNothingTwice() throws {
        let folder = try TemporaryDirectory("sqlite")
        let path = F.databasePath(in: folder)
        do {
            let store = try SQLiteStorage.open(path: path)
            try store.issue(F.token("a"))
            _ = try store.accept([F.disclosure(1)])
        }
        for _ in 0..<3 {
            let store = try SQLiteStorage.open(path: path)
            #expect(try store.tokens(user: nil).map(\.id) == ["a"])
            #expect(try store.pendingJobCount() == 1)
        }
        #expect(try SQLiteMigrator.userVersion(SQLiteConnection(path: path)) == StorageSchema.latestVersion)
    }

    @Test("a user's listing reads disclosures through the partial identity index and jobs, never scanning disclosures")
    func userListingUsesThePartialIndex() throws {
        let folder = try TemporaryDirectory("sqlite")
        let path = F.databasePath(in: folder)
        let store = try SQLiteStorage.open(path: path)
        _ = try store.accept((0..<200).map { F.disclosure($0) })
        let raw = try SQLiteConnection(path: path)
        try raw.execute("ANALYZE")
        let plan = try raw.query("EXPLAIN QUERY PLAN " + SQLiteStorage.userListingSQL) { $0.text(3) }
        #expect(plan.contains { $0.contains("disclosures_identity_listed") }, "\(plan)")
        #expect(!plan.contains { $0.hasPrefix("SCAN d") }, "\(plan)")
        withExtendedLifetime(store) {}
    }

    @Test func aLaterStepIsAppliedOnceOnReopen() throws {
        let folder = try TemporaryDirectory("sqlite")
        let path = F.databasePath(in: folder)
        _ = try SQLiteStorage.open(path: path)
        let next = StorageSchema.latestVersion + 1
        let steps = StorageSchema.migrations(for: .sqlite)
            + [StorageSchema.Migration(version: next, sql: "CREATE TABLE extra (id INTEGER PRIMARY KEY); INSERT INTO extra VALUES (1);")]
        let raw = try SQLiteConnection(path: path)
        try SQLiteMigrator.migrate(raw, steps: steps)
        try SQLiteMigrator.migrate(raw, steps: steps)
        #expect(try SQLiteMigrator.userVersion(raw) == next)
        #expect(try raw.queryFirst("SELECT count(*) FROM extra") { $0.int(0) } == 1)
    }

    @Test func aFailingStepLeavesTheVersionAndTablesAsTheyWere() throws {
        let folder = try TemporaryDirectory("sqlite")
        let path = F.databasePath(in: folder)
        _ = try SQLiteStorage.open(path: path)
        let next = StorageSchema.latestVersion + 1
        let steps = StorageSchema.migrations(for: .sqlite)
            + [StorageSchema.Migration(version: next, sql: "CREATE TABLE half (id INTEGER); SELECT * FROM no_such_table;")]
        let raw = try SQLiteConnection(path: path)
        #expect(throws: StoreError.self) { try SQLiteMigrator.migrate(raw, steps: steps) }
        #expect(try SQLiteMigrator.userVersion(raw) == StorageSchema.latestVersion)
        #expect(try tableNames(raw) == Self.tables)
    }

    @Test func aDatabaseFromANewerVersionIsRefused() throws {
        let folder = try TemporaryDirectory("sqlite")
        let path = F.databasePath(in: folder)
        _ = try SQLiteStorage.open(path: path)
        try SQLiteConnection(path: path).execute("PRAGMA user_version = 999")
        let error = #expect(throws: StoreError.self) { try SQLiteStorage.open(path: path) }
        #expect(error?.isTransient == false)
        #expect(error?.description.contains("999") == true)
    }

    @Test func severalOpenersOfOneFreshFileAllSucceed() throws {
        for _ in 0..<5 {
            let folder = try TemporaryDirectory("sqlite")
            let path = F.databasePath(in: folder)
            let results = F.onThreads(4) { _ in Result { try SQLiteStorage.open(path: path) } }
            for result in results { _ = try result.get() }
            #expect(try SQLiteMigrator.userVersion(SQLiteConnection(path: path)) == StorageSchema.latestVersion)
        }
    }

    @Test func aFileThatIsNotADatabaseIsAPermanentError() throws {
        let folder = try TemporaryDirectory("sqlite")
        let path = "\(folder.path)/garbage.sqlite3"
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: StoreError.self) { try SQLiteStorage.open(path: path) }
        #expect(error?.kind == .permanent)
    }

    @Test func thePostgreSQLRenderingHasNoPlaceholdersLeft() {
        for dialect in [StorageSchema.Dialect.sqlite, .postgresql] {
            let steps = StorageSchema.migrations(for: dialect)
            #expect(steps.map(\.version) == Array(1...StorageSchema.latestVersion))
            #expect(steps.allSatisfy { !$0.sql.contains("{{") })
        }
        #expect(StorageSchema.migrations(for: .postgresql).allSatisfy { !$0.sql.contains("AUTOINCREMENT") && !$0.sql.contains("BLOB") })
    }
}
