import Foundation
import Synchronization
import Testing
@testable import SecretsCore

@Suite("InMemoryStorage honours the sink protocols' requirements")
struct InMemoryStorageTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func token(_ identity: String, user: String = "alice", email: String = "alice@example.org", at time: Date? = nil) -> IssuedToken {
        IssuedToken(id: identity, type: "pypi_api_token", identity: identity, user: user, emails: [email],
                    description: "token \(identity)", createdAt: time ?? t0)
    }

    func record(_ hash: String, identity: String?, outcome: DisclosureOutcome? = nil, at time: Date? = nil) -> DisclosureRecord {
        DisclosureRecord(vendor: "github", tokenHash: hash, tokenType: "pypi_api_token", identity: identity,
                         url: "https://example.com/leak", source: "commit", receivedAt: time ?? t0, outcome: outcome)
    }

    @Test("revoke: of many concurrent disclosures exactly one wins; the winner may repeat; others see alreadyRevoked")
    func revokeIsAtomicAndIdempotent() throws {
        let memory = InMemoryStorage()
        try memory.issue(token("t1"))
        let results = ConcurrentResults<RevocationResult>()
        DispatchQueue.concurrentPerform(iterations: 64) { i in
            if let result = try? memory.revoke(identity: "t1", byDisclosure: Int64(i + 1), at: t0) { results.append(result) }
        }
        let all = results.values
        #expect(all.count == 64)
        let winners = all.compactMap { result -> IssuedToken? in if case .revoked(let t) = result { t } else { nil } }
        #expect(winners.count == 1)
        let winner = try #require(winners.first?.revokedByDisclosure)
        let revoked = try #require(try memory.token(identity: "t1"))
        #expect(try memory.revoke(identity: "t1", byDisclosure: winner, at: t0.addingTimeInterval(5)) == .revoked(revoked))
        #expect(try memory.token(identity: "t1")?.revokedAt == t0)
        if case .alreadyRevoked = try memory.revoke(identity: "t1", byDisclosure: 999, at: t0) {} else { Issue.record("expected alreadyRevoked") }
        #expect(try memory.revoke(identity: "nope", byDisclosure: 1, at: t0) == .notFound)

        try memory.issue(token("t2"))
        #expect(memory.revokeByOwner(identity: "t2", at: t0))
        if case .alreadyRevoked(let t) = try memory.revoke(identity: "t2", byDisclosure: 5, at: t0) {
            #expect(t.revokedByDisclosure == nil)
        } else { Issue.record("a token its owner revoked is alreadyRevoked for any disclosure") }
    }

    @Test("issue: users collect their addresses, a duplicate identity is a conflict, newest tokens first")
    func issueAndList() throws {
        let memory = InMemoryStorage()
        try memory.issue(token("a", at: t0))
        try memory.issue(token("b", email: "alice@work.example", at: t0.addingTimeInterval(10)))
        try memory.issue(token("c", user: "bob", email: "bob@example.org", at: t0.addingTimeInterval(5)))
        #expect(try memory.token(identity: "a")?.emails == ["alice@example.org", "alice@work.example"])
        #expect(try memory.tokens(user: "alice").map(\.id) == ["b", "a"])
        #expect(try memory.tokens(user: nil).map(\.id) == ["b", "c", "a"])
        let error = try #require(throws: StoreError.self) { try memory.issue(token("a")) }
        #expect(error.kind == .conflict)
    }

    @Test("installation secrets are random once and stable after")
    func secrets() throws {
        let memory = InMemoryStorage()
        let first = try memory.installationSecret(named: "root", length: 32)
        #expect(first.count == 32)
        #expect(try memory.installationSecret(named: "root", length: 32) == first)
        #expect(try memory.installationSecret(named: "other", length: 32) != first)
        #expect(try InMemoryStorage().installationSecret(named: "root", length: 32) != first)
    }

    @Test("events: idempotent per key, always recorded without one, oldest first, per user")
    func events() throws {
        let memory = InMemoryStorage()
        let e1 = SecurityEvent(tag: "a", user: "alice", time: t0, data: ["n": "1"], idempotencyKey: "k1")
        try memory.record(e1)
        try memory.record(SecurityEvent(tag: "a", user: "alice", time: t0, data: ["n": "2"], idempotencyKey: "k1"))
        try memory.record(SecurityEvent(tag: "b", user: "bob", time: t0, data: [:]))
        try memory.record(SecurityEvent(tag: "b", user: "bob", time: t0, data: [:]))
        #expect(try memory.events(user: nil).map(\.tag) == ["a", "b", "b"])
        #expect(try memory.events(user: "alice") == [e1])
    }

    @Test("queue: ids in order, intake-decided records make no job, leases hold until they lapse")
    func queueLeases() throws {
        let memory = InMemoryStorage()
        let stored = try memory.accept([record("h1", identity: "i1"), record("h2", identity: nil, outcome: .unknownType),
                                        record("h3", identity: "i3")])
        #expect(stored.map(\.id) == [1, 2, 3])
        #expect(stored.map(\.tokenHash) == ["h1", "h2", "h3"])
        #expect(try memory.pendingJobCount() == 2)

        let claimed = try memory.claim(limit: 10, lease: .seconds(60), now: t0)
        #expect(claimed.map(\.disclosure.tokenHash) == ["h1", "h3"])
        #expect(claimed.allSatisfy { $0.attempts == 1 })
        #expect(try memory.claim(limit: 10, lease: .seconds(60), now: t0.addingTimeInterval(59)).isEmpty)
        let again = try memory.claim(limit: 1, lease: .seconds(60), now: t0.addingTimeInterval(61))
        #expect(again.map(\.disclosure.tokenHash) == ["h1"])
        #expect(again.first?.attempts == 2)

        try memory.finish(jobID: again[0].id, outcome: .revoked, detail: nil, at: t0)
        #expect(throws: StoreError.self) { try memory.finish(jobID: again[0].id, outcome: .revoked, detail: nil, at: t0) }
        #expect(try memory.pendingJobCount() == 1)
        #expect(try memory.disclosures(user: nil).first { $0.tokenHash == "h1" }?.outcome == .revoked)

        let h3 = try #require(claimed.last)
        try memory.retry(jobID: h3.id, after: t0.addingTimeInterval(300), error: "busy")
        #expect(memory.lastError(jobID: h3.id) == "busy")
        #expect(try memory.claim(limit: 10, lease: .seconds(60), now: t0.addingTimeInterval(299)).isEmpty)
        #expect(try memory.claim(limit: 10, lease: .seconds(60), now: t0.addingTimeInterval(300)).count == 1)
        #expect(try memory.claim(limit: 10, lease: .seconds(60), now: t0.addingTimeInterval(301)).isEmpty)
        try memory.releaseLeases()
        #expect(try memory.claim(limit: 10, lease: .seconds(60), now: t0.addingTimeInterval(301)).count == 1)
    }

    @Test("queue: concurrent claimers never get the same job")
    func concurrentClaims() throws {
        let memory = InMemoryStorage()
        _ = try memory.accept((0..<500).map { record("h\($0)", identity: "i\($0)") })
        let claimed = ConcurrentResults<Int64>()
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            while let jobs = try? memory.claim(limit: 3, lease: .seconds(60), now: t0), !jobs.isEmpty {
                for job in jobs { claimed.append(job.id) }
            }
        }
        #expect(claimed.values.count == 500)
        #expect(Set(claimed.values).count == 500)
    }

    @Test("disclosures: newest first, and per user through the tokens' identities")
    func disclosuresPerUser() throws {
        let memory = InMemoryStorage()
        try memory.issue(token("i1"))
        try memory.issue(token("i2", user: "bob", email: "bob@example.org"))
        _ = try memory.accept([record("h1", identity: "i1", at: t0), record("h2", identity: "i2", at: t0.addingTimeInterval(1)),
                               record("h3", identity: nil, outcome: .invalidFormat, at: t0.addingTimeInterval(2))])
        #expect(try memory.disclosures(user: nil).map(\.tokenHash) == ["h3", "h2", "h1"])
        #expect(try memory.disclosures(user: "alice").map(\.tokenHash) == ["h1"])
        #expect(try memory.disclosures(user: "carol").isEmpty)
    }

    @Test("outbox: idempotent per message id, leased, kept on failure, gone from pending once sent")
    func outbox() throws {
        let memory = InMemoryStorage()
        let message = MailMessage(messageID: "m1@x", from: "s@x", to: ["a@x"], subject: "s", body: "b", date: t0, user: "alice")
        try memory.enqueue(message)
        try memory.enqueue(message)
        #expect(try memory.pendingMailCount() == 1)
        let entry = try #require(try memory.claimMail(limit: 5, lease: .seconds(60), now: t0).first)
        #expect(entry.attempts == 1)
        #expect(try memory.claimMail(limit: 5, lease: .seconds(60), now: t0).isEmpty)
        try memory.markFailed(id: entry.id, retryAt: t0.addingTimeInterval(10), error: "down")
        #expect(try memory.pendingMailCount() == 1)
        #expect(try memory.claimMail(limit: 5, lease: .seconds(60), now: t0.addingTimeInterval(9)).isEmpty)
        let retried = try #require(try memory.claimMail(limit: 5, lease: .seconds(60), now: t0.addingTimeInterval(10)).first)
        #expect(retried.attempts == 2)
        try memory.markSent(id: retried.id, at: t0.addingTimeInterval(10))
        #expect(try memory.pendingMailCount() == 0)
        #expect(try memory.claimMail(limit: 5, lease: .seconds(60), now: t0.addingTimeInterval(1000)).isEmpty)
        try memory.enqueue(message)
        #expect(try memory.pendingMailCount() == 0)
        #expect(memory.outboxMessages().count == 1)
    }

    @Test("InMemoryMailSink: idempotent per message id, and fails while told to")
    func mailSink() throws {
        let sink = InMemoryMailSink()
        let message = MailMessage(messageID: "m1@x", from: "s@x", to: ["a@x"], subject: "s", body: "b", date: t0, user: "alice")
        sink.setFailing(true)
        #expect(throws: InMemoryMailSink.Unavailable.self) { try sink.send(message) }
        #expect(sink.delivered.isEmpty)
        sink.setFailing(false)
        try sink.send(message)
        try sink.send(message)
        #expect(sink.delivered == [message])
        #expect(sink.sendAttempts == 3)
    }
}

/// Collects values appended from many threads.
final class ConcurrentResults<Value: Sendable>: Sendable {
    private let storage = Mutex<[Value]>([])
    func append(_ value: Value) { storage.withLock { $0.append(value) } }
    var values: [Value] { storage.withLock { $0 } }
}
