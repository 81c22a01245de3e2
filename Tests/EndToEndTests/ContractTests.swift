import Foundation
import SecretsCore
import Testing

/// Every row of DESIGN.md's HTTP contract, against the real binary, spoken to like a vendor.
@Suite(.serialized) struct ContractTests {
    static let uniform400 = "{\"error\":\"signature verification failed\"}"

    @Test func acceptedOnBothPathsAndRevoked() throws {
        let receiver = try Receiver()
        let token = try receiver.createToken(user: "alice")
        let r1 = try receiver.post(report([token]))
        #expect(r1.status == 204)
        #expect(r1.body.isEmpty)
        let other = try receiver.createToken(user: "bob")
        let r2 = try receiver.post(report([other]), url: receiver.vendorURL("github"))
        #expect(r2.status == 204)
        #expect(try receiver.eventually {
            try receiver.listJSON("tokens").allSatisfy { !($0["revoked_at"] is NSNull) }
        })
        let tokens = try receiver.listJSON("tokens")
        #expect(tokens.count == 2)
        for t in tokens {
            for key in ["id", "user", "description", "created_at", "revoked_at"] { #expect(t[key] != nil, "token lacks \(key)") }
        }
    }

    @Test func githubDocumentedSampleAcceptedOnBothPaths() throws {
        let url = try #require(Bundle.module.url(forResource: "github-docs-sample", withExtension: "json", subdirectory: "Resources"))
        let sample = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let documentPath = try temporaryDirectory("docs") + "/keys.json"
        try JSONSerialization.data(withJSONObject: ["public_keys": sample["public_keys"] as Any]).write(to: URL(fileURLWithPath: documentPath))
        let docsKeys = try FakeKeyServer(directory: NSTemporaryDirectory(), documentPath: documentPath)
        defer { docsKeys.stop() }
        let receiver = try Receiver(vendors: { _ in [["id": "github", "kind": "github", "keys_url": docsKeys.url]] })
        let cases = try #require(sample["cases"] as? [[String: Any]])
        for c in cases {
            let body = Array(try #require(c["body"] as? String).utf8)
            let expected = (c["expected"] as? String) == "valid" ? 204 : 400
            for target in [receiver.detectURL, receiver.vendorURL("github")] {
                let r = try receiver.post(body, url: target, keyID: c["key_identifier"] as? String, signature: c["signature"] as? String)
                #expect(r.status == expected, "\(c["name"] ?? "case") at \(target)")
            }
        }
        // The sample's token is of a type we do not issue: recorded as unknown_type, twice.
        #expect(try receiver.eventually { try receiver.listJSON("disclosures").count == 2 })
        #expect(try receiver.listJSON("disclosures").allSatisfy { $0["outcome"] as? String == "unknown_type" })
    }

    @Test func everyVendorIsFoundByItsHeaderPair() throws {
        let receiver = try Receiver(vendors: { keys in [
            ["id": "github", "kind": "github", "keys_url": keys.url],
            ["id": "depsdev", "kind": "depsdev", "keys_url": keys.url],
            ["id": "gitlab", "kind": "gitlab", "keys_url": keys.url],
            ["id": "acme", "kind": "generic", "keys_url": keys.url,
             "key_identifier_header": "Acme-Key-Id", "signature_header": "Acme-Signature"],
        ] })
        let pairs: [(String, (String, String))] = [
            ("github", ("Github-Public-Key-Identifier", "Github-Public-Key-Signature")),
            ("depsdev", ("GOSST-Public-Key-Identifier", "GOSST-Public-Key-Signature")),
            ("gitlab", ("Gitlab-Public-Key-Identifier", "Gitlab-Public-Key-Signature")),
            ("acme", ("acme-key-id", "ACME-SIGNATURE")),
        ]
        for (vendor, headers) in pairs {
            let body = report(["pypi-\(vendor)"], url: "https://example.com/\(vendor)")
            #expect(try receiver.post(body, headerNames: headers).status == 204, "\(vendor) on the detecting path")
            #expect(try receiver.post(body, url: receiver.vendorURL(vendor), headerNames: headers).status == 204, "\(vendor) on its own path")
            // Another vendor's path does not accept this vendor's headers.
            let other = vendor == "github" ? "gitlab" : "github"
            #expect(try receiver.post(body, url: receiver.vendorURL(other), headerNames: headers).status == 400)
        }
        #expect(try receiver.eventually { try receiver.listJSON("disclosures").count == 8 })
        let byVendor = Dictionary(grouping: try receiver.listJSON("disclosures"), by: { $0["vendor"] as? String ?? "" })
        for (vendor, _) in pairs {
            #expect(byVendor[vendor]?.count == 2)
            #expect(byVendor[vendor]?.allSatisfy { ($0["url"] as? String) == "https://example.com/\(vendor)" } == true)
        }
        let metrics = String(decoding: try HTTPClient().get(receiver.base + "/metrics").body, as: UTF8.self)
        for (vendor, _) in pairs { #expect(metrics.contains("tokenscan_reports_verified_total{vendor=\"\(vendor)\"} 2")) }
    }

    @Test func routingAnswers() throws {
        let receiver = try Receiver()
        let body = report(["pypi-abc"])
        // No vendor's header pair on the detecting path.
        let plain = try HTTPClient().post(receiver.detectURL, headers: ["Content-Type": "application/json"], body: body)
        #expect(plain.status == 404)
        // Unknown vendor id.
        #expect(try receiver.post(body, url: receiver.vendorURL("nosuchvendor")).status == 404)
        #expect(try HTTPClient().get(receiver.base + "/nothing/here").status == 404)
        // Other methods.
        for method in ["GET", "PUT", "DELETE", "PATCH"] {
            for path in ["/_/secrets/disclose-token", "/_/secrets/github/disclose-token"] {
                let s = try RawSocket(port: receiver.port)
                s.send("\(method) \(path) HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                let r = try #require(s.readResponse())
                #expect(r.status == 405, "\(method) \(path)")
                #expect(r.head.lowercased().contains("allow: post"))
            }
        }
        // Health endpoints.
        #expect(try HTTPClient().get(receiver.base + "/healthz").status == 200)
        #expect(try receiver.eventually { try HTTPClient().get(receiver.base + "/readyz").status == 200 })
        _ = try receiver.post(body)
        let metrics = try HTTPClient().get(receiver.base + "/metrics")
        #expect(metrics.status == 200)
        let text = String(decoding: metrics.body, as: UTF8.self)
        #expect(text.contains("tokenscan_reports_received_total{vendor=\"github\"}"))
        #expect(text.contains("tokenscan_request_duration_seconds_bucket{"))
        #expect(text.contains("tokenscan_key_cache_hits_total{vendor=\"github\"}"))
        #expect(text.contains("# TYPE tokenscan_jobs_pending gauge\ntokenscan_jobs_pending "))
        #expect(text.contains("# TYPE tokenscan_mail_pending gauge\ntokenscan_mail_pending "))
    }

    @Test func everyVerificationFailureLooksTheSame() throws {
        let receiver = try Receiver()
        let body = report(["pypi-abc"])
        let good = try receiver.keys.signature(body)
        var variants: [(String, () throws -> HTTPClientResponse)] = [
            ("wrong signature", { try receiver.post(body, signature: try receiver.keys.signature(Array("other".utf8))) }),
            ("body changed", { try receiver.post(body + [0x0a], signature: good) }),
            ("unknown key id", { try receiver.post(body, keyID: String(repeating: "ab", count: 32)) }),
            ("not base64", { try receiver.post(body, signature: "!!!not base64!!!") }),
            ("base64 but not DER", { try receiver.post(body, signature: Base64.encodeStandard(Array("hello there, not a signature".utf8))) }),
            ("url-safe alphabet", { try receiver.post(body, signature: good.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_") + "-_") }),
            ("empty signature", { try receiver.post(body, signature: "") }),
            ("100 KB key id", { try receiver.post(body, keyID: String(repeating: "k", count: 100_000)) }),
            ("missing signature on vendor path", {
                try HTTPClient().post(receiver.vendorURL("github"), headers: ["Github-Public-Key-Identifier": receiver.keys.keyID], body: body)
            }),
            ("doubled signature header", {
                try receiver.post(body, extraHeaders: ["Github-Public-Key-Signature": good])
            }),
        ]
        variants.append(("lower-case header names, wrong signature", {
            try receiver.post(body, signature: try receiver.keys.signature(Array("x".utf8)),
                              headerNames: ("github-public-key-identifier", "github-public-key-signature"))
        }))
        for (name, send) in variants {
            let r = try send()
            // A 100 KB header may be refused by the HTTP layer before routing; anything but 4xx is wrong.
            if name == "100 KB key id" {
                #expect((400...499).contains(r.status), "\(name): \(r.status)")
                continue
            }
            #expect(r.status == 400, "\(name): \(r.status)")
            #expect(String(decoding: r.body, as: UTF8.self) == Self.uniform400, "\(name)")
        }
        // Header names match case-insensitively.
        #expect(try receiver.post(body, headerNames: ("GITHUB-PUBLIC-KEY-IDENTIFIER", "github-public-key-signature")).status == 204)
        let metrics = String(decoding: try HTTPClient().get(receiver.base + "/metrics").body, as: UTF8.self)
        #expect(metrics.contains("reason=\"invalid_signature\""))
        #expect(metrics.contains("reason=\"unknown_key_id\""))
        #expect(metrics.contains("reason=\"malformed_signature\""))
        #expect(metrics.contains("reason=\"missing_headers\""))
    }

    @Test func badBodiesAndLimits() throws {
        let receiver = try Receiver(extra: ["limits": ["max_body_bytes": 65_536, "max_items": 100]])
        func send(_ body: [UInt8]) throws -> HTTPClientResponse { try receiver.post(body) }
        for (name, body) in [("not JSON", Array("this is not json".utf8)), ("object", Array("{\"token\":\"x\"}".utf8)),
                             ("empty body", []), ("non-UTF-8", [0xff, 0xfe, 0x5b, 0x5d, 0x80]),
                             ("nested junk", Array((String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)).utf8)),
                             ("number", Array("42".utf8))] {
            let r = try send(body)
            #expect(r.status == 400, "\(name): \(r.status)")
            let json = try? JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]
            #expect(json?["error"] is String, "\(name) answers a JSON error")
        }
        // Too many items.
        #expect(try send(report(Array(repeating: "pypi-x", count: 101))).status == 413)
        // Over the body limit, declared up front: 413 before the body is read.
        let s = try RawSocket(port: receiver.port)
        s.send("POST /_/secrets/disclose-token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n"
               + "Github-Public-Key-Identifier: \(receiver.keys.keyID)\r\nGithub-Public-Key-Signature: AAAA\r\n\r\n")
        let r = try #require(s.readResponse())
        #expect(r.status == 413)
        // Over the limit, actually sent.
        let big = report(Array(repeating: String(repeating: "a", count: 1000), count: 90))
        #expect(big.count > 65_536)
        #expect(try send(big).status == 413)
        // Still healthy.
        #expect(try HTTPClient().get(receiver.base + "/healthz").status == 200)
        #expect(!receiver.output.contains("\"status\":\"500\""))
    }

    @Test func keysUnavailableAndNoneCachedIs503() throws {
        let deadPort = freePort()
        let receiver = try Receiver(vendors: { keys in [
            ["id": "github", "kind": "github", "keys_url": keys.url],
            ["id": "gone", "kind": "generic", "keys_url": "http://127.0.0.1:\(deadPort)/keys",
             "key_identifier_header": "Gone-Key", "signature_header": "Gone-Sig", "fetch_timeout_ms": 500],
        ] })
        let body = report(["pypi-abc"])
        let r = try receiver.post(body, headerNames: ("Gone-Key", "Gone-Sig"))
        #expect(r.status == 503)
        #expect(r.headers.single("Retry-After") != nil)
        let ready = try HTTPClient().get(receiver.base + "/readyz")
        #expect(ready.status == 503)
        #expect(String(decoding: ready.body, as: UTF8.self).contains("gone"))
        // The other vendor is unaffected.
        #expect(try receiver.post(body).status == 204)
    }

    @Test func keyServerGoneWithKeysCached() throws {
        let receiver = try Receiver()
        let body = report(["pypi-abc"])
        #expect(try receiver.post(body).status == 204)
        receiver.keys.stop()
        // Cached keys keep verifying; an unknown key id (forced refetch fails) is a verification failure.
        #expect(try receiver.post(body).status == 204)
        #expect(try receiver.post(body, keyID: "unknown-key").status == 400)
    }

    @Test func labelsMode() throws {
        let receiver = try Receiver(vendors: { keys in [["id": "github", "kind": "github", "keys_url": keys.url, "response": "labels"]] })
        let issued = try receiver.createToken(user: "carol")
        let revoked = try receiver.createToken(user: "dave")
        #expect(try receiver.post(report([revoked])).status == 200)
        #expect(try receiver.eventually { try receiver.listJSON("tokens", user: "dave").first?["revoked_at"] is String })
        let unknown = "pypi-AgEIcHlwaS5vcmcCJGUzNjQ0MjcwLTVlYWQtNDMyMi1hYjA3LWUwNjQ4ZWQ3YzA2MwAABiBIqC7gCvWQ8rcR5zOvJdXM7IuwVn1qGxbBIifQJCuXHQ"
        let garbage = "pypi-!!!!"
        let r = try receiver.post(report([issued, unknown, revoked, garbage]))
        #expect(r.status == 200)
        let labels = try #require(try JSONSerialization.jsonObject(with: Data(r.body)) as? [[String: String]])
        let byHash = Dictionary(labels.map { ($0["token_hash"] ?? "", $0["label"] ?? "") }, uniquingKeysWith: { a, _ in a })
        #expect(byHash[SHA256.hex(issued)] == "true_positive")
        #expect(byHash[SHA256.hex(revoked)] == "true_positive")
        #expect(byHash[SHA256.hex(unknown)] == "false_positive")
        #expect(byHash[SHA256.hex(garbage)] == "false_positive")
        #expect(labels.allSatisfy { $0["token_type"] != nil })
        #expect(!String(decoding: r.body, as: UTF8.self).contains(issued))
    }

    @Test func thousandItemReportWithTenMalformed() throws {
        let receiver = try Receiver()
        // Well-formed PyPI tokens we never issued (another root key): each becomes a job, then not_found.
        let stranger = PyPITokenMinter(rootKey: SecureRandom.bytes(32))
        var items: [Any] = (0..<990).map { i in
            ["token": stranger.mint().value, "type": "pypi_api_token", "url": "https://example.com/\(i)", "source": "commit"]
        }
        let malformed: [Any] = [42, "string", ["type": "pypi_api_token"], ["token": 7], ["token": ""], NSNull(),
                                ["token": ["nested": true]], [], ["token": String(repeating: "x", count: 10_000)], ["url": "u"]]
        items.insert(contentsOf: malformed, at: 500)
        let body = Array(try JSONSerialization.data(withJSONObject: items))
        let started = Date()
        let r = try receiver.post(body)
        #expect(r.status == 204)
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(try receiver.eventually(timeout: 60) {
            try receiver.listJSON("disclosures").filter { !($0["outcome"] is NSNull) }.count == 1000
        })
        let records = try receiver.listJSON("disclosures")
        #expect(records.count == 1000)
        #expect(records.filter { $0["outcome"] as? String == "invalid_format" }.count == 10)
        #expect(records.filter { $0["outcome"] as? String == "not_found" }.count == 990)
    }
}
