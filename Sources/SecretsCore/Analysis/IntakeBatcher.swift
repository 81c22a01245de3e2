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
/// Not started (or stopped), `submit` stores on the calling thread. `stop` stores everything already
/// submitted before it returns.
public final class IntakeBatcher: Sendable {
    public typealias Completion = @Sendable (Result<[AcceptedDisclosure], any Error>) -> Void

    public let analyzer: DisclosureAnalyzer
    /// Records one transaction takes at most (a larger single report still goes alone). Default 10,000.
    public let maxRecords: Int
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
    }

    private enum Phase { case idle, running, stopping, stopped }

    /// `onStored` runs on the writer thread after each committed batch (the server wakes its workers).
    public init(analyzer: DisclosureAnalyzer, maxRecords: Int = 10_000, activity: IntakeActivity = IntakeActivity(),
                onStored: @escaping @Sendable () -> Void = {}) {
        self.analyzer = analyzer
        self.activity = activity
        self.maxRecords = max(1, maxRecords)
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
            defer { state.writerWaiting = false }
            return (true, state.writerWaiting)
        }
        guard wasRunning else { return }
        if wake { wakeup.signal() }
        finished.wait()
    }

    /// Transactions the writer ran so far.
    public var batchCount: Int { batches.load(ordering: .relaxed) }

    /// Stores `intake` with whatever else is pending and calls `completion` once, after the commit (on the
    /// writer thread), or at once on this thread when the writer is not running.
    public func submit(_ intake: PreparedIntake, completion: @escaping Completion) {
        activity.touch()
        let (queued, wake) = state.withLock { state -> (Bool, Bool) in
            guard state.phase == .running else { return (false, false) }
            state.queue.append(Entry(intake: intake, completion: completion))
            defer { state.writerWaiting = false }
            return (true, state.writerWaiting)
        }
        guard queued else {
            completion(Result { try analyzer.store([intake])[0] })
            onStored()
            return
        }
        if wake { wakeup.signal() }
    }

    /// `submit`, waiting for the commit: the stored records, or the store's error.
    public func accept(_ intake: PreparedIntake) throws -> [AcceptedDisclosure] {
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<Result<[AcceptedDisclosure], any Error>?>(nil)
        submit(intake) { outcome in
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

    /// Waits for work; nil once stopping and nothing is left. Takes entries in order up to `maxRecords`
    /// records (always at least one).
    private func nextBatch() -> [Entry]? {
        enum Next { case batch([Entry]), sleep, done }
        while true {
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
