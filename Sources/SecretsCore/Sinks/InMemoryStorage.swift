import Foundation
import Synchronization

/// Tokens, events, the disclosure queue and the outbox, all in memory behind one `Mutex`.
///
/// Honours every implementation requirement of `TokenStore`, `EventStore`, `DisclosureQueue` and
/// `Outbox` within one process (nothing survives the process, so "durable" means "stored"). The tests
/// use it, and so can anyone who wants tokenscan without a database.
public final class InMemoryStorage: TokenStore, EventStore, DisclosureQueue, Outbox, PipelineBatchStore {
    private struct Job {
        var disclosureID: Int64
        var dueAt: Date
        var leasedUntil: Date?
        var attempts: Int
        var lastError: String?
    }

    private struct Mail {
        var message: MailMessage
        var dueAt: Date
        var leasedUntil: Date?
        var attempts: Int
        var sentAt: Date?
        var lastError: String?
    }

    private struct StoredToken {
        var token: IssuedToken
        var sequence: Int
    }

    private struct State {
        var userEmails: [String: [String]] = [:]
        var tokens: [String: StoredToken] = [:]
        var tokenSequence = 0
        var secrets: [String: [UInt8]] = [:]
        var events: [SecurityEvent] = []
        var eventKeys: Set<String> = []
        var disclosures: [Int64: DisclosureRecord] = [:]
        var nextDisclosureID: Int64 = 1
        var jobs: [Int64: Job] = [:]
        var nextJobID: Int64 = 1
        var mail: [Int64: Mail] = [:]
        var mailIDs: [String: Int64] = [:]
        var nextMailID: Int64 = 1

        /// The token with the user's current addresses (the store keeps emails per user).
        func resolved(_ stored: StoredToken) -> IssuedToken {
            var token = stored.token
            token.emails = userEmails[token.user] ?? token.emails
            return token
        }

        mutating func revoke(identity: String, byDisclosure disclosureID: Int64, at time: Date) -> RevocationResult {
            guard var stored = tokens[identity] else { return .notFound }
            if stored.token.revokedAt == nil {
                stored.token.revokedAt = time
                stored.token.revokedByDisclosure = disclosureID
                tokens[identity] = stored
                return .revoked(resolved(stored))
            }
            if stored.token.revokedByDisclosure == disclosureID { return .revoked(resolved(stored)) }
            return .alreadyRevoked(resolved(stored))
        }

        mutating func record(_ event: SecurityEvent) {
            if let key = event.idempotencyKey {
                guard eventKeys.insert(key).inserted else { return }
            }
            events.append(event)
        }

        mutating func finish(jobID: Int64, outcome: DisclosureOutcome, detail: String?) throws(StoreError) {
            guard let job = jobs.removeValue(forKey: jobID) else { throw StoreError(.notFound, "no job \(jobID)") }
            disclosures[job.disclosureID]?.outcome = outcome
            disclosures[job.disclosureID]?.detail = detail
        }

        mutating func enqueue(_ message: MailMessage) {
            guard mailIDs[message.messageID] == nil else { return }
            let id = nextMailID
            nextMailID += 1
            mailIDs[message.messageID] = id
            mail[id] = Mail(message: message, dueAt: message.date, leasedUntil: nil, attempts: 0)
        }

        mutating func markSent(id: Int64, at time: Date) throws(StoreError) {
            guard mail[id] != nil else { throw StoreError(.notFound, "no outbox entry \(id)") }
            mail[id]?.sentAt = time
            mail[id]?.leasedUntil = nil
        }
    }

    private let state = Mutex(State())

    public init() {}

    // MARK: TokenStore

    public func token(identity: String) throws -> IssuedToken? {
        state.withLock { s in s.tokens[identity].map { s.resolved($0) } }
    }

    public func revoke(identity: String, byDisclosure disclosureID: Int64, at time: Date) throws -> RevocationResult {
        state.withLock { $0.revoke(identity: identity, byDisclosure: disclosureID, at: time) }
    }

    /// Throws `StoreError(.conflict)` when a token with the same identity exists.
    public func issue(_ token: IssuedToken) throws {
        try state.withLock { s throws(StoreError) in
            guard s.tokens[token.identity] == nil else { throw StoreError(.conflict, "a token with this identity exists") }
            var emails = s.userEmails[token.user] ?? []
            for email in token.emails where !emails.contains(email) { emails.append(email) }
            s.userEmails[token.user] = emails
            s.tokenSequence += 1
            s.tokens[token.identity] = StoredToken(token: token, sequence: s.tokenSequence)
        }
    }

