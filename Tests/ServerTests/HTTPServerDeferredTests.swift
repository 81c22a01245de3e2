import Foundation
import Glibc
import SecretsCore
@testable import Server
import Synchronization
import Testing

/// Keeps every request's reply and answers it when told, from the test's thread: a responder whose
/// answers come later (as the receiver's do, after the intake commit).
final class DeferredResponder: HTTPResponder {
    private let parked = Mutex<[(path: String, reply: HTTPReply)]>([])

    func respond(to request: HTTPRequest) -> HTTPResponse { .error(500, "the synchronous path is not used") }

    func respond(to request: HTTPRequest, reply: HTTPReply) {
        parked.withLock { $0.append((request.path, reply)) }
    }

    var waiting: Int { parked.withLock { $0.count } }

    /// Answers every parked request (200, its path as the body) from a thread of its own; returns how many.
    @discardableResult
    func answerAll(status: Int = 200) -> Int {
        let replies = parked.withLock { parked in
            defer { parked = [] }
            return parked
        }
        let done = DispatchSemaphore(value: 0)
        Thread {
            for (path, reply) in replies { reply.send(.text(status, path)) }
            done.signal()
        }.start()
        done.wait()
        return replies.count
    }
}

@Suite("HTTPServer: answers that come later (suspended connections)")
struct HTTPServerDeferredTests {
    @Test("a request answered later from another thread gets that answer; the connection stays usable")
    func answeredLater() throws {
        let responder = DeferredResponder()
        try withServer(responder: responder) { server, port in
            let client = try RawHTTPClient(port: port)
            for round in 0..<3 {
                try client.send(method: "POST", path: "/later/\(round)", body: Array("x".utf8))
                try waitUntil { responder.waiting == 1 }
                #expect(server.inFlight == 1)
                usleep(20_000)
                #expect(responder.answerAll() == 1)
                let response = try client.readResponse(method: "POST")
                #expect(response.status == 200)
                #expect(String(decoding: response.body, as: UTF8.self) == "/later/\(round)")
            }
            try waitUntil { server.inFlight == 0 }
        }
    }

    @Test("while requests wait for their answers, the pool threads keep serving other connections",
          arguments: [1, 2])
    func threadsStayFree(threads: Int) throws {
        let responder = DeferredResponder()
        try withServer(HTTPServerConfiguration(threadPoolSize: threads), responder: responder) { _, port in
            // More waiting requests than pool threads: with one thread per waiting request this would hang.
            let clients = try (0..<(threads * 8)).map { _ in try RawHTTPClient(port: port) }
            for (index, client) in clients.enumerated() {
                try client.send(method: "POST", path: "/wait/\(index)", body: Array("x".utf8))
            }
            try waitUntil { responder.waiting == clients.count }
            #expect(responder.answerAll() == clients.count)
            for (index, client) in clients.enumerated() {
                let response = try client.readResponse(method: "POST")
                #expect(response.status == 200)
                #expect(String(decoding: response.body, as: UTF8.self) == "/wait/\(index)")
            }
        }
    }

    @Test("1,000 requests on 16 connections, each answered from another thread as soon as it arrives")
    func manyDeferred() throws {
        final class Immediate: HTTPResponder {
            let queue = DispatchQueue(label: "answers")
            func respond(to request: HTTPRequest) -> HTTPResponse { .error(500, "unused") }
            func respond(to request: HTTPRequest, reply: HTTPReply) {
                queue.async { reply.send(.text(200, request.path)) }
            }
        }
        try withServer(HTTPServerConfiguration(threadPoolSize: 2), responder: Immediate()) { server, port in
            let failures = Mutex<[String]>([])
            onThreads(16) { connection in
                do {
                    let client = try RawHTTPClient(port: port)
                    for i in 0..<63 {
                        let response = try client.request(method: "POST", path: "/c\(connection)/\(i)", body: [1])
                        if response.status != 200 || response.body != Array("/c\(connection)/\(i)".utf8) {
                            failures.withLock { $0.append("c\(connection)/\(i): \(response.status)") }
                        }
                    }
                } catch {
                    failures.withLock { $0.append("c\(connection): \(error)") }
                }
            }
            #expect(failures.withLock { $0 } == [])
            try waitUntil { server.inFlight == 0 }
        }
    }

    @Test("stop with requests still waiting: they are answered 503, stop returns, and late answers are ignored")
    func stopWhileWaiting() throws {
        let responder = DeferredResponder()
        let server = HTTPServer(configuration: HTTPServerConfiguration(threadPoolSize: 2), responder: responder)
        try server.start()
        let port = try #require(server.boundPort)
        let clients = try (0..<4).map { _ in try RawHTTPClient(port: port) }
        for client in clients { try client.send(method: "POST", path: "/never", body: Array("x".utf8)) }
        try waitUntil { responder.waiting == 4 }

        #expect(server.stop(graceful: .milliseconds(50)) == false)
        for client in clients {
            let response = try client.readResponse(method: "POST")
            #expect(response.status == 503)
            #expect(response.header("Retry-After") != nil)
        }
        expectNoRequestLeft(server)
        // The responder answers after the daemon is gone: nothing happens.
        #expect(responder.answerAll() == 4)
    }

    @Test("an answer that arrives while stopping is still sent")
    func answerDuringStop() throws {
        let responder = DeferredResponder()
        let server = HTTPServer(configuration: HTTPServerConfiguration(threadPoolSize: 1), responder: responder)
        try server.start()
        let port = try #require(server.boundPort)
        let client = try RawHTTPClient(port: port)
        try client.send(method: "POST", path: "/soon", body: Array("x".utf8))
        try waitUntil { responder.waiting == 1 }
        let answerer = Thread {
            usleep(100_000)
            responder.answerAll()
        }
        answerer.start()
        #expect(server.stop(graceful: .seconds(5)))
        let response = try client.readResponse(method: "POST")
        #expect(response.status == 200)
        #expect(String(decoding: response.body, as: UTF8.self) == "/soon")
        #expect(response.header("Connection")?.lowercased() == "close")
        expectNoRequestLeft(server)
    }

    @Test("a client that leaves while its answer is pending: the late answer is dropped, the slot freed")
    func clientLeavesWhileWaiting() throws {
        let responder = DeferredResponder()
        try withServer(HTTPServerConfiguration(threadPoolSize: 1), responder: responder) { server, port in
            let leaving = try RawHTTPClient(port: port)
            try leaving.send(method: "POST", path: "/gone", body: Array("x".utf8))
            try waitUntil { responder.waiting == 1 }
            leaving.close()
            usleep(50_000)
            #expect(responder.answerAll() == 1)
            try waitUntil { server.inFlight == 0 }
            // The server goes on serving.
            let client = try RawHTTPClient(port: port)
            try client.send(method: "POST", path: "/next", body: Array("y".utf8))
            try waitUntil { responder.waiting == 1 }
            responder.answerAll()
            #expect(try client.readResponse(method: "POST").status == 200)
        }
    }

    @Test("a reply sent twice: the first answer counts, the second is refused")
    func replyOnce() {
        let answers = Mutex<[Int]>([])
        let reply = HTTPReply { response in answers.withLock { $0.append(response.status) } }
        #expect(reply.send(HTTPResponse(status: 204)))
        #expect(!reply.send(HTTPResponse(status: 500)))
        #expect(answers.withLock { $0 } == [204])
    }
}
