import Foundation
import Glibc
import Synchronization

/// How many workers run and how they poll.
public struct WorkerSettings: Sendable, Equatable {
    /// Threads processing disclosure jobs. Default 2.
    public var disclosureWorkers: Int
    /// Threads delivering mail from the outbox. Default 1.
    public var mailWorkers: Int
    /// Jobs or mails claimed at once by one worker. Default 32.
    public var batchSize: Int
    /// How long an idle worker waits before looking again, unless woken. Default 100 ms.
    public var pollInterval: Duration
    /// How long `stop()` waits for the workers to finish their current item. Default 10 s.
    public var stopTimeout: Duration
    /// Release every lease at `start()`: right for a single-process backend (a job leased by a crashed
    /// process is taken again at once), wrong for a database shared by several instances. Default false.
    public var releaseLeasesOnStart: Bool
    /// How long a mail worker may hold sent mail before marking it sent (then all of it in one write):
    /// a crash in that window sends those mails again, which a maildir absorbs (one file per Message-ID)
    /// and SMTP cannot, so it is short. A mail slower to send than this is marked on its own. Default 10 ms.
    public var markSentWithin: Duration
    /// The workers' nice value (0–19, Linux per-thread): with the default 10 the request threads, which a
    /// vendor is waiting on, win the CPU when both want it; the workers get what is left (about a tenth
    /// when the request path saturates the cores) and catch up on the durable queue when load drops.
    /// 0 runs them at the request threads' priority. Default 10.
    public var niceness: Int

    public init(disclosureWorkers: Int = 2, mailWorkers: Int = 1, batchSize: Int = 32, pollInterval: Duration = .milliseconds(100),
                stopTimeout: Duration = .seconds(10), releaseLeasesOnStart: Bool = false,
                markSentWithin: Duration = .milliseconds(10), niceness: Int = 10) {
        self.disclosureWorkers = disclosureWorkers
        self.mailWorkers = mailWorkers
        self.batchSize = batchSize
        self.pollInterval = pollInterval
        self.stopTimeout = stopTimeout
        self.releaseLeasesOnStart = releaseLeasesOnStart
        self.markSentWithin = markSentWithin
        self.niceness = niceness
    }
}

/// The background workers: threads that claim disclosure jobs and outbox mail and hand them to the
/// analyzer, each looping claim → process → (nothing claimed) wait up to the poll interval or a `wake()`.
///
/// Plain threads, not Swift concurrency: the store calls block (SQLite, libpq, libcurl), and a blocked
/// thread must not hold a cooperative-pool thread. Several workers, and several instances, never do the
/// same job twice at once: each claim is under a lease.
public final class AnalysisWorkers: Sendable {
    public let analyzer: DisclosureAnalyzer
    public let mailSink: any MailSink
    public let settings: WorkerSettings
    private let now: @Sendable () -> Date
    private let backgroundPause: (@Sendable () -> Duration)?
    private let disclosureSignal = WorkSignal()
    private let mailSignal = WorkSignal()
    private let lifecycle = Mutex<Lifecycle>(.idle)
    private let running = WorkSignal()

    private enum Lifecycle { case idle, running, stopped }

    /// `now` is the clock jobs are claimed and processed by (tests move it). `backgroundPause`, asked after
    /// every round that did work, says how long the worker waits before the next one (the server pauses
    /// them while reports arrive on contended CPUs: their database writes would run at the request
    /// path's priority on the writer, which their nice value does not reach).
    public init(analyzer: DisclosureAnalyzer, mailSink: any MailSink, settings: WorkerSettings = WorkerSettings(),
                now: @escaping @Sendable () -> Date = { Date() },
                backgroundPause: (@Sendable () -> Duration)? = nil) {
        self.analyzer = analyzer
        self.mailSink = mailSink
        self.settings = settings
        self.now = now
        self.backgroundPause = backgroundPause
    }

