import Foundation
import Synchronization
import Testing
@testable import SecretsCore

/// `PublicKeyCache` behind `SignedReportVendor`, against real key servers on loopback.
@Suite("Key cache against a loopback key server")
struct PublicKeyCacheTests {
    static let pair = HeaderPair(keyIdentifier: "Github-Public-Key-Identifier", signature: "Github-Public-Key-Signature")
    static let body = Array(#"[{"token":"ghp_x","type":"github_token","url":"https://example.com/"}]"#.utf8)

    /// A signing key and its entry in a key document.
    struct SigningKey {
        let id: String
        let key: P256.Signing.PrivateKey
        let pem: String

        init(_ id: String) throws {
            self.id = id
            (key, pem) = try TestKeys.make()
        }

        var entry: (id: String, pem: String, current: Bool) { (id: id, pem: pem, current: true) }

        func headers(for body: [UInt8] = PublicKeyCacheTests.body, keyID: String? = nil) throws -> HTTPHeaders {
            TestKeys.headers(PublicKeyCacheTests.pair, keyID: keyID ?? id, signature: try key.signature(for: body))
        }
    }

    static func vendor(_ server: KeyServer, _ configuration: KeyCacheConfiguration = KeyCacheConfiguration(), id: String = "github") -> SignedReportVendor {
        SignedReportVendor(id: id, kind: "github", headers: pair,
                           keyCache: PublicKeyCache(vendorID: id, keysURL: server.keysURL, configuration: configuration))
    }

    /// Runs `body(i)` on `count` real threads at once and waits for all of them.
    static func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let group = DispatchGroup()
        for i in 0..<count {
            group.enter()
            let thread = Thread {
                body(i)
                group.leave()
            }
            thread.start()
        }
        group.wait()
    }

    @Test func floodOfUnknownKeyIDsCostsAtMostOneRefetch() throws {
        let k1 = try SigningKey("k1")
        let server = try KeyServer(document: TestKeys.document([k1.entry]))
        let vendor = Self.vendor(server)
        #expect(vendor.verify(body: Self.body, headers: try k1.headers()).isVerified)
        #expect(try server.count() == 1)

        let signature = try k1.key.signature(for: Self.body)
        let outcomes = Mutex<[VerificationFailure?: Int]>([:])
        let start = ContinuousClock.now
        Self.onThreads(4) { _ in
            for _ in 0..<250 {
                let headers = TestKeys.headers(Self.pair, keyID: Hex.encode(SecureRandom.bytes(32)), signature: signature)
                let failure = vendor.verify(body: Self.body, headers: headers).failure
                outcomes.withLock { $0[failure, default: 0] += 1 }
            }
        }
        let elapsed = ContinuousClock.now - start
        #expect(outcomes.withLock { $0 } == [.unknownKeyID: 1000])
        // The scenario is "1,000 bogus ids within one refetch interval"; on a loaded 2-core machine the
        // loop itself may run slower than a second, which changes nothing about the fetch count.
        #expect(elapsed < .seconds(10))
        #expect(try server.count() <= 2)
        #expect(vendor.keyCache.stats.refetches <= 1)
        #expect(vendor.keyCache.stats.misses == 1000)
        #expect(vendor.verify(body: Self.body, headers: try k1.headers()).isVerified)
    }

    @Test func cachedKeysOutliveTheKeyServerAndANewVendorReportsUnavailable() throws {
        let k1 = try SigningKey("k1")
        let server = try KeyServer(document: TestKeys.document([k1.entry]))
        let vendor = Self.vendor(server, KeyCacheConfiguration(ttl: .milliseconds(100), retryAfterFailure: .zero))
        #expect(vendor.verify(body: Self.body, headers: try k1.headers()).isVerified)
        server.stop()

        #expect(vendor.verify(body: Self.body, headers: try k1.headers()).isVerified)
        Thread.sleep(forTimeInterval: 0.15)
        // Expired: the refresh fails (connection refused) and the last good keys keep serving.
        #expect(vendor.verify(body: Self.body, headers: try k1.headers()).isVerified)
        #expect(vendor.verify(body: Self.body, headers: try k1.headers(keyID: "k2")) == .failed(.unknownKeyID))
        let status = vendor.keyCache.status
        #expect(status.hasKeys)
        #expect(status.lastError?.contains("fetching keys failed") == true)
        #expect(vendor.keyCache.stats.fetchFailures >= 1)

        let newcomer = Self.vendor(server)
        #expect(newcomer.verify(body: Self.body, headers: try k1.headers()) == .failed(.keysUnavailable))
        #expect(!newcomer.keyCache.status.hasKeys)
        #expect(newcomer.keyCache.status.lastError != nil)
        #expect(newcomer.keyCache.stats.unavailable == 1)
    }

