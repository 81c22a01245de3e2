import SecretsCore
import Synchronization

/// The single writer connection, with group commit: concurrent callers' writes are joined into one
/// `BEGIN IMMEDIATE` transaction by whichever caller holds the writer, and each caller returns only
/// after the commit that contains its writes.
///
/// How: a caller appends its work to `pending`, then takes the writer `Mutex`. If its work was already
/// committed by the previous holder, it is done. Otherwise it becomes the leader: it takes everything
/// pending (its own work and that of every caller queued behind it), runs each piece in its own
/// `SAVEPOINT` inside one transaction, commits once, then publishes every caller's result. A piece that
/// throws is rolled back to its savepoint alone and only its caller sees the error; a failed `BEGIN` or
/// `COMMIT` fails the whole group, and nothing of it was stored.
///
/// Under load this turns N commits (N WAL appends, N fsyncs with `synchronous=FULL`) into one, without
/// any timer or extra thread: a lone caller commits at once. Work must not call `write` again (the
/// writer `Mutex` is not reentrant) and should be short: the group waits for its slowest piece.
final class WriteCombiner: Sendable {
    private let writer: Mutex<SQLiteConnection>
    private let pending = Mutex<[PendingWrite]>([])
    private let transactions = Atomic<Int>(0)

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
            complete: { ticket.complete($0) })
        pending.withLock { $0.append(entry) }
        writer.withLock { connection in
            guard !ticket.isComplete else { return }
            let group = pending.withLock { queue in
                defer { queue.removeAll(keepingCapacity: true) }
                return queue
            }
            Self.commit(group, on: connection)
            transactions.add(1, ordering: .relaxed)
        }
        return try ticket.result()
    }

    /// Transactions run so far (each holding one or more callers' writes).
    var transactionCount: Int { transactions.load(ordering: .relaxed) }

    /// Runs a group in one transaction and completes every entry. Never throws: errors go to the callers.
    private static func commit(_ group: [PendingWrite], on connection: SQLiteConnection) {
        do {
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
    /// Publishes the staged value (nil) or an error to the waiting caller.
    let complete: @Sendable (StoreError?) -> Void
}

/// Where the leader leaves one caller's answer.
private final class Ticket<T: Sendable>: Sendable {
    private enum State { case waiting, staged(T), done(Result<T, StoreError>) }
    private let state = Mutex<State>(.waiting)

    func stage(_ value: T) { state.withLock { $0 = .staged(value) } }

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
