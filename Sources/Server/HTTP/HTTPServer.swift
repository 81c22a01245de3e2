internal import CMicroHTTPD
import Glibc
import SecretsCore
import Synchronization

/// The HTTP/1.1 server: libmicrohttpd's thread pool in front of one `HTTPResponder`.
///
/// `start()` binds and starts the pool; each pool thread runs an event loop (`poll(2)`) over its share of
/// the connections and calls the responder once per request, with the whole body. A slow sender only
/// costs a connection slot, never a thread. A responder that answers at once holds its thread meanwhile;
/// one that answers later (`HTTPResponder.respond(to:reply:)`) frees it: the connection is suspended
/// until the reply comes. Limits and what each yields: `HTTPServerConfiguration`, `docs/http-server.md`.
///
/// A server runs once: start, then stop (or let it go: `deinit` stops it at once). Never call `stop` from
/// inside the responder: stopping joins the pool threads, the calling one included.
public final class HTTPServer: Sendable {
    public let configuration: HTTPServerConfiguration
    private let shared: DaemonShared
    private let state = Mutex<State>(.idle)

    private enum State {
        case idle
        case running(MHDDaemon)
        case stopped
    }

    /// Bound by `start()`; 0 before.
    private let port = Atomic<Int>(0)

    public init(configuration: HTTPServerConfiguration = HTTPServerConfiguration(),
                responder: any HTTPResponder,
                logger: Logger = .none) {
        self.configuration = configuration
        shared = DaemonShared(responder: responder, logger: logger, maxBodyBytes: configuration.maxBodyBytes)
    }

    /// Binds the address and starts serving. Throws when the configuration is invalid, when the server
    /// already ran, or when libmicrohttpd cannot start (the error carries its message, e.g. address in use).
    public func start() throws(HTTPServerError) {
        try configuration.validate()
        try state.withLock { (state) throws(HTTPServerError) in
            guard case .idle = state else {
                throw HTTPServerError(.alreadyStarted, "a server starts once; make a new one")
            }
            let daemon = try MHDDaemon(configuration: configuration, shared: shared)
            port.store(daemon.port, ordering: .releasing)
            state = .running(daemon)
        }
        shared.logger.info("http server listening", ["host": configuration.host, "port": String(boundPort ?? 0)])
    }

    /// The port the server listens on (the kernel's pick when configured with port 0); `nil` before `start()`.
    /// Still answers after `stop` with the port it had.
    public var boundPort: Int? {
        let value = port.load(ordering: .acquiring)
        return value == 0 ? nil : value
    }

    /// Requests begun (request line received) and not yet completed, answered or abandoned.
    public var inFlight: Int { shared.inFlight.load(ordering: .relaxed) }

    #if DEBUG
    /// Per-request state objects alive; 0 once every request completed (tests check for leaks with it).
    var liveRequestStates: Int { shared.liveStates.load(ordering: .relaxed) }
    #endif

    /// Whether the server is serving (started and not stopped).
    public var isRunning: Bool {
        state.withLock { if case .running = $0 { true } else { false } }
    }

    /// Stops the server. First it stops accepting: the listen socket is closed at once, so new
    /// connections are refused. Then it waits up to `graceful` for the requests in flight to complete
    /// (their responses carry `Connection: close`); requests still waiting for a deferred answer then
    /// get `503` with `Retry-After` (a later answer is dropped). Finally it closes every connection and
    /// joins the pool threads — which waits for a responder call that is still running, however long it takes.
    ///
    /// Returns `true` when no request was in flight at the end of the wait. Calling it again, or before
    /// `start()`, does nothing and returns `true`.
    @discardableResult
    public func stop(graceful: Duration = .zero) -> Bool {
        let daemon: MHDDaemon? = state.withLock { state in
            guard case .running(let daemon) = state else {
                if case .idle = state { state = .stopped }
                return nil
            }
            state = .stopped
            return daemon
        }
        guard let daemon else { return true }
        shared.draining.store(true, ordering: .releasing)
        daemon.quiesce()
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: max(graceful, .zero))
        while shared.inFlight.load(ordering: .acquiring) > 0, clock.now < deadline {
            usleep(5_000)
        }
        let drained = shared.inFlight.load(ordering: .acquiring) == 0
        if !drained {
            shared.logger.warning("http server stopping with requests in flight",
                                  ["in_flight": String(shared.inFlight.load(ordering: .acquiring))])
            // Requests still waiting for their answer get a 503 (libmicrohttpd's stop would just close them).
            shared.resumeAllForStop()
            let answered = clock.now.advanced(by: .seconds(1))
            while shared.inFlight.load(ordering: .acquiring) > 0, clock.now < answered {
                usleep(5_000)
            }
        }
        daemon.stop()
        shared.logger.info("http server stopped", ["port": String(boundPort ?? 0)])
        return drained
    }

    deinit {
        stop()
    }
}

