import Foundation
import Synchronization

/// The vendor-independent pipeline: takes a vendor's verified disclosures in, and revokes, records and
/// mails for each leaked token.
///
/// - `accept` runs on the request path: classify every item, store every record in one transaction.
/// - `labels` answers GitHub's feedback format for what `accept` stored.
/// - `process` and `deliver` run on the workers (`AnalysisWorkers`): a claimed batch of jobs or mail,
///   each item safe to repeat after a crash or on another instance (revocation, events and the outbox
///   are idempotent per disclosure and per message id). When one backend plays every storage role and
///   conforms to `PipelineBatchStore`, a batch's writes share transactions: two for a batch of jobs
///   (revocations; then events, mail and outcomes) and one for a batch of mail marked sent.
///
/// Thread-safe: every stored part is `Sendable` and the analyzer keeps only a cached per-install secret.
public final class DisclosureAnalyzer: Sendable {
    public let storage: Storage
    public let tokenTypes: TokenTypeRegistry
    public let mail: MailSettings
    public let metrics: Metrics
    public let logger: Logger
    public let retry: RetryPolicy
    public let composer: LeakMailComposer
    /// This installation's secret for Message-IDs, read once from the `TokenStore`.
    private let messageIDSecret = Mutex<[UInt8]?>(nil)
    /// The backend's batched writes, when it has them (`Storage.pipelineBatchStore`).
    private let batch: (any PipelineBatchStore)?

    public init(storage: Storage, tokenTypes: TokenTypeRegistry, mail: MailSettings, metrics: Metrics = .none,
                logger: Logger = .none, retry: RetryPolicy = RetryPolicy()) {
        self.storage = storage
        self.tokenTypes = tokenTypes
        self.mail = mail
        self.metrics = metrics
        self.logger = logger
        self.retry = retry
        self.composer = LeakMailComposer(settings: mail)
        self.batch = storage.pipelineBatchStore
    }

    // MARK: Intake

    /// Classifies every disclosure and stores them all in one `DisclosureQueue.accept` transaction.
    ///
    /// Items with a `problem`, no token, or a token malformed for its type end as `invalid_format`;
    /// items no configured type matches end as `unknown_type`; every other item becomes a job. No record
    /// holds the raw token. Throws only when the queue does (nothing is stored then): the caller answers
    /// the vendor with a retryable error.
    public func accept(vendor: String, disclosures: [Disclosure], at time: Date) throws -> [AcceptedDisclosure] {
        try store([prepare(vendor: vendor, disclosures: disclosures, at: time)])[0]
    }

    /// `accept`'s first half, which needs no storage: the records a report becomes.
    public func prepare(vendor: String, disclosures: [Disclosure], at time: Date) -> PreparedIntake {
        var intake = PreparedIntake(vendor: vendor)
        intake.records.reserveCapacity(disclosures.count)
        intake.typeNames.reserveCapacity(disclosures.count)
        for item in disclosures {
            let (record, typeName) = classify(item, vendor: vendor, at: time)
            intake.records.append(record)
            intake.typeNames.append(typeName)
        }
        return intake
    }

    /// `accept`'s second half for several reports at once: every record of every intake in one
    /// `DisclosureQueue.accept` transaction (all stored, or none and it throws). Answers each intake's
    /// accepted disclosures, in order.
    public func store(_ intakes: [PreparedIntake]) throws -> [[AcceptedDisclosure]] {
        let records = intakes.count == 1 ? intakes[0].records : intakes.flatMap(\.records)
        let stored: [DisclosureRecord]
        do {
            stored = try storage.queue.accept(records)
        } catch {
            for intake in intakes {
                metrics.increment("disclosures_accept_failed_total", ["vendor": intake.vendor])
                logger.error("storing disclosures failed",
                             ["vendor": intake.vendor, "count": String(intake.records.count), "error": "\(error)"])
            }
            throw error
        }
        guard stored.count == records.count else {
            throw StoreError(.permanent, "the queue stored \(stored.count) records for \(records.count)")
        }
        var results: [[AcceptedDisclosure]] = []
        results.reserveCapacity(intakes.count)
        var offset = 0
        for intake in intakes {
            let mine = stored[offset ..< offset + intake.records.count]
            offset += intake.records.count
            results.append(accepted(mine, typeNames: intake.typeNames, vendor: intake.vendor))
        }
        return results
    }

