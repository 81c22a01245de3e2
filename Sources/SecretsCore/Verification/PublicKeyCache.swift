import Synchronization

/// The answer to "which key is `id`?".
public enum KeyLookup: Sendable {
    case found(P256.Signing.PublicKey)
    /// The vendor has keys, but none under this id (even after the rate-limited refetch).
    case unknownKeyID
    /// No keys could be fetched and none are cached.
    case unavailable
}

/// Counters of one cache since it was made, for metrics (label them with the vendor id).
public struct KeyCacheStats: Sendable, Equatable {
    /// Lookups answered with a key (fresh or stale).
    public var hits = 0
    /// Lookups answered "unknown key id".
    public var misses = 0
    /// Of the misses, those answered straight from the negative cache.
    public var negativeHits = 0
    /// Lookups answered "unavailable" (no keys at all).
    public var unavailable = 0
    /// Key fetches attempted (initial, TTL refreshes and forced refetches).
    public var fetches = 0
    /// Of the fetches, those forced by an unknown key id.
    public var refetches = 0
    /// Fetches that failed (transport, status, document shape, or no usable key).
    public var fetchFailures = 0
    /// Fetches answered 304 Not Modified.
    public var notModified = 0
    /// Malformed entries skipped in fetched documents.
    public var malformedEntriesSkipped = 0

    public init() {}
}

/// What readiness checks need to know about one cache.
public struct KeyCacheStatus: Sendable {
    /// Whether any key is cached (fresh or stale): requests can be verified.
    public var hasKeys: Bool
    /// Cached key ids, in document order.
    public var keyIdentifiers: [String]
    /// Whether the keys are within their TTL.
    public var isFresh: Bool
    /// Time since the last successful fetch (200 or 304); nil if there never was one.
    public var lastSuccessAge: Duration?
    /// The last fetch's error, nil once a fetch succeeds again.
    public var lastError: String?
}

/// One vendor's public keys: fetched on demand, kept for a TTL, refreshed single-flight.
///
/// One cache per vendor, never shared: two vendors with the same key ids never see each other's keys.
///
/// Behaviour:
/// - Empty or expired cache → a fetch. Only one runs at a time; concurrent callers either wait for it
///   or, when the stale cache holds their key, are answered from the stale cache at once.
/// - Unknown key id with fresh keys → one forced refetch, at most once per `refetchInterval`, also
///   single-flight; afterwards the id sits in a negative cache for `negativeCacheTTL`. A flood of
///   bogus ids therefore costs the vendor's API at most one call per interval.
/// - A failed fetch keeps serving the last good keys; a document without a single usable key counts
///   as a failure. A 304 refreshes the TTL. After a failure, TTL-driven fetches wait `retryAfterFailure`.
///
/// Fetching blocks the calling thread (libcurl, bounded by the configured timeouts): the request
/// path is synchronous by design. Lookups of a cached key take one uncontended `Mutex` and a
/// dictionary lookup.
public final class PublicKeyCache: Sendable {
    /// The vendor this cache belongs to (for metrics labels and messages).
    public let vendorID: String
    public let configuration: KeyCacheConfiguration
    private let source: any PublicKeySource
    private let state = Mutex(State())

    /// Ids longer than this are answered without entering the negative cache (they cannot be real).
    private static let longestRememberedID = 256
    /// The negative cache is emptied when it grows past this many ids.
    private static let negativeCacheCapacity = 4096

    private struct State: ~Copyable {
        var keys: [String: PublicKeyDocument.Key] = [:]
        var order: [String] = []
        var fetchedAt: ContinuousClock.Instant?
        var etag: String?
        var lastError: String?
        var lastFailureAt: ContinuousClock.Instant?
        var lastForcedRefetchAt: ContinuousClock.Instant?
        var negative: [String: ContinuousClock.Instant] = [:]
        var inFlight: InFlightFetch?
        var stats = KeyCacheStats()
    }

    /// A cache fed by `source` (tests and benchmarks inject one; servers use the URL initializer).
    public init(vendorID: String, source: any PublicKeySource, configuration: KeyCacheConfiguration = KeyCacheConfiguration()) {
        self.vendorID = vendorID
        self.source = source
        self.configuration = configuration
    }

    /// A cache that fetches `keysURL` with libcurl, with the configuration's timeouts and API token.
    public convenience init(vendorID: String, keysURL: String, configuration: KeyCacheConfiguration = KeyCacheConfiguration()) {
        self.init(vendorID: vendorID, source: HTTPPublicKeySource(url: keysURL, configuration: configuration), configuration: configuration)
    }

    private enum Step {
        case answer(KeyLookup)
        case wait(InFlightFetch)
        case fetch(InFlightFetch, etag: String?)
    }

