import Foundation
import Synchronization
import Testing
@testable import SecretsCore

/// An analyzer whose queue is a `RecordingQueue` over memory, and a batcher on it.
private struct BatcherFixture {
    let memory = InMemoryStorage()
    let queue: RecordingQueue
    let f: AnalyzerFixture
    let batcher: IntakeBatcher

    init(maxRecords: Int = 10_000, gatherWindow: Duration = .milliseconds(1), gatherTarget: Int = 32) throws {
        queue = RecordingQueue(memory)
        f = try AnalyzerFixture(memory: memory, storage: Storage(tokens: memory, events: memory, queue: queue, outbox: memory))
        let counter = UnsafeSendableCounter()
        batcher = IntakeBatcher(analyzer: f.analyzer, maxRecords: maxRecords, gatherWindow: gatherWindow,
                                gatherTarget: gatherTarget, onStored: { counter.add() })
        storedBatches = counter
    }

    let storedBatches: UnsafeSendableCounter

    func intake(_ count: Int, vendor: String = "github") -> PreparedIntake {
        // Well-formed tokens we never issued: each becomes a queued job.
        let tokens = (0..<count).map { _ in f.minter.mint(caveats: ["{\"version\": 1, \"permissions\": \"user\"}"]).value }
        return f.analyzer.prepare(vendor: vendor, disclosures: tokens.map { f.disclosure($0) }, at: f.t0)
    }
}

final class UnsafeSendableCounter: Sendable {
    private let value = Atomic<Int>(0)
    func add() { value.add(1, ordering: .relaxed) }
    var count: Int { value.load(ordering: .relaxed) }
}

/// Submits from `threads` threads at once, `perThread` reports each, and collects every completion.
private func submitConcurrently(_ fixture: BatcherFixture, threads: Int, perThread: Int, items: Int = 1)
    -> [Result<[AcceptedDisclosure], any Error>] {
    let results = Mutex<[Result<[AcceptedDisclosure], any Error>]>([])
    let group = DispatchGroup()
    for _ in 0..<threads {
        group.enter()
        Thread {
            let done = DispatchGroup()
            for _ in 0..<perThread {
                done.enter()
                fixture.batcher.submit(fixture.intake(items)) { result in
                    results.withLock { $0.append(result) }
                    done.leave()
                }
            }
            done.wait()
            group.leave()
        }.start()
    }
    group.wait()
    return results.withLock { $0 }
}

@Suite("IntakeBatcher: many reports, few transactions")
struct IntakeBatcherTests {
    @Test("concurrent reports are all stored, each completion gets its own records, in fewer transactions than reports")
    func joinsConcurrentReports() throws {
        let b = try BatcherFixture()
        b.queue.setAcceptDelay(.milliseconds(2))  // a commit takes a while: reports pile up behind it
        b.batcher.start()
        defer { b.batcher.stop() }
        let results = submitConcurrently(b, threads: 8, perThread: 25, items: 2)
        #expect(results.count == 200)
        var ids = Set<Int64>()
        for result in results {
            let accepted = try result.get()
            #expect(accepted.count == 2)
            #expect(accepted.allSatisfy { $0.record.vendor == "github" && $0.record.id != nil && $0.isQueued })
            for item in accepted { ids.insert(item.record.id!) }
        }
        #expect(ids.count == 400, "every record stored once, with its own id")
        #expect(try b.f.storage.queue.pendingJobCount() == 400)
        let calls = b.queue.acceptCalls
        #expect(calls.reduce(0, +) == 400)
        #expect(calls.count < 200, "some reports shared a transaction (\(calls.count) transactions)")
        #expect(b.batcher.batchCount == calls.count)
        // onStored runs right after a batch's completions: the last one may still be on its way.
        #expect(eventually(timeout: .seconds(5)) { b.storedBatches.count == calls.count }, "onStored after every committed batch")
    }

    @Test("a batch holds at most maxRecords records, but a larger single report still goes, alone")
    func batchLimit() throws {
        let b = try BatcherFixture(maxRecords: 10)
        b.queue.setAcceptDelay(.milliseconds(5))
        b.batcher.start()
        defer { b.batcher.stop() }
        let results = submitConcurrently(b, threads: 4, perThread: 10, items: 3)
        #expect(results.allSatisfy { (try? $0.get().count) == 3 })
        #expect(b.queue.acceptCalls.allSatisfy { $0 <= 10 })
        let big = try b.batcher.accept(b.intake(25))
        #expect(big.count == 25)
        #expect(b.queue.acceptCalls.last == 25)
    }

