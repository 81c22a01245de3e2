import Foundation
import SecretsCore
import Sinks
import Testing

@Suite("PrometheusMetrics")
struct MetricsPrometheusTests {
    @Test func goldenTextFormat() {
        let metrics = PrometheusMetrics(descriptions: [])
        metrics.describe("reports_received_total", help: "Reports received.\nBy vendor \\ kind.")
        metrics.describe("latency_seconds", help: "Latency.", type: .histogram, buckets: [1, 0.125])
        metrics.increment("reports_received_total", labels: [("vendor", "github")], by: 2)
        metrics.increment("reports_received", labels: [("vendor", "a\"b\\c\nd")], by: 1)
        metrics.increment("mails_sent", labels: [], by: 3)
        for value in [0.125, 0.5, 4] { metrics.observe("latency_seconds", labels: [("vendor", "github")], value: value) }

        #expect(metrics.render() == #"""
            # HELP tokenscan_latency_seconds Latency.
            # TYPE tokenscan_latency_seconds histogram
            tokenscan_latency_seconds_bucket{vendor="github",le="0.125"} 1
            tokenscan_latency_seconds_bucket{vendor="github",le="1"} 2
            tokenscan_latency_seconds_bucket{vendor="github",le="+Inf"} 3
            tokenscan_latency_seconds_sum{vendor="github"} 4.625
            tokenscan_latency_seconds_count{vendor="github"} 3
            # TYPE tokenscan_mails_sent_total counter
            tokenscan_mails_sent_total 3
            # HELP tokenscan_reports_received_total Reports received.\nBy vendor \\ kind.
            # TYPE tokenscan_reports_received_total counter
            tokenscan_reports_received_total{vendor="a\"b\\c\nd"} 1
            tokenscan_reports_received_total{vendor="github"} 2

            """#)
    }

    @Test func knownMetricsHaveHelpBeforeAnySample() {
        let text = PrometheusMetrics().render()
        for description in PrometheusMetrics.tokenscanMetrics {
            #expect(text.contains("# HELP tokenscan_\(description.name) \(description.help)\n# TYPE tokenscan_\(description.name) \(description.type.rawValue)\n"))
        }
    }

    @Test func defaultHistogramBucketsAreCumulativeUpToInf() throws {
        let metrics = PrometheusMetrics()
        let values = [0.0005, 0.001, 0.003, 0.02, 0.02, 0.3, 2, 7, 12]
        for value in values { metrics.observe("request_duration_seconds", labels: [("vendor", "github")], value: value) }
        let lines = metrics.render().split(separator: "\n").filter { $0.hasPrefix("tokenscan_request_duration_seconds_bucket{") }
        #expect(lines.count == PrometheusMetrics.defaultBuckets.count + 1)
        #expect(lines.first == #"tokenscan_request_duration_seconds_bucket{vendor="github",le="0.001"} 2"#)
        #expect(lines.contains(#"tokenscan_request_duration_seconds_bucket{vendor="github",le="0.0025"} 2"#))
        #expect(lines.contains(#"tokenscan_request_duration_seconds_bucket{vendor="github",le="0.025"} 5"#))
        #expect(lines.contains(#"tokenscan_request_duration_seconds_bucket{vendor="github",le="10"} 8"#))
        #expect(lines.last == #"tokenscan_request_duration_seconds_bucket{vendor="github",le="+Inf"} 9"#)
        let counts = try lines.map { try #require(Int($0.split(separator: " ").last ?? "")) }
        #expect(counts == counts.sorted())
        #expect(metrics.render().contains("tokenscan_request_duration_seconds_count{vendor=\"github\"} 9\n"))
    }

    @Test func labelOrderDoesNotMakeANewSeries() {
        let metrics = PrometheusMetrics(descriptions: [])
        metrics.increment("x_total", labels: [("b", "1"), ("a", "2")], by: 1)
        metrics.increment("x_total", labels: [("a", "2"), ("b", "1")], by: 1)
        #expect(metrics.render() == "# TYPE tokenscan_x_total counter\ntokenscan_x_total{a=\"2\",b=\"1\"} 2\n")
    }

    @Test func namesAndLabelNamesAreSanitized() {
        let metrics = PrometheusMetrics(prefix: "", descriptions: [])
        metrics.increment("9weird-name.x", labels: [("bad-label", "v"), ("bad-label", "second is dropped")], by: 1)
        metrics.observe("h", labels: [("le", "mine")], value: 1)
        let text = metrics.render()
        #expect(text.contains("_9weird_name_x_total{bad_label=\"v\"} 1\n"))
        #expect(text.contains("h_bucket{_le=\"mine\",le=\"1\"} 1\n"))
    }

    @Test func aNameKeepsItsFirstTypeAndBadValuesAreIgnored() {
        let metrics = PrometheusMetrics(descriptions: [])
        metrics.increment("c_total", labels: [], by: 1)
        metrics.increment("c_total", labels: [], by: -5)
        metrics.observe("c_total", labels: [], value: 1) // a counter: ignored
        metrics.observe("h_seconds", labels: [], value: .nan)
        metrics.increment("h_seconds", labels: [], by: 1) // becomes `h_seconds_total`, a different name
        let text = metrics.render()
        #expect(text.contains("tokenscan_c_total 1\n"))
        #expect(!text.contains("tokenscan_c_total_bucket"))
        #expect(text.contains("tokenscan_h_seconds_total 1\n"))
        #expect(!text.contains("tokenscan_h_seconds_count"))
    }

    @Test func seriesBeyondTheLimitAreDroppedAndCounted() {
        let metrics = PrometheusMetrics(maxSeriesPerMetric: 2, descriptions: [])
        for vendor in ["a", "b", "c", "d"] { metrics.increment("r_total", labels: [("vendor", vendor)], by: 1) }
        metrics.increment("r_total", labels: [("vendor", "a")], by: 1)
        let text = metrics.render()
        #expect(text.contains("tokenscan_r_total{vendor=\"a\"} 2\n"))
        #expect(text.contains("tokenscan_r_total{vendor=\"b\"} 1\n"))
        #expect(!text.contains("vendor=\"c\""))
        #expect(text.hasSuffix("# TYPE tokenscan_metrics_series_dropped_total counter\ntokenscan_metrics_series_dropped_total 2\n"))
    }

    @Test func concurrentUpdatesAreAllCounted() {
        let metrics = PrometheusMetrics(descriptions: [])
        DispatchQueue.concurrentPerform(iterations: 8) { n in
            for _ in 0..<1000 {
                metrics.increment("n_total", labels: [("vendor", n % 2 == 0 ? "even" : "odd")], by: 1)
                metrics.observe("d_seconds", labels: [], value: 0.01)
            }
        }
        let text = metrics.render()
        #expect(text.contains("tokenscan_n_total{vendor=\"even\"} 4000\n"))
        #expect(text.contains("tokenscan_n_total{vendor=\"odd\"} 4000\n"))
        #expect(text.contains("tokenscan_d_seconds_count 8000\n"))
    }

    @Test func worksBehindTheMetricsFacade() {
        let prometheus = PrometheusMetrics()
        let metrics = Metrics(prometheus)
        metrics.increment("disclosures_outcome_total", ["vendor": "github", "outcome": "revoked"])
        #expect(prometheus.render().contains("tokenscan_disclosures_outcome_total{outcome=\"revoked\",vendor=\"github\"} 1\n"))
    }
}
