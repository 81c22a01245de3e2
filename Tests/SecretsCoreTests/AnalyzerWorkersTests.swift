import Foundation
import Glibc
import Synchronization
import Testing
@testable import SecretsCore

@Suite("AnalysisWorkers: threads that process jobs and mail")
struct AnalyzerWorkersTests {
    @Test("five reports of one token on four disclosure workers: revoked once, mailed once, four duplicates")
    func concurrentWorkers() throws {
        let f = try AnalyzerFixture()
        let token = try f.issue()
        let workers = AnalysisWorkers(analyzer: f.analyzer, mailSink: f.sink,
                                      settings: WorkerSettings(disclosureWorkers: 4, mailWorkers: 2, batchSize: 1,
                                                               pollInterval: .milliseconds(20)))
        workers.start()
        _ = try f.analyzer.accept(vendor: "github", disclosures: (0..<5).map { _ in f.disclosure(token.value) }, at: Date())
        workers.wake()
        let done = try eventually {
            try f.storage.queue.pendingJobCount() == 0 && f.storage.outbox.pendingMailCount() == 0 && f.sink.delivered.count == 1
        }
        #expect(done)
        #expect(workers.stop())
        let outcomes = try f.storage.queue.disclosures(user: "alice").compactMap(\.outcome)
        #expect(outcomes.filter { $0 == .revoked }.count == 1)
        #expect(outcomes.filter { $0 == .duplicate }.count == 4)
        #expect(f.sink.delivered.count == 1)
        #expect(try f.storage.events.events(user: nil).map(\.tag) == [SecurityEventTag.tokenRemovedLeak, SecurityEventTag.emailSent])
        #expect(f.metrics.counter("disclosures_outcome_total", ["vendor": "github", "outcome": "duplicate"]) == 4)
        try f.expectNoRawToken()
    }

    @Test("wake() gets work done long before the poll interval, and stop() does not wait for it either")
    func wakeAndStop() throws {
        let f = try AnalyzerFixture()
        let token = try f.issue()
        let workers = AnalysisWorkers(analyzer: f.analyzer, mailSink: f.sink,
                                      settings: WorkerSettings(pollInterval: .seconds(60), stopTimeout: .seconds(5)))
        workers.start()
        workers.start()
        // Let the workers find nothing and go to sleep for the long poll interval.
        Thread.sleep(forTimeInterval: 0.2)
        let started = ContinuousClock.now
        _ = try f.analyzer.accept(vendor: "github", disclosures: [f.disclosure(token.value)], at: Date())
        workers.wake()
        #expect(eventually(timeout: .seconds(5)) { f.sink.delivered.count == 1 })
        #expect(ContinuousClock.now - started < .seconds(5))
        let stopping = ContinuousClock.now
        #expect(workers.stop())
        #expect(ContinuousClock.now - stopping < .seconds(2))
        #expect(workers.stop())
    }

    @Test("the worker threads run at the configured nice value; the calling thread keeps its own", arguments: [3, 7])
    func workersAreNiced(niceness: Int) throws {
        // Values no other test's workers use (the default is 10): tests run in parallel in this process.
        let f = try AnalyzerFixture()
        let workers = AnalysisWorkers(analyzer: f.analyzer, mailSink: f.sink,
                                      settings: WorkerSettings(disclosureWorkers: 2, mailWorkers: 1, niceness: niceness))
        workers.start()
        #expect(eventually(timeout: .seconds(5)) { Self.niceValues().filter { $0 == niceness }.count >= 3 })
        #expect(getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0) == 0)
        #expect(workers.stop())
        #expect(eventually(timeout: .seconds(5)) { Self.niceValues().filter { $0 == niceness }.count < 3 })
    }

    /// The nice value of every thread of this process (field 19 of /proc/self/task/*/stat).
    static func niceValues() -> [Int] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.compactMap { task in
            guard let stat = try? String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 16 ? Int(fields[16]) : nil
        }
    }

    @Test("many tokens across many workers: every job done exactly once")
    func manyTokens() throws {
        let f = try AnalyzerFixture()
        let tokens = try (0..<40).map { try f.issue(user: "user\($0)", email: "user\($0)@example.org") }
        let workers = AnalysisWorkers(analyzer: f.analyzer, mailSink: f.sink,
                                      settings: WorkerSettings(disclosureWorkers: 3, mailWorkers: 2, batchSize: 4,
                                                               pollInterval: .milliseconds(10)))
        workers.start()
        for chunk in stride(from: 0, to: tokens.count, by: 8) {
            _ = try f.analyzer.accept(vendor: "github", disclosures: tokens[chunk ..< chunk + 8].map { f.disclosure($0.value) }, at: Date())
            workers.wake()
        }
        #expect(eventually { f.sink.delivered.count == 40 })
        #expect(workers.stop())
        #expect(Set(f.sink.delivered.map(\.messageID)).count == 40)
        #expect(f.metrics.counter("tokens_revoked_total", ["vendor": "github"]) == 40)
        #expect(f.metrics.total("mails_sent_total") == 40)
        #expect(try f.storage.events.events(user: nil).count == 80)
    }

    @Test("workers never started stop at once")
    func stopWithoutStart() throws {
        let f = try AnalyzerFixture()
        let workers = AnalysisWorkers(analyzer: f.analyzer, mailSink: f.sink)
        #expect(workers.stop())
        workers.start()
        #expect(workers.stop())
    }
}

