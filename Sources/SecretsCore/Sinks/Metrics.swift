import Synchronization

/// A metrics backend (Prometheus registry, DogStatsD client, memory, nothing).
///
/// Implementation requirements: thread-safe and cheap (called on the request path, several times per
/// request); never blocks on I/O for long (a UDP send is fine); label values are never secrets (callers
/// pass token hashes at most).
///
/// `Metrics` calls the `MetricLabels` variants. Their default implementations copy the labels into an
/// array and call the array variants, so a backend need only implement those; a backend on the request
/// path implements the `MetricLabels` variants too, to record without allocating.
public protocol MetricsBackend: Sendable {
    /// Adds `amount` to the counter `name` with these labels.
    func increment(_ name: String, labels: [(String, String)], by amount: Int)
    /// Records one observation of `name` (a histogram or timer), in seconds for durations.
    func observe(_ name: String, labels: [(String, String)], value: Double)
    /// Adds `amount` to the counter `name` with these labels; what `Metrics.increment` calls.
    func increment(_ name: String, labels: MetricLabels, by amount: Int)
    /// Records one observation of `name`; what `Metrics.observe` calls.
    func observe(_ name: String, labels: MetricLabels, value: Double)
}

extension MetricsBackend {
    public func increment(_ name: String, labels: MetricLabels, by amount: Int) {
        increment(name, labels: Array(labels), by: amount)
    }

    public func observe(_ name: String, labels: MetricLabels, value: Double) {
        observe(name, labels: Array(labels), value: value)
    }
}

/// One call's labels, `(name, value)` in the caller's order, as `Metrics` hands them to a backend.
///
/// Up to two labels are held inline, so the usual call (`["vendor": id]`) allocates nothing on its way
/// to the backend; more are kept in an array.
public struct MetricLabels: RandomAccessCollection, Equatable, Sendable {
    @usableFromInline
    enum Storage: Sendable {
        case none
        case one(String, String)
        case two(String, String, String, String)
        case many([(String, String)])
    }

    @usableFromInline let storage: Storage

    @inlinable @inline(__always)
    public init(_ labels: KeyValuePairs<String, String>) {
        switch labels.count {
        case 0: storage = .none
        case 1: storage = .one(labels[0].key, labels[0].value)
        case 2: storage = .two(labels[0].key, labels[0].value, labels[1].key, labels[1].value)
        default: storage = .many(labels.map { ($0.key, $0.value) })
        }
    }

    public init(_ labels: [(String, String)]) {
        switch labels.count {
        case 0: storage = .none
        case 1: storage = .one(labels[0].0, labels[0].1)
        case 2: storage = .two(labels[0].0, labels[0].1, labels[1].0, labels[1].1)
        default: storage = .many(labels)
        }
    }

    @inlinable public var startIndex: Int { 0 }

    @inlinable
    public var endIndex: Int {
        switch storage {
        case .none: 0
        case .one: 1
        case .two: 2
        case .many(let labels): labels.count
        }
    }

    @inlinable
    public subscript(position: Int) -> (String, String) {
        switch storage {
        case .one(let name, let value) where position == 0: (name, value)
        case .two(let name, let value, _, _) where position == 0: (name, value)
        case .two(_, _, let name, let value) where position == 1: (name, value)
        case .many(let labels): labels[position]
        default: preconditionFailure("MetricLabels index \(position) out of range")
        }
    }

    /// Calls `body` with each label's name and value in order; unlike `for … in`, copies nothing.
    @inlinable
    public func forEachLabel(_ body: (String, String) throws -> Void) rethrows {
        switch storage {
        case .none: break
        case .one(let name, let value): try body(name, value)
        case .two(let name, let value, let name2, let value2):
            try body(name, value)
            try body(name2, value2)
        case .many(let labels):
            for (name, value) in labels { try body(name, value) }
        }
    }

    /// The same labels in the same order.
    @inlinable
    public static func == (lhs: MetricLabels, rhs: MetricLabels) -> Bool {
        switch lhs.storage {
        case .none:
            guard case .none = rhs.storage else { return false }
            return true
        case .one(let name, let value):
            guard case .one(let otherName, let otherValue) = rhs.storage else { return false }
            return name == otherName && value == otherValue
        case .two(let name, let value, let name2, let value2):
            guard case .two(let otherName, let otherValue, let otherName2, let otherValue2) = rhs.storage else { return false }
            return name == otherName && value == otherValue && name2 == otherName2 && value2 == otherValue2
        case .many(let labels):
            guard case .many(let others) = rhs.storage else { return false }
            return labels.elementsEqual(others, by: ==)
        }
    }
}

/// The facade callers use: `metrics.increment("reports_received_total", ["vendor": id])`.
///
/// Inlinable so that the labels' literal is read where it is written and never reaches the heap.
public struct Metrics: Sendable {
    public let backend: any MetricsBackend

    public init(_ backend: any MetricsBackend) { self.backend = backend }

    public static let none = Metrics(NoMetrics())

    @inlinable @inline(__always)
    public func increment(_ name: String, _ labels: KeyValuePairs<String, String> = [:], by amount: Int = 1) {
        backend.increment(name, labels: MetricLabels(labels), by: amount)
    }

    @inlinable @inline(__always)
    public func observe(_ name: String, _ labels: KeyValuePairs<String, String> = [:], value: Double) {
        backend.observe(name, labels: MetricLabels(labels), value: value)
    }
}

/// Discards everything.
public struct NoMetrics: MetricsBackend {
    public init() {}
    public func increment(_ name: String, labels: [(String, String)], by amount: Int) {}
    public func observe(_ name: String, labels: [(String, String)], value: Double) {}
    public func increment(_ name: String, labels: MetricLabels, by amount: Int) {}
    public func observe(_ name: String, labels: MetricLabels, value: Double) {}
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
    public func increment(_ name: String, labels: MetricLabels, by amount: Int) {
        for b in backends { b.increment(name, labels: labels, by: amount) }
    }
    public func observe(_ name: String, labels: MetricLabels, value: Double) {
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