    /// Counts and logs one report's stored records; pairs each with the type it was classified as.
    private func accepted(_ stored: ArraySlice<DisclosureRecord>, typeNames: [String?], vendor: String) -> [AcceptedDisclosure] {
        metrics.increment("disclosures_received_total", ["vendor": vendor], by: stored.count)
        var queued = 0
        var decided: [DisclosureOutcome: Int] = [:]
        for record in stored {
            if let outcome = record.outcome {
                decided[outcome, default: 0] += 1
                logger.debug("disclosure decided at intake", [
                    "vendor": vendor, "disclosure": record.id.map(String.init) ?? "", "token_hash": record.tokenHash,
                    "token_type": record.tokenType, "outcome": outcome.rawValue, "detail": record.detail ?? "",
                ])
            } else {
                queued += 1
            }
        }
        // One increment per outcome, not per item: a 10,000-item report of garbage stays cheap.
        for (outcome, count) in decided.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            metrics.increment("disclosures_outcome_total", ["vendor": vendor, "outcome": outcome.rawValue], by: count)
        }
        if logger.minimum <= .info {
            logger.info("disclosures accepted", ["vendor": vendor, "count": String(stored.count), "queued": String(queued)])
        }
        return zip(stored, typeNames).map { AcceptedDisclosure(record: $0, tokenType: $1) }
    }

    /// The record one item becomes, and the name of the type it was classified as.
    private func classify(_ item: Disclosure, vendor: String, at time: Date) -> (DisclosureRecord, String?) {
        var record = DisclosureRecord(vendor: vendor, tokenHash: item.token?.sha256 ?? "", tokenType: item.type,
                                      identity: nil, url: item.url, source: item.source, receivedAt: time)
        if let problem = item.problem {
            record.outcome = .invalidFormat
            record.detail = problem
            return (record, nil)
        }
        guard let token = item.token else {
            record.outcome = .invalidFormat
            record.detail = "no token"
            return (record, nil)
        }
        guard let type = tokenTypes.classify(reportedType: item.type, token: token) else {
            record.outcome = .unknownType
            record.detail = item.type.isEmpty ? "no type reported and no known prefix" : "unknown token type and no known prefix"
            return (record, nil)
        }
        record.tokenType = type.name
        do throws(TokenFormatError) {
            record.identity = try type.identity(of: token)
        } catch {
            record.outcome = .invalidFormat
            record.detail = error.reason
        }
        return (record, type.name)
    }

    // MARK: Feedback labels

    /// GitHub's feedback labels for what `accept` stored, in order, for items that carried a token.
    ///
    /// Decided at intake (`invalid_format`, `unknown_type`): `false_positive`. Otherwise a token we issued
    /// (live or revoked) is `true_positive` and anything else `false_positive`. Items not decided when
    /// `deadline` passes, or whose lookup fails, are left out: the answer must not wait on the store.
    public func labels(for accepted: [AcceptedDisclosure], deadline: ContinuousClock.Instant) -> [FeedbackLabel] {
        var out: [FeedbackLabel] = []
        for item in accepted where !item.record.tokenHash.isEmpty {
            let record = item.record
            if record.outcome == .invalidFormat || record.outcome == .unknownType {
                out.append(FeedbackLabel(tokenHash: record.tokenHash, tokenType: record.tokenType, label: .falsePositive))
                continue
            }
            guard ContinuousClock.now < deadline else { continue }
            guard let identity = record.identity else {
                out.append(FeedbackLabel(tokenHash: record.tokenHash, tokenType: record.tokenType, label: .falsePositive))
                continue
            }
            do {
                let found = try storage.tokens.token(identity: identity) != nil
                out.append(FeedbackLabel(tokenHash: record.tokenHash, tokenType: record.tokenType,
                                         label: found ? .truePositive : .falsePositive))
            } catch {
                logger.warning("token lookup for a label failed", ["vendor": record.vendor, "token_hash": record.tokenHash, "error": "\(error)"])
            }
        }
        return out
    }

    /// `[{"token_hash":…,"token_type":…,"label":…}]` as UTF-8.
    public func encodeLabels(_ labels: [FeedbackLabel]) -> [UInt8] { FeedbackLabel.encode(labels) }

    // MARK: Jobs

    /// Processes one claimed job: revoke, record `account:api_token:removed_leak`, enqueue the owner's
    /// mail, finish. Answers the outcome, or nil when the job was not finished now (put back for a retry,
    /// or left to its lease because the queue failed).
    ///
    /// Safe to repeat: revoking again with the same disclosure answers `.revoked`, the event is idempotent
    /// per disclosure and the mail per Message-ID, so a retried job carries on where it stopped.
    @discardableResult
    public func process(_ job: DisclosureJob, now: Date) -> DisclosureOutcome? {
        process([job], now: now)[0]
    }

    /// Processes claimed jobs as `process(_:now:)` does each one, answering their outcomes in order.
    ///
    /// With a `PipelineBatchStore` the batch takes two transactions: every revocation in one, then every
    /// job's event, mail and outcome in another (each job atomic on its own). A crash between the two
    /// leaves revoked tokens with unfinished jobs, which the next claim carries on as above.
    @discardableResult
    public func process(_ jobs: [DisclosureJob], now: Date) -> [DisclosureOutcome?] {
        var outcomes: [DisclosureOutcome?] = Array(repeating: nil, count: jobs.count)
        var revoking: [(index: Int, job: DisclosureJob, request: RevocationRequest)] = []
        for (index, job) in jobs.enumerated() {
            guard let disclosureID = job.disclosure.id, let identity = job.disclosure.identity else {
                outcomes[index] = finish(job, .error, detail: "job without a disclosure id or identity", now: now)
                continue
            }
            revoking.append((index, job, RevocationRequest(identity: identity, disclosureID: disclosureID)))
        }
        guard let batch else {
            for item in revoking { outcomes[item.index] = processAlone(item.job, item.request, now: now) }
            return outcomes
        }
        guard !revoking.isEmpty else { return outcomes }

        let revocations: [Result<RevocationResult, StoreError>]
        do {
            revocations = try batch.revoke(revoking.map(\.request), at: now)
            guard revocations.count == revoking.count else {
                throw StoreError(.permanent, "the store answered \(revocations.count) revocations for \(revoking.count)")
            }
        } catch {
            for item in revoking { outcomes[item.index] = failed(item.job, error: error, now: now) }
            return outcomes
        }

        var completing: [(index: Int, job: DisclosureJob, completion: JobCompletion)] = []
        for (item, revocation) in zip(revoking, revocations) {
            do {
                let completion = try self.completion(of: item.job, revocation.get(), disclosureID: item.request.disclosureID, now: now)
                completing.append((item.index, item.job, completion))
            } catch {
                outcomes[item.index] = failed(item.job, error: error, now: now)
            }
        }
        guard !completing.isEmpty else { return outcomes }

        let failures: [StoreError?]
        do {
            failures = try batch.complete(completing.map(\.completion))
            guard failures.count == completing.count else {
                throw StoreError(.permanent, "the store answered \(failures.count) completions for \(completing.count)")
            }
        } catch {
            for item in completing { outcomes[item.index] = failed(item.job, error: error, now: now) }
            return outcomes
        }
        for (item, failure) in zip(completing, failures) {
            if let failure {
                // A job that is gone was finished by another worker: nothing to retry.
                outcomes[item.index] = failure.kind == .notFound
                    ? notFinished(item.job, item.completion.outcome, error: failure)
                    : failed(item.job, error: failure, now: now)
            } else {
                outcomes[item.index] = finished(item.job, item.completion.outcome)
            }
        }
        return outcomes
    }

    /// One job through the one-at-a-time calls: revoke, record, enqueue, finish (each its own transaction).
    private func processAlone(_ job: DisclosureJob, _ request: RevocationRequest, now: Date) -> DisclosureOutcome? {
        let completion: JobCompletion
        do {
            let revocation = try storage.tokens.revoke(identity: request.identity, byDisclosure: request.disclosureID, at: now)
            completion = try self.completion(of: job, revocation, disclosureID: request.disclosureID, now: now)
            for event in completion.events { try storage.events.record(event) }
            if let mail = completion.mail { try storage.outbox.enqueue(mail) }
        } catch {
            return failed(job, error: error, now: now)
        }
        return finish(job, completion.outcome, detail: nil, now: now)
    }

    /// What a revocation's answer means for its job: the outcome, and for `.revoked` the event and the mail.
    private func completion(of job: DisclosureJob, _ revocation: RevocationResult, disclosureID: Int64, now: Date) throws -> JobCompletion {
        let record = job.disclosure
        switch revocation {
        case .revoked(let token):
            let event = removedLeakEvent(token: token, record: record, disclosureID: disclosureID, now: now)
            let message = composer.compose(token: token, disclosure: record, messageID: try messageID(disclosureID: disclosureID), date: now)
            if message == nil {
                logger.warning("revoked token's owner has no email address", [
                    "vendor": record.vendor, "disclosure": String(disclosureID), "token_id": token.id, "user": token.user,
                ])
            }
            return JobCompletion(jobID: job.id, outcome: .revoked, time: now, events: [event], mail: message)
        case .alreadyRevoked:
            return JobCompletion(jobID: job.id, outcome: .duplicate, time: now)
        case .notFound:
            return JobCompletion(jobID: job.id, outcome: .notFound, time: now)
        }
    }

    private func removedLeakEvent(token: IssuedToken, record: DisclosureRecord, disclosureID: Int64, now: Date) -> SecurityEvent {
        SecurityEvent(tag: SecurityEventTag.tokenRemovedLeak, user: token.user, time: now, data: [
            "vendor": record.vendor,
            "public_url": record.url,
            "token_id": token.id,
            "description": token.description,
            "token_hash": record.tokenHash,
        ], idempotencyKey: "leak:\(disclosureID)")
    }

    /// `leak-<disclosure id>.<16 hex of HMAC(install secret, id)>@<domain>`: the same on every retry and
    /// every instance sharing the store, and unlike any other installation's.
    public func messageID(disclosureID: Int64) throws -> String {
        let secret = try messageIDSecret.withLock { cached throws -> [UInt8] in
            if let cached { return cached }
            let loaded = try storage.tokens.installationSecret(named: "mail-message-id", length: 32)
            cached = loaded
            return loaded
        }
        let tag = HMACSHA256.authenticationCode(key: secret, message: Array("leak-\(disclosureID)".utf8))
        return "leak-\(disclosureID).\(Hex.encode(tag.prefix(8)))@\(mail.messageIDDomain)"
    }

    /// A step failed: retry later when it may succeed and attempts remain, else end as `error`.
    private func failed(_ job: DisclosureJob, error: any Error, now: Date) -> DisclosureOutcome? {
        let vendor = job.disclosure.vendor
        let permanent = (error as? StoreError).map { !$0.isTransient } ?? false
        let message = "\(error)"
        if !permanent && job.attempts < retry.maxAttempts {
            let delay = retry.delay(afterAttempt: job.attempts)
            do {
                try storage.queue.retry(jobID: job.id, after: now.addingTimeInterval(delay.asTimeInterval), error: message)
            } catch let retryError {
                logger.error("putting a job back failed; its lease will lapse", [
                    "vendor": vendor, "job": String(job.id), "error": "\(retryError)",
                ])
            }
            metrics.increment("disclosures_retried_total", ["vendor": vendor])
            logger.warning("disclosure job failed, will retry", [
                "vendor": vendor, "job": String(job.id), "attempt": String(job.attempts), "error": message,
            ])
            return nil
        }
        logger.error("disclosure job failed for good", [
            "vendor": vendor, "job": String(job.id), "attempt": String(job.attempts), "error": message,
        ])
        return finish(job, .error, detail: "after \(job.attempts) attempt(s): \(message)", now: now)
    }

    private func finish(_ job: DisclosureJob, _ outcome: DisclosureOutcome, detail: String?, now: Date) -> DisclosureOutcome? {
        do {
            try storage.queue.finish(jobID: job.id, outcome: outcome, detail: detail, at: now)
        } catch {
            return notFinished(job, outcome, error: error)
        }
        return finished(job, outcome)
    }

    private func notFinished(_ job: DisclosureJob, _ outcome: DisclosureOutcome, error: any Error) -> DisclosureOutcome? {
        logger.error("finishing a job failed; it will be processed again", [
            "vendor": job.disclosure.vendor, "job": String(job.id), "outcome": outcome.rawValue, "error": "\(error)",
        ])
        return nil
    }

    /// Counts and logs a job the queue finished.
    private func finished(_ job: DisclosureJob, _ outcome: DisclosureOutcome) -> DisclosureOutcome {
        let vendor = job.disclosure.vendor
        metrics.increment("disclosures_outcome_total", ["vendor": vendor, "outcome": outcome.rawValue])
        if outcome == .revoked { metrics.increment("tokens_revoked_total", ["vendor": vendor]) }
        logger.info("disclosure processed", [
            "vendor": vendor, "disclosure": job.disclosure.id.map(String.init) ?? "", "token_hash": job.disclosure.tokenHash,
            "token_type": job.disclosure.tokenType, "outcome": outcome.rawValue,
        ])
        return outcome
    }

    // MARK: Mail

    /// Sends one outbox entry. On success marks it sent and records `account:email:sent`; on failure puts
    /// it back with backoff (mail is never dropped and has no attempt limit). Answers whether it was sent.
    @discardableResult
    public func deliver(_ entry: OutboxEntry, via sink: any MailSink, now: Date) -> Bool {
        guard let delivery = send(entry, via: sink, now: now) else { return false }
        recordSent([delivery])
        return true
    }

    /// Hands one outbox entry to the sink. On success answers what `recordSent` must store (the entry is
    /// not marked sent yet); on failure puts it back with backoff and answers nil.
    ///
    /// A worker may send several entries before recording them at once: until recorded, a crash sends
    /// them again when their lease lapses, which an idempotent sink (a maildir) absorbs and a transport
    /// that is not (SMTP) turns into duplicates, so keep that window short there.
    public func send(_ entry: OutboxEntry, via sink: any MailSink, now: Date) -> MailDelivery? {
        let message = entry.message
        do {
            try sink.send(message)
        } catch {
            let retryAt = now.addingTimeInterval(retry.delay(afterAttempt: entry.attempts).asTimeInterval)
            do {
                try storage.outbox.markFailed(id: entry.id, retryAt: retryAt, error: "\(error)")
            } catch let markError {
                logger.error("marking a mail failed did not work; its lease will lapse", [
                    "message_id": message.messageID, "error": "\(markError)",
                ])
            }
            metrics.increment("mails_failed_total")
            logger.warning("sending mail failed, will retry", [
                "message_id": message.messageID, "attempt": String(entry.attempts), "error": "\(error)",
            ])
            return nil
        }
        metrics.increment("mails_sent_total")
        logger.info("mail sent", ["message_id": message.messageID, "user": message.user])
        return MailDelivery(id: entry.id, sentAt: now, event: SecurityEvent(
            tag: SecurityEventTag.emailSent, user: message.user, time: now, data: [
                "to": message.to.joined(separator: ", "),
                "subject": message.subject,
                "message_id": message.messageID,
            ], idempotencyKey: "mail:\(message.messageID)"))
    }

    /// Marks sent mail sent and records each one's `account:email:sent`: with a `PipelineBatchStore`, all
    /// in one transaction (each mark with its event, atomically); otherwise `markSent` then `record` per
    /// mail. A failure is logged: the lease lapses and the mail is sent again, which the sink's
    /// idempotency per Message-ID absorbs.
    public func recordSent(_ deliveries: [MailDelivery]) {
        guard !deliveries.isEmpty else { return }
        guard let batch else {
            for delivery in deliveries { recordSentAlone(delivery) }
            return
        }
        let failures: [StoreError?]
        do {
            failures = try batch.markSent(deliveries)
            guard failures.count == deliveries.count else {
                throw StoreError(.permanent, "the store answered \(failures.count) marks for \(deliveries.count)")
            }
        } catch {
            for delivery in deliveries { markSentFailed(delivery, error: error) }
            return
        }
        for (delivery, failure) in zip(deliveries, failures) {
            if let failure { markSentFailed(delivery, error: failure) }
        }
    }

    private func recordSentAlone(_ delivery: MailDelivery) {
        do {
            try storage.outbox.markSent(id: delivery.id, at: delivery.sentAt)
        } catch {
            markSentFailed(delivery, error: error)
        }
        guard let event = delivery.event else { return }
        do {
            try storage.events.record(event)
        } catch {
            logger.error("recording the mail event failed", ["message_id": event.data["message_id"] ?? "", "error": "\(error)"])
        }
    }

    /// The sink is idempotent per Message-ID, so sending again when the lease lapses is harmless.
    private func markSentFailed(_ delivery: MailDelivery, error: any Error) {
        logger.error("marking a mail sent failed", [
            "outbox": String(delivery.id), "message_id": delivery.event?.data["message_id"] ?? "", "error": "\(error)",
        ])
    }
}
