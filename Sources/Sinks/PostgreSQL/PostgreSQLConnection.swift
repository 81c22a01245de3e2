internal import CLibPQ
import Foundation
import SecretsCore

/// One connection to a PostgreSQL server: owns its `PGconn*` and closes it (`PQfinish`) in `deinit`.
///
/// Not thread-safe, hence not `Sendable`: libpq allows one thread at a time per connection.
/// `PostgreSQLStorage` keeps every connection inside a `Mutex` and never lets one out.
///
/// Every statement is parameterized (`PQexecParams`, text format): values never become part of the SQL
/// text, so they can neither inject SQL nor appear in an error message (errors are fetched with terse
/// verbosity: the server's primary message only, without the `DETAIL` line that can quote a key).
final class PostgreSQLConnection {
    private let conn: OpaquePointer

    /// Connects with a `postgresql://…` URL (or a `key=value` connection string).
    ///
    /// Defaults the URL may override: `connect_timeout=10`, `application_name=tokenscan`. The client
    /// encoding is always UTF-8. A malformed URL is a permanent error; a server that cannot be reached or
    /// refuses the connection is transient (it may come back).
    init(url: String) throws(StoreError) {
        var parseError: UnsafeMutablePointer<CChar>?
        if let options = PQconninfoParse(url, &parseError) {
            PQconninfoFree(options)
        } else {
            let message = parseError.map { String(cString: $0) } ?? "out of memory"
            if let parseError { PQfreemem(parseError) }
            throw StoreError(.permanent, "PostgreSQL: the database URL is not valid: \(Self.trimmed(message))")
        }
        // Entries before `dbname` are defaults the URL overrides; entries after it override the URL.
        // Both arrays end with a null pointer, as libpq expects.
        let keywords: [String?] = ["connect_timeout", "fallback_application_name", "dbname", "client_encoding", nil]
        let values: [String?] = ["10", "tokenscan", url, "UTF8", nil]
        let handle = Self.withCStrings(keywords) { k in
            Self.withCStrings(values) { v in PQconnectdbParams(k, v, 1) }
        }
        guard let handle else { throw StoreError(.transient, "PostgreSQL connect: out of memory") }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = Self.trimmed(String(cString: PQerrorMessage(handle)))
            PQfinish(handle)
            throw StoreError(.transient, "PostgreSQL connect failed: \(message)")
        }
        conn = handle
        PQsetErrorVerbosity(conn, PQERRORS_TERSE)
        CTokenscan_PQsilenceNotices(conn)
    }

    deinit { PQfinish(conn) }

    /// True once libpq noticed the connection is gone (the server closed it, the network failed).
    var isBroken: Bool { PQstatus(conn) != CONNECTION_OK }

    /// Reads whatever the server sent meanwhile, without waiting, and answers whether the connection is
    /// still usable. A connection an administrator terminated, or a server that restarted, has sent its
    /// goodbye and closed the socket: this notices before a statement is sent on it.
    func isAlive() -> Bool {
        // One read may return the goodbye message and only the next one the end of the stream.
        for _ in 0..<3 where !isBroken {
            if PQconsumeInput(conn) != 1 { return false }
        }
        return !isBroken
    }

    /// True when the connection is inside a transaction block (open, failed or with a command running).
    var inTransaction: Bool { PQtransactionStatus(conn) != PQTRANS_IDLE }

    /// The SQLSTATE of the last statement's failure; nil when it succeeded or failed without one.
    private(set) var lastSQLState: String?

    /// Runs SQL text that may hold several statements, without parameters (migrations, transaction control).
    func execute(_ sql: String) throws(StoreError) {
        lastSQLState = nil
        let result = PQexec(conn, sql)
        defer { PQclear(result) }
        try check(result, sql)
    }

    /// Commits the open transaction. A transaction that had failed is rolled back by `COMMIT` without an
    /// error from the server; that is turned into one here, so a caller never mistakes it for a commit.
    func commit() throws(StoreError) {
        lastSQLState = nil
        let result = PQexec(conn, "COMMIT")
        defer { PQclear(result) }
        try check(result, "COMMIT")
        guard let result, String(cString: PQcmdStatus(result)) == "COMMIT" else {
            throw StoreError(.permanent, "PostgreSQL: the transaction had failed and was rolled back instead of committed")
        }
    }

    /// Runs one parameterized statement (`$1`, `$2`, …) and answers its rows.
    @discardableResult
    func query(_ sql: String, _ values: PostgreSQLValue...) throws(StoreError) -> PostgreSQLResult {
        try query(sql, values)
    }

    func query(_ sql: String, _ values: [PostgreSQLValue]) throws(StoreError) -> PostgreSQLResult {
        guard values.count <= Int(Int32.max) else { throw StoreError(.permanent, "PostgreSQL: too many parameters") }
        lastSQLState = nil
        let texts = values.map(\.text)
        let result = Self.withCStrings(texts) { params in
            PQexecParams(conn, sql, Int32(texts.count), nil, params, nil, nil, 0)
        }
        do {
            try check(result, sql)
        } catch {
            PQclear(result)
            throw error
        }
        guard let result else { throw StoreError(.transient, "PostgreSQL: no result") }  // check() threw for nil
        return PostgreSQLResult(result)
    }

    /// Runs a statement and answers how many rows it inserted, updated or deleted.
    @discardableResult
    func run(_ sql: String, _ values: PostgreSQLValue...) throws(StoreError) -> Int {
        try query(sql, values).affectedRows
    }

    /// Throws unless `result` reports success; call it right after the call that produced `result`.
    private func check(_ result: OpaquePointer?, _ sql: String) throws(StoreError) {
        if let result {
            switch PQresultStatus(result) {
            case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY: return
            default: break
            }
        }
        throw error(result, sql)
    }

    /// Turns a failed result into a `StoreError` carrying `PQresultErrorMessage` (or `PQerrorMessage` when
    /// there is no result), our own SQL (summarized), and the SQLSTATE.
    ///
    /// Transient (worth retrying): a lost connection, SQLSTATE classes 08 (connection), 40 (serialization
    /// failure, deadlock), 53 (insufficient resources), 57P0x (server shutting down or restarting), 57014
    /// (statement timeout), 55P03 (lock not available), 58 (I/O). Conflict: class 23 (constraint
    /// violations: 23505 unique). Everything else is permanent.
    private func error(_ result: OpaquePointer?, _ sql: String) -> StoreError {
        let message: String
        var sqlState: String?
        if let result {
            message = Self.trimmed(String(cString: PQresultErrorMessage(result)))
            sqlState = CTokenscan_PQsqlstate(result).map { String(cString: $0) }
            lastSQLState = sqlState
        } else {
            message = Self.trimmed(String(cString: PQerrorMessage(conn)))
        }
        let kind = isBroken || result == nil ? .transient : Self.kind(sqlState: sqlState)
        let code = sqlState.map { " (SQLSTATE \($0))" } ?? ""
        return StoreError(kind, "PostgreSQL failed\(code) in \(Self.summary(sql)): \(message.isEmpty ? "unknown error" : message)")
    }

    static func kind(sqlState: String?) -> StoreError.Kind {
        guard let state = sqlState else { return .permanent }
        let transientStates: Set<String> = ["57P01", "57P02", "57P03", "57014", "55P03"]
        if transientStates.contains(state) { return .transient }
        switch state.prefix(2) {
        case "08", "40", "53", "58": return .transient
        case "23": return .conflict
        default: return .permanent
        }
    }

    /// The SQL text, whitespace collapsed and cut to 80 characters (our own text: never a bound value).
    private static func summary(_ sql: String) -> String {
        let words = sql.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        return words.count > 80 ? words.prefix(77) + "..." : words
    }

    private static func trimmed(_ message: String) -> String {
        message.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
    }

    /// Calls `body` with a C array of NUL-terminated copies of `strings` (nil stays a null pointer), all
    /// kept in one buffer that lives for the call.
    private static func withCStrings<T>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> T) -> T {
        var buffer: [CChar] = []
        var offsets: [Int?] = []
        for string in strings {
            guard let string else {
                offsets.append(nil)
                continue
            }
            offsets.append(buffer.count)
            buffer.append(contentsOf: string.utf8CString)
        }
        return buffer.withUnsafeBufferPointer { characters in
            let pointers = offsets.map { offset in
                offset.flatMap { offset in characters.baseAddress.map { UnsafePointer($0 + offset) } }
            }
            return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
        }
    }
}

