import Foundation
@testable import SecretsCore

/// `Resources/keyserver.py` running on a free loopback port: a real HTTP key server for the tests.
final class KeyServer: @unchecked Sendable {
    // @unchecked: `process` is set once in init and only terminated afterwards.
    struct StartFailed: Error, CustomStringConvertible {
        let description: String
    }

    let port: Int
    private let process: Process
    private let stdin: Pipe
    private let client = HTTPClient()

    /// Starts the server with `document` served at `/keys` in `mode`.
    init(document: [UInt8] = Array(#"{"public_keys": []}"#.utf8), mode: String = "normal") throws {
        let script = try Fixture.url("keyserver.py")
        let documentFile = FileManager.default.temporaryDirectory
            .appendingPathComponent("keyserver-\(UUID().uuidString).json")
        try Data(document).write(to: documentFile)
        defer { try? FileManager.default.removeItem(at: documentFile) }

        process = Process()
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = [script.path, "--document", documentFile.path, "--mode", mode]
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", script.path, "--document", documentFile.path, "--mode", mode]
        }
        let output = Pipe()
        stdin = Pipe()
        process.standardOutput = output
        process.standardInput = stdin
        process.standardError = FileHandle.nullDevice
        try process.run()

        var line: [UInt8] = []
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line += chunk
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw StartFailed(description: "keyserver.py did not print its port")
        }
        self.port = port
    }

    deinit { stop() }

    var keysURL: String { "http://127.0.0.1:\(port)/keys" }
    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// How many `/keys` requests arrived.
    func count() throws -> Int {
        let response = try client.get(url("/count"))
        return Int(String(decoding: response.body, as: UTF8.self)) ?? -1
    }

    /// The headers of the last `/keys` request (lower-case names).
    func lastHeaders() throws -> [String: String] {
        let response = try client.get(url("/last-headers"))
        return (try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: String]) ?? [:]
    }

    func setMode(_ mode: String) throws {
        _ = try client.post(url("/mode"), body: Array(mode.utf8))
    }

    func setDocument(_ document: [UInt8]) throws {
        _ = try client.post(url("/document"), body: document)
    }

    /// Kills the process and waits for it: the port then refuses connections.
    ///
    /// SIGKILL, not `terminate()`: a child spawned from a Dispatch worker thread inherits that
    /// thread's blocked signals, SIGTERM included.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? stdin.fileHandleForWriting.close()
    }
}
