import Foundation
import Synchronization

/// Tokens, events, the disclosure queue and the outbox, all in memory behind one `Mutex`.
///
/// Honours every implementation requirement of `TokenStore`, `EventStore`, `DisclosureQueue` and
/// `Outbox` within one process (nothing survives the process, so "durable" means "stored"). The tests
/// use it, and so can anyone who wants tokenscan without a database.
public final class InMemoryStorage: TokenStore, EventStore, DisclosureQueue, Outbox {
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
    }

    private let state = Mutex(State())

    public init() {}

    // MARK: TokenStore

    public func token(identity: String) throws -> IssuedToken? {
        state.withLock { s in s.tokens[identity].map { s.resolved($0) } }
    }

    public func revoke(identity: String, byDisclosure disclosureID: Int64, at time: Date) throws -> RevocationResult {
        state.withLock { s in
            guard var stored = s.tokens[identity] else { return .notFound }
            if stored.token.revokedAt == nil {
                stored.token.revokedAt = time
                stored.token.revokedByDisclosure = disclosureID
                s.tokens[identity] = stored
                return .revoked(s.resolved(stored))
            }
            if stored.token.revokedByDisclosure == disclosureID { return .revoked(s.resolved(stored)) }
            return .alreadyRevoked(s.resolved(stored))
        }
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
        state.withLock { s in
            if let key = event.idempotencyKey {
                guard s.eventKeys.insert(key).inserted else { return }
            }
            s.events.append(event)
        }
    }

    public func events(user: String?) throws -> [SecurityEvent] {
        state.withLock { s in s.events.filter { user == nil || $0.user == user } }
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
        try state.withLock { s throws(StoreError) in
            guard let job = s.jobs.removeValue(forKey: jobID) else { throw StoreError(.notFound, "no job \(jobID)") }
            s.disclosures[job.disclosureID]?.outcome = outcome
            s.disclosures[job.disclosureID]?.detail = detail
        }
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
        state.withLock { s in
            guard s.mailIDs[message.messageID] == nil else { return }
            let id = s.nextMailID
            s.nextMailID += 1
            s.mailIDs[message.messageID] = id
            s.mail[id] = Mail(message: message, dueAt: message.date, leasedUntil: nil, attempts: 0)
        }
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
        try state.withLock { s throws(StoreError) in
            guard s.mail[id] != nil else { throw StoreError(.notFound, "no outbox entry \(id)") }
            s.mail[id]?.sentAt = time
            s.mail[id]?.leasedUntil = nil
        }
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

extension Storage {
    /// Every part of `Storage` backed by one `InMemoryStorage`.
    public static func inMemory(_ memory: InMemoryStorage = InMemoryStorage()) -> Storage {
        Storage(tokens: memory, events: memory, queue: memory, outbox: memory)
    }
}
