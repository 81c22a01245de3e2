import Foundation
import SecretsCore
import Testing

/// Nothing a sender sends yields a 500, a crash or a hang; no raw token leaks anywhere.
@Suite(.serialized) struct RobustnessTests {
    @Test func stalledConnectionDoesNotHoldTheServer() throws {
        let receiver = try Receiver(extra: ["server": ["connection_timeout_seconds": 2, "threads": 2]])
        // Several senders send headers, promise a body, then stall.
        let stalled = try (0..<6).map { _ in try RawSocket(port: receiver.port, receiveTimeout: 6) }
        for s in stalled {
            s.send("POST /_/secrets/disclose-token HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                   + "Github-Public-Key-Identifier: \(receiver.keys.keyID)\r\nGithub-Public-Key-Signature: AAAA\r\n\r\n{\"a\":")
        }
        // Others are still served.
        let started = Date()
        #expect(try receiver.post(report(["pypi-x"])).status == 204)
        #expect(Date().timeIntervalSince(started) < 5)
        // The stalled connections are closed at the timeout.
        let closedAt = Date()
        _ = stalled[0].readAll()
        #expect(Date().timeIntervalSince(closedAt) < 5.5)
    }

    @Test func oddRequestsNeverCrashOr500() throws {
        let receiver = try Receiver()
        let requests: [String] = [
            "POST /_/secrets/disclose-token HTTP/1.1\r\nHost: x\r\nGithub-Public-Key-Identifier: \u{1}\u{7f}\r\nGithub-Public-Key-Signature: \r\nContent-Length: 2\r\n\r\n[]",
            "POST /_/secrets/disclose-token HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            "POST /_/secrets/disclose-token HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
            "POST /_/secrets/disclose-token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nGithub-Public-Key-Identifier: a\r\nGithub-Public-Key-Signature: b\r\n\r\n5\r\n[1,2]\r\n0\r\n\r\n",
            "POST /_/secrets/%00/disclose-token HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            "POST /_/secrets/../../etc/passwd/disclose-token HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            "POST /_/secrets//disclose-token HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            "GARBAGE\r\n\r\n",
            "POST /_/secrets/disclose-token?x=%ff%fe HTTP/1.1\r\nHost: x\r\nGithub-Public-Key-Identifier: a\r\nGithub-Public-Key-Identifier: b\r\nContent-Length: 0\r\n\r\n",
        ]
        for text in requests {
            let s = try RawSocket(port: receiver.port, receiveTimeout: 5)
            s.send(text)
            if let r = s.readResponse() {
                #expect((400...499).contains(r.status), "\(text.prefix(60)): \(r.status)")
            }
        }
        // A signed non-UTF-8 body is a clean 400.
        let junk: [UInt8] = [0x5b, 0xff, 0xc0, 0x80, 0x5d]
        #expect(try receiver.post(junk).status == 400)
        // Signed items of every malformed shape are still a 204 for the batch.
        let items = Array("[{\"token\":null},{\"token\":\"pypi-\\u0000\"},{\"token\":\"pypi-\(String(repeating: "A", count: 5000))\"},1,[],{}]".utf8)
        #expect(try receiver.post(items).status == 204)
        #expect(try HTTPClient().get(receiver.base + "/healthz").status == 200)
        #expect(!receiver.output.contains("\"status\":\"500\""))
    }

    /// Every raw token the scenario used is searched for in the database, WAL, maildir, logs and every
    /// command's output: only `tokens create` may print one.
    @Test func rawTokensAppearNowhere() throws {
        let receiver = try Receiver(vendors: { keys in [["id": "github", "kind": "github", "keys_url": keys.url, "response": "labels"]] })
        var raw: [String] = []
        for i in 0..<5 { raw.append(try receiver.createToken(user: "sec\(i)")) }
        let stranger = PyPITokenMinter(rootKey: SecureRandom.bytes(32)).mint().value
        raw.append(stranger)
        raw.append("pypi-" + String(repeating: "Q", count: 40))
        raw.append("ghp_notourtokenatall1234567890")
        #expect(try receiver.post(report(raw)).status == 200)
        #expect(try receiver.post(report([raw[0]]), url: receiver.vendorURL("github")).status == 200)
        _ = try receiver.post(report(raw), signature: "AAAA")
        #expect(receiver.eventually { receiver.mailFiles().count == 5 })
        var outputs = ""
        for noun in ["tokens", "events", "disclosures"] {
            outputs += try receiver.cli([noun, "list", "@config"]).stdout
            outputs += try receiver.cli([noun, "list", "@config", "--json"]).stdout
        }
        outputs += String(decoding: try HTTPClient().get(receiver.base + "/metrics").body, as: UTF8.self)
        receiver.stop(signal: SIGTERM)
        var haystack = Data(outputs.utf8) + Data(receiver.output.utf8)
        let files = FileManager.default.enumerator(atPath: receiver.directory)?.compactMap { $0 as? String } ?? []
        for file in files {
            let path = receiver.directory + "/" + file
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue,
               let data = FileManager.default.contents(atPath: path) {
                haystack += data
            }
        }
        #expect(haystack.count > 10_000)
        for token in raw {
            #expect(haystack.range(of: Data(token.utf8)) == nil, "raw token found: \(SHA256.hex(token))")
            // The macaroon body alone (without its prefix) must not appear either.
            #expect(haystack.range(of: Data(token.dropFirst(5).utf8)) == nil)
        }
    }
}
