import Foundation
import Testing
@testable import SecretsCore

@Suite("DisclosureAnalyzer on in-memory storage")
struct AnalyzerTests {
    @Test("a leaked token is revoked once, mailed once, with two events, and no raw token is kept")
    func leakedTokenLifecycle() throws {
        let f = try AnalyzerFixture()
        let token = try f.issue(description: "CI upload token")
        let accepted = try f.analyzer.accept(vendor: "github", disclosures: [f.disclosure(token.value)], at: f.t0)
        let item = try #require(accepted.first)
        #expect(accepted.count == 1)
        #expect(item.isQueued)
        #expect(item.tokenType == "pypi_api_token")
        #expect(item.record.id != nil)
        #expect(item.record.tokenHash == SHA256.hex(token.value))
        #expect(item.record.identity == token.identity)

        #expect(try f.drainJobs() == [.revoked])
        let revoked = try #require(try f.memory.token(identity: token.identity))
        #expect(revoked.revokedAt == f.t0)
        #expect(revoked.revokedByDisclosure == item.record.id)
        #expect(try f.drainJobs().isEmpty)

        #expect(try f.drainMail() == [true])
        let mail = try #require(f.sink.delivered.first)
        #expect(f.sink.delivered.count == 1)
        #expect(mail.to == ["alice@example.org"])
        #expect(mail.from == "security@tokenscan.example")
        #expect(mail.user == "alice")
        #expect(mail.subject == "Your API token was found in public and has been revoked")
        for part in ["CI upload token", token.identity, "github", "https://github.com/alice/repo/blob/main/.pypirc",
                     "Create a new token", "recent activity", "https://tokenscan.example/help/leaks"] {
            #expect(mail.body.contains(part), "mail body lacks \(part)")
        }
        #expect(try f.storage.outbox.pendingMailCount() == 0)

        let events = try f.storage.events.events(user: "alice")
        #expect(events.map(\.tag) == [SecurityEventTag.tokenRemovedLeak, SecurityEventTag.emailSent])
        let removed = try #require(events.first)
        #expect(removed.data["vendor"] == "github")
        #expect(removed.data["public_url"] == "https://github.com/alice/repo/blob/main/.pypirc")
        #expect(removed.data["token_id"] == token.identity)
        #expect(removed.data["description"] == "CI upload token")
        #expect(removed.data["token_hash"] == SHA256.hex(token.value))
        #expect(removed.idempotencyKey == "leak:\(item.record.id ?? -1)")
        let sent = try #require(events.last)
        #expect(sent.data["to"] == "alice@example.org")
        #expect(sent.data["subject"] == mail.subject)
        #expect(sent.data["message_id"] == mail.messageID)

        #expect(try f.storage.queue.disclosures(user: "alice").map(\.outcome) == [.revoked])
        #expect(f.metrics.counter("disclosures_received_total", ["vendor": "github"]) == 1)
        #expect(f.metrics.counter("disclosures_outcome_total", ["vendor": "github", "outcome": "revoked"]) == 1)
        #expect(f.metrics.counter("tokens_revoked_total", ["vendor": "github"]) == 1)
        #expect(f.metrics.total("mails_sent_total") == 1)
        #expect(f.metrics.total("mails_failed_total") == 0)
        try f.expectNoRawToken()
    }

    @Test("a later report of a revoked token is a duplicate: no second mail, no second event")
    func laterReportIsDuplicate() throws {
        let f = try AnalyzerFixture()
        let token = try f.issue()
        _ = try f.analyzer.accept(vendor: "github", disclosures: [f.disclosure(token.value)], at: f.t0)
        #expect(try f.drainJobs() == [.revoked])
        _ = try f.analyzer.accept(vendor: "depsdev", disclosures: [f.disclosure(token.value)], at: f.t0.addingTimeInterval(60))
        #expect(try f.drainJobs(now: f.t0.addingTimeInterval(60)) == [.duplicate])
        try f.drainMail(now: f.t0.addingTimeInterval(60))
        #expect(f.sink.delivered.count == 1)
        #expect(try f.storage.events.events(user: nil).count == 2)
        #expect(try f.storage.queue.disclosures(user: "alice").map(\.outcome) == [.duplicate, .revoked])
        #expect(f.metrics.counter("disclosures_outcome_total", ["vendor": "depsdev", "outcome": "duplicate"]) == 1)
        try f.expectNoRawToken()
    }

