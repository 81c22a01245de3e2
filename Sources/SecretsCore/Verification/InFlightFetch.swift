import Foundation

/// A one-shot completion signal for the single key fetch in flight: the fetching thread calls
/// `complete()`, every other thread that needs the result calls `wait(until:)`.
///
/// `@unchecked Sendable`: `done` is read and written only while `condition` is locked.
final class InFlightFetch: @unchecked Sendable {
    private let condition = NSCondition()
    private var done = false

    func complete() {
        condition.lock()
        done = true
        condition.broadcast()
        condition.unlock()
    }

    /// Waits for `complete()` or `deadline` (whichever comes first); answers whether it completed.
    @discardableResult
    func wait(timeout: Duration) -> Bool {
        let (seconds, attoseconds) = timeout.components
        let deadline = Date(timeIntervalSinceNow: Double(seconds) + Double(attoseconds) / 1e18)
        condition.lock()
        defer { condition.unlock() }
        while !done {
            if !condition.wait(until: deadline) { return done }
        }
        return true
    }
}
