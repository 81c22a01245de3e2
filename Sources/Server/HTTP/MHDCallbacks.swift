internal import CMicroHTTPD
import Glibc
import SecretsCore
import Synchronization

// The libmicrohttpd callbacks. Each is a C function pointer without captures; the daemon's `cls` is the
// `DaemonShared` (unretained: `MHDDaemon` keeps it alive until the daemon is stopped), and each request's
// `*con_cls` is its `RequestState` (retained from `mhdRequestBegun` until `mhdRequestCompleted`).
//
// Per request, libmicrohttpd calls, all on the connection's pool thread:
//   1. the URI log callback, when the request line is in: allocates the state, counts the request;
//   2. the access handler once the headers are in (`*upload_data_size == 0`): checks the framing and
//      the announced length, may answer at once (413/400) — libmicrohttpd then closes the connection
//      without reading the body;
//   3. the access handler once per body chunk (`*upload_data_size > 0`): accumulates or discards;
//   4. the access handler when the body is complete (`*upload_data_size == 0` again): calls the responder
//      exactly once and queues its answer, or, when the answer is not in yet, suspends the connection;
//      the reply resumes it and libmicrohttpd calls the access handler again, which queues the answer;
//   5. the completed callback, always, whatever happened (answered, timed out, client gone, daemon stopped):
//      releases the state, uncounts the request.

/// What every callback of one daemon shares. Immutable but for atomics and mutexes.
final class DaemonShared: Sendable {
    let responder: any HTTPResponder
    let logger: Logger
    let maxBodyBytes: Int
    /// Bytes past `maxBodyBytes` read and discarded from a body without a length (chunked) before the
    /// connection is dropped instead of answered `413`: enough for a client that overshoots a little to
    /// read its answer, not enough to stream into the server for ever.
    let drainBytes: Int
    let inFlight = Atomic<Int>(0)
    /// Set when stopping: every response then carries `Connection: close`.
    let draining = Atomic<Bool>(false)
    /// libmicrohttpd's messages while the daemon starts (they explain a failure); `nil` once started.
    let startupMessages = Mutex<[String]?>(nil)
    /// Requests whose connection is suspended until their answer comes; `open` turns false when the
    /// daemon stops, and from then on only `resumeAllForStop` resumes.
    let parked = Mutex<ParkedRequests>(ParkedRequests())
    #if DEBUG
    /// `RequestState` objects alive (tests check that every one is freed, exactly once).
    let liveStates = Atomic<Int>(0)
    #endif

    init(responder: any HTTPResponder, logger: Logger, maxBodyBytes: Int) {
        self.responder = responder
        self.logger = logger
        self.maxBodyBytes = maxBodyBytes
        drainBytes = max(maxBodyBytes, 64 * 1024)
    }
}

/// One request's state between libmicrohttpd's calls. Touched only on its connection's pool thread.
final class RequestState {
    enum Phase {
        /// Request line received; the access handler has not been called yet.
        case begun
        /// Headers checked; body bytes accumulate.
        case receiving
        /// The body passed the limit: the rest is discarded and the answer will be 413.
        case discarding
        /// The responder has the request; its answer is awaited (the connection may be suspended).
        case responding(DeferredAnswer)
        /// An answer is queued.
        case answered
    }

    /// The request target exactly as sent (`/path?query`), or `nil` when libmicrohttpd gave none.
    let target: String?
    var phase = Phase.begun
    var method = ""
    var headers = HTTPHeaders()
    var body: [UInt8] = []
    var discarded = 0

    #if DEBUG
    private let shared: DaemonShared

    init(target: String?, shared: DaemonShared) {
        self.target = target
        self.shared = shared
        shared.liveStates.add(1, ordering: .relaxed)
    }

    deinit { shared.liveStates.subtract(1, ordering: .relaxed) }
    #else
    init(target: String?, shared: DaemonShared) { self.target = target }
    #endif
}

// MARK: - Callbacks

