import Foundation
import Testing
@testable import SecretsCore

/// The data files under `Resources/` (copies of /work/shared/testdata, see its README).
enum Fixture {
    struct Missing: Error, CustomStringConvertible {
        let name: String
        var description: String { "test resource \(name) not found" }
    }

    static func url(_ name: String) throws -> URL {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Resources") else {
            throw Missing(name: name)
        }
        return url
    }

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: url(name)))
    }

    static func decode<T: Decodable>(_ type: T.Type, from name: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: url(name)))
    }
}

/// `github-docs-sample.json` and `warehouse-sample.json`.
struct SignedSample: Decodable {
    struct Key: Decodable {
        let key_identifier: String
        let key: String
        let is_current: Bool
    }
    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        let name: String
        let key_identifier: String
        let signature: String
        let body: String
        let body_length: Int
        let body_sha256: String
        let expected: String
        var testDescription: String { name }
    }
    let public_keys: [Key]
    let cases: [Case]

    static let files = ["github-docs-sample.json", "warehouse-sample.json"]

    /// Every case of both files, with the PEM of its key.
    static func allCases() throws -> [SampleCase] {
        try files.flatMap { file in
            let sample = try Fixture.decode(SignedSample.self, from: file)
            return sample.cases.compactMap { c in
                sample.public_keys.first { $0.key_identifier == c.key_identifier }.map {
                    SampleCase(file: file, sample: c, pem: $0.key, keysDocument: sample.keysDocument)
                }
            }
        }
    }

    /// The sample's `public_keys`, as a meta-API document.
    var keysDocument: [UInt8] {
        let entries = public_keys.map { key in
            ["key_identifier": key.key_identifier, "key": key.key, "is_current": key.is_current] as [String: Any]
        }
        return (try? JSONSerialization.data(withJSONObject: ["public_keys": entries])).map { [UInt8]($0) } ?? []
    }
}

struct SampleCase: Sendable, CustomTestStringConvertible {
    let file: String
    let sample: SignedSample.Case
    let pem: String
    let keysDocument: [UInt8]
    var testDescription: String { sample.name }
}

/// Test keys and documents made on the spot.
enum TestKeys {
    /// A fresh P-256 key pair, with the public half as PEM.
    static func make() throws -> (P256.Signing.PrivateKey, String) {
        let key = try P256.Signing.PrivateKey()
        return (key, try key.publicKey.pemRepresentation)
    }

    /// `{"public_keys": [...]}` with the given (id, PEM, is_current) entries.
    static func document(_ entries: [(id: String, pem: String, current: Bool)]) throws -> [UInt8] {
        let keys = entries.map { ["key_identifier": $0.id, "key": $0.pem, "is_current": $0.current] as [String: Any] }
        return [UInt8](try JSONSerialization.data(withJSONObject: ["public_keys": keys]))
    }

    /// Raw JSON objects as entries (for malformed ones).
    static func document(raw entries: [Any]) throws -> [UInt8] {
        [UInt8](try JSONSerialization.data(withJSONObject: ["public_keys": entries]))
    }

    /// The request headers a GitHub-style vendor sends.
    static func headers(_ pair: HeaderPair, keyID: String, signature: P256.Signing.Signature) -> HTTPHeaders {
        [pair.keyIdentifier: keyID, pair.signature: signature.base64Representation]
    }
}

/// Runs `openssl` with `arguments`, where `{in}` and `{out}` stand for temporary files holding `input`
/// and the output; answers the output file's text.
///
/// Files, not pipes: a pipe's write end can be inherited by another test's long-lived child process
/// (a key server), and then reading to end-of-file would never finish.
func openssl(_ arguments: [String], input: String = "") throws -> String {
    let directory = FileManager.default.temporaryDirectory
    let inFile = directory.appendingPathComponent("openssl-in-\(UUID().uuidString)")
    let outFile = directory.appendingPathComponent("openssl-out-\(UUID().uuidString)")
    defer {
        try? FileManager.default.removeItem(at: inFile)
        try? FileManager.default.removeItem(at: outFile)
    }
    try Data(input.utf8).write(to: inFile)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
    process.arguments = arguments.map { $0 == "{in}" ? inFile.path : $0 == "{out}" ? outFile.path : $0 }
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return String(decoding: (try? Data(contentsOf: outFile)) ?? Data(), as: UTF8.self)
}
