import Foundation
import SecretsCore
@testable import Server
import Testing

/// Calls a fake vendor responder in-process, as the page would.
struct FakeVendorClient {
    let responder: FakeVendorResponder

    init(target: String = "http://127.0.0.1:1/_/secrets/disclose-token") throws {
        responder = FakeVendorResponder(state: try FakeVendorState(path: nil), defaultTarget: target)
    }

    init(responder: FakeVendorResponder) { self.responder = responder }

    func call(_ method: String, _ path: String, json: String? = nil, headers: HTTPHeaders? = nil) -> HTTPResponse {
        var h = headers ?? HTTPHeaders()
        if headers == nil && method == "POST" { h.add("Content-Type", "application/json") }
        return responder.respond(to: HTTPRequest(method: method, path: path, headers: h, body: Array((json ?? "").utf8)))
    }

    /// The answer's JSON object; fails the test when it is not one.
    func object(_ response: HTTPResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
    }

    func keys() throws -> [[String: Any]] {
        let response = call("GET", "/api/keys")
        #expect(response.status == 200)
        return try #require(try object(response)["keys"] as? [[String: Any]])
    }

    func createKey() throws -> String {
        let response = call("POST", "/api/keys")
        #expect(response.status == 201)
        return try #require(try object(response)["id"] as? String)
    }

    func meta(_ path: String = FakeVendorResponder.metaPaths[0]) throws -> [(id: String, pem: String, current: Bool)] {
        let response = call("GET", path)
        #expect(response.status == 200)
        let document = try object(response)
        let keys = try #require(document["public_keys"] as? [[String: Any]])
        return try keys.map { key in
            (try #require(key["key_identifier"] as? String), try #require(key["key"] as? String), try #require(key["is_current"] as? Bool))
        }
    }
}

extension HTTPResponse {
    var text: String { String(decoding: body, as: UTF8.self) }

    /// The `error` words of a 4xx answer.
    var errorMessage: String? {
        (try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])?["error"] as? String
    }
}

@Suite("FakeVendor API")
struct FakeVendorAPITests {
    @Test("keys: create, make current, reorder, delete")
    func keyLifecycle() throws {
        let api = try FakeVendorClient()
        #expect(try api.keys().isEmpty)
        let a = try api.createKey()
        let b = try api.createKey()
        let c = try api.createKey()
        var keys = try api.keys()
        #expect(keys.map { $0["id"] as? String } == [a, b, c])
        #expect(keys.map { $0["is_current"] as? Bool } == [true, false, false])
        #expect(keys.allSatisfy { $0["private_pem"] == nil })

        #expect(api.call("POST", "/api/keys/\(b)/current").status == 200)
        keys = try api.keys()
        #expect(keys.map { $0["is_current"] as? Bool } == [false, true, false])

        #expect(api.call("POST", "/api/keys/order", json: "{\"ids\":[\"\(c)\",\"\(b)\",\"\(a)\"]}").status == 200)
        #expect(try api.keys().map { $0["id"] as? String } == [c, b, a])
        // A bare array is accepted too.
        #expect(api.call("POST", "/api/keys/order", json: "[\"\(a)\",\"\(b)\",\"\(c)\"]").status == 200)
        #expect(try api.keys().map { $0["id"] as? String } == [a, b, c])

        #expect(api.call("DELETE", "/api/keys/\(a)").status == 200)
        #expect(try api.keys().map { $0["id"] as? String } == [b, c])
        #expect(try api.meta().map(\.id) == [b, c])
    }

    @Test("the meta document lists sha256(PEM) ids, in order, and its PEMs verify the fake vendor's signatures",
          arguments: FakeVendorResponder.metaPaths)
    func metaDocument(path: String) throws {
        let api = try FakeVendorClient()
        let first = try api.createKey()
        let second = try api.createKey()
        #expect(api.call("POST", "/api/keys/order", json: "[\"\(second)\",\"\(first)\"]").status == 200)

        let published = try api.meta(path)
        #expect(published.map(\.id) == [second, first])
        #expect(published.map(\.current) == [false, true])
        for key in published {
            #expect(key.id == SHA256.hex(key.pem))
            #expect(key.pem.hasSuffix("-----END PUBLIC KEY-----\n"))
        }

        let body = "[{\"token\":\"pypi-x\",\"type\":\"pypi_api_token\",\"url\":\"\"}]"
        let signer = FakeVendorSigner(state: api.responder.state)
        for tamper in [FakeVendorTamper.none, .notCurrentKey] {
            let signed = try signer.sign(body, tamper: tamper)
            let key = try #require(published.first { $0.id == signed.keyID })
            let publicKey = try P256.Signing.PublicKey(pemRepresentation: key.pem)
            let signature = try P256.Signing.Signature(base64Header: signed.signature)
            #expect(publicKey.isValidSignature(signature, for: Array(body.utf8)))
            #expect(key.current == (tamper == .none))
        }
    }

