import Foundation
import SecretsCore
import Testing

/// What a vendor was told is kept: kill -9 right after a 204, SIGTERM under load.
@Suite(.serialized) struct DurabilityTests {
    /// Counts per user of revocations, mails and events, after everything settled.
    static func settle(_ receiver: Receiver, users: [String], timeout: Double = 60) throws {
        let settled = try receiver.eventually(timeout: timeout) {
            let tokens = try receiver.listJSON("tokens")
            let events = try receiver.listJSON("events")
            return tokens.allSatisfy { $0["revoked_at"] is String }
                && events.filter { $0["tag"] as? String == "account:email:sent" }.count == users.count
        }
        #expect(settled, "every token revoked and mailed")
    }

    @Test func killNineRightAfter204LosesNothing() throws {
        let receiver = try Receiver(extra: ["workers": ["poll_interval_ms": 20, "disclosure": 1]])
        let users = (0..<40).map { "user\($0)" }
        let tokens = try users.map { try receiver.createToken(user: $0) }
        // One big report and several small ones; kill -9 the instant the last 204 arrives.
        #expect(try receiver.post(report(Array(tokens[0..<30]))).status == 204)
        for t in tokens[30...] { #expect(try receiver.post(report([t])).status == 204) }
        receiver.stop(signal: SIGKILL)
        try receiver.start()
        try Self.settle(receiver, users: users)
        let disclosures = try receiver.listJSON("disclosures")
        #expect(disclosures.count == 40)
        #expect(disclosures.allSatisfy { $0["outcome"] as? String == "revoked" })
        let events = try receiver.listJSON("events")
        #expect(events.filter { $0["tag"] as? String == "account:api_token:removed_leak" }.count == 40)
        #expect(events.filter { $0["tag"] as? String == "account:email:sent" }.count == 40)
        #expect(receiver.mailFiles().count == 40)
    }

    @Test func sigtermUnderLoadLosesNothing() throws {
        let receiver = try Receiver()
        let users = (0..<60).map { "load\($0)" }
        let tokens = try users.map { try receiver.createToken(user: $0) }
        let accepted = Mutex204()
        let group = DispatchGroup()
        for chunk in stride(from: 0, to: tokens.count, by: 15) {
            let slice = Array(tokens[chunk..<min(chunk + 15, tokens.count)])
            DispatchQueue.global().async(group: group) {
                for t in slice {
                    if let r = try? receiver.post(report([t])), r.status == 204 { accepted.add(t) }
                }
            }
        }
        Thread.sleep(forTimeInterval: 0.15)
        let status = receiver.stop(signal: SIGTERM)
        #expect(status == 0, "graceful exit")
        group.wait()
        try receiver.start()
        // Whatever got a 204 is revoked and mailed exactly once; then send the rest.
        let first = accepted.all
        let rest = tokens.filter { !first.contains($0) }
        for t in rest { #expect(try receiver.post(report([t])).status == 204) }
        try Self.settle(receiver, users: users)
        let disclosures = try receiver.listJSON("disclosures")
        #expect(disclosures.count == tokens.count)
        #expect(disclosures.allSatisfy { $0["outcome"] as? String == "revoked" })
        #expect(receiver.mailFiles().count == tokens.count)
    }

    @Test func sameTokenFiveTimesAtOnceRevokedOnce() throws {
        let receiver = try Receiver()
        let token = try receiver.createToken(user: "erin")
        let group = DispatchGroup()
        let statuses = Mutex204()
        for _ in 0..<5 {
            DispatchQueue.global().async(group: group) {
                if let r = try? receiver.post(report([token])) { statuses.add(String(r.status)) }
            }
        }
        group.wait()
        #expect(statuses.all == Set(["204"]))
        #expect(try receiver.eventually { try receiver.listJSON("disclosures").allSatisfy { $0["outcome"] is String } })
        let outcomes = try receiver.listJSON("disclosures").compactMap { $0["outcome"] as? String }.sorted()
        #expect(outcomes == ["duplicate", "duplicate", "duplicate", "duplicate", "revoked"])
        #expect(receiver.eventually { receiver.mailFiles().count == 1 })
        Thread.sleep(forTimeInterval: 0.5)
        #expect(receiver.mailFiles().count == 1)
        #expect(try receiver.listJSON("events").count == 2)
    }
}

/// A thread-safe set of strings.
final class Mutex204: @unchecked Sendable {
    // @unchecked: `items` is only touched under `lock`.
    private let lock = NSLock()
    private var items: Set<String> = []
    func add(_ s: String) { lock.lock(); items.insert(s); lock.unlock() }
    var all: Set<String> { lock.lock(); defer { lock.unlock() }; return items }
}
