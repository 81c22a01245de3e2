import Foundation
import Glibc
import SecretsCore
@testable import Server
import Synchronization
import Testing

/// Runs `count` threads, each calling `body(index)`, and waits for all of them.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for index in 0..<count {
        group.enter()
        let thread = Thread {
            body(index)
            group.leave()
        }
        thread.start()
    }
    group.wait()
}

@Suite("HTTPServer: concurrency and graceful stop")
struct HTTPServerConcurrencyTests {
    @Test("200 requests over keep-alive connections from 8 threads are all answered, each with its own echo")
    func concurrentKeepAlive() throws {
        let responder = EchoResponder()
        try withServer(responder: responder) { server, port in
            let answered = Atomic<Int>(0)
            let failures = Mutex<[String]>([])
            onThreads(8) { thread in
                do {
                    let client = try RawHTTPClient(port: port)
                    for i in 0..<25 {
                        let body = Array("thread \(thread) request \(i)".utf8)
                        let response = try client.request(method: "POST", path: "/t\(thread)/r\(i)",
                                                          headers: [("X-Thread", "\(thread)")], body: body)
                        let echo = try response.echo()
                        guard response.status == 200, echo.path == "/t\(thread)/r\(i)",
                              echo.bodySHA256 == SHA256.hex(body),
                              echo.headers.contains(Echo.Header(name: "X-Thread", value: "\(thread)")) else {
                            failures.withLock { $0.append("thread \(thread) request \(i): \(response.status)") }
                            continue
                        }
                        answered.add(1, ordering: .relaxed)
                    }
                } catch {
                    failures.withLock { $0.append("thread \(thread): \(error)") }
                }
            }
            #expect(failures.withLock { $0 } == [])
            #expect(answered.load(ordering: .relaxed) == 200)
            #expect(responder.callCount == 200)
            try waitUntil { server.inFlight == 0 }
        }
    }

    @Test("graceful stop: new connections are refused at once, the slow request in flight still gets its answer",
          arguments: [1, 2, 3])
    func gracefulStop(threads: Int) throws {
        let responder = EchoResponder(delay: .milliseconds(300))
        let server = HTTPServer(configuration: HTTPServerConfiguration(threadPoolSize: threads), responder: responder)
        try server.start()
        let port = try #require(server.boundPort)

        let slow = try RawHTTPClient(port: port)
        try slow.send(method: "POST", path: "/slow", body: Array("payload".utf8))
        try waitUntil { responder.callCount == 1 }

        let clock = ContinuousClock()
        let start = clock.now
        let result = Mutex<(drained: Bool, took: Duration)?>(nil)
        let stopper = Thread {
            let drained = server.stop(graceful: .seconds(5))
            result.withLock { $0 = (drained, clock.now - start) }
        }
        stopper.start()

        // While the slow request runs, the listen socket is gone: a new connection is refused.
        try waitUntil { !server.isRunning }
        usleep(50_000)
        #expect(result.withLock { $0 } == nil, "stop returned before the slow request finished")
        let refused = #expect(throws: RawHTTPClient.Failure.self) { try RawHTTPClient(port: port) }
        #expect(refused?.code == ECONNREFUSED)

        let response = try slow.readResponse(method: "POST")
        #expect(response.status == 200)
        #expect(try response.echo().path == "/slow")
        #expect(response.header("Connection")?.lowercased() == "close")

        try waitUntil { result.withLock { $0 } != nil }
        let (drained, took) = try #require(result.withLock { $0 })
        #expect(drained)
        #expect(took >= .milliseconds(200))
        #expect(took < .seconds(3))
        expectNoRequestLeft(server)
        #expect(throws: RawHTTPClient.Failure.self) { try RawHTTPClient(port: port) }
    }

    @Test("a grace shorter than the request: stop reports it, waits for the responder, and does not crash")
    func graceTooShort() throws {
        let responder = EchoResponder(delay: .milliseconds(300))
        let server = HTTPServer(configuration: HTTPServerConfiguration(threadPoolSize: 2), responder: responder)
        try server.start()
        let port = try #require(server.boundPort)
        let slow = try RawHTTPClient(port: port)
        try slow.send(method: "POST", path: "/slow", body: Array("x".utf8))
        try waitUntil { responder.callCount == 1 }
        let clock = ContinuousClock()
        let start = clock.now
        #expect(server.stop(graceful: .milliseconds(20)) == false)
        #expect(clock.now - start >= .milliseconds(150))
        expectNoRequestLeft(server)
        #expect(server.stop() == true)
    }

    @Test("stop with idle keep-alive connections returns at once")
    func stopWithIdleConnections() throws {
        let server = HTTPServer(responder: EchoResponder())
        try server.start()
        let port = try #require(server.boundPort)
        let clients = try (0..<5).map { _ in try RawHTTPClient(port: port) }
        for client in clients { #expect(try client.request(path: "/idle").status == 200) }
        let clock = ContinuousClock()
        let start = clock.now
        #expect(server.stop(graceful: .seconds(5)))
        #expect(clock.now - start < .seconds(1))
        for client in clients { #expect(client.waitForClose()) }
        expectNoRequestLeft(server)
    }

    @Test("a dropped server stops itself")
    func deinitStops() throws {
        var server: HTTPServer? = HTTPServer(responder: EchoResponder())
        try server?.start()
        let port = try #require(server?.boundPort)
        #expect(try RawHTTPClient(port: port).request(path: "/").status == 200)
        server = nil
        #expect(throws: RawHTTPClient.Failure.self) { try RawHTTPClient(port: port) }
    }
}