    public func tokens(user: String?) throws -> [IssuedToken] {
        state.withLock { s in
            s.tokens.values
                .filter { user == nil || $0.token.user == user }
                .sorted { a, b in
                    a.token.createdAt != b.token.createdAt ? a.token.createdAt > b.token.createdAt : a.sequence > b.sequence
                }
                .map { s.resolved($0) }
        }
    }

    public func installationSecret(named name: String, length: Int) throws -> [UInt8] {
        state.withLock { s in
            if let existing = s.secrets[name] { return existing }
            let created = SecureRandom.bytes(length)
            s.secrets[name] = created
            return created
        }
    }

    /// Revokes a token as its owner would (not through a disclosure). False when unknown or already revoked.
    @discardableResult
    public func revokeByOwner(identity: String, at time: Date) -> Bool {
        state.withLock { s in
            guard var stored = s.tokens[identity], stored.token.revokedAt == nil else { return false }
            stored.token.revokedAt = time
            s.tokens[identity] = stored
            return true
        }
    }

    // MARK: EventStore

    public func record(_ event: SecurityEvent) throws {
        state.withLock { $0.record(event) }
    }

    public func events(user: String?) throws -> [SecurityEvent] {
        // Oldest first, as the protocol says; events recorded at the same time keep their recording order.
        state.withLock { s in
            s.events.enumerated()
                .filter { user == nil || $0.element.user == user }
                .sorted { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }
                .map(\.element)
        }
    }

    // MARK: DisclosureQueue

    public func accept(_ records: [DisclosureRecord]) throws -> [DisclosureRecord] {
        state.withLock { s in
            records.map { record in
                var stored = record
                stored.id = s.nextDisclosureID
                s.nextDisclosureID += 1
                s.disclosures[s.nextDisclosureID - 1] = stored
                if stored.outcome == nil, let id = stored.id {
                    s.jobs[s.nextJobID] = Job(disclosureID: id, dueAt: stored.receivedAt, leasedUntil: nil, attempts: 0)
                    s.nextJobID += 1
                }
                return stored
            }
        }
    }

    public func claim(limit: Int, lease: Duration, now: Date) throws -> [DisclosureJob] {
        state.withLock { s in
            let due = s.jobs
                .filter { $0.value.dueAt <= now && ($0.value.leasedUntil.map { $0 <= now } ?? true) }
                .sorted { a, b in a.value.dueAt != b.value.dueAt ? a.value.dueAt < b.value.dueAt : a.key < b.key }
                .prefix(max(0, limit))
            var out: [DisclosureJob] = []
            for (id, var job) in due {
                guard let record = s.disclosures[job.disclosureID] else { continue }
                job.attempts += 1
                job.leasedUntil = now.addingTimeInterval(lease.asTimeInterval)
                s.jobs[id] = job
                out.append(DisclosureJob(id: id, disclosure: record, attempts: job.attempts))
            }
            return out
        }
    }

    /// Throws `StoreError(.notFound)` when the job is gone (another worker finished it).
    public func finish(jobID: Int64, outcome: DisclosureOutcome, detail: String?, at time: Date) throws {
        try state.withLock { s throws(StoreError) in try s.finish(jobID: jobID, outcome: outcome, detail: detail) }
    }

    public func retry(jobID: Int64, after: Date, error: String) throws {
        try state.withLock { s throws(StoreError) in
            guard var job = s.jobs[jobID] else { throw StoreError(.notFound, "no job \(jobID)") }
            job.dueAt = after
            job.leasedUntil = nil
            job.lastError = error
            s.jobs[jobID] = job
        }
    }

    public func releaseLeases() throws {
        state.withLock { s in
            for id in s.jobs.keys { s.jobs[id]?.leasedUntil = nil }
            for id in s.mail.keys where s.mail[id]?.sentAt == nil { s.mail[id]?.leasedUntil = nil }
        }
    }

