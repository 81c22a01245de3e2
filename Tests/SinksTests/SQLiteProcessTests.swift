import Foundation
import SecretsCore
import Synchronization
import Testing
@testable import Sinks

private typealias F = SQLiteFixture

/// Tests that need a second process: this test binary re-executed with `--filter sqliteChildProcess` and
/// `TOKENSCAN_SQLITE_CHILD` set, so that `sqliteChildProcess` plays the child's part.
@Suite("SQLite across processes")
struct SQLiteProcessTests {
    static let modeVariable = "TOKENSCAN_SQLITE_CHILD"
    static let pathVariable = "TOKENSCAN_SQLITE_PATH"
    static let goVariable = "TOKENSCAN_SQLITE_GO"
    static let marker = "SQLITE-CHILD"

    /// The batch the crash child accepts: mostly jobs, some finished at intake.
    static let batch = (0..<1000).map { F.disclosure($0, outcome: $0.isMultiple(of: 10) ? .unknownType : nil, at: $0) }

    // MARK: The child's side

    @Test(.enabled(if: ProcessInfo.processInfo.environment[modeVariable] != nil))
    func sqliteChildProcess() throws {
        let environment = ProcessInfo.processInfo.environment
        let path = try #require(environment[Self.pathVariable])
        let store = try SQLiteStorage.open(path: path)
        switch environment[Self.modeVariable] {
        case "accept":
            let stored = try store.accept(Self.batch)
            Self.say("accepted \(stored.count)")
            Thread.sleep(forTimeInterval: 120)  // the parent kills us long before
        case "claim":
            let go = try #require(environment[Self.goVariable])
            Self.say("ready")
            while !FileManager.default.fileExists(atPath: go) { Thread.sleep(forTimeInterval: 0.001) }
            var claimed: [Int64] = []
            while true {
                let jobs = try store.claim(limit: 2, lease: .seconds(3600), now: Date())
                if jobs.isEmpty { break }
                claimed += jobs.map(\.id)
                Thread.sleep(forTimeInterval: 0.0005)  // "work" outside the lock, as a real worker does
            }
            Self.say("claimed \(claimed.map(String.init).joined(separator: ","))")
        default:
            Issue.record("unknown child mode")
        }
    }

    /// One whole line on stdout in one unbuffered write, so the parent sees it at once.
    private static func say(_ line: String) {
        FileHandle.standardOutput.write(Data("\(marker) \(line)\n".utf8))
    }

    // MARK: The parent's side

    /// A running child and its stdout.
    final class Child {
        let process = Process()
        private let output = Pipe()
        private var buffer = Data()

        init(mode: String, path: String, extra: [String: String] = [:]) throws {
            process.executableURL = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            process.arguments = ["--testing-library", "swift-testing", "--filter", "sqliteChildProcess"]
            process.environment = ProcessInfo.processInfo.environment
                .merging([modeVariable: mode, pathVariable: path].merging(extra) { $1 }) { $1 }
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            // A watchdog, so a stuck child cannot hang the test run.
            let pid = process.processIdentifier
            DispatchQueue.global().asyncAfter(deadline: .now() + 120) { kill(pid, SIGKILL) }
        }

        /// The text after the marker of the child's next line starting with `word`; nil at end of output.
        func line(startingWith word: String) -> String? {
            let prefix = "\(marker) \(word)"
            while true {
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                    buffer.removeSubrange(buffer.startIndex...newline)
                    if line.hasPrefix(prefix) { return String(line.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces) }
                }
                let chunk = output.fileHandleForReading.availableData
                if chunk.isEmpty { return nil }
                buffer.append(chunk)
            }
        }

        func kill9() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    @Test func whatAcceptReturnedSurvivesKill9() throws {
        let folder = try TemporaryDirectory("sqlite")
        let path = F.databasePath(in: folder)
        let child = try Child(mode: "accept", path: path)
        let answer = child.line(startingWith: "accepted")
        child.kill9()
        #expect(answer == "1000")
        #expect(child.process.terminationReason == .uncaughtSignal)
        // Killed before closing: the rows are in the WAL only, which reopening recovers.
        let wal = try FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int ?? 0
        #expect(wal > 0)

        let store = try SQLiteStorage.open(path: path)
        let stored = try store.disclosures(user: nil)
        #expect(stored.count == Self.batch.count)
        #expect(Set(stored.map(\.tokenHash)) == Set(Self.batch.map(\.tokenHash)))
        #expect(try store.pendingJobCount() == Self.batch.count { $0.outcome == nil })
        let jobs = try store.claim(limit: 2000, lease: .seconds(60), now: F.at(10_000))
        #expect(jobs.map(\.disclosure.tokenHash) == Self.batch.filter { $0.outcome == nil }.map(\.tokenHash))
    }

