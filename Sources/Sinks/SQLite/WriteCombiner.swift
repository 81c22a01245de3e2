import Dispatch
import Foundation
import SecretsCore
import Synchronization

/// The single writer connection, with group commit: concurrent callers' writes are joined into one
/// `BEGIN IMMEDIATE` transaction, and each caller returns only after the commit that contains its writes.
///
/// How: a caller appends its work to the queue and sleeps on its ticket. One thread of its own, the
/// writer, takes everything queued (whatever arrived while it committed the previous group), runs each
/// piece in its own `SAVEPOINT` inside one transaction, commits once, then wakes every caller of the group
/// with its result. A caller's priority never matters: the workers run niced (`WorkerSettings.niceness`),
/// and a niced thread holding the connection mid-transaction would make the request path wait behind it
/// (the leader/follower scheme this replaced did exactly that under load).
///
/// A piece that throws is rolled back to its savepoint alone and only its caller sees the error; a failed
/// `BEGIN` or `COMMIT` fails the whole group, and nothing of it was stored. Under load this turns N
/// commits (N WAL appends, N fsyncs with `synchronous=FULL`) into one. Work must not call `write` again
/// (it would wait for itself) and should be short: the group waits for its slowest piece.
final class WriteCombiner: Sendable {
    private let core: Core

    init(_ connection: consuming sending SQLiteConnection) {
        core = Core(connection)
        let thread = Thread { [core] in core.run() }
        thread.name = "tokenscan-sqlite-writer"
        thread.start()
    }

    /// The writer thread finishes what is queued (nothing, since no caller is left), closes the
    /// connection and ends; this waits for that, so the file is closed when the storage is gone.
    deinit { core.stop() }

    /// Runs `work` on the writer connection inside a transaction; returns once that transaction committed.
    /// When it throws, nothing `work` did is stored.
    ///
    /// `urgent` work (what a vendor's answer waits for) never shares a transaction with other work queued
    /// beside it: the writer commits the urgent pieces first, answers them, then the rest. A worker's
    /// large batch then costs the request path at most the one transaction already running.
    func write<T: Sendable>(urgent: Bool = false,
                            _ work: @escaping @Sendable (SQLiteConnection) throws -> T) throws(StoreError) -> T {
        let ticket = Ticket<T>()
        core.enqueue(PendingWrite(
            urgent: urgent,
            run: { connection in
                do {
                    ticket.stage(try work(connection))
                    return nil
                } catch {
                    return StoreError(error)
                }
            },
            complete: { ticket.complete($0) }))
        ticket.wait()
        return try ticket.result()
    }

    /// Asks the writer to restart the WAL after its next commit: a RESTART checkpoint on this, the only
    /// writer connection, copies the frames left, so the next transaction writes the WAL from its start.
    /// Costs that group's callers nothing (they are answered first) and the next group one checkpoint.
    func requestWALRestart() { core.restartWanted.store(true, ordering: .relaxed) }

    /// WAL restarts done on request.
    var walRestartCount: Int { core.restarts.load(ordering: .relaxed) }

    /// Transactions run so far (each holding one or more callers' writes).
    var transactionCount: Int { core.transactions.load(ordering: .relaxed) }
}

/// The queue and the connection, shared by the callers and the writer thread.
private final class Core: Sendable {
    /// Only the writer thread uses it; the `Mutex` is never contended, it makes that checkable.
    /// Set to nil (closing it) when the thread ends.
    private let writer: Mutex<SQLiteConnection?>
    private let finished = DispatchSemaphore(value: 0)
    private let queue = Mutex<Queue>(Queue())
    /// Signalled when work arrives for a writer that said it would sleep.
    private let wakeup = DispatchSemaphore(value: 0)
    let transactions = Atomic<Int>(0)
    let restartWanted = Atomic<Bool>(false)
    let restarts = Atomic<Int>(0)

    private struct Queue {
        var pending: [PendingWrite] = []
        var writerSleeping = false
        var stopping = false
    }

    init(_ connection: consuming sending SQLiteConnection) {
        writer = Mutex(connection)
    }

    func enqueue(_ entry: PendingWrite) {
        let wake = queue.withLock { queue -> Bool in
            queue.pending.append(entry)
            defer { queue.writerSleeping = false }
            return queue.writerSleeping
        }
        if wake { wakeup.signal() }
    }

    /// Ends the writer thread and waits until it closed the connection.
    func stop() {
        let wake = queue.withLock { queue -> Bool in
            queue.stopping = true
            defer { queue.writerSleeping = false }
            return queue.writerSleeping
        }
        if wake { wakeup.signal() }
        finished.wait()
    }

