import Foundation
import SecretsCore
@testable import Server
import Synchronization
import Testing

/// A receiver that records every request and answers with a fixed response.
final class RecordingResponder: HTTPResponder {
    private let recorded = Mutex<[HTTPRequest]>([])
    let answer: HTTPResponse

    init(answer: HTTPResponse = HTTPResponse(status: 200, headers: ["Content-Type": "application/json", "X-Receiver": "test"],
                                             body: Array("[{\"label\":\"true_positive\"}]".utf8))) {
        self.answer = answer
    }

    func respond(to request: HTTPRequest) -> HTTPResponse {
        recorded.withLock { $0.append(request) }
        return answer
    }

    var requests: [HTTPRequest] { recorded.withLock { $0 } }
}

/// A live fake vendor sending to a live in-test receiver.
final class SendRig {
    let receiver = RecordingResponder()
    let receiverServer: HTTPServer
    let vendor: FakeVendor
    let http = HTTPClient()

    init() throws {
        receiverServer = HTTPServer(configuration: HTTPServerConfiguration(port: 0), responder: receiver)
        try receiverServer.start()
        let port = try #require(receiverServer.boundPort)
        vendor = try FakeVendor(port: 0, target: "http://127.0.0.1:\(port)/_/secrets/disclose-token", statePath: nil)
        try vendor.start()
    }

    deinit {
        vendor.stop(graceful: .zero)
        receiverServer.stop()
    }

    var api: FakeVendorClient { FakeVendorClient(responder: vendor.responder) }

    /// POSTs to the live fake vendor's API over HTTP, as the page does.
    func post(_ path: String, _ json: String) throws -> HTTPClientResponse {
        try http.post(vendor.baseURL + path, headers: ["Content-Type": "application/json"], body: Array(json.utf8))
    }

    /// Sends `body` through the live `/api/send` and answers the API's JSON and the request the receiver got.
    func send(_ fields: [String: String]) throws -> (answer: [String: Any], received: HTTPRequest) {
        let before = receiver.requests.count
        let json = try JSONSerialization.data(withJSONObject: fields)
        let response = try post("/api/send", String(decoding: json, as: UTF8.self))
        #expect(response.status == 200, "\(String(decoding: response.body, as: UTF8.self))")
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        let requests = receiver.requests
        try #require(requests.count == before + 1)
        return (answer, requests[before])
    }

    /// The published keys, from the live meta-API.
    func publishedKeys() throws -> [String: (pem: String, current: Bool)] {
        let response = try http.get(vendor.publicKeysURL)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        var keys: [String: (pem: String, current: Bool)] = [:]
        for key in try #require(document["public_keys"] as? [[String: Any]]) {
            keys[try #require(key["key_identifier"] as? String)] = (try #require(key["key"] as? String), try #require(key["is_current"] as? Bool))
        }
        return keys
    }
}

/// Whether `signature` (base64) verifies over `body` with `pem`.
func fakeVendorVerifies(pem: String, signature: String, body: [UInt8]) throws -> Bool {
    let key = try P256.Signing.PublicKey(pemRepresentation: pem)
    return key.isValidSignature(try P256.Signing.Signature(base64Header: signature), for: body)
}

@Suite("FakeVendor send", .serialized)
struct FakeVendorSendTests {
    /// Odd but valid bytes: spacing, a non-ASCII character and a trailing newline must arrive untouched.
    static let body = "[ {\"token\": \"pypi-AgEIcHlwaS5vcmc\", \"type\": \"pypi_api_token\", \"url\": \"https://example.org/ü\"} ]\n"

