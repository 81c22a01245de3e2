import Foundation
import Synchronization

/// How contended the CPUs are, from Linux's pressure stall information (`/proc/pressure/cpu`): the share
/// of wall time in which at least one runnable task waited for a CPU, between two readings.
///
/// Readings are taken at most every `minimumInterval` (the file is read then, a few microseconds); calls
/// in between answer the last share. Unavailable (no PSI in this kernel, or not Linux): `init` answers nil.
public final class CPUPressure: Sendable {
    public let path: String
    public let minimumInterval: Duration
    private let state: Mutex<State>

    private struct State {
        var at: ContinuousClock.Instant
        var stalledMicroseconds: UInt64
        var share: Double = 0
    }

    public init?(path: String = "/proc/pressure/cpu", minimumInterval: Duration = .milliseconds(20)) {
        guard let total = Self.readSomeTotal(path) else { return nil }
        self.path = path
        self.minimumInterval = minimumInterval
        state = Mutex(State(at: .now, stalledMicroseconds: total))
    }

    /// The share (0…1) of the time since the previous reading in which some task waited for a CPU.
    public func stalledShare() -> Double {
        let now = ContinuousClock.now
        return state.withLock { state in
            let elapsed = now - state.at
            guard elapsed >= minimumInterval, let total = Self.readSomeTotal(path) else { return state.share }
            let stalled = Double(total &- state.stalledMicroseconds) / 1_000_000
            state.share = min(1, max(0, stalled / (elapsed / .seconds(1))))
            state.at = now
            state.stalledMicroseconds = total
            return state.share
        }
    }

    /// The `total=` of the `some` line (microseconds stalled since boot), or nil when unreadable.
    static func readSomeTotal(_ path: String) -> UInt64? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return parseSomeTotal(String(decoding: data, as: UTF8.self))
    }

    /// `some avg10=1.46 avg60=19.25 avg300=29.00 total=3967821789` → 3967821789.
    static func parseSomeTotal(_ text: String) -> UInt64? {
        for line in text.split(separator: "\n") where line.hasPrefix("some ") {
            for field in line.split(separator: " ") where field.hasPrefix("total=") {
                return UInt64(field.dropFirst("total=".count))
            }
        }
        return nil
    }
}
