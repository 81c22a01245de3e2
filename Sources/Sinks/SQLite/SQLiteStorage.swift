import Foundation
import SecretsCore
import Synchronization

/// Every sink role (tokens, events, disclosure queue, outbox) in one SQLite file in WAL mode.
///
/// Concurrency — why this class is `Sendable` without `@unchecked`: it holds no connection outside a
/// `Mutex`. Writes go to the one writer connection through a `WriteCombiner` (group commit: concurrent
/// callers' writes share one transaction and one commit). Reads go to a small fixed pool of reader
/// connections, each in its own `Mutex`; a read takes the first idle one and, when all are busy, waits
/// for one picked round-robin. In WAL mode readers and the writer never block each other. Every method
/// is synchronous and may be called from any thread (libmicrohttpd's pool, worker threads, tasks); a
/// write blocks its caller until its transaction committed.
///
/// Several processes may share the file: writes take SQLite's write lock with `BEGIN IMMEDIATE` (waiting
/// up to `busyTimeout`), so claims and revocations stay atomic across processes too.
public final class SQLiteStorage: Sendable {
    /// The database file.
    public let path: String
    public let options: SQLiteOptions
    private let writer: WriteCombiner
    private let readers: [Reader]
    private let nextReader = Atomic<Int>(0)
    private let checkpointer: SQLiteCheckpointer

    private final class Reader: Sendable {
        let connection: Mutex<SQLiteConnection>
        init(_ connection: consuming sending SQLiteConnection) { self.connection = Mutex(connection) }
    }

    private init(path: String, options: SQLiteOptions, writer: WriteCombiner, readers: [Reader], checkpointer: SQLiteCheckpointer) {
        self.path = path
        self.options = options
        self.writer = writer
        self.readers = readers
        self.checkpointer = checkpointer
    }

    deinit { checkpointer.stop() }

    /// Opens (creating it and its parent folder when missing) the database at `path` and migrates it to
    /// the latest schema. Safe when several processes open one fresh file at once.
    public static func open(path: String, options: SQLiteOptions = SQLiteOptions()) throws(StoreError) -> SQLiteStorage {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw StoreError(.permanent, "SQLite: cannot create the folder \(folder.path): \(error.localizedDescription)")
        }
        do {
            let writer = try SQLiteConnection(path: path)
            try configure(writer, options, writer: true)
            try SQLiteMigrator.migrate(writer, steps: StorageSchema.migrations(for: .sqlite))
            var readers: [Reader] = []
            for _ in 0..<min(64, max(1, options.readerCount)) {
                let reader = try SQLiteConnection(path: path)
                try configure(reader, options, writer: false)
                readers.append(Reader(reader))
            }
            // Checkpoints run on their own thread, never inside a commit (see SQLiteCheckpointer).
            try writer.execute("PRAGMA wal_autocheckpoint = 0")
            let combiner = WriteCombiner(writer)
            let checkpointer = try SQLiteCheckpointer(path: path, busyTimeout: options.busyTimeout,
                                                      interval: options.checkpointInterval,
                                                      restartFrames: max(1, options.walRestartFrames),
                                                      onLargeWAL: { [combiner] in combiner.requestWALRestart() })
            return SQLiteStorage(path: path, options: options, writer: combiner, readers: readers, checkpointer: checkpointer)
        } catch {
            throw StoreError(error)
        }
    }

    /// This backend in every role.
    public var storage: Storage { Storage(tokens: self, events: self, queue: self, outbox: self) }

    private static func configure(_ connection: SQLiteConnection, _ options: SQLiteOptions, writer: Bool) throws {
        let milliseconds = min(Int64(Int32.max), SQLTime.micros(options.busyTimeout) / 1000)
        try connection.execute("PRAGMA busy_timeout = \(milliseconds)")
        if writer { try enableWAL(connection, patience: .milliseconds(milliseconds)) }
        try connection.execute("PRAGMA synchronous = \(options.durability == .powerLoss ? "FULL" : "NORMAL")")
        try connection.execute("PRAGMA foreign_keys = ON")
        // Big enough that the indexes of a busy inbox stay in memory (re-reading them from the OS cost
        // ~40% of a 1,000-item accept); SQLite allocates it only as pages are used.
        try connection.execute("PRAGMA cache_size = \(writer ? -65536 : -16384)")
        // The writer's savepoints (one per grouped caller, one per batched item) keep their statement
        // journals in memory: on disk each was a temporary file created and deleted again and again.
        if writer { try connection.execute("PRAGMA temp_store = MEMORY") }
        if !writer { try connection.execute("PRAGMA query_only = ON") }
    }

    /// Switches the file to WAL (a no-op once it is). SQLite does not call the busy handler for a journal
    /// mode change, so when another opener holds the file at that moment, retry until `patience` runs out.
    private static func enableWAL(_ connection: SQLiteConnection, patience: Duration) throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: patience)
        while true {
            do {
                let mode = try connection.queryFirst("PRAGMA journal_mode = WAL") { $0.text(0) }
                guard mode?.lowercased() == "wal" else {
                    throw StoreError(.permanent, "SQLite: the database cannot use WAL (journal mode \(mode ?? "unknown"))")
                }
                return
            } catch let error as StoreError where error.isTransient && clock.now < deadline {
                Thread.sleep(forTimeInterval: 0.005)
            }
        }
    }

    /// Runs `work` in a group-committed write transaction.
    @discardableResult
    func write<T: Sendable>(urgent: Bool = false,
                            _ work: @escaping @Sendable (SQLiteConnection) throws -> T) throws(StoreError) -> T {
        try writer.write(urgent: urgent, work)
    }

    /// Write transactions run so far; fewer than the writes made when group commit joined some.
    var writeTransactionCount: Int { writer.transactionCount }

    /// WAL restarts the writer did because the WAL outgrew `walRestartFrames`.
    var walRestartCount: Int { writer.walRestartCount }

    /// Runs `work` in a read transaction (one consistent snapshot) on a reader connection.
    func read<T: Sendable>(_ work: @Sendable (SQLiteConnection) throws -> T) throws(StoreError) -> T {
        let count = UInt(readers.count)
        let start = UInt(bitPattern: nextReader.wrappingAdd(1, ordering: .relaxed).oldValue)
        for offset in 0..<count {
            let reader = readers[Int((start &+ offset) % count)]
            if let result = reader.connection.withLockIfAvailable({ Self.snapshot($0, work) }) {
                return try result.get()
            }
        }
        return try readers[Int(start % count)].connection.withLock { Self.snapshot($0, work) }.get()
    }

    private static func snapshot<T: Sendable>(_ connection: SQLiteConnection,
                                              _ work: @Sendable (SQLiteConnection) throws -> T) -> Result<T, StoreError> {
        do {
            if connection.inTransaction { try connection.run("ROLLBACK") }  // a failed COMMIT left one open
            try connection.run("BEGIN")
            defer { _ = try? connection.run("COMMIT") }
            return .success(try work(connection))
        } catch {
            return .failure(StoreError(error))
        }
    }
}
