import Foundation
import Synchronization
import Testing
@testable import SecretsCore

@Suite("DisclosureAnalyzer with batched writes (PipelineBatchStore) and without")
struct AnalyzerBatchTests {
    /// The same reports on a batching store and on one whose queue is wrapped (one-at-a-time calls).
    @Test(arguments: [true, false])
    func aBatchEndsAsOneJobAtATimeWould(batched: Bool) throws {
        let memory = InMemoryStorage()
        let storage = batched ? Storage.inMemory(memory) : Storage(tokens: memory, events: memory, queue: RecordingQueue(memory), outbox: memory)
        #expect((storage.pipelineBatchStore != nil) == batched)
        let f = try AnalyzerFixture(memory: memory, storage: storage)
        let alice = try f.issue()
        let bob = try f.issue(user: "bob", email: "bob@example.org")
        let silent = f.minter.mint()
        f.remember(silent.value)
        try memory.issue(IssuedToken(id: silent.identity, type: "pypi_api_token", identity: silent.identity, user: "carol",
                                     emails: [], description: "no address", createdAt: f.t0))
        let stranger = f.minter.mint()
        _ = try f.analyzer.accept(vendor: "github", disclosures: [
            f.disclosure(alice.value), f.disclosure(alice.value), f.disclosure(bob.value), f.disclosure(silent.value),
            f.disclosure(stranger.value),
        ], at: f.t0)
        let jobs = try f.storage.queue.claim(limit: 10, lease: .seconds(60), now: f.t0)
        #expect(f.analyzer.process(jobs, now: f.t0) == [.revoked, .duplicate, .revoked, .revoked, .notFound])
        #expect(try f.storage.queue.pendingJobCount() == 0)
        #expect(try f.storage.events.events(user: nil).map(\.user) == ["alice", "bob", "carol"])
        #expect(memory.outboxMessages().map(\.message.user) == ["alice", "bob"])
        #expect(f.log.lines.contains { $0.contains("owner has no email address") })

        // Mail: sent one by one, marked sent (with its event) together.
        let entries = try f.storage.outbox.claimMail(limit: 10, lease: .seconds(60), now: f.t0)
        let deliveries = entries.compactMap { f.analyzer.send($0, via: f.sink, now: f.t0) }
        #expect(deliveries.count == 2)
        #expect(try f.storage.outbox.pendingMailCount() == 2)
        f.analyzer.recordSent(deliveries)
        #expect(try f.storage.outbox.pendingMailCount() == 0)
        #expect(try f.storage.events.events(user: nil).map(\.tag) == [SecurityEventTag.tokenRemovedLeak, SecurityEventTag.tokenRemovedLeak,
                                                                      SecurityEventTag.tokenRemovedLeak, SecurityEventTag.emailSent,
                                                                      SecurityEventTag.emailSent])
        #expect(f.sink.delivered.map(\.to) == [["alice@example.org"], ["bob@example.org"]])
        #expect(f.metrics.counter("tokens_revoked_total", ["vendor": "github"]) == 3)
        #expect(f.metrics.counter("disclosures_outcome_total", ["vendor": "github", "outcome": "duplicate"]) == 1)
        #expect(f.metrics.counter("disclosures_outcome_total", ["vendor": "github", "outcome": "not_found"]) == 1)
        #expect(f.metrics.total("mails_sent_total") == 2)
        try f.expectNoRawToken()
    }

    @Test("a failed batch transaction puts every job back with backoff; the next claim carries on")
    func aFailedBatchIsRetried() throws {
        let memory = InMemoryStorage()
        let faulty = FaultyBatchStorage(memory)
        let f = try AnalyzerFixture(memory: memory, storage: faulty.storage)
        #expect(faulty.storage.pipelineBatchStore != nil)
        let tokens = try (0..<3).map { try f.issue(user: "user\($0)", email: "user\($0)@example.org") }
        _ = try f.analyzer.accept(vendor: "github", disclosures: tokens.map { f.disclosure($0.value) }, at: f.t0)

        faulty.failNext(.revoke)
        var jobs = try f.storage.queue.claim(limit: 10, lease: .seconds(60), now: f.t0)
        #expect(f.analyzer.process(jobs, now: f.t0) == [nil, nil, nil])
        #expect(jobs.allSatisfy { memory.lastError(jobID: $0.id) == "database is locked" })
        #expect(try memory.tokens(user: nil).allSatisfy { $0.revokedAt == nil })

        // Revoked, then the completion transaction fails: the tokens stay revoked, the jobs come back.
        faulty.failNext(.complete)
        jobs = try f.storage.queue.claim(limit: 10, lease: .seconds(60), now: f.t0.addingTimeInterval(1))
        #expect(jobs.count == 3)
        #expect(f.analyzer.process(jobs, now: f.t0.addingTimeInterval(1)) == [nil, nil, nil])
        #expect(try memory.tokens(user: nil).allSatisfy { $0.revokedAt != nil })
        #expect(try f.storage.events.events(user: nil).isEmpty)

        jobs = try f.storage.queue.claim(limit: 10, lease: .seconds(60), now: f.t0.addingTimeInterval(3))
        #expect(f.analyzer.process(jobs, now: f.t0.addingTimeInterval(3)) == [.revoked, .revoked, .revoked])
        #expect(try f.storage.events.events(user: nil).count == 3)
        #expect(memory.outboxMessages().count == 3)
        #expect(f.metrics.counter("disclosures_retried_total", ["vendor": "github"]) == 6)

        // Marking sent fails as a whole: nothing is marked, the lease lapses, the idempotent resend is marked.
        faulty.failNext(.markSent)
        let entries = try f.storage.outbox.claimMail(limit: 10, lease: .seconds(60), now: f.t0.addingTimeInterval(3))
        f.analyzer.recordSent(entries.compactMap { f.analyzer.send($0, via: f.sink, now: f.t0.addingTimeInterval(3)) })
        #expect(f.sink.delivered.count == 3)
        #expect(try f.storage.outbox.pendingMailCount() == 3)
        #expect(f.log.lines.contains { $0.contains("marking a mail sent failed") })
        try f.drainMail(now: f.t0.addingTimeInterval(70))
        #expect(try f.storage.outbox.pendingMailCount() == 0)
        #expect(try f.storage.events.events(user: nil).filter { $0.tag == SecurityEventTag.emailSent }.count == 3)
    }

    @Test("a job another worker finished meanwhile is left alone; the rest of the batch finishes")
    func aJobFinishedElsewhereInABatch() throws {
        let f = try AnalyzerFixture()
        let tokens = try (0..<2).map { try f.issue(user: "user\($0)", email: "user\($0)@example.org") }
        _ = try f.analyzer.accept(vendor: "github", disclosures: tokens.map { f.disclosure($0.value) }, at: f.t0)
        let jobs = try f.storage.queue.claim(limit: 10, lease: .seconds(60), now: f.t0)
        // The lease lapsed, another worker took and finished the first job.
        #expect(f.analyzer.process([jobs[0]], now: f.t0) == [.revoked])
        #expect(f.analyzer.process(jobs, now: f.t0) == [nil, .revoked])
        #expect(f.log.lines.contains { $0.contains("finishing a job failed") })
        #expect(try f.storage.events.events(user: nil).count == 2)
        #expect(f.memory.outboxMessages().count == 2)
        #expect(f.metrics.counter("tokens_revoked_total", ["vendor": "github"]) == 2)
    }

    @Test("a mail worker marks a batch of sent mail together, each with its event")
    func mailWorkersMarkInBatches() throws {
        let f = try AnalyzerFixture()
        let tokens = try (0..<20).map { try f.issue(user: "user\($0)", email: "user\($0)@example.org") }
        _ = try f.analyzer.accept(vendor: "github", disclosures: tokens.map { f.disclosure($0.value) }, at: f.t0)
        try f.drainJobs(now: f.t0)
        let workers = AnalysisWorkers(analyzer: f.analyzer, mailSink: f.sink,
                                      settings: WorkerSettings(disclosureWorkers: 1, mailWorkers: 2, batchSize: 8,
                                                               pollInterval: .milliseconds(10), markSentWithin: .seconds(60)),
                                      now: { [t0 = f.t0] in t0 })
        workers.start()
        workers.wakeMail()
        #expect(eventually { (try? f.storage.outbox.pendingMailCount()) == 0 })
        #expect(workers.stop())
        #expect(f.sink.delivered.count == 20)
        #expect(try f.storage.events.events(user: nil).filter { $0.tag == SecurityEventTag.emailSent }.count == 20)
    }
}