/// A value bound to a statement parameter, sent in PostgreSQL's text format.
enum PostgreSQLValue {
    case null
    case integer(Int64)
    case text(String)
    case bool(Bool)

    static func integer(_ value: Int) -> PostgreSQLValue { .integer(Int64(value)) }
    static func optional(_ value: String?) -> PostgreSQLValue { value.map { .text($0) } ?? .null }
    static func optional(_ value: Int64?) -> PostgreSQLValue { value.map { .integer($0) } ?? .null }
    /// A time, stored as integer microseconds since the Unix epoch (see `SQLTime`).
    static func time(_ value: Date) -> PostgreSQLValue { .integer(SQLTime.micros(value)) }
    static func time(_ value: Date?) -> PostgreSQLValue { value.map { .time($0) } ?? .null }
    /// Bytes as hex text, for `decode($n, 'hex')` (independent of the server's `bytea_output`).
    static func hex(_ bytes: [UInt8]) -> PostgreSQLValue { .text(Hex.encode(bytes)) }

    /// The parameter's text (see `storable` for text values).
    var text: String? {
        switch self {
        case .null: nil
        case .integer(let number): String(number)
        case .bool(let flag): flag ? "true" : "false"
        case .text(let text): Self.storable(text)
        }
    }

    /// PostgreSQL text cannot hold U+0000 (and a C string would end there), so a NUL character is stored
    /// as U+FFFD: a report's URL with `\u0000` in it is kept, not cut short or refused.
    static func storable(_ text: String) -> String {
        text.utf8.contains(0) ? text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : text
    }
}

