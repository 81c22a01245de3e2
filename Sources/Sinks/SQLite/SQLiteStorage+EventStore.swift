import Foundation
import SecretsCore

extension SQLiteStorage: EventStore {
    /// Idempotent per `idempotencyKey` (`ON CONFLICT DO NOTHING`); events without a key are always stored.
    public func record(_ event: SecurityEvent) throws(StoreError) {
        let data = try JSONText.encode(event.data)
        try write { try Self.insert(event, data: data, on: $0) }
    }

    /// `record`'s statement, inside the caller's transaction; `data` is the event's data as `JSONText`.
    static func insert(_ event: SecurityEvent, data: String, on connection: SQLiteConnection) throws {
        try connection.run("""
            INSERT INTO events (tag, user_name, time, data, idempotency_key) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
            """, .text(event.tag), .text(event.user), .time(event.time), .text(data), .optional(event.idempotencyKey))
    }

    /// Oldest first (by time, then insertion order).
    public func events(user: String?) throws(StoreError) -> [SecurityEvent] {
        try read { connection in
            let columns = "SELECT tag, user_name, time, data, idempotency_key FROM events"
            return if let user {
                try connection.query("\(columns) WHERE user_name = ? ORDER BY time, id", .text(user), row: Self.eventRow)
            } else {
                try connection.query("\(columns) ORDER BY time, id", row: Self.eventRow)
            }
        }
    }

    private static func eventRow(_ row: SQLiteStatement) throws -> SecurityEvent {
        SecurityEvent(tag: row.text(0), user: row.text(1), time: row.time(2),
                      data: try JSONText.decode([String: String].self, row.text(3), what: "event data"),
                      idempotencyKey: row.optionalText(4))
    }
}