/// `MHD_OPTION_URI_LOG_CALLBACK`: the raw request target, before libmicrohttpd splits off and unescapes
/// the query. Its result becomes the request's `*con_cls`.
let mhdRequestBegun: CTokenscan_MHD_UriLogCallback = { cls, uri, _ in
    guard let cls else { return nil }
    let shared = Unmanaged<DaemonShared>.fromOpaque(cls).takeUnretainedValue()
    let target = uri.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: strlen($0)), as: UTF8.self) }
    shared.inFlight.add(1, ordering: .relaxed)
    return Unmanaged.passRetained(RequestState(target: target, shared: shared)).toOpaque()
}

/// `MHD_OPTION_NOTIFY_COMPLETED`: called exactly once for every request the URI callback saw.
let mhdRequestCompleted: MHD_RequestCompletedCallback = { cls, _, conCls, _ in
    guard let cls, let conCls, let state = conCls.pointee else { return }
    conCls.pointee = nil
    Unmanaged<RequestState>.fromOpaque(state).release()
    Unmanaged<DaemonShared>.fromOpaque(cls).takeUnretainedValue().inFlight.subtract(1, ordering: .releasing)
}

/// The access handler. Returning `MHD_NO` makes libmicrohttpd close the connection without an answer.
let mhdAccessHandler: MHD_AccessHandlerCallback = { cls, connection, url, method, _, uploadData, uploadDataSize, conCls in
    guard let cls, let connection, let uploadDataSize, let conCls else { return .NO }
    let shared = Unmanaged<DaemonShared>.fromOpaque(cls).takeUnretainedValue()
    let state: RequestState
    if let existing = conCls.pointee {
        state = Unmanaged<RequestState>.fromOpaque(existing).takeUnretainedValue()
    } else {
        // Not expected (the URI callback always runs first); serve the request all the same, with the
        // unescaped path libmicrohttpd gives here.
        state = RequestState(target: url.map { String(cString: $0) }, shared: shared)
        conCls.pointee = Unmanaged.passRetained(state).toOpaque()
        shared.inFlight.add(1, ordering: .relaxed)
    }
    return RequestHandling(shared: shared, connection: connection, state: state)
        .handle(method: method, uploadData: uploadData, uploadDataSize: uploadDataSize)
}

/// `MHD_OPTION_EXTERNAL_LOGGER`: libmicrohttpd's own messages. Logged at debug level: after start they
/// are nearly all about one misbehaving client. During start they are kept to explain a failure.
let mhdLog: MHD_LogCallback = { cls, format, arguments in
    guard let cls, let format else { return }
    let shared = Unmanaged<DaemonShared>.fromOpaque(cls).takeUnretainedValue()
    var buffer = [CChar](repeating: 0, count: 512)
    guard let arguments else { return }
    let written = buffer.withUnsafeMutableBufferPointer { vsnprintf($0.baseAddress, $0.count, format, arguments) }
    guard written >= 0 else { return }
    let length = min(Int(written), buffer.count - 1)
    var message = buffer.prefix(length).withUnsafeBufferPointer {
        String(decoding: UnsafeRawBufferPointer($0), as: UTF8.self)
    }
    while message.last?.isNewline == true { message.removeLast() }
    let captured = shared.startupMessages.withLock { (messages) -> Bool in
        guard messages != nil else { return false }
        messages?.append(message)
        return true
    }
    shared.logger.debug("libmicrohttpd", ["message": message, "during": captured ? "start" : "serve"])
}

// MARK: - Handling one call

/// One access-handler call on one request.
struct RequestHandling {
    let shared: DaemonShared
    let connection: OpaquePointer
    let state: RequestState