    @Test("five reports of one token processed at once on many threads: revoked once, mailed once, four duplicates")
    func concurrentReportsOfOneToken() throws {
        let f = try AnalyzerFixture()
        let token = try f.issue()
        let accepted = try f.analyzer.accept(vendor: "github", disclosures: (0..<5).map { _ in f.disclosure(token.value) }, at: f.t0)
        #expect(accepted.count == 5)
        let jobs = try f.storage.queue.claim(limit: 10, lease: .seconds(60), now: f.t0)
        #expect(jobs.count == 5)
        let outcomes = ConcurrentResults<DisclosureOutcome>()
        DispatchQueue.concurrentPerform(iterations: jobs.count) { i in
            if let outcome = f.analyzer.process(jobs[i], now: f.t0) { outcomes.append(outcome) }
        }
        #expect(outcomes.values.filter { $0 == .revoked }.count == 1)
        #expect(outcomes.values.filter { $0 == .duplicate }.count == 4)
        try f.drainMail()
        #expect(f.sink.delivered.count == 1)
        #expect(try f.storage.events.events(user: nil).map(\.tag) == [SecurityEventTag.tokenRemovedLeak, SecurityEventTag.emailSent])
        #expect(f.metrics.counter("tokens_revoked_total", ["vendor": "github"]) == 1)
        #expect(f.metrics.counter("disclosures_outcome_total", ["vendor": "github", "outcome": "duplicate"]) == 4)
    }

    @Test("a well-formed token we never issued ends not_found, with no event and no mail")
    func unknownTokenIsNotFound() throws {
        let f = try AnalyzerFixture()
        _ = try f.issue()
        let stranger = f.minter.mint()
        let accepted = try f.analyzer.accept(vendor: "github", disclosures: [f.disclosure(stranger.value)], at: f.t0)
        #expect(accepted.first?.isQueued == true)
        #expect(try f.drainJobs() == [.notFound])
        try f.drainMail()
        #expect(f.sink.delivered.isEmpty)
        #expect(try f.storage.events.events(user: nil).isEmpty)
        #expect(f.metrics.counter("disclosures_outcome_total", ["vendor": "github", "outcome": "not_found"]) == 1)
        try f.expectNoRawToken()
    }

    @Test("every invalid macaroon vector ends invalid_format at intake, all in one accept transaction")
    func invalidMacaroonsAreInvalidFormat() throws {
        let memory = InMemoryStorage()
        let queue = RecordingQueue(memory)
        let f = try AnalyzerFixture(memory: memory, storage: Storage(tokens: memory, events: memory, queue: queue, outbox: memory))
        let vectors = MacaroonVectorFile.invalidCases
        #expect(vectors.count >= 8)
        let accepted = try f.analyzer.accept(vendor: "github", disclosures: vectors.map { f.disclosure($0.token) }, at: f.t0)
        #expect(queue.acceptCalls == [vectors.count])
        #expect(accepted.count == vectors.count)
        for (item, vector) in zip(accepted, vectors) {
            #expect(item.record.outcome == .invalidFormat, "\(vector.name)")
            #expect(item.record.detail?.isEmpty == false, "\(vector.name)")
            #expect(item.record.identity == nil)
            #expect(item.record.tokenHash == SHA256.hex(vector.token))
        }
        #expect(try f.storage.queue.pendingJobCount() == 0)
        #expect(f.metrics.counter("disclosures_outcome_total", ["vendor": "github", "outcome": "invalid_format"]) == vectors.count)
        #expect(f.metrics.counter("disclosures_received_total", ["vendor": "github"]) == vectors.count)
        try f.expectNoRawToken()
    }

