import Foundation
import Testing
@testable import SecretsCore

@Suite("libcurl HTTP client, against a loopback server")
struct HTTPClientTests {
    @Test func getAnswersStatusHeadersAndBody() throws {
        let server = try KeyServer(document: Array(#"{"public_keys":[]}"#.utf8))
        let response = try HTTPClient().get(server.keysURL, headers: ["X-Test": "1"])
        #expect(response.status == 200)
        #expect(response.body == Array(#"{"public_keys":[]}"#.utf8))
        #expect(response.headers.single("content-type") == "application/json")
        #expect(response.headers.single("ETag")?.hasPrefix("\"") == true)
        #expect(try server.lastHeaders()["x-test"] == "1")
    }

    @Test func conditionalGetComesBackAs304() throws {
        let server = try KeyServer(document: Array(#"{"public_keys":[]}"#.utf8))
        let client = HTTPClient()
        let etag = try #require(try client.get(server.keysURL).headers.single("etag"))
        let again = try client.get(server.keysURL, headers: ["If-None-Match": etag])
        #expect(again.status == 304)
        #expect(again.body.isEmpty)
    }

    @Test func postSendsTheBodyBytes() throws {
        let server = try KeyServer()
        let body: [UInt8] = Array("binary \u{0}\u{1} body ✓".utf8)
        let response = try HTTPClient().post(server.url("/echo"), headers: ["Content-Type": "application/octet-stream"], body: body)
        #expect(response.status == 200)
        #expect(response.body == body)
    }

    @Test func errorStatusIsAResponseNotAnError() throws {
        let server = try KeyServer(mode: "error500")
        #expect(try HTTPClient().get(server.keysURL).status == 500)
    }

    @Test func responseOverTheLimitIsRefused() throws {
        let server = try KeyServer()
        let client = HTTPClient(maxResponseBytes: 1000)
        #expect(try client.get(server.url("/big?n=1000")).body.count == 1000)
        do {
            _ = try client.get(server.url("/big?n=1001"))
            Issue.record("accepted a body over the limit")
        } catch {
            #expect(error.isResponseTooLarge)
        }
    }

    @Test func refusedConnectionCarriesCurlsMessageAndCode() throws {
        let server = try KeyServer()
        let url = server.keysURL
        server.stop()
        do {
            _ = try HTTPClient().get(url)
            Issue.record("a stopped server answered")
        } catch {
            #expect(error.curlCode == 7) // CURLE_COULDNT_CONNECT
            #expect(error.description.contains("onnect"))
        }
    }

    @Test func totalTimeoutAbandonsAServerThatNeverAnswers() throws {
        let server = try KeyServer(mode: "hang")
        let start = ContinuousClock.now
        do {
            _ = try HTTPClient().get(server.keysURL, timeouts: HTTPTimeouts(connect: .milliseconds(200), total: .milliseconds(300)))
            Issue.record("a hanging server answered")
        } catch {
            #expect(error.isTimeout)
        }
        #expect(ContinuousClock.now - start < .seconds(2))
    }

    @Test(arguments: ["file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1/", "", "127.0.0.1:80/keys"])
    func onlyHTTPAndHTTPSAreFetched(_ url: String) {
        #expect(throws: HTTPClientError.self) { try HTTPClient().get(url) }
    }

    @Test(arguments: [("X-Evil", "a\r\nInjected: yes"), ("Bad Name", "v"), ("", "v"), ("X-Nul", "a\u{0}b")])
    func headersThatCannotBeSentAreRefused(_ name: String, _ value: String) throws {
        #expect(throws: HTTPClientError.self) { try HTTPClient().get("http://127.0.0.1:9/", headers: HTTPHeaders([(name: name, value: value)])) }
    }

    @Test func timeoutConversionNeverMeansNoTimeout() {
        #expect(HTTPClient.milliseconds(.zero) == 1)
        #expect(HTTPClient.milliseconds(.milliseconds(300)) == 300)
        #expect(HTTPClient.milliseconds(.seconds(5)) == 5000)
        #expect(HTTPClient.milliseconds(.seconds(Int64.max)) == Int(Int32.max))
    }
}
