import Foundation
import Testing

/// `tokenscan dev` as a newcomer meets it: the fake vendor's page in a real headless Chromium sends a
/// freshly minted token to the receiver, which revokes it, mails the owner and records the events.
@Suite(.serialized) struct BrowserTests {
    /// Where screenshots are kept (a failure's stays for inspection): `test-artifacts/` in the package.
    static var artifacts: String {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        for _ in 0..<2 { dir.deleteLastPathComponent() }
        return dir.appendingPathComponent("test-artifacts").path
    }

    @Test(.timeLimit(.minutes(3)))
    func tokenSentFromThePageIsRevokedAndMailed() throws {
        let data = try temporaryDirectory("dev")
        defer { try? FileManager.default.removeItem(atPath: data) }
        let port = freePort(), vendorPort = freePort()
        let dev = try ChildProcess(executable: try tokenscanBinary(),
                                   arguments: ["dev", "--data", data, "--port", String(port), "--vendor-port", String(vendorPort)])
        #expect(dev.waitForOutput("demo token:", timeout: 30), "dev did not start: \(dev.output)")
        let token = try #require(dev.output.split(separator: "\n")
            .first { $0.contains("demo token:") }?
            .split(separator: " ").last.map(String.init))
        #expect(dev.output.contains("http://127.0.0.1:\(vendorPort)/"))
        #expect(dev.output.contains("http://127.0.0.1:\(port)/_/secrets/disclose-token"))

        try FileManager.default.createDirectory(atPath: Self.artifacts, withIntermediateDirectories: true)
        let script = try #require(Bundle.module.path(forResource: "browser_test", ofType: "py", inDirectory: "Resources"))
        let browser = try run(systemPython(), [script, "--fake-vendor", "http://127.0.0.1:\(vendorPort)/", "--token", token,
                                               "--screenshot-dir", Self.artifacts])
        #expect(browser.status == 0, "browser test failed (screenshot in \(Self.artifacts)):\n\(browser.stdout)\n\(browser.stderr)")
        #expect(!(browser.stdout + browser.stderr).contains(token))

        let config = data + "/tokenscan.json"
        let binary = try tokenscanBinary()
        func list(_ noun: String) throws -> [[String: Any]] {
            let r = try run(binary, [noun, "list", "--config", config, "--json"])
            return (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]]) ?? []
        }
        let deadline = Date().addingTimeInterval(20)
        var mails: [String] = []
        while Date() < deadline {
            mails = (try? FileManager.default.contentsOfDirectory(atPath: data + "/mail/new")) ?? []
            if !mails.isEmpty, try list("events").count >= 2 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let tokens = try list("tokens")
        #expect(tokens.count == 1)
        #expect(tokens.first?["revoked_at"] is String, "the demo token is revoked")
        #expect(mails.count == 1, "one mail to the owner")
        let tags = try list("events").compactMap { $0["tag"] as? String }.sorted()
        #expect(tags == ["account:api_token:removed_leak", "account:email:sent"])

        dev.signal(SIGINT)
        #expect(dev.wait(timeout: 20) == 0, "Ctrl-C stops both cleanly")
    }
}
