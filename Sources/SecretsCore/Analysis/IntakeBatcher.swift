import Foundation
import Synchronization

/// One report's records, classified and ready to store (`DisclosureAnalyzer.prepare`).
public struct PreparedIntake: Sendable {
    public let vendor: String
    public var records: [DisclosureRecord] = []
    /// The configured token type each record was classified as (nil: none matched), in record order.
    public var typeNames: [String?] = []

    public init(vendor: String) { self.vendor = vendor }
}

/// Stores reports arriving on many request threads in few transactions: one writer thread takes
/// everything submitted meanwhile and stores it with one `DisclosureAnalyzer.store` (one transaction),
/// then calls each submitter back. A request thread hands its report over and goes on serving other
/// connections instead of waiting for a commit; under load one commit carries many reports, so the
/// database writes each page once per batch instead of once per report.
///
/// Durability is unchanged: a completion runs only after the transaction holding its records committed,
/// with the stored records, or with the error when it failed (then nothing of that batch was stored).
///
/// Group commit: request threads say when a report starts arriving (`reportArriving`, before it is
/// verified), and before taking a batch the writer waits, up to `gatherWindow`, while reports are
/// arriving and fewer than `gatherTarget` are queued. Every commit costs about the same whatever it
/// carries (a transaction, the WAL pages of each table touched, the hand-offs between threads), so under
/// load the wait makes commits several times larger and each report cheaper; a report that is the only
/// one on its way is stored at once. The idea is PostgreSQL's `commit_delay`, which also waits only
/// while other transactions are active.
///
/// Not started (or stopped), `submit` stores on the calling thread. `stop` stores everything already
/// submitted before it returns.
public final class IntakeBatcher: Sendable {
    public typealias Completion = @Sendable (Result<[AcceptedDisclosure], any Error>) -> Void

    public let analyzer: DisclosureAnalyzer
    /// Records one transaction takes at most (a larger single report still goes alone). Default 10,000.
    public let maxRecords: Int
    /// How long the writer waits at most for reports still arriving before it commits. Default 1 ms;
    /// zero: never waits.
    public let gatherWindow: Duration
    /// Reports already queued that make waiting pointless. Default 32.
    public let gatherTarget: Int
    private let onStored: @Sendable () -> Void
    private let state = Mutex<State>(State())
    /// Signalled when work (or stop) comes for a writer that said it would sleep.
    private let wakeup = DispatchSemaphore(value: 0)
    /// Signalled once the writer thread has stored everything and ended.
    private let finished = DispatchSemaphore(value: 0)
    private let batches = Atomic<Int>(0)
    /// When reports were last submitted.
    public let activity: IntakeActivity

    private struct Entry {
        let intake: PreparedIntake
        let completion: Completion
    }

    private struct State {
        var phase = Phase.idle
        var queue: [Entry] = []
        /// The writer sleeps on `wakeup` and needs a signal.
        var writerWaiting = false
        /// Reports between `reportArriving` and their `submit` (or `reportNotComing`).
        var arriving = 0
        /// The writer waits on `wakeup` (with a deadline) for the reports arriving: it needs a signal when
        /// the last of them came in or `gatherTarget` are queued.
        var gathering = false

        /// Whether the writer should be woken now, clearing the flag that said so.
        mutating func takeWakeup(target: Int) -> Bool {
            if writerWaiting || (gathering && (arriving == 0 || queue.count >= target)) {
                writerWaiting = false
                gathering = false
                return true
            }
            return false
        }
    }

    private enum Phase { case idle, running, stopping, stopped }

    /// `onStored` runs on the writer thread after each committed batch (the server wakes its workers).
    public init(analyzer: DisclosureAnalyzer, maxRecords: Int = 10_000, gatherWindow: Duration = .milliseconds(1),
                gatherTarget: Int = 32, activity: IntakeActivity = IntakeActivity(),
                onStored: @escaping @Sendable () -> Void = {}) {
        self.analyzer = analyzer
        self.activity = activity
        self.maxRecords = max(1, maxRecords)
        self.gatherWindow = max(.zero, gatherWindow)
        self.gatherTarget = max(1, gatherTarget)
        self.onStored = onStored
    }

    /// Starts the writer thread. Does nothing when already started or stopped.
    public func start() {
        let starting = state.withLock { state -> Bool in
            guard state.phase == .idle else { return false }
            state.phase = .running
            return true
        }
        guard starting else { return }
        let thread = Thread { [self] in run() }
        thread.name = "tokenscan-intake"
        thread.start()
    }

    /// Stores everything submitted so far, then ends the writer thread; later submits store inline.
    public func stop() {
        let (wasRunning, wake) = state.withLock { state -> (Bool, Bool) in
            guard state.phase == .running else {
                if state.phase == .idle { state.phase = .stopped }
                return (false, false)
            }
            state.phase = .stopping
            defer { state.writerWaiting = false; state.gathering = false }
            return (true, state.writerWaiting || state.gathering)
        }
        guard wasRunning else { return }
        if wake { wakeup.signal() }
        finished.wait()
    }

