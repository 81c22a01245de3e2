import Foundation
import SecretsCore
import Synchronization

/// One signing key of the fake vendor.
public struct FakeVendorKey: Sendable, Codable, Equatable {
    /// SHA-256 hex of `publicPEM` (the whole PEM text, final newline included), as GitHub's key ids are.
    public var id: String
    /// PKCS #8 PEM of the private key. The fake vendor's own test key: it is stored, never logged.
    public var privatePEM: String
    /// SubjectPublicKeyInfo PEM, ending in a newline: what the meta document publishes.
    public var publicPEM: String
    public var isCurrent: Bool
    public var createdAt: Date

    enum CodingKeys: String, CodingKey {
        case id
        case privatePEM = "private_pem"
        case publicPEM = "public_pem"
        case isCurrent = "is_current"
        case createdAt = "created_at"
    }

    /// Generates a fresh P-256 key.
    public static func generate(isCurrent: Bool = false, now: Date = FakeVendorState.now()) throws(CryptoError) -> FakeVendorKey {
        let key = try P256.Signing.PrivateKey()
        let publicPEM = try key.publicKey.pemRepresentation
        return FakeVendorKey(id: SHA256.hex(publicPEM), privatePEM: try key.pemRepresentation,
                             publicPEM: publicPEM, isCurrent: isCurrent, createdAt: now)
    }

    /// The parsed private key.
    public func signingKey() throws(CryptoError) -> P256.Signing.PrivateKey {
        try P256.Signing.PrivateKey(pemRepresentation: privatePEM)
    }
}

/// One header as sent or received, in order.
public struct FakeVendorHeader: Sendable, Codable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// One report the fake vendor sent, and what came back.
///
/// The body may hold a test token: that is fine in the vendor's own state and page, but it is never
/// logged. Bodies over `FakeVendorSend.storedBodyLimit` bytes are cut, with `…Truncated` set.
public struct FakeVendorSend: Sendable, Codable, Equatable {
    /// Longest request or response body kept in history, in UTF-8 bytes.
    public static let storedBodyLimit = 256 * 1024

    public var id: String
    public var time: Date
    /// `github`, `depsdev`, `gitlab` or `custom`.
    public var style: String
    public var tamper: String
    public var target: String
    /// The key id the report was sent under (for `unknown_key_id`, one the document does not list).
    public var keyID: String
    public var requestHeaders: [FakeVendorHeader]
    public var requestBody: String
    public var requestBodyBytes: Int
    public var requestBodyTruncated: Bool
    /// The receiver's status; nil when no answer came (see `error`).
    public var status: Int?
    public var responseHeaders: [FakeVendorHeader]
    public var responseBody: String
    public var responseBodyTruncated: Bool
    public var durationMs: Int
    /// Why no answer came (connection refused, timeout), in libcurl's words.
    public var error: String?

    enum CodingKeys: String, CodingKey {
        case id, time, style, tamper, target
        case keyID = "key_id"
        case requestHeaders = "request_headers"
        case requestBody = "request_body"
        case requestBodyBytes = "request_body_bytes"
        case requestBodyTruncated = "request_body_truncated"
        case status
        case responseHeaders = "response_headers"
        case responseBody = "response_body"
        case responseBodyTruncated = "response_body_truncated"
        case durationMs = "duration_ms"
        case error
    }

    /// `text` cut to at most `storedBodyLimit` UTF-8 bytes, and whether it was cut (a character split
    /// at the cut becomes U+FFFD).
    static func stored(_ text: String) -> (String, Bool) {
        guard text.utf8.count > storedBodyLimit else { return (text, false) }
        return (String(decoding: Array(text.utf8.prefix(storedBodyLimit)), as: UTF8.self), true)
    }
}

/// What `FakeVendorState` refuses, in words for the page.
public struct FakeVendorStateError: Error, Sendable, CustomStringConvertible, Equatable {
    enum Code: Sendable, Equatable {
        case unknownKey
        case badOrder
        case storage
        case crypto
    }

    let code: Code
    public let description: String

    init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }

    /// The error comes from the caller's input (an API answer is a 4xx), not from the disk or OpenSSL.
    public var isInputError: Bool { code == .unknownKey || code == .badOrder }
}

/// The fake vendor's keys (in publication order) and its last sends, kept in one JSON file.
///
/// Every change is written at once, atomically (a temporary file in the same folder, then `rename`),
/// so keys survive a restart and a crash never leaves half a file. The file holds private keys and
/// test tokens: it is created with mode 0600. Thread-safe: one `Mutex` guards the state and the
/// write, so the file always matches the last change.
public final class FakeVendorState: Sendable {
    /// How many sends history keeps (newest first).
    public static let historyLimit = 50

    struct Snapshot: Codable, Equatable {
        var keys: [FakeVendorKey] = []
        var history: [FakeVendorSend] = []
    }

    /// The time in whole seconds: what the state file's ISO 8601 dates hold, so a reloaded state equals the saved one.
    public static func now() -> Date {
        Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
    }

    /// Where the state lives; nil keeps it in memory only.
    public let path: String?
    private let state: Mutex<Snapshot>

