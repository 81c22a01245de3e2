import Foundation

/// `Tests/SecretsCoreTests/Resources/keyserver.py` serving a document on a free loopback port.
final class LoopbackKeyServer {
    struct StartFailed: Error {}

    let port: Int
    private let process = Process()
    private let stdin = Pipe()

    init(document: [UInt8]) throws {
        let script = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("SecretsCoreTests/Resources/keyserver.py")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("vendors-keys-\(UUID().uuidString).json")
        try Data(document).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let python = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "/usr/bin/env"
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = (python == "/usr/bin/env" ? ["python3"] : []) + [script.path, "--document", file.path]
        let output = Pipe()
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
            throw StartFailed()
        }
        self.port = port
    }

    var keysURL: String { "http://127.0.0.1:\(port)/keys" }

    /// SIGKILL: a child spawned from a Dispatch worker thread may have SIGTERM blocked.
    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? stdin.fileHandleForWriting.close()
    }
}
