import Foundation
import SecretsCore

extension SQLiteStorage: TokenStore {
    public func token(identity: String) throws(StoreError) -> IssuedToken? {
        try read { try Self.token(identity: identity, on: $0) }
    }

    /// One `BEGIN IMMEDIATE` transaction (shared with concurrent writers by group commit): revoke the token
    /// if it is live, then read it back to see who revoked it.
    public func revoke(identity: String, byDisclosure disclosureID: Int64, at time: Date) throws(StoreError) -> RevocationResult {
        try write { try Self.revoke(identity: identity, byDisclosure: disclosureID, at: time, on: $0) }
    }

    /// `revoke`'s statements, inside the caller's transaction.
    static func revoke(identity: String, byDisclosure disclosureID: Int64, at time: Date,
                       on connection: SQLiteConnection) throws -> RevocationResult {
        try connection.run("""
            UPDATE tokens SET revoked_at = ?, revoked_by_disclosure = ?
            WHERE identity = ? AND revoked_at IS NULL
            """, .time(time), .integer(disclosureID), .text(identity))
        guard let token = try token(identity: identity, on: connection) else { return .notFound }
        return token.revokedByDisclosure == disclosureID ? .revoked(token) : .alreadyRevoked(token)
    }

    /// Creates the user when new (its first email primary), adds emails it does not have yet, and stores
    /// the token, in one transaction. A token whose id or identity is already stored is a `.conflict`.
    public func issue(_ token: IssuedToken) throws(StoreError) {
        try write { connection in
            try connection.run("INSERT INTO users (name, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                               .text(token.user), .time(token.createdAt))
            let hasPrimary = try connection.queryFirst(
                "SELECT 1 FROM user_emails WHERE user_name = ? AND is_primary", .text(token.user)) { _ in true } ?? false
            for (index, email) in token.emails.enumerated() {
                try connection.run("""
                    INSERT INTO user_emails (user_name, email, is_primary) VALUES (?, ?, ?) ON CONFLICT DO NOTHING
                    """, .text(token.user), .text(email), .bool(!hasPrimary && index == 0))
            }
            try connection.run("""
                INSERT INTO tokens (id, type, identity, user_name, description, created_at, revoked_at, revoked_by_disclosure)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, .text(token.id), .text(token.type), .text(token.identity), .text(token.user), .text(token.description),
                .time(token.createdAt), .time(token.revokedAt), .optional(token.revokedByDisclosure))
        }
    }

    public func tokens(user: String?) throws(StoreError) -> [IssuedToken] {
        try read { connection in
            let rows = if let user {
                try connection.query("SELECT \(Self.tokenColumns) FROM tokens WHERE user_name = ? ORDER BY created_at DESC, id DESC",
                                     .text(user), row: Self.tokenRow)
            } else {
                try connection.query("SELECT \(Self.tokenColumns) FROM tokens ORDER BY created_at DESC, id DESC", row: Self.tokenRow)
            }
            var emails: [String: [String]] = [:]
            return try rows.map { token in
                var token = token
                if emails[token.user] == nil { emails[token.user] = try Self.emails(user: token.user, on: connection) }
                token.emails = emails[token.user] ?? []
                return token
            }
        }
    }

    /// Inserts random bytes unless the secret exists, then reads what is stored: two processes racing on
    /// a fresh file agree on one value. The stored value wins over a different `length` later.
    public func installationSecret(named name: String, length: Int) throws(StoreError) -> [UInt8] {
        guard (1...65_536).contains(length) else {
            throw StoreError(.permanent, "installation secret \(name): length \(length) is out of range")
        }
        let stored = try read { connection in
            try connection.queryFirst("SELECT value FROM settings WHERE name = ?", .text(name)) { $0.blob(0) }
        }
        if let stored { return stored }
        let candidate = SecureRandom.bytes(length)
        return try write { connection in
            try connection.run("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
                               .text(name), .blob(candidate))
            guard let value = try connection.queryFirst("SELECT value FROM settings WHERE name = ?", .text(name), row: { $0.blob(0) })
            else { throw StoreError(.permanent, "installation secret \(name) vanished after it was stored") }
            return value
        }
    }

    private static let tokenColumns =
        "id, type, identity, user_name, description, created_at, revoked_at, revoked_by_disclosure"

    /// A row of `tokenColumns`, without emails.
    private static func tokenRow(_ row: SQLiteStatement) -> IssuedToken {
        IssuedToken(id: row.text(0), type: row.text(1), identity: row.text(2), user: row.text(3), emails: [],
                    description: row.text(4), createdAt: row.time(5), revokedAt: row.optionalTime(6),
                    revokedByDisclosure: row.optionalInt64(7))
    }

    private static func token(identity: String, on connection: SQLiteConnection) throws -> IssuedToken? {
        guard var token = try connection.queryFirst("SELECT \(tokenColumns) FROM tokens WHERE identity = ?",
                                                    .text(identity), row: tokenRow)
        else { return nil }
        token.emails = try emails(user: token.user, on: connection)
        return token
    }

    /// The user's emails, primary first.
    private static func emails(user: String, on connection: SQLiteConnection) throws -> [String] {
        try connection.query("SELECT email FROM user_emails WHERE user_name = ? ORDER BY is_primary DESC, email",
                             .text(user)) { $0.text(0) }
    }
}
