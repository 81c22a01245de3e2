import Foundation
import Glibc
import SecretsCore
@testable import Server
import Testing

@Suite("HTTPServer: limits answer cleanly")
struct HTTPServerLimitsTests {
    static let small = HTTPServerConfiguration(maxBodyBytes: 1000)

    @Test("a body exactly at the limit is accepted")
    func atLimit() throws {
        try withServer(Self.small) { _, port in
            let body = [UInt8](repeating: 0x41, count: 1000)
            let response = try RawHTTPClient(port: port).request(method: "POST", path: "/x", body: body)
            #expect(response.status == 200)
            #expect(try response.echo().bodyLength == 1000)
        }
    }

    @Test("Content-Length over the limit: 413 from the headers alone, the responder is not called, the connection closes")
    func contentLengthOverLimit() throws {
        let responder = EchoResponder()
        try withServer(Self.small, responder: responder) { _, port in
            let client = try RawHTTPClient(port: port)
            try client.send("POST /_/secrets/disclose-token HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 413)
            #expect(response.text.contains("larger than 1000 bytes"))
            #expect(response.header("Connection")?.lowercased() == "close")
            #expect(client.waitForClose())
            #expect(responder.callCount == 0)
        }
    }

    @Test("a sender that sends the whole oversized body without waiting still reads its 413")
    func contentLengthOverLimitWithBody() throws {
        try withServer(Self.small) { _, port in
            let client = try RawHTTPClient(port: port)
            let body = [UInt8](repeating: 0x42, count: 20_000)
            try client.send(Array("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 20000\r\n\r\n".utf8) + body)
            #expect(try client.readResponse().status == 413)
        }
    }

    @Test("Expect: 100-continue over the limit gets the 413 instead of 100 Continue")
    func expectContinueOverLimit() throws {
        try withServer(Self.small) { _, port in
            let client = try RawHTTPClient(port: port)
            try client.send("POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 8000000\r\n\r\n")
            #expect(try client.readResponse().status == 413)
        }
    }

    @Test("Expect: 100-continue within the limit gets 100 Continue, then the answer")
    func expectContinue() throws {
        try withServer(Self.small) { _, port in
            let client = try RawHTTPClient(port: port)
            try client.send("POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
            #expect(try client.readResponse().status == 100)
            try client.send("abc")
            #expect(try client.readResponse().echo().bodyLength == 3)
        }
    }

    @Test("a Content-Length beyond 64 bits is 413 (libmicrohttpd answers it)")
    func contentLengthOverflow() throws {
        try withServer(Self.small) { _, port in
            let client = try RawHTTPClient(port: port)
            try client.send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n")
            #expect(try client.readResponse().status == 413)
        }
    }

    @Test("a chunked body that passes the limit is answered 413, and the connection stays usable")
    func chunkedOverLimit() throws {
        let responder = EchoResponder()
        try withServer(Self.small, responder: responder) { _, port in
            let client = try RawHTTPClient(port: port)
            try client.send("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in 0..<3 {
                try client.send("258\r\n" + String(repeating: "z", count: 600) + "\r\n")
            }
            try client.send("0\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 413)
            #expect(responder.callCount == 0)
            #expect(try client.request(path: "/after").status == 200)
        }
    }

    @Test("a chunked body that never ends is cut off: the connection is dropped after a bounded drain")
    func chunkedFlood() throws {
        let responder = EchoResponder()
        try withServer(Self.small, responder: responder) { server, port in
            let client = try RawHTTPClient(port: port)
            try client.send("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
            let chunk = "2000\r\n" + String(repeating: "f", count: 0x2000) + "\r\n"
            var closed = false
            for _ in 0..<200 {  // 1.6 MB, far past limit + drain (1000 + 64 KiB)
                do { try client.send(chunk) } catch { closed = true; break }
            }
            #expect(closed || client.waitForClose())
            #expect(responder.callCount == 0)
            try waitUntil { server.inFlight == 0 }
        }
    }

    @Test("framing the server will not guess at is 400",
          arguments: [
            "Content-Length: abc",                            // libmicrohttpd
            "Content-Length: 5\r\nContent-Length: 6",         // conflicting
            "Content-Length: -1",                             // libmicrohttpd
            "Transfer-Encoding: gzip",                        // unsupported coding
            "Transfer-Encoding: chunked\r\nContent-Length: 5", // both
          ])
    func badFraming(headers: String) throws {
        let responder = EchoResponder()
        try withServer(Self.small, responder: responder) { _, port in
            let client = try RawHTTPClient(port: port)
            try client.send("POST /x HTTP/1.1\r\nHost: x\r\n\(headers)\r\n\r\nhello")
            #expect(try client.readResponse().status == 400)
            #expect(responder.callCount == 0)
        }
    }

    @Test("malformed chunked encoding is 400 (libmicrohttpd answers it)")
    func malformedChunked() throws {
        let responder = EchoResponder()
        try withServer(Self.small, responder: responder) { _, port in
            let client = try RawHTTPClient(port: port)
            try client.send("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")
            #expect(try client.readResponse().status == 400)
            #expect(responder.callCount == 0)
        }
    }

    @Test("repeating the same Content-Length is fine")
    func repeatedContentLength() throws {
        try withServer(Self.small) { _, port in
            let client = try RawHTTPClient(port: port)
            try client.send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello")
            #expect(try client.readResponse().echo().bodyLength == 5)
        }
    }

    @Test("a 100 KB header is a clean 431 from libmicrohttpd, a 30 KB one passes, and the server lives on")
    func hugeHeader() throws {
        let responder = EchoResponder()
        try withServer(responder: responder) { _, port in
            let big = try RawHTTPClient(port: port)
            try big.send("GET /big HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 100_000) + "\r\n\r\n")
            let response = try big.readResponse()
            #expect(response.status == 431)
            #expect(big.waitForClose())

            let long = try RawHTTPClient(port: port)
            try long.send("GET /" + String(repeating: "u", count: 100_000) + " HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try long.readResponse().status == 414)

            let fine = try RawHTTPClient(port: port)
            let ok = try fine.request(path: "/ok", headers: [("X-Big", String(repeating: "b", count: 30_000))])
            #expect(ok.status == 200)
            #expect(try ok.echo().headers.first { $0.name == "X-Big" }?.value.count == 30_000)
            #expect(responder.callCount == 1)
        }
    }

    @Test("garbage instead of a request is 400 and does not reach the responder")
    func garbage() throws {
        let responder = EchoResponder()
        try withServer(responder: responder) { _, port in
            let client = try RawHTTPClient(port: port)
            try client.send([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03, 13, 10, 13, 10])
            let answered = (try? client.readResponse().status).map { $0 == 400 } ?? client.waitForClose()
            #expect(answered)
            #expect(responder.callCount == 0)
            #expect(try RawHTTPClient(port: port).request(path: "/still").status == 200)
        }
    }

    @Test("senders that stall after the headers are closed at the timeout and hold no thread meanwhile")
    func stalledSenders() throws {
        let configuration = HTTPServerConfiguration(threadPoolSize: 2, connectionTimeout: .seconds(1))
        let responder = EchoResponder()
        try withServer(configuration, responder: responder) { server, port in
            let clock = ContinuousClock()
            let start = clock.now
            var stalled: [RawHTTPClient] = []
            for i in 0..<8 {
                let client = try RawHTTPClient(port: port)
                if i % 2 == 0 {
                    try client.send("POST /stall HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial")
                } else {
                    try client.send("POST /stall HTTP/1.1\r\nHost: x\r\nX-Half: y")
                }
                stalled.append(client)
            }
            try waitUntil { server.inFlight == 8 }

            // Every pool thread has stalled connections; a new request is answered at once all the same.
            let before = clock.now
            let response = try RawHTTPClient(port: port).request(path: "/fresh")
            #expect(response.status == 200)
            #expect(clock.now - before < .milliseconds(500))

            for client in stalled { #expect(client.waitForClose()) }
            let elapsed = clock.now - start
            #expect(elapsed >= .milliseconds(900))
            #expect(elapsed < .seconds(4))
            #expect(responder.callCount == 1)
            try waitUntil { server.inFlight == 0 }
        }
    }

    @Test("an idle keep-alive connection is closed at the timeout")
    func idleKeepAlive() throws {
        try withServer(HTTPServerConfiguration(connectionTimeout: .seconds(1))) { _, port in
            let client = try RawHTTPClient(port: port)
            #expect(try client.request(path: "/once").status == 200)
            let clock = ContinuousClock()
            let start = clock.now
            #expect(client.waitForClose())
            #expect(clock.now - start < .seconds(4))
        }
    }
}