    @Test("items with a problem, without a token, or of no known type are decided at intake")
    func intakeOutcomes() throws {
        let f = try AnalyzerFixture()
        let token = try f.issue()
        let items = [
            Disclosure(token: nil, type: "pypi_api_token", url: "", problem: "token is not a string"),
            Disclosure(token: nil, type: "pypi_api_token", url: ""),
            f.disclosure("zzz_0123456789abcdef", type: "other_token"),
            f.disclosure(token.value, type: ""),
            f.disclosure("acme_abcdefghijABCDEFGHIJ0123456789XXXXXX", type: "ACME_KEY"),
        ]
        let accepted = try f.analyzer.accept(vendor: "gitlab", disclosures: items, at: f.t0)
        #expect(accepted.map(\.record.outcome) == [.invalidFormat, .invalidFormat, .unknownType, nil, .invalidFormat])
        #expect(accepted[0].record.detail == "token is not a string")
        #expect(accepted[0].record.tokenHash == "")
        #expect(accepted[1].record.detail == "no token")
        #expect(accepted[2].record.tokenType == "other_token")
        #expect(accepted[2].tokenType == nil)
        #expect(accepted[3].tokenType == "pypi_api_token")
        #expect(accepted[4].record.tokenType == "acme_key")
        #expect(accepted[4].record.detail == "checksum does not match")
        #expect(accepted.map(\.record.id) == [1, 2, 3, 4, 5])
        #expect(f.metrics.counter("disclosures_outcome_total", ["vendor": "gitlab", "outcome": "invalid_format"]) == 3)
        #expect(f.metrics.counter("disclosures_outcome_total", ["vendor": "gitlab", "outcome": "unknown_type"]) == 1)
        #expect(try f.drainJobs() == [.revoked])
        try f.expectNoRawToken()
    }

    @Test("a failing mail sink keeps the mail in the outbox with backoff, and it is delivered once the sink works")
    func mailRetriedUntilDelivered() throws {
        let f = try AnalyzerFixture()
        let token = try f.issue()
        _ = try f.analyzer.accept(vendor: "github", disclosures: [f.disclosure(token.value)], at: f.t0)
        #expect(try f.drainJobs() == [.revoked])
        f.sink.setFailing(true)
        #expect(try f.drainMail() == [false])
        #expect(try f.storage.outbox.pendingMailCount() == 1)
        #expect(try f.drainMail(now: f.t0.addingTimeInterval(0.9)).isEmpty)
        #expect(try f.drainMail(now: f.t0.addingTimeInterval(1)) == [false])
        // Second failure: due 2 s later.
        #expect(try f.drainMail(now: f.t0.addingTimeInterval(2.9)).isEmpty)
        f.sink.setFailing(false)
        #expect(try f.drainMail(now: f.t0.addingTimeInterval(3)) == [true])
        #expect(try f.drainMail(now: f.t0.addingTimeInterval(10_000)).isEmpty)
        #expect(f.sink.delivered.count == 1)
        #expect(f.sink.sendAttempts == 3)
        #expect(try f.storage.outbox.pendingMailCount() == 0)
        #expect(f.metrics.total("mails_failed_total") == 2)
        #expect(f.metrics.total("mails_sent_total") == 1)
        #expect(try f.storage.events.events(user: nil).filter { $0.tag == SecurityEventTag.emailSent }.count == 1)
        try f.expectNoRawToken()
    }

    @Test("transient store errors put the job back with doubling backoff, then it succeeds")
    func transientErrorsRetry() throws {
        let memory = InMemoryStorage()
        let flaky = FlakyTokenStore(memory, failures: 2)
        let f = try AnalyzerFixture(memory: memory, storage: Storage(tokens: flaky, events: memory, queue: memory, outbox: memory))
        let token = try f.issue()
        _ = try f.analyzer.accept(vendor: "github", disclosures: [f.disclosure(token.value)], at: f.t0)
        let first = try #require(try f.storage.queue.claim(limit: 1, lease: .seconds(60), now: f.t0).first)
        #expect(f.analyzer.process(first, now: f.t0) == nil)
        #expect(memory.lastError(jobID: first.id) == "database is locked")
        #expect(try f.drainJobs(now: f.t0.addingTimeInterval(0.5)).isEmpty)
        #expect(try f.drainJobs(now: f.t0.addingTimeInterval(1)) == [nil])
        #expect(try f.drainJobs(now: f.t0.addingTimeInterval(2.5)).isEmpty)
        #expect(try f.drainJobs(now: f.t0.addingTimeInterval(3)) == [.revoked])
        #expect(f.metrics.counter("disclosures_retried_total", ["vendor": "github"]) == 2)
        #expect(try f.storage.queue.pendingJobCount() == 0)
    }

