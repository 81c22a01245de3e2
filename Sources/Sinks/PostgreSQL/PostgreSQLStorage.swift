import Foundation
import SecretsCore
import Synchronization

/// Every sink role (tokens, events, disclosure queue, outbox) in one PostgreSQL database, shared by any
/// number of tokenscan instances.
///
/// The schema is SQLite's (`StorageSchema`, PostgreSQL rendering), and every call behaves as
/// `SQLiteStorage`'s does; where a shared server needs it, the SQL differs: jobs and mail are claimed with
/// `FOR UPDATE SKIP LOCKED`, so instances claiming at once never block each other nor get the same job.
///
/// Concurrency — why this class is `Sendable` without `@unchecked`: it holds no connection outside a
/// `Mutex`. A fixed pool of `poolSize` slots, each a `Mutex` around an optional connection; a call takes
/// the first idle slot (when all are busy, it waits for one picked round-robin), runs all its statements
/// inside that slot's lock, and leaves. Connections open lazily and are replaced when broken: one found
/// dead before use (the server restarted, an administrator killed it while idle) is replaced and the call
/// goes on transparently; one lost in the middle of a call fails that call with a transient error (the
/// outcome of its last statement is unknown, so it is not replayed) and is replaced on the next one.
/// Serialization failures and deadlocks (40001, 40P01) roll the work back entirely, so those are retried
/// (three attempts in all) before the transient error reaches the caller.
///
/// Work of one statement runs as that statement's own transaction (one round trip); work of several that
/// must be atomic (`revoke`, `issue`, `releaseLeases`) in a `READ COMMITTED` transaction.
public final class PostgreSQLStorage: Sendable {
    /// Connections in the pool (at most this many to the server, opened as needed).
    public let poolSize: Int
    /// Kept private: it may carry a password.
    private let url: String
    private let slots: [Slot]
    private let nextSlot = Atomic<Int>(0)

    private final class Slot: Sendable {
        let connection: Mutex<PostgreSQLConnection?>
        init(_ connection: consuming sending PostgreSQLConnection?) { self.connection = Mutex(connection) }
    }

    private init(url: String, slots: [Slot]) {
        self.url = url
        self.slots = slots
        poolSize = slots.count
    }

    /// Connects to the database at `url` (`postgresql://user:password@host:port/database?…`) and migrates
    /// it to the latest schema. Safe when several instances start at once: migrations run under a
    /// transaction-scoped advisory lock. `poolSize` is clamped to 1…64.
    ///
    /// Throws `.transient` when the server cannot be reached, `.permanent` for a malformed URL or a
    /// database whose schema is newer than this tokenscan knows.
    public static func open(url: String, poolSize: Int = 4) throws(StoreError) -> PostgreSQLStorage {
        let first = try PostgreSQLConnection(url: url)
        try PostgreSQLMigrator.migrate(first, steps: StorageSchema.migrations(for: .postgresql))
        var slots = [Slot(first)]
        for _ in 1..<min(64, max(1, poolSize)) { slots.append(Slot(nil)) }
        return PostgreSQLStorage(url: url, slots: slots)
    }

    /// This backend in every role.
    public var storage: Storage { Storage(tokens: self, events: self, queue: self, outbox: self) }

    /// Runs `work` in a `READ COMMITTED` transaction and commits it: for work of several statements.
    @discardableResult
    func transaction<T: Sendable>(_ work: (PostgreSQLConnection) throws(StoreError) -> T) throws(StoreError) -> T {
        try perform(inTransaction: true, work)
    }

    /// Runs `work` without an explicit transaction: each statement it issues is a transaction of its own
    /// (one round trip instead of three). For work of one statement, or of statements that need not be
    /// atomic together.
    @discardableResult
    func autocommit<T: Sendable>(_ work: (PostgreSQLConnection) throws(StoreError) -> T) throws(StoreError) -> T {
        try perform(inTransaction: false, work)
    }

    private static let attempts = 3

    private func perform<T: Sendable>(inTransaction: Bool,
                                      _ work: (PostgreSQLConnection) throws(StoreError) -> T) throws(StoreError) -> T {
        var attempt = 1
        while true {
            switch withSlot({ slot in run(inTransaction: inTransaction, work, on: &slot) }) {
            case .success(let value):
                return value
            case .failure(let failure):
                guard failure.rolledBackWhole, attempt < Self.attempts else { throw failure.error }
                attempt += 1
            }
        }
    }

    /// Runs `body` with the first idle slot's connection; when every slot is busy, waits for one.
    private func withSlot<T: Sendable>(_ body: (inout PostgreSQLConnection?) -> Result<T, Failure>) -> Result<T, Failure> {
        let count = UInt(slots.count)
        let start = UInt(bitPattern: nextSlot.wrappingAdd(1, ordering: .relaxed).oldValue)
        for offset in 0..<count {
            if let result = slots[Int((start &+ offset) % count)].connection.withLockIfAvailable({ body(&$0) }) {
                return result
            }
        }
        return slots[Int(start % count)].connection.withLock { body(&$0) }
    }

    private struct Failure: Error {
        let error: StoreError
        /// The server rolled the whole work back for a reason worth retrying at once (40001, 40P01).
        var rolledBackWhole = false
    }

    /// The slot's connection, checked first: a connection that died while idle (the server closed it) is
    /// replaced before anything is sent on it, so the caller never sees that.
    private func checkOut(_ slot: inout PostgreSQLConnection?) throws(StoreError) -> (PostgreSQLConnection, fresh: Bool) {
        if let existing = slot, existing.isAlive(), !existing.inTransaction { return (existing, false) }
        slot = nil  // closes the old connection before opening its replacement
        let connection = try PostgreSQLConnection(url: url)
        slot = connection
        return (connection, true)
    }

    /// `work` on the slot's connection, in a transaction or not, (re)connecting first when needed.
    private func run<T: Sendable>(inTransaction: Bool, _ work: (PostgreSQLConnection) throws(StoreError) -> T,
                                  on slot: inout PostgreSQLConnection?) -> Result<T, Failure> {
        var connection: PostgreSQLConnection
        do throws(StoreError) {
            var fresh: Bool
            (connection, fresh) = try checkOut(&slot)
            while inTransaction {
                do throws(StoreError) {
                    try connection.execute("BEGIN")
                    break
                } catch {
                    // Killed between the check and BEGIN: nothing was done yet, so replace it once.
                    slot = nil
                    guard !fresh && connection.isBroken else { throw error }
                    (connection, fresh) = try checkOut(&slot)
                }
            }
        } catch {
            return .failure(Failure(error: error))
        }
        do throws(StoreError) {
            let value = try work(connection)
            if inTransaction { try connection.commit() }
            return .success(value)
        } catch {
            let retryable = connection.lastSQLState == "40001" || connection.lastSQLState == "40P01"
            if connection.isBroken {
                slot = nil
            } else if connection.inTransaction {
                do { try connection.execute("ROLLBACK") } catch { slot = nil }
            }
            return .failure(Failure(error: error, rolledBackWhole: retryable))
        }
    }
}
