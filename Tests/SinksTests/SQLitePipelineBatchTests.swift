import Foundation
import SecretsCore
import Testing
@testable import Sinks

/// `PipelineBatchStore` on the two backends that implement it: each item answers as the one-at-a-time
/// calls would, atomically on its own, and SQLite writes a whole batch in one transaction.
@Suite("PipelineBatchStore on InMemory and SQLite")
struct SQLitePipelineBatchTests {
    enum Backend: String, CaseIterable, CustomTestStringConvertible {
        case inMemory = "InMemory"
        case sqlite = "SQLite"
        var testDescription: String { rawValue }
    }

    /// A fresh store of one backend, with what must live as long as it.
    final class Store {
        let storage: Storage
        let batch: any PipelineBatchStore
        let sqlite: SQLiteStorage?
        private let folder: TemporaryDirectory?

        init(_ backend: Backend) throws {
            switch backend {
            case .inMemory:
                storage = .inMemory(InMemoryStorage())
                (sqlite, folder) = (nil, nil)
            case .sqlite:
                let folder = try TemporaryDirectory("batch")
                let sqlite = try SQLiteStorage.open(path: SQLiteFixture.databasePath(in: folder))
                (self.sqlite, self.folder, storage) = (sqlite, folder, sqlite.storage)
            }
            batch = try #require(storage.pipelineBatchStore)
        }

        /// Accepts `count` disclosures and claims their jobs.
        func claimedJobs(_ count: Int) throws -> [DisclosureJob] {
            _ = try storage.queue.accept((0..<count).map { SQLiteFixture.disclosure($0) })
            return try storage.queue.claim(limit: count, lease: .seconds(60), now: SQLiteFixture.at(1))
        }
    }

    static func event(_ key: String, user: String = "alice") -> SecurityEvent {
        SecurityEvent(tag: SecurityEventTag.tokenRemovedLeak, user: user, time: SQLiteFixture.at(2),
                      data: ["token_id": key, "vendor": "github"], idempotencyKey: "leak:\(key)")
    }

    @Test(arguments: Backend.allCases)
    func revocationsAnswerAsSingleCallsDo(backend: Backend) throws {
        let store = try Store(backend)
        try store.storage.tokens.issue(SQLiteFixture.token("live"))
        try store.storage.tokens.issue(SQLiteFixture.token("owner", revokedAt: SQLiteFixture.at(0)))
        let answers = try store.batch.revoke([
            RevocationRequest(identity: "identity-live", disclosureID: 1),
            RevocationRequest(identity: "identity-live", disclosureID: 2),
            RevocationRequest(identity: "identity-live", disclosureID: 1),
            RevocationRequest(identity: "identity-owner", disclosureID: 3),
            RevocationRequest(identity: "identity-nobody", disclosureID: 4),
        ], at: SQLiteFixture.at(5)).map { try $0.get() }
        #expect(answers.count == 5)
        guard case .revoked(let token) = answers[0] else { Issue.record("not revoked: \(answers[0])"); return }
        #expect(token.revokedByDisclosure == 1 && token.revokedAt == SQLiteFixture.at(5) && token.emails == ["alice@example.org"])
        #expect(answers[1] == .alreadyRevoked(token))
        #expect(answers[2] == .revoked(token))
        if case .alreadyRevoked(let owned) = answers[3] { #expect(owned.revokedByDisclosure == nil) } else {
            Issue.record("owner's revocation not kept: \(answers[3])")
        }
        #expect(answers[4] == .notFound)
        #expect(try store.storage.tokens.token(identity: "identity-live")?.revokedByDisclosure == 1)
        #expect(try store.batch.revoke([], at: SQLiteFixture.at(5)).isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func aCompletionIsAtomicAndAGoneJobLeavesNothing(backend: Backend) throws {
        let store = try Store(backend)
        let jobs = try store.claimedJobs(3)
        #expect(jobs.count == 3)
        // Another worker finished the second job after this one's lease lapsed.
        try store.storage.queue.finish(jobID: jobs[1].id, outcome: .revoked, detail: "first", at: SQLiteFixture.at(3))

        let completions = [
            JobCompletion(jobID: jobs[0].id, outcome: .revoked, time: SQLiteFixture.at(4), events: [Self.event("a")],
                          mail: SQLiteFixture.mail("a@tokenscan.test")),
            JobCompletion(jobID: jobs[1].id, outcome: .revoked, time: SQLiteFixture.at(4), events: [Self.event("b")],
                          mail: SQLiteFixture.mail("b@tokenscan.test")),
            JobCompletion(jobID: jobs[2].id, outcome: .duplicate, time: SQLiteFixture.at(4)),
        ]
        let failures = try store.batch.complete(completions)
        #expect(failures.count == 3)
        #expect(failures[0] == nil && failures[2] == nil)
        #expect(failures[1]?.kind == .notFound)

        #expect(try store.storage.events.events(user: nil).map(\.idempotencyKey) == ["leak:a"])
        let mail = try store.storage.outbox.claimMail(limit: 10, lease: .seconds(60), now: SQLiteFixture.at(10))
        #expect(mail.map(\.message.messageID) == ["a@tokenscan.test"])
        let outcomes = try store.storage.queue.disclosures(user: nil).sorted { ($0.id ?? 0) < ($1.id ?? 0) }
        #expect(outcomes.map(\.outcome) == [.revoked, .revoked, .duplicate])
        #expect(outcomes.map(\.detail) == [nil, "first", nil])
        #expect(try store.storage.queue.pendingJobCount() == 0)

        // Completing again (a retried batch) stores nothing twice.
        #expect(try store.batch.complete([completions[0]]).first??.kind == .notFound)
        #expect(try store.storage.events.events(user: nil).count == 1)
        #expect(try store.batch.complete([]).isEmpty)
    }

