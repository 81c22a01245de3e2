import Foundation

/// One revocation a disclosure job asks for (`TokenStore.revoke`).
public struct RevocationRequest: Sendable, Equatable {
    public var identity: String
    public var disclosureID: Int64

    public init(identity: String, disclosureID: Int64) {
        self.identity = identity
        self.disclosureID = disclosureID
    }
}

/// Everything that ends one disclosure job: its events, its mail, and its outcome.
public struct JobCompletion: Sendable, Equatable {
    public var jobID: Int64
    public var outcome: DisclosureOutcome
    public var detail: String?
    /// When the job finished (`DisclosureQueue.finish(…at:)`).
    public var time: Date
    /// Recorded first (`EventSink.record`, idempotent per key).
    public var events: [SecurityEvent]
    /// Enqueued next (`Outbox.enqueue`, idempotent per Message-ID).
    public var mail: MailMessage?

    public init(jobID: Int64, outcome: DisclosureOutcome, detail: String? = nil, time: Date,
                events: [SecurityEvent] = [], mail: MailMessage? = nil) {
        self.jobID = jobID
        self.outcome = outcome
        self.detail = detail
        self.time = time
        self.events = events
        self.mail = mail
    }
}

/// A mail the sink delivered: the outbox entry to mark sent, and the event that says so.
public struct MailDelivery: Sendable, Equatable {
    public var id: Int64
    public var sentAt: Date
    /// Recorded with the mark (`EventSink.record`, idempotent per key).
    public var event: SecurityEvent?

    public init(id: Int64, sentAt: Date, event: SecurityEvent?) {
        self.id = id
        self.sentAt = sentAt
        self.event = event
    }
}

/// Optional for a backend that plays every role of `Storage` (tokens, events, queue, outbox): the
/// pipeline's writes for many jobs or mails in one transaction, instead of one transaction per call.
///
/// `DisclosureAnalyzer` uses it when one object plays all four roles of its `Storage` and conforms
/// (`Storage.pipelineBatchStore`); otherwise it makes the one-at-a-time calls each method names.
///
/// Implementation requirements:
/// - Each item has the effect and the answer of the one-at-a-time calls it stands for, in that order,
///   and is atomic on its own: all of its writes or none. One item failing (its error in the answer)
///   does not undo or fail the others.
/// - Throwing means the transaction as a whole failed and nothing was stored.
/// - When a method returns, every stored item is durable as the backend's single calls are.
/// - Thread-safe.
public protocol PipelineBatchStore: Sendable {
    /// `TokenStore.revoke` for each request, answered in order.
    func revoke(_ requests: [RevocationRequest], at time: Date) throws -> [Result<RevocationResult, StoreError>]

    /// For each completion: `EventSink.record` each event, `Outbox.enqueue` the mail, then
    /// `DisclosureQueue.finish` the job; nil when all of it was stored. A job that is gone is `.notFound`
    /// and stores nothing (another worker finished it after this one's lease lapsed).
    func complete(_ completions: [JobCompletion]) throws -> [StoreError?]

    /// For each delivery: `Outbox.markSent`, then `EventSink.record` its event; nil when both were stored.
    func markSent(_ deliveries: [MailDelivery]) throws -> [StoreError?]
}

extension Storage {
    /// The backend, when one object plays all four roles and can batch the pipeline's writes; nil for a
    /// mixed `Storage` (or one whose parts are wrapped), which then gets the one-at-a-time calls.
    public var pipelineBatchStore: (any PipelineBatchStore)? {
        guard let batch = queue as? any PipelineBatchStore else { return nil }
        let object = queue as AnyObject
        guard tokens as AnyObject === object, events as AnyObject === object, outbox as AnyObject === object else { return nil }
        return batch
    }
}
