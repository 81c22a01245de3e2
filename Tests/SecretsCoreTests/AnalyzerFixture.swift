import Foundation
import Synchronization
import Testing
@testable import SecretsCore

/// An analyzer on `InMemoryStorage` + `InMemoryMailSink`, with a PyPI minter and in-memory metrics and log.
final class AnalyzerFixture: Sendable {
    let memory: InMemoryStorage
    let storage: Storage
    let metrics = InMemoryMetrics()
    let log = InMemoryLog()
    let sink = InMemoryMailSink()
    let analyzer: DisclosureAnalyzer
    let minter: PyPITokenMinter
    let registry: TokenTypeRegistry
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    /// Every raw token the test handled, to prove none is kept anywhere.
    private let rawTokens = Mutex<[String]>([])

    init(memory: InMemoryStorage = InMemoryStorage(), storage: Storage? = nil, retry: RetryPolicy = RetryPolicy()) throws {
        self.memory = memory
        self.storage = storage ?? .inMemory(memory)
        minter = PyPITokenMinter(rootKey: try memory.installationSecret(named: "macaroon-root-key", length: 32))
        registry = TokenTypeRegistry([
            PyPITokenType(),
            PrefixedTokenType(name: "acme_key", prefix: "acme_", checksum: .crc32Base62),
        ])
        analyzer = DisclosureAnalyzer(storage: self.storage, tokenTypes: registry,
                                      mail: MailSettings(from: "security@tokenscan.example", siteName: "tokenscan",
                                                         helpURL: "https://tokenscan.example/help/leaks"),
                                      metrics: Metrics(metrics), logger: Logger(output: log, minimum: .debug), retry: retry)
    }

    /// Issues a PyPI token to `user` and answers it (remembered as a secret to look for).
    func issue(user: String = "alice", email: String = "alice@example.org", description: String = "CI upload token") throws -> MintedToken {
        let minted = minter.mint(caveats: ["{\"version\": 1, \"permissions\": \"user\"}"])
        try memory.issue(IssuedToken(id: minted.identity, type: "pypi_api_token", identity: minted.identity, user: user,
                                     emails: [email], description: description, createdAt: t0))
        remember(minted.value)
        return minted
    }

    func remember(_ token: String) { rawTokens.withLock { $0.append(token) } }

    func disclosure(_ token: String, type: String = "pypi_api_token", url: String = "https://github.com/alice/repo/blob/main/.pypirc") -> Disclosure {
        remember(token)
        return Disclosure(token: LeakedToken(token), type: type, url: url, source: "commit")
    }

    /// Claims and processes every due job, one at a time, until none is left due.
    @discardableResult
    func drainJobs(now: Date? = nil) throws -> [DisclosureOutcome?] {
        var outcomes: [DisclosureOutcome?] = []
        while case let jobs = try storage.queue.claim(limit: 8, lease: .seconds(60), now: now ?? t0), !jobs.isEmpty {
            for job in jobs { outcomes.append(analyzer.process(job, now: now ?? t0)) }
        }
        return outcomes
    }

    /// Claims and delivers every due mail.
    @discardableResult
    func drainMail(now: Date? = nil) throws -> [Bool] {
        var sent: [Bool] = []
        while case let entries = try storage.outbox.claimMail(limit: 8, lease: .seconds(60), now: now ?? t0), !entries.isEmpty {
            for entry in entries { sent.append(analyzer.deliver(entry, via: sink, now: now ?? t0)) }
        }
        return sent
    }

    /// Checks that no remembered raw token appears in any record, event, mail or log line.
    func expectNoRawToken(sourceLocation: SourceLocation = #_sourceLocation) throws {
        let secrets = rawTokens.withLock { $0 }.filter { $0.count >= 8 }
        var haystack: [String] = log.lines
        for record in try storage.queue.disclosures(user: nil) {
            haystack += [record.vendor, record.tokenHash, record.tokenType, record.identity ?? "", record.url,
                         record.source ?? "", record.detail ?? "", String(describing: record)]
        }
        for event in try storage.events.events(user: nil) {
            haystack += Array(event.data.values) + Array(event.data.keys) + [event.tag, event.user, event.idempotencyKey ?? ""]
        }
        for message in memory.outboxMessages().map(\.message) + sink.delivered {
            haystack += [message.subject, message.body, message.messageID] + message.to
        }
        for token in try storage.tokens.tokens(user: nil) { haystack.append(String(describing: token)) }
        #expect(haystack.count > 0, sourceLocation: sourceLocation)
        for secret in secrets {
            // The token, and its base64 body (the part after the prefix), must appear nowhere.
            let body = secret.split(separator: "-", maxSplits: 1).last.map(String.init) ?? secret
            for text in haystack where text.contains(secret) || (body.count >= 8 && text.contains(body)) {
                Issue.record("raw token found in: \(text.prefix(120))", sourceLocation: sourceLocation)
            }
        }
    }
}

