import Foundation
import SecretsCore
import Testing
@testable import Sinks

private typealias F = SQLiteFixture

@Suite("SQLite token store")
struct SQLiteTokenStoreTests {
    let folder: TemporaryDirectory
    let store: SQLiteStorage

    init() throws {
        folder = try TemporaryDirectory("sqlite")
        store = try SQLiteStorage.open(path: F.databasePath(in: folder))
    }

    @Test func issueCreatesTheUserAndAddsEmails() throws {
        try store.issue(F.token("a", emails: ["alice@example.org", "a2@example.org"], created: 1))
        try store.issue(F.token("b", emails: ["a3@example.org", "alice@example.org"], created: 2))
        try store.issue(F.token("c", user: "bob", created: 3))

        let a = try #require(try store.token(identity: "identity-a"))
        #expect(a.emails == ["alice@example.org", "a2@example.org", "a3@example.org"])
        #expect(a == IssuedToken(id: "a", type: "pypi_api_token", identity: "identity-a", user: "alice",
                                 emails: a.emails, description: "token a", createdAt: F.at(1)))
        #expect(try store.tokens(user: "alice").map(\.id) == ["b", "a"])
        #expect(try store.tokens(user: nil).map(\.id) == ["c", "b", "a"])
        #expect(try store.tokens(user: "nobody").isEmpty)
        #expect(try store.token(identity: "identity-zzz") == nil)
    }

    @Test func issuingATokenTwiceIsAConflictAndStoresNothing() throws {
        try store.issue(F.token("a"))
        var again = F.token("other-id")
        again.identity = "identity-a"
        again.user = "mallory"
        let error = #expect(throws: StoreError.self) { try store.issue(again) }
        #expect(error?.kind == .conflict)
        #expect(try store.tokens(user: "mallory").isEmpty)
        #expect(try store.tokens(user: nil).count == 1)
    }

    @Test func revokeAnswersRevokedThenAlreadyRevokedThenNotFound() throws {
        try store.issue(F.token("a"))
        guard case .revoked(let token) = try store.revoke(identity: "identity-a", byDisclosure: 7, at: F.at(10)) else {
            Issue.record("first revocation did not revoke")
            return
        }
        #expect(token.revokedAt == F.at(10))
        #expect(token.revokedByDisclosure == 7)
        #expect(token.emails == ["alice@example.org"])
        // The same disclosure again (a retried job) carries on; its revocation time stays the first.
        #expect(try store.revoke(identity: "identity-a", byDisclosure: 7, at: F.at(20)) == .revoked(token))
        #expect(try store.revoke(identity: "identity-a", byDisclosure: 8, at: F.at(20)) == .alreadyRevoked(token))
        #expect(try store.revoke(identity: "identity-zzz", byDisclosure: 9, at: F.at(20)) == .notFound)
    }

    @Test func aTokenItsOwnerRevokedIsAlreadyRevoked() throws {
        try store.issue(F.token("a", revokedAt: F.at(5)))
        guard case .alreadyRevoked(let token) = try store.revoke(identity: "identity-a", byDisclosure: 1, at: F.at(10)) else {
            Issue.record("an owner-revoked token was revoked again")
            return
        }
        #expect(token.revokedAt == F.at(5))
        #expect(token.revokedByDisclosure == nil)
    }

    @Test func eightThreadsRacingOnOneTokenRevokeItExactlyOnce() throws {
        for round in 0..<10 {
            let identity = "identity-race\(round)"
            try store.issue(F.token("race\(round)"))
            let store = self.store
            let results = F.onThreads(8) { i in
                Result { try store.revoke(identity: identity, byDisclosure: Int64(100 + i), at: F.at(round)) }
            }
            let answers = try results.map { try $0.get() }
            let winners = answers.compactMap { if case .revoked(let t) = $0 { t } else { nil } }
            try #require(winners.count == 1)
            #expect(answers.filter { if case .alreadyRevoked = $0 { true } else { false } }.count == 7)
            let stored = try #require(try store.token(identity: identity))
            #expect(stored.revokedByDisclosure == winners[0].revokedByDisclosure)
            #expect(try store.revoke(identity: identity, byDisclosure: stored.revokedByDisclosure ?? 0, at: F.at(99))
                == .revoked(stored))
        }
    }

    @Test func installationSecretIsCreatedOnceAndSurvivesReopening() throws {
        let path = F.databasePath(in: folder)
        let store = self.store
        let racing = F.onThreads(4) { _ in try? store.installationSecret(named: "root", length: 32) }
        #expect(racing.count == 4)
        #expect(Set(racing.compactMap { $0 }).count == 1)
        let first = try store.installationSecret(named: "root", length: 32)
        #expect(first.count == 32)
        #expect(racing.first == first)
        #expect(try store.installationSecret(named: "other", length: 16) != Array(first.prefix(16)))

        let reopened = try SQLiteStorage.open(path: path)
        #expect(try reopened.installationSecret(named: "root", length: 32) == first)
        let error = #expect(throws: StoreError.self) { try reopened.installationSecret(named: "bad", length: 0) }
        #expect(error?.isTransient == false)
    }
}

