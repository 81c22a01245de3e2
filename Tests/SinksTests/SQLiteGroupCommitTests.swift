import Foundation
import SecretsCore
import Testing
@testable import Sinks

private typealias F = SQLiteFixture

@Suite("SQLite group commit and locking")
struct SQLiteGroupCommitTests {
    @Test func concurrentAcceptsAllLandWithDistinctConsecutiveIds() throws {
        let folder = try TemporaryDirectory("sqlite")
        let store = try SQLiteStorage.open(path: F.databasePath(in: folder))
        let results = F.onThreads(16) { thread in
            Result { () throws -> [[Int64]] in
                try (0..<10).map { batch in
                    let records = (0..<100).map { F.disclosure(thread * 10_000 + batch * 100 + $0) }
                    return try store.accept(records).map { $0.id ?? -1 }
                }
            }
        }
        let batches = try results.flatMap { try $0.get() }
        #expect(batches.count == 160)
        for ids in batches { #expect(ids == Array(ids[0]..<ids[0] + 100)) }  // a caller's batch is never interleaved
        #expect(Set(batches.joined()).count == 16_000)
        #expect(try store.pendingJobCount() == 16_000)
        #expect(try store.disclosures(user: nil).count == 16_000)
    }

    @Test("under writes that never pause, the WAL is restarted and stays bounded; nothing written is lost")
    func walStaysBoundedUnderSteadyWrites() throws {
        let folder = try TemporaryDirectory("sqlite")
        let path = F.databasePath(in: folder)
        let options = SQLiteOptions(walRestartFrames: 256, checkpointInterval: .milliseconds(20))
        let store = try SQLiteStorage.open(path: path, options: options)
        // Four writers and one reader, without a break, for over a second: the checkpoint never finds the
        // WAL idle, which is when SQLite restarts it on its own.
        let largest = F.onThreads(5) { thread -> Int in
            let clock = ContinuousClock()
            let end = clock.now.advanced(by: .milliseconds(1200))
            var largest = 0
            var step = 0
            while clock.now < end {
                if thread == 4 {
                    _ = try? store.pendingJobCount()
                } else {
                    _ = try? store.accept((0..<20).map { F.disclosure(thread * 1_000_000 + step * 20 + $0) })
                }
                step += 1
                let size = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
                largest = max(largest, size)
            }
            return largest
        }.max() ?? 0
        #expect(store.walRestartCount > 0)
        // 256 frames of 4 KB is 1 MB; what accumulates between a check and the restart comes on top.
        #expect(largest < 16 * 1024 * 1024, "the WAL grew to \(largest) bytes")
        let rows = try store.disclosures(user: nil)
        #expect(rows.count == Set(rows.map(\.tokenHash)).count)
        #expect(try store.pendingJobCount() == rows.count)
        #expect(rows.count > 1000)
    }

    @Test func manyThreadsMixingWritesAndFailuresLoseNothing() throws {
        let folder = try TemporaryDirectory("sqlite")
        let store = try SQLiteStorage.open(path: F.databasePath(in: folder))
        let conflicts = F.onThreads(32) { thread -> Int in
            var conflicts = 0
            for step in 0..<50 {
                _ = try? store.accept([F.disclosure(thread * 100 + step)])
                try? store.record(SecurityEvent(tag: "t", user: "u", time: F.at(step), data: [:], idempotencyKey: "k\(step % 10)"))
                // Every fifth token reuses the previous id: a conflict, for this caller only.
                let id = step % 5 == 4 ? "t\(thread)-\(step - 1)" : "t\(thread)-\(step)"
                do { try store.issue(F.token(id, user: "user\(thread)")) } catch { conflicts += 1 }
            }
            return conflicts
        }
        #expect(conflicts == Array(repeating: 10, count: 32))
        #expect(try store.pendingJobCount() == 32 * 50)
        #expect(try store.events(user: "u").count == 10)
        #expect(try store.tokens(user: nil).count == 32 * 40)
        #expect(store.writeTransactionCount < 32 * 50 * 3)  // some writes shared a transaction
    }

    /// One writer holds the write lock from outside; meanwhile the writer thread waits in `BEGIN IMMEDIATE`
    /// with one caller's work and six more callers queue behind it. When the lock goes, the five queued
    /// accepts share one transaction, and the write that fails (a conflicting token) fails alone.
    @Test func queuedWritersShareOneTransactionAndAFailureStaysWithItsCaller() throws {
        let folder = try TemporaryDirectory("sqlite")
        let path = F.databasePath(in: folder)
        let store = try SQLiteStorage.open(path: path, options: SQLiteOptions(busyTimeout: .seconds(20)))
        try store.issue(F.token("taken"))
        let before = store.writeTransactionCount
        let locked = DispatchSemaphore(value: 0)

        let results = F.onThreads(8) { i -> Result<Int, StoreError> in
            if i == 7 {
                return Result { () throws(StoreError) -> Int in
                    let outside = try SQLiteConnection(path: path)
                    try outside.execute("BEGIN IMMEDIATE")
                    for _ in 0..<7 { locked.signal() }
                    Thread.sleep(forTimeInterval: 0.8)
                    try outside.execute("COMMIT")
                    return 0
                }
            }
            locked.wait()
            if i > 0 { Thread.sleep(forTimeInterval: 0.25) }  // the leader (0) is waiting for the lock by now
            return Result { () throws(StoreError) -> Int in
                if i == 3 {
                    try store.issue(F.token("taken"))
                    return 0
                }
                return try store.accept([F.disclosure(i), F.disclosure(100 + i)]).count
            }
        }
        // The leader's accept alone; then the six queued meanwhile: the five accepts (urgent: a vendor
        // waits for them) in one transaction, the token write beside them in its own.
        #expect(store.writeTransactionCount - before == 3)
        #expect(throws: StoreError.self) { try results[3].get() }
        if case .failure(let error) = results[3] { #expect(error.kind == .conflict) }
        for i in [0, 1, 2, 4, 5, 6] { #expect(try results[i].get() == 2) }
        #expect(try store.pendingJobCount() == 12)
        #expect(try store.tokens(user: nil).count == 1)
    }

    @Test func aLockHeldLongerThanTheBusyTimeoutIsTransientAndReadersCarryOn() throws {
        let folder = try TemporaryDirectory("sqlite")
        let path = F.databasePath(in: folder)
        let store = try SQLiteStorage.open(path: path, options: SQLiteOptions(busyTimeout: .milliseconds(50)))
        _ = try store.accept([F.disclosure(1)])
        let outside = try SQLiteConnection(path: path)
        try outside.execute("BEGIN IMMEDIATE")
        let error = #expect(throws: StoreError.self) { try store.accept([F.disclosure(2)]) }
        #expect(error?.isTransient == true)
        #expect(try store.pendingJobCount() == 1)  // WAL: reads go on while another process writes
        try outside.execute("COMMIT")
        #expect(try store.accept([F.disclosure(3)]).count == 1)
        #expect(try store.pendingJobCount() == 2)
    }
}