/// The rows of one statement: owns its `PGresult*` and frees it (`PQclear`) in `deinit`.
/// Columns and rows are numbered from 0; values arrive in text format.
final class PostgreSQLResult {
    private let result: OpaquePointer

    init(_ result: OpaquePointer) { self.result = result }

    deinit { PQclear(result) }

    var count: Int { Int(PQntuples(result)) }

    /// Rows inserted, updated or deleted (0 for a statement that reports none).
    var affectedRows: Int { Int(String(cString: PQcmdTuples(result))) ?? 0 }

    /// Every row, each read by `row`.
    func map<T>(_ row: (PostgreSQLRow) throws(StoreError) -> T) throws(StoreError) -> [T] {
        var rows: [T] = []
        rows.reserveCapacity(count)
        for index in 0..<count { rows.append(try row(PostgreSQLRow(result: self, index: Int32(index)))) }
        return rows
    }

    /// The first row read by `row`, or nil when there is none.
    func first<T>(_ row: (PostgreSQLRow) throws(StoreError) -> T) throws(StoreError) -> T? {
        count > 0 ? try row(PostgreSQLRow(result: self, index: 0)) : nil
    }

    fileprivate func isNull(_ row: Int32, _ column: Int32) -> Bool {
        column >= PQnfields(result) || PQgetisnull(result, row, column) != 0
    }

    fileprivate func text(_ row: Int32, _ column: Int32) -> String {
        guard column < PQnfields(result), let value = PQgetvalue(result, row, column) else { return "" }
        return String(cString: value)
    }
}

/// One row of a `PostgreSQLResult`, valid while the result lives.
struct PostgreSQLRow {
    let result: PostgreSQLResult
    let index: Int32

    func isNull(_ column: Int32) -> Bool { result.isNull(index, column) }

    /// The column as text; "" for NULL.
    func text(_ column: Int32) -> String { result.text(index, column) }

    func optionalText(_ column: Int32) -> String? { isNull(column) ? nil : text(column) }

    func int64(_ column: Int32) throws(StoreError) -> Int64 {
        guard let value = Int64(text(column)) else {
            throw StoreError(.permanent, "PostgreSQL: column \(column) is not an integer")
        }
        return value
    }

    func int(_ column: Int32) throws(StoreError) -> Int { Int(try int64(column)) }

    func optionalInt64(_ column: Int32) throws(StoreError) -> Int64? { isNull(column) ? nil : try int64(column) }

    func bool(_ column: Int32) -> Bool { text(column) == "t" }

    func time(_ column: Int32) throws(StoreError) -> Date { SQLTime.date(try int64(column)) }

    func optionalTime(_ column: Int32) throws(StoreError) -> Date? { isNull(column) ? nil : try time(column) }

    /// A column selected as `encode(…, 'hex')`.
    func hexBytes(_ column: Int32) throws(StoreError) -> [UInt8] {
        guard let bytes = Hex.decode(text(column)) else {
            throw StoreError(.permanent, "PostgreSQL: column \(column) is not hex")
        }
        return bytes
    }
}
