import Foundation
import SecretsCore
import Synchronization
import Testing
@testable import Sinks

/// The storage backends every conformance test runs on.
enum StorageBackend: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case inMemory = "InMemory"
    case sqlite = "SQLite"
    case postgresql = "PostgreSQL"

    var testDescription: String { rawValue }

    /// PostgreSQL only when a test server is configured (`PostgreSQLAvailabilityTests` fails the run when
    /// one is required and missing).
    static var available: [StorageBackend] { PostgreSQLTestServer.isConfigured ? allCases : [.inMemory, .sqlite] }
}

/// A fresh, empty store on one backend, with what must live as long as it (its folder, its database).
final class StorageUnderTest {
    let backend: StorageBackend
    let storage: Storage
    private let memory: InMemoryStorage?
    private let folder: TemporaryDirectory?
    private let database: PostgreSQLTestDatabase?

    init(_ backend: StorageBackend) throws {
        self.backend = backend
        switch backend {
        case .inMemory:
            let memory = InMemoryStorage()
            (self.memory, folder, database) = (memory, nil, nil)
            storage = .inMemory(memory)
        case .sqlite:
            let folder = try TemporaryDirectory("conformance")
            (memory, self.folder, database) = (nil, folder, nil)
            storage = try SQLiteStorage.open(path: folder.path + "/tokenscan.sqlite3").storage
        case .postgresql:
            let database = try PostgreSQLTestDatabase()
            (memory, folder, self.database) = (nil, nil, database)
            storage = try PostgreSQLStorage.open(url: database.url).storage
        }
    }

    /// Another instance on the same data, as a second process would open it (its own SQLite connections,
    /// its own PostgreSQL pool). The in-memory store has only one.
    func secondInstance() throws -> Storage {
        switch backend {
        case .inMemory: storage
        case .sqlite: try SQLiteStorage.open(path: (folder?.path ?? "") + "/tokenscan.sqlite3").storage
        case .postgresql: try PostgreSQLStorage.open(url: database?.url ?? "").storage
        }
    }
}

/// Records and helpers of the conformance tests (namespaced: the test module is shared).
enum Conformance {
    /// Whole seconds, so dates compare equal after the microsecond round trip.
    static func at(_ seconds: Int) -> Date { Date(timeIntervalSince1970: TimeInterval(1_700_000_000 + seconds)) }

    static func disclosure(_ n: Int, identity: String? = nil, outcome: DisclosureOutcome? = nil, at seconds: Int = 0) -> DisclosureRecord {
        DisclosureRecord(vendor: n.isMultiple(of: 3) ? "depsdev" : "github", tokenHash: SHA256.hex("token-\(n)"),
                         tokenType: "pypi_api_token", identity: identity ?? "identity-\(n)", url: "https://example.org/\(n)?q=\"é\"",
                         source: n.isMultiple(of: 2) ? "commit" : nil, receivedAt: at(seconds), outcome: outcome,
                         detail: outcome == nil ? nil : "detail \(n)")
    }

    static func token(_ id: String, user: String = "alice", emails: [String]? = nil, created: Int = 0,
                      revokedAt: Date? = nil) -> IssuedToken {
        IssuedToken(id: id, type: "pypi_api_token", identity: "identity-\(id)", user: user,
                    emails: emails ?? ["\(user)@example.org"], description: "token \(id) — ünïcode", createdAt: at(created),
                    revokedAt: revokedAt)
    }

    static func mail(_ id: String, user: String = "alice", at seconds: Int = 0) -> MailMessage {
        MailMessage(messageID: id, from: "security@example.org", to: ["\(user)@example.org", "other@example.org"],
                    subject: "Token revoked", body: "Your token was revoked.\nBye", date: at(seconds), user: user)
    }

