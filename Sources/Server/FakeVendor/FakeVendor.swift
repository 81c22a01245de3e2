import SecretsCore

/// The built-in fake secret-scanning vendor: a web app on its own `HTTPServer` that manages signing
/// keys, serves them on the vendor meta-API, and signs and sends reports to a tokenscan receiver.
///
/// ```swift
/// let vendor = try FakeVendor(port: 8964, target: "http://127.0.0.1:8000/_/secrets/disclose-token",
///                             statePath: "fake-vendor-state.json")
/// try vendor.start()
/// print(vendor.publicKeysURL)   // point a receiver's keys_url here
/// ```
public final class FakeVendor: Sendable {
    public let state: FakeVendorState
    public let responder: FakeVendorResponder
    private let server: HTTPServer
    private let host: String

    /// Loads (or starts) the state at `statePath` and prepares the server; nothing listens before `start()`.
    ///
    /// - Parameters:
    ///   - port: 0 lets the kernel choose; read it back from `boundPort`.
    ///   - host: a numeric address (`localhost` means 127.0.0.1). The page can send reports anywhere and
    ///     holds test keys: keep it on loopback unless you mean it.
    ///   - target: where reports go when a send names no target (`""` for none).
    ///   - statePath: the JSON state file (keys and history); nil keeps everything in memory.
    /// - Throws: `FakeVendorStateError` when the state file exists but cannot be read.
    public init(port: Int = 0, host: String = "127.0.0.1", target: String, statePath: String?,
                logger: Logger = .none) throws(FakeVendorStateError) {
        state = try FakeVendorState(path: statePath)
        responder = FakeVendorResponder(state: state, defaultTarget: target, logger: logger)
        self.host = host
        // A send holds its pool thread until the receiver answers, and the receiver may call back for the
        // keys meanwhile: enough threads that the key document is always served.
        let configuration = HTTPServerConfiguration(host: host, port: port, threadPoolSize: 8, connectionLimit: 256,
                                                    connectionTimeout: .seconds(120), maxBodyBytes: 16 * 1024 * 1024)
        server = HTTPServer(configuration: configuration, responder: responder, logger: logger)
    }

    /// Binds and starts serving. Throws when the port is taken or the host is not a numeric address.
    public func start() throws(HTTPServerError) {
        try server.start()
    }

    /// Stops serving, waiting up to `graceful` for requests in flight (a send may be waiting on its receiver).
    public func stop(graceful: Duration = .seconds(1)) {
        server.stop(graceful: graceful)
    }

    /// The port listened on; nil before `start()`.
    public var boundPort: Int? { server.boundPort }

    /// `http://host:port` (IPv6 hosts in brackets; `0.0.0.0` and `::` as loopback, where a browser on this
    /// machine reaches them).
    public var baseURL: String {
        var shown = host
        if shown == "0.0.0.0" || shown == "localhost" { shown = "127.0.0.1" }
        if shown == "::" || shown == "[::]" { shown = "::1" }
        if shown.contains(":") && !shown.hasPrefix("[") { shown = "[\(shown)]" }
        return "http://\(shown):\(boundPort ?? server.configuration.port)"
    }

    /// The URL of the key document, for a receiver's `keys_url`.
    public var publicKeysURL: String { baseURL + FakeVendorResponder.metaPaths[0] }
}
