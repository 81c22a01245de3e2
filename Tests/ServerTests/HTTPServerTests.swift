import Foundation
import SecretsCore
@testable import Server
import Testing

@Suite("HTTPServer basics")
struct HTTPServerTests {
    @Test("GET roundtrip: method, path and raw query reach the responder")
    func getRoundtrip() throws {
        try withServer { _, port in
            let client = try RawHTTPClient(port: port)
            let response = try client.request(path: "/a/b%20c?x=1&y=%41+b&x=2")
            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "application/json")
            let echo = try response.echo()
            #expect(echo.method == "GET")
            #expect(echo.path == "/a/b%20c")
            #expect(echo.query == "x=1&y=%41+b&x=2")
            #expect(echo.bodyLength == 0)
        }
    }

    @Test("POST body arrives byte for byte, non-UTF-8 included")
    func postExactBytes() throws {
        var body = Array("[{\"token\":\"pypi-abc\"}]\r\n".utf8)
        body += [0x00, 0xFF, 0xFE, 0x80, 0xC3, 0x28, 0x0D, 0x0A]
        body += (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
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
}