    /// Starts the threads. Does nothing when already started or stopped.
    public func start() {
        let starting = lifecycle.withLock { state -> Bool in
            guard state == .idle else { return false }
            state = .running
            return true
        }
        guard starting else { return }
        if settings.releaseLeasesOnStart {
            do { try analyzer.storage.queue.releaseLeases() } catch {
                analyzer.logger.error("releasing leases at start failed", ["error": "\(error)"])
            }
        }
        let disclosureCount = max(0, settings.disclosureWorkers), mailCount = max(0, settings.mailWorkers)
        running.add(disclosureCount + mailCount)
        for index in 0..<disclosureCount {
            spawn(name: "tokenscan-disclosure-\(index + 1)") { [self] in loop(disclosureSignal, round: disclosureRound) }
        }
        for index in 0..<mailCount {
            spawn(name: "tokenscan-mail-\(index + 1)") { [self] in loop(mailSignal, round: mailRound) }
        }
    }

    /// Tells the disclosure workers there is new work (the request path calls it after `accept`).
    public func wake() { disclosureSignal.wake() }

    /// Tells the mail workers there is new mail.
    public func wakeMail() { mailSignal.wake() }

    /// Stops gracefully: each worker finishes the job or mail it holds, puts back what else it claimed,
    /// and ends. Waits at most `settings.stopTimeout`; answers whether every worker ended in time.
    @discardableResult
    public func stop() -> Bool {
        let wasRunning = lifecycle.withLock { state -> Bool in
            defer { state = .stopped }
            return state == .running
        }
        guard wasRunning else { return true }
        disclosureSignal.stop()
        mailSignal.stop()
        let done = running.waitForZero(timeout: settings.stopTimeout)
        if !done { analyzer.logger.warning("analysis workers did not stop in time", ["timeout": "\(settings.stopTimeout)"]) }
        return done
    }

    private func spawn(name: String, _ body: @escaping @Sendable () -> Void) {
        let niceness = Int32(clamping: min(19, max(0, settings.niceness)))
        let thread = Thread { [running, analyzer] in
            // Linux keeps a nice value per thread; `who` 0 is the calling thread.
            if niceness > 0, setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness) != 0 {
                analyzer.logger.warning("could not lower a worker thread's priority", ["errno": String(errno)])
            }
            body()
            running.add(-1)
        }
        thread.name = name
        thread.start()
    }

    private func loop(_ signal: WorkSignal, round: () -> Bool) {
        while !signal.isStopped {
            let generation = signal.generation
            if !round() {
                signal.wait(unlessGenerationChangedFrom: generation, timeout: settings.pollInterval)
            } else if let pause = backgroundPause?(), pause > .zero {
                signal.sleepUnlessStopped(pause)
            }
        }
    }

    /// One claim-and-process round of disclosure jobs; answers whether anything was claimed.
    private func disclosureRound() -> Bool {
        let jobs: [DisclosureJob]
        do {
            jobs = try analyzer.storage.queue.claim(limit: max(1, settings.batchSize), lease: analyzer.retry.lease, now: now())
        } catch {
            analyzer.logger.error("claiming disclosure jobs failed", ["error": "\(error)"])
            return false
        }
        guard !jobs.isEmpty else { return false }
        // The claimed batch is the item this worker holds: processed as one (its writes share
        // transactions), or put back whole when stopping before it started.
        if disclosureSignal.isStopped {
            putBack(jobs[...])
            return true
        }
        if analyzer.process(jobs, now: now()).contains(.revoked) { mailSignal.wake() }
        return true
    }

    /// Jobs claimed but not started at shutdown: due again at once, for the next worker or instance.
    private func putBack(_ jobs: ArraySlice<DisclosureJob>) {
        for job in jobs {
            do { try analyzer.storage.queue.retry(jobID: job.id, after: now(), error: "worker stopped before starting it") } catch {
                analyzer.logger.warning("putting a job back at stop failed; its lease will lapse", ["job": String(job.id), "error": "\(error)"])
            }
        }
    }

    /// One claim-and-deliver round of outbox mail; answers whether anything was claimed.
    private func mailRound() -> Bool {
        let entries: [OutboxEntry]
        do {
            entries = try analyzer.storage.outbox.claimMail(limit: max(1, settings.batchSize), lease: analyzer.retry.lease, now: now())
        } catch {
            analyzer.logger.error("claiming mail failed", ["error": "\(error)"])
            return false
        }
        // Sent mail is marked sent in one write at the end of the batch, or as soon as the oldest
        // unmarked one has waited `markSentWithin`.
        var sent: [MailDelivery] = []
        var oldest: ContinuousClock.Instant?
        for entry in entries {
            // A stopping mail worker leaves the rest leased: the lease lapses and they are sent later.
            if mailSignal.isStopped { break }
            if let delivery = analyzer.send(entry, via: mailSink, now: now()) {
                sent.append(delivery)
                if oldest == nil { oldest = .now }
            }
            if let since = oldest, ContinuousClock.now - since >= settings.markSentWithin {
                analyzer.recordSent(sent)
                sent.removeAll(keepingCapacity: true)
                oldest = nil
            }
        }
        analyzer.recordSent(sent)
        return !entries.isEmpty
    }
}

