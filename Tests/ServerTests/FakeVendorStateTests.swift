import Foundation
import SecretsCore
@testable import Server
import Testing

/// A fresh folder under the system temp dir, removed by the caller.
func fakeVendorTemporaryFolder() throws -> String {
    let path = NSTemporaryDirectory() + "fake-vendor-test-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

@Suite("FakeVendor state")
struct FakeVendorStateTests {
    @Test("a created key is identified by SHA-256 of its public PEM, final newline included")
    func keyIdentifier() throws {
        let state = try FakeVendorState(path: nil)
        let key = try state.createKey()
        #expect(key.publicPEM.hasPrefix("-----BEGIN PUBLIC KEY-----\n"))
        #expect(key.publicPEM.hasSuffix("-----END PUBLIC KEY-----\n"))
        #expect(key.id == SHA256.hex(key.publicPEM))
        #expect(key.id != SHA256.hex(String(key.publicPEM.dropLast())))
        #expect(key.id.count == 64)
        // The stored private key is the public key's partner.
        let signature = try key.signingKey().signature(for: Array("x".utf8))
        #expect(try P256.Signing.PublicKey(pemRepresentation: key.publicPEM).isValidSignature(signature, for: Array("x".utf8)))
    }

    @Test("the first key becomes current; later ones do not until chosen")
    func currentKey() throws {
        let state = try FakeVendorState(path: nil)
        let first = try state.createKey()
        let second = try state.createKey()
        #expect(first.isCurrent)
        #expect(!second.isCurrent)
        #expect(state.currentKey?.id == first.id)

        try state.makeCurrent(id: second.id)
        #expect(state.currentKey?.id == second.id)
        #expect(state.keys.filter(\.isCurrent).count == 1)

        try state.deleteKey(id: second.id)
        #expect(state.currentKey == nil)
        #expect(state.keys.map(\.id) == [first.id])
        // With none current, a new key takes over.
        let third = try state.createKey()
        #expect(third.isCurrent)
    }

    @Test("ensureCurrentKey creates a key or promotes the first one")
    func ensureCurrent() throws {
        let state = try FakeVendorState(path: nil)
        let made = try state.ensureCurrentKey()
        #expect(state.keys.count == 1 && made.isCurrent)
        let other = try state.createKey()
        try state.deleteKey(id: made.id)
        #expect(state.currentKey == nil)
        #expect(try state.ensureCurrentKey().id == other.id)
        #expect(state.keys.count == 1)
    }

    @Test("reorder follows the given ids and refuses anything but a permutation")
    func reorder() throws {
        let state = try FakeVendorState(path: nil)
        let ids = try (0..<3).map { _ in try state.createKey().id }
        try state.reorder(ids: [ids[2], ids[0], ids[1]])
        #expect(state.keys.map(\.id) == [ids[2], ids[0], ids[1]])

        #expect(throws: FakeVendorStateError.self) { try state.reorder(ids: [ids[0], ids[1]]) }
        #expect(throws: FakeVendorStateError.self) { try state.reorder(ids: [ids[0], ids[0], ids[1]]) }
        #expect(throws: FakeVendorStateError.self) { try state.reorder(ids: [ids[0], ids[1], "nope"]) }
        #expect(state.keys.map(\.id) == [ids[2], ids[0], ids[1]])
    }

    @Test("unknown key ids are refused without changing anything")
    func unknownIDs() throws {
        let state = try FakeVendorState(path: nil)
        let key = try state.createKey()
        for action in [{ try state.makeCurrent(id: "feed") }, { try state.deleteKey(id: "feed") }] {
            let error = try #require(throws: FakeVendorStateError.self, performing: action)
            #expect(error.isInputError)
            #expect(error.description.contains("feed"))
        }
        #expect(state.keys == [key])
    }

    @Test("a new FakeVendorState on the same file sees the same keys, order and history")
    func survivesRestart() throws {
        let folder = try fakeVendorTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/state.json"

        let first = try FakeVendorState(path: path)
        let a = try first.createKey()
        let b = try first.createKey()
        try first.makeCurrent(id: b.id)
        try first.reorder(ids: [b.id, a.id])
        try first.record(Self.send(id: "one"))

        let second = try FakeVendorState(path: path)
        #expect(second.keys.map(\.id) == [b.id, a.id])
        #expect(second.currentKey?.id == b.id)
        #expect(second.keys.map(\.privatePEM) == [b.privatePEM, a.privatePEM])
        #expect(second.history.map(\.id) == ["one"])
        #expect(second.history == first.history)

        // Private keys live in the file: only the owner may read it, and no temporary file is left over.
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["state.json"])
    }

    @Test("a missing file starts empty; a file that is not a state is an error, left untouched")
    func unreadableFile() throws {
        let folder = try fakeVendorTemporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(try FakeVendorState(path: folder + "/absent.json").keys.isEmpty)

        let path = folder + "/broken.json"
        try Data("{\"keys\": 5}".utf8).write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: FakeVendorStateError.self) { try FakeVendorState(path: path) }
        #expect(error.description.contains(path))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "{\"keys\": 5}")
    }

    @Test("history keeps the newest 50 sends, newest first")
    func historyLimit() throws {
        let state = try FakeVendorState(path: nil)
        for i in 0..<60 { try state.record(Self.send(id: "\(i)")) }
        #expect(state.history.count == FakeVendorState.historyLimit)
        #expect(state.history.first?.id == "59")
        #expect(state.history.last?.id == "10")
    }

    @Test("stored bodies are cut at the limit")
    func storedBodyLimit() {
        let short = FakeVendorSend.stored("abc")
        #expect(short.0 == "abc" && !short.1)
        let long = FakeVendorSend.stored(String(repeating: "é", count: FakeVendorSend.storedBodyLimit))
        #expect(long.1)
        #expect(long.0.utf8.count <= FakeVendorSend.storedBodyLimit + 3)
    }

    static func send(id: String) -> FakeVendorSend {
        FakeVendorSend(id: id, time: Date(timeIntervalSince1970: 1_700_000_000), style: "github", tamper: "none",
                       target: "http://127.0.0.1:1/", keyID: "k", requestHeaders: [FakeVendorHeader(name: "A", value: "b")],
                       requestBody: "[]", requestBodyBytes: 2, requestBodyTruncated: false, status: 204,
                       responseHeaders: [], responseBody: "", responseBodyTruncated: false, durationMs: 3, error: nil)
    }
}
