import Synchronization

/// One label set of a Prometheus counter or histogram, recorded with atomics so no lock is needed.
///
/// A scrape reads each value once: every counter is monotonic across scrapes, and a histogram's count
/// is the total of its buckets as read, so `_count` always equals the `+Inf` bucket. `_sum` is read
/// separately and may miss observations still being recorded.
final class PrometheusSeries: @unchecked Sendable {
    // @unchecked: `buckets` is written once in `init`, then only through its atomics; freed in `deinit`.

    /// `a="x",b="y"`, escaped and sorted, computed once.
    let rendered: String
    /// A histogram's bucket upper bounds, ascending; empty for a counter.
    let bounds: [Double]
    private let counter = Atomic<Int>(0)
    /// Per-bucket (not cumulative) counts, `bounds.count + 1` for a histogram: the last is `+Inf`.
    private let buckets: UnsafeMutablePointer<Atomic<UInt64>>
    private let bucketCount: Int
    /// The bit pattern of the `Double` sum.
    private let sumBits = Atomic<UInt64>(0.0.bitPattern)

    /// A histogram's series when given its bucket bounds (ascending), else a counter's.
    init(rendered: String, histogramBounds: [Double]?) {
        self.rendered = rendered
        bounds = histogramBounds ?? []
        bucketCount = histogramBounds.map { $0.count + 1 } ?? 0
        buckets = .allocate(capacity: bucketCount)
        for index in 0..<bucketCount { (buckets + index).initialize(to: Atomic(0)) }
    }

    deinit {
        buckets.deinitialize(count: bucketCount)
        buckets.deallocate()
    }

    /// Adds a non-negative amount, stopping at `Int.max`.
    func add(_ amount: Int) {
        var current = counter.load(ordering: .relaxed)
        while true {
            let (sum, overflow) = current.addingReportingOverflow(amount)
            let (exchanged, original) = counter.compareExchange(expected: current, desired: overflow ? .max : sum,
                                                                ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    /// Counts `value` (not NaN) in the first bucket whose bound is at least `value`, and adds it to the sum.
    func observe(_ value: Double) {
        let index = bounds.withUnsafeBufferPointer { bounds in
            var index = 0
            while index < bounds.count && value > bounds[index] { index += 1 }
            return index
        }
        buckets[index].wrappingAdd(1, ordering: .relaxed)
        var current = sumBits.load(ordering: .relaxed)
        while true {
            let (exchanged, original) = sumBits.compareExchange(expected: current,
                                                                desired: (Double(bitPattern: current) + value).bitPattern,
                                                                ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    /// A counter's value, as of now.
    var value: Int { counter.load(ordering: .relaxed) }

    /// The per-bucket counts (the last is `+Inf`) and the sum, as of now.
    func histogram() -> (buckets: [UInt64], sum: Double) {
        let counts = (0..<bucketCount).map { buckets[$0].load(ordering: .relaxed) }
        return (counts, Double(bitPattern: sumBits.load(ordering: .relaxed)))
    }
}