@Suite("Background pause and CPU pressure")
struct BackgroundPauseTests {
    @Test("a worker asks for its pause after every batch and waits it out; the jobs still all get done")
    func pausesBetweenBatches() throws {
        let f = try AnalyzerFixture()
        for _ in 0..<6 {
            let token = try f.issue()
            _ = try f.analyzer.accept(vendor: "github", disclosures: [f.disclosure(token.value)], at: Date())
        }
        let asked = Atomic<Int>(0)
        let workers = AnalysisWorkers(analyzer: f.analyzer, mailSink: f.sink,
                                      settings: WorkerSettings(disclosureWorkers: 1, mailWorkers: 1, batchSize: 2),
                                      backgroundPause: {
                                          asked.add(1, ordering: .relaxed)
                                          return .milliseconds(60)
                                      })
        let started = ContinuousClock.now
        workers.start()
        #expect(eventually(timeout: .seconds(10)) { f.sink.delivered.count == 6 })
        let took = ContinuousClock.now - started
        #expect(workers.stop())
        // Three batches of two jobs: a pause after each of the first two at least.
        #expect(took >= .milliseconds(120))
        #expect(asked.load(ordering: .relaxed) >= 3)
        #expect(try f.storage.queue.pendingJobCount() == 0)
    }

    @Test("stop does not wait for a pause to end")
    func stopCutsThePause() throws {
        let f = try AnalyzerFixture()
        let token = try f.issue()
        _ = try f.analyzer.accept(vendor: "github", disclosures: [f.disclosure(token.value)], at: Date())
        let workers = AnalysisWorkers(analyzer: f.analyzer, mailSink: f.sink,
                                      settings: WorkerSettings(disclosureWorkers: 1, mailWorkers: 1),
                                      backgroundPause: { .seconds(30) })
        workers.start()
        #expect(eventually(timeout: .seconds(10)) { f.sink.delivered.count == 1 })
        let stopping = ContinuousClock.now
        #expect(workers.stop())
        #expect(ContinuousClock.now - stopping < .seconds(2))
    }

    @Test("the PSI total is read from the some line")
    func parsesPressure() {
        let text = "some avg10=1.46 avg60=19.25 avg300=29.00 total=3967821789\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
        #expect(CPUPressure.parseSomeTotal(text) == 3_967_821_789)
        #expect(CPUPressure.parseSomeTotal("full avg10=0.00 total=5\n") == nil)
        #expect(CPUPressure.parseSomeTotal("some avg10=1 total=x") == nil)
    }

    @Test("the stalled share follows the file between readings; no file, no pressure object")
    func shareFromTheFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("psi-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(CPUPressure(path: path) == nil)
        try Data("some avg10=0 avg60=0 avg300=0 total=1000\n".utf8).write(to: URL(fileURLWithPath: path))
        let pressure = try #require(CPUPressure(path: path, minimumInterval: .milliseconds(50)))
        let started = ContinuousClock.now
        Thread.sleep(forTimeInterval: 0.1)
        // Stalled for far more than the time that passed: capped at 1.
        try Data("some avg10=0 avg60=0 avg300=0 total=10001000\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(pressure.stalledShare() == 1)
        // Too soon for a new reading: the last share.
        try Data("some avg10=0 avg60=0 avg300=0 total=10001000\n".utf8).write(to: URL(fileURLWithPath: path))
        if ContinuousClock.now - started < .milliseconds(140) { #expect(pressure.stalledShare() == 1) }
        Thread.sleep(forTimeInterval: 0.1)
        #expect(pressure.stalledShare() == 0)  // nothing stalled since
    }
}

@Suite("WorkSignal: wakes, pauses, stop")
struct WorkSignalTests {
    /// Runs `body` on a thread of its own; the flag says when it returned.
    private func onThread(_ body: @escaping @Sendable () -> Void) -> UnsafeSendableCounter {
        let returned = UnsafeSendableCounter()
        Thread {
            body()
            returned.add()
        }.start()
        return returned
    }

    @Test("a wake ends a wait for work, and a wake before the wait is not lost")
    func wakeEndsWait() {
        let signal = WorkSignal()
        let generation = signal.generation
        let returned = onThread { signal.wait(unlessGenerationChangedFrom: generation, timeout: .seconds(60)) }
        Thread.sleep(forTimeInterval: 0.05)
        #expect(returned.count == 0)
        signal.wake()
        #expect(eventually(timeout: .seconds(10)) { returned.count == 1 })
        // Woken already since `generation`: returns at once.
        let again = onThread { signal.wait(unlessGenerationChangedFrom: generation, timeout: .seconds(60)) }
        #expect(eventually(timeout: .seconds(10)) { again.count == 1 })
    }

    @Test("wakes do not cut a worker's pause short; stop does")
    func wakeDoesNotEndPause() {
        let signal = WorkSignal()
        let returned = onThread { signal.sleepUnlessStopped(.seconds(60)) }
        for _ in 0..<100 { signal.wake() }
        Thread.sleep(forTimeInterval: 0.1)
        #expect(returned.count == 0)
        signal.stop()
        #expect(eventually(timeout: .seconds(10)) { returned.count == 1 })
        #expect(signal.isStopped)
    }

    @Test("stop ends a wait for work, and waitForZero sees the counter reach zero")
    func stopAndCounter() {
        let signal = WorkSignal()
        let returned = onThread { signal.wait(unlessGenerationChangedFrom: signal.generation, timeout: .seconds(60)) }
        signal.stop()
        #expect(eventually(timeout: .seconds(10)) { returned.count == 1 })
        let counter = WorkSignal()
        counter.add(2)
        #expect(!counter.waitForZero(timeout: .milliseconds(20)))
        Thread { counter.add(-1); counter.add(-1) }.start()
        #expect(counter.waitForZero(timeout: .seconds(10)))
    }
}
