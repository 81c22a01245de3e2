internal import CSQLite
import SecretsCore

/// One open SQLite connection: owns its `sqlite3*` and closes it in `deinit`, with a cache of prepared
/// statements keyed by their SQL text.
///
/// Not thread-safe, hence not `Sendable`: it is opened with `SQLITE_OPEN_NOMUTEX` (SQLite's multi-thread
/// mode, no per-call mutex), and its statement cache is a plain dictionary. It must be used by one thread
/// at a time; `SQLiteStorage` keeps every connection inside a `Mutex` and never lets one out.
final class SQLiteConnection {
    private let db: OpaquePointer
    private var statements: [String: SQLiteStatement] = [:]

    /// Opens (creating when missing) the database file at `path`.
    init(path: String) throws(StoreError) {
        _ = SQLiteConnection.configureLibrary
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard let handle else { throw StoreError(.transient, "SQLite open: out of memory") }
        guard rc == SQLITE_OK else {
            let error = SQLiteConnection.error(rc, handle, "open")
            sqlite3_close_v2(handle)
            throw error
        }
        db = handle
    }

    /// Process-wide settings, applied once before the first connection initializes SQLite.
    private static let configureLibrary: Void = {
        _ = CTokenscan_sqlite3_disable_memstatus()
    }()

    deinit {
        statements.removeAll()  // finalizes them; close_v2 would otherwise defer the close until they are
        sqlite3_close_v2(db)
    }

    /// Runs SQL text that may hold several statements and returns no rows (scripts, transaction control).
    func execute(_ sql: String) throws(StoreError) {
        let rc = sqlite3_exec(db, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc, "exec") }
    }

    /// Runs one statement (prepared once, then reused) with `body`, resetting it afterwards.
    ///
    /// `body` must not run the same SQL again while it holds the statement.
    func withStatement<T>(_ sql: String, _ body: (SQLiteStatement) throws -> T) throws -> T {
        let statement: SQLiteStatement
        if let cached = statements[sql] {
            statement = cached
        } else {
            statement = try SQLiteStatement(db: db, sql: sql)
            statements[sql] = statement
        }
        defer { statement.reset() }
        return try body(statement)
    }

    /// Runs a statement that returns no rows; answers how many rows it changed.
    @discardableResult
    func run(_ sql: String, _ values: SQLiteValue...) throws -> Int {
        try withStatement(sql) { statement in
            try statement.bind(values)
            while try statement.step() {}
            return Int(sqlite3_changes64(db))
        }
    }

    /// Every row of a query, each read by `row`.
    func query<T>(_ sql: String, _ values: SQLiteValue..., row: (SQLiteStatement) throws -> T) throws -> [T] {
        try withStatement(sql) { statement in
            try statement.bind(values)
            var rows: [T] = []
            while try statement.step() { rows.append(try row(statement)) }
            return rows
        }
    }

    /// The first row of a query, or nil when there is none.
    func queryFirst<T>(_ sql: String, _ values: SQLiteValue..., row: (SQLiteStatement) throws -> T) throws -> T? {
        try withStatement(sql) { statement in
            try statement.bind(values)
            return try statement.step() ? try row(statement) : nil
        }
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE on this connection.
    var changes: Int64 { sqlite3_changes64(db) }

    /// The rowid of the last successful INSERT on this connection.
    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(db) }

    /// True while a transaction is open on this connection.
    var inTransaction: Bool { sqlite3_get_autocommit(db) == 0 }

    func error(_ code: Int32, _ operation: String) -> StoreError {
        SQLiteConnection.error(code, db, operation)
    }

    /// Turns a result code into a `StoreError` carrying `sqlite3_errmsg`; call it right after the failing
    /// call, before anything else touches the connection.
    ///
    /// Transient (worth retrying): busy or locked database, lock-protocol races, full disk, out of memory,
    /// I/O errors. Conflict: constraint violations. Everything else (corrupt file, not a database, bad SQL,
    /// read-only file) is permanent. Messages never hold bound values, so never a token.
    static func error(_ code: Int32, _ db: OpaquePointer?, _ operation: String) -> StoreError {
        let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code))
        let kind: StoreError.Kind
        switch code & 0xff {
        case SQLITE_BUSY, SQLITE_LOCKED, SQLITE_PROTOCOL, SQLITE_FULL, SQLITE_NOMEM, SQLITE_IOERR: kind = .transient
        case SQLITE_CONSTRAINT: kind = .conflict
        default: kind = .permanent
        }
        return StoreError(kind, "SQLite \(operation) failed (\(code)): \(message)")
    }
}