/// The one owner of an `MHD_Daemon *` and, once quiesced, of its listen socket; stops the daemon in
/// `deinit` at the latest. Keeps the callbacks' shared state alive for as long as the daemon runs.
///
/// `@unchecked Sendable`: `stop`/`quiesce` are called by `HTTPServer` after it took this object out of
/// its mutex-guarded state, so by one thread at a time; libmicrohttpd's quiesce and stop are safe to
/// call from a thread other than the pool's.
final class MHDDaemon: @unchecked Sendable {
    private var handle: OpaquePointer?
    private var quiescedSocket: Int32 = -1
    private let shared: DaemonShared
    let port: Int

    init(configuration: HTTPServerConfiguration, shared: DaemonShared) throws(HTTPServerError) {
        self.shared = shared
        guard let address = SocketAddress(host: configuration.host, port: UInt16(clamping: configuration.port)) else {
            throw HTTPServerError(.invalidConfiguration, "host \"\(configuration.host)\" is not a numeric address")
        }
        // poll, not epoll: libmicrohttpd 0.9.75's edge-triggered epoll takes a short read as "drained" and
        // misses a close that arrived with the last bytes, so a client that leaves mid-request would hold
        // its slot (and count in flight) until the timeout. poll is level-triggered and as fast here.
        var flags = MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_POLL.rawValue | MHD_USE_ITC.rawValue
            | MHD_ALLOW_SUSPEND_RESUME.rawValue | MHD_USE_ERROR_LOG.rawValue
        if address.isIPv6 { flags |= MHD_USE_IPv6.rawValue }

        let cls = Unmanaged.passUnretained(shared).toOpaque()
        shared.startupMessages.withLock { $0 = [] }
        let started: OpaquePointer? = try address.withSockAddr { (sockaddr) throws(HTTPServerError) -> OpaquePointer? in
            var settings = CTokenscan_MHD_Settings()
            settings.flags = flags
            settings.address = sockaddr
            settings.thread_pool_size = UInt32(clamping: configuration.threadPoolSize)
            settings.connection_limit = UInt32(clamping: configuration.connectionLimit)
            settings.connection_timeout = configuration.connectionTimeoutSeconds
            settings.connection_memory_limit = configuration.connectionMemoryLimit
            settings.access_handler = mhdAccessHandler
            settings.access_handler_cls = cls
            settings.completed = mhdRequestCompleted
            settings.completed_cls = cls
            settings.uri_log = mhdRequestBegun
            settings.uri_log_cls = cls
            settings.logger = mhdLog
            settings.logger_cls = cls
            return CTokenscan_MHD_start_daemon(&settings)
        }
        let messages = shared.startupMessages.withLock { messages in
            defer { messages = nil }
            return messages ?? []
        }
        guard let started else {
            let detail = messages.isEmpty ? "MHD_start_daemon failed" : messages.joined(separator: "; ")
            throw HTTPServerError(.startFailed, "\(configuration.host):\(configuration.port): \(detail)")
        }
        handle = started
        port = Int(CTokenscan_MHD_bound_port(started))
    }

    /// Stops accepting: no new connection is taken, and the listen socket is shut down so the kernel
    /// refuses new ones too instead of queueing them. Connections already open keep being served.
    func quiesce() {
        guard let handle, quiescedSocket < 0 else { return }
        let socket = MHD_quiesce_daemon(handle)
        if socket >= 0 {
            quiescedSocket = socket
            // The fd stays open (no reuse race with a pool thread) until the daemon is stopped.
            _ = shutdown(socket, Int32(SHUT_RDWR))
        }
    }

    /// Resumes every connection still waiting for its answer (libmicrohttpd must find none suspended),
    /// closes every connection and joins the pool threads; then closes the quiesced listen socket.
    func stop() {
        guard let handle else { return }
        shared.resumeAllForStop()
        MHD_stop_daemon(handle)
        self.handle = nil
        if quiescedSocket >= 0 {
            _ = close(quiescedSocket)
            quiescedSocket = -1
        }
    }

    deinit {
        stop()
    }
}
