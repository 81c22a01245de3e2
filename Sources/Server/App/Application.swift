import Foundation
import SecretsCore
import Sinks
import Vendors

/// One assembled tokenscan receiver: storage, vendors, the analyzer and its workers, metrics and the
/// HTTP server, built from a `Configuration`.
public final class Application: Sendable {
    public let configuration: Configuration
    public let storage: Storage
    public let vendors: VendorSet
    public let analyzer: DisclosureAnalyzer
    public let workers: AnalysisWorkers
    /// Joins concurrent reports' intake into shared transactions.
    public let intake: IntakeBatcher
    public let prometheus: PrometheusMetrics
    public let metrics: Metrics
    public let logger: Logger
    public let server: HTTPServer
    private let keyWarmer: KeyWarmer

    public init(configuration config: Configuration, logger: Logger) throws {
        self.configuration = config
        self.logger = logger
        storage = try Self.openStorage(config)
        do {
            vendors = try VendorCatalog.makeVendors(config.vendors)
        } catch {
            throw ConfigurationError(path: error.field, error.problem)
        }
        prometheus = PrometheusMetrics()
        var backends: [any MetricsBackend] = [prometheus]
        if let statsd = config.metrics.statsd, let address = ListenAddress.parse(statsd) {
            backends.append(try DogStatsDMetrics(host: address.host, port: address.port, prefix: config.metrics.statsdPrefix + "."))
        }
        metrics = backends.count == 1 ? Metrics(prometheus) : Metrics(MultiplexMetrics(backends))
        analyzer = DisclosureAnalyzer(storage: storage, tokenTypes: Self.tokenTypes(config),
                                      mail: MailSettings(from: config.mail.from, siteName: config.mail.siteName),
                                      metrics: metrics, logger: logger, retry: config.retry)
        var workerSettings = config.workers
        workerSettings.releaseLeasesOnStart = Self.isSingleProcessDatabase(config)
        let activity = IntakeActivity()
        workers = AnalysisWorkers(analyzer: analyzer, mailSink: try Self.mailSink(config), settings: workerSettings,
                                  backgroundPause: Self.backgroundPause(config, activity: activity))
        let health = HealthResponder(vendors: vendors, storage: storage, prometheus: prometheus)
        intake = IntakeBatcher(analyzer: analyzer, gatherWindow: .microseconds(config.server.commitWindowMicroseconds),
                               activity: activity, onStored: { [workers] in workers.wake() })
        let receiver = ReceiverResponder(vendors: vendors, intake: intake, health: health, metrics: metrics, logger: logger)
        server = HTTPServer(configuration: HTTPServerConfiguration(
            host: config.listen.host, port: config.listen.port, threadPoolSize: config.server.threads,
            connectionLimit: config.server.connectionLimit,
            connectionTimeout: .seconds(config.server.connectionTimeoutSeconds),
            maxBodyBytes: config.limits.maxBodyBytes), responder: receiver, logger: logger)
        keyWarmer = KeyWarmer(vendors: vendors, logger: logger)
    }

    /// Starts the workers, the key warmer and the HTTP server.
    public func start() throws {
        workers.start()
        intake.start()
        keyWarmer.start()
        try server.start()
        logger.info("listening", ["address": "\(configuration.listen.host):\(server.boundPort ?? configuration.listen.port)",
                                  "vendors": vendors.all.map(\.id).joined(separator: ",")])
    }

    /// Graceful stop: refuse new connections, let in-flight requests finish, let each worker finish
    /// its current job. Whatever is left stays queued for the next start.
    public func stop() {
        let grace = Duration.seconds(configuration.server.shutdownGraceSeconds)
        _ = server.stop(graceful: grace)
        intake.stop()
        keyWarmer.stop()
        _ = workers.stop()
        logger.info("stopped", [:])
    }

    // MARK: Assembly helpers, shared with the command line

    /// Niced workers are background work: their nice value keeps their own CPU from the request threads,
    /// but their database writes run on the writer at full priority. So while reports keep coming in
    /// (one in the last 100 ms) and some task waited for a CPU more than half the time since the last
    /// look (`CPUPressure`), a worker pauses 50 ms after each batch: a burst is acknowledged first, and
    /// the workers still make progress (a batch per worker every 50 ms at least) and run free when the
    /// burst ends or the CPUs have room. None without pressure information or at nice 0.
    static func backgroundPause(_ config: Configuration, activity: IntakeActivity) -> (@Sendable () -> Duration)? {
        guard config.workers.niceness > 0, let pressure = CPUPressure() else { return nil }
        return {
            activity.receivedReports(within: .milliseconds(100)) && pressure.stalledShare() > 0.5 ? .milliseconds(50) : .zero
        }
    }

    static func isSingleProcessDatabase(_ config: Configuration) -> Bool {
        if case .sqlite = config.database { return true }
        return false
    }

    /// Opens (creating and migrating) the configured database.
    public static func openStorage(_ config: Configuration) throws -> Storage {
        switch config.database {
        case .sqlite(let path, let durability):
            return try SQLiteStorage.open(path: config.resolve(path), options: SQLiteOptions(durability: durability)).storage
        case .postgresql(let url):
            // One connection per thread that may hold one at once: the HTTP pool (accept) and the workers.
            // Connections open lazily, so a CLI command uses one. Leases are never released at start
            // (`isSingleProcessDatabase` is false): other instances may hold them.
            let workers = config.workers.disclosureWorkers + config.workers.mailWorkers
            return try PostgreSQLStorage.open(url: url, poolSize: max(2, config.server.threads + workers)).storage
        }
    }

    public static func tokenTypes(_ config: Configuration) -> TokenTypeRegistry {
        TokenTypeRegistry(config.tokenTypes.map { entry -> any TokenType in
            switch entry {
            case .pypi(let name, _):
                return PyPITokenType(name: name, maxLength: config.limits.maxTokenLength)
            case .prefixed(let name, let prefix, let checksum):
                return PrefixedTokenType(name: name, prefix: prefix,
                                         checksum: PrefixedTokenType.Checksum(rawValue: checksum) ?? .none,
                                         maxLength: config.limits.maxTokenLength)
            }
        })
    }

    public static func mailSink(_ config: Configuration) throws -> any MailSink {
        switch config.mail.transport {
        case .maildir:
            // A delivered mail survives what a committed transaction survives, since the outbox marks it
            // sent in the database: SQLite's configured durability; PostgreSQL's commits survive power loss.
            var durability = MaildirMailSink.Durability.powerLoss
            if case .sqlite(_, .process) = config.database { durability = .process }
            return try MaildirMailSink(path: config.resolve(config.mail.path), durability: durability)
        case .smtp, .smtps:
            return try SMTPMailSink(configuration: SMTPConfiguration(
                url: config.mail.url ?? "", startTLS: config.mail.startTLS,
                username: config.mail.username, password: config.mail.password,
                connectTimeout: .milliseconds(config.mail.connectTimeoutMilliseconds),
                timeout: .milliseconds(config.mail.timeoutMilliseconds),
                caFile: config.mail.caFile.map(config.resolve), insecureSkipVerify: config.mail.insecureSkipVerify))
        }
    }
}
