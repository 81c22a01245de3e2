import Dispatch
import SecretsCore
import Synchronization

/// The single writer connection, with group commit: concurrent callers' writes are joined into one
/// `BEGIN IMMEDIATE` transaction by one of them, the leader, and each caller returns only after the
/// commit that contains its writes.
///
/// How: a caller appends its work to the queue. When no leader is active it becomes the leader; otherwise
/// it sleeps on its ticket. The leader takes everything queued (its own work and that of every caller
/// that arrived meanwhile), runs each piece in its own `SAVEPOINT` inside one transaction, commits once,
/// then wakes every caller of the group with its result. If more work queued up during the commit, it
/// wakes the oldest waiting caller as the next leader and returns; otherwise leadership lapses. So
/// followers never contend for a lock, each group costs one hand-over, and a lone caller commits at once,
/// without any timer or extra thread.
///
/// A piece that throws is rolled back to its savepoint alone and only its caller sees the error; a failed
/// `BEGIN` or `COMMIT` fails the whole group, and nothing of it was stored. Under load this turns N
/// commits (N WAL appends, N fsyncs with `synchronous=FULL`) into one. Work must not call `write` again
/// (it would wait for itself) and should be short: the group waits for its slowest piece.
final class WriteCombiner: Sendable {
    /// Only the leader of the moment uses it; the `Mutex` is never contended, it makes that checkable.
    private let writer: Mutex<SQLiteConnection>
    private let queue = Mutex<Queue>(Queue())
    private let transactions = Atomic<Int>(0)
    private let restartWanted = Atomic<Bool>(false)
    private let restarts = Atomic<Int>(0)

    private struct Queue {
        var pending: [PendingWrite] = []
        /// A leader is running, or has been woken to run: newcomers wait.
        var led = false
    }

    init(_ connection: consuming sending SQLiteConnection) {
        writer = Mutex(connection)
    }

    /// Runs `work` on the writer connection inside a transaction; returns once that transaction committed.
    /// When it throws, nothing `work` did is stored.
    func write<T: Sendable>(_ work: @escaping @Sendable (SQLiteConnection) throws -> T) throws(StoreError) -> T {
        let ticket = Ticket<T>()
        let entry = PendingWrite(
            run: { connection in
                do {
                    ticket.stage(try work(connection))
                    return nil
                } catch {
                    return StoreError(error)
                }
            },
            complete: { ticket.complete($0) },
            promote: { ticket.wake() })
        let leading = queue.withLock { queue in
            queue.pending.append(entry)
            defer { queue.led = true }
            return !queue.led
        }
        // A follower wakes either with its result or as the next leader (its work still queued).
        if leading || !ticket.waitForResult() {
            lead()
        }
        return try ticket.result()
    }

    /// Commits everything queued as one group, then hands leadership on.
    private func lead() {
        let group = queue.withLock { queue in
            defer { queue.pending.removeAll(keepingCapacity: true) }
            return queue.pending
        }
        let restart = restartWanted.exchange(false, ordering: .relaxed)
        writer.withLock { connection in
            Self.commit(group, on: connection)
            // The group's callers have their answers; the next group waits for this.
            if restart, (try? connection.execute("PRAGMA wal_checkpoint(RESTART)")) != nil {
                restarts.add(1, ordering: .relaxed)
            }
        }
        transactions.add(1, ordering: .relaxed)
        let next = queue.withLock { queue in
            if queue.pending.isEmpty { queue.led = false }
            return queue.pending.first
        }
        next?.promote()
    }

    /// Asks the next leader to restart the WAL after its commit: a RESTART checkpoint on this, the only
    /// writer connection, copies the frames left, so the next transaction writes the WAL from its start.
    /// Costs that group's callers nothing (they are answered first) and the next group one checkpoint.
    func requestWALRestart() { restartWanted.store(true, ordering: .relaxed) }

    /// WAL restarts done on request.
    var walRestartCount: Int { restarts.load(ordering: .relaxed) }

    /// Transactions run so far (each holding one or more callers' writes).
    var transactionCount: Int { transactions.load(ordering: .relaxed) }

    /// Runs a group in one transaction and completes every entry. Never throws: errors go to the callers.
    private static func commit(_ group: [PendingWrite], on connection: SQLiteConnection) {
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
    /// Runs the work and stages its value; answers its error instead when it threw.
    let run: @Sendable (SQLiteConnection) -> StoreError?
    /// Publishes the staged value (nil) or an error to the waiting caller, and wakes it.
    let complete: @Sendable (StoreError?) -> Void
    /// Wakes the waiting caller, its work not done, to lead the next group.
    let promote: @Sendable () -> Void
}

/// Where the leader leaves one caller's answer.
private final class Ticket<T: Sendable>: Sendable {
    private enum State { case waiting, staged(T), done(Result<T, StoreError>) }
    private let state = Mutex<State>(.waiting)
    private let signal = DispatchSemaphore(value: 0)

    func stage(_ value: T) { state.withLock { $0 = .staged(value) } }

    func wake() { signal.signal() }

    /// Sleeps until woken; true when the result is in, false when woken to lead.
    func waitForResult() -> Bool {
        signal.wait()
        return isComplete
    }

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

    var isComplete: Bool {
        state.withLock { if case .done = $0 { true } else { false } }
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