    @Test(arguments: Backend.allCases)
    func markingSentRecordsTheEventWithTheMarkOnly(backend: Backend) throws {
        let store = try Store(backend)
        try store.storage.outbox.enqueue(SQLiteFixture.mail("m1@tokenscan.test"))
        try store.storage.outbox.enqueue(SQLiteFixture.mail("m2@tokenscan.test"))
        let entries = try store.storage.outbox.claimMail(limit: 10, lease: .seconds(60), now: SQLiteFixture.at(1))
        #expect(entries.count == 2)
        let sentEvent = { (id: String) in
            SecurityEvent(tag: SecurityEventTag.emailSent, user: "alice", time: SQLiteFixture.at(2), data: ["message_id": id],
                          idempotencyKey: "mail:\(id)")
        }
        let deliveries = [
            MailDelivery(id: entries[0].id, sentAt: SQLiteFixture.at(2), event: sentEvent("m1@tokenscan.test")),
            MailDelivery(id: 987_654, sentAt: SQLiteFixture.at(2), event: sentEvent("unknown@tokenscan.test")),
            MailDelivery(id: entries[1].id, sentAt: SQLiteFixture.at(2), event: nil),
        ]
        let failures = try store.batch.markSent(deliveries)
        #expect(failures.count == 3)
        #expect(failures[0] == nil && failures[2] == nil)
        #expect(failures[1]?.kind == .notFound)
        #expect(try store.storage.outbox.pendingMailCount() == 0)
        #expect(try store.storage.events.events(user: nil).map(\.idempotencyKey) == ["mail:m1@tokenscan.test"])

        // Marking again (the lease lapsed and the mail was sent again) changes nothing.
        #expect(try store.batch.markSent([deliveries[0]]).map { $0 == nil } == [true])
        #expect(try store.storage.events.events(user: nil).count == 1)
        #expect(try store.batch.markSent([]).isEmpty)
    }

    @Test func sqliteWritesABatchInOneTransaction() throws {
        let store = try Store(.sqlite)
        let sqlite = try #require(store.sqlite)
        for n in 0..<20 { try store.storage.tokens.issue(SQLiteFixture.token("t\(n)", user: "user\(n)")) }
        let jobs = try store.claimedJobs(20)
        let before = sqlite.writeTransactionCount
        let answers = try store.batch.revoke(jobs.map { RevocationRequest(identity: "identity-t\($0.id - 1)", disclosureID: $0.id) },
                                             at: SQLiteFixture.at(3))
        #expect(answers.allSatisfy { if case .success(.revoked) = $0 { true } else { false } })
        #expect(try store.batch.complete(jobs.map {
            JobCompletion(jobID: $0.id, outcome: .revoked, time: SQLiteFixture.at(3), events: [Self.event("\($0.id)")],
                          mail: SQLiteFixture.mail("\($0.id)@tokenscan.test"))
        }).allSatisfy { $0 == nil })
        let entries = try store.storage.outbox.claimMail(limit: 20, lease: .seconds(60), now: SQLiteFixture.at(4))
        #expect(try store.batch.markSent(entries.map { MailDelivery(id: $0.id, sentAt: SQLiteFixture.at(5), event: nil) })
            .allSatisfy { $0 == nil })
        // revoke, complete, claimMail, markSent: four transactions for twenty tokens.
        #expect(sqlite.writeTransactionCount - before == 4)
        #expect(try store.storage.events.events(user: nil).count == 20)
        #expect(try store.storage.outbox.pendingMailCount() == 0)
    }

    @Test func theWriterKeepsSavepointJournalsInMemory() throws {
        let folder = try TemporaryDirectory("batch")
        let sqlite = try SQLiteStorage.open(path: SQLiteFixture.databasePath(in: folder))
        // 2 = MEMORY: a batch's savepoints never create temporary files.
        #expect(try sqlite.write { try $0.queryFirst("PRAGMA temp_store") { $0.int(0) } } == 2)
    }

    @Test func aMixedOrWrappedStorageHasNoBatchStore() throws {
        let memory = InMemoryStorage()
        #expect(Storage.inMemory(memory).pipelineBatchStore != nil)
        let folder = try TemporaryDirectory("batch")
        let sqlite = try SQLiteStorage.open(path: SQLiteFixture.databasePath(in: folder))
        #expect(sqlite.storage.pipelineBatchStore != nil)
        // Parts from two backends: the one-at-a-time calls, or the tokens would be revoked in the wrong store.
        #expect(Storage(tokens: sqlite, events: memory, queue: memory, outbox: memory).pipelineBatchStore == nil)
        #expect(Storage(tokens: memory, events: memory, queue: sqlite, outbox: memory).pipelineBatchStore == nil)
    }
}