/// `InMemoryStorage` in every role and as the batch store, whose next batch call of a kind can fail as a
/// whole (a transaction that could not commit).
final class FaultyBatchStorage: TokenStore, EventStore, DisclosureQueue, Outbox, PipelineBatchStore {
    enum Call { case revoke, complete, markSent }
    let inner: InMemoryStorage
    private let failing = Mutex<Set<Call>>([])

    init(_ inner: InMemoryStorage) { self.inner = inner }

    var storage: Storage { Storage(tokens: self, events: self, queue: self, outbox: self) }

    func failNext(_ call: Call) { _ = failing.withLock { $0.insert(call) } }

    private func check(_ call: Call) throws {
        if failing.withLock({ $0.remove(call) }) != nil { throw StoreError(.transient, "database is locked") }
    }

    func revoke(_ requests: [RevocationRequest], at time: Date) throws -> [Result<RevocationResult, StoreError>] {
        try check(.revoke)
        return try inner.revoke(requests, at: time)
    }
    func complete(_ completions: [JobCompletion]) throws -> [StoreError?] {
        try check(.complete)
        return try inner.complete(completions)
    }
    func markSent(_ deliveries: [MailDelivery]) throws -> [StoreError?] {
        try check(.markSent)
        return try inner.markSent(deliveries)
    }