    func handle(method: UnsafePointer<CChar>?, uploadData: UnsafePointer<CChar>?,
                uploadDataSize: UnsafeMutablePointer<Int>) -> MHD_Result {
        switch state.phase {
        case .begun:
            state.phase = .receiving
            state.method = method.map { String(cString: $0) } ?? ""
            state.headers = readHeaders()
            if let refusal = checkFraming() {
                // Queued before the body is read: libmicrohttpd sends it and closes the connection.
                return queue(refusal)
            }
            return .YES

        case .receiving, .discarding:
            let count = uploadDataSize.pointee
            if count > 0 {
                uploadDataSize.pointee = 0
                return accept(UnsafeRawBufferPointer(start: uploadData, count: uploadData == nil ? 0 : count))
            }
            if case .discarding = state.phase {
                return queue(.error(413, "request body is larger than \(shared.maxBodyBytes) bytes"))
            }
            return answer()

        case .responding(let deferred):
            // Called again after a resume: the answer is in, or the server is stopping.
            uploadDataSize.pointee = 0
            return queue(deferred.takeAfterResume()
                ?? .error(503, "the server is stopping; retry later", headers: ["Retry-After": "5"]))

        case .answered:
            // libmicrohttpd does not call again once an answer is queued; consume anything regardless.
            uploadDataSize.pointee = 0
            return .YES
        }
    }

    /// Takes one chunk of body.
    private func accept(_ chunk: UnsafeRawBufferPointer) -> MHD_Result {
        if case .receiving = state.phase {
            if chunk.count <= shared.maxBodyBytes - state.body.count {
                state.body.append(contentsOf: chunk)
                return .YES
            }
            state.phase = .discarding
            state.discarded = state.body.count
            state.body = []
        }
        state.discarded += chunk.count
        if state.discarded - shared.maxBodyBytes > shared.drainBytes {
            shared.logger.debug("request body far over the limit, closing the connection",
                                ["method": state.method, "received": String(state.discarded)])
            return .NO
        }
        return .YES
    }

    /// The whole request is in: the responder answers it, now or (the connection suspended) later.
    private func answer() -> MHD_Result {
        let target = state.target ?? ""
        let (path, query) = splitTarget(target)
        let request = HTTPRequest(method: state.method, path: path, query: query, headers: state.headers, body: state.body)
        state.body = []
        let deferred = DeferredAnswer(connection: connection, shared: shared)
        state.phase = .responding(deferred)
        shared.responder.respond(to: request, reply: HTTPReply { deferred.deliver($0) })
        switch deferred.takeOrSuspend() {
        case .answer(let response): return queue(response)
        case .suspended: return .YES
        case .stopping:
            return queue(.error(503, "the server is stopping; retry later", headers: ["Retry-After": "5"]))
        }
    }

    /// Rejects what the server cannot frame or will not read: conflicting or unsupported framing (400)
    /// and an announced body over the limit (413). libmicrohttpd itself already answered a malformed or
    /// overflowing first `Content-Length` (400/413) without calling here.
    private func checkFraming() -> HTTPResponse? {
        let lengths = state.headers.values("Content-Length")
        let encodings = state.headers.values("Transfer-Encoding")
        if !encodings.isEmpty {
            guard encodings.count == 1, encodings[0].trimmingASCIISpaces().caseInsensitiveEquals("chunked") else {
                return .error(400, "unsupported Transfer-Encoding")
            }
            guard lengths.isEmpty else { return .error(400, "both Content-Length and Transfer-Encoding") }
            return nil
        }
        guard let first = lengths.first else { return nil }
        guard let length = parseContentLength(first), lengths.allSatisfy({ parseContentLength($0) == length }) else {
            return .error(400, "malformed or conflicting Content-Length")
        }
        if length > UInt64(shared.maxBodyBytes) {
            return .error(413, "request body is larger than \(shared.maxBodyBytes) bytes")
        }
        state.body.reserveCapacity(Int(min(length, 64 * 1024)))
        return nil
    }

    /// The request headers in arrival order, duplicates kept, names as sent; bytes that are not UTF-8
    /// become U+FFFD.
    private func readHeaders() -> HTTPHeaders {
        var headers = HTTPHeaders()
        withUnsafeMutablePointer(to: &headers) { pointer in
            _ = MHD_get_connection_values_n(connection, .HEADER_KIND, { cls, _, key, keySize, value, valueSize in
                guard let cls else { return .NO }
                let headers = cls.assumingMemoryBound(to: HTTPHeaders.self)
                headers.pointee.add(lossyString(key, keySize), lossyString(value, valueSize))
                return .YES
            }, pointer)
        }
        return headers
    }

