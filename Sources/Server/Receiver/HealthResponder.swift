import Foundation
import SecretsCore
import Sinks

/// `GET /healthz`, `/readyz` and `/metrics`.
public struct HealthResponder: Sendable {
    public enum Endpoint: Sendable { case live, ready, metrics }

    let vendors: VendorSet
    let storage: Storage
    let prometheus: PrometheusMetrics

    public init(vendors: VendorSet, storage: Storage, prometheus: PrometheusMetrics) {
        self.vendors = vendors
        self.storage = storage
        self.prometheus = prometheus
    }

    func respond(_ endpoint: Endpoint) -> HTTPResponse {
        switch endpoint {
        case .live:
            return .json(200, Array("{\"status\":\"ok\"}".utf8))
        case .metrics:
            return .text(200, prometheus.render() + keyCacheExposition() + backlogExposition(),
                         contentType: PrometheusMetrics.contentType)
        case .ready:
            return readiness()
        }
    }

    /// Ready when the database answers and every enabled vendor has keys; otherwise 503 saying what is missing.
    private func readiness() -> HTTPResponse {
        var problems: [String] = []
        var database = "ok"
        do {
            _ = try storage.queue.pendingJobCount()
        } catch {
            database = "unreachable"
            problems.append("database: \(error)")
        }
        var vendorStates: [String: String] = [:]
        for vendor in vendors.all {
            if vendor.keyCache.status.hasKeys {
                vendorStates[vendor.id] = "ok"
            } else {
                let reason = vendor.keyCache.status.lastError ?? "no keys fetched yet"
                vendorStates[vendor.id] = "no keys: \(reason)"
                problems.append("vendor \(vendor.id) has no public keys (\(reason))")
            }
        }
        let object: [String: Any] = [
            "status": problems.isEmpty ? "ready" : "not ready",
            "database": database,
            "vendors": vendorStates,
            "problems": problems,
        ]
        let body = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
            .map { Array($0) } ?? Array("{\"status\":\"not ready\"}".utf8)
        return .json(problems.isEmpty ? 200 : 503, body, headers: problems.isEmpty ? [:] : ["Retry-After": "5"])
    }

    /// The durable queues' lengths, read from the database at scrape time (left out when it does not answer).
    private func backlogExposition() -> String {
        let gauges: [(name: String, help: String, value: () throws -> Int)] = [
            ("jobs_pending", "Accepted disclosures not processed yet.", { try storage.queue.pendingJobCount() }),
            ("mail_pending", "Mails in the outbox not sent yet.", { try storage.outbox.pendingMailCount() }),
        ]
        var text = ""
        for gauge in gauges {
            guard let value = try? gauge.value() else { continue }
            let name = prometheus.prefix + gauge.name
            text += "# HELP \(name) \(gauge.help)\n# TYPE \(name) gauge\n\(name) \(value)\n"
        }
        return text
    }

    /// The key caches keep their own counters; /metrics shows them per vendor, in the exposition format.
    private func keyCacheExposition() -> String {
        let series: [(name: String, help: String, value: (KeyCacheStats) -> Int)] = [
            ("key_cache_hits_total", "Key lookups answered from the vendor's cache.", { $0.hits }),
            ("key_cache_misses_total", "Key lookups for a key id not in the cache.", { $0.misses }),
            ("key_cache_fetches_total", "Fetches of the vendor's public-key document.", { $0.fetches }),
            ("key_cache_refetches_total", "Fetches forced by an unknown key id.", { $0.refetches }),
            ("key_cache_fetch_failures_total", "Fetches of the key document that failed.", { $0.fetchFailures }),
            ("key_cache_malformed_keys_total", "Key document entries skipped as malformed.", { $0.malformedEntriesSkipped }),
        ]
        let stats = vendors.all.map { ($0.id, $0.keyCache.stats) }
        var text = ""
        for s in series {
            let name = prometheus.prefix + s.name
            text += "# HELP \(name) \(s.help)\n# TYPE \(name) counter\n"
            for (vendor, value) in stats {
                text += "\(name){vendor=\"\(vendor)\"} \(s.value(value))\n"
            }
        }
        return text
    }
}