/// A `TokenStore` that fails its first `failures` revocations with the given error, then passes through.
final class FlakyTokenStore: TokenStore {
    let inner: any TokenStore
    let error: StoreError
    private let remaining: Mutex<Int>

    init(_ inner: any TokenStore, failures: Int, error: StoreError = StoreError(.transient, "database is locked")) {
        self.inner = inner
        self.error = error
        remaining = Mutex(failures)
    }

    func token(identity: String) throws -> IssuedToken? { try inner.token(identity: identity) }
    func revoke(identity: String, byDisclosure disclosureID: Int64, at time: Date) throws -> RevocationResult {
        let fail = remaining.withLock { n -> Bool in
            guard n > 0 else { return false }
            n -= 1
            return true
        }
        if fail { throw error }
        return try inner.revoke(identity: identity, byDisclosure: disclosureID, at: time)
    }
    func issue(_ token: IssuedToken) throws { try inner.issue(token) }
    func tokens(user: String?) throws -> [IssuedToken] { try inner.tokens(user: user) }
    func installationSecret(named name: String, length: Int) throws -> [UInt8] {
        try inner.installationSecret(named: name, length: length)
    }
}

/// A `DisclosureQueue` that counts `accept` calls, can make each take a while, and can fail the next
/// `accept` (a database gone) or `finish` (a crash between revoking and recording the outcome).
final class RecordingQueue: DisclosureQueue {
    let inner: any DisclosureQueue
    private let state = Mutex<(acceptCalls: [Int], failFinishes: Int, failAccepts: Int, acceptDelay: Duration)>(([], 0, 0, .zero))

    init(_ inner: any DisclosureQueue) { self.inner = inner }

    var acceptCalls: [Int] { state.withLock { $0.acceptCalls } }
    func failNextFinish() { state.withLock { $0.failFinishes += 1 } }
    func failNextAccept() { state.withLock { $0.failAccepts += 1 } }
    func setAcceptDelay(_ delay: Duration) { state.withLock { $0.acceptDelay = delay } }

    func accept(_ records: [DisclosureRecord]) throws -> [DisclosureRecord] {
        let (fail, delay) = state.withLock { s -> (Bool, Duration) in
            s.acceptCalls.append(records.count)
            guard s.failAccepts > 0 else { return (false, s.acceptDelay) }
            s.failAccepts -= 1
            return (true, s.acceptDelay)
        }
        if delay > .zero { Thread.sleep(forTimeInterval: delay / .seconds(1)) }
        if fail { throw StoreError(.transient, "database unreachable") }
        return try inner.accept(records)
    }
    func claim(limit: Int, lease: Duration, now: Date) throws -> [DisclosureJob] { try inner.claim(limit: limit, lease: lease, now: now) }
    func finish(jobID: Int64, outcome: DisclosureOutcome, detail: String?, at time: Date) throws {
        let fail = state.withLock { s -> Bool in
            guard s.failFinishes > 0 else { return false }
            s.failFinishes -= 1
            return true
        }
        if fail { throw StoreError(.transient, "connection lost") }
        try inner.finish(jobID: jobID, outcome: outcome, detail: detail, at: time)
    }
    func retry(jobID: Int64, after: Date, error: String) throws { try inner.retry(jobID: jobID, after: after, error: error) }
    func releaseLeases() throws { try inner.releaseLeases() }
    func disclosures(user: String?) throws -> [DisclosureRecord] { try inner.disclosures(user: user) }
    func pendingJobCount() throws -> Int { try inner.pendingJobCount() }
}

/// Polls `condition` until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(10), _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.01)
    }
    return try condition()
}
