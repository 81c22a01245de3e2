import Foundation
import Glibc
import SecretsCore
@testable import Server
import Testing

@Suite("HTTPServer: requests reach the responder as sent")
struct HTTPServerTests {
    @Test("GET roundtrip: method, path and raw query reach the responder untouched")
    func getRoundtrip() throws {
        try withServer { _, port in
            let client = try RawHTTPClient(port: port)
            let response = try client.request(path: "/a/b%20c?x=1&y=%41+b&x=2&flag&=v")
            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "application/json")
            let echo = try response.echo()
            #expect(echo.method == "GET")
            #expect(echo.path == "/a/b%20c")
            #expect(echo.query == "x=1&y=%41+b&x=2&flag&=v")
            #expect(echo.bodyLength == 0)
        }
    }

    @Test("no query, empty query, absolute-form target")
    func targets() throws {
        try withServer { _, port in
            let client = try RawHTTPClient(port: port)
            var echo = try client.request(path: "/healthz").echo()
            #expect(echo.path == "/healthz" && echo.query == "")
            echo = try client.request(path: "/p?").echo()
            #expect(echo.path == "/p" && echo.query == "")
            echo = try client.request(path: "http://example.org/q/r?s=t").echo()
            #expect(echo.path == "/q/r" && echo.query == "s=t")
        }
    }

    @Test("POST body arrives byte for byte, non-UTF-8 bytes included")
    func postExactBytes() throws {
        var body = Array("[{\"token\":\"pypi-abc\"}]\r\n".utf8)
        body += [0x00, 0xFF, 0xFE, 0x80, 0xC3, 0x28, 0x0D, 0x0A]
        body += (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        try withServer { _, port in
            let client = try RawHTTPClient(port: port)
            let response = try client.request(method: "POST", path: "/_/secrets/disclose-token", body: body)
            #expect(response.status == 200)
            let echo = try response.echo()
            #expect(echo.method == "POST")
            #expect(echo.bodyLength == body.count)
            #expect(echo.bodySHA256 == SHA256.hex(body))
        }
    }

    @Test("a chunked body is reassembled exactly")
    func chunkedBody() throws {
        let body: [UInt8] = (0..<5000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        try withServer { _, port in
            let client = try RawHTTPClient(port: port)
            try client.send("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            for start in stride(from: 0, to: body.count, by: 1200) {
                let piece = Array(body[start..<min(start + 1200, body.count)])
                try client.send(Array("\(String(piece.count, radix: 16))\r\n".utf8) + piece + [13, 10])
            }
            try client.send("0\r\n\r\n")
            let echo = try client.readResponse().echo()
            #expect(echo.bodyLength == body.count)
            #expect(echo.bodySHA256 == SHA256.hex(body))
        }
    }

    @Test("a 0-byte body: Content-Length 0, chunked with only the last chunk, and none at all",
          arguments: [
            "POST /z HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            "POST /z HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            "POST /z HTTP/1.1\r\nHost: x\r\n\r\n",
            "POST /z HTTP/1.0\r\n\r\n",
          ])
    func emptyBody(request: String) throws {
        try withServer { _, port in
            let client = try RawHTTPClient(port: port)
            try client.send(request)
            let response = try client.readResponse()
            #expect(response.status == 200)
            let echo = try response.echo()
            #expect(echo.method == "POST" && echo.path == "/z")
            #expect(echo.bodyLength == 0)
            #expect(echo.bodySHA256 == SHA256.hex([UInt8]()))
        }
    }

    @Test("doubled headers are kept, in order, with their names as sent; bad UTF-8 is decoded lossily")
    func duplicateHeaders() throws {
        try withServer { _, port in
            let client = try RawHTTPClient(port: port)
            var raw = Array("POST /h HTTP/1.1\r\nHost: x\r\nGithub-Public-Key-Identifier: one\r\n".utf8)
            raw += Array("X-Other: a\r\ngithub-public-key-identifier: two\r\nGITHUB-PUBLIC-KEY-SIGNATURE: s1\r\n".utf8)
            raw += Array("X-Binary: caf".utf8) + [0xE9, 0xFF] + Array("!\r\nContent-Length: 2\r\n\r\nhi".utf8)
            try client.send(raw)
            let echo = try client.readResponse().echo()
            let names = echo.headers.map(\.name)
            #expect(names == ["Host", "Github-Public-Key-Identifier", "X-Other", "github-public-key-identifier",
                              "GITHUB-PUBLIC-KEY-SIGNATURE", "X-Binary", "Content-Length"])
            let ids = echo.headers.filter { $0.name.lowercased() == "github-public-key-identifier" }.map(\.value)
            #expect(ids == ["one", "two"])
            #expect(echo.headers.first { $0.name == "X-Binary" }?.value == "caf\u{FFFD}\u{FFFD}!")
            #expect(echo.bodyLength == 2)
        }
    }

    @Test("HEAD and unusual methods reach the responder as they are; HEAD gets no body")
    func methods() throws {
        try withServer { _, port in
            let client = try RawHTTPClient(port: port)
            let head = try client.request(method: "HEAD", path: "/x")
            #expect(head.status == 200)
            #expect(head.body.isEmpty)
            #expect(Int(head.header("Content-Length") ?? "") ?? 0 > 0)
            for method in ["DELETE", "PATCH", "OPTIONS", "BREW"] {
                let echo = try client.request(method: method, path: "/m").echo()
                #expect(echo.method == method)
            }
        }
    }

    @Test("keep-alive: many requests on one connection, pipelined too")
    func keepAlive() throws {
        try withServer { _, port in
            let client = try RawHTTPClient(port: port)
            for i in 0..<20 {
                #expect(try client.request(path: "/k/\(i)").echo().path == "/k/\(i)")
            }
            try client.send("GET /p/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p/2 HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readResponse().echo().path == "/p/1")
            #expect(try client.readResponse().echo().path == "/p/2")
        }
    }

    @Test("a responder's illegal header is dropped, the rest of its answer is sent; an invalid status becomes 500")
    func responderMistakes() throws {
        let responder = FixedResponder { request in
            if request.path == "/bad-status" { return HTTPResponse(status: 42, body: Array("x".utf8)) }
            return HTTPResponse(status: 201,
                                headers: ["X-Injected": "a\r\nSet-Cookie: evil=1", "X-Empty": "", "Bad Name": "v",
                                          "X-Nul": "a\u{0}b", "Content-Length": "999", "X-Fine": "yes"],
                                body: Array("created".utf8))
        }
        try withServer(responder: responder) { _, port in
            let client = try RawHTTPClient(port: port)
            let response = try client.request(path: "/headers")
            #expect(response.status == 201)
            #expect(response.text == "created")
            #expect(response.header("X-Fine") == "yes")
            #expect(response.header("Set-Cookie") == nil)
            #expect(response.header("X-Injected") == nil)
            #expect(response.header("X-Nul") == nil)
            #expect(response.header("Content-Length") == "7")
            let bad = try client.request(path: "/bad-status")
            #expect(bad.status == 500)
            #expect(bad.body.isEmpty)
        }
    }

    @Test("every request is counted in flight while it runs and uncounted once done, whatever its fate")
    func inFlightReturnsToZero() throws {
        try withServer { server, port in
            let client = try RawHTTPClient(port: port)
            _ = try client.request(path: "/1")
            try waitUntil { server.inFlight == 0 }
            // A client that leaves mid-body and one that leaves mid-headers.
            let leaving = try RawHTTPClient(port: port)
            try leaving.send("POST /gone HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
            let early = try RawHTTPClient(port: port)
            try early.send("GET /half HTTP/1.1\r\nHost: x\r\nX-A: b")
            try waitUntil { server.inFlight == 2 }
            leaving.close()
            early.close()
            try waitUntil(timeout: .seconds(2)) { server.inFlight == 0 }
            #if DEBUG
            #expect(server.liveRequestStates == 0)
            #endif
        }
    }

    /// Regression: with libmicrohttpd's epoll loop, a FIN arriving with the last bytes went unnoticed until
    /// the connection timeout (10 s here) — in most rounds.
    @Test("a client that leaves mid-request is noticed at once, not at the timeout")
    func closeWithLastBytes() throws {
        try withServer { server, port in
            for round in 0..<100 {
                let client = try RawHTTPClient(port: port, timeout: .seconds(2))
                try client.send(round % 2 == 0 ? "GET /half HTTP/1.1\r\nHost: x\r\nX-A: b"
                                               : "POST /gone HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nabc")
                client.shutdownWrite()
                guard client.waitForClose() else {
                    Issue.record("round \(round): the server did not close within 2 s of the client's FIN")
                    return
                }
            }
            try waitUntil(timeout: .seconds(2)) { server.inFlight == 0 }
        }
    }
}

@Suite("HTTPServer: lifecycle and configuration")
struct HTTPServerLifecycleTests {
    @Test("port 0 picks a free port; boundPort is nil before start")
    func boundPort() throws {
        let server = HTTPServer(responder: EchoResponder())
        #expect(server.boundPort == nil)
        try server.start()
        let port = try #require(server.boundPort)
        #expect(port > 0)
        #expect(server.isRunning)
        server.stop()
        #expect(!server.isRunning)
        #expect(server.boundPort == port)
    }

    @Test("a port in use is a start failure that says why")
    func portInUse() throws {
        try withServer { _, port in
            let second = HTTPServer(configuration: HTTPServerConfiguration(port: port), responder: EchoResponder())
            let error = #expect(throws: HTTPServerError.self) { try second.start() }
            #expect(error?.code == .startFailed)
            #expect(error?.message.contains("in use") == true)
        }
    }

    @Test("a server starts once")
    func startTwice() throws {
        try withServer { server, _ in
            let error = #expect(throws: HTTPServerError.self) { try server.start() }
            #expect(error?.code == .alreadyStarted)
        }
    }

    @Test("invalid configurations are refused before anything binds",
          arguments: [
            HTTPServerConfiguration(host: "example.org"),
            HTTPServerConfiguration(host: "127.0.0.1\u{0}"),
            HTTPServerConfiguration(port: 70000),
            HTTPServerConfiguration(threadPoolSize: 0),
            HTTPServerConfiguration(connectionTimeout: .zero),
            HTTPServerConfiguration(maxBodyBytes: -1),
            HTTPServerConfiguration(connectionMemoryLimit: 100),
          ])
    func invalidConfiguration(configuration: HTTPServerConfiguration) {
        let server = HTTPServer(configuration: configuration, responder: EchoResponder())
        let error = #expect(throws: HTTPServerError.self) { try server.start() }
        #expect(error?.code == .invalidConfiguration)
    }

    @Test("listen addresses parse as HOST:PORT")
    func listenParsing() throws {
        let v4 = try HTTPServerConfiguration(listen: "127.0.0.1:8000")
        #expect(v4.host == "127.0.0.1" && v4.port == 8000)
        let v6 = try HTTPServerConfiguration(listen: "[::1]:9")
        #expect(v6.host == "[::1]" && v6.port == 9)
        let any = try HTTPServerConfiguration(listen: ":8080")
        #expect(any.host == "0.0.0.0" && any.port == 8080)
        for bad in ["8000", "host:80", "127.0.0.1:x", "127.0.0.1:-1", "1.2.3.4:65536"] {
            #expect(throws: HTTPServerError.self) { try HTTPServerConfiguration(listen: bad) }
        }
    }

    @Test("an IPv6 loopback server answers over IPv6")
    func ipv6() throws {
        let server = HTTPServer(configuration: HTTPServerConfiguration(host: "::1"), responder: EchoResponder())
        do {
            try server.start()
        } catch {
            // No IPv6 on this host: nothing to check.
            return
        }
        defer { server.stop() }
        let port = try #require(server.boundPort)
        let response = try RawHTTPClient(port: port, host: "::1").request(path: "/six")
        #expect(try response.echo().path == "/six")
    }

    @Test("the defaults are the documented ones")
    func defaults() {
        let c = HTTPServerConfiguration()
        #expect(c.host == "127.0.0.1" && c.port == 0)
        #expect(c.threadPoolSize == ProcessInfo.processInfo.activeProcessorCount)
        #expect(c.connectionLimit == 1024)
        #expect(c.connectionTimeout == .seconds(10))
        #expect(c.maxBodyBytes == 8 * 1024 * 1024)
        #expect(c.connectionMemoryLimit == 64 * 1024)
        #expect(HTTPServerConfiguration(connectionTimeout: .milliseconds(1500)).connectionTimeoutSeconds == 2)
    }
}
