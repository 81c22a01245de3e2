import Foundation
import SecretsCore

/// The fake vendor's web app: the page, the vendor's public-key meta-API and the JSON API the page uses.
///
/// Routes (see docs/fake-vendor.md):
/// - `GET /`, `/app.js`, `/app.css` — the page.
/// - `GET /meta/public_keys/secret_scanning` and `…/token_scanning` — the key document, with an ETag.
/// - `GET /api/config`, `GET|POST /api/keys`, `DELETE /api/keys/{id}`, `POST /api/keys/{id}/current`,
///   `POST /api/keys/order`, `POST /api/build`, `POST /api/send`, `GET /api/history`.
///
/// Every `POST` must carry `Content-Type: application/json`: a cross-site form cannot, so another web
/// page cannot drive the fake vendor from a developer's browser. Bad input is a 4xx `{"error": …}`.
/// `/api/send` blocks its thread for the whole exchange with the target (at most `sendTimeouts.total`).
public struct FakeVendorResponder: HTTPResponder {
    public let state: FakeVendorState
    /// Where reports go when a send names no target.
    public let defaultTarget: String
    public let logger: Logger
    public var client: HTTPClient
    public var sendTimeouts: HTTPTimeouts

    public init(state: FakeVendorState, defaultTarget: String, logger: Logger = .none,
                client: HTTPClient = HTTPClient(userAgent: "tokenscan-fake-vendor"),
                sendTimeouts: HTTPTimeouts = HTTPTimeouts(connect: .seconds(5), total: .seconds(60))) {
        self.state = state
        self.defaultTarget = defaultTarget
        self.logger = logger
        self.client = client
        self.sendTimeouts = sendTimeouts
    }

    /// The paths the meta document is served on (GitHub's current and older names).
    public static let metaPaths = ["/meta/public_keys/secret_scanning", "/meta/public_keys/token_scanning"]

    public func respond(to request: HTTPRequest) -> HTTPResponse {
        do {
            return try route(request)
        } catch {
            return .error(error.status, error.message)
        }
    }

    private func route(_ request: HTTPRequest) throws(FakeVendorAPIError) -> HTTPResponse {
        let path = request.path
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)

        switch path {
        case "/", "/index.html":
            try allow(request, "GET")
            return Self.page(FakeVendorPage.html, "text/html; charset=utf-8")
        case "/app.js":
            try allow(request, "GET")
            return Self.page(FakeVendorPage.script, "text/javascript; charset=utf-8")
        case "/app.css":
            try allow(request, "GET")
            return Self.page(FakeVendorPage.style, "text/css; charset=utf-8")
        case _ where Self.metaPaths.contains(path):
            try allow(request, "GET")
            return metaDocument(request)
        case "/api/config":
            try allow(request, "GET")
            return try Self.json(ConfigAnswer(target: defaultTarget, publicKeysPath: Self.metaPaths[0],
                                              styles: FakeVendorStyle.allCases.map(\.rawValue),
                                              tampers: FakeVendorTamper.allCases.map(\.rawValue),
                                              maxCount: FakeVendorReport.maxCount))
        case "/api/keys":
            try allow(request, "GET", "POST")
            if request.method == "POST" {
                try requireJSON(request)
                let key = try storage { () throws(FakeVendorStateError) in try state.createKey() }
                logger.info("fake vendor key created", ["key_id": key.id])
                return try Self.json(KeyAnswer(key), status: 201)
            }
            return try keysAnswer()
        case "/api/keys/order":
            try allow(request, "POST")
            try requireJSON(request)
            let ids = try FakeVendorInput(request.body).stringList("ids")
            try storage { () throws(FakeVendorStateError) in try state.reorder(ids: ids) }
            return try keysAnswer()
        case "/api/build":
            try allow(request, "POST")
            try requireJSON(request)
            return try build(FakeVendorInput(request.body))
        case "/api/send":
            try allow(request, "POST")
            try requireJSON(request)
            return try send(FakeVendorInput(request.body))
        case "/api/history":
            try allow(request, "GET")
            return try Self.json(HistoryAnswer(history: state.history))
        default:
            break
        }