    @Test("a failed transaction fails every report in it, stores none of them, and the next batch works")
    func failureFailsTheBatch() throws {
        let b = try BatcherFixture()
        b.batcher.start()
        defer { b.batcher.stop() }
        b.queue.failNextAccept()
        #expect(throws: StoreError.self) { try b.batcher.accept(b.intake(3)) }
        #expect(try b.f.storage.queue.pendingJobCount() == 0)
        #expect(b.f.metrics.counter("disclosures_accept_failed_total", ["vendor": "github"]) == 1)
        #expect(try b.batcher.accept(b.intake(2)).count == 2)
        #expect(try b.f.storage.queue.pendingJobCount() == 2)
    }

    @Test("stop stores everything already submitted before it returns; later reports are stored inline")
    func stopDrains() throws {
        let b = try BatcherFixture()
        b.queue.setAcceptDelay(.milliseconds(10))
        b.batcher.start()
        let completed = Atomic<Int>(0)
        for _ in 0..<20 {
            b.batcher.submit(b.intake(1)) { result in
                if case .success = result { completed.add(1, ordering: .relaxed) }
            }
        }
        b.batcher.stop()
        #expect(completed.load(ordering: .relaxed) == 20)
        #expect(try b.f.storage.queue.pendingJobCount() == 20)
        // After stop: stored on the caller's thread, the completion runs before submit returns.
        let inline = Atomic<Bool>(false)
        b.batcher.submit(b.intake(1)) { result in
            if case .success = result { inline.store(true, ordering: .relaxed) }
        }
        let wasInline = inline.load(ordering: .relaxed)
        #expect(wasInline)
        #expect(try b.f.storage.queue.pendingJobCount() == 21)
    }

    @Test("not started: accept stores on the calling thread")
    func notStarted() throws {
        let b = try BatcherFixture()
        let accepted = try b.batcher.accept(b.intake(4))
        #expect(accepted.count == 4)
        #expect(b.batcher.batchCount == 0)
        #expect(b.storedBatches.count == 1)
        b.batcher.stop()
    }

    @Test("store keeps each report's vendor, metrics and classification when reports of two vendors share a transaction")
    func mixedVendors() throws {
        let b = try BatcherFixture()
        let one = b.intake(2, vendor: "github")
        var two = b.f.analyzer.prepare(vendor: "gitlab", disclosures: [
            Disclosure(token: nil, type: "", url: "", problem: "item is not an object"),
        ], at: b.f.t0)
        two.records[0].url = "https://gitlab.example/x"
        let results = try b.f.analyzer.store([one, two])
        #expect(results.map(\.count) == [2, 1])
        #expect(results[0].allSatisfy { $0.record.vendor == "github" && $0.isQueued })
        #expect(results[1][0].record.vendor == "gitlab")
        #expect(results[1][0].record.outcome == .invalidFormat)
        #expect(b.queue.acceptCalls == [3])
        #expect(b.f.metrics.counter("disclosures_received_total", ["vendor": "github"]) == 2)
        #expect(b.f.metrics.counter("disclosures_received_total", ["vendor": "gitlab"]) == 1)
        #expect(b.f.metrics.counter("disclosures_outcome_total", ["vendor": "gitlab", "outcome": "invalid_format"]) == 1)
    }
}

/// Submits one report and answers a flag set by its completion (successful or not).
private func submitFlagged(_ b: BatcherFixture, arrived: Bool) -> UnsafeSendableCounter {
    let done = UnsafeSendableCounter()
    b.batcher.submit(b.intake(1), arrived: arrived) { _ in done.add() }
    return done
}

/// Announces two reports and submits the first: the writer, its window long, waits for the second. Answers
/// the first's completion flag once `pause` passed without it running.
private func oneQueuedOneArriving(_ b: BatcherFixture, pause: TimeInterval = 0.1,
                                  sourceLocation: SourceLocation = #_sourceLocation) -> UnsafeSendableCounter {
    b.batcher.reportArriving()  // the first report
    b.batcher.reportArriving()  // the second, still being verified
    let first = submitFlagged(b, arrived: true)
    #expect(b.batcher.arrivingCount == 1, sourceLocation: sourceLocation)
    Thread.sleep(forTimeInterval: pause)
    #expect(first.count == 0, "not stored while the second is on its way", sourceLocation: sourceLocation)
    return first
}

