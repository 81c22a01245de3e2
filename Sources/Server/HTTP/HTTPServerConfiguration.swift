import Foundation

/// How the HTTP server listens and what it tolerates from a client. Every field has a documented default.
///
/// Limits and what a client gets when it passes them are listed in `docs/http-server.md`.
public struct HTTPServerConfiguration: Sendable, Equatable {
    /// A numeric IPv4 or IPv6 address to listen on (`"127.0.0.1"`, `"0.0.0.0"`, `"::1"`, `"::"`; IPv6 may be
    /// written in brackets). `"localhost"` means `127.0.0.1`; no other names are resolved. Default `127.0.0.1`.
    public var host: String
    /// The TCP port; `0` (the default) lets the kernel pick a free one, readable from `HTTPServer.boundPort`.
    public var port: Int
    /// Threads that run the event loops and call the responder. A slow responder holds its thread, and
    /// every connection served by that thread waits. Default: the number of active processors.
    public var threadPoolSize: Int
    /// Open connections at most (split evenly across the pool's threads); past it new connections wait
    /// in the kernel's listen backlog. Default 1024.
    public var connectionLimit: Int
    /// A connection with no traffic for this long is closed, whether idle between requests or stalled
    /// mid-request (the client gets no answer, just the close). Rounded up to whole seconds, at least 1 s.
    /// Default 10 s.
    public var connectionTimeout: Duration
    /// The largest request body accepted; a larger one is answered `413`. Default 8 MiB.
    public var maxBodyBytes: Int
    /// Memory libmicrohttpd gives each connection for the request line, the headers and its read buffer.
    /// A request head that does not fit is answered `431` (or `414` when the request line alone does not
    /// fit) by libmicrohttpd itself. Default 64 KiB, which admits heads up to about 60 KB.
    public var connectionMemoryLimit: Int

    public init(host: String = "127.0.0.1",
                port: Int = 0,
                threadPoolSize: Int = ProcessInfo.processInfo.activeProcessorCount,
                connectionLimit: Int = 1024,
                connectionTimeout: Duration = .seconds(10),
                maxBodyBytes: Int = 8 * 1024 * 1024,
                connectionMemoryLimit: Int = 64 * 1024) {
        self.host = host
        self.port = port
        self.threadPoolSize = threadPoolSize
        self.connectionLimit = connectionLimit
        self.connectionTimeout = connectionTimeout
        self.maxBodyBytes = maxBodyBytes
        self.connectionMemoryLimit = connectionMemoryLimit
    }

    /// A configuration listening on `listen`, written `HOST:PORT` (`127.0.0.1:8000`, `[::1]:8000`, `:8000`
    /// for all IPv4 addresses); other fields take their defaults.
    public init(listen: String) throws(HTTPServerError) {
        self.init()
        guard let colon = listen.lastIndex(of: ":"),
              let port = Int(listen[listen.index(after: colon)...]) else {
            throw HTTPServerError(.invalidConfiguration, "listen address \"\(listen)\" is not HOST:PORT")
        }
        let host = String(listen[..<colon])
        self.host = host.isEmpty ? "0.0.0.0" : host
        self.port = port
        try validate()
    }

    /// Throws when a field is out of range or the host is not a numeric address.
    public func validate() throws(HTTPServerError) {
        func invalid(_ message: String) -> HTTPServerError { HTTPServerError(.invalidConfiguration, message) }
        guard (0...65535).contains(port) else { throw invalid("port \(port) is not in 0...65535") }
        guard (1...1024).contains(threadPoolSize) else { throw invalid("thread pool size \(threadPoolSize) is not in 1...1024") }
        guard connectionLimit >= threadPoolSize, connectionLimit <= 1_000_000 else {
            throw invalid("connection limit \(connectionLimit) must be at least the thread pool size and at most 1000000")
        }
        guard connectionTimeout > .zero, connectionTimeout <= .seconds(86_400) else {
            throw invalid("connection timeout \(connectionTimeout) is not in (0, 1 day]")
        }
        guard maxBodyBytes >= 0 else { throw invalid("max body bytes \(maxBodyBytes) is negative") }
        guard (4096...(16 * 1024 * 1024)).contains(connectionMemoryLimit) else {
            throw invalid("connection memory limit \(connectionMemoryLimit) is not in 4096...16777216")
        }
        if SocketAddress(host: host, port: 0) == nil {
            throw invalid("host \"\(host)\" is not a numeric IPv4 or IPv6 address")
        }
    }

    /// `connectionTimeout` in whole seconds, rounded up.
    var connectionTimeoutSeconds: UInt32 {
        let (seconds, attoseconds) = connectionTimeout.components
        return UInt32(clamping: seconds + (attoseconds > 0 ? 1 : 0))
    }
}
