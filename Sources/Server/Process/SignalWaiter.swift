import Glibc

/// Turns the signals that ask the process to stop (SIGTERM, SIGINT) into an ordinary blocking call.
///
/// `tokenscan serve` calls `blockTermination()` first thing in `main`, starts the server, then parks its
/// main thread in `wait()` and shuts down gracefully when it returns. No signal handler runs: the
/// signals stay pending, blocked in every thread, until `sigwait(2)` takes one.
public enum SignalWaiter {
    /// A signal asking the process to stop.
    public enum Termination: Sendable, Equatable, CustomStringConvertible {
        /// SIGTERM: the service manager or orchestrator stops us.
        case terminate
        /// SIGINT: Ctrl-C at a terminal.
        case interrupt

        public var signalNumber: Int32 {
            switch self {
            case .terminate: SIGTERM
            case .interrupt: SIGINT
            }
        }

        public var description: String {
            switch self {
            case .terminate: "SIGTERM"
            case .interrupt: "SIGINT"
            }
        }
    }

    /// Blocks SIGTERM and SIGINT in the calling thread. Threads created afterwards inherit the mask, so
    /// call it before any thread exists (libmicrohttpd's pool, workers, Dispatch, Swift concurrency):
    /// a thread that does not block them would take the default action, ending the process at once.
    /// Calling it again does no harm.
    public static func blockTermination() {
        var set = terminationSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Unblocks SIGTERM and SIGINT in the calling thread (their default action applies again).
    public static func unblockTermination() {
        var set = terminationSet()
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// Blocks the calling thread until SIGTERM or SIGINT is delivered, and returns which. The signals
    /// must be blocked, see `blockTermination()`. A signal sent before the call is returned at once.
    public static func wait() -> Termination {
        var set = terminationSet()
        while true {
            var number: Int32 = 0
            // sigwait only fails (EINVAL) for a set it cannot wait on, which ours is not; retry regardless.
            if sigwait(&set, &number) == 0 {
                if number == SIGINT { return .interrupt }
                if number == SIGTERM { return .terminate }
            }
        }
    }

    private static func terminationSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        return set
    }
}
