import Dispatch
import Foundation
import Synchronization

/// Checkpoints the WAL on its own thread and connection, so no commit on the request path pays for it.
///
/// SQLite's automatic checkpoint runs inside whichever commit crosses the threshold and fsyncs the
/// database file there: a report's answer waited for it. The writer turns it off
/// (`wal_autocheckpoint = 0`) and this thread runs a PASSIVE checkpoint (it never blocks readers or the
/// writer) every `interval`. The WAL restarts from its beginning once a checkpoint has copied every frame
/// and a writer begins. Under steady writes that moment never comes (each commit appends frames after
/// the ones just copied), so the file would grow without end: when a checkpoint leaves more than
/// `restartFrames` frames in the WAL, this calls `onLargeWAL`, and the writer restarts the WAL itself
/// between two transactions (`WriteCombiner.requestWALRestart`). A failed checkpoint is only retried at
/// the next interval: the WAL keeps every committed transaction meanwhile, so nothing is at risk.
final class SQLiteCheckpointer: Sendable {
    private let stopped = StopFlag()
    /// Wakes the thread early (to stop).
    private let wakeup = DispatchSemaphore(value: 0)
    /// Signalled once the thread closed its connection and ended.
    private let finished = DispatchSemaphore(value: 0)

    init(path: String, busyTimeout: Duration, interval: Duration = .milliseconds(250), restartFrames: Int = 4096,
         onLargeWAL: @escaping @Sendable () -> Void) throws {
        let connection = try SQLiteConnection(path: path)
        let milliseconds = busyTimeout / .milliseconds(1)
        try connection.execute("PRAGMA busy_timeout = \(Int(min(milliseconds, Double(Int32.max))))")
        let box = ConnectionBox(connection)
        let thread = Thread { [stopped, wakeup, finished] in
            let nanoseconds = UInt64(max(1, interval / .nanoseconds(1)))
            while !stopped.isSet {
                _ = wakeup.wait(timeout: .now() + .nanoseconds(Int(min(nanoseconds, UInt64(Int.max)))))
                guard !stopped.isSet else { break }
                // Answers (busy, frames in the WAL, frames copied).
                let frames = box.connection.withLock { connection in
                    try? connection?.queryFirst("PRAGMA wal_checkpoint(PASSIVE)") { $0.int(1) }
                }
                if let frames, frames > restartFrames { onLargeWAL() }
            }
            box.connection.withLock { $0 = nil }  // closes it
            finished.signal()
        }
        thread.name = "tokenscan-sqlite-checkpoint"
        thread.start()
    }

    /// Ends the thread and waits until it closed its connection (so the file is closed when the storage
    /// is gone). Later calls return at once.
    func stop() {
        guard stopped.set() else { return }
        wakeup.signal()
        finished.wait()
    }

    deinit { stop() }

    private final class StopFlag: Sendable {
        private let flag = Atomic<Bool>(false)
        var isSet: Bool { flag.load(ordering: .acquiring) }
        /// Sets the flag; true for the call that set it first.
        func set() -> Bool { !flag.exchange(true, ordering: .acquiringAndReleasing) }
    }

    /// The checkpoint connection, owned by the thread.
    private final class ConnectionBox: Sendable {
        let connection: Mutex<SQLiteConnection?>
        init(_ connection: consuming sending SQLiteConnection) { self.connection = Mutex(connection) }
    }
}