    @Test("each style sends the exact bytes under its header pair, signed by the current key", arguments: [
        ("github", "Github-Public-Key-Identifier", "Github-Public-Key-Signature"),
        ("depsdev", "GOSST-Public-Key-Identifier", "GOSST-Public-Key-Signature"),
        ("gitlab", "Gitlab-Public-Key-Identifier", "Gitlab-Public-Key-Signature"),
        ("custom", "Acme-Key-Id", "Acme-Signature"),
    ])
    func styles(style: String, keyHeader: String, signatureHeader: String) throws {
        let rig = try SendRig()
        _ = try rig.api.createKey()
        _ = try rig.api.createKey()
        let current = try #require(rig.vendor.state.currentKey)

        let (answer, received) = try rig.send(["style": style, "body": Self.body, "key_id_header": "Acme-Key-Id",
                                               "signature_header": "Acme-Signature"])
        #expect(received.method == "POST")
        #expect(received.path == "/_/secrets/disclose-token")
        #expect(received.body == Array(Self.body.utf8))
        #expect(received.headers.single("Content-Type") == "application/json")
        let keyID = try #require(received.headers.single(keyHeader))
        let signature = try #require(received.headers.single(signatureHeader))
        #expect(keyID == current.id)
        // Only this style's pair is sent.
        let pairs = ["Github", "GOSST", "Gitlab", "Acme"].filter { prefix in received.headers.contains { $0.name.hasPrefix(prefix) } }
        #expect(pairs.count == 1)

        let published = try rig.publishedKeys()
        let key = try #require(published[keyID])
        #expect(key.current)
        #expect(try fakeVendorVerifies(pem: key.pem, signature: signature, body: received.body))

        // The answer shows what was sent and what came back.
        let sent = try #require(answer["request_headers"] as? [[String: String]])
        #expect(sent.contains { $0["name"] == keyHeader && $0["value"] == keyID })
        #expect(sent.contains { $0["name"] == signatureHeader && $0["value"] == signature })
        #expect(answer["status"] as? Int == 200)
        #expect(answer["response_body"] as? String == "[{\"label\":\"true_positive\"}]")
        let back = try #require(answer["response_headers"] as? [[String: String]])
        #expect(back.contains { $0["name"]?.lowercased() == "x-receiver" && $0["value"] == "test" })
        #expect((answer["duration_ms"] as? Int).map { $0 >= 0 } == true)
        #expect(answer["style"] as? String == style)
    }

    @Test("every tamper mode does what it says", arguments: FakeVendorTamper.allCases)
    func tamper(mode: FakeVendorTamper) throws {
        let rig = try SendRig()
        let first = try rig.api.createKey()
        let second = try rig.api.createKey()
        #expect(rig.api.call("POST", "/api/keys/\(second)/current").status == 200)

        let (answer, received) = try rig.send(["body": Self.body, "tamper": mode.rawValue])
        #expect(answer["tamper"] as? String == mode.rawValue)
        let keyID = try #require(received.headers.single("Github-Public-Key-Identifier"))
        let signature = try #require(received.headers.single("Github-Public-Key-Signature"))
        #expect(answer["key_id"] as? String == keyID)
        let published = try rig.publishedKeys()

        switch mode {
        case .none:
            #expect(keyID == second)
            #expect(received.body == Array(Self.body.utf8))
            #expect(try fakeVendorVerifies(pem: try #require(published[keyID]).pem, signature: signature, body: received.body))
        case .wrongSignature:
            #expect(keyID == second)
            #expect(received.body == Array(Self.body.utf8))
            // Well-formed, but not a signature over these bytes by any published key.
            #expect(try P256.Signing.Signature(base64Header: signature).derRepresentation.count > 8)
            for key in published.values {
                #expect(try !fakeVendorVerifies(pem: key.pem, signature: signature, body: received.body))
            }
        case .unknownKeyID:
            #expect(published[keyID] == nil)
            #expect(keyID.count == 64)
            #expect(received.body == Array(Self.body.utf8))
            for key in published.values {
                #expect(try !fakeVendorVerifies(pem: key.pem, signature: signature, body: received.body))
            }
        case .notCurrentKey:
            #expect(keyID == first)
            let key = try #require(published[keyID])
            #expect(!key.current)
            #expect(try fakeVendorVerifies(pem: key.pem, signature: signature, body: received.body))
        case .malformedJSON:
            #expect(keyID == second)
            #expect(received.body != Array(Self.body.utf8))
            #expect((try? JSONSerialization.jsonObject(with: Data(received.body), options: [.fragmentsAllowed])) == nil)
            #expect(try fakeVendorVerifies(pem: try #require(published[keyID]).pem, signature: signature, body: received.body))
        }
    }

