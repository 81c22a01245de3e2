import SecretsCore
import Synchronization

/// Keeps counters and histograms in memory and renders them in the Prometheus text exposition
/// format 0.0.4, for `GET /metrics`.
///
/// - Names get the prefix (`tokenscan_` by default) and, for counters, the suffix `_total` when they
///   lack them; characters Prometheus does not allow become `_`. So `increment("mails_sent")` and
///   `increment("mails_sent_total")` are one counter, `tokenscan_mails_sent_total`.
/// - A name is a counter or a histogram for good, fixed by `describe` or by its first use; a call of
///   the other kind on it is ignored. Negative increments and NaN observations are ignored.
/// - Histograms have fixed buckets: `describe(…, buckets:)` per name, else the defaults (0.001 s to 10 s).
/// - `render()` is deterministic: families by name, series by their labels, labels by name.
/// - At most `maxSeriesPerMetric` label sets per name; further ones are dropped and counted in
///   `<prefix>metrics_series_dropped_total`, so a caller passing unbounded label values cannot exhaust memory.
///
/// Thread-safe. A call that records into an existing series takes no lock: it finds the series in a
/// lock-free index and updates it with atomics. Only a call that makes a new series (or is dropped or
/// ignored) takes the registry's `Mutex`.
public final class PrometheusMetrics: MetricsBackend {
    public enum MetricType: String, Sendable, Equatable {
        case counter, histogram
    }

    /// What `# HELP` and `# TYPE` say about a metric, and a histogram's buckets.
    public struct Description: Sendable, Equatable {
        /// As callers pass it (`reports_received_total`), without the prefix.
        public var name: String
        public var help: String
        public var type: MetricType
        /// Upper bounds of a histogram's buckets; nil: the backend's default buckets.
        public var buckets: [Double]?

        public init(_ name: String, help: String, type: MetricType = .counter, buckets: [Double]? = nil) {
            self.name = name
            self.help = help
            self.type = type
            self.buckets = buckets
        }
    }

    /// Latency buckets in seconds, 1 ms to 10 s.
    public static let defaultBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// The `Content-Type` of `render()`'s output.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// The metrics tokenscan records, described by default so their HELP lines are always there.
    /// The key caches' counters (`key_cache_*_total`) are not here: `/metrics` appends them from each
    /// cache's own statistics, and a family must not appear twice in one exposition.
    public static let tokenscanMetrics: [Description] = [
        Description("reports_received_total", help: "Leak reports received, by vendor."),
        Description("reports_verified_total", help: "Leak reports whose signature verified, by vendor."),
        Description("verification_failures_total", help: "Leak reports that failed verification, by vendor and reason."),
        Description("reports_rejected_total", help: "Verified leak reports refused as malformed or too large, by vendor and reason."),
        Description("disclosures_received_total", help: "Disclosed tokens received, by vendor."),
        Description("disclosures_accept_failed_total", help: "Reports whose disclosures could not be stored, by vendor."),
        Description("disclosures_retried_total", help: "Disclosure jobs that failed and were put back for a retry, by vendor."),
        Description("disclosures_outcome_total", help: "Disclosed tokens by vendor and final outcome."),
        Description("tokens_revoked_total", help: "Tokens revoked because a vendor reported them leaked."),
        Description("mails_sent_total", help: "Notification mails delivered to the mail transport."),
        Description("mails_failed_total", help: "Notification mail delivery attempts that failed (retried later)."),
        Description("request_duration_seconds", help: "Time to answer a vendor's report, in seconds.", type: .histogram),
    ]

    public let prefix: String
    public let defaultBuckets: [Double]
    public let maxSeriesPerMetric: Int

    private struct Family {
        var name: String
        var type: MetricType
        var help: String?
        var buckets: [Double]
        var series: [[String]: PrometheusSeries] = [:]
    }

    private struct State {
        var families: [String: Family] = [:]
        /// The caller's name → the exposed name, so the prefix and suffix are worked out once per name.
        var names: [NameKey: String] = [:]
        var droppedSeries = 0
    }

    private struct NameKey: Hashable {
        let name: String
        let type: MetricType
    }

    private let state = Mutex(State())
    /// Every series made so far, by the exact calls that used it.
    private let index = PrometheusSeriesIndex()