        // /api/keys/{id} and /api/keys/{id}/current
        if segments.count >= 3, segments[0] == "api", segments[1] == "keys", !segments[2].isEmpty {
            let id = segments[2]
            if segments.count == 3 {
                try allow(request, "DELETE")
                try storage { () throws(FakeVendorStateError) in try state.deleteKey(id: id) }
                logger.info("fake vendor key deleted", ["key_id": id])
                return try keysAnswer()
            }
            if segments.count == 4, segments[3] == "current" {
                try allow(request, "POST")
                try requireJSON(request)
                try storage { () throws(FakeVendorStateError) in try state.makeCurrent(id: id) }
                logger.info("fake vendor key made current", ["key_id": id])
                return try keysAnswer()
            }
        }
        throw FakeVendorAPIError(404, "no such page or API: \(request.method) \(path.prefix(200))")
    }

    // MARK: - Meta document

    /// `{"public_keys":[{"key_identifier","key","is_current"}]}` in the configured order, answered 304
    /// when `If-None-Match` names its ETag.
    private func metaDocument(_ request: HTTPRequest) -> HTTPResponse {
        let body = Array(Self.metaDocument(state.keys).utf8)
        let etag = "\"\(SHA256.hex(body).prefix(32))\""
        var headers: HTTPHeaders = ["ETag": etag, "Cache-Control": "no-cache"]
        if Self.matches(request.headers.values("If-None-Match"), etag) {
            return HTTPResponse(status: 304, headers: headers)
        }
        headers.add("Content-Type", "application/json")
        return HTTPResponse(status: 200, headers: headers, body: body)
    }

    /// The meta document's text, keys in their configured order.
    public static func metaDocument(_ keys: [FakeVendorKey]) -> String {
        let items = keys.map { key in
            "{\"key_identifier\":\(JSONText.quote(key.id)),\"key\":\(JSONText.quote(key.publicPEM)),\"is_current\":\(key.isCurrent)}"
        }
        return "{\"public_keys\":[" + items.joined(separator: ",") + "]}"
    }

    /// Whether an `If-None-Match` header names `etag` (weak comparison, `*` matches anything).
    static func matches(_ values: [String], _ etag: String) -> Bool {
        for value in values {
            for candidate in value.split(separator: ",") {
                var tag = candidate.trimmingCharacters(in: .whitespaces)
                if tag == "*" { return true }
                if tag.hasPrefix("W/") { tag.removeFirst(2) }
                if tag == etag { return true }
            }
        }
        return false
    }

    // MARK: - Report

    private func build(_ input: FakeVendorInput) throws(FakeVendorAPIError) -> HTTPResponse {
        let token = try input.requiredString("token")
        guard !token.isEmpty else { throw FakeVendorAPIError(400, "\"token\" must not be empty") }
        let type = try input.string("type").flatMap { $0.isEmpty ? nil : $0 } ?? "pypi_api_token"
        let payload = try FakeVendorReport.build(token: token, type: type, url: input.string("url") ?? "",
                                                 source: input.string("source"), count: input.integer("count") ?? 1)
        return try Self.json(BuildAnswer(payload: payload))
    }

    // MARK: - Send

    private func send(_ input: FakeVendorInput) throws(FakeVendorAPIError) -> HTTPResponse {
        let style: FakeVendorStyle = try input.choice("style", default: .github)
        let tamper: FakeVendorTamper = try input.choice("tamper", default: .none)
        let body = try input.requiredString("body")
        let names: (keyIdentifier: String, signature: String)
        if let fixed = style.headerNames {
            names = fixed
        } else {
            let keyHeader = try input.string("key_id_header")?.trimmingCharacters(in: .whitespaces) ?? ""
            let signatureHeader = try input.string("signature_header")?.trimmingCharacters(in: .whitespaces) ?? ""
            for (field, name) in [("key_id_header", keyHeader), ("signature_header", signatureHeader)] {
                guard !name.isEmpty else { throw FakeVendorAPIError(400, "the custom style needs \"\(field)\", a header name") }
                guard HTTPClient.isHeaderName(name) else {
                    throw FakeVendorAPIError(400, "\"\(field)\" is not a valid header name: \"\(name.prefix(60))\"")
                }
            }
            guard !keyHeader.caseInsensitiveEquals(signatureHeader) else {
                throw FakeVendorAPIError(400, "the key id and signature headers must have different names")
            }
            names = (keyHeader, signatureHeader)
        }
        var target = try input.string("target")?.trimmingCharacters(in: .whitespaces) ?? ""
        if target.isEmpty { target = defaultTarget }
        guard !target.isEmpty else { throw FakeVendorAPIError(400, "no target URL: give one, or start the fake vendor with --target") }
        let lower = target.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
            throw FakeVendorAPIError(400, "the target must be an http:// or https:// URL")
        }

        let signed = try FakeVendorSigner(state: state).sign(body, tamper: tamper)
        let sent: [FakeVendorHeader] = [
            FakeVendorHeader(name: "Content-Type", value: "application/json"),
            FakeVendorHeader(name: "User-Agent", value: client.userAgent),
            FakeVendorHeader(name: names.keyIdentifier, value: signed.keyID),
            FakeVendorHeader(name: names.signature, value: signed.signature),
        ]

        let clock = ContinuousClock()
        let started = clock.now
        let outcome: Result<HTTPClientResponse, HTTPClientError>
        do {
            outcome = .success(try client.post(target, headers: HTTPHeaders(sent.map { ($0.name, $0.value) }),
                                                 body: signed.body, timeouts: sendTimeouts))
        } catch {
            outcome = .failure(error)
        }
        let elapsed = clock.now - started
        let durationMs = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)

        let (requestBody, requestCut) = FakeVendorSend.stored(String(decoding: signed.body, as: UTF8.self))
        var record = FakeVendorSend(
            id: Hex.encode(SecureRandom.bytes(8)), time: FakeVendorState.now(), style: style.rawValue, tamper: tamper.rawValue,
            target: target, keyID: signed.keyID, requestHeaders: sent, requestBody: requestBody,
            requestBodyBytes: signed.body.count, requestBodyTruncated: requestCut, status: nil,
            responseHeaders: [], responseBody: "", responseBodyTruncated: false, durationMs: durationMs, error: nil)
        switch outcome {
        case .success(let response):
            record.status = response.status
            record.responseHeaders = response.headers.map { FakeVendorHeader(name: $0.name, value: $0.value) }
            (record.responseBody, record.responseBodyTruncated) = FakeVendorSend.stored(String(decoding: response.body, as: UTF8.self))
        case .failure(let error):
            record.error = "could not send to \(target): \(error)"
        }
        do {
            try state.record(record)
        } catch {
            logger.warning("fake vendor could not save its history", ["error": error.description])
        }
        // The body may hold a test token: log its hash, never the body.
        logger.info("fake vendor sent a report", [
            "style": style.rawValue, "tamper": tamper.rawValue, "target": target, "key_id": signed.keyID,
            "body_sha256": SHA256.hex(signed.body), "status": record.status.map(String.init) ?? "none",
            "duration_ms": String(durationMs),
        ])
        return try Self.json(record, status: record.error == nil ? 200 : 502)
    }

    // MARK: - Helpers

    private func keysAnswer() throws(FakeVendorAPIError) -> HTTPResponse {
        try Self.json(KeysAnswer(keys: state.keys.map(KeyAnswer.init)))
    }

    private func allow(_ request: HTTPRequest, _ methods: String...) throws(FakeVendorAPIError) {
        let method = request.method == "HEAD" && methods.contains("GET") ? "GET" : request.method
        guard methods.contains(method) else {
            throw FakeVendorAPIError(405, "\(request.method.prefix(20)) is not allowed here; use \(methods.joined(separator: " or "))")
        }
    }

    private func requireJSON(_ request: HTTPRequest) throws(FakeVendorAPIError) {
        let type = request.headers.values("Content-Type").first ?? ""
        let media = type.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        guard media == "application/json" else {
            throw FakeVendorAPIError(415, "send the request with Content-Type: application/json")
        }
    }

    /// Runs a state change, turning its refusal into a 4xx and a storage failure into a 500.
    private func storage<T>(_ change: () throws(FakeVendorStateError) -> T) throws(FakeVendorAPIError) -> T {
        do {
            return try change()
        } catch {
            if error.code == .unknownKey { throw FakeVendorAPIError(404, error.description) }
            if error.isInputError { throw FakeVendorAPIError(400, error.description) }
            logger.error("fake vendor state change failed", ["error": error.description])
            throw FakeVendorAPIError(500, error.description)
        }
    }

    private static func page(_ text: String, _ type: String) -> HTTPResponse {
        HTTPResponse(status: 200, headers: [
            "Content-Type": type,
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff",
        ], body: Array(text.utf8))
    }

    private static func json<T: Encodable>(_ value: T, status: Int = 200) throws(FakeVendorAPIError) -> HTTPResponse {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return .json(status, Array(try encoder.encode(value)), headers: ["Cache-Control": "no-store"])
        } catch {
            throw FakeVendorAPIError(500, "cannot encode the answer: \(error)")
        }
    }
}

