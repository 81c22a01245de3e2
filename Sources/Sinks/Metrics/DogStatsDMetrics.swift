import Foundation
import SecretsCore
import Synchronization

/// Sends every count and observation as one DogStatsD datagram over UDP, for a Datadog agent (or any
/// StatsD server that reads DogStatsD tags).
///
/// - Counters: `<prefix><name>:<amount>|c|#tag:value,…`, names as callers pass them
///   (`tokenscan.reports_received_total:1|c|#vendor:github`), so they match the Prometheus names.
/// - Observations: `<prefix><name>:<value>|h|#…` with the value **as recorded: seconds** for durations
///   (metric names say the unit, `request_duration_seconds`), not StatsD's `|ms` milliseconds.
/// - Characters the protocol reserves (`|` `@` `#` `,`, line breaks, and `:` outside a tag's value)
///   in names and tags become `_`.
/// - The socket is non-blocking and connected once at start-up. A send that fails for any reason
///   (buffer full, no listener, datagram too large) is dropped silently and counted in `droppedCount`;
///   nothing on the hot path throws, blocks or allocates more than the datagram.
///
/// Thread-safe: concurrent `send(2)` calls on one UDP socket are safe, the counters are atomics.
public final class DogStatsDMetrics: MetricsBackend {
    public let prefix: String
    private let tags: String
    private let socket: Int32
    private let sent = Atomic<Int>(0)
    private let dropped = Atomic<Int>(0)

    /// Resolves `host` and connects a UDP socket to it. Throws `MetricsSetupError` when the host does not
    /// resolve, the port is out of range or no socket can be made; after that, sending never fails visibly.
    /// - Parameters:
    ///   - prefix: prepended to every name (default `tokenscan.`).
    ///   - constantTags: added to every datagram, after the call's own labels (e.g. `env:prod`).
    public init(host: String = "127.0.0.1", port: Int = 8125, prefix: String = "tokenscan.",
                constantTags: [(String, String)] = []) throws(MetricsSetupError) {
        guard (1...65535).contains(port) else { throw MetricsSetupError("DogStatsD port \(port) is not in 1…65535") }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &result)
        guard status == 0, let first = result else {
            throw MetricsSetupError("DogStatsD host \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(result) }

        var lastError = "no address"
        var connected: Int32 = -1
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let info = candidate, connected < 0 {
            candidate = info.pointee.ai_next
            let fd = Glibc.socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                                  info.pointee.ai_protocol)
            guard fd >= 0 else {
                lastError = "socket: \(String(cString: strerror(Glibc.errno)))"
                continue
            }
            if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 {
                connected = fd
            } else {
                lastError = "connect: \(String(cString: strerror(Glibc.errno)))"
                close(fd)
            }
        }
        guard connected >= 0 else { throw MetricsSetupError("DogStatsD \(host):\(port): \(lastError)") }
        socket = connected
        self.prefix = Self.clean(prefix, colon: true)
        tags = constantTags.map { "\(Self.clean($0.0, colon: true)):\(Self.clean($0.1, colon: false))" }.joined(separator: ",")
    }

    deinit { close(socket) }

    /// Datagrams handed to the kernel.
    public var sentCount: Int { sent.load(ordering: .relaxed) }
    /// Datagrams dropped because `send(2)` failed.
    public var droppedCount: Int { dropped.load(ordering: .relaxed) }

    public func increment(_ name: String, labels: [(String, String)], by amount: Int) {
        increment(name, labels: MetricLabels(labels), by: amount)
    }

    public func observe(_ name: String, labels: [(String, String)], value: Double) {
        observe(name, labels: MetricLabels(labels), value: value)
    }

    public func increment(_ name: String, labels: MetricLabels, by amount: Int) {
        emit(name, value: amount.description, type: "c", labels: labels)
    }

    public func observe(_ name: String, labels: MetricLabels, value: Double) {
        guard value.isFinite else { return }
        emit(name, value: value.description, type: "h", labels: labels)
    }

    /// The datagram for one sample (what `increment` and `observe` send).
    func datagram(_ name: String, value: String, type: String, labels: MetricLabels) -> String {
        var line = ""
        line.reserveCapacity(64 + prefix.utf8.count + name.utf8.count + tags.utf8.count)
        line += prefix
        line += Self.clean(name, colon: true)
        line += ":"
        line += value
        line += "|"
        line += type
        var separator = "|#"
        for (tag, tagValue) in labels {
            line += separator
            line += Self.clean(tag, colon: true)
            line += ":"
            line += Self.clean(tagValue, colon: false)
            separator = ","
        }
        if !tags.isEmpty {
            line += separator
            line += tags
        }
        return line
    }

    private func emit(_ name: String, value: String, type: String, labels: MetricLabels) {
        var line = datagram(name, value: value, type: type, labels: labels)
        let result = line.withUTF8 { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
        if result < 0 {
            dropped.add(1, ordering: .relaxed)
        } else {
            sent.add(1, ordering: .relaxed)
        }
    }

    /// Replaces the characters DogStatsD reserves; only a tag's value may hold `:`.
    private static func clean(_ text: String, colon: Bool) -> String {
        guard text.utf8.contains(where: { isReserved($0) || (colon && $0 == UInt8(ascii: ":")) }) else { return text }
        return String(decoding: text.utf8.map { isReserved($0) || (colon && $0 == UInt8(ascii: ":")) ? UInt8(ascii: "_") : $0 },
                      as: UTF8.self)
    }

    private static func isReserved(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "|") || byte == UInt8(ascii: "@") || byte == UInt8(ascii: "#") || byte == UInt8(ascii: ",")
            || byte == 0x0A || byte == 0x0D || byte == 0
    }
}

/// A metrics backend that could not be set up (a host that does not resolve, no socket).
public struct MetricsSetupError: Error, Sendable, CustomStringConvertible, Equatable {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}
