internal import CSQLite
import Foundation
import SecretsCore

/// A value bound to a statement parameter.
enum SQLiteValue {
    case null
    case integer(Int64)
    case text(String)
    case blob([UInt8])

    static func integer(_ value: Int) -> SQLiteValue { .integer(Int64(value)) }
    static func optional(_ value: String?) -> SQLiteValue { value.map { .text($0) } ?? .null }
    static func optional(_ value: Int64?) -> SQLiteValue { value.map { .integer($0) } ?? .null }
    static func bool(_ value: Bool) -> SQLiteValue { .integer(value ? 1 : 0) }
    /// A time, stored as integer microseconds since the Unix epoch (see `SQLTime`).
    static func time(_ value: Date) -> SQLiteValue { .integer(SQLTime.micros(value)) }
    static func time(_ value: Date?) -> SQLiteValue { value.map { .time($0) } ?? .null }
}

/// One prepared statement: owns its `sqlite3_stmt*` and finalizes it in `deinit`.
///
/// Belongs to the `SQLiteConnection` that cached it and shares its thread rule (one thread at a time).
/// Columns and parameters are numbered from 0 here (SQLite numbers parameters from 1).
final class SQLiteStatement {
    private let statement: OpaquePointer
    private let db: OpaquePointer

    init(db: OpaquePointer, sql: String) throws(StoreError) {
        var handle: OpaquePointer?
        // `tail` points into the C string, so it is read while that string is alive: a Swift String
        // passed directly is a temporary that is gone once the call returns.
        let (rc, trailing) = sql.withCString { text -> (Int32, Bool) in
            var tail: UnsafePointer<CChar>?
            let rc = sqlite3_prepare_v3(db, text, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &handle, &tail)
            return (rc, tail.map { $0.pointee != 0 } ?? false)
        }
        guard rc == SQLITE_OK, let handle else {
            throw SQLiteConnection.error(rc == SQLITE_OK ? SQLITE_MISUSE : rc, db, "prepare")
        }
        if trailing {
            sqlite3_finalize(handle)
            throw StoreError(.permanent, "SQLite prepare failed: more than one statement in one call")
        }
        self.statement = handle
        self.db = db
    }

    deinit { sqlite3_finalize(statement) }

    /// Binds `values` to parameters 1…n.
    func bind(_ values: [SQLiteValue]) throws(StoreError) {
        for (index, value) in values.enumerated() { try bind(value, at: Int32(index + 1)) }
    }

    func bind(_ value: SQLiteValue, at index: Int32) throws(StoreError) {
        let rc: Int32
        switch value {
        case .null:
            rc = sqlite3_bind_null(statement, index)
        case .integer(let number):
            rc = sqlite3_bind_int64(statement, index, number)
        case .text(var text):
            rc = text.withUTF8 { bytes -> Int32 in
                guard bytes.count <= Int(Int32.max) else { return SQLITE_TOOBIG }
                // A nil pointer would bind NULL, so an empty string binds a static empty C string.
                guard let base = bytes.baseAddress, !bytes.isEmpty else {
                    return CTokenscan_sqlite3_bind_text_transient(statement, index, "", 0)
                }
                return base.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                    CTokenscan_sqlite3_bind_text_transient(statement, index, $0, Int32(bytes.count))
                }
            }
        case .blob(let bytes):
            rc = bytes.withUnsafeBytes { raw -> Int32 in
                guard raw.count <= Int(Int32.max) else { return SQLITE_TOOBIG }
                guard let base = raw.baseAddress, !raw.isEmpty else { return sqlite3_bind_zeroblob(statement, index, 0) }
                return CTokenscan_sqlite3_bind_blob_transient(statement, index, base, Int32(raw.count))
            }
        }
        guard rc == SQLITE_OK else { throw SQLiteConnection.error(rc, db, "bind") }
    }

    /// Advances; true when a row is available, false when the statement is done.
    func step() throws(StoreError) -> Bool {
        let rc = sqlite3_step(statement)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw SQLiteConnection.error(rc, db, "step (\(summary))")
        }
    }

    /// The statement's SQL, whitespace collapsed and cut to 80 characters, for error messages (our own
    /// SQL text with `?` placeholders: never a bound value).
    private var summary: String {
        let words = String(cString: sqlite3_sql(statement)).split(whereSeparator: \.isWhitespace).joined(separator: " ")
        return words.count > 80 ? words.prefix(77) + "..." : words
    }

    /// Makes the statement ready to run again and drops its bindings. A failed step already threw its error.
    func reset() {
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
    }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }

    func int(_ column: Int32) -> Int { Int(sqlite3_column_int64(statement, column)) }

    func optionalInt64(_ column: Int32) -> Int64? { isNull(column) ? nil : int64(column) }

    func bool(_ column: Int32) -> Bool { int64(column) != 0 }

    /// The column as UTF-8 text; "" for NULL.
    func text(_ column: Int32) -> String {
        guard let bytes = sqlite3_column_text(statement, column) else { return "" }
        let count = Int(sqlite3_column_bytes(statement, column))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    func optionalText(_ column: Int32) -> String? { isNull(column) ? nil : text(column) }

    func blob(_ column: Int32) -> [UInt8] {
        guard let bytes = sqlite3_column_blob(statement, column) else { return [] }
        let count = Int(sqlite3_column_bytes(statement, column))
        return Array(UnsafeRawBufferPointer(start: bytes, count: count))
    }

    func time(_ column: Int32) -> Date { SQLTime.date(int64(column)) }

    func optionalTime(_ column: Int32) -> Date? { isNull(column) ? nil : time(column) }
}
