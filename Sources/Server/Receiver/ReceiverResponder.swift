import Foundation
import SecretsCore

/// The receiver's HTTP contract (DESIGN.md "HTTP contract"): routing, verification, intake, answers.
///
/// Runs on libmicrohttpd's pool threads, synchronously: verify (OpenSSL), parse, one database
/// transaction, answer. Nothing a sender puts in a request yields a 500; no answer, log line or metric
/// holds a raw token.
public struct ReceiverResponder: HTTPResponder {
    static let detectPath = "/_/secrets/disclose-token"
    static let vendorPathPrefix = "/_/secrets/"
    static let vendorPathSuffix = "/disclose-token"
    /// The one body every verification failure gets, whatever the cause.
    static let verificationFailedBody = Array("{\"error\":\"signature verification failed\"}".utf8)

    let vendors: VendorSet
    let analyzer: DisclosureAnalyzer
    let workers: AnalysisWorkers?
    let health: HealthResponder
    let metrics: Metrics
    let logger: Logger

    public init(vendors: VendorSet, analyzer: DisclosureAnalyzer, workers: AnalysisWorkers?, health: HealthResponder,
                metrics: Metrics, logger: Logger) {
        self.vendors = vendors
        self.analyzer = analyzer
        self.workers = workers
        self.health = health
        self.metrics = metrics
        self.logger = logger
    }

    public func respond(to request: HTTPRequest) -> HTTPResponse {
        let started = ContinuousClock.now
        var vendorLabel = "none"
        var items = 0
        let response: HTTPResponse
        switch route(request.path) {
        case .health(let endpoint):
            guard request.method == "GET" || request.method == "HEAD" else {
                return HTTPResponse.error(405, "method not allowed", headers: ["Allow": "GET, HEAD"])
            }
            return health.respond(endpoint)
        case .notFound:
            response = .error(404, "not found")
        case .disclose(let vendorID):
            if request.method != "POST" {
                response = .error(405, "method not allowed; use POST", headers: ["Allow": "POST"])
            } else if let vendor = vendorID.map({ vendors.vendor(id: $0) }) ?? vendors.detect(headers: request.headers) {
                vendorLabel = vendor.id
                (response, items) = disclose(request, to: vendor)
                metrics.observe("request_duration_seconds", ["vendor": vendor.id],
                                value: (ContinuousClock.now - started) / .seconds(1))
            } else {
                response = .error(404, vendorID == nil
                    ? "no configured vendor's key-identifier and signature headers in the request"
                    : "no such vendor")
            }
        }
        if logger.minimum <= .info {
            let micros = (ContinuousClock.now - started) / .microseconds(1)
            logger.info("request", [
                "method": String(request.method.prefix(16)), "path": String(request.path.prefix(128)), "vendor": vendorLabel,
                "status": String(response.status), "items": String(items), "bytes": String(request.body.count),
                "ms": "\(Int(micros) / 1000).\(String(Int(micros) % 1000 / 10 + 100).dropFirst())",
            ])
        }
        return response
    }

    enum Route {
        case disclose(vendorID: String?)
        case health(HealthResponder.Endpoint)
        case notFound
    }

    func route(_ path: String) -> Route {
        switch path {
        case Self.detectPath: return .disclose(vendorID: nil)
        case "/healthz": return .health(.live)
        case "/readyz": return .health(.ready)
        case "/metrics": return .health(.metrics)
        default: break
        }
        guard path.hasPrefix(Self.vendorPathPrefix), path.hasSuffix(Self.vendorPathSuffix) else { return .notFound }
        let id = path.dropFirst(Self.vendorPathPrefix.count).dropLast(Self.vendorPathSuffix.count)
        guard !id.isEmpty, !id.contains("/") else { return .notFound }
        return .disclose(vendorID: String(id))
    }

    /// Verify, parse, accept durably, answer. Answers the response and the number of items accepted.
    private func disclose(_ request: HTTPRequest, to vendor: any VendorVerifier) -> (HTTPResponse, Int) {
        metrics.increment("reports_received_total", ["vendor": vendor.id])
        switch vendor.verify(body: request.body, headers: request.headers) {
        case .failed(let failure):
            metrics.increment("verification_failures_total", ["vendor": vendor.id, "reason": failure.rawValue])
            logger.warning("verification failed", ["vendor": vendor.id, "reason": failure.rawValue])
            if failure == .keysUnavailable && !vendor.keyCache.status.hasKeys {
                return (.error(503, "the vendor's public keys are unavailable; retry later", headers: ["Retry-After": "30"]), 0)
            }
            return (.json(400, Self.verificationFailedBody), 0)
        case .verified:
            metrics.increment("reports_verified_total", ["vendor": vendor.id])
        }

        let disclosures: [Disclosure]
        do {
            disclosures = try vendor.disclosures(from: request.body)
        } catch {
            metrics.increment("reports_rejected_total", ["vendor": vendor.id, "reason": error.reason])
            return (error.reason == "too_many_items" ? .error(413, error.description) : .error(400, error.description), 0)
        }

        let accepted: [AcceptedDisclosure]
        do {
            accepted = try analyzer.accept(vendor: vendor.id, disclosures: disclosures, at: Date())
        } catch {
            logger.error("intake failed", ["vendor": vendor.id, "error": "\(error)"])
            return (.error(503, "the report could not be stored; retry later", headers: ["Retry-After": "5"]), 0)
        }
        workers?.wake()

        switch vendor.response {
        case .accepted:
            return (HTTPResponse(status: 204), accepted.count)
        case .labels:
            let labels = analyzer.labels(for: accepted, deadline: .now + vendor.labelsDeadline)
            return (.json(200, analyzer.encodeLabels(labels)), accepted.count)
        }
    }
}
