import Foundation
import SecretsCore
@testable import Server
import Synchronization
import Testing

/// What `EchoResponder` saw, sent back as JSON.
struct Echo: Codable {
    struct Header: Codable, Equatable {
        var name: String
        var value: String
    }
    var method: String
    var path: String
    var query: String
    var headers: [Header]
    var bodyLength: Int
    var bodySHA256: String
}

/// Answers every request with an `Echo` of it (200, JSON); sleeps first when asked, counts its calls.
final class EchoResponder: HTTPResponder {
    let delay: Duration
    private let calls = Atomic<Int>(0)

    init(delay: Duration = .zero) { self.delay = delay }

    var callCount: Int { calls.load(ordering: .relaxed) }

    func respond(to request: HTTPRequest) -> HTTPResponse {
        calls.add(1, ordering: .relaxed)
        if delay > .zero {
            let (seconds, attoseconds) = delay.components
            usleep(UInt32(seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
        }
        let echo = Echo(method: request.method, path: request.path, query: request.query,
                        headers: request.headers.entries.map { Echo.Header(name: $0.name, value: $0.value) },
                        bodyLength: request.body.count, bodySHA256: SHA256.hex(request.body))
        guard let data = try? JSONEncoder().encode(echo) else { return .error(500, "encoding failed") }
        return .json(200, Array(data))
    }
}

extension RawHTTPClient.Response {
    func echo() throws -> Echo { try JSONDecoder().decode(Echo.self, from: Data(body)) }
}

/// Starts a server on a free port for the duration of `body`, then stops it.
func withServer<R>(_ configuration: HTTPServerConfiguration = HTTPServerConfiguration(),
                   responder: any HTTPResponder = EchoResponder(),
                   _ body: (HTTPServer, Int) throws -> R) throws -> R {
    let server = HTTPServer(configuration: configuration, responder: responder)
    try server.start()
    defer {
        server.stop()
        expectNoRequestLeft(server)
    }
    guard let port = server.boundPort else { throw RawHTTPClient.Failure("no bound port") }
    return try body(server, port)
}

/// Answers with whatever its closure returns.
struct FixedResponder: HTTPResponder {
    let answer: @Sendable (HTTPRequest) -> HTTPResponse
    init(_ answer: @escaping @Sendable (HTTPRequest) -> HTTPResponse) { self.answer = answer }
    func respond(to request: HTTPRequest) -> HTTPResponse { answer(request) }
}

/// Polls `condition` every 5 ms until it holds; throws after `timeout`.
func waitUntil(timeout: Duration = .seconds(5), _ condition: () -> Bool) throws {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while !condition() {
        guard clock.now < deadline else { throw RawHTTPClient.Failure("condition not met within \(timeout)") }
        usleep(5_000)
    }
}

/// After `stop`, every request's state was freed and uncounted (the pool threads are joined by then).
func expectNoRequestLeft(_ server: HTTPServer, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(server.inFlight == 0, sourceLocation: sourceLocation)
    #if DEBUG
    #expect(server.liveRequestStates == 0, sourceLocation: sourceLocation)
    #endif
}
