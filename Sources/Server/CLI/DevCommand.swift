import Foundation
import SecretsCore
import Sinks

/// `tokenscan dev`: the receiver and the fake vendor wired to each other, an embedded SQLite database
/// under a local folder, and a demo user with a freshly minted token. What `make run` starts.
func runDevCommand(_ words: [String]) throws -> Int32 {
    let args = try Arguments(words, options: ["port", "vendor-port", "data", "host"])
    let host = args.value("host") ?? "127.0.0.1"
    let port = try args.int("port", default: 8000)
    let vendorPort = try args.int("vendor-port", default: 8964)
    let data = absolutePath(args.value("data") ?? "dev-data")
    try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)

    SignalWaiter.blockTermination()
    let logger = Logger(output: FileLog(path: (data as NSString).appendingPathComponent("tokenscan.log")), minimum: .info)

    // The fake vendor first: the receiver's vendors fetch their keys from it.
    let receiverURL = "http://\(host):\(port)/_/secrets/disclose-token"
    let vendor = try FakeVendor(port: vendorPort, host: host, target: receiverURL,
                                statePath: (data as NSString).appendingPathComponent("fake-vendor-state.json"), logger: logger)
    _ = try vendor.state.ensureCurrentKey()
    try vendor.start()

    var config = Configuration()
    config.baseDirectory = data
    config.listen = ListenAddress(host: host, port: port)
    config.database = .sqlite(path: "tokenscan.sqlite3", durability: .process)
    config.mail.path = "mail"
    config.mail.from = "security@tokenscan.localhost"
    let keys = vendor.publicKeysURL
    config.vendors = [
        VendorConfiguration(id: "github", kind: "github", keysURL: keys, path: "vendors[0]"),
        VendorConfiguration(id: "depsdev", kind: "depsdev", keysURL: keys, path: "vendors[1]"),
        VendorConfiguration(id: "gitlab", kind: "gitlab", keysURL: keys, path: "vendors[2]"),
    ]
    for i in config.vendors.indices {
        config.vendors[i].keyCache.refetchInterval = .seconds(1)
        config.vendors[i].keyCache.negativeCacheTTL = .seconds(1)
        config.vendors[i].keyCache.ttl = .seconds(5)
    }
    try writeDevConfiguration(config, to: (data as NSString).appendingPathComponent("tokenscan.json"), keysURL: keys)

    let app = try Application(configuration: config, logger: logger)
    try app.start()
    let token = try TokenIssuer(storage: app.storage, configuration: config)
        .issue(user: "demo", email: "demo@example.org", description: "demo token minted by tokenscan dev")

    let receiverBase = "http://\(host):\(app.server.boundPort ?? port)"
    print("""
    tokenscan dev is running. Ctrl-C stops both servers.

      fake vendor (open in a browser): \(vendor.baseURL)/
      receiver:                        \(receiverBase)/_/secrets/disclose-token
      metrics / readiness:             \(receiverBase)/metrics  \(receiverBase)/readyz

      demo user:   demo <demo@example.org>
      demo token:  \(token)

      the owner's mail lands in:  \(config.resolve(config.mail.path))/new/
      database:                   \(config.resolve("tokenscan.sqlite3"))
      configuration:              \((data as NSString).appendingPathComponent("tokenscan.json"))
      log:                        \((data as NSString).appendingPathComponent("tokenscan.log"))

    Paste the demo token into the page's Token field, build the report and send it; then:
      \(CommandLine.arguments.first ?? "tokenscan") tokens list --config \((data as NSString).appendingPathComponent("tokenscan.json"))

    """)
    fflush(nil)

    _ = SignalWaiter.wait()
    print("stopping…")
    app.stop()
    vendor.stop()
    return 0
}

private func absolutePath(_ path: String) -> String {
    path.hasPrefix("/") ? path : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path)
}

/// Writes the dev setup as a configuration file, so the listing commands can be pointed at it.
private func writeDevConfiguration(_ config: Configuration, to path: String, keysURL: String) throws {
    let object: [String: Any] = [
        "listen": config.listen.description,
        "database": "sqlite:tokenscan.sqlite3",
        "mail": ["transport": "maildir", "path": config.mail.path, "from": config.mail.from],
        "vendors": config.vendors.map { ["id": $0.id, "kind": $0.kind, "keys_url": keysURL] },
    ]
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    try data.write(to: URL(fileURLWithPath: path), options: .atomic)
}

/// Appends log lines to a file (the dev console stays readable).
struct FileLog: LogOutput {
    let handle: FileHandle?

    init(path: String) {
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        handle = FileHandle(forWritingAtPath: path)
        _ = try? handle?.seekToEnd()
    }

    func write(line: String) {
        handle?.write(Data((line + "\n").utf8))
    }
}