    @Test("after its last attempt a failing job ends as error; a permanent error ends it at once")
    func givingUp() throws {
        let memory = InMemoryStorage()
        let flaky = FlakyTokenStore(memory, failures: 1000)
        let f = try AnalyzerFixture(memory: memory, storage: Storage(tokens: flaky, events: memory, queue: memory, outbox: memory),
                                    retry: RetryPolicy(maxAttempts: 3))
        let token = try f.issue()
        _ = try f.analyzer.accept(vendor: "github", disclosures: [f.disclosure(token.value)], at: f.t0)
        var outcomes: [DisclosureOutcome?] = []
        for step in 0..<5 { outcomes += try f.drainJobs(now: f.t0.addingTimeInterval(Double(step) * 1000)) }
        #expect(outcomes == [nil, nil, .error])
        let record = try #require(try f.storage.queue.disclosures(user: nil).first)
        #expect(record.outcome == .error)
        #expect(record.detail?.contains("after 3 attempt(s)") == true)

        let permanent = InMemoryStorage()
        let broken = FlakyTokenStore(permanent, failures: 1000, error: StoreError(.permanent, "corrupt row"))
        let g = try AnalyzerFixture(memory: permanent, storage: Storage(tokens: broken, events: permanent, queue: permanent, outbox: permanent))
        let other = try g.issue()
        _ = try g.analyzer.accept(vendor: "github", disclosures: [g.disclosure(other.value)], at: g.t0)
        #expect(try g.drainJobs() == [.error])
        #expect(g.metrics.counter("disclosures_outcome_total", ["vendor": "github", "outcome": "error"]) == 1)
    }

    @Test("a job that dies after revoking is taken again and carries on: one event, one mail")
    func crashAfterRevokeIsIdempotent() throws {
        let memory = InMemoryStorage()
        let queue = RecordingQueue(memory)
        let f = try AnalyzerFixture(memory: memory, storage: Storage(tokens: memory, events: memory, queue: queue, outbox: memory))
        let token = try f.issue()
        _ = try f.analyzer.accept(vendor: "github", disclosures: [f.disclosure(token.value)], at: f.t0)
        queue.failNextFinish()
        #expect(try f.drainJobs() == [nil])
        #expect(try f.memory.token(identity: token.identity)?.revokedAt != nil)
        #expect(try f.storage.queue.pendingJobCount() == 1)
        // The lease lapses; another worker takes the job again.
        #expect(try f.drainJobs(now: f.t0.addingTimeInterval(61)) == [.revoked])
        #expect(try f.storage.events.events(user: nil).count == 1)
        #expect(f.memory.outboxMessages().count == 1)
        try f.drainMail(now: f.t0.addingTimeInterval(61))
        #expect(f.sink.delivered.count == 1)
        #expect(f.metrics.counter("tokens_revoked_total", ["vendor": "github"]) == 1)
    }

    @Test("labels: issued (live or revoked) is a true positive; unknown, malformed and untyped are false positives")
    func feedbackLabels() throws {
        let f = try AnalyzerFixture()
        let live = try f.issue()
        let revoked = try f.issue(user: "bob", email: "bob@example.org")
        f.memory.revokeByOwner(identity: revoked.identity, at: f.t0)
        let stranger = f.minter.mint()
        let items = [
            f.disclosure(live.value), f.disclosure(revoked.value), f.disclosure(stranger.value),
            f.disclosure("pypi-garbage"), f.disclosure("zzz_0123456789", type: "other_token"),
            Disclosure(token: nil, type: "pypi_api_token", url: "", problem: "no token field"),
        ]
        let accepted = try f.analyzer.accept(vendor: "github", disclosures: items, at: f.t0)
        let labels = f.analyzer.labels(for: accepted, deadline: .now + .seconds(10))
        #expect(labels.map(\.label) == [.truePositive, .truePositive, .falsePositive, .falsePositive, .falsePositive])
        #expect(labels.map(\.tokenHash) == [live.value, revoked.value, stranger.value, "pypi-garbage", "zzz_0123456789"].map(SHA256.hex))
        #expect(labels.map(\.tokenType) == ["pypi_api_token", "pypi_api_token", "pypi_api_token", "pypi_api_token", "other_token"])

        // Past the deadline only what intake already decided is labelled.
        let late = f.analyzer.labels(for: accepted, deadline: .now - .seconds(1))
        #expect(late.map(\.tokenHash) == ["pypi-garbage", "zzz_0123456789"].map(SHA256.hex))

        // Revocation does not change a true positive.
        try f.drainJobs()
        #expect(f.analyzer.labels(for: accepted, deadline: .now + .seconds(10)).map(\.label) == labels.map(\.label))

        let json = try JSONSerialization.jsonObject(with: Data(f.analyzer.encodeLabels(labels))) as? [[String: String]]
        let objects = try #require(json)
        #expect(objects.count == 5)
        #expect(objects.first == ["token_hash": SHA256.hex(live.value), "token_type": "pypi_api_token", "label": "true_positive"])
        #expect(objects.last?["label"] == "false_positive")
        #expect(f.analyzer.encodeLabels([]) == Array("[]".utf8))
        try f.expectNoRawToken()
    }

