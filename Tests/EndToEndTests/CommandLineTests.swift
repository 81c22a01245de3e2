import Foundation
import SecretsCore
import Testing

/// The operator's side: `config check`, `serve` refusing a bad file, the listing commands.
@Suite struct CommandLineTests {
    static func check(_ json: String, environment: [String: String]? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        let dir = try temporaryDirectory("config")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/config.json"
        try Data(json.utf8).write(to: URL(fileURLWithPath: path))
        return try run(try tokenscanBinary(), ["config", "check", "--config", path], environment: environment)
    }

    static let badFiles: [(String, String)] = [
        ("{\"vendors\": [{\"id\": \"gl\", \"kind\": \"gitlab\"}]}", "vendors[0].keys_url"),
        ("{\"vendors\": [{\"id\": \"x\", \"kind\": \"nosuch\"}]}", "vendors[0].kind"),
        ("{\"vendors\": [{\"id\": \"g\", \"kind\": \"generic\", \"keys_url\": \"http://127.0.0.1:1/k\"}]}", "vendors[0]"),
        ("{\"vendors\": [], \"listen\": \"nope\"}", "listen"),
        ("{\"vendors\": [], \"limits\": {\"max_body_bytes\": \"big\"}}", "limits.max_body_bytes"),
        ("{\"vendors\": [], \"lisen\": \"127.0.0.1:1\"}", "lisen: unknown key"),
        ("{\"vendors\": [{\"id\": \"github\", \"response\": \"maybe\"}]}", "vendors[0].response"),
        ("{\"vendors\": [{\"id\": \"a\", \"kind\": \"github\"}, {\"id\": \"b\", \"kind\": \"github\"}]}", "Github-Public-Key-Identifier"),
        ("{\"vendors\": [{\"id\": \"github\"}, {\"id\": \"github\"}]}", "vendors[1].id"),
        ("{\"vendors\": [{\"id\": \"github\", \"api_token_env\": \"TOKENSCAN_TEST_UNSET_VARIABLE\"}]}", "vendors[0].api_token_env"),
        ("{\"mail\": {\"transport\": \"smtp\"}, \"vendors\": []}", "mail.url"),
        ("{\"database\": \"mysql://x\", \"vendors\": []}", "database"),
        ("[1, 2]", "must be a JSON object"),
        ("{not json", "not valid JSON"),
        ("{}", "vendors"),
        ("{\"vendors\": [], \"workers\": {\"nice\": 20}}", "workers.nice"),
        ("{\"vendors\": [], \"workers\": {\"nice\": -1}}", "workers.nice"),
    ]

    @Test(arguments: badFiles)
    func configCheckNamesTheKey(_ file: String, _ expected: String) throws {
        let r = try Self.check(file)
        #expect(r.status == 2)
        #expect(r.stderr.contains(expected), "stderr: \(r.stderr)")
    }

    @Test func minimalFileIsValid() throws {
        let r = try Self.check("{\"vendors\": [{\"id\": \"github\"}]}")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("OK"))
        let withEnv = try Self.check("{\"vendors\": [{\"id\": \"github\", \"api_token_env\": \"GH_TOKEN_FOR_TEST\"}]}",
                                     environment: ["GH_TOKEN_FOR_TEST": "secret-value"])
        #expect(withEnv.status == 0, "\(withEnv.stderr)")
        #expect(!withEnv.stdout.contains("secret-value"))
    }

    @Test func serveRefusesAnInvalidFileWithTheSameMessage() throws {
        let dir = try temporaryDirectory("serve-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/config.json"
        try Data("{\"vendors\": [{\"id\": \"gl\", \"kind\": \"gitlab\"}]}".utf8).write(to: URL(fileURLWithPath: path))
        let check = try run(try tokenscanBinary(), ["config", "check", "--config", path])
        let serve = try run(try tokenscanBinary(), ["serve", "--config", path])
        #expect(serve.status == 2)
        let message = try #require(check.stderr.split(separator: "\n").first.map { String($0.split(separator: ":", maxSplits: 1)[1]) })
        #expect(serve.stderr.contains(message))
    }

    @Test func listingsAndUsage() throws {
        let receiver = try Receiver(start: false)
        let token = try receiver.createToken(user: "frank", description: "ci token")
        #expect(token.hasPrefix("pypi-"))
        let tokens = try receiver.listJSON("tokens", user: "frank")
        #expect(tokens.count == 1)
        #expect(tokens[0]["user"] as? String == "frank")
        #expect(tokens[0]["description"] as? String == "ci token")
        #expect(tokens[0]["revoked_at"] is NSNull)
        #expect(try receiver.listJSON("tokens", user: "nobody").isEmpty)
        #expect(try receiver.listJSON("events").isEmpty)
        #expect(try receiver.listJSON("disclosures").isEmpty)
        let table = try receiver.cli(["tokens", "list", "@config"])
        #expect(table.status == 0)
        #expect(table.stdout.contains("frank"))
        #expect(!table.stdout.contains(token))
        let usage = try receiver.cli(["tokens", "create", "@config", "--user", "x"])
        #expect(usage.status == 2)
        #expect(usage.stderr.contains("--email"))
        #expect(try receiver.cli(["frobnicate"]).status == 2)
    }
}