    @Test func aServerThatNeverAnswersIsAbandonedAtTheTimeout() throws {
        let k1 = try SigningKey("k1")
        let server = try KeyServer(document: TestKeys.document([k1.entry]), mode: "hang")
        let vendor = Self.vendor(server, KeyCacheConfiguration(connectTimeout: .milliseconds(200), totalTimeout: .milliseconds(300)))
        let headers = try k1.headers()
        let slowest = Mutex<Duration>(.zero)
        let outcomes = Mutex<[VerificationOutcome]>([])
        Self.onThreads(4) { _ in
            let start = ContinuousClock.now
            let outcome = vendor.verify(body: Self.body, headers: headers)
            let elapsed = ContinuousClock.now - start
            slowest.withLock { $0 = max($0, elapsed) }
            outcomes.withLock { $0.append(outcome) }
        }
        #expect(outcomes.withLock { $0 } == Array(repeating: .failed(.keysUnavailable), count: 4))
        #expect(slowest.withLock { $0 } < .seconds(1))
        #expect(try server.count() == 1)
        #expect(vendor.keyCache.status.lastError?.contains("curl error 28") == true)
    }

    @Test func twoVendorsWithTheSameKeyIDsNeverAcceptEachOthersSignatures() throws {
        let a = try SigningKey("shared-id")
        let b = try SigningKey("shared-id")
        let serverA = try KeyServer(document: TestKeys.document([a.entry]))
        let serverB = try KeyServer(document: TestKeys.document([b.entry]))
        let vendorA = Self.vendor(serverA, id: "a")
        let vendorB = Self.vendor(serverB, id: "b")
        #expect(vendorA.verify(body: Self.body, headers: try a.headers()).isVerified)
        #expect(vendorB.verify(body: Self.body, headers: try b.headers()).isVerified)
        #expect(vendorA.verify(body: Self.body, headers: try b.headers()) == .failed(.invalidSignature))
        #expect(vendorB.verify(body: Self.body, headers: try a.headers()) == .failed(.invalidSignature))
    }

    @Test func etagTurnsAnUnchangedDocumentInto304AndRefreshesTheTTL() throws {
        let k1 = try SigningKey("k1")
        let server = try KeyServer(document: TestKeys.document([k1.entry]))
        let vendor = Self.vendor(server, KeyCacheConfiguration(ttl: .milliseconds(100)))
        #expect(vendor.verify(body: Self.body, headers: try k1.headers()).isVerified)
        #expect(try server.lastHeaders()["if-none-match"] == nil)
        Thread.sleep(forTimeInterval: 0.15)
        #expect(!vendor.keyCache.status.isFresh)

        #expect(vendor.verify(body: Self.body, headers: try k1.headers()).isVerified)
        #expect(try server.count() == 2)
        #expect(try server.lastHeaders()["if-none-match"]?.hasPrefix("\"") == true)
        #expect(vendor.keyCache.stats.notModified == 1)
        #expect(vendor.keyCache.status.isFresh)

        // A changed document is a 200 again, with new keys.
        let k2 = try SigningKey("k2")
        try server.setDocument(TestKeys.document([k2.entry]))
        Thread.sleep(forTimeInterval: 0.15)
        #expect(vendor.verify(body: Self.body, headers: try k2.headers()).isVerified)
        #expect(vendor.verify(body: Self.body, headers: try k1.headers()) == .failed(.unknownKeyID))
        #expect(vendor.keyCache.status.keyIdentifiers == ["k2"])
    }

    @Test func conditionalRequestsCanBeTurnedOff() throws {
        let k1 = try SigningKey("k1")
        let server = try KeyServer(document: TestKeys.document([k1.entry]))
        let vendor = Self.vendor(server, KeyCacheConfiguration(ttl: .milliseconds(50), conditionalRequests: false))
        #expect(vendor.verify(body: Self.body, headers: try k1.headers()).isVerified)
        Thread.sleep(forTimeInterval: 0.1)
        #expect(vendor.verify(body: Self.body, headers: try k1.headers()).isVerified)
        #expect(try server.lastHeaders()["if-none-match"] == nil)
        #expect(vendor.keyCache.stats.notModified == 0)
    }