/// Group commit: the writer waits for reports announced as arriving. The windows here are long (tens of
/// seconds), so a test that finishes shows the wait ended for its reason, not at the window.
@Suite("IntakeBatcher: group commit waits for reports on their way")
struct IntakeBatcherGatherTests {
    @Test("a report that is the only one on its way is stored at once, however long the window")
    func loneReportDoesNotWait() throws {
        let b = try BatcherFixture(gatherWindow: .seconds(60))
        b.batcher.start()
        defer { b.batcher.stop() }
        for _ in 0..<3 {
            b.batcher.reportArriving()
            #expect(try b.batcher.accept(b.intake(1), arrived: true).count == 1)
        }
        #expect(b.queue.acceptCalls == [1, 1, 1])
        #expect(b.batcher.arrivingCount == 0)
    }

    @Test("the writer waits for a report still arriving and commits it with the one queued before it")
    func waitsForArrivingReport() throws {
        let b = try BatcherFixture(gatherWindow: .seconds(60))
        b.batcher.start()
        defer { b.batcher.stop() }
        let first = oneQueuedOneArriving(b, pause: 0.2)
        #expect(b.queue.acceptCalls.isEmpty)
        let second = submitFlagged(b, arrived: true)
        #expect(eventually(timeout: .seconds(10)) { first.count == 1 && second.count == 1 })
        #expect(b.queue.acceptCalls == [2], "both reports in one transaction")
        #expect(b.batcher.arrivingCount == 0)
    }

    @Test("a report called off (failed verification) ends the wait for it")
    func calledOffEndsTheWait() throws {
        let b = try BatcherFixture(gatherWindow: .seconds(60))
        b.batcher.start()
        defer { b.batcher.stop() }
        let first = oneQueuedOneArriving(b)
        b.batcher.reportNotComing()
        #expect(eventually(timeout: .seconds(10)) { first.count == 1 })
        #expect(b.queue.acceptCalls == [1])
        #expect(b.batcher.arrivingCount == 0)
    }

    @Test("the wait ends once gatherTarget reports are queued, even with more on their way")
    func targetEndsTheWait() throws {
        let b = try BatcherFixture(gatherWindow: .seconds(60), gatherTarget: 3)
        b.batcher.start()
        defer { b.batcher.stop() }
        for _ in 0..<10 { b.batcher.reportArriving() }
        let flags = (0..<3).map { _ in submitFlagged(b, arrived: true) }
        #expect(eventually(timeout: .seconds(10)) { flags.allSatisfy { $0.count == 1 } })
        #expect(b.queue.acceptCalls == [3])
        #expect(b.batcher.arrivingCount == 7)
        for _ in 0..<7 { b.batcher.reportNotComing() }
        #expect(b.batcher.arrivingCount == 0)
    }

    @Test("the wait ends at the window when an announced report never comes")
    func windowEndsTheWait() throws {
        let b = try BatcherFixture(gatherWindow: .milliseconds(50))
        b.batcher.start()
        defer { b.batcher.stop() }
        b.batcher.reportArriving()  // never submitted nor called off
        b.batcher.reportArriving()
        #expect(try b.batcher.accept(b.intake(2), arrived: true).count == 2)
        #expect(try b.batcher.accept(b.intake(1)).count == 1)
        #expect(b.queue.acceptCalls == [2, 1])
        #expect(b.batcher.arrivingCount == 1)
    }

    @Test("stop while the writer waits stores what is queued before it returns")
    func stopWhileWaiting() throws {
        let b = try BatcherFixture(gatherWindow: .seconds(60))
        b.batcher.start()
        let first = oneQueuedOneArriving(b)
        b.batcher.stop()
        #expect(first.count == 1)
        #expect(try b.f.storage.queue.pendingJobCount() == 1)
    }

    @Test("a zero window never waits")
    func zeroWindow() throws {
        let b = try BatcherFixture(gatherWindow: .zero)
        b.batcher.start()
        defer { b.batcher.stop() }
        b.batcher.reportArriving()
        b.batcher.reportArriving()
        #expect(try b.batcher.accept(b.intake(1), arrived: true).count == 1)
        #expect(b.queue.acceptCalls == [1])
    }
}