    /// The writer thread: commits whatever queued, group after group; sleeps when there is nothing.
    func run() {
        while true {
            let next = queue.withLock { queue -> [PendingWrite]? in
                if queue.pending.isEmpty {
                    if queue.stopping { return [] }
                    queue.writerSleeping = true
                    return nil
                }
                defer { queue.pending.removeAll(keepingCapacity: true) }
                return queue.pending
            }
            guard let queued = next else {
                wakeup.wait()
                continue
            }
            if queued.isEmpty {
                writer.withLock { $0 = nil }
                finished.signal()
                return
            }
            let urgent = queued.filter(\.urgent)
            let groups = urgent.isEmpty || urgent.count == queued.count ? [queued] : [urgent, queued.filter { !$0.urgent }]
            for group in groups { commit(group) }
        }
    }

    private func commit(_ group: [PendingWrite]) {
        let restart = restartWanted.exchange(false, ordering: .relaxed)
        transactions.add(1, ordering: .relaxed)  // before the callers wake: they may count
        writer.withLock { connection in
            guard let connection else { return }
            WriteCombiner.commit(group, on: connection)
            // The group's callers have their answers; the next group waits for this.
            if restart, (try? connection.execute("PRAGMA wal_checkpoint(RESTART)")) != nil {
                restarts.add(1, ordering: .relaxed)
            }
        }
    }
}

extension WriteCombiner {
    /// Runs a group in one transaction and completes every entry. Never throws: errors go to the callers.
    fileprivate static func commit(_ group: [PendingWrite], on connection: SQLiteConnection) {
        do {
            if connection.inTransaction { try connection.run("ROLLBACK") }  // a failed ROLLBACK left one open
            try connection.run("BEGIN IMMEDIATE")
        } catch {
            let failure = StoreError(error)
            for entry in group { entry.complete(failure) }
            return
        }
        var failures: [StoreError?] = []
        failures.reserveCapacity(group.count)
        do {
            if group.count == 1 {
                failures.append(group[0].run(connection))
                if failures[0] != nil { throw Abort() }
            } else {
                for entry in group {
                    try connection.run("SAVEPOINT grouped")
                    let failure = entry.run(connection)
                    if failure != nil { try connection.run("ROLLBACK TO grouped") }
                    try connection.run("RELEASE grouped")
                    failures.append(failure)
                }
            }
            try connection.run("COMMIT")
        } catch {
            if connection.inTransaction { _ = try? connection.run("ROLLBACK") }
            // A lone failed piece keeps its own error; otherwise the transaction itself failed.
            let failure = (error is Abort ? failures.first ?? nil : nil) ?? StoreError(error)
            for entry in group { entry.complete(failure) }
            return
        }
        for (entry, failure) in zip(group, failures) { entry.complete(failure) }
    }

    private struct Abort: Error {}
}

/// One caller's work waiting in the group queue, type-erased.
private struct PendingWrite: Sendable {
    /// Committed ahead of the other work queued with it, in a transaction of its own.
    let urgent: Bool
    /// Runs the work and stages its value; answers its error instead when it threw.
    let run: @Sendable (SQLiteConnection) -> StoreError?
    /// Publishes the staged value (nil) or an error to the waiting caller, and wakes it.
    let complete: @Sendable (StoreError?) -> Void
}

/// Where the writer leaves one caller's answer.
private final class Ticket<T: Sendable>: Sendable {
    private enum State { case waiting, staged(T), done(Result<T, StoreError>) }
    private let state = Mutex<State>(.waiting)
    private let signal = DispatchSemaphore(value: 0)

    func stage(_ value: T) { state.withLock { $0 = .staged(value) } }

    /// Sleeps until the result is in.
    func wait() { signal.wait() }

    func complete(_ failure: StoreError?) {
        state.withLock { state in
            if let failure {
                state = .done(.failure(failure))
            } else if case .staged(let value) = state {
                state = .done(.success(value))
            } else {
                state = .done(.failure(StoreError(.permanent, "SQLite write finished without a result")))
            }
        }
        signal.signal()
    }

    func result() throws(StoreError) -> T {
        let result: Result<T, StoreError>? = state.withLock { if case .done(let r) = $0 { r } else { nil } }
        guard let result else { throw StoreError(.permanent, "SQLite write was never run") }
        return try result.get()
    }
}

extension StoreError {
    /// Any error as a `StoreError` (everything this backend throws already is one).
    init(_ error: any Error) {
        if let error = error as? StoreError {
            self = error
        } else {
            self.init(.permanent, String(describing: error))
        }
    }
}