    /// Queues `response`; `MHD_NO` (close the connection) when libmicrohttpd refuses it.
    private func queue(_ response: HTTPResponse) -> MHD_Result {
        state.phase = .answered
        var status = response.status
        var body = response.body
        if !(200...599).contains(status) {
            shared.logger.error("responder returned an invalid status; answering 500", ["status": String(status)])
            status = 500
            body = []
        }
        let created: OpaquePointer? = body.withUnsafeBytes { bytes in
            MHD_create_response_from_buffer(bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress),
                                            .RESPMEM_MUST_COPY)
        }
        guard let mhdResponse = created else {
            shared.logger.error("MHD_create_response_from_buffer failed", ["bytes": String(body.count)])
            return .NO
        }
        defer { MHD_destroy_response(mhdResponse) }
        if status == response.status {
            for (name, value) in response.headers where !name.caseInsensitiveEquals("Content-Length") {
                if !addHeader(mhdResponse, name, value) {
                    shared.logger.warning("response header refused by libmicrohttpd, dropped", ["name": name])
                }
            }
        }
        if shared.draining.load(ordering: .acquiring) {
            _ = addHeader(mhdResponse, "Connection", "close")
        }
        let queued = MHD_queue_response(connection, UInt32(status), mhdResponse)
        if queued != .YES {
            shared.logger.error("MHD_queue_response failed", ["status": String(status)])
        }
        return queued
    }

    /// Adds one header; `false` for what libmicrohttpd refuses (empty or with CR/LF, a name with spaces,
    /// tabs or a colon) and for NUL bytes, which C strings would silently cut.
    private func addHeader(_ response: OpaquePointer, _ name: String, _ value: String) -> Bool {
        guard !name.isEmpty, !name.utf8.contains(0), !name.utf8.contains(UInt8(ascii: ":")),
              !value.utf8.contains(0) else { return false }
        return MHD_add_response_header(response, name, value) == .YES
    }
}

// MARK: - Helpers

/// Splits a request target into path and raw query. An absolute-form target (`http://host/p?q`) loses
/// its scheme and authority.
func splitTarget(_ target: String) -> (path: String, query: String) {
    var rest = Substring(target)
    for scheme in ["http://", "https://"] where rest.utf8.count >= scheme.utf8.count
        && String(rest.prefix(scheme.count)).caseInsensitiveEquals(scheme) {
        rest = rest.dropFirst(scheme.count)
        if let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) {
            rest = rest[slash...]
        } else {
            rest = "/"
        }
        break
    }
    guard let mark = rest.firstIndex(of: "?") else { return (String(rest), "") }
    return (String(rest[..<mark]), String(rest[rest.index(after: mark)...]))
}

/// A `Content-Length` value: ASCII digits only (surrounding spaces allowed), no overflow.
func parseContentLength(_ value: String) -> UInt64? {
    let digits = value.trimmingASCIISpaces()
    guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
    return UInt64(digits)
}

private func lossyString(_ pointer: UnsafePointer<CChar>?, _ count: Int) -> String {
    guard let pointer, count > 0 else { return "" }
    return String(decoding: UnsafeRawBufferPointer(start: pointer, count: count), as: UTF8.self)
}

extension String {
    fileprivate func trimmingASCIISpaces() -> String {
        let bytes = Array(utf8)
        var start = 0, end = bytes.count
        while start < end, bytes[start] == 32 || bytes[start] == 9 { start += 1 }
        while end > start, bytes[end - 1] == 32 || bytes[end - 1] == 9 { end -= 1 }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }
}

// MARK: - Answers that come later

