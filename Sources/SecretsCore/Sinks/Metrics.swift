import Synchronization

/// A metrics backend (Prometheus registry, DogStatsD client, memory, nothing).
///
/// Implementation requirements: thread-safe and cheap (called on the request path); never blocks on I/O
/// for long (a UDP send is fine); label values are never secrets (callers pass token hashes at most).
public protocol MetricsBackend: Sendable {
    /// Adds `amount` to the counter `name` with these labels.
    func increment(_ name: String, labels: [(String, String)], by amount: Int)
    /// Records one observation of `name` (a histogram or timer), in seconds for durations.
    func observe(_ name: String, labels: [(String, String)], value: Double)
}

/// The facade callers use: `metrics.increment("reports_received_total", ["vendor": id])`.
public struct Metrics: Sendable {
    public let backend: any MetricsBackend

    public init(_ backend: any MetricsBackend) { self.backend = backend }

    public static let none = Metrics(NoMetrics())

    public func increment(_ name: String, _ labels: KeyValuePairs<String, String> = [:], by amount: Int = 1) {
        backend.increment(name, labels: labels.map { ($0.key, $0.value) }, by: amount)
    }

    public func observe(_ name: String, _ labels: KeyValuePairs<String, String> = [:], value: Double) {
        backend.observe(name, labels: labels.map { ($0.key, $0.value) }, value: value)
    }
}

/// Discards everything.
public struct NoMetrics: MetricsBackend {
    public init() {}
    public func increment(_ name: String, labels: [(String, String)], by amount: Int) {}
    public func observe(_ name: String, labels: [(String, String)], value: Double) {}
}

/// Sends every call to each backend in turn.
public struct MultiplexMetrics: MetricsBackend {
    public let backends: [any MetricsBackend]
    public init(_ backends: [any MetricsBackend]) { self.backends = backends }
    public func increment(_ name: String, labels: [(String, String)], by amount: Int) {
        for b in backends { b.increment(name, labels: labels, by: amount) }
    }
    public func observe(_ name: String, labels: [(String, String)], value: Double) {
        for b in backends { b.observe(name, labels: labels, value: value) }
    }
}

/// Keeps counters and observations in memory; for tests and for anyone who wants to read them back.
public final class InMemoryMetrics: MetricsBackend {
    private struct Key: Hashable { let name: String; let labels: [String] }
    private let state = Mutex<(counters: [Key: Int], observations: [Key: [Double]])>(([:], [:]))

    public init() {}

    private static func key(_ name: String, _ labels: [(String, String)]) -> Key {
        Key(name: name, labels: labels.sorted { $0.0 < $1.0 }.map { "\($0.0)=\($0.1)" })
    }

    public func increment(_ name: String, labels: [(String, String)], by amount: Int) {
        let k = Self.key(name, labels)
        state.withLock { $0.counters[k, default: 0] += amount }
    }

    public func observe(_ name: String, labels: [(String, String)], value: Double) {
        let k = Self.key(name, labels)
        state.withLock { $0.observations[k, default: []].append(value) }
    }

    /// The counter's value for exactly these labels (0 when never incremented).
    public func counter(_ name: String, _ labels: KeyValuePairs<String, String> = [:]) -> Int {
        let k = Self.key(name, labels.map { ($0.key, $0.value) })
        return state.withLock { $0.counters[k] ?? 0 }
    }

    /// The sum of the counter over every label set.
    public func total(_ name: String) -> Int {
        state.withLock { $0.counters.filter { $0.key.name == name }.values.reduce(0, +) }
    }

    public func observations(_ name: String, _ labels: KeyValuePairs<String, String> = [:]) -> [Double] {
        let k = Self.key(name, labels.map { ($0.key, $0.value) })
        return state.withLock { $0.observations[k] ?? [] }
    }
}
