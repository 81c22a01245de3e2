import Foundation
import SecretsCore

extension PostgreSQLStorage: EventStore {
    /// Idempotent per `idempotencyKey` (`ON CONFLICT DO NOTHING`, across instances too); events without a
    /// key are always stored.
    public func record(_ event: SecurityEvent) throws(StoreError) {
        let data = try JSONText.encode(event.data)
        try autocommit { connection throws(StoreError) in
            try connection.run("""
                INSERT INTO events (tag, user_name, time, data, idempotency_key) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING
                """, .text(event.tag), .text(event.user), .time(event.time), .text(data), .optional(event.idempotencyKey))
        }
    }

    /// Oldest first (by time, then insertion order).
    public func events(user: String?) throws(StoreError) -> [SecurityEvent] {
        try autocommit { connection throws(StoreError) in
            let columns = "SELECT tag, user_name, time, data, idempotency_key FROM events"
            return if let user {
                try connection.query("\(columns) WHERE user_name = $1 ORDER BY time, id", .text(user)).map(Self.eventRow)
            } else {
                try connection.query("\(columns) ORDER BY time, id").map(Self.eventRow)
            }
        }
    }

    private static func eventRow(_ row: PostgreSQLRow) throws(StoreError) -> SecurityEvent {
        SecurityEvent(tag: row.text(0), user: row.text(1), time: try row.time(2),
                      data: try JSONText.decode([String: String].self, row.text(3), what: "event data"),
                      idempotencyKey: row.optionalText(4))
    }
}