    @Test("Message-IDs are deterministic per disclosure and installation")
    func messageIDs() throws {
        let f = try AnalyzerFixture()
        let id = try f.analyzer.messageID(disclosureID: 7)
        #expect(id == (try f.analyzer.messageID(disclosureID: 7)))
        #expect(id != (try f.analyzer.messageID(disclosureID: 8)))
        #expect(id.hasPrefix("leak-7."))
        #expect(id.hasSuffix("@tokenscan.example"))
        let sameInstall = DisclosureAnalyzer(storage: f.storage, tokenTypes: f.registry, mail: f.analyzer.mail)
        #expect(try sameInstall.messageID(disclosureID: 7) == id)
        let otherInstall = try AnalyzerFixture()
        #expect(try otherInstall.analyzer.messageID(disclosureID: 7) != id)
    }

    @Test("the mail: reported text cannot add lines; an owner without an address gets no mail but the event")
    func mailComposition() throws {
        let composer = LeakMailComposer(settings: MailSettings(from: "s@example.org"))
        let token = IssuedToken(id: "tid", type: "pypi_api_token", identity: "tid", user: "carol", emails: ["c@example.org"],
                                description: "deploy\nBcc: evil@example.org", createdAt: Date(timeIntervalSince1970: 0))
        let record = DisclosureRecord(id: 3, vendor: "github", tokenHash: "h", tokenType: "pypi_api_token", identity: "tid",
                                      url: "https://x.example/\r\nInjected: yes", source: nil, receivedAt: Date(timeIntervalSince1970: 10))
        let message = try #require(composer.compose(token: token, disclosure: record, messageID: "m@x", date: Date()))
        #expect(!message.body.split(separator: "\n").contains { $0.hasPrefix("Bcc:") || $0.hasPrefix("Injected:") })
        #expect(message.body.contains("deploy Bcc: evil@example.org"))
        #expect(!message.body.contains("More help"))
        #expect(!message.body.contains("\r"))

        let f = try AnalyzerFixture()
        let minted = f.minter.mint()
        f.remember(minted.value)
        try f.memory.issue(IssuedToken(id: minted.identity, type: "pypi_api_token", identity: minted.identity, user: "dave",
                                       emails: [], description: "no mail", createdAt: f.t0))
        _ = try f.analyzer.accept(vendor: "github", disclosures: [f.disclosure(minted.value)], at: f.t0)
        #expect(try f.drainJobs() == [.revoked])
        #expect(f.memory.outboxMessages().isEmpty)
        #expect(try f.storage.events.events(user: "dave").map(\.tag) == [SecurityEventTag.tokenRemovedLeak])
        try f.expectNoRawToken()
    }

    @Test("retry policy: doubling from the base, capped")
    func retryPolicy() {
        let policy = RetryPolicy()
        #expect(policy.maxAttempts == 8)
        #expect(policy.lease == .seconds(60))
        #expect(policy.delay(afterAttempt: 1) == .seconds(1))
        #expect(policy.delay(afterAttempt: 2) == .seconds(2))
        #expect(policy.delay(afterAttempt: 5) == .seconds(16))
        #expect(policy.delay(afterAttempt: 9) == .seconds(256))
        #expect(policy.delay(afterAttempt: 10) == .seconds(300))
        #expect(policy.delay(afterAttempt: 1000) == .seconds(300))
        #expect(policy.delay(afterAttempt: 0) == .seconds(1))
    }
}
