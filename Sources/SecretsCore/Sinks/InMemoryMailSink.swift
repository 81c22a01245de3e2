import Synchronization

/// Keeps delivered mail in memory, idempotent per `messageID`; can be told to fail, to test retries.
public final class InMemoryMailSink: MailSink {
    private struct State {
        var delivered: [MailMessage] = []
        var ids: Set<String> = []
        var failing = false
        var attempts = 0
    }
    private let state = Mutex(State())

    public init() {}

    /// The error a failing sink throws.
    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String { "mail sink unavailable" }
    }

    public func send(_ message: MailMessage) throws {
        try state.withLock { s throws(Unavailable) in
            s.attempts += 1
            if s.failing { throw Unavailable() }
            guard s.ids.insert(message.messageID).inserted else { return }
            s.delivered.append(message)
        }
    }

    /// While true, every `send` throws and delivers nothing.
    public func setFailing(_ failing: Bool) {
        state.withLock { $0.failing = failing }
    }

    /// Delivered messages, in delivery order, one per message id.
    public var delivered: [MailMessage] { state.withLock { $0.delivered } }

    /// Calls to `send`, failed ones included.
    public var sendAttempts: Int { state.withLock { $0.attempts } }
}