/// The requests parked (connection suspended) until their answer comes.
struct ParkedRequests {
    var open = true
    var requests: [ObjectIdentifier: DeferredAnswer] = [:]
}

/// One request's answer, handed from the responder (any thread) to the connection's pool thread.
///
/// libmicrohttpd rules this follows: a connection is suspended only from the access handler; resumed
/// exactly once per suspension, from any thread; and never after `MHD_stop_daemon` began, which must find
/// no suspended connection. So every resume happens under this object's lock, and once the daemon's
/// `parked.open` is false only `resumeAllForStop` resumes. Lock order: this object's, then `parked`.
final class DeferredAnswer: @unchecked Sendable {
    // @unchecked: `connection` is a C pointer used only under `stage`'s lock, and only while the daemon runs.
    private enum Stage {
        /// The responder has not answered; the pool thread has not looked yet.
        case responding
        /// The connection is suspended, waiting for the answer.
        case suspended
        /// The answer is in (and the connection resumed, if it was suspended).
        case ready(HTTPResponse)
        /// The answer is in, but the daemon was stopping: `resumeAllForStop` resumes the connection.
        case readyNotResumed(HTTPResponse)
        /// Handed to libmicrohttpd, or given up because the daemon stopped.
        case done
    }

    enum Outcome {
        case answer(HTTPResponse)
        case suspended
        case stopping
    }

    private let stage = Mutex<Stage>(.responding)
    private let connection: OpaquePointer
    private let shared: DaemonShared

    init(connection: OpaquePointer, shared: DaemonShared) {
        self.connection = connection
        self.shared = shared
    }

    /// The reply: stores the answer; resumes the connection when it is waiting.
    func deliver(_ response: HTTPResponse) {
        stage.withLock { stage in
            switch stage {
            case .responding:
                stage = .ready(response)
            case .suspended:
                let resumed = shared.parked.withLock { parked in
                    guard parked.open else { return false }
                    parked.requests[ObjectIdentifier(self)] = nil
                    MHD_resume_connection(connection)
                    return true
                }
                stage = resumed ? .ready(response) : .readyNotResumed(response)
            case .ready, .readyNotResumed, .done:
                break
            }
        }
    }

    /// On the pool thread, right after the responder returned: the answer when it is already in;
    /// otherwise suspends the connection (`.suspended`), unless the daemon is stopping (`.stopping`).
    func takeOrSuspend() -> Outcome {
        stage.withLock { stage in
            if case .ready(let response) = stage {
                stage = .done
                return .answer(response)
            }
            let parked = shared.parked.withLock { parked in
                guard parked.open else { return false }
                parked.requests[ObjectIdentifier(self)] = self
                return true
            }
            guard parked else {
                stage = .done
                return .stopping
            }
            MHD_suspend_connection(connection)
            stage = .suspended
            return .suspended
        }
    }

    /// On the pool thread, after the connection was resumed: the answer, or nil when the daemon stopped first.
    func takeAfterResume() -> HTTPResponse? {
        stage.withLock { stage in
            switch stage {
            case .ready(let response), .readyNotResumed(let response):
                stage = .done
                return response
            case .responding, .suspended, .done:
                stage = .done
                return nil
            }
        }
    }

    /// Stopping: resumes the connection if it is still suspended (it is then answered 503, or with its
    /// answer if that came meanwhile).
    fileprivate func resumeForStop() {
        stage.withLock { stage in
            switch stage {
            case .suspended:
                stage = .done
                MHD_resume_connection(connection)
            case .readyNotResumed(let response):
                stage = .ready(response)
                MHD_resume_connection(connection)
            case .responding, .ready, .done:
                break
            }
        }
    }
}

extension DaemonShared {
    /// Before `MHD_stop_daemon`: closes the parking lot and resumes every connection still in it.
    func resumeAllForStop() {
        let waiting = parked.withLock { parked in
            parked.open = false
            defer { parked.requests = [:] }
            return Array(parked.requests.values)
        }
        for request in waiting { request.resumeForStop() }
    }
}