    func token(identity: String) throws -> IssuedToken? { try inner.token(identity: identity) }
    func revoke(identity: String, byDisclosure disclosureID: Int64, at time: Date) throws -> RevocationResult {
        try inner.revoke(identity: identity, byDisclosure: disclosureID, at: time)
    }
    func issue(_ token: IssuedToken) throws { try inner.issue(token) }
    func tokens(user: String?) throws -> [IssuedToken] { try inner.tokens(user: user) }
    func installationSecret(named name: String, length: Int) throws -> [UInt8] { try inner.installationSecret(named: name, length: length) }
    func record(_ event: SecurityEvent) throws { try inner.record(event) }
    func events(user: String?) throws -> [SecurityEvent] { try inner.events(user: user) }
    func accept(_ records: [DisclosureRecord]) throws -> [DisclosureRecord] { try inner.accept(records) }
    func claim(limit: Int, lease: Duration, now: Date) throws -> [DisclosureJob] { try inner.claim(limit: limit, lease: lease, now: now) }
    func finish(jobID: Int64, outcome: DisclosureOutcome, detail: String?, at time: Date) throws {
        try inner.finish(jobID: jobID, outcome: outcome, detail: detail, at: time)
    }
    func retry(jobID: Int64, after: Date, error: String) throws { try inner.retry(jobID: jobID, after: after, error: error) }
    func releaseLeases() throws { try inner.releaseLeases() }
    func disclosures(user: String?) throws -> [DisclosureRecord] { try inner.disclosures(user: user) }
    func pendingJobCount() throws -> Int { try inner.pendingJobCount() }
    func enqueue(_ message: MailMessage) throws { try inner.enqueue(message) }
    func claimMail(limit: Int, lease: Duration, now: Date) throws -> [OutboxEntry] { try inner.claimMail(limit: limit, lease: lease, now: now) }
    func markSent(id: Int64, at time: Date) throws { try inner.markSent(id: id, at: time) }
    func markFailed(id: Int64, retryAt: Date, error: String) throws { try inner.markFailed(id: id, retryAt: retryAt, error: error) }
    func pendingMailCount() throws -> Int { try inner.pendingMailCount() }
}