// MARK: - Answers

struct KeyAnswer: Encodable {
    var id: String
    var publicPEM: String
    var isCurrent: Bool
    var createdAt: Date

    init(_ key: FakeVendorKey) {
        id = key.id
        publicPEM = key.publicPEM
        isCurrent = key.isCurrent
        createdAt = key.createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id
        case publicPEM = "public_pem"
        case isCurrent = "is_current"
        case createdAt = "created_at"
    }
}

struct KeysAnswer: Encodable {
    var keys: [KeyAnswer]
}

struct BuildAnswer: Encodable {
    var payload: String
}

struct HistoryAnswer: Encodable {
    var history: [FakeVendorSend]
}

struct ConfigAnswer: Encodable {
    var target: String
    var publicKeysPath: String
    var styles: [String]
    var tampers: [String]
    var maxCount: Int

    enum CodingKeys: String, CodingKey {
        case target, styles, tampers
        case publicKeysPath = "public_keys_path"
        case maxCount = "max_count"
    }
}

extension HTTPClient {
    /// Whether `name` can be sent as a header name (an RFC 9110 token).
    static func isHeaderName(_ name: String) -> Bool {
        guard !name.isEmpty else { return false }
        return name.utf8.allSatisfy { c in
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): true
            default: "!#$%&'*+-.^_`|~".utf8.contains(c)
            }
        }
    }
}
