import Foundation
import Glibc
@testable import Server
import Synchronization
import Testing

@Suite("HTTPServer shutdown: SignalWaiter")
struct HTTPServerSignalWaiterTests {
    /// Signals are sent to one waiting thread (`pthread_kill`), never to the process, so that a test
    /// thread that does not block them cannot take the default action and end the test run.
    @Test("wait() returns the termination signal sent to its (blocking) thread, SIGTERM then SIGINT")
    func waitsForSignals() throws {
        let thread = Mutex<pthread_t?>(nil)
        let received = Mutex<[SignalWaiter.Termination]>([])
        let done = Atomic<Bool>(false)
        let waiter = Thread {
            SignalWaiter.blockTermination()
            thread.withLock { $0 = pthread_self() }
            for _ in 0..<2 {
                let signal = SignalWaiter.wait()
                received.withLock { $0.append(signal) }
            }
            done.store(true, ordering: .releasing)
        }
        waiter.start()
        try waitUntil { thread.withLock { $0 } != nil }
        let target = try #require(thread.withLock { $0 })

        #expect(pthread_kill(target, SIGTERM) == 0)
        try waitUntil { received.withLock { $0.count } == 1 }
        #expect(pthread_kill(target, SIGINT) == 0)
        try waitUntil { done.load(ordering: .acquiring) }
        #expect(received.withLock { $0 } == [.terminate, .interrupt])
        #expect(SignalWaiter.Termination.terminate.signalNumber == SIGTERM)
        #expect("\(SignalWaiter.Termination.interrupt)" == "SIGINT")
    }

    @Test("a signal that arrived before wait() is not lost")
    func pendingSignal() throws {
        let received = Mutex<SignalWaiter.Termination?>(nil)
        let waiter = Thread {
            SignalWaiter.blockTermination()
            // Sent to ourselves while blocked: it stays pending until wait() takes it.
            pthread_kill(pthread_self(), SIGTERM)
            let signal = SignalWaiter.wait()
            received.withLock { $0 = signal }
        }
        waiter.start()
        try waitUntil { received.withLock { $0 } != nil }
        #expect(received.withLock { $0 } == .terminate)
    }
}
