import Foundation
import SecretsCore

extension PostgreSQLStorage: TokenStore {
    public func token(identity: String) throws(StoreError) -> IssuedToken? {
        try autocommit { connection throws(StoreError) in try Self.token(identity: identity, on: connection) }
    }

    /// One transaction: revoke the token if it is live (`UPDATE … WHERE revoked_at IS NULL RETURNING`;
    /// concurrent callers queue on the row lock and, once the winner committed, find it revoked), then read
    /// it back in a statement of its own (which sees the winner's commit) to see who revoked it.
    public func revoke(identity: String, byDisclosure disclosureID: Int64, at time: Date) throws(StoreError) -> RevocationResult {
        try transaction { connection throws(StoreError) in
            try connection.run("""
                UPDATE tokens SET revoked_at = $1, revoked_by_disclosure = $2
                WHERE identity = $3 AND revoked_at IS NULL RETURNING id
                """, .time(time), .integer(disclosureID), .text(identity))
            guard let token = try Self.token(identity: identity, on: connection) else { return .notFound }
            return token.revokedByDisclosure == disclosureID ? .revoked(token) : .alreadyRevoked(token)
        }
    }

    /// Creates the user when new (its first email primary), adds emails it does not have yet, and stores
    /// the token, in one transaction. The user's row is locked first, so two instances issuing to one new
    /// user at once still give it a single primary email. A token whose id or identity is already stored
    /// is a `.conflict` and nothing is stored.
    public func issue(_ token: IssuedToken) throws(StoreError) {
        try transaction { connection throws(StoreError) in
            try connection.run("INSERT INTO users (name, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                               .text(token.user), .time(token.createdAt))
            try connection.run("SELECT 1 FROM users WHERE name = $1 FOR UPDATE", .text(token.user))
            let hasPrimary = try connection.query(
                "SELECT 1 FROM user_emails WHERE user_name = $1 AND is_primary", .text(token.user)).count > 0
            for (index, email) in token.emails.enumerated() {
                try connection.run("""
                    INSERT INTO user_emails (user_name, email, is_primary) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING
                    """, .text(token.user), .text(email), .bool(!hasPrimary && index == 0))
            }
            try connection.run("""
                INSERT INTO tokens (id, type, identity, user_name, description, created_at, revoked_at, revoked_by_disclosure)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                """, .text(token.id), .text(token.type), .text(token.identity), .text(token.user), .text(token.description),
                .time(token.createdAt), .time(token.revokedAt), .optional(token.revokedByDisclosure))
        }
    }

    /// Newest first (by `created_at`, then id in byte order, as SQLite compares text), with their emails,
    /// in one statement.
    public func tokens(user: String?) throws(StoreError) -> [IssuedToken] {
        try autocommit { connection throws(StoreError) in
            let order = "ORDER BY t.created_at DESC, t.id COLLATE \"C\" DESC"
            return if let user {
                try connection.query("SELECT \(Self.tokenColumns) FROM tokens t WHERE t.user_name = $1 \(order)", .text(user))
                    .map(Self.tokenRow)
            } else {
                try connection.query("SELECT \(Self.tokenColumns) FROM tokens t \(order)").map(Self.tokenRow)
            }
        }
    }

    /// Inserts random bytes unless the secret exists (`ON CONFLICT DO NOTHING`), then reads what is stored
    /// in a statement of its own (which sees a concurrent winner's commit): instances racing on a fresh
    /// database agree on one value. The stored value wins over a different `length` later.
    public func installationSecret(named name: String, length: Int) throws(StoreError) -> [UInt8] {
        guard (1...65_536).contains(length) else {
            throw StoreError(.permanent, "installation secret \(name): length \(length) is out of range")
        }
        let select = "SELECT encode(value, 'hex') FROM settings WHERE name = $1"
        return try autocommit { connection throws(StoreError) in
            if let stored = try connection.query(select, .text(name)).first({ row throws(StoreError) in try row.hexBytes(0) }) {
                return stored
            }
            try connection.run("INSERT INTO settings (name, value) VALUES ($1, decode($2, 'hex')) ON CONFLICT DO NOTHING",
                               .text(name), .hex(SecureRandom.bytes(length)))
            guard let value = try connection.query(select, .text(name)).first({ row throws(StoreError) in try row.hexBytes(0) })
            else { throw StoreError(.permanent, "installation secret \(name) vanished after it was stored") }
            return value
        }
    }

    /// The token's columns and its owner's emails (a JSON array, primary first, then in byte order as
    /// SQLite compares text).
    private static let tokenColumns = """
        t.id, t.type, t.identity, t.user_name, t.description, t.created_at, t.revoked_at, t.revoked_by_disclosure,
        (SELECT coalesce(json_agg(e.email ORDER BY e.is_primary DESC, e.email COLLATE "C"), '[]'::json)
         FROM user_emails e WHERE e.user_name = t.user_name)
        """

    private static func tokenRow(_ row: PostgreSQLRow) throws(StoreError) -> IssuedToken {
        IssuedToken(id: row.text(0), type: row.text(1), identity: row.text(2), user: row.text(3),
                    emails: try JSONText.decode([String].self, row.text(8), what: "user emails"),
                    description: row.text(4), createdAt: try row.time(5), revokedAt: try row.optionalTime(6),
                    revokedByDisclosure: try row.optionalInt64(7))
    }

    private static func token(identity: String, on connection: PostgreSQLConnection) throws(StoreError) -> IssuedToken? {
        try connection.query("SELECT \(tokenColumns) FROM tokens t WHERE t.identity = $1", .text(identity)).first(tokenRow)
    }
}
