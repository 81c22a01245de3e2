import Foundation

/// What one key fetch answered.
public enum PublicKeyFetchResult: Sendable {
    /// A fresh document, with the ETag to send next time (if the server gave one).
    case document(PublicKeyDocument, etag: String?)
    /// The document did not change since the ETag that was sent (HTTP 304).
    case notModified
}

/// A failed key fetch: transport error, unexpected status, or a document of the wrong shape.
/// The message never contains the API token.
public struct PublicKeyFetchError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Where a `PublicKeyCache` gets its vendor's keys.
///
/// Implementation requirements: blocking is fine (the cache calls it from the request path, single-
/// flight), but every call must return within the cache's `totalTimeout` or soon after, because other
/// callers wait on it; answer `.notModified` only when `etag` was given; throw `PublicKeyFetchError`
/// for anything that is not a usable document. Must be safe to call from any thread.
public protocol PublicKeySource: Sendable {
    func fetch(ifNoneMatch etag: String?) throws(PublicKeyFetchError) -> PublicKeyFetchResult
}

/// The default source: GET the vendor's meta-API URL with libcurl.
public struct HTTPPublicKeySource: PublicKeySource {
    public let url: String
    private let apiToken: String?
    private let timeouts: HTTPTimeouts
    private let client: HTTPClient

    public init(url: String, configuration: KeyCacheConfiguration = KeyCacheConfiguration()) {
        self.url = url
        apiToken = configuration.apiToken
        timeouts = HTTPTimeouts(connect: configuration.connectTimeout, total: configuration.totalTimeout)
        client = HTTPClient(maxResponseBytes: configuration.maxDocumentBytes)
    }

    public func fetch(ifNoneMatch etag: String?) throws(PublicKeyFetchError) -> PublicKeyFetchResult {
        var headers: HTTPHeaders = ["Accept": "application/json"]
        if let apiToken { headers.add("Authorization", "Bearer \(apiToken)") }
        if let etag { headers.add("If-None-Match", etag) }
        let response: HTTPClientResponse
        do {
            response = try client.get(url, headers: headers, timeouts: timeouts)
        } catch {
            throw PublicKeyFetchError("fetching keys failed: \(error.description)")
        }
        switch response.status {
        case 200:
            do {
                let document = try PublicKeyDocument(jsonBytes: response.body)
                return .document(document, etag: response.headers.values("ETag").last)
            } catch {
                throw PublicKeyFetchError(error.message)
            }
        case 304 where etag != nil:
            return .notModified
        default:
            // GitHub explains refusals (rate limit, bad token) in a JSON "message": keep it for /readyz.
            var explanation = ""
            if let message = Self.message(in: response.body) { explanation = ": \(message.prefix(200))" }
            throw PublicKeyFetchError("keys URL answered HTTP \(response.status)\(explanation)")
        }
    }

    /// The `message` of a JSON error body, if it has one.
    private static func message(in body: [UInt8]) -> String? {
        guard body.count < 64 * 1024,
              let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else { return nil }
        return object["message"] as? String
    }
}