    @Test func malformedEntriesAreSkippedWhileGoodOnesServe() throws {
        let good = try SigningKey("good")
        let entries: [Any] = [
            ["key_identifier": "broken", "key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "is_current": true],
            ["key_identifier": "keyless", "is_current": false],
            ["key_identifier": good.id, "key": good.pem, "is_current": true],
        ]
        let server = try KeyServer(document: TestKeys.document(raw: entries))
        let vendor = Self.vendor(server)
        #expect(vendor.verify(body: Self.body, headers: try good.headers()).isVerified)
        #expect(vendor.verify(body: Self.body, headers: try good.headers(keyID: "broken")) == .failed(.unknownKeyID))
        #expect(vendor.keyCache.stats.malformedEntriesSkipped == 2)
        #expect(vendor.keyCache.status.keyIdentifiers == ["good"])
    }

    @Test func aFailedRefreshKeepsServingAndRecoveryClearsTheError() throws {
        let k1 = try SigningKey("k1")
        let server = try KeyServer(document: TestKeys.document([k1.entry]))
        let vendor = Self.vendor(server, KeyCacheConfiguration(ttl: .milliseconds(100), retryAfterFailure: .milliseconds(100)))
        #expect(vendor.verify(body: Self.body, headers: try k1.headers()).isVerified)

        for mode in ["error500", "malformed", "ratelimit"] {
            try server.setMode(mode)
            Thread.sleep(forTimeInterval: 0.2)
            #expect(vendor.verify(body: Self.body, headers: try k1.headers()).isVerified, "mode \(mode)")
            #expect(vendor.keyCache.status.lastError != nil, "mode \(mode)")
        }
        #expect(vendor.keyCache.status.lastError?.contains("API rate limit exceeded") == true)
        #expect(vendor.keyCache.stats.fetchFailures == 3)

        // A 200 whose body is the rate-limit message (seen in real snapshots) is a failure too.
        try server.setMode("normal")
        try server.setDocument(Array(#"{"message":"API rate limit exceeded for 192.0.2.1."}"#.utf8))
        Thread.sleep(forTimeInterval: 0.2)
        #expect(vendor.verify(body: Self.body, headers: try k1.headers()).isVerified)
        #expect(vendor.keyCache.stats.fetchFailures == 4)

        // A document whose every entry is malformed never replaces good keys.
        try server.setDocument(TestKeys.document(raw: [["key_identifier": "x", "key": "junk"]]))
        Thread.sleep(forTimeInterval: 0.2)
        #expect(vendor.verify(body: Self.body, headers: try k1.headers()).isVerified)
        #expect(vendor.keyCache.status.lastError?.contains("no usable") == true)

        try server.setDocument(TestKeys.document([k1.entry]))
        Thread.sleep(forTimeInterval: 0.2)
        #expect(vendor.verify(body: Self.body, headers: try k1.headers()).isVerified)
        #expect(vendor.keyCache.status.lastError == nil)
        #expect(vendor.keyCache.status.isFresh)
    }

    @Test func failingFirstFetchIsUnavailableAndRetriesAfterTheBackoff() throws {
        let k1 = try SigningKey("k1")
        let server = try KeyServer(document: TestKeys.document([k1.entry]), mode: "error500")
        let vendor = Self.vendor(server, KeyCacheConfiguration(retryAfterFailure: .milliseconds(200)))
        #expect(vendor.verify(body: Self.body, headers: try k1.headers()) == .failed(.keysUnavailable))
        #expect(vendor.keyCache.status.lastError?.contains("HTTP 500") == true)
        try server.setMode("normal")
        // Within the backoff: answered at once, no request.
        #expect(vendor.verify(body: Self.body, headers: try k1.headers()) == .failed(.keysUnavailable))
        #expect(try server.count() == 1)
        Thread.sleep(forTimeInterval: 0.25)
        #expect(vendor.verify(body: Self.body, headers: try k1.headers()).isVerified)
        #expect(try server.count() == 2)
    }

    @Test func apiTokenIsSentAsBearer() throws {
        let k1 = try SigningKey("k1")
        let server = try KeyServer(document: TestKeys.document([k1.entry]))
        let withToken = Self.vendor(server, KeyCacheConfiguration(apiToken: "ghs_test_token"))
        #expect(withToken.verify(body: Self.body, headers: try k1.headers()).isVerified)
        #expect(try server.lastHeaders()["authorization"] == "Bearer ghs_test_token")
        #expect(!String(describing: withToken.keyCache.configuration).contains("ghs_test_token"))

        let without = Self.vendor(server)
        #expect(without.verify(body: Self.body, headers: try k1.headers()).isVerified)
        #expect(try server.lastHeaders()["authorization"] == nil)
    }

    @Test func concurrentFirstLookupsShareOneFetch() throws {
        let k1 = try SigningKey("k1")
        let server = try KeyServer(document: TestKeys.document([k1.entry]), mode: "slow")
        let vendor = Self.vendor(server)
        let headers = try k1.headers()
        let verified = Atomic<Int>(0)
        Self.onThreads(8) { _ in
            if vendor.verify(body: Self.body, headers: headers).isVerified { verified.add(1, ordering: .relaxed) }
        }
        #expect(verified.load(ordering: .relaxed) == 8)
        #expect(try server.count() == 1)
        #expect(vendor.keyCache.stats.fetches == 1)
    }

    @Test func staleKeysAnswerAtOnceWhileTheRefreshRuns() throws {
        let k1 = try SigningKey("k1")
        let server = try KeyServer(document: TestKeys.document([k1.entry]))
        let vendor = Self.vendor(server, KeyCacheConfiguration(ttl: .milliseconds(100), conditionalRequests: false))
        #expect(vendor.verify(body: Self.body, headers: try k1.headers()).isVerified)
        try server.setMode("slow")
        Thread.sleep(forTimeInterval: 0.15)
        let headers = try k1.headers()
        let refresher = Thread { _ = vendor.verify(body: Self.body, headers: headers) }
        refresher.start()
        Thread.sleep(forTimeInterval: 0.05)
        let start = ContinuousClock.now
        #expect(vendor.verify(body: Self.body, headers: headers).isVerified)
        #expect(ContinuousClock.now - start < .milliseconds(200))
        Thread.sleep(forTimeInterval: 0.4)
        #expect(try server.count() == 2)
    }

    @Test func aRotatedKeyIsPickedUpByTheForcedRefetchButOnlyOncePerInterval() throws {
        let k1 = try SigningKey("k1"), k2 = try SigningKey("k2"), k3 = try SigningKey("k3")
        let server = try KeyServer(document: TestKeys.document([k1.entry]))
        let vendor = Self.vendor(server)
        #expect(vendor.verify(body: Self.body, headers: try k1.headers()).isVerified)

        try server.setDocument(TestKeys.document([k1.entry, k2.entry]))
        #expect(vendor.verify(body: Self.body, headers: try k2.headers()).isVerified)
        #expect(try server.count() == 2)

        try server.setDocument(TestKeys.document([k1.entry, k2.entry, k3.entry]))
        #expect(vendor.verify(body: Self.body, headers: try k3.headers()) == .failed(.unknownKeyID))
        #expect(try server.count() == 2)
        #expect(vendor.keyCache.stats.refetches == 1)

        // An operator's refresh is not rate-limited.
        #expect(vendor.keyCache.refresh())
        #expect(vendor.verify(body: Self.body, headers: try k3.headers()).isVerified)
    }

    @Test func negativeCacheExpiresAndAllowsTheNextRefetch() throws {
        let k1 = try SigningKey("k1"), k2 = try SigningKey("k2")
        let server = try KeyServer(document: TestKeys.document([k1.entry]))
        let vendor = Self.vendor(server, KeyCacheConfiguration(refetchInterval: .milliseconds(100), negativeCacheTTL: .milliseconds(100)))
        #expect(vendor.verify(body: Self.body, headers: try k1.headers()).isVerified)
        #expect(vendor.verify(body: Self.body, headers: try k2.headers()) == .failed(.unknownKeyID))
        #expect(vendor.verify(body: Self.body, headers: try k2.headers()) == .failed(.unknownKeyID))
        #expect(vendor.keyCache.stats.negativeHits == 1)
        try server.setDocument(TestKeys.document([k1.entry, k2.entry]))
        Thread.sleep(forTimeInterval: 0.15)
        #expect(vendor.verify(body: Self.body, headers: try k2.headers()).isVerified)
        #expect(try server.count() == 3)
    }
}