    @Test func twoProcessesClaimingFromOneFileNeverGetTheSameJob() throws {
        let folder = try TemporaryDirectory("sqlite")
        let path = F.databasePath(in: folder)
        let go = "\(folder.path)/go"
        let total = 3000
        do {
            let store = try SQLiteStorage.open(path: path)
            _ = try store.accept((0..<total).map { F.disclosure($0) })
        }
        let children = try (0..<2).map { _ in try Child(mode: "claim", path: path, extra: [Self.goVariable: go]) }
        for child in children { #expect(child.line(startingWith: "ready") != nil) }
        #expect(FileManager.default.createFile(atPath: go, contents: nil))
        let claimed = children.map { child in
            (child.line(startingWith: "claimed") ?? "").split(separator: ",").compactMap { Int64($0) }
        }
        for child in children { child.kill9() }

        #expect(claimed.allSatisfy { !$0.isEmpty })  // both really took part
        #expect(Set(claimed[0]).isDisjoint(with: claimed[1]))
        #expect(claimed[0].count + claimed[1].count == total)
        #expect(Set(claimed.joined()) == Set(1...Int64(total)))
    }

    /// Leaked tokens go through accept, revoke, events and mail; neither the database nor its WAL ever holds
    /// a raw token, while the token hashes are found there (so the search reads the right bytes).
    @Test func theDatabaseNeverHoldsARawToken() throws {
        let folder = try TemporaryDirectory("sqlite")
        let path = F.databasePath(in: folder)
        let leaked = (0..<20).map { LeakedToken("tks_RAW\(UUID().uuidString.replacingOccurrences(of: "-", with: ""))SECRET\($0)") }
        do {
            let store = try SQLiteStorage.open(path: path)
            for token in leaked.prefix(10) {
                try store.issue(IssuedToken(id: token.sha256, type: "tks", identity: token.sha256, user: "alice",
                                            emails: ["alice@example.org"], description: "ci", createdAt: F.at(0)))
            }
            let records = leaked.map { token in
                DisclosureRecord(vendor: "github", tokenHash: token.sha256, tokenType: "tks", identity: token.sha256,
                                 url: "https://example.org/leak", source: "commit", receivedAt: F.at(1))
            }
            _ = try store.accept(records)
            for job in try store.claim(limit: 100, lease: .seconds(60), now: F.at(2)) {
                let identity = try #require(job.disclosure.identity)
                let result = try store.revoke(identity: identity, byDisclosure: job.id, at: F.at(3))
                if case .revoked = result {
                    try store.record(SecurityEvent(tag: SecurityEventTag.tokenRemovedLeak, user: "alice", time: F.at(3),
                                                   data: ["token_hash": job.disclosure.tokenHash], idempotencyKey: "leak-\(job.id)"))
                    try store.enqueue(MailMessage(messageID: "leak-\(job.id)@example.org", from: "security@example.org",
                                                  to: ["alice@example.org"], subject: "Token revoked",
                                                  body: "hash \(job.disclosure.tokenHash)", date: F.at(3), user: "alice"))
                }
                try store.finish(jobID: job.id, outcome: result == .notFound ? .notFound : .revoked, detail: nil, at: F.at(4))
            }
            try assertNoRawToken(leaked, in: path, whileOpen: true)
        }
        try assertNoRawToken(leaked, in: path, whileOpen: false)
    }

    private func assertNoRawToken(_ leaked: [LeakedToken], in path: String, whileOpen: Bool) throws {
        var bytes = Data()
        for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
            bytes.append(try Data(contentsOf: URL(fileURLWithPath: file)))
        }
        for token in leaked {
            #expect(bytes.range(of: Data(token.value.utf8)) == nil, "raw token found (open: \(whileOpen))")
            #expect(bytes.range(of: Data(token.value.utf8.dropFirst(4).prefix(16))) == nil, "part of a raw token found")
        }
        #expect(leaked.allSatisfy { bytes.range(of: Data($0.sha256.utf8)) != nil }, "token hashes not found (open: \(whileOpen))")
    }
}
