import Foundation
import SecretsCore
import Sinks
import Vendors

extension Configuration {
    /// Reads and validates the configuration file at `path`.
    ///
    /// Throws a `ConfigurationError` naming the exact key and problem; `tokenscan config check` prints it
    /// and `tokenscan serve` refuses to start with the same message.
    public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(ConfigurationError) -> Configuration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(path: "", "cannot read configuration file \(path)")
        }
        let absolute = path.hasPrefix("/") ? path : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path)
        let base = (absolute as NSString).deletingLastPathComponent
        return try parse(data: data, baseDirectory: base, environment: environment)
    }

    /// Parses configuration JSON; relative paths resolve against `baseDirectory`.
    public static func parse(data: Data, baseDirectory: String, environment: [String: String] = [:])
        throws(ConfigurationError) -> Configuration {
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw ConfigurationError(path: "", "not valid JSON (\(Self.jsonErrorSummary(error)))")
        }
        var root = try ConfigReader(json, path: "")
        var config = Configuration()
        config.baseDirectory = baseDirectory

        if let listen = try root.string("listen") {
            guard let parsed = ListenAddress.parse(listen) else {
                throw ConfigurationError(path: "listen", "must be \"host:port\" with a port from 0 to 65535, got \"\(listen)\"")
            }
            config.listen = parsed
        }
        let durability = try root.choice("database_durability", default: SQLiteOptions.Durability.process)
        if let database = try root.nonEmptyString("database") {
            config.database = try parseDatabase(database, durability: durability)
        } else {
            config.database = .sqlite(path: "tokenscan.sqlite3", durability: durability)
        }
        if var mail = try root.object("mail") {
            config.mail = try parseMail(&mail, environment: environment)
        }
        guard let vendors = try root.array("vendors") else {
            throw ConfigurationError(path: "vendors", "is required: a list of the vendors this receiver accepts reports from")
        }
        var vendorEntries: [VendorConfiguration] = []
        for reader in vendors {
            var r = reader
            vendorEntries.append(try parseVendor(&r, environment: environment))
        }
        config.vendors = vendorEntries
        if let types = try root.array("token_types") {
            config.tokenTypes = try types.map { (reader: ConfigReader) throws(ConfigurationError) -> TokenTypeEntry in
                var r = reader
                return try parseTokenType(&r)
            }
            var seen: Set<String> = []
            for (i, t) in config.tokenTypes.enumerated() where !seen.insert(t.name.lowercased()).inserted {
                throw ConfigurationError(path: "token_types[\(i)].name", "duplicate token type \"\(t.name)\"")
            }
        }
        if var limits = try root.object("limits") {
            config.limits.maxBodyBytes = try limits.int("max_body_bytes", default: config.limits.maxBodyBytes, in: 1_024...(1 << 30))
            config.limits.maxItems = try limits.int("max_items", default: config.limits.maxItems, in: 1...1_000_000)
            config.limits.maxTokenLength = try limits.int("max_token_length", default: config.limits.maxTokenLength, in: 16...65_536)
            try limits.finish()
        }
        if var server = try root.object("server") {
            config.server.threads = try server.int("threads", default: config.server.threads, in: 1...256)
            config.server.connectionLimit = try server.int("connection_limit", default: config.server.connectionLimit, in: 1...100_000)
            config.server.connectionTimeoutSeconds = try server.int("connection_timeout_seconds", default: config.server.connectionTimeoutSeconds, in: 1...3_600)
            config.server.shutdownGraceSeconds = try server.int("shutdown_grace_seconds", default: config.server.shutdownGraceSeconds, in: 0...600)
            config.server.commitWindowMicroseconds = try server.int("commit_window_us", default: config.server.commitWindowMicroseconds, in: 0...100_000)
            try server.finish()
        }
        if var workers = try root.object("workers") {
            config.workers.disclosureWorkers = try workers.int("disclosure", default: config.workers.disclosureWorkers, in: 1...64)
            config.workers.mailWorkers = try workers.int("mail", default: config.workers.mailWorkers, in: 1...64)
            config.workers.pollInterval = .milliseconds(try workers.int("poll_interval_ms", default: 100, in: 1...60_000))
            config.workers.batchSize = try workers.int("batch_size", default: config.workers.batchSize, in: 1...10_000)
            config.retry.maxAttempts = try workers.int("max_attempts", default: config.retry.maxAttempts, in: 1...1_000)
            config.workers.niceness = try workers.int("nice", default: config.workers.niceness, in: 0...19)
            try workers.finish()
        }
        if var metrics = try root.object("metrics") {
            if let statsd = try metrics.nonEmptyString("statsd") {
                guard let address = ListenAddress.parse(statsd), address.port > 0 else {
                    throw ConfigurationError(path: "metrics.statsd", "must be \"host:port\", got \"\(statsd)\"")
                }
                config.metrics.statsd = address.description
            }
            config.metrics.statsdPrefix = try metrics.string("statsd_prefix", default: config.metrics.statsdPrefix)
            try metrics.finish()
        }
        for i in config.vendors.indices {
            config.vendors[i].maxItems = config.limits.maxItems
            config.vendors[i].maxTokenLength = config.limits.maxTokenLength
        }
        try checkVendors(config.vendors)
        if let level = try root.string("log_level") {
            guard let parsed = Logger.Level(name: level) else {
                throw ConfigurationError(path: "log_level", "must be one of \"debug\", \"info\", \"warning\", \"error\", got \"\(level)\"")
            }
            config.logLevel = parsed
        }
        try root.finish()
        return config
    }

    private static func parseDatabase(_ text: String, durability: SQLiteOptions.Durability) throws(ConfigurationError) -> DatabaseConfiguration {
        if text.hasPrefix("sqlite:") {
            var path = String(text.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
            guard !path.isEmpty else { throw ConfigurationError(path: "database", "sqlite: needs a file path, as in \"sqlite:tokenscan.sqlite3\"") }
            return .sqlite(path: path, durability: durability)
        }
        if text.hasPrefix("postgresql://") || text.hasPrefix("postgres://") {
            return .postgresql(url: text)
        }
        throw ConfigurationError(path: "database", "must start with \"sqlite:\" or \"postgresql://\", got \"\(text.prefix(40))\"")
    }

    private static func parseMail(_ r: inout ConfigReader, environment: [String: String]) throws(ConfigurationError) -> MailConfiguration {
        var mail = MailConfiguration()
        mail.transport = try r.choice("transport", default: MailConfiguration.Transport.maildir)
        mail.path = try r.nonEmptyString("path") ?? mail.path
        if let from = try r.nonEmptyString("from") {
            guard from.contains("@"), !from.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "<" || $0 == ">" || $0 == " " }) else {
                throw ConfigurationError(path: "mail.from", "must be a plain email address, got \"\(from)\"")
            }
            mail.from = from
        }
        mail.siteName = try r.nonEmptyString("site_name") ?? mail.siteName
        mail.url = try r.nonEmptyString("url")
        mail.username = try r.secret("username", environment: environment)
        mail.password = try r.secret("password", environment: environment)
        mail.startTLS = try r.choice("starttls", default: SMTPConfiguration.StartTLS.opportunistic)
        mail.insecureSkipVerify = try r.bool("insecure_skip_verify", default: false)
        mail.caFile = try r.nonEmptyString("ca_file")
        mail.connectTimeoutMilliseconds = try r.int("connect_timeout_ms", default: mail.connectTimeoutMilliseconds, in: 100...120_000)
        mail.timeoutMilliseconds = try r.int("timeout_ms", default: mail.timeoutMilliseconds, in: 100...600_000)
        switch mail.transport {
        case .maildir:
            break
        case .smtp, .smtps:
            guard let url = mail.url else {
                throw ConfigurationError(path: "mail.url", "is required for transport \"\(mail.transport.rawValue)\", as in \"\(mail.transport.rawValue)://127.0.0.1:25\"")
            }
            guard url.hasPrefix("\(mail.transport.rawValue)://") else {
                throw ConfigurationError(path: "mail.url", "must start with \"\(mail.transport.rawValue)://\" for transport \"\(mail.transport.rawValue)\"")
            }
        }
        try r.finish()
        return mail
    }

    private static func parseVendor(_ r: inout ConfigReader, environment: [String: String]) throws(ConfigurationError) -> VendorConfiguration {
        guard let id = try r.nonEmptyString("id") else { throw ConfigurationError(path: "\(r.path).id", "is required") }
        guard id.count <= 64, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw ConfigurationError(path: "\(r.path).id", "may hold only letters, digits, - and _ (at most 64; it is a URL path segment), got \"\(id.prefix(64))\"")
        }
        var vendor = VendorConfiguration(id: id, kind: try r.nonEmptyString("kind") ?? id, path: r.path)
        vendor.keysURL = try r.nonEmptyString("keys_url")
        if let url = vendor.keysURL, !(url.hasPrefix("http://") || url.hasPrefix("https://")) {
            throw ConfigurationError(path: "\(r.path).keys_url", "must be an http:// or https:// URL, got \"\(url)\"")
        }
        vendor.keyIdentifierHeader = try r.nonEmptyString("key_identifier_header")
        vendor.signatureHeader = try r.nonEmptyString("signature_header")
        for (key, value) in [("key_identifier_header", vendor.keyIdentifierHeader), ("signature_header", vendor.signatureHeader)] {
            if let value, !value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) {
                throw ConfigurationError(path: "\(r.path).\(key)", "is not a valid HTTP header name: \"\(value)\"")
            }
        }
        vendor.apiToken = try r.secret("api_token", environment: environment)
        vendor.keyCache.apiToken = vendor.apiToken
        vendor.response = try r.choice("response", default: ResponseStyle.accepted)
        vendor.enabled = try r.bool("enabled", default: true)
        vendor.labelsDeadline = .milliseconds(try r.int("labels_deadline_ms", default: 500, in: 1...60_000))
        vendor.keyCache.ttl = .seconds(try r.int("key_cache_ttl_seconds", default: 1_800, in: 1...86_400))
        let refetch = try r.int("refetch_interval_seconds", default: 60, in: 0...86_400)
        vendor.keyCache.refetchInterval = .seconds(refetch)
        vendor.keyCache.negativeCacheTTL = .seconds(refetch)
        vendor.keyCache.connectTimeout = .milliseconds(try r.int("fetch_connect_timeout_ms", default: 2_000, in: 10...60_000))
        vendor.keyCache.totalTimeout = .milliseconds(try r.int("fetch_timeout_ms", default: 5_000, in: 10...120_000))
        try r.finish()
        return vendor
    }

    /// Ids unique, then the catalog's own rules per kind (required URLs and headers, header pairs unique
    /// among enabled vendors). Builds verifiers but fetches nothing.
    private static func checkVendors(_ vendors: [VendorConfiguration]) throws(ConfigurationError) {
        var ids: [String: String] = [:]
        for v in vendors {
            let path = v.path ?? "vendors"
            if let earlier = ids[v.id.lowercased()] {
                throw ConfigurationError(path: "\(path).id", "duplicate vendor id \"\(v.id)\" (also at \(earlier))")
            }
            ids[v.id.lowercased()] = path
        }
        do {
            _ = try VendorCatalog.makeVendors(vendors)
        } catch {
            throw ConfigurationError(path: error.field, error.problem)
        }
    }

    private static func parseTokenType(_ r: inout ConfigReader) throws(ConfigurationError) -> TokenTypeEntry {
        guard let name = try r.nonEmptyString("name") else { throw ConfigurationError(path: "\(r.path).name", "is required") }
        let kind = try r.string("kind", default: name == "pypi_api_token" ? "pypi" : "prefixed")
        let entry: TokenTypeEntry
        switch kind {
        case "pypi":
            entry = .pypi(name: name, location: try r.nonEmptyString("location") ?? "pypi.org")
        case "prefixed":
            guard let prefix = try r.nonEmptyString("prefix") else {
                throw ConfigurationError(path: "\(r.path).prefix", "is required for kind \"prefixed\"")
            }
            let checksum = try r.string("checksum", default: "none")
            guard checksum == "none" || checksum == "crc32-base62-6" else {
                throw ConfigurationError(path: "\(r.path).checksum", "must be \"none\" or \"crc32-base62-6\", got \"\(checksum)\"")
            }
            entry = .prefixed(name: name, prefix: prefix, checksum: checksum)
        default:
            throw ConfigurationError(path: "\(r.path).kind", "must be \"pypi\" or \"prefixed\", got \"\(kind)\"")
        }
        try r.finish()
        return entry
    }

    private static func jsonErrorSummary(_ error: Error) -> String {
        let text = "\(error)"
        if let range = text.range(of: "NSDebugDescription") {
            return String(text[range.upperBound...].prefix(120)).trimmingCharacters(in: CharacterSet(charactersIn: "=: \"})"))
        }
        return String(text.prefix(160))
    }
}
