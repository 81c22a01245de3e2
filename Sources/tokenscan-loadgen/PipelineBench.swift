import Foundation
import SecretsCore
import Sinks

/// `tokenscan-loadgen pipeline [--dir DIR] [--durability process|power_loss]`: the pipeline on the
/// embedded store, without HTTP.
/// 1. Intake: 1,000-item reports through `DisclosureAnalyzer.accept` (classification, macaroon decoding,
///    one SQLite transaction per report), for about three seconds: items accepted per second.
/// 2. Processing: a backlog of 10,000 disclosures of tokens we issued, then the workers started:
///    tokens fully processed per second (revoked, both events, mail written to a maildir).
func runPipelineBench(_ args: [String]) throws {
    let base = (args.firstIndex(of: "--dir").map { args[$0 + 1] }) ?? NSTemporaryDirectory() + "tokenscan-pipeline-\(UUID().uuidString.prefix(8))"
    let durability = SQLiteOptions.Durability(rawValue: (args.firstIndex(of: "--durability").map { args[$0 + 1] }) ?? "process") ?? .process
    try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: base) }

    let storage = try SQLiteStorage.open(path: base + "/bench.sqlite3", options: SQLiteOptions(durability: durability)).storage
    // As `Application.mailSink` wires it: a mail survives what the store's commits survive.
    let mailDurability: MaildirMailSink.Durability = durability == .process ? .process : .powerLoss
    let types = TokenTypeRegistry([PyPITokenType()])
    let analyzer = DisclosureAnalyzer(storage: storage, tokenTypes: types, mail: MailSettings(from: "security@example.org"))
    let minter = PyPITokenMinter(rootKey: try storage.tokens.installationSecret(named: "macaroon_root_key", length: 32))
    print("pipeline benchmark, SQLite durability \(durability.rawValue), maildir durability \(mailDurability.rawValue), \(ProcessInfo.processInfo.activeProcessorCount) cores")

    // 1. Intake.
    let stranger = PyPITokenMinter(rootKey: SecureRandom.bytes(32))
    let reports = (0..<20).map { r in
        (0..<1_000).map { i in
            Disclosure(token: LeakedToken(stranger.mint().value), type: "pypi_api_token", url: "https://example.com/\(r)/\(i)", source: "commit")
        }
    }
    var items = 0
    let intakeStart = ContinuousClock.now
    var round = 0
    while ContinuousClock.now - intakeStart < .seconds(3) {
        _ = try analyzer.accept(vendor: "bench", disclosures: reports[round % reports.count], at: Date())
        items += 1_000
        round += 1
    }
    let intakeSeconds = seconds(ContinuousClock.now - intakeStart)
    print(String(format: "intake: %d items in 1,000-item reports in %.2f s = %.0f items/s (target >= 20,000)",
                 items, intakeSeconds, Double(items) / intakeSeconds))

    // Clear the intake backlog so the processing run measures only its own tokens.
    let drainer = AnalysisWorkers(analyzer: analyzer, mailSink: try MaildirMailSink(path: base + "/mail-drain", durability: mailDurability),
                                  settings: WorkerSettings(disclosureWorkers: 2, mailWorkers: 1, batchSize: 256))
    drainer.start()
    while try storage.queue.pendingJobCount() > 0 { Thread.sleep(forTimeInterval: 0.05) }
    _ = drainer.stop()

    // 2. Processing a backlog of 10,000 issued tokens.
    let count = 10_000
    var disclosures: [Disclosure] = []
    disclosures.reserveCapacity(count)
    for i in 0..<count {
        let minted = minter.mint()
        try storage.tokens.issue(IssuedToken(id: minted.identity, type: "pypi_api_token", identity: minted.identity,
                                             user: "user\(i)", emails: ["user\(i)@example.org"],
                                             description: "bench token \(i)", createdAt: Date()))
        disclosures.append(Disclosure(token: LeakedToken(minted.value), type: "pypi_api_token",
                                      url: "https://github.com/bench/leak/\(i)", source: "commit"))
    }
    for start in stride(from: 0, to: count, by: 1_000) {
        _ = try analyzer.accept(vendor: "bench", disclosures: Array(disclosures[start..<(start + 1_000)]), at: Date())
    }
    let mailDir = base + "/mail"
    let workers = AnalysisWorkers(analyzer: analyzer, mailSink: try MaildirMailSink(path: mailDir, durability: mailDurability),
                                  settings: WorkerSettings(disclosureWorkers: 2, mailWorkers: 2, batchSize: 64))
    let processStart = ContinuousClock.now
    workers.start()
    while try storage.queue.pendingJobCount() > 0 || storage.outbox.pendingMailCount() > 0 {
        Thread.sleep(forTimeInterval: 0.01)
    }
    let processSeconds = seconds(ContinuousClock.now - processStart)
    let mails = (try? FileManager.default.contentsOfDirectory(atPath: mailDir + "/new").count) ?? 0
    let revoked = try storage.tokens.tokens(user: nil).filter { $0.revokedAt != nil }.count
    // Counted once the queues are empty, before the workers stop: every token's mail and both events must be there.
    let events = try storage.events.events(user: nil)
    let removed = events.count { $0.tag == SecurityEventTag.tokenRemovedLeak }
    let mailed = events.count { $0.tag == SecurityEventTag.emailSent }
    print(String(format: "processing: %d tokens revoked, %d mails written, %d + %d events, in %.2f s = %.0f tokens/s fully processed (target >= 2,000)",
                 revoked, mails, removed, mailed, processSeconds, Double(count) / processSeconds))
    _ = workers.stop()
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}