    /// - Parameters:
    ///   - prefix: prepended to every name that lacks it; `""` for none.
    ///   - descriptions: described up front (`describe`); the default is `tokenscanMetrics`.
    public init(prefix: String = "tokenscan_", defaultBuckets: [Double] = PrometheusMetrics.defaultBuckets,
                maxSeriesPerMetric: Int = 10_000, descriptions: [Description] = PrometheusMetrics.tokenscanMetrics) {
        self.prefix = Self.sanitize(prefix, allowColon: true, allowEmpty: true)
        self.defaultBuckets = Self.normalize(defaultBuckets)
        self.maxSeriesPerMetric = max(1, maxSeriesPerMetric)
        for description in descriptions { describe(description) }
    }

    /// Gives `name` a HELP line, a type and (for a histogram) its buckets. Describing an already used
    /// name changes its help only: its type and buckets stay those its samples were recorded with.
    public func describe(_ name: String, help: String, type: MetricType = .counter, buckets: [Double]? = nil) {
        describe(Description(name, help: help, type: type, buckets: buckets))
    }

    public func describe(_ description: Description) {
        let exposed = exposedName(description.name, type: description.type)
        let buckets = description.buckets.map(Self.normalize) ?? defaultBuckets
        state.withLock { state in
            state.names[NameKey(name: description.name, type: description.type)] = exposed
            if state.families[exposed] == nil {
                state.families[exposed] = Family(name: exposed, type: description.type, help: description.help, buckets: buckets)
            } else {
                state.families[exposed]?.help = description.help
            }
        }
    }

    public func increment(_ name: String, labels: [(String, String)], by amount: Int) {
        increment(name, labels: MetricLabels(labels), by: amount)
    }

    public func observe(_ name: String, labels: [(String, String)], value: Double) {
        observe(name, labels: MetricLabels(labels), value: value)
    }

    public func increment(_ name: String, labels: MetricLabels, by amount: Int) {
        guard amount >= 0 else { return }
        let hash = PrometheusSeriesIndex.hash(name, histogram: false, labels)
        if index.withSeries(hash: hash, name: name, histogram: false, labels: labels, { $0.add(amount) }) { return }
        register(hash, name, .counter, labels)?.add(amount)
    }

    public func observe(_ name: String, labels: MetricLabels, value: Double) {
        guard !value.isNaN else { return }
        let hash = PrometheusSeriesIndex.hash(name, histogram: true, labels)
        if index.withSeries(hash: hash, name: name, histogram: true, labels: labels, { $0.observe(value) }) { return }
        register(hash, name, .histogram, labels)?.observe(value)
    }

    /// Every metric in the text exposition format 0.0.4 (serve it with `contentType`).
    public func render() -> String {
        let (families, dropped) = state.withLock { state in (Array(state.families.values), state.droppedSeries) }
        var out = ""
        for family in families.sorted(by: { $0.name < $1.name }) {
            if let help = family.help { out += "# HELP \(family.name) \(Self.escapeHelp(help))\n" }
            out += "# TYPE \(family.name) \(family.type.rawValue)\n"
            let series = family.series.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map(\.value)
            for one in series {
                switch family.type {
                case .counter:
                    out += "\(family.name)\(Self.braces(one.rendered)) \(one.value)\n"
                case .histogram:
                    // Read once: the `+Inf` bucket and `_count` are the total of the buckets as read.
                    let (buckets, sum) = one.histogram()
                    var cumulative: UInt64 = 0
                    let separator = one.rendered.isEmpty ? "" : ","
                    for (index, bound) in family.buckets.enumerated() {
                        cumulative &+= buckets[index]
                        out += "\(family.name)_bucket{\(one.rendered)\(separator)le=\"\(Self.format(bound))\"} \(cumulative)\n"
                    }
                    let count = cumulative &+ buckets[family.buckets.count]
                    out += "\(family.name)_bucket{\(one.rendered)\(separator)le=\"+Inf\"} \(count)\n"
                    out += "\(family.name)_sum\(Self.braces(one.rendered)) \(Self.format(sum))\n"
                    out += "\(family.name)_count\(Self.braces(one.rendered)) \(count)\n"
                }
            }
        }
        if dropped > 0 {
            let name = "\(prefix)metrics_series_dropped_total"
            out += "# HELP \(name) Label sets dropped because a metric reached its series limit.\n"
            out += "# TYPE \(name) counter\n\(name) \(dropped)\n"
        }
        return out
    }

    // MARK: Recording

