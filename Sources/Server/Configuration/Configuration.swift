import Foundation
import SecretsCore
import Sinks

/// The whole configuration of one tokenscan instance, decoded from one JSON file.
///
/// Every key has a documented default (see `docs/configuration.md`), so a file with only `vendors`
/// works. Relative paths resolve against the folder of the file.
public struct Configuration: Sendable {
    /// Where the receiver listens (`host:port`). Default `127.0.0.1:8000`.
    public var listen: ListenAddress = ListenAddress(host: "127.0.0.1", port: 8000)
    public var database: DatabaseConfiguration = .sqlite(path: "tokenscan.sqlite3", durability: .process)
    public var mail: MailConfiguration = MailConfiguration()
    /// The vendors, in file order; turned into verifiers by the vendor catalog at assembly.
    public var vendors: [VendorConfiguration] = []
    public var tokenTypes: [TokenTypeEntry] = [.pypi(name: "pypi_api_token", location: "pypi.org")]
    public var limits: Limits = Limits()
    public var server: ServerSettings = ServerSettings()
    public var workers: WorkerSettings = WorkerSettings()
    public var retry: RetryPolicy = RetryPolicy()
    public var metrics: MetricsSettings = MetricsSettings()
    public var logLevel: Logger.Level = .info
    /// The folder relative paths resolve against (the configuration file's folder).
    public var baseDirectory: String = FileManager.default.currentDirectoryPath

    public init() {}

    /// Resolves `path` against the configuration file's folder.
    public func resolve(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return (baseDirectory as NSString).appendingPathComponent(path)
    }
}

public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`, `[v6]:port` or `:port` (all interfaces).
    static func parse(_ text: String) -> ListenAddress? {
        let host: Substring, port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        }
        guard let p = Int(port), (0...65535).contains(p) else { return nil }
        return ListenAddress(host: host.isEmpty ? "0.0.0.0" : String(host), port: p)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

public enum DatabaseConfiguration: Sendable, Equatable {
    case sqlite(path: String, durability: SQLiteOptions.Durability)
    case postgresql(url: String)
}

public struct MailConfiguration: Sendable {
    public enum Transport: String, Sendable, CaseIterable { case maildir, smtp, smtps }

    public var transport: Transport = .maildir
    /// Maildir folder (maildir transport). Default `mail`.
    public var path: String = "mail"
    /// The sender address of every mail.
    public var from: String = "security@localhost"
    /// The site name used in mail text. Default `tokenscan`.
    public var siteName: String = "tokenscan"
    /// `smtp://host:port` or `smtps://host:port` (SMTP transports).
    public var url: String?
    public var username: String?
    public var password: String?
    public var startTLS: SMTPConfiguration.StartTLS = .opportunistic
    /// Accept an SMTP server's self-signed certificate (testing only).
    public var insecureSkipVerify: Bool = false
    public var caFile: String?
    public var connectTimeoutMilliseconds: Int = 5_000
    public var timeoutMilliseconds: Int = 30_000

    public init() {}
}

public enum TokenTypeEntry: Sendable, Equatable {
    case pypi(name: String, location: String)
    case prefixed(name: String, prefix: String, checksum: String)

    public var name: String {
        switch self {
        case .pypi(let name, _), .prefixed(let name, _, _): name
        }
    }
}

public struct Limits: Sendable {
    /// Largest request body accepted; larger is `413`. Default 8 MiB.
    public var maxBodyBytes: Int = 8 * 1024 * 1024
    /// Most items in one report; more is `413`. Default 10,000.
    public var maxItems: Int = 10_000
    /// Longest token (UTF-8 bytes); longer items are `invalid_format`. Default 4,096.
    public var maxTokenLength: Int = 4_096
}

public struct ServerSettings: Sendable {
    /// HTTP pool threads. Default: the number of cores.
    public var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    public var connectionLimit: Int = 1_024
    /// A connection idle (or stalled) this long is closed. Default 10 s.
    public var connectionTimeoutSeconds: Int = 10
    /// How long SIGTERM waits for in-flight requests and current jobs. Default 10 s.
    public var shutdownGraceSeconds: Int = 10
    /// Group commit: how long, at most, the intake waits before a commit for reports still being
    /// verified (`IntakeBatcher.gatherWindow`). Default 1 ms; 0: never waits.
    public var commitWindowMicroseconds: Int = 1_000
}

public struct MetricsSettings: Sendable {
    /// `host:port` of a DogStatsD agent; nil: no StatsD.
    public var statsd: String?
    public var statsdPrefix: String = "tokenscan"
}