    /// The key named `id`, fetching or refetching as described on the type.
    public func key(for id: String) -> KeyLookup {
        let now = ContinuousClock.now
        let config = configuration
        let step: Step = state.withLock { s in
            let fresh = s.fetchedAt.map { now - $0 < config.ttl } ?? false
            let mayRetry = s.lastFailureAt.map { now - $0 >= config.retryAfterFailure } ?? true
            if let entry = s.keys[id] {
                if fresh || s.inFlight != nil || !mayRetry {
                    s.stats.hits += 1
                    return .answer(.found(entry.publicKey))
                }
                return Self.beginFetch(&s)
            }
            if fresh, let until = s.negative[id], now < until {
                s.stats.misses += 1
                s.stats.negativeHits += 1
                return .answer(.unknownKeyID)
            }
            if let inFlight = s.inFlight { return .wait(inFlight) }
            if !fresh {
                if mayRetry { return Self.beginFetch(&s) }
                return .answer(Self.finalAnswer(&s, id: id, now: now, config: config))
            }
            if let last = s.lastForcedRefetchAt, now - last < config.refetchInterval {
                return .answer(Self.finalAnswer(&s, id: id, now: now, config: config))
            }
            s.lastForcedRefetchAt = now
            s.stats.refetches += 1
            return Self.beginFetch(&s)
        }
        switch step {
        case .answer(let lookup):
            return lookup
        case .wait(let inFlight):
            inFlight.wait(timeout: waitLimit)
        case .fetch(let inFlight, let etag):
            performFetch(inFlight, etag: etag)
        }
        return state.withLock { s in Self.finalAnswer(&s, id: id, now: ContinuousClock.now, config: config) }
    }

    /// Fetches now (or waits for the fetch in flight), ignoring TTL and rate limits; answers whether
    /// keys are cached afterwards. For warming the cache at startup and for operators.
    @discardableResult
    public func refresh() -> Bool {
        let step: Step = state.withLock { s in
            if let inFlight = s.inFlight { return .wait(inFlight) }
            return Self.beginFetch(&s)
        }
        switch step {
        case .answer: break
        case .wait(let inFlight): inFlight.wait(timeout: waitLimit)
        case .fetch(let inFlight, let etag): performFetch(inFlight, etag: etag)
        }
        return state.withLock { !$0.keys.isEmpty }
    }

    /// Counters since the cache was made.
    public var stats: KeyCacheStats { state.withLock { $0.stats } }

    /// Whether keys are cached, how fresh, and the last error.
    public var status: KeyCacheStatus {
        let now = ContinuousClock.now
        return state.withLock { s in
            KeyCacheStatus(hasKeys: !s.keys.isEmpty,
                           keyIdentifiers: s.order,
                           isFresh: s.fetchedAt.map { now - $0 < configuration.ttl } ?? false,
                           lastSuccessAge: s.fetchedAt.map { now - $0 },
                           lastError: s.lastError)
        }
    }

    /// How long a caller waits for someone else's fetch: the fetch's own limit plus a margin.
    private var waitLimit: Duration { configuration.totalTimeout + .seconds(1) }

    private static func beginFetch(_ s: inout State) -> Step {
        let inFlight = InFlightFetch()
        s.inFlight = inFlight
        return .fetch(inFlight, etag: s.keys.isEmpty ? nil : s.etag)
    }

    /// The answer from the cache as it is now, counted; an unknown id enters the negative cache.
    private static func finalAnswer(_ s: inout State, id: String, now: ContinuousClock.Instant, config: KeyCacheConfiguration) -> KeyLookup {
        if let entry = s.keys[id] {
            s.stats.hits += 1
            return .found(entry.publicKey)
        }
        if s.keys.isEmpty {
            s.stats.unavailable += 1
            return .unavailable
        }
        s.stats.misses += 1
        if id.utf8.count <= longestRememberedID {
            if s.negative.count >= negativeCacheCapacity {
                s.negative = s.negative.filter { $0.value > now }
                if s.negative.count >= negativeCacheCapacity { s.negative.removeAll(keepingCapacity: true) }
            }
            s.negative[id] = now + config.negativeCacheTTL
        }
        return .unknownKeyID
    }

    private func performFetch(_ inFlight: InFlightFetch, etag: String?) {
        let result: Result<PublicKeyFetchResult, PublicKeyFetchError>
        do {
            result = .success(try source.fetch(ifNoneMatch: configuration.conditionalRequests ? etag : nil))
        } catch {
            result = .failure(error)
        }
        let now = ContinuousClock.now
        state.withLock { s in
            s.inFlight = nil
            s.stats.fetches += 1
            switch result {
            case .success(.document(let document, let etag)):
                s.stats.malformedEntriesSkipped += document.skippedEntries
                guard !document.keys.isEmpty else {
                    Self.recordFailure(&s, "key document holds no usable ECDSA P-256 key"
                        + (document.skippedReasons.isEmpty ? "" : " (\(document.skippedReasons.joined(separator: "; ")))"), now: now)
                    return
                }
                s.keys = Dictionary(document.keys.map { ($0.keyIdentifier, $0) }, uniquingKeysWith: { first, _ in first })
                s.order = document.keys.map(\.keyIdentifier)
                s.etag = etag
                s.fetchedAt = now
                s.lastError = nil
                s.lastFailureAt = nil
                s.negative.removeAll()
            case .success(.notModified):
                guard !s.keys.isEmpty else {
                    s.etag = nil
                    Self.recordFailure(&s, "key server answered 304 but no keys are cached", now: now)
                    return
                }
                s.stats.notModified += 1
                s.fetchedAt = now
                s.lastError = nil
                s.lastFailureAt = nil
            case .failure(let error):
                Self.recordFailure(&s, error.message, now: now)
            }
        }
        inFlight.complete()
    }

    private static func recordFailure(_ s: inout State, _ message: String, now: ContinuousClock.Instant) {
        s.stats.fetchFailures += 1
        s.lastError = message
        s.lastFailureAt = now
    }
}