    /// The series for a call the index does not know yet, made and indexed if need be; nil when the call is
    /// dropped (series limit) or ignored (the name is of the other type).
    private func register(_ hash: Int, _ name: String, _ type: MetricType, _ labels: MetricLabels) -> PrometheusSeries? {
        let key = Self.seriesKey(labels)
        return state.withLock { state -> PrometheusSeries? in
            let lookup = NameKey(name: name, type: type)
            let exposed: String
            if let known = state.names[lookup] {
                exposed = known
            } else {
                exposed = exposedName(name, type: type)
                state.names[lookup] = exposed
            }
            // Read the family in place, never into a local copy: a copy would make the insertion below
            // duplicate the family's whole series dictionary.
            if state.families[exposed] == nil {
                state.families[exposed] = Family(name: exposed, type: type, help: nil,
                                                 buckets: type == .histogram ? defaultBuckets : [])
            }
            guard state.families[exposed]?.type == type else { return nil }
            let series: PrometheusSeries
            if let known = state.families[exposed]?.series[key] {
                series = known
            } else {
                guard let count = state.families[exposed]?.series.count, count < maxSeriesPerMetric else {
                    state.droppedSeries += 1
                    return nil
                }
                series = PrometheusSeries(rendered: Self.renderLabels(key, histogram: type == .histogram),
                                          histogramBounds: type == .histogram ? state.families[exposed]?.buckets : nil)
                state.families[exposed]?.series[key] = series
            }
            index.add(hash: hash, name: name, histogram: type == .histogram, labels: labels, series: series)
            return series
        }
    }

    /// Labels sorted by name, the first of duplicate names kept, flattened to `[name, value, name, value…]`.
    private static func seriesKey(_ labels: MetricLabels) -> [String] {
        guard !labels.isEmpty else { return [] }
        if labels.count == 1 { return [labels[0].0, labels[0].1] }
        if labels.count == 2 && labels[0].0 != labels[1].0 {
            return labels[0].0 < labels[1].0 ? [labels[0].0, labels[0].1, labels[1].0, labels[1].1]
                                              : [labels[1].0, labels[1].1, labels[0].0, labels[0].1]
        }
        var key: [String] = []
        key.reserveCapacity(labels.count * 2)
        var previous: String?
        for (name, value) in labels.enumerated().sorted(by: { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }).map(\.element)
        where name != previous {
            key.append(name)
            key.append(value)
            previous = name
        }
        return key
    }

    private static func renderLabels(_ key: [String], histogram: Bool) -> String {
        var parts: [String] = []
        var index = 0
        while index + 1 < key.count {
            var name = sanitize(key[index], allowColon: false, allowEmpty: false)
            if histogram && name == "le" { name = "_le" } // `le` is the bucket bound's own label.
            parts.append("\(name)=\"\(escapeLabelValue(key[index + 1]))\"")
            index += 2
        }
        return parts.joined(separator: ",")
    }

    // MARK: Text format

    private func exposedName(_ name: String, type: MetricType) -> String {
        var exposed = Self.sanitize(name, allowColon: true, allowEmpty: false)
        if !exposed.hasPrefix(prefix) { exposed = prefix + exposed }
        if type == .counter && !exposed.hasSuffix("_total") { exposed += "_total" }
        return exposed
    }

    /// Replaces characters outside `[a-zA-Z0-9_]` (and `:` in metric names) with `_`; a leading digit gets a `_` before it.
    private static func sanitize(_ name: String, allowColon: Bool, allowEmpty: Bool) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in name.unicodeScalars {
            let ok = (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || (scalar >= "0" && scalar <= "9")
                || scalar == "_" || (allowColon && scalar == ":")
            scalars.append(ok ? scalar : "_")
        }
        if let first = scalars.first, first >= "0" && first <= "9" { scalars.insert("_", at: scalars.startIndex) }
        if scalars.isEmpty && !allowEmpty { return "_" }
        return String(scalars)
    }

    private static func normalize(_ buckets: [Double]) -> [Double] {
        Array(Set(buckets.filter { $0.isFinite })).sorted()
    }

    private static func braces(_ labels: String) -> String { labels.isEmpty ? "" : "{\(labels)}" }

    /// HELP text: backslash and line feed escaped.
    static func escapeHelp(_ text: String) -> String {
        var out = ""
        for ch in text.unicodeScalars {
            switch ch {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    /// Label values: backslash, double quote and line feed escaped.
    static func escapeLabelValue(_ text: String) -> String {
        var out = ""
        for ch in text.unicodeScalars {
            switch ch {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out
    }

    /// Go's shortest form as Prometheus writes it: `10`, `0.005`, `1e-05`, `+Inf`.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value == .infinity { return "+Inf" }
        if value == -.infinity { return "-Inf" }
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
