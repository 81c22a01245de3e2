import SecretsCore
import Synchronization
import Testing

/// A backend written before `MetricLabels`: only the array requirements.
final class ArrayOnlyBackend: MetricsBackend {
    let calls = Mutex<[String]>([])

    func increment(_ name: String, labels: [(String, String)], by amount: Int) {
        calls.withLock { $0.append("\(name) \(labels.map { "\($0.0)=\($0.1)" }) +\(amount)") }
    }

    func observe(_ name: String, labels: [(String, String)], value: Double) {
        calls.withLock { $0.append("\(name) \(labels.map { "\($0.0)=\($0.1)" }) \(value)") }
    }
}

@Suite("Metrics facade and MetricLabels")
struct MetricsFacadeTests {
    static let cases: [KeyValuePairs<String, String>] = [
        [:],
        ["vendor": "github"],
        ["vendor": "github", "reason": "bad_signature"],
        ["vendor": "github", "reason": "bad_signature", "outcome": "revoked"],
    ]

    @Test(arguments: cases)
    func labelsKeepTheCallersOrder(_ labels: KeyValuePairs<String, String>) {
        let expected = labels.map { [$0.key, $0.value] }
        let fromPairs = MetricLabels(labels)
        let fromArray = MetricLabels(labels.map { ($0.key, $0.value) })
        #expect(fromPairs.map { [$0.0, $0.1] } == expected)
        #expect(fromPairs.count == labels.count)
        var visited: [[String]] = []
        fromPairs.forEachLabel { visited.append([$0, $1]) }
        #expect(visited == expected)
        #expect(fromPairs == fromArray)
    }

    @Test func labelsAreEqualOnlyInTheSameOrder() {
        #expect(MetricLabels(["a": "1", "b": "2"]) == MetricLabels([("a", "1"), ("b", "2")]))
        #expect(MetricLabels(["a": "1", "b": "2"]) != MetricLabels(["b": "2", "a": "1"]))
        #expect(MetricLabels(["a": "1"]) != MetricLabels(["a": "2"]))
        #expect(MetricLabels(["a": "1"]) != MetricLabels(["a": "1", "b": "2"]))
        #expect(MetricLabels([:]) != MetricLabels(["a": "1"]))
        #expect(MetricLabels(["a": "1", "b": "2", "c": "3"]) != MetricLabels(["a": "1", "b": "2", "c": "4"]))
    }

    @Test func aBackendWithOnlyTheArrayRequirementsGetsEveryCall() {
        let backend = ArrayOnlyBackend()
        let metrics = Metrics(backend)
        metrics.increment("mails_sent_total")
        metrics.increment("reports_received_total", ["vendor": "github"], by: 3)
        metrics.observe("request_duration_seconds", ["vendor": "github", "outcome": "revoked"], value: 0.25)
        #expect(backend.calls.withLock { $0 } == [
            "mails_sent_total [] +1",
            "reports_received_total [\"vendor=github\"] +3",
            "request_duration_seconds [\"vendor=github\", \"outcome=revoked\"] 0.25",
        ])
    }

    @Test func multiplexPassesEveryCallToEachBackend() {
        let first = InMemoryMetrics()
        let second = ArrayOnlyBackend()
        let metrics = Metrics(MultiplexMetrics([first, second, NoMetrics()]))
        metrics.increment("disclosures_outcome_total", ["vendor": "github", "outcome": "revoked"], by: 2)
        metrics.observe("request_duration_seconds", ["vendor": "github"], value: 0.5)
        #expect(first.counter("disclosures_outcome_total", ["outcome": "revoked", "vendor": "github"]) == 2)
        #expect(first.observations("request_duration_seconds", ["vendor": "github"]) == [0.5])
        #expect(second.calls.withLock { $0.count } == 2)
    }
}