@Suite("SQLite events")
struct SQLiteEventStoreTests {
    @Test func eventsAreIdempotentPerKeyAndListedOldestFirst() throws {
        let folder = try TemporaryDirectory("sqlite")
        let store = try SQLiteStorage.open(path: F.databasePath(in: folder))
        let removed = SecurityEvent(tag: SecurityEventTag.tokenRemovedLeak, user: "alice", time: F.at(2),
                                    data: ["vendor": "github", "url": "https://example.org/x?a=\"b\"", "token_id": "é/ü"],
                                    idempotencyKey: "removed-1")
        try store.record(removed)
        var duplicate = removed
        duplicate.time = F.at(3)
        try store.record(duplicate)
        let earlier = SecurityEvent(tag: SecurityEventTag.emailSent, user: "alice", time: F.at(1), data: [:])
        try store.record(earlier)
        try store.record(earlier)  // no key: recorded each time
        try store.record(SecurityEvent(tag: "x", user: "bob", time: F.at(0), data: ["k": "v"]))

        #expect(try store.events(user: "alice") == [earlier, earlier, removed])
        #expect(try store.events(user: nil).map(\.user) == ["bob", "alice", "alice", "alice"])
        #expect(try store.events(user: "carol").isEmpty)
    }
}

@Suite("SQLite disclosure queue")
struct SQLiteDisclosureQueueTests {
    let folder: TemporaryDirectory
    let store: SQLiteStorage

    init() throws {
        folder = try TemporaryDirectory("sqlite")
        store = try SQLiteStorage.open(path: F.databasePath(in: folder))
    }

    @Test func acceptStoresRecordsAndJobsInOrder() throws {
        let records = [F.disclosure(1), F.disclosure(2, outcome: .invalidFormat), F.disclosure(3, at: 5)]
        let stored = try store.accept(records)
        #expect(stored.map(\.id) == [1, 2, 3])
        for (input, output) in zip(records, stored) {
            var expected = input
            expected.id = output.id
            #expect(output == expected)
        }
        #expect(try store.accept([]).isEmpty)
        #expect(try store.pendingJobCount() == 2)
        #expect(try store.disclosures(user: nil) == stored.reversed())
    }

