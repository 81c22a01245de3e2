import Foundation
import SecretsCore
import Synchronization
import Testing

/// A database of its own on the test server (`TOKENSCAN_TEST_POSTGRES_URL`), created and dropped with
/// `psql` (this target does not link libpq).
final class PostgreSQLE2EDatabase {
    static var serverURL: String? {
        guard let url = ProcessInfo.processInfo.environment["TOKENSCAN_TEST_POSTGRES_URL"], !url.isEmpty else { return nil }
        return url
    }

    static var isRequired: Bool {
        let environment = ProcessInfo.processInfo.environment
        if environment["TOKENSCAN_REQUIRE_POSTGRES"] == "1" { return true }
        guard let ci = environment["CI"]?.lowercased() else { return false }
        return !["", "0", "false", "no"].contains(ci)
    }

    let name: String
    let url: String
    private let server: String

    init() throws {
        guard let server = Self.serverURL else { throw TestFailure("TOKENSCAN_TEST_POSTGRES_URL is not set") }
        self.server = server
        name = "e2e_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        guard var components = URLComponents(string: server) else { throw TestFailure("TOKENSCAN_TEST_POSTGRES_URL is not a URL") }
        components.path = "/" + name
        guard let url = components.string else { throw TestFailure("cannot build a database URL") }
        self.url = url
        try Self.psql(server, "CREATE DATABASE \(name)")
    }

    deinit { try? Self.psql(server, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }

    static func psql(_ url: String, _ sql: String) throws {
        let psql = ["/usr/bin/psql", "/usr/local/bin/psql"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "psql"
        let r = try run(psql, [url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql])
        guard r.status == 0 else { throw TestFailure("psql failed (\(r.status)): \(r.stderr)") }
    }
}

/// The real binary on PostgreSQL: two `tokenscan serve` instances sharing one database, and the CLI.
@Suite(.serialized, .enabled(if: PostgreSQLE2EDatabase.serverURL != nil, "TOKENSCAN_TEST_POSTGRES_URL is not set"))
struct PostgreSQLEndToEndTests {
    /// The same token reported to both instances at once, several times: revoked once, mailed once (the
    /// maildirs are separate, so mail is counted across both), two events.
    @Test func twoInstancesSharingADatabaseRevokeAndMailEachTokenOnce() throws {
        let database = try PostgreSQLE2EDatabase()
        let a = try Receiver(extra: ["database": database.url])
        let b = try Receiver(extra: ["database": database.url])
        defer {
            a.stop()
            b.stop()
        }
        let users = ["ada", "bob", "cyd"]
        let tokens = try users.map { try a.createToken(user: $0) }
        for token in tokens {
            let statuses = Mutex<[String]>([])
            let group = DispatchGroup()
            for i in 0..<6 {
                let receiver = i.isMultiple(of: 2) ? a : b
                DispatchQueue.global().async(group: group) {
                    let status = (try? receiver.post(report([token]))).map { "\($0.status)" } ?? "no answer"
                    statuses.withLock { $0.append(status) }
                }
            }
            group.wait()
            #expect(statuses.withLock { $0 } == Array(repeating: "204", count: 6))
        }
        let settled = try a.eventually(timeout: 60) {
            try b.listJSON("disclosures").allSatisfy { $0["outcome"] is String }
                && a.mailFiles().count + b.mailFiles().count >= users.count
        }
        #expect(settled, "every disclosure finished and every mail written")
        Thread.sleep(forTimeInterval: 0.5)  // a second mail, were there one, would have been written by now

        let disclosures = try a.listJSON("disclosures")
        #expect(disclosures.count == 18)
        for token in tokens {
            let hash = SHA256.hex(token)
            let outcomes = disclosures.filter { $0["token_hash"] as? String == hash }.compactMap { $0["outcome"] as? String }.sorted()
            #expect(outcomes == ["duplicate", "duplicate", "duplicate", "duplicate", "duplicate", "revoked"])
        }
        #expect(a.mailFiles().count + b.mailFiles().count == users.count, "one mail per token, across both instances")
        for user in users {
            let events = try b.listJSON("events", user: user).compactMap { $0["tag"] as? String }.sorted()
            #expect(events == ["account:api_token:removed_leak", "account:email:sent"], "\(user)")
        }
        #expect(try a.listJSON("tokens").allSatisfy { $0["revoked_at"] is String })
        #expect(!(a.output + b.output).contains(tokens[0]), "no raw token in either log")
    }

    /// The everyday flow on PostgreSQL: `config check`, `tokens create` with a PostgreSQL config, a report,
    /// the listings.
    @Test func theCommandLineAndOneReceiverWorkOnPostgreSQL() throws {
        let database = try PostgreSQLE2EDatabase()
        let receiver = try Receiver(extra: ["database": database.url], start: false)
        let check = try receiver.cli(["config", "check", "@config"])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(check.stdout.contains("postgresql"))
        #expect(try receiver.listJSON("tokens").isEmpty)

        let token = try receiver.createToken(user: "erin", description: "CI upload")
        try receiver.start()
        defer { receiver.stop() }
        #expect(try receiver.post(report([token])).status == 204)
        #expect(try receiver.eventually { try receiver.listJSON("tokens", user: "erin").first?["revoked_at"] is String })
        let tokens = try receiver.listJSON("tokens", user: "erin")
        #expect(tokens.count == 1)
        #expect(tokens.first?["user"] as? String == "erin")
        #expect(tokens.first?["description"] as? String == "CI upload")
        #expect(receiver.eventually { receiver.mailFiles().count == 1 })
        #expect(try receiver.eventually { try receiver.listJSON("events", user: "erin").count == 2 })
        let disclosures = try receiver.listJSON("disclosures", user: "erin")
        #expect(disclosures.map { $0["outcome"] as? String } == ["revoked"])
        #expect(disclosures.first?["token_hash"] as? String == SHA256.hex(token))
    }
}

@Suite struct PostgreSQLEndToEndAvailabilityTests {
    /// Always runs: with PostgreSQL required (CI), the cases above must not silently skip.
    @Test func theTestServerIsSetWhenRequired() {
        if PostgreSQLE2EDatabase.isRequired {
            #expect(PostgreSQLE2EDatabase.serverURL != nil, """
                PostgreSQL is required (TOKENSCAN_REQUIRE_POSTGRES=1 or CI is set) but TOKENSCAN_TEST_POSTGRES_URL is not: \
                run scripts/test.sh, or export the URL scripts/postgres-test-cluster.sh start prints
                """)
        }
    }
}
