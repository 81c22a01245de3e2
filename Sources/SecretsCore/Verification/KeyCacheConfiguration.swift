/// How one vendor's `PublicKeyCache` fetches and keeps keys. Every field has a documented default.
public struct KeyCacheConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// How long fetched keys count as fresh. Default 30 minutes. Stale keys are still served while a
    /// refresh runs or after it fails.
    public var ttl: Duration
    /// Least time between two forced refetches caused by unknown key ids. Default 60 s.
    public var refetchInterval: Duration
    /// How long an unknown key id is answered "unknown" without a lookup. Default 60 s.
    public var negativeCacheTTL: Duration
    /// Least time between a failed fetch and the next TTL-driven attempt. Default 5 s.
    public var retryAfterFailure: Duration
    /// Time allowed to connect to the keys URL. Default 2 s.
    public var connectTimeout: Duration
    /// Time allowed for the whole key fetch. Default 5 s.
    public var totalTimeout: Duration
    /// Sent as `Authorization: Bearer <token>` (GitHub accepts it, raising its rate limit). Default none.
    public var apiToken: String?
    /// Send `If-None-Match` with the last ETag, so an unchanged document costs a 304. Default true.
    public var conditionalRequests: Bool
    /// Largest key document accepted. Default 1 MiB.
    public var maxDocumentBytes: Int

    public init(ttl: Duration = .seconds(30 * 60),
                refetchInterval: Duration = .seconds(60),
                negativeCacheTTL: Duration = .seconds(60),
                retryAfterFailure: Duration = .seconds(5),
                connectTimeout: Duration = .seconds(2),
                totalTimeout: Duration = .seconds(5),
                apiToken: String? = nil,
                conditionalRequests: Bool = true,
                maxDocumentBytes: Int = 1 << 20) {
        self.ttl = ttl
        self.refetchInterval = refetchInterval
        self.negativeCacheTTL = negativeCacheTTL
        self.retryAfterFailure = retryAfterFailure
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
        self.apiToken = apiToken
        self.conditionalRequests = conditionalRequests
        self.maxDocumentBytes = maxDocumentBytes
    }

    /// Every field but the API token, which is a secret and shows only whether it is set.
    public var description: String {
        "KeyCacheConfiguration(ttl: \(ttl), refetchInterval: \(refetchInterval), negativeCacheTTL: \(negativeCacheTTL), "
            + "retryAfterFailure: \(retryAfterFailure), connectTimeout: \(connectTimeout), totalTimeout: \(totalTimeout), "
            + "apiToken: \(apiToken == nil ? "none" : "set"), conditionalRequests: \(conditionalRequests), "
            + "maxDocumentBytes: \(maxDocumentBytes))"
    }
}
