import Foundation
import SecretsCore
import Synchronization
import Testing
@testable import Sinks

private typealias C = Conformance

/// What only a shared PostgreSQL server has: instances claiming side by side, connections killed under
/// the pool, concurrent migrations. The behaviour every backend shares is in `StorageConformanceTests`.
@Suite("PostgreSQL storage", .enabled(if: PostgreSQLTestServer.isConfigured, "TOKENSCAN_TEST_POSTGRES_URL is not set"))
struct PostgreSQLStorageTests {
    // MARK: Claiming across instances

    /// Two pools, as two server instances have, with four workers each.
    @Test func twoInstancesClaimingConcurrentlyNeverGetTheSameJob() throws {
        let database = try PostgreSQLTestDatabase()
        let instances = [try PostgreSQLStorage.open(url: database.url), try PostgreSQLStorage.open(url: database.url)]
        let stored = try instances[0].accept((1...300).map { C.disclosure($0) })
        let claimed = C.onThreads(8) { i -> Result<[Int64], StoreError> in
            var mine: [Int64] = []
            do throws(StoreError) {
                while true {
                    let jobs = try instances[i % 2].claim(limit: 1 + i % 5, lease: .seconds(3600), now: C.at(10))
                    if jobs.isEmpty { return .success(mine) }
                    mine += jobs.map(\.id)
                }
            } catch {
                return .failure(error)
            }
        }
        let all = try claimed.flatMap { try $0.get() }
        #expect(all.count == 300)
        #expect(Set(all) == Set(stored.compactMap(\.id)))
        #expect(claimed.allSatisfy { (try? $0.get().isEmpty) == false }, "every worker got some jobs")
        let admin = try database.connect()
        #expect(try admin.query("SELECT count(*) FROM jobs WHERE attempts <> 1").first { row throws(StoreError) in try row.int(0) } == 0)
    }

    /// A row another transaction holds is passed over, not waited for (`FOR UPDATE SKIP LOCKED`).
    @Test func aClaimSkipsJobsAnotherTransactionHasLocked() throws {
        let database = try PostgreSQLTestDatabase()
        let storage = try PostgreSQLStorage.open(url: database.url)
        let stored = try storage.accept([C.disclosure(1), C.disclosure(2), C.disclosure(3)])
        let other = try database.connect()
        try other.execute("BEGIN")
        try other.query("SELECT id FROM jobs WHERE id = $1 FOR UPDATE", .optional(stored[0].id))
        let clock = ContinuousClock()
        let started = clock.now
        let jobs = try storage.claim(limit: 10, lease: .seconds(60), now: C.at(1))
        #expect(clock.now - started < .seconds(2), "the claim did not wait for the lock")
        #expect(jobs.map(\.id) == [stored[1].id, stored[2].id].compactMap { $0 })
        try other.execute("ROLLBACK")
        #expect(try storage.claim(limit: 10, lease: .seconds(60), now: C.at(1)).map(\.id) == [stored[0].id].compactMap { $0 })
    }

    // MARK: Lost connections

    @Test func aConnectionKilledWhileIdleIsReplacedTransparently() throws {
        let database = try PostgreSQLTestDatabase()
        let storage = try PostgreSQLStorage.open(url: database.url, poolSize: 1)
        try storage.issue(C.token("a"))
        let admin = try database.connect()
        #expect(try database.terminateOtherConnections(from: admin) == 1)
        // The next calls reconnect on their own: no error reaches the caller.
        #expect(try storage.tokens(user: "alice").map(\.id) == ["a"])
        #expect(try database.terminateOtherConnections(from: admin) == 1)
        #expect(try storage.revoke(identity: "identity-a", byDisclosure: 1, at: C.at(1)) != .notFound)
        #expect(try storage.token(identity: "identity-a")?.revokedByDisclosure == 1)
    }

