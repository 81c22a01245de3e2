import Foundation
import SecretsCore
import Sinks
import Synchronization
import Testing

/// The lock-free recording path: series made and found by many threads at once, the index growing
/// while it is read, and scrapes taken in the middle of it all.
@Suite("PrometheusMetrics under concurrent calls")
struct MetricsPrometheusConcurrencyTests {
    static let threads = 8
    static let rounds = 2_000
    /// Exactly representable, so the sum is exact in any order; one per bucket of interest:
    /// ≤ 0.001, ≤ 0.005, ≤ 0.25, ≤ 5 and `+Inf`.
    static let values = [0.0009765625, 0.00390625, 0.125, 4, 16]

    @Test func everyCallIsCountedAndScrapesStayConsistent() throws {
        let prometheus = PrometheusMetrics(descriptions: [])
        prometheus.describe("latency_seconds", help: "Latency.", type: .histogram)
        let metrics = Metrics(prometheus)
        let writersDone = Atomic<Int>(0)
        let problems = Mutex<[String]>([])
        let scraped = Atomic<Int>(0)

        let scraper = Thread {
            var lastShared = 0
            var lastCount = 0
            func scrape() {
                let samples = Self.samples(prometheus.render())
                let shared = Int(samples[#"tokenscan_shared_total{vendor="github"}"#] ?? "0") ?? -1
                let count = Int(samples[#"tokenscan_latency_seconds_count{vendor="github"}"#] ?? "0") ?? -1
                let infinity = Int(samples[#"tokenscan_latency_seconds_bucket{vendor="github",le="+Inf"}"#] ?? "0") ?? -1
                let buckets = prometheus.defaultBuckets.map {
                    Int(samples[#"tokenscan_latency_seconds_bucket{vendor="github",le="\#(Self.format($0))"}"#] ?? "0") ?? -1
                }
                var found: [String] = []
                if shared < lastShared { found.append("shared_total went from \(lastShared) to \(shared)") }
                if count < lastCount { found.append("_count went from \(lastCount) to \(count)") }
                if count != infinity { found.append("_count \(count) but +Inf bucket \(infinity)") }
                if buckets != buckets.sorted() || (buckets.last ?? 0) > infinity { found.append("buckets not cumulative: \(buckets) \(infinity)") }
                if !found.isEmpty { problems.withLock { $0 += found } }
                lastShared = shared
                lastCount = count
                scraped.add(1, ordering: .relaxed)
            }
            while writersDone.load(ordering: .acquiring) < Self.threads { scrape() }
            scrape()
            scraped.add(1_000_000, ordering: .releasing)
        }
        scraper.start()

        DispatchQueue.concurrentPerform(iterations: Self.threads) { thread in
            let own = "t\(thread)"
            for round in 0..<Self.rounds {
                metrics.increment("shared_total", ["vendor": "github"])
                metrics.increment("own_total", ["thread": own], by: 2)
                // One series under two call shapes (name with and without `_total`, labels in either order).
                if round % 2 == 0 {
                    metrics.increment("pair_total", ["vendor": "github", "reason": "bad"])
                } else {
                    metrics.increment("pair", ["reason": "bad", "vendor": "github"])
                }
                metrics.observe("latency_seconds", ["vendor": "github"], value: Self.values[round % Self.values.count])
                // A new series every 20 rounds, so the index grows while the other threads read it.
                if round % 20 == 0 { metrics.increment("growth_total", ["thread": own, "round": String(round)]) }
            }
            writersDone.add(1, ordering: .releasing)
        }
        while scraped.load(ordering: .acquiring) < 1_000_000 { usleep(1_000) }

        #expect(problems.withLock { $0 } == [])
        #expect(scraped.load(ordering: .relaxed) > 1_000_000)
        let samples = Self.samples(prometheus.render())
        let calls = Self.threads * Self.rounds
        #expect(samples[#"tokenscan_shared_total{vendor="github"}"#] == String(calls))
        for thread in 0..<Self.threads {
            #expect(samples[#"tokenscan_own_total{thread="t\#(thread)"}"#] == String(2 * Self.rounds))
        }
        #expect(samples[#"tokenscan_pair_total{reason="bad",vendor="github"}"#] == String(calls))
        let growth = samples.filter { $0.key.hasPrefix("tokenscan_growth_total{") }
        #expect(growth.count == Self.threads * Self.rounds / 20)
        #expect(growth.values.allSatisfy { $0 == "1" })

        let perValue = calls / Self.values.count
        let histogram = #"tokenscan_latency_seconds_bucket{vendor="github",le="#
        #expect(samples[histogram + #""0.001"}"#] == String(perValue))
        #expect(samples[histogram + #""0.005"}"#] == String(2 * perValue))
        #expect(samples[histogram + #""0.25"}"#] == String(3 * perValue))
        #expect(samples[histogram + #""5"}"#] == String(4 * perValue))
        #expect(samples[histogram + #""10"}"#] == String(4 * perValue))
        #expect(samples[histogram + #""+Inf"}"#] == String(calls))
        #expect(samples[#"tokenscan_latency_seconds_count{vendor="github"}"#] == String(calls))
        let sum = try #require(samples[#"tokenscan_latency_seconds_sum{vendor="github"}"#].flatMap(Double.init))
        #expect(sum == Double(perValue) * Self.values.reduce(0, +))
    }

    @Test func aCounterStopsAtIntMax() {
        let prometheus = PrometheusMetrics(descriptions: [])
        prometheus.increment("big_total", labels: [], by: Int.max - 1)
        prometheus.increment("big_total", labels: [], by: 5)
        prometheus.increment("big_total", labels: [], by: 5)
        #expect(prometheus.render().contains("tokenscan_big_total \(Int.max)\n"))
    }

    @Test func manySeriesEachKeepTheirOwnCount() {
        let prometheus = PrometheusMetrics(descriptions: [])
        let metrics = Metrics(prometheus)
        for pass in 1...3 {
            for n in 0..<3_000 { metrics.increment("wide_total", ["id": String(n)], by: pass) }
        }
        let samples = Self.samples(prometheus.render())
        #expect(samples.count == 3_000)
        #expect((0..<3_000).allSatisfy { samples[#"tokenscan_wide_total{id="\#($0)"}"#] == "6" })
    }

    /// `series{labels}` → value, for every sample line.
    static func samples(_ text: String) -> [String: String] {
        var samples: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " ") else { continue }
            samples[String(line[..<space])] = String(line[line.index(after: space)...])
        }
        return samples
    }

    /// A bucket bound as the `le` label writes it.
    static func format(_ bound: Double) -> String {
        bound == bound.rounded() ? String(Int(bound)) : "\(bound)"
    }
}
