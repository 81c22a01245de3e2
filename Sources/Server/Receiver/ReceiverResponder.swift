import Foundation
import SecretsCore
import Synchronization

/// The receiver's HTTP contract (DESIGN.md "HTTP contract"): routing, verification, intake, answers.
///
/// Runs on libmicrohttpd's pool threads: verify (OpenSSL), parse, hand the records to the intake batcher
/// (which commits many reports' records in one transaction), answer once committed. Nothing a sender puts in a request yields a 500; no answer, log line or metric
/// holds a raw token.
public struct ReceiverResponder: HTTPResponder {
    static let detectPath = "/_/secrets/disclose-token"
    static let vendorPathPrefix = "/_/secrets/"
    static let vendorPathSuffix = "/disclose-token"
    /// The one body every verification failure gets, whatever the cause.
    static let verificationFailedBody = Array("{\"error\":\"signature verification failed\"}".utf8)

    let vendors: VendorSet
    let intake: IntakeBatcher
    let health: HealthResponder
    let metrics: Metrics
    let logger: Logger
    var analyzer: DisclosureAnalyzer { intake.analyzer }

    /// `intake` stores accepted reports (and, through its `onStored`, wakes the workers).
    public init(vendors: VendorSet, intake: IntakeBatcher, health: HealthResponder, metrics: Metrics, logger: Logger) {
        self.vendors = vendors
        self.intake = intake
        self.health = health
        self.metrics = metrics
        self.logger = logger
    }

    /// Answers on the calling thread (waiting for the intake commit).
    public func respond(to request: HTTPRequest) -> HTTPResponse {
        let done = DispatchSemaphore(value: 0)
        let answer = Mutex<HTTPResponse?>(nil)
        respond(to: request, reply: HTTPReply { response in
            answer.withLock { $0 = response }
            done.signal()
        })
        done.wait()
        return answer.withLock { $0 } ?? .error(503, "no answer; retry later", headers: ["Retry-After": "5"])
    }

    /// Answers a report once its items are stored: in `accepted` mode the request thread hands the
    /// report to the intake batcher and returns; the answer goes out when the batch committed.
    public func respond(to request: HTTPRequest, reply: HTTPReply) {
        let started = ContinuousClock.now
        switch route(request.path) {
        case .health(let endpoint):
            guard request.method == "GET" || request.method == "HEAD" else {
                reply.send(HTTPResponse.error(405, "method not allowed", headers: ["Allow": "GET, HEAD"]))
                return
            }
            reply.send(health.respond(endpoint))
        case .notFound:
            finish(request, started: started, vendor: nil, (.error(404, "not found"), 0), reply: reply)
        case .disclose(let vendorID):
            if request.method != "POST" {
                finish(request, started: started, vendor: nil,
                       (.error(405, "method not allowed; use POST", headers: ["Allow": "POST"]), 0), reply: reply)
            } else if let vendor = vendorID.map({ vendors.vendor(id: $0) }) ?? vendors.detect(headers: request.headers) {
                disclose(request, to: vendor) { answer in
                    finish(request, started: started, vendor: vendor.id, answer, reply: reply)
                }
            } else {
                finish(request, started: started, vendor: nil, (.error(404, vendorID == nil
                    ? "no configured vendor's key-identifier and signature headers in the request"
                    : "no such vendor"), 0), reply: reply)
            }
        }
    }

    /// Observes, logs and sends one answer (with the number of items accepted).
    private func finish(_ request: HTTPRequest, started: ContinuousClock.Instant, vendor: String?,
                        _ answer: (HTTPResponse, Int), reply: HTTPReply) {
        let (response, items) = answer
        if let vendor {
            metrics.observe("request_duration_seconds", ["vendor": vendor], value: (ContinuousClock.now - started) / .seconds(1))
        }
        if logger.minimum <= .info {
            let micros = (ContinuousClock.now - started) / .microseconds(1)
            logger.info("request", [
                "method": String(request.method.prefix(16)), "path": String(request.path.prefix(128)), "vendor": vendor ?? "none",
                "status": String(response.status), "items": String(items), "bytes": String(request.body.count),
                "ms": "\(Int(micros) / 1000).\(String(Int(micros) % 1000 / 10 + 100).dropFirst())",
            ])
        }
        reply.send(response)
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

    /// Verify, parse, accept durably, answer: calls `done` once with the response and the number of items
    /// accepted, on this thread or (after the intake commit) on the intake writer's.
    private func disclose(_ request: HTTPRequest, to vendor: any VendorVerifier,
                          done: @escaping @Sendable ((HTTPResponse, Int)) -> Void) {
        metrics.increment("reports_received_total", ["vendor": vendor.id])
        // The intake may wait for this report before its next commit (group commit) until it is
        // submitted or known not to come.
        intake.reportArriving()
        var submitted = false
        defer { if !submitted { intake.reportNotComing() } }
        switch vendor.verify(body: request.body, headers: request.headers) {
        case .failed(let failure):
            metrics.increment("verification_failures_total", ["vendor": vendor.id, "reason": failure.rawValue])
            logger.warning("verification failed", ["vendor": vendor.id, "reason": failure.rawValue])
            if failure == .keysUnavailable && !vendor.keyCache.status.hasKeys {
                return done((.error(503, "the vendor's public keys are unavailable; retry later", headers: ["Retry-After": "30"]), 0))
            }
            return done((.json(400, Self.verificationFailedBody), 0))
        case .verified:
            metrics.increment("reports_verified_total", ["vendor": vendor.id])
        }

        let disclosures: [Disclosure]
        do {
            disclosures = try vendor.disclosures(from: request.body)
        } catch {
            metrics.increment("reports_rejected_total", ["vendor": vendor.id, "reason": error.reason])
            return done((error.reason == "too_many_items" ? .error(413, error.description) : .error(400, error.description), 0))
        }
        let prepared = analyzer.prepare(vendor: vendor.id, disclosures: disclosures, at: Date())

        submitted = true
        switch vendor.response {
        case .accepted:
            intake.submit(prepared, arrived: true) { [logger] result in
                switch result {
                case .success(let accepted):
                    done((HTTPResponse(status: 204), accepted.count))
                case .failure(let error):
                    done((Self.intakeFailed(error, vendor: vendor.id, logger: logger), 0))
                }
            }
        case .labels:
            // The labels wait for the workers (up to the vendor's deadline): on this thread.
            let accepted: [AcceptedDisclosure]
            do {
                accepted = try intake.accept(prepared, arrived: true)
            } catch {
                return done((Self.intakeFailed(error, vendor: vendor.id, logger: logger), 0))
            }
            let labels = analyzer.labels(for: accepted, deadline: .now + vendor.labelsDeadline)
            done((.json(200, analyzer.encodeLabels(labels)), accepted.count))
        }
    }

    private static func intakeFailed(_ error: any Error, vendor: String, logger: Logger) -> HTTPResponse {
        logger.error("intake failed", ["vendor": vendor, "error": "\(error)"])
        return .error(503, "the report could not be stored; retry later", headers: ["Retry-After": "5"])
    }
}