    /// Runs `body(i)` for i in 0..<count, each on its own thread, all released at once; answers in order of i.
    static func onThreads<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) -> T) -> [T] {
        let results = Mutex<[Int: T]>([:])
        let ready = DispatchGroup(), done = DispatchGroup()
        let go = DispatchSemaphore(value: 0)
        for i in 0..<count {
            ready.enter()
            done.enter()
            Thread {
                ready.leave()
                go.wait()
                let value = body(i)
                results.withLock { $0[i] = value }
                done.leave()
            }.start()
        }
        ready.wait()
        for _ in 0..<count { go.signal() }
        done.wait()
        return results.withLock { r in (0..<count).compactMap { r[$0] } }
    }

    static func kind(_ body: () throws -> Void) -> StoreError.Kind? {
        do {
            try body()
            return nil
        } catch let error as StoreError {
            return error.kind
        } catch {
            return .permanent
        }
    }
}

private typealias C = Conformance

/// Every requirement of `TokenStore`, `EventStore`, `DisclosureQueue` and `Outbox`, checked the same way
/// on every backend.
@Suite("Storage conformance")
struct StorageConformanceTests {
    // MARK: TokenStore

    @Test(arguments: StorageBackend.available)
    func issueCreatesTheUserAddsEmailsAndListsNewestFirst(_ backend: StorageBackend) throws {
        let subject = try StorageUnderTest(backend)
        defer { withExtendedLifetime(subject) {} }
        let store = subject.storage.tokens
        try store.issue(C.token("a", emails: ["alice@example.org", "a2@example.org"], created: 1))
        try store.issue(C.token("b", emails: ["a3@example.org", "alice@example.org"], created: 2))
        try store.issue(C.token("c", user: "bob", created: 3))
        try store.issue(C.token("d", user: "bob", created: 3))

        let a = try #require(try store.token(identity: "identity-a"))
        // The first email of a new user is primary and comes first, then the others.
        #expect(a.emails == ["alice@example.org", "a2@example.org", "a3@example.org"])
        #expect(a == IssuedToken(id: "a", type: "pypi_api_token", identity: "identity-a", user: "alice",
                                 emails: a.emails, description: "token a — ünïcode", createdAt: C.at(1)))
        #expect(try store.tokens(user: "alice").map(\.id) == ["b", "a"])
        #expect(try store.tokens(user: "alice").allSatisfy { $0.emails == a.emails })
        // c and d were created at the same time: d (the later one, and the larger id) first.
        #expect(try store.tokens(user: nil).map(\.id) == ["d", "c", "b", "a"])
        #expect(try store.tokens(user: "nobody").isEmpty)
        #expect(try store.token(identity: "identity-zzz") == nil)
    }

    @Test(arguments: StorageBackend.available)
    func issuingAnIdentityTwiceIsAConflictAndStoresNothing(_ backend: StorageBackend) throws {
        let subject = try StorageUnderTest(backend)
        defer { withExtendedLifetime(subject) {} }
        let store = subject.storage.tokens
        try store.issue(C.token("a"))
        var again = C.token("other-id")
        again.identity = "identity-a"
        again.user = "mallory"
        #expect(C.kind { try store.issue(again) } == .conflict)
        #expect(try store.tokens(user: "mallory").isEmpty)
        #expect(try store.tokens(user: nil).map(\.id) == ["a"])
    }

    @Test(arguments: StorageBackend.available)
    func revokeAnswersRevokedThenRevokedForTheSameDisclosureThenAlreadyRevoked(_ backend: StorageBackend) throws {
        let subject = try StorageUnderTest(backend)
        defer { withExtendedLifetime(subject) {} }
        let store = subject.storage.tokens
        try store.issue(C.token("a"))
        guard case .revoked(let token) = try store.revoke(identity: "identity-a", byDisclosure: 7, at: C.at(10)) else {
            Issue.record("the first revocation did not revoke")
            return
        }
        #expect(token.revokedAt == C.at(10))
        #expect(token.revokedByDisclosure == 7)
        #expect(token.emails == ["alice@example.org"])
        #expect(try store.token(identity: "identity-a") == token)
        // The same disclosure again (a retried job) carries on; its revocation time stays the first.
        #expect(try store.revoke(identity: "identity-a", byDisclosure: 7, at: C.at(20)) == .revoked(token))
        #expect(try store.revoke(identity: "identity-a", byDisclosure: 8, at: C.at(20)) == .alreadyRevoked(token))
        #expect(try store.revoke(identity: "identity-zzz", byDisclosure: 9, at: C.at(20)) == .notFound)
    }

    @Test(arguments: StorageBackend.available)
    func aTokenItsOwnerRevokedIsAlreadyRevoked(_ backend: StorageBackend) throws {
        let subject = try StorageUnderTest(backend)
        defer { withExtendedLifetime(subject) {} }
        let store = subject.storage.tokens
        try store.issue(C.token("a", revokedAt: C.at(5)))
        guard case .alreadyRevoked(let token) = try store.revoke(identity: "identity-a", byDisclosure: 1, at: C.at(10)) else {
            Issue.record("an owner-revoked token was revoked again")
            return
        }
        #expect(token.revokedAt == C.at(5))
        #expect(token.revokedByDisclosure == nil)
    }

    /// Eight threads, split over two instances, race on one live token: exactly one disclosure wins.
    @Test(arguments: StorageBackend.available)
    func eightThreadsOnTwoInstancesRevokeOnceAndTheWinnerMayRetry(_ backend: StorageBackend) throws {
        let subject = try StorageUnderTest(backend)
        defer { withExtendedLifetime(subject) {} }
        let instances = [subject.storage.tokens, try subject.secondInstance().tokens]
        for round in 0..<5 {
            let identity = "identity-race\(round)"
            try instances[0].issue(C.token("race\(round)"))
            let results = C.onThreads(8) { i in
                Result { try instances[i % 2].revoke(identity: identity, byDisclosure: Int64(100 + i), at: C.at(round)) }
            }
            let answers = try results.map { try $0.get() }
            let winners = answers.compactMap { if case .revoked(let t) = $0 { t } else { nil } }
            try #require(winners.count == 1, "round \(round): \(answers)")
            #expect(answers.count { if case .alreadyRevoked(winners[0]) = $0 { true } else { false } } == 7)
            let stored = try #require(try instances[1].token(identity: identity))
            #expect(stored == winners[0])
            let winner = try #require(stored.revokedByDisclosure)
            // The same disclosure again, on either instance, answers .revoked with the first time.
            #expect(try instances[1].revoke(identity: identity, byDisclosure: winner, at: C.at(99)) == .revoked(stored))
            #expect(try instances[0].revoke(identity: identity, byDisclosure: 1, at: C.at(99)) == .alreadyRevoked(stored))
        }
    }

    @Test(arguments: StorageBackend.available)
    func installationSecretIsCreatedOnceAndAgreedAcrossInstances(_ backend: StorageBackend) throws {
        let subject = try StorageUnderTest(backend)
        defer { withExtendedLifetime(subject) {} }
        let instances = [subject.storage.tokens, try subject.secondInstance().tokens]
        let racing = C.onThreads(8) { i in try? instances[i % 2].installationSecret(named: "root", length: 32) }
        let values = Set(racing.compactMap { $0 })
        #expect(racing.allSatisfy { $0 != nil })
        #expect(values.count == 1)
        let first = try instances[0].installationSecret(named: "root", length: 32)
        #expect(first.count == 32)
        #expect(values.first == first)
        #expect(try instances[1].installationSecret(named: "root", length: 16) == first, "the stored value wins")
        #expect(try instances[1].installationSecret(named: "other", length: 32) != first)
        #expect(try subject.secondInstance().tokens.installationSecret(named: "root", length: 32) == first)
    }

    // MARK: EventStore

    @Test(arguments: StorageBackend.available)
    func eventsAreIdempotentPerKeyAcrossInstancesAndListedOldestFirst(_ backend: StorageBackend) throws {
        let subject = try StorageUnderTest(backend)
        defer { withExtendedLifetime(subject) {} }
        let instances = [subject.storage.events, try subject.secondInstance().events]
        let removed = SecurityEvent(tag: SecurityEventTag.tokenRemovedLeak, user: "alice", time: C.at(2),
                                    data: ["vendor": "github", "url": "https://example.org/x?a=\"b\"", "token_id": "é/ü"],
                                    idempotencyKey: "leak:1")
        let failures = C.onThreads(8) { i in
            var copy = removed
            copy.time = C.at(2 + i)  // only the first stored one counts
            return (try? instances[i % 2].record(i == 0 ? removed : copy)) == nil
        }
        #expect(!failures.contains(true))
        let earlier = SecurityEvent(tag: SecurityEventTag.emailSent, user: "alice", time: C.at(1), data: [:])
        try instances[0].record(earlier)
        try instances[1].record(earlier)  // no key: recorded each time
        try instances[0].record(SecurityEvent(tag: "x", user: "bob", time: C.at(0), data: ["k": "v"]))

        let alice = try instances[1].events(user: "alice")
        #expect(alice.count == 3)
        #expect(alice.filter { $0.idempotencyKey == "leak:1" }.map(\.data) == [removed.data])
        #expect(try instances[0].events(user: "carol").isEmpty)
        // Recorded out of time order (the keyed event at 2 s first, then two at 1 s, then one at 0 s): listed oldest first.
        let all = try instances[0].events(user: nil)
        #expect(Array(alice.prefix(2)) == [earlier, earlier])
        #expect(alice.last?.idempotencyKey == "leak:1")
        #expect(all.map(\.user) == ["bob", "alice", "alice", "alice"])
    }

    // MARK: DisclosureQueue

    @Test(arguments: StorageBackend.available)
    func acceptStoresRecordsInOrderWithJobsForThoseWithoutAnOutcome(_ backend: StorageBackend) throws {
        let subject = try StorageUnderTest(backend)
        defer { withExtendedLifetime(subject) {} }
        let queue = subject.storage.queue
        let records = [C.disclosure(1), C.disclosure(2, outcome: .invalidFormat), C.disclosure(3, identity: nil),
                       C.disclosure(4, outcome: .unknownType)]
        let stored = try queue.accept(records)
        let ids = stored.compactMap(\.id)
        #expect(ids.count == 4)
        #expect(ids == ids.sorted() && Set(ids).count == 4, "ids grow in the order of the records")
        for (input, output) in zip(records, stored) {
            var expected = input
            expected.id = output.id
            #expect(output == expected)
        }
        #expect(try queue.accept([]).isEmpty)
        #expect(try queue.pendingJobCount() == 2)
        #expect(try queue.disclosures(user: nil) == stored.reversed())
        // Only the records without an outcome became jobs.
        let jobs = try queue.claim(limit: 10, lease: .seconds(60), now: C.at(0))
        #expect(jobs.map(\.disclosure) == [stored[0], stored[2]])
        #expect(jobs.map(\.attempts) == [1, 1])
    }

    @Test(arguments: StorageBackend.available)
    func claimLeasesDueJobsInOrderAndALapsedLeaseFreesThem(_ backend: StorageBackend) throws {
        let subject = try StorageUnderTest(backend)
        defer { withExtendedLifetime(subject) {} }
        let queue = subject.storage.queue
        let stored = try queue.accept([C.disclosure(1), C.disclosure(2), C.disclosure(3, at: 100)])

        let first = try queue.claim(limit: 10, lease: .seconds(60), now: C.at(10))
        #expect(first.map(\.disclosure) == [stored[0], stored[1]])
        #expect(first.map(\.attempts) == [1, 1])
        #expect(try queue.claim(limit: 10, lease: .seconds(60), now: C.at(69)).isEmpty, "leased until 70 s")
        // At 70 s both leases lapsed; the third job is not due before 100 s. Limit and order hold.
        let again = try queue.claim(limit: 1, lease: .seconds(60), now: C.at(70))
        #expect(again.map(\.disclosure.id) == [stored[0].id])
        #expect(again.map(\.id) == [first[0].id])
        #expect(again.first?.attempts == 2)
        let later = try queue.claim(limit: 10, lease: .seconds(60), now: C.at(100))
        #expect(later.map(\.disclosure.id) == [stored[1].id, stored[2].id])
        #expect(later.map(\.attempts) == [2, 1])
        #expect(try queue.claim(limit: 0, lease: .seconds(60), now: C.at(1000)).isEmpty)
        #expect(try queue.pendingJobCount() == 3, "leased jobs are pending")
    }

    @Test(arguments: StorageBackend.available)
    func finishRecordsTheOutcomeRemovesTheJobAndASecondFinishIsNotFound(_ backend: StorageBackend) throws {
        let subject = try StorageUnderTest(backend)
        defer { withExtendedLifetime(subject) {} }
        let queue = subject.storage.queue
        let stored = try queue.accept([C.disclosure(1), C.disclosure(2)])
        let jobs = try queue.claim(limit: 10, lease: .seconds(60), now: C.at(1))
        try #require(jobs.count == 2)
        try queue.finish(jobID: jobs[0].id, outcome: .revoked, detail: nil, at: C.at(2))
        try queue.finish(jobID: jobs[1].id, outcome: .error, detail: "mail server down", at: C.at(2))
        #expect(try queue.pendingJobCount() == 0)
        #expect(try queue.claim(limit: 10, lease: .seconds(60), now: C.at(1000)).isEmpty)
        var first = stored[0], second = stored[1]
        first.outcome = .revoked
        second.outcome = .error
        second.detail = "mail server down"
        #expect(try queue.disclosures(user: nil) == [second, first])

        // A late finish (a worker whose lease lapsed) is notFound and the first outcome stays.
        #expect(C.kind { try queue.finish(jobID: jobs[0].id, outcome: .duplicate, detail: "late", at: C.at(3)) } == .notFound)
        #expect(C.kind { try queue.finish(jobID: 999_999, outcome: .revoked, detail: nil, at: C.at(3)) } == .notFound)
        #expect(try queue.disclosures(user: nil) == [second, first])
    }

    @Test(arguments: StorageBackend.available)
    func retryPutsTheJobBackForLaterAndAJobThatIsGoneIsNotFound(_ backend: StorageBackend) throws {
        let subject = try StorageUnderTest(backend)
        defer { withExtendedLifetime(subject) {} }
        let queue = subject.storage.queue
        _ = try queue.accept([C.disclosure(1), C.disclosure(2)])
        let jobs = try queue.claim(limit: 10, lease: .seconds(3600), now: C.at(0))
        try #require(jobs.count == 2)
        try queue.retry(jobID: jobs[0].id, after: C.at(30), error: String(repeating: "mail server down ", count: 200))
        #expect(try queue.claim(limit: 10, lease: .seconds(60), now: C.at(29)).isEmpty, "not due yet; the other is leased")
        let retried = try queue.claim(limit: 10, lease: .seconds(60), now: C.at(30))
        #expect(retried.map(\.id) == [jobs[0].id])
        #expect(retried.map(\.attempts) == [2])
        #expect(try queue.pendingJobCount() == 2)

        try queue.finish(jobID: jobs[1].id, outcome: .revoked, detail: nil, at: C.at(31))
        #expect(C.kind { try queue.retry(jobID: jobs[1].id, after: C.at(40), error: "late") } == .notFound)
        #expect(C.kind { try queue.retry(jobID: 999_999, after: C.at(40), error: "x") } == .notFound)
        #expect(try queue.pendingJobCount() == 1)
    }

    @Test(arguments: StorageBackend.available)
    func releaseLeasesFreesEveryLeasedJobAndUnsentMail(_ backend: StorageBackend) throws {
        let subject = try StorageUnderTest(backend)
        defer { withExtendedLifetime(subject) {} }
        let storage = subject.storage
        _ = try storage.queue.accept([C.disclosure(1), C.disclosure(2), C.disclosure(3, at: 500)])
        #expect(try storage.queue.claim(limit: 10, lease: .seconds(3600), now: C.at(0)).count == 2)
        try storage.outbox.enqueue(C.mail("m1"))
        try storage.outbox.enqueue(C.mail("m2"))
        let mail = try storage.outbox.claimMail(limit: 10, lease: .seconds(3600), now: C.at(0))
        try #require(mail.count == 2)
        try storage.outbox.markSent(id: mail[1].id, at: C.at(1))
        #expect(try storage.queue.claim(limit: 10, lease: .seconds(60), now: C.at(1)).isEmpty)

        try storage.queue.releaseLeases()
        let jobs = try storage.queue.claim(limit: 10, lease: .seconds(60), now: C.at(1))
        #expect(jobs.map(\.attempts) == [2, 2], "both leased jobs are free again; the third is not due")
        #expect(try storage.outbox.claimMail(limit: 10, lease: .seconds(60), now: C.at(1)).map(\.id) == [mail[0].id],
                "unsent mail is free again; sent mail stays sent")
    }

    @Test(arguments: StorageBackend.available)
    func disclosuresForAUserFollowTheirTokensNewestFirst(_ backend: StorageBackend) throws {
        let subject = try StorageUnderTest(backend)
        defer { withExtendedLifetime(subject) {} }
        let storage = subject.storage
        try storage.tokens.issue(C.token("a"))
        try storage.tokens.issue(C.token("a2", created: 1))
        try storage.tokens.issue(C.token("b", user: "bob"))
        let stored = try storage.queue.accept([
            C.disclosure(1, identity: "identity-a", at: 1), C.disclosure(2, identity: "identity-b", at: 2),
            C.disclosure(3, identity: "identity-a2", at: 3), C.disclosure(4, identity: nil, at: 4),
            C.disclosure(5, identity: "identity-unknown", at: 5), C.disclosure(6, identity: "identity-a", outcome: .duplicate, at: 3),
            // Finished as about no token of ours (the token was issued later): not the user's.
            C.disclosure(7, identity: "identity-a", outcome: .notFound, at: 6),
            C.disclosure(8, identity: "identity-a2", outcome: .error, at: 7),
        ])
        #expect(try storage.queue.disclosures(user: "alice").map(\.id) == [7, 5, 2, 0].map { stored[$0].id })
        #expect(try storage.queue.disclosures(user: "bob") == [stored[1]])
        #expect(try storage.queue.disclosures(user: "carol").isEmpty)
        #expect(try storage.queue.disclosures(user: nil).map(\.id) == [7, 6, 4, 3, 5, 2, 1, 0].map { stored[$0].id })
        // A pending one that finishes revoked is still listed, now through the index.
        let job = try #require(storage.queue.claim(limit: 10, lease: .seconds(60), now: C.at(100)).first { $0.id == stored[0].id })
        try storage.queue.finish(jobID: job.id, outcome: .revoked, detail: nil, at: C.at(100))
        #expect(try storage.queue.disclosures(user: "alice").map(\.id) == [7, 5, 2, 0].map { stored[$0].id })
    }

    @Test(arguments: StorageBackend.available)
    func pendingJobCountCountsDueAndLeasedJobsUntilFinished(_ backend: StorageBackend) throws {
        let subject = try StorageUnderTest(backend)
        defer { withExtendedLifetime(subject) {} }
        let queue = subject.storage.queue
        #expect(try queue.pendingJobCount() == 0)
        _ = try queue.accept([C.disclosure(1), C.disclosure(2), C.disclosure(3, at: 1000), C.disclosure(4, outcome: .notFound)])
        #expect(try queue.pendingJobCount() == 3, "due, not yet due; finished records are not jobs")
        let jobs = try queue.claim(limit: 1, lease: .seconds(60), now: C.at(0))
        #expect(try queue.pendingJobCount() == 3)
        try queue.finish(jobID: try #require(jobs.first).id, outcome: .notFound, detail: nil, at: C.at(1))
        #expect(try queue.pendingJobCount() == 2)
    }

    /// Workers on two instances claim at once: every job is handed out exactly once while leased.
    @Test(arguments: StorageBackend.available)
    func concurrentClaimsOnTwoInstancesNeverShareAJob(_ backend: StorageBackend) throws {
        let subject = try StorageUnderTest(backend)
        defer { withExtendedLifetime(subject) {} }
        let instances = [subject.storage.queue, try subject.secondInstance().queue]
        let stored = try instances[0].accept((1...60).map { C.disclosure($0) })
        let claimed = C.onThreads(6) { i -> [Int64] in
            var mine: [Int64] = []
            while let jobs = try? instances[i % 2].claim(limit: 4, lease: .seconds(3600), now: C.at(10)), !jobs.isEmpty {
                mine += jobs.compactMap(\.disclosure.id)
            }
            return mine
        }
        let all = claimed.flatMap { $0 }
        #expect(all.count == 60)
        #expect(Set(all) == Set(stored.compactMap(\.id)))
    }

    // MARK: Outbox

    @Test(arguments: StorageBackend.available)
    func outboxIsIdempotentPerMessageLeasesAndKeepsFailedMail(_ backend: StorageBackend) throws {
        let subject = try StorageUnderTest(backend)
        defer { withExtendedLifetime(subject) {} }
        let outbox = subject.storage.outbox
        let second = try subject.secondInstance().outbox
        let failures = C.onThreads(8) { i in
            (try? (i.isMultiple(of: 2) ? outbox : second).enqueue(C.mail("m1", user: i == 0 ? "alice" : "someone-\(i)"))) == nil
        }
        #expect(!failures.contains(true))
        try outbox.enqueue(C.mail("m2", user: "bob", at: 50))
        #expect(try outbox.pendingMailCount() == 2)

        let claimed = try outbox.claimMail(limit: 10, lease: .seconds(60), now: C.at(10))
        #expect(claimed.count == 1)
        let m1Message = try #require(claimed.first?.message)
        // Whichever of the eight stored first is kept, whole.
        #expect(m1Message == C.mail("m1", user: m1Message.user))
        #expect(claimed.first?.attempts == 1)
        #expect(try second.claimMail(limit: 10, lease: .seconds(60), now: C.at(20)).isEmpty, "leased, and m2 not due")
        let m1 = try #require(claimed.first?.id)

        try outbox.markFailed(id: m1, retryAt: C.at(100), error: "connection refused")
        let m2Claim = try outbox.claimMail(limit: 10, lease: .seconds(60), now: C.at(60))
        #expect(m2Claim.map(\.message) == [C.mail("m2", user: "bob", at: 50)])
        let m2 = try #require(m2Claim.first?.id)
        let retried = try second.claimMail(limit: 10, lease: .seconds(60), now: C.at(130))
        #expect(Set(retried.map(\.id)) == [m1, m2], "the order of a claim is the backend's")
        #expect(retried.map(\.attempts) == [2, 2])

        try outbox.markSent(id: m1, at: C.at(131))
        try second.markSent(id: m1, at: C.at(132))  // idempotent
        try outbox.markFailed(id: m1, retryAt: C.at(200), error: "late failure")  // a sent mail stays sent
        #expect(try outbox.pendingMailCount() == 1)
        #expect(try outbox.claimMail(limit: 10, lease: .seconds(60), now: C.at(1000)).map(\.id) == [m2])
        #expect(try outbox.claimMail(limit: 0, lease: .seconds(60), now: C.at(5000)).isEmpty)

        #expect(C.kind { try outbox.markSent(id: 999_999, at: C.at(0)) } == .notFound)
        #expect(C.kind { try outbox.markFailed(id: 999_999, retryAt: C.at(0), error: "x") } == .notFound)
    }

    @Test(arguments: StorageBackend.available)
    func concurrentMailClaimsOnTwoInstancesNeverShareAMessage(_ backend: StorageBackend) throws {
        let subject = try StorageUnderTest(backend)
        defer { withExtendedLifetime(subject) {} }
        let instances = [subject.storage.outbox, try subject.secondInstance().outbox]
        for n in 0..<30 { try instances[n % 2].enqueue(C.mail("mail-\(n)", user: "user\(n)")) }
        let claimed = C.onThreads(6) { i -> [String] in
            var mine: [String] = []
            while let entries = try? instances[i % 2].claimMail(limit: 3, lease: .seconds(3600), now: C.at(10)), !entries.isEmpty {
                mine += entries.map(\.message.messageID)
            }
            return mine
        }
        let all = claimed.flatMap { $0 }
        #expect(all.count == 30)
        #expect(Set(all).count == 30)
        #expect(try instances[1].pendingMailCount() == 30, "claimed is not sent")
    }
}