    @Test("a send is kept in history, newest first, and survives a restart")
    func history() throws {
        let folder = try fakeVendorTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let rig = try SendRig()
        _ = try rig.api.createKey()
        _ = try rig.send(["body": "[1]"])
        _ = try rig.send(["body": "[2]", "style": "gitlab"])

        let history = try #require(try rig.api.object(rig.api.call("GET", "/api/history"))["history"] as? [[String: Any]])
        #expect(history.map { $0["request_body"] as? String } == ["[2]", "[1]"])
        #expect(history.map { $0["style"] as? String } == ["gitlab", "github"])
        #expect(history.allSatisfy { $0["status"] as? Int == 200 })

        // Through a state file.
        let path = folder + "/state.json"
        let saved = try FakeVendorState(path: path)
        for send in rig.vendor.state.history.reversed() { try saved.record(send) }
        #expect(try FakeVendorState(path: path).history == rig.vendor.state.history)
    }

    @Test("an unreachable target is a 502 with words, and is recorded")
    func unreachable() throws {
        let rig = try SendRig()
        _ = try rig.api.createKey()
        // Bind a port, then free it: nothing listens there.
        let dead = HTTPServer(configuration: HTTPServerConfiguration(port: 0), responder: RecordingResponder())
        try dead.start()
        let port = try #require(dead.boundPort)
        dead.stop()

        let response = try rig.post("/api/send", "{\"body\":\"[]\",\"target\":\"http://127.0.0.1:\(port)/x\"}")
        #expect(response.status == 502)
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        #expect((answer["error"] as? String)?.contains("could not send") == true)
        #expect(answer["status"] == nil || answer["status"] is NSNull)
        #expect(rig.vendor.state.history.first?.error != nil)
    }

    @Test("the live server answers the meta document with ETag and 304")
    func liveETag() throws {
        let rig = try SendRig()
        _ = try rig.api.createKey()
        let first = try rig.http.get(rig.vendor.publicKeysURL)
        #expect(first.status == 200)
        let etag = try #require(first.headers.single("ETag"))
        let second = try rig.http.get(rig.vendor.publicKeysURL, headers: ["If-None-Match": etag])
        #expect(second.status == 304)
        #expect(second.body.isEmpty)
        #expect(rig.vendor.publicKeysURL.hasSuffix("/meta/public_keys/secret_scanning"))
    }
}

@Suite("FakeVendor command line")
struct FakeVendorOptionsTests {
    @Test("defaults and every option")
    func options() throws {
        let defaults = try FakeVendorOptions([])
        #expect(defaults.port == 8964 && defaults.host == "127.0.0.1" && defaults.target.isEmpty)
        #expect(defaults.statePath == "fake-vendor-state.json")
        let given = try FakeVendorOptions(["--port", "0", "--host=::1", "--target", "http://127.0.0.1:8000/_/secrets/disclose-token",
                                           "--state", "/tmp/s.json"])
        #expect(given.port == 0 && given.host == "::1" && given.statePath == "/tmp/s.json")
        #expect(given.target == "http://127.0.0.1:8000/_/secrets/disclose-token")
    }

    @Test("mistakes are refused in words", arguments: [
        (["--port", "70000"], "port"), (["--port"], "needs a value"), (["--target", "ftp://x"], "http"),
        (["--colour", "red"], "unknown option"), (["stray"], "unexpected"),
    ])
    func mistakes(words: [String], expected: String) {
        #expect(throws: FakeVendorOptions.Problem.self) { try FakeVendorOptions(words) }
        do {
            _ = try FakeVendorOptions(words)
        } catch {
            #expect(error.description.contains(expected))
        }
    }
}
