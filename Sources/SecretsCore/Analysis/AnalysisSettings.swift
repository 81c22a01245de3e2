import Foundation

/// How the owner's mail is addressed and signed.
public struct MailSettings: Sendable, Equatable {
    /// The sender address (`security@example.org`).
    public var from: String
    /// The service's name as the mail shows it (`tokenscan`, `PyPI`).
    public var siteName: String
    /// A page with more help, shown at the end of the mail when set.
    public var helpURL: String?

    public init(from: String, siteName: String = "tokenscan", helpURL: String? = nil) {
        self.from = from
        self.siteName = siteName
        self.helpURL = helpURL
    }

    /// The right-hand side of generated Message-IDs: the sender's domain, or `tokenscan`.
    var messageIDDomain: String {
        let parts = from.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, let domain = parts.last, !domain.isEmpty,
              domain.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: ">") && $0 != UInt8(ascii: "<") })
        else { return "tokenscan" }
        return String(domain)
    }
}

/// Retries of disclosure jobs and mail, and the lease a worker holds a claimed item under.
public struct RetryPolicy: Sendable, Equatable {
    /// Claims of one disclosure job before it ends as `error` (mail is retried without limit). Default 8.
    public var maxAttempts: Int
    /// The delay after the first failure; it doubles after each further one. Default 1 s.
    public var backoffBase: Duration
    /// The longest delay. Default 5 min.
    public var backoffCap: Duration
    /// How long a claimed job or mail stays with its worker before another may take it. Default 60 s.
    public var lease: Duration

    public init(maxAttempts: Int = 8, backoffBase: Duration = .seconds(1), backoffCap: Duration = .seconds(300),
                lease: Duration = .seconds(60)) {
        self.maxAttempts = maxAttempts
        self.backoffBase = backoffBase
        self.backoffCap = backoffCap
        self.lease = lease
    }

    /// The delay before trying again after failed attempt number `attempt` (1-based):
    /// `backoffBase × 2^(attempt−1)`, at most `backoffCap`.
    public func delay(afterAttempt attempt: Int) -> Duration {
        let base = backoffBase.asTimeInterval, cap = backoffCap.asTimeInterval
        let exponent = Double(min(max(attempt, 1) - 1, 62))
        let seconds = min(base * pow(2, exponent), cap)
        return .milliseconds(Int64((max(seconds, 0) * 1000).rounded()))
    }
}

extension Duration {
    /// The duration in seconds, as `Date` arithmetic takes it.
    var asTimeInterval: TimeInterval {
        let parts = components
        return TimeInterval(parts.seconds) + TimeInterval(parts.attoseconds) / 1e18
    }
}