    /// Loads the state at `path`, or starts empty when the file does not exist yet.
    ///
    /// A file that exists but cannot be read is an error, never silently replaced: it holds keys.
    public init(path: String?) throws(FakeVendorStateError) {
        self.path = path
        var snapshot = Snapshot()
        if let path, FileManager.default.fileExists(atPath: path) {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw FakeVendorStateError(.storage, "cannot read the state file \(path)")
            }
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            do {
                snapshot = try decoder.decode(Snapshot.self, from: data)
            } catch {
                throw FakeVendorStateError(.storage, "the state file \(path) is not a fake-vendor state: \(error)")
            }
        }
        state = Mutex(snapshot)
    }

    /// The keys in publication order.
    public var keys: [FakeVendorKey] { state.withLock { $0.keys } }

    /// The key sends are signed with, if one is current.
    public var currentKey: FakeVendorKey? { state.withLock { $0.keys.first { $0.isCurrent } } }

    /// Sends, newest first.
    public var history: [FakeVendorSend] { state.withLock { $0.history } }

    /// The key with `id`, if any.
    public func key(id: String) -> FakeVendorKey? { state.withLock { $0.keys.first { $0.id == id } } }

    /// Generates a key and appends it. The first key, or any key while none is current, becomes current.
    @discardableResult
    public func createKey() throws(FakeVendorStateError) -> FakeVendorKey {
        let generated: FakeVendorKey
        do {
            generated = try FakeVendorKey.generate()
        } catch {
            throw FakeVendorStateError(.crypto, "cannot generate a key: \(error)")
        }
        return try update { snapshot in
            var key = generated
            key.isCurrent = !snapshot.keys.contains { $0.isCurrent }
            snapshot.keys.append(key)
            return key
        }
    }

    /// A current key, creating one when there is none (what `tokenscan dev` wants at start).
    @discardableResult
    public func ensureCurrentKey() throws(FakeVendorStateError) -> FakeVendorKey {
        if let current = currentKey { return current }
        if let first = keys.first {
            try makeCurrent(id: first.id)
            return try require(first.id)
        }
        return try createKey()
    }

    /// Makes `id` the one current key.
    public func makeCurrent(id: String) throws(FakeVendorStateError) {
        try update { snapshot throws(FakeVendorStateError) in
            guard snapshot.keys.contains(where: { $0.id == id }) else { throw Self.unknown(id) }
            for i in snapshot.keys.indices { snapshot.keys[i].isCurrent = snapshot.keys[i].id == id }
        }
    }

    /// Removes `id`. Removing the current key leaves none current until one is chosen.
    public func deleteKey(id: String) throws(FakeVendorStateError) {
        try update { snapshot throws(FakeVendorStateError) in
            guard snapshot.keys.contains(where: { $0.id == id }) else { throw Self.unknown(id) }
            snapshot.keys.removeAll { $0.id == id }
        }
    }

    /// Puts the keys in `ids` order; `ids` must name every key exactly once.
    public func reorder(ids: [String]) throws(FakeVendorStateError) {
        try update { snapshot throws(FakeVendorStateError) in
            let known = snapshot.keys.map(\.id)
            if let stranger = ids.first(where: { !known.contains($0) }) { throw Self.unknown(stranger) }
            guard ids.count == known.count, Set(ids).count == ids.count else {
                throw FakeVendorStateError(.badOrder, "the order must list each of the \(known.count) key ids exactly once")
            }
            snapshot.keys.sort { a, b in (ids.firstIndex(of: a.id) ?? 0) < (ids.firstIndex(of: b.id) ?? 0) }
        }
    }

    /// Records a send as the newest history entry, keeping the last `historyLimit`.
    public func record(_ send: FakeVendorSend) throws(FakeVendorStateError) {
        try update { snapshot in
            snapshot.history.insert(send, at: 0)
            if snapshot.history.count > Self.historyLimit { snapshot.history.removeLast(snapshot.history.count - Self.historyLimit) }
        }
    }

    private func require(_ id: String) throws(FakeVendorStateError) -> FakeVendorKey {
        guard let found = key(id: id) else { throw Self.unknown(id) }
        return found
    }

    private static func unknown(_ id: String) -> FakeVendorStateError {
        FakeVendorStateError(.unknownKey, "no key with id \"\(id.prefix(80))\"")
    }

    /// Applies `change` and writes the result; when either fails, the state is left as it was.
    private func update<T>(_ change: (inout Snapshot) throws(FakeVendorStateError) -> T) throws(FakeVendorStateError) -> T {
        try state.withLock { (current: inout Snapshot) throws(FakeVendorStateError) -> T in
            var next = current
            let answer = try change(&next)
            try write(next)
            current = next
            return answer
        }
    }

    private func write(_ snapshot: Snapshot) throws(FakeVendorStateError) {
        guard let path else { return }
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data: Data
        do {
            data = try encoder.encode(snapshot)
        } catch {
            throw FakeVendorStateError(.storage, "cannot encode the state: \(error)")
        }
        try AtomicFile.write(Array(data), to: path)
    }
}

/// Writes a whole file or nothing: a temporary file beside it, `fsync`, then `rename` over it.
enum AtomicFile {
    static func write(_ bytes: [UInt8], to path: String) throws(FakeVendorStateError) {
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("cannot create \(temporary)") }
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                let error = failure("cannot write \(temporary)")
                close(fd)
                unlink(temporary)
                throw error
            }
            offset += written
        }
        guard fsync(fd) == 0 else {
            let error = failure("cannot sync \(temporary)")
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let error = failure("cannot rename \(temporary) to \(path)")
            unlink(temporary)
            throw error
        }
    }

    private static func failure(_ what: String) -> FakeVendorStateError {
        FakeVendorStateError(.storage, "\(what): \(String(cString: strerror(errno)))")
    }
}
