import Foundation
import SecretsCore
import Synchronization
@testable import Sinks

/// Records and helpers the SQLite tests share (namespaced: the test module is shared with other suites).
enum SQLiteFixture {
    /// A database path in a folder that does not exist yet (so `open` must create it).
    static func databasePath(in folder: TemporaryDirectory) -> String { "\(folder.path)/db/tokenscan.sqlite3" }

    /// Whole seconds, so dates compare equal after the microsecond round trip.
    static func at(_ seconds: Int) -> Date { Date(timeIntervalSince1970: TimeInterval(1_700_000_000 + seconds)) }

    static func disclosure(_ n: Int, identity: String? = nil, outcome: DisclosureOutcome? = nil, at seconds: Int = 0) -> DisclosureRecord {
        DisclosureRecord(vendor: "github", tokenHash: SHA256.hex("token-\(n)"), tokenType: "pypi_api_token",
                         identity: identity ?? "identity-\(n)", url: "https://example.org/\(n)",
                         source: n.isMultiple(of: 2) ? "commit" : nil, receivedAt: at(seconds), outcome: outcome,
                         detail: outcome == nil ? nil : "detail \(n)")
    }

    static func token(_ id: String, user: String = "alice", emails: [String]? = nil, created: Int = 0,
                      revokedAt: Date? = nil) -> IssuedToken {
        IssuedToken(id: id, type: "pypi_api_token", identity: "identity-\(id)", user: user,
                    emails: emails ?? ["\(user)@example.org"], description: "token \(id)", createdAt: at(created),
                    revokedAt: revokedAt)
    }

    static func mail(_ id: String, user: String = "alice", at seconds: Int = 0) -> MailMessage {
        MailMessage(messageID: id, from: "security@example.org", to: ["\(user)@example.org", "other@example.org"],
                    subject: "Token revoked", body: "Your token was revoked.\nBye", date: at(seconds), user: user)
    }

    /// Runs `body(i)` for i in 0..<count, each on its own thread, all at once; answers in order of i.
    static func onThreads<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) -> T) -> [T] {
        let results = Mutex<[Int: T]>([:])
        let group = DispatchGroup()
        for i in 0..<count {
            group.enter()
            Thread {
                let value = body(i)
                results.withLock { $0[i] = value }
                group.leave()
            }.start()
        }
        group.wait()
        return results.withLock { r in (0..<count).compactMap { r[$0] } }
    }
}