    public func disclosures(user: String?) throws -> [DisclosureRecord] {
        state.withLock { s in
            let identities: Set<String>? = user.map { name in
                Set(s.tokens.values.filter { $0.token.user == name }.map(\.token.identity))
            }
            return s.disclosures.values
                .filter { record in
                    guard let identities else { return true }
                    guard record.outcome.map(DisclosureOutcome.listedForUser.contains) ?? true else { return false }
                    return record.identity.map(identities.contains) ?? false
                }
                .sorted { a, b in
                    a.receivedAt != b.receivedAt ? a.receivedAt > b.receivedAt : (a.id ?? 0) > (b.id ?? 0)
                }
        }
    }

    public func pendingJobCount() throws -> Int {
        state.withLock { $0.jobs.count }
    }

    /// The last error a job was put back with (tests read it); nil when none or the job is finished.
    public func lastError(jobID: Int64) -> String? {
        state.withLock { $0.jobs[jobID]?.lastError }
    }

    // MARK: Outbox

    public func enqueue(_ message: MailMessage) throws {
        state.withLock { $0.enqueue(message) }
    }

    public func claimMail(limit: Int, lease: Duration, now: Date) throws -> [OutboxEntry] {
        state.withLock { s in
            let due = s.mail
                .filter { $0.value.sentAt == nil && $0.value.dueAt <= now && ($0.value.leasedUntil.map { $0 <= now } ?? true) }
                .sorted { a, b in a.value.dueAt != b.value.dueAt ? a.value.dueAt < b.value.dueAt : a.key < b.key }
                .prefix(max(0, limit))
            var out: [OutboxEntry] = []
            for (id, var entry) in due {
                entry.attempts += 1
                entry.leasedUntil = now.addingTimeInterval(lease.asTimeInterval)
                s.mail[id] = entry
                out.append(OutboxEntry(id: id, message: entry.message, attempts: entry.attempts))
            }
            return out
        }
    }

    public func markSent(id: Int64, at time: Date) throws {
        try state.withLock { s throws(StoreError) in try s.markSent(id: id, at: time) }
    }

    public func markFailed(id: Int64, retryAt: Date, error: String) throws {
        try state.withLock { s throws(StoreError) in
            guard let entry = s.mail[id] else { throw StoreError(.notFound, "no outbox entry \(id)") }
            guard entry.sentAt == nil else { return }
            s.mail[id]?.dueAt = retryAt
            s.mail[id]?.leasedUntil = nil
            s.mail[id]?.lastError = error
        }
    }

    public func pendingMailCount() throws -> Int {
        state.withLock { s in s.mail.values.count { $0.sentAt == nil } }
    }

    /// Every message ever enqueued, oldest first, with whether it was sent (tests read it).
    public func outboxMessages() -> [(message: MailMessage, sent: Bool, attempts: Int)] {
        state.withLock { s in
            s.mail.sorted { $0.key < $1.key }.map { ($0.value.message, $0.value.sentAt != nil, $0.value.attempts) }
        }
    }
}

extension InMemoryStorage {
    // MARK: PipelineBatchStore (each item atomic: checked before anything of it is stored)

    public func revoke(_ requests: [RevocationRequest], at time: Date) throws -> [Result<RevocationResult, StoreError>] {
        state.withLock { s in
            requests.map { .success(s.revoke(identity: $0.identity, byDisclosure: $0.disclosureID, at: time)) }
        }
    }

    public func complete(_ completions: [JobCompletion]) throws -> [StoreError?] {
        state.withLock { s in
            completions.map { completion -> StoreError? in
                guard s.jobs[completion.jobID] != nil else { return StoreError(.notFound, "no job \(completion.jobID)") }
                for event in completion.events { s.record(event) }
                if let mail = completion.mail { s.enqueue(mail) }
                do throws(StoreError) {
                    try s.finish(jobID: completion.jobID, outcome: completion.outcome, detail: completion.detail)
                } catch {
                    return error
                }
                return nil
            }
        }
    }

    public func markSent(_ deliveries: [MailDelivery]) throws -> [StoreError?] {
        state.withLock { s in
            deliveries.map { delivery -> StoreError? in
                do throws(StoreError) {
                    try s.markSent(id: delivery.id, at: delivery.sentAt)
                } catch {
                    return error
                }
                if let event = delivery.event { s.record(event) }
                return nil
            }
        }
    }
}

extension Storage {
    /// Every part of `Storage` backed by one `InMemoryStorage`.
    public static func inMemory(_ memory: InMemoryStorage = InMemoryStorage()) -> Storage {
        Storage(tokens: memory, events: memory, queue: memory, outbox: memory)
    }
}
