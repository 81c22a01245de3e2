import SecretsCore
import Synchronization

/// One HTTP request, fully read (the body within the server's limit).
public struct HTTPRequest: Sendable {
    public var method: String
    /// The path without the query string, percent-encoding untouched.
    public var path: String
    /// The raw query string without `?`, empty when absent.
    public var query: String
    public var headers: HTTPHeaders
    /// The exact body bytes as received: signatures are verified over these.
    public var body: [UInt8]

    public init(method: String, path: String, query: String = "", headers: HTTPHeaders = [:], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// The value of query parameter `name` (first occurrence, `+` and percent-decoded).
    public func queryValue(_ name: String) -> String? {
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
            if key == name {
                let raw = parts.count > 1 ? String(parts[1]) : ""
                return raw.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? raw
            }
        }
        return nil
    }
}

/// One HTTP response.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(status: Int, headers: HTTPHeaders = [:], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON answer from already-encoded bytes.
    public static func json(_ status: Int, _ body: [UInt8], headers: HTTPHeaders = [:]) -> HTTPResponse {
        var h = headers
        h.add("Content-Type", "application/json")
        return HTTPResponse(status: status, headers: h, body: body)
    }

    /// A JSON answer `{"error": message}`.
    public static func error(_ status: Int, _ message: String, headers: HTTPHeaders = [:]) -> HTTPResponse {
        json(status, Array("{\"error\":\(JSONText.quote(message))}".utf8), headers: headers)
    }

    public static func text(_ status: Int, _ text: String, contentType: String = "text/plain; charset=utf-8") -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": contentType], body: Array(text.utf8))
    }
}

/// Answers requests. Called on the HTTP server's pool threads: implementations are thread-safe and must
/// not block on Swift concurrency.
///
/// The server calls `respond(to:reply:)`. A responder that can answer at once needs only
/// `respond(to:)` (the default `respond(to:reply:)` sends its answer). One that waits on something else
/// (a write that commits with other requests' writes, say) implements `respond(to:reply:)`, returns,
/// and sends the answer later from any thread: meanwhile the connection is parked, holding no thread.
public protocol HTTPResponder: Sendable {
    func respond(to request: HTTPRequest) -> HTTPResponse
    /// Answers by calling `reply.send` exactly once, from any thread, before or after returning.
    func respond(to request: HTTPRequest, reply: HTTPReply)
}

extension HTTPResponder {
    public func respond(to request: HTTPRequest, reply: HTTPReply) {
        reply.send(respond(to: request))
    }
}

/// Where a responder sends its one answer to a request. Only the first `send` counts; later ones are
/// ignored (and answer `false`).
public final class HTTPReply: Sendable {
    private let sent = Atomic<Bool>(false)
    private let deliver: @Sendable (HTTPResponse) -> Void

    public init(_ deliver: @escaping @Sendable (HTTPResponse) -> Void) {
        self.deliver = deliver
    }

    @discardableResult
    public func send(_ response: HTTPResponse) -> Bool {
        guard !sent.exchange(true, ordering: .acquiringAndReleasing) else { return false }
        deliver(response)
        return true
    }
}

extension String {
    fileprivate var removingPercentEncoding: String? {
        var bytes: [UInt8] = []
        var it = Array(utf8)[...]
        while let c = it.popFirst() {
            if c == UInt8(ascii: "%") {
                guard it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else { return nil }
                bytes.append(v)
                it = it.dropFirst(2)
            } else {
                bytes.append(c)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