    @Test func aConnectionKilledInATransactionFailsTransientlyAndTheNextCallSucceeds() throws {
        let database = try PostgreSQLTestDatabase()
        let storage = try PostgreSQLStorage.open(url: database.url, poolSize: 1)
        try storage.issue(C.token("a"))
        // Hold the token's row so that revoke blocks inside its transaction.
        let holder = try database.connect()
        try holder.execute("BEGIN")
        try holder.query("SELECT 1 FROM tokens WHERE identity = 'identity-a' FOR UPDATE")
        let outcome = Mutex<Result<RevocationResult, StoreError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            let result = Result { () throws(StoreError) -> RevocationResult in
                try storage.revoke(identity: "identity-a", byDisclosure: 7, at: C.at(1))
            }
            outcome.withLock { $0 = result }
            done.signal()
        }.start()
        let watcher = try database.connect()
        let waiting = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        let deadline = Date().addingTimeInterval(10)
        while try watcher.query(waiting).count == 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        let killed = try watcher.query("SELECT pg_terminate_backend(pid, 5000) FROM (\(waiting)) w").count
        try #require(killed == 1, "revoke never waited for the row lock")
        #expect(done.wait(timeout: .now() + 10) == .success)
        let failure = try #require(outcome.withLock { $0 })
        guard case .failure(let error) = failure else {
            Issue.record("revoke succeeded on a killed connection: \(failure)")
            return
        }
        #expect(error.isTransient, "\(error)")
        try holder.execute("ROLLBACK")
        // The pool's only connection was replaced: the retried call goes through.
        guard case .revoked(let token) = try storage.revoke(identity: "identity-a", byDisclosure: 7, at: C.at(2)) else {
            Issue.record("the retried revoke did not revoke")
            return
        }
        #expect(token.revokedAt == C.at(2))
    }

    @Test func anUnreachableServerIsTransientAndABadURLIsPermanentWithoutThePassword() throws {
        let down = #expect(throws: StoreError.self) {
            try PostgreSQLStorage.open(url: "postgresql://tokenscan:s3cret-pass@127.0.0.1:1/tokenscan?connect_timeout=2")
        }
        #expect(down?.isTransient == true)
        #expect(down?.description.contains("s3cret-pass") == false)
        let malformed = #expect(throws: StoreError.self) {
            try PostgreSQLStorage.open(url: "postgresql://tokenscan:s3cret-pass@127.0.0.1:1/tokenscan?no_such_option=1")
        }
        #expect(malformed?.kind == .permanent)
        #expect(malformed?.description.contains("s3cret-pass") == false)
    }

    @Test func morePoolUsersThanConnectionsWaitTheirTurn() throws {
        let database = try PostgreSQLTestDatabase()
        #expect(try PostgreSQLStorage.open(url: database.url, poolSize: 0).poolSize == 1)
        #expect(try PostgreSQLStorage.open(url: database.url, poolSize: 1000).poolSize == 64)
        let storage = try PostgreSQLStorage.open(url: database.url, poolSize: 2)
        let failures = C.onThreads(8) { i in
            (0..<20).filter { n in (try? storage.record(SecurityEvent(tag: "t", user: "u\(i)", time: C.at(n), data: [:]))) == nil }.count
        }
        #expect(failures == Array(repeating: 0, count: 8))
        #expect(try storage.events(user: nil).count == 160)
        let admin = try database.connect()
        let connections = try admin.query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
            .first { row throws(StoreError) in try row.int(0) }
        #expect((connections ?? 0) <= 2 + 2, "at most the pool's connections (and the two short-lived test pools')")
    }

    // MARK: Schema and migrations

    @Test func instancesStartingAtOnceMigrateOnceAndReopeningWritesNothing() throws {
        let database = try PostgreSQLTestDatabase()
        let url = database.url
        let opened = C.onThreads(4) { _ in Result { () throws(StoreError) in try PostgreSQLStorage.open(url: url) } }
        for result in opened { _ = try result.get() }
        let admin = try database.connect()
        let versions = try admin.query("SELECT version, applied_at FROM schema_version ORDER BY version").map { row throws(StoreError) in
            [try row.int64(0), try row.int64(1)]
        }
        #expect(versions.map { $0[0] } == (1...Int64(StorageSchema.latestVersion)).map { $0 })
        _ = try PostgreSQLStorage.open(url: database.url)
        #expect(try admin.query("SELECT version, applied_at FROM schema_version ORDER BY version").map { row throws(StoreError) in
            [try row.int64(0), try row.int64(1)]
        } == versions)

        try admin.run("INSERT INTO schema_version (version, applied_at) VALUES ($1, 0)", .integer(StorageSchema.latestVersion + 1))
        let error = #expect(throws: StoreError.self) { try PostgreSQLStorage.open(url: database.url) }
        #expect(error?.kind == .permanent)
        #expect(error?.description.contains("newer") == true)
    }

    /// The same tables and columns as a SQLite file: the schema is written once.
    @Test func theSchemaMatchesSQLites() throws {
        let database = try PostgreSQLTestDatabase()
        _ = try PostgreSQLStorage.open(url: database.url)
        let admin = try database.connect()
        let postgres = try admin.query("""
            SELECT table_name, column_name FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name <> 'schema_version'
            """).map { row throws(StoreError) in "\(row.text(0)).\(row.text(1))" }

        let folder = try TemporaryDirectory("pg-schema")
        _ = try SQLiteStorage.open(path: folder.path + "/schema.sqlite3")
        let sqlite = try SQLiteConnection(path: folder.path + "/schema.sqlite3").query("""
            SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
            WHERE m.type = 'table' AND m.name <> 'sqlite_sequence'
            """) { "\($0.text(0)).\($0.text(1))" }
        #expect(Set(postgres) == Set(sqlite))
        #expect(postgres.count == sqlite.count)
    }

    /// `accept` sends a batch as one JSON parameter in one statement: ids still follow the records' order,
    /// every value comes back as sent, and only records without an outcome become jobs.
    @Test func aLargeBatchKeepsItsOrderAndEveryValue() throws {
        let database = try PostgreSQLTestDatabase()
        let storage = try PostgreSQLStorage.open(url: database.url)
        let records = (1...2000).map { n in
            var record = C.disclosure(n, outcome: n.isMultiple(of: 7) ? .invalidFormat : nil, at: n % 5)
            record.url = n == 3 ? "" : "https://example.org/\(n)?q=\"'\\\u{1F600}\n"
            return record
        }
        let stored = try storage.accept(records)
        let ids = stored.compactMap(\.id)
        #expect(ids.count == 2000)
        #expect(zip(ids, ids.dropFirst()).allSatisfy { $0 < $1 })
        let byID = Dictionary(uniqueKeysWithValues: try storage.disclosures(user: nil).map { ($0.id ?? 0, $0) })
        #expect(stored.allSatisfy { byID[$0.id ?? 0] == $0 })
        #expect(try storage.pendingJobCount() == records.count { $0.outcome == nil })
    }

    // MARK: Values and errors

    /// PostgreSQL text cannot hold U+0000: it is stored as U+FFFD, consistently, instead of cutting the
    /// value short or refusing a report over it.
    @Test func aNULCharacterInTextIsStoredAsTheReplacementCharacter() throws {
        let database = try PostgreSQLTestDatabase()
        let storage = try PostgreSQLStorage.open(url: database.url)
        var record = C.disclosure(1)
        record.url = "https://example.org/a\u{0}b"
        let stored = try storage.accept([record])
        #expect(try storage.disclosures(user: nil).map(\.url) == ["https://example.org/a\u{FFFD}b"])
        #expect(stored.first?.id != nil)
        var token = C.token("nul")
        token.identity = "identity-\u{0}"
        try storage.issue(token)
        #expect(try storage.token(identity: "identity-\u{0}")?.id == "nul")
    }

    @Test func errorsAreClassifiedBySQLSTATEAndNeverQuoteAValue() throws {
        #expect(PostgreSQLConnection.kind(sqlState: "40001") == .transient)
        #expect(PostgreSQLConnection.kind(sqlState: "40P01") == .transient)
        #expect(PostgreSQLConnection.kind(sqlState: "08006") == .transient)
        #expect(PostgreSQLConnection.kind(sqlState: "57P01") == .transient)
        #expect(PostgreSQLConnection.kind(sqlState: "53300") == .transient)
        #expect(PostgreSQLConnection.kind(sqlState: "23505") == .conflict)
        #expect(PostgreSQLConnection.kind(sqlState: "23503") == .conflict)
        #expect(PostgreSQLConnection.kind(sqlState: "42P01") == .permanent)
        #expect(PostgreSQLConnection.kind(sqlState: nil) == .permanent)

        let database = try PostgreSQLTestDatabase()
        let storage = try PostgreSQLStorage.open(url: database.url)
        var token = C.token("a")
        token.identity = "identity-SECRET-VALUE"
        try storage.issue(token)
        token.id = "b"
        let conflict = #expect(throws: StoreError.self) { try storage.issue(token) }
        #expect(conflict?.kind == .conflict)
        #expect(conflict?.description.contains("23505") == true)
        #expect(conflict?.description.contains("SECRET-VALUE") == false, "\(conflict?.description ?? "")")
        // The failed transaction was rolled back and the connection is usable.
        #expect(try storage.tokens(user: nil).map(\.id) == ["a"])
        let bad = #expect(throws: StoreError.self) { try database.connect().execute("SELECT * FROM no_such_table") }
        #expect(bad?.kind == .permanent)
    }
}