/// What workers sleep on: a generation counter (so a `wake()` between "found nothing" and "wait" is not
/// lost), a stop flag, and a counter `waitForZero` waits on.
///
/// `wake()` runs after every intake batch, so it is cheap when nobody waits for work: an atomic add and a
/// load, no lock, no system call. Workers pausing between rounds (`sleepUnlessStopped`) sleep on a
/// condition of their own that only `stop` (and the counter) signals: before, every intake batch woke
/// them from their pause only for them to sleep again, thousands of context switches a second under load.
///
/// `@unchecked Sendable`: `count` is read and written only while `quiet` is locked; the rest is atomic.
final class WorkSignal: @unchecked Sendable {
    private let generationValue = Atomic<UInt64>(0)
    private let stopped = Atomic<Bool>(false)
    /// Workers inside `wait(unlessGenerationChangedFrom:timeout:)`. A waiter counts itself before it reads
    /// the generation and a waker bumps the generation before it reads this (both sequentially
    /// consistent), so either the waiter sees the new generation or the waker sees the waiter.
    private let waiters = Atomic<Int>(0)
    /// Workers waiting for work sleep on it; `wake` and `stop` broadcast.
    private let work = NSCondition()
    /// Pauses and `waitForZero` sleep on it; `stop` and `add` broadcast.
    private let quiet = NSCondition()
    private var count = 0

    var generation: UInt64 { generationValue.load(ordering: .sequentiallyConsistent) }

    var isStopped: Bool { stopped.load(ordering: .sequentiallyConsistent) }

    func wake() {
        generationValue.add(1, ordering: .sequentiallyConsistent)
        guard waiters.load(ordering: .sequentiallyConsistent) > 0 else { return }
        work.lock()
        work.broadcast()
        work.unlock()
    }

    func stop() {
        stopped.store(true, ordering: .sequentiallyConsistent)
        generationValue.add(1, ordering: .sequentiallyConsistent)
        // Taking each lock orders the flag before any sleeper's next check.
        work.lock()
        work.broadcast()
        work.unlock()
        quiet.lock()
        quiet.broadcast()
        quiet.unlock()
    }

    /// Sleeps until woken, stopped, or `timeout`, unless a wake already happened since `generation`.
    func wait(unlessGenerationChangedFrom generation: UInt64, timeout: Duration) {
        let deadline = Date().addingTimeInterval(timeout.asTimeInterval)
        work.lock()
        waiters.add(1, ordering: .sequentiallyConsistent)
        defer {
            waiters.subtract(1, ordering: .sequentiallyConsistent)
            work.unlock()
        }
        while generationValue.load(ordering: .sequentiallyConsistent) == generation && !isStopped {
            if !work.wait(until: deadline) { return }
        }
    }

    /// Sleeps for `duration`, or until stopped; a `wake()` does not end it.
    func sleepUnlessStopped(_ duration: Duration) {
        let deadline = Date().addingTimeInterval(duration.asTimeInterval)
        quiet.lock()
        defer { quiet.unlock() }
        while !isStopped {
            if !quiet.wait(until: deadline) { return }
        }
    }

    func add(_ delta: Int) {
        quiet.lock()
        count += delta
        quiet.broadcast()
        quiet.unlock()
    }

    /// Waits until the counter is zero; false when `timeout` passed first.
    func waitForZero(timeout: Duration) -> Bool {
        let deadline = Date().addingTimeInterval(timeout.asTimeInterval)
        quiet.lock()
        defer { quiet.unlock() }
        while count > 0 {
            if !quiet.wait(until: deadline) { return count == 0 }
        }
        return true
    }
}