    @Test func claimLeasesDueJobsAndALapsedLeaseFreesThem() throws {
        let stored = try store.accept([F.disclosure(1), F.disclosure(2), F.disclosure(3, at: 100)])

        let first = try store.claim(limit: 10, lease: .seconds(60), now: F.at(10))
        #expect(first == [DisclosureJob(id: 1, disclosure: stored[0], attempts: 1),
                          DisclosureJob(id: 2, disclosure: stored[1], attempts: 1)])
        #expect(try store.claim(limit: 10, lease: .seconds(60), now: F.at(69)).isEmpty)
        // At 70 s both leases lapsed; the third job is not due before 100 s. Limit and order hold.
        let again = try store.claim(limit: 1, lease: .seconds(60), now: F.at(70))
        #expect(again.map(\.id) == [1])
        #expect(again.first?.attempts == 2)
        #expect(try store.claim(limit: 10, lease: .seconds(60), now: F.at(100)).map(\.id) == [2, 3])
        #expect(try store.claim(limit: 0, lease: .seconds(60), now: F.at(1000)).isEmpty)
        #expect(try store.pendingJobCount() == 3)
    }

    @Test func finishRecordsTheOutcomeAndRemovesTheJob() throws {
        let stored = try store.accept([F.disclosure(1), F.disclosure(2)])
        _ = try store.claim(limit: 10, lease: .seconds(60), now: F.at(1))
        try store.finish(jobID: 1, outcome: .revoked, detail: nil, at: F.at(2))
        #expect(try store.pendingJobCount() == 1)
        #expect(try store.claim(limit: 10, lease: .seconds(60), now: F.at(1000)).map(\.id) == [2])
        var expected = stored[0]
        expected.outcome = .revoked
        #expect(try store.disclosures(user: nil).last == expected)

        // A second finish (a worker whose lease lapsed) is notFound and keeps the first outcome.
        let error = #expect(throws: StoreError.self) {
            try store.finish(jobID: 1, outcome: .error, detail: "late", at: F.at(3))
        }
        #expect(error?.kind == .notFound)
        #expect(try store.disclosures(user: nil).last == expected)
    }

    @Test func retryPutsTheJobBackForLaterAndReleaseLeasesFreesEveryJob() throws {
        _ = try store.accept([F.disclosure(1), F.disclosure(2)])
        _ = try store.claim(limit: 10, lease: .seconds(3600), now: F.at(0))
        try store.retry(jobID: 1, after: F.at(30), error: "mail server down")
        #expect(try store.claim(limit: 10, lease: .seconds(60), now: F.at(29)).isEmpty)
        #expect(try store.claim(limit: 10, lease: .seconds(60), now: F.at(30)).map(\.attempts) == [2])

        try store.releaseLeases()
        #expect(try store.claim(limit: 10, lease: .seconds(60), now: F.at(31)).map(\.id) == [1, 2])

        let error = #expect(throws: StoreError.self) { try store.retry(jobID: 99, after: F.at(0), error: "x") }
        #expect(error?.kind == .notFound)
    }

    @Test func disclosuresForAUserFollowTheirTokensNewestFirst() throws {
        try store.issue(F.token("a"))
        try store.issue(F.token("b", user: "bob"))
        let stored = try store.accept([F.disclosure(1, identity: "identity-a", at: 1), F.disclosure(2, identity: "identity-b", at: 2),
                                       F.disclosure(3, identity: "identity-a", at: 3), F.disclosure(4, identity: nil, at: 4)])
        #expect(try store.disclosures(user: "alice").map(\.id) == [stored[2].id, stored[0].id])
        #expect(try store.disclosures(user: "bob").map(\.id) == [stored[1].id])
        #expect(try store.disclosures(user: nil).count == 4)
    }
}

@Suite("SQLite outbox")
struct SQLiteOutboxTests {
    @Test func outboxIsIdempotentLeasesAndKeepsFailedMail() throws {
        let folder = try TemporaryDirectory("sqlite")
        let store = try SQLiteStorage.open(path: F.databasePath(in: folder))
        try store.enqueue(F.mail("m1"))
        try store.enqueue(F.mail("m1", user: "someone-else"))  // same id: ignored
        try store.enqueue(F.mail("m2", user: "bob", at: 50))
        #expect(try store.pendingMailCount() == 2)

        let claimed = try store.claimMail(limit: 10, lease: .seconds(60), now: F.at(10))
        #expect(claimed == [OutboxEntry(id: 1, message: F.mail("m1"), attempts: 1)])
        #expect(try store.claimMail(limit: 10, lease: .seconds(60), now: F.at(20)).isEmpty)

        try store.markFailed(id: 1, retryAt: F.at(100), error: "connection refused")
        let second = try store.claimMail(limit: 10, lease: .seconds(60), now: F.at(60))
        #expect(second.map(\.message) == [F.mail("m2", user: "bob", at: 50)])
        let m2 = try #require(second.first?.id)  // ids may skip: the ignored duplicate used one up
        let retried = try store.claimMail(limit: 10, lease: .seconds(60), now: F.at(130))
        #expect(retried.map(\.id) == [1, m2])
        #expect(retried.map(\.attempts) == [2, 2])

        try store.markSent(id: 1, at: F.at(131))
        try store.markSent(id: 1, at: F.at(132))  // idempotent
        try store.markFailed(id: 1, retryAt: F.at(200), error: "late failure")  // a sent mail stays sent
        #expect(try store.pendingMailCount() == 1)
        #expect(try store.claimMail(limit: 10, lease: .seconds(60), now: F.at(1000)).map(\.id) == [m2])

        let error = #expect(throws: StoreError.self) { try store.markSent(id: 99, at: F.at(0)) }
        #expect(error?.kind == .notFound)
    }
}
