import Foundation

/// The answer of `TokenStore.revoke`.
public enum RevocationResult: Sendable, Equatable {
    /// Revoked by this disclosure (now, or by an earlier attempt of the same disclosure).
    case revoked(IssuedToken)
    /// Already revoked by something else: another disclosure, or the owner.
    case alreadyRevoked(IssuedToken)
    case notFound
}

/// The tokens we issued and their owners.
///
/// Implementation requirements:
/// - Thread-safe: called from many worker and request threads at once, and from several processes
///   sharing one database.
/// - `revoke` is atomic and idempotent: of any number of concurrent calls for one live token, exactly
///   one disclosure wins (`.revoked`); calling again with the *same* disclosure id answers `.revoked`
///   again (so a retried job carries on where it stopped); any other caller gets `.alreadyRevoked`.
/// - A thrown `StoreError` with `isTransient` means "retry later"; otherwise give up.
/// - Never store a raw token: only the identity the token type derives.
public protocol TokenStore: Sendable {
    /// The token with this identity, revoked or not.
    func token(identity: String) throws -> IssuedToken?

    func revoke(identity: String, byDisclosure disclosureID: Int64, at time: Date) throws -> RevocationResult

    /// Records a newly issued token, creating the user (with `email`) when new, adding `email` otherwise.
    func issue(_ token: IssuedToken) throws

    /// Tokens, newest first; only `user`'s when given.
    func tokens(user: String?) throws -> [IssuedToken]

    /// This installation's secret of the given name (e.g. the macaroon root key), created at random
    /// (`length` bytes) on first use and the same ever after.
    func installationSecret(named name: String, length: Int) throws -> [UInt8]
}

/// Where security events go.
///
/// Implementation requirements: thread-safe; `record` is idempotent per `idempotencyKey` (a second
/// event with the same key is silently ignored); a thrown error means the event was not recorded.
public protocol EventSink: Sendable {
    func record(_ event: SecurityEvent) throws
}

/// An `EventSink` that can also list what it recorded.
public protocol EventStore: EventSink {
    /// Events, oldest first; only `user`'s when given.
    func events(user: String?) throws -> [SecurityEvent]
}

/// The durable inbox of disclosures and their jobs.
///
/// Implementation requirements:
/// - `accept` is one transaction: when it returns, every record is durable (it survives the death of
///   the process) and every record without an outcome is a job; when it throws, nothing was stored.
/// - `claim` hands a job to one worker at a time under a lease; a job whose lease lapsed (its worker died)
///   can be claimed again. Backends shared by several processes claim without blocking each other
///   (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
/// - `finish` records the outcome on the disclosure and removes the job, atomically.
/// - Thread-safe.
public protocol DisclosureQueue: Sendable {
    /// Stores the records, answering them with their ids, in the same order.
    func accept(_ records: [DisclosureRecord]) throws -> [DisclosureRecord]

    /// Up to `limit` jobs due at `now`, each leased until `now + lease`.
    func claim(limit: Int, lease: Duration, now: Date) throws -> [DisclosureJob]

    func finish(jobID: Int64, outcome: DisclosureOutcome, detail: String?, at time: Date) throws

    /// Puts the job back, due again at `after`, noting the error.
    func retry(jobID: Int64, after: Date, error: String) throws

    /// Makes every leased job claimable at once (a single-process backend calls this at start-up).
    func releaseLeases() throws

    /// Disclosures, newest first. With `user`: those about the user's tokens, meaning the ones still
    /// pending (no outcome yet) or that ended `revoked`, `duplicate` or `error` (`DisclosureOutcome.listedForUser`);
    /// a finished disclosure of any other outcome was about no token of ours when it was processed.
    func disclosures(user: String?) throws -> [DisclosureRecord]

    /// Jobs not finished yet (due or leased).
    func pendingJobCount() throws -> Int
}

/// The durable outbox of mail.
///
/// Implementation requirements: `enqueue` is idempotent per `messageID`; an entry stays until
/// `markSent` (never dropped on failure); `claim` leases like `DisclosureQueue.claim`; thread-safe.
public protocol Outbox: Sendable {
    func enqueue(_ message: MailMessage) throws
    func claimMail(limit: Int, lease: Duration, now: Date) throws -> [OutboxEntry]
    func markSent(id: Int64, at time: Date) throws
    func markFailed(id: Int64, retryAt: Date, error: String) throws
    func pendingMailCount() throws -> Int
}

/// Sends one mail.
///
/// Implementation requirements: thread-safe; delivery is idempotent per `message.messageID` where the
/// transport allows it (a maildir never holds two files for one id); a thrown error means "not
/// delivered, retry later" and must describe the failure without the body.
public protocol MailSink: Sendable {
    func send(_ message: MailMessage) throws
}

/// Everything the pipeline keeps, as one backend usually provides it (one SQLite file, one PostgreSQL
/// database). Backends may be mixed; tests use `InMemoryStorage`.
public struct Storage: Sendable {
    public var tokens: any TokenStore
    public var events: any EventStore
    public var queue: any DisclosureQueue
    public var outbox: any Outbox

    public init(tokens: any TokenStore, events: any EventStore, queue: any DisclosureQueue, outbox: any Outbox) {
        self.tokens = tokens
        self.events = events
        self.queue = queue
        self.outbox = outbox
    }
}