    @Test("the meta document carries an ETag; If-None-Match answers 304 until the keys change")
    func etag() throws {
        let api = try FakeVendorClient()
        _ = try api.createKey()
        let path = FakeVendorResponder.metaPaths[0]
        let first = api.call("GET", path)
        let etag = try #require(first.headers.single("ETag"))
        #expect(etag.hasPrefix("\"") && etag.hasSuffix("\""))
        #expect(first.headers.single("Content-Type") == "application/json")

        for header in [etag, "W/\(etag)", "\"other\", \(etag)", "*"] {
            let again = api.call("GET", path, headers: ["If-None-Match": header])
            #expect(again.status == 304, "If-None-Match: \(header)")
            #expect(again.body.isEmpty)
            #expect(again.headers.single("ETag") == etag)
        }
        #expect(api.call("GET", path, headers: ["If-None-Match": "\"stale\""]).status == 200)

        _ = try api.createKey()
        let changed = api.call("GET", path, headers: ["If-None-Match": etag])
        #expect(changed.status == 200)
        #expect(changed.headers.single("ETag") != etag)
    }

    @Test("build makes the vendors' report format, exactly")
    func build() throws {
        let api = try FakeVendorClient()
        let one = api.call("POST", "/api/build", json: """
            {"token":"pypi-abc","type":"pypi_api_token","url":"https://github.com/o/r/blob/main/x.py","source":"commit","count":1}
            """)
        #expect(one.status == 200)
        #expect(try api.object(one)["payload"] as? String == """
            [{"token":"pypi-abc","type":"pypi_api_token","url":"https://github.com/o/r/blob/main/x.py","source":"commit"}]
            """)

        // Defaults: type pypi_api_token, url empty, source left out, one item.
        let minimal = api.call("POST", "/api/build", json: "{\"token\":\"t\\\"q\"}")
        #expect(try api.object(minimal)["payload"] as? String == "[{\"token\":\"t\\\"q\",\"type\":\"pypi_api_token\",\"url\":\"\"}]")

        let many = api.call("POST", "/api/build", json: "{\"token\":\"t\",\"count\":10000}")
        let payload = try #require(try api.object(many)["payload"] as? String)
        let items = try #require(try JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [[String: String]])
        #expect(items.count == 10_000)
        #expect(Set(items.map { $0["token"] }) == ["t"])
    }

    @Test("bad input is a 4xx with words", arguments: [
        // (method, path, body, expected status, words in the error)
        ("POST", "/api/build", "{\"token\":\"t\",\"count\":0}", 400, "count"),
        ("POST", "/api/build", "{\"token\":\"t\",\"count\":10001}", 400, "count"),
        ("POST", "/api/build", "{\"token\":\"t\",\"count\":1.5}", 400, "whole number"),
        ("POST", "/api/build", "{\"token\":\"t\",\"count\":\"5\"}", 400, "count"),
        ("POST", "/api/build", "{\"count\":1}", 400, "token"),
        ("POST", "/api/build", "{\"token\":\"\"}", 400, "token"),
        ("POST", "/api/build", "{\"token\":5}", 400, "string"),
        ("POST", "/api/build", "{not json", 400, "not valid JSON"),
        ("POST", "/api/build", "[1]", 400, "object"),
        ("POST", "/api/send", "{\"body\":\"[]\"}", 409, "current"),
        ("POST", "/api/send", "{}", 400, "body"),
        ("POST", "/api/send", "{\"body\":\"[]\",\"style\":\"acme\"}", 400, "github, depsdev, gitlab, custom"),
        ("POST", "/api/send", "{\"body\":\"[]\",\"tamper\":\"evil\"}", 400, "wrong_signature"),
        ("POST", "/api/send", "{\"body\":\"[]\",\"style\":\"custom\"}", 400, "key_id_header"),
        ("POST", "/api/send", "{\"body\":\"[]\",\"style\":\"custom\",\"key_id_header\":\"A B\",\"signature_header\":\"S\"}", 400, "not a valid header name"),
        ("POST", "/api/send", "{\"body\":\"[]\",\"style\":\"custom\",\"key_id_header\":\"Same\",\"signature_header\":\"same\"}", 400, "different"),
        ("POST", "/api/send", "{\"body\":\"[]\",\"target\":\"ftp://x/\"}", 400, "http"),
        ("POST", "/api/keys/feed/current", "", 404, "feed"),
        ("DELETE", "/api/keys/feed", "", 404, "feed"),
        ("POST", "/api/keys/order", "{\"ids\":[\"feed\"]}", 404, "feed"),
        ("POST", "/api/keys/order", "{\"ids\":\"feed\"}", 400, "array"),
        ("POST", "/api/keys/order", "{}", 400, "ids"),
        ("GET", "/api/nothing", "", 404, "no such"),
        ("PUT", "/api/keys", "", 405, "not allowed"),
        ("POST", "/meta/public_keys/secret_scanning", "", 405, "not allowed"),
    ] as [(String, String, String, Int, String)])
    func badInput(method: String, path: String, body: String, status: Int, words: String) throws {
        let api = try FakeVendorClient()
        let response = api.call(method, path, json: body)
        #expect(response.status == status, "\(method) \(path) \(body)")
        #expect(response.headers.single("Content-Type") == "application/json")
        let message = try #require(response.errorMessage)
        #expect(message.lowercased().contains(words.lowercased()), "\(message)")
    }

    @Test("sending with a tamper mode that needs a second key says so")
    func notCurrentNeedsSecondKey() throws {
        let api = try FakeVendorClient()
        _ = try api.createKey()
        let response = api.call("POST", "/api/send", json: "{\"body\":\"[]\",\"tamper\":\"not_current_key\"}")
        #expect(response.status == 409)
        #expect(response.errorMessage?.contains("second key") == true)
    }

    @Test("a POST without Content-Type: application/json is refused (a cross-site form cannot send one)")
    func requiresJSONContentType() throws {
        let api = try FakeVendorClient()
        for headers: HTTPHeaders in [[:], ["Content-Type": "application/x-www-form-urlencoded"], ["Content-Type": "text/plain"]] {
            let response = api.call("POST", "/api/keys", headers: headers)
            #expect(response.status == 415)
            #expect(response.errorMessage?.contains("application/json") == true)
        }
        #expect(try api.keys().isEmpty)
        #expect(api.call("POST", "/api/keys", headers: ["Content-Type": "Application/JSON; charset=utf-8"]).status == 201)
    }

    @Test("the page and its assets are served with a strict content security policy")
    func page() throws {
        let api = try FakeVendorClient()
        let page = api.call("GET", "/")
        #expect(page.status == 200)
        #expect(page.headers.single("Content-Type") == "text/html; charset=utf-8")
        #expect(page.headers.single("Content-Security-Policy")?.contains("default-src 'self'") == true)
        for id in ["create-key", "keys-table", "token", "type", "url", "source", "count", "build-report", "payload",
                   "style", "target", "tamper", "send", "result-status", "result-body", "error"] {
            #expect(page.text.contains("id=\"\(id)\""), "#\(id)")
        }
        // Every form field has a label.
        for field in ["token", "type", "url", "source", "count", "payload", "style", "target", "tamper", "key-id-header", "signature-header"] {
            #expect(page.text.contains("<label for=\"\(field)\""), "label for #\(field)")
        }
        #expect(api.call("GET", "/app.js").headers.single("Content-Type") == "text/javascript; charset=utf-8")
        #expect(api.call("GET", "/app.css").headers.single("Content-Type") == "text/css; charset=utf-8")
    }

    @Test("config tells the page the default target")
    func config() throws {
        let api = try FakeVendorClient(target: "http://127.0.0.1:8000/_/secrets/disclose-token")
        let config = try api.object(api.call("GET", "/api/config"))
        #expect(config["target"] as? String == "http://127.0.0.1:8000/_/secrets/disclose-token")
        #expect(config["styles"] as? [String] == ["github", "depsdev", "gitlab", "custom"])
    }

    @Test("malformed_json cuts the body so it is no longer JSON", arguments: [
        "[{\"token\":\"t\"}]", "[]\n", "{}", "1", "  ", "",
    ])
    func malformed(body: String) throws {
        let cut = FakeVendorSigner.malformed(Array(body.utf8))
        #expect(!cut.isEmpty)
        #expect((try? JSONSerialization.jsonObject(with: Data(cut), options: [.fragmentsAllowed])) == nil)
    }
}
