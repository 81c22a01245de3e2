import Foundation
import SecretsCore
import Testing

/// A signing key and the key server that publishes it, like a vendor's meta API.
final class FakeKeyServer: @unchecked Sendable {
    // @unchecked: every property is set in init and only read afterwards, except `process`, which only
    // the owning test stops.
    let directory: String
    let privateKey: P256.Signing.PrivateKey
    let keyID: String
    var process: ChildProcess?
    let port: Int

    init(directory: String, keyID: String? = nil) throws {
        self.directory = directory
        privateKey = try P256.Signing.PrivateKey()
        let pem = try privateKey.publicKey.pemRepresentation
        self.keyID = keyID ?? SHA256.hex(pem)
        let document: [String: Any] = ["public_keys": [["key_identifier": self.keyID, "key": pem, "is_current": true]]]
        let path = directory + "/keys-\(UUID().uuidString.prefix(6)).json"
        try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: path))
        let child = try ChildProcess(executable: systemPython(), arguments: [Self.script, path])
        guard let line = child.firstLine(), let port = Int(line) else {
            throw TestFailure("key server did not start: \(child.output)")
        }
        process = child
        self.port = port
    }

    /// Serves an existing meta-API document file as is.
    init(directory: String, documentPath: String) throws {
        self.directory = directory
        privateKey = try P256.Signing.PrivateKey()
        keyID = ""
        let child = try ChildProcess(executable: systemPython(), arguments: [Self.script, documentPath])
        guard let line = child.firstLine(), let port = Int(line) else {
            throw TestFailure("key server did not start: \(child.output)")
        }
        process = child
        self.port = port
    }

    static var script: String {
        Bundle.module.path(forResource: "keyserver", ofType: "py", inDirectory: "Resources") ?? "keyserver.py"
    }

    var url: String { "http://127.0.0.1:\(port)/meta/public_keys/secret_scanning" }

    func signature(_ body: [UInt8]) throws -> String {
        try privateKey.signature(for: body).base64Representation
    }

    /// How many key documents were served.
    func fetchCount() throws -> Int {
        let r = try HTTPClient().get("http://127.0.0.1:\(port)/count")
        return Int(String(decoding: r.body, as: UTF8.self)) ?? -1
    }

    func stop() {
        process?.signal(SIGKILL)
        process?.wait()
        process = nil
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A `tokenscan serve` process on a free port, with its own folder, configuration and key server.
final class Receiver: @unchecked Sendable {
    // @unchecked: mutated only by the test that owns it, on one thread at a time.
    let directory: String
    let keys: FakeKeyServer
    let configPath: String
    var port: Int
    var process: ChildProcess?
    let binary: String

    /// - Parameter extra: top-level configuration keys merged over the defaults; `vendors` replaces the
    ///   default single `github` vendor pointed at `keys`.
    init(extra: [String: Any] = [:], vendors: ((FakeKeyServer) -> [[String: Any]])? = nil, start: Bool = true) throws {
        binary = try tokenscanBinary()
        directory = try temporaryDirectory("receiver")
        keys = try FakeKeyServer(directory: directory)
        port = freePort()
        var config: [String: Any] = [
            "listen": "127.0.0.1:\(port)",
            "database": "sqlite:tokenscan.sqlite3",
            "mail": ["transport": "maildir", "path": "mail", "from": "security@example.org"],
            "vendors": vendors?(keys) ?? [["id": "github", "kind": "github", "keys_url": keys.url]],
            "workers": ["poll_interval_ms": 20],
            "log_level": "debug",
        ]
        for (k, v) in extra { config[k] = v }
        configPath = directory + "/tokenscan.json"
        try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted]).write(to: URL(fileURLWithPath: configPath))
        if start { try self.start() }
    }

    var base: String { "http://127.0.0.1:\(port)" }
    var detectURL: String { base + "/_/secrets/disclose-token" }
    func vendorURL(_ id: String) -> String { base + "/_/secrets/\(id)/disclose-token" }
    var logPath: String { directory + "/serve-\(restarts).log" }
    private(set) var restarts = 0

    func start() throws {
        let child = try ChildProcess(executable: binary, arguments: ["serve", "--config", configPath])
        guard child.waitForOutput("\"msg\":\"listening\"", timeout: 30) else {
            throw TestFailure("tokenscan serve did not start:\n\(child.output)")
        }
        process = child
    }

    /// Kills the server with `signal` and waits for it to exit; keeps its output.
    @discardableResult
    func stop(signal: Int32 = SIGTERM) -> Int32? {
        guard let process else { return nil }
        process.signal(signal)
        let status = process.wait(timeout: 30)
        allOutput += process.output
        self.process = nil
        restarts += 1
        return status
    }

    private(set) var allOutput = ""
    var output: String { allOutput + (process?.output ?? "") }

    /// Signs `body` with the key server's key and posts it with GitHub's headers.
    func post(_ body: [UInt8], url: String? = nil, keyID: String? = nil, signature: String? = nil,
              headerNames: (String, String) = ("Github-Public-Key-Identifier", "Github-Public-Key-Signature"),
              extraHeaders: HTTPHeaders = [:]) throws -> HTTPClientResponse {
        var headers = extraHeaders
        headers.add(headerNames.0, keyID ?? keys.keyID)
        headers.add(headerNames.1, try signature ?? keys.signature(body))
        headers.add("Content-Type", "application/json")
        return try HTTPClient().post(url ?? detectURL, headers: headers, body: body, timeouts: HTTPTimeouts(connect: .seconds(5), total: .seconds(30)))
    }

    /// Runs a `tokenscan` subcommand against this receiver's configuration.
    func cli(_ words: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        var args = words
        if let i = args.firstIndex(of: "@config") { args[i...i] = ["--config", configPath] }
        return try run(binary, args)
    }

    /// Mints a token for `user` with the CLI and answers the raw token.
    func createToken(user: String, email: String? = nil, description: String = "test token") throws -> String {
        let r = try cli(["tokens", "create", "@config", "--user", user, "--email", email ?? "\(user)@example.org", "--description", description])
        guard r.status == 0 else { throw TestFailure("tokens create failed: \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func listJSON(_ noun: String, user: String? = nil) throws -> [[String: Any]] {
        var words = [noun, "list", "@config", "--json"]
        if let user { words += ["--user", user] }
        let r = try cli(words)
        guard r.status == 0, let array = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]] else {
            throw TestFailure("\(noun) list failed (\(r.status)): \(r.stderr) \(r.stdout)")
        }
        return array
    }

    /// Waits until `condition` holds (checked every 50 ms), up to `timeout` seconds.
    func eventually(timeout: Double = 20, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.05)
        } while Date() < deadline
        return try condition()
    }

    /// Files in the maildir's `new/` and `cur/` folders.
    func mailFiles() -> [String] {
        ["new", "cur"].flatMap { folder -> [String] in
            let dir = directory + "/mail/\(folder)"
            return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).map { dir + "/" + $0 }
        }
    }

    deinit {
        process?.signal(SIGKILL)
        process?.wait(timeout: 5)
        keys.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A report body: a JSON array of `{"token","type","url","source"}` items.
func report(_ tokens: [String], type: String = "pypi_api_token", url: String = "https://github.com/octo/repo/blob/main/.env") -> [UInt8] {
    let items = tokens.map { ["token": $0, "type": type, "url": url, "source": "commit"] }
    return Array((try? JSONSerialization.data(withJSONObject: items)) ?? Data())
}
