import Foundation
import SecretsCore
import Testing
@testable import Sinks

/// The PostgreSQL server the tests may use: `TOKENSCAN_TEST_POSTGRES_URL` (for instance
/// `postgresql://postgres@127.0.0.1:55432/postgres`, as `scripts/postgres-test-cluster.sh start` prints).
///
/// Unset, the PostgreSQL cases are skipped, unless `TOKENSCAN_REQUIRE_POSTGRES=1` or `CI` is set: then
/// `PostgreSQLAvailabilityTests` fails and says how to provide one.
enum PostgreSQLTestServer {
    static var url: String? {
        guard let url = ProcessInfo.processInfo.environment["TOKENSCAN_TEST_POSTGRES_URL"], !url.isEmpty else { return nil }
        return url
    }

    static var isConfigured: Bool { url != nil }

    static var isRequired: Bool {
        let environment = ProcessInfo.processInfo.environment
        if environment["TOKENSCAN_REQUIRE_POSTGRES"] == "1" { return true }
        guard let ci = environment["CI"]?.lowercased() else { return false }
        return !["", "0", "false", "no"].contains(ci)
    }

    static let missingMessage = """
        PostgreSQL is required (TOKENSCAN_REQUIRE_POSTGRES=1 or CI is set) but TOKENSCAN_TEST_POSTGRES_URL is not: \
        start a throwaway server with `url=$(scripts/postgres-test-cluster.sh start)` and export \
        TOKENSCAN_TEST_POSTGRES_URL="$url" (scripts/test.sh does both)
        """
}

/// A fresh database on the test server (`CREATE DATABASE t_<random>`), dropped when the value goes away,
/// connections and all.
final class PostgreSQLTestDatabase {
    let name: String
    /// The URL of this database (the server's URL with the database name replaced).
    let url: String
    private let serverURL: String

    init() throws {
        guard let server = PostgreSQLTestServer.url else { throw StoreError(.permanent, PostgreSQLTestServer.missingMessage) }
        serverURL = server
        name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
        url = try Self.url(server, database: name)
        try PostgreSQLConnection(url: server).execute("CREATE DATABASE \(name)")
    }

    deinit {
        if let admin = try? PostgreSQLConnection(url: serverURL) {
            try? admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        }
    }

    /// A connection to this database for the test itself (locking rows, killing backends).
    func connect() throws -> PostgreSQLConnection { try PostgreSQLConnection(url: url) }

    /// Terminates every other connection to this database and waits until they are gone; answers how
    /// many there were.
    @discardableResult
    func terminateOtherConnections(from admin: PostgreSQLConnection) throws -> Int {
        try admin.query("""
            SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid()
            """).count
    }

    static func url(_ server: String, database: String) throws -> String {
        guard var components = URLComponents(string: server) else {
            throw StoreError(.permanent, "TOKENSCAN_TEST_POSTGRES_URL is not a URL")
        }
        components.path = "/" + database
        guard let url = components.string else { throw StoreError(.permanent, "cannot build a database URL") }
        return url
    }
}

@Suite("PostgreSQL availability")
struct PostgreSQLAvailabilityTests {
    /// Always runs: fails when PostgreSQL is required and missing or unreachable, so a CI run cannot pass
    /// by skipping every PostgreSQL case.
    @Test func theTestServerIsThereWhenRequired() throws {
        guard let url = PostgreSQLTestServer.url else {
            if PostgreSQLTestServer.isRequired { Issue.record(Comment(rawValue: PostgreSQLTestServer.missingMessage)) }
            return
        }
        let connection = try PostgreSQLConnection(url: url)
        let version = try connection.query("SHOW server_version_num").first { row throws(StoreError) in try row.int(0) }
        // FOR UPDATE SKIP LOCKED needs 9.5, DROP DATABASE … WITH (FORCE) 13, pg_terminate_backend(pid, timeout) 14.
        #expect((version ?? 0) >= 140_000, "the test server must be PostgreSQL 14 or newer")
    }
}