    /// Transactions the writer ran so far.
    public var batchCount: Int { batches.load(ordering: .relaxed) }

    /// Reports announced by `reportArriving` and not yet submitted or called off.
    public var arrivingCount: Int { state.withLock { $0.arriving } }

    /// Says a report is on its way (a request thread is about to verify it): the writer may wait for it
    /// before committing. Ends with `submit(_:arrived: true, …)`, `accept(_:arrived: true)` or
    /// `reportNotComing()`, exactly once.
    public func reportArriving() {
        state.withLock { $0.arriving += 1 }
    }

    /// The report announced by `reportArriving` will not be submitted (it failed verification or parsing).
    public func reportNotComing() {
        let wake = state.withLock { state -> Bool in
            state.arriving = max(0, state.arriving - 1)
            return state.takeWakeup(target: gatherTarget)
        }
        if wake { wakeup.signal() }
    }

    /// Stores `intake` with whatever else is pending and calls `completion` once, after the commit (on the
    /// writer thread), or at once on this thread when the writer is not running. `arrived`: this is the
    /// report announced by `reportArriving`.
    public func submit(_ intake: PreparedIntake, arrived: Bool = false, completion: @escaping Completion) {
        activity.touch()
        let (queued, wake) = state.withLock { state -> (Bool, Bool) in
            if arrived { state.arriving = max(0, state.arriving - 1) }
            guard state.phase == .running else { return (false, false) }
            state.queue.append(Entry(intake: intake, completion: completion))
            return (true, state.takeWakeup(target: gatherTarget))
        }
        guard queued else {
            completion(Result { try analyzer.store([intake])[0] })
            onStored()
            return
        }
        if wake { wakeup.signal() }
    }

    /// `submit`, waiting for the commit: the stored records, or the store's error.
    public func accept(_ intake: PreparedIntake, arrived: Bool = false) throws -> [AcceptedDisclosure] {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<Result<[AcceptedDisclosure], any Error>?>(nil)
        submit(intake, arrived: arrived) { outcome in
            result.withLock { $0 = outcome }
            done.signal()
        }
        done.wait()
        let outcome = result.withLock { $0 } ?? .failure(StoreError(.permanent, "intake finished without a result"))
        return try outcome.get()
    }

    private func run() {
        while let batch = nextBatch() {
            let intakes = batch.map(\.intake)
            do {
                let stored = try analyzer.store(intakes)
                batches.add(1, ordering: .relaxed)
                for (entry, accepted) in zip(batch, stored) { entry.completion(.success(accepted)) }
                onStored()
            } catch {
                for entry in batch { entry.completion(.failure(error)) }
            }
        }
        state.withLock { $0.phase = .stopped }
        finished.signal()
    }

    /// Waits, up to `gatherWindow`, while reports are arriving and fewer than `gatherTarget` are queued.
    private func gather() {
        guard gatherWindow > .zero else { return }
        let deadline = DispatchTime.now() + .nanoseconds(Int(gatherWindow / .nanoseconds(1)))
        while true {
            let wait = state.withLock { state -> Bool in
                state.gathering = state.phase == .running && state.arriving > 0 && state.queue.count < gatherTarget
                return state.gathering
            }
            guard wait else { return }
            if wakeup.wait(timeout: deadline) == .timedOut {
                // A signal sent meanwhile (the flag was still set) is left on the semaphore: the next wait
                // returns at once and looks again, which costs a loop and loses nothing.
                state.withLock { $0.gathering = false }
                return
            }
        }
    }

    /// Waits for work; nil once stopping and nothing is left. Takes entries in order up to `maxRecords`
    /// records (always at least one), after `gather`.
    private func nextBatch() -> [Entry]? {
        enum Next { case batch([Entry]), sleep, done }
        while true {
            gather()
            let next = state.withLock { state -> Next in
                if state.queue.isEmpty {
                    if state.phase != .running { return .done }
                    state.writerWaiting = true
                    return .sleep
                }
                var records = 0
                var count = 0
                for entry in state.queue {
                    if count > 0 && records + entry.intake.records.count > maxRecords { break }
                    records += entry.intake.records.count
                    count += 1
                }
                defer { state.queue.removeFirst(count) }
                return .batch(Array(state.queue.prefix(count)))
            }
            switch next {
            case .batch(let batch): return batch
            case .done: return nil
            case .sleep: wakeup.wait()
            }
        }
    }
}

/// When reports last came in: one relaxed atomic store per report, read by whoever wants to know whether
/// the request path is busy (the server's workers pause while it is and the CPUs are contended).
public final class IntakeActivity: Sendable {
    /// `DispatchTime` uptime nanoseconds of the last report; 0: none yet.
    private let last = Atomic<UInt64>(0)

    public init() {}

    func touch() { last.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed) }

    /// Whether a report came in within `window`.
    public func receivedReports(within window: Duration) -> Bool {
        let at = last.load(ordering: .relaxed)
        guard at > 0 else { return false }
        return Double(DispatchTime.now().uptimeNanoseconds &- at) < window / .nanoseconds(1)
    }
}
