import Foundation

/// `smtp_server.py` (aiosmtpd) running in a child process on 127.0.0.1, storing what it receives in a folder.
final class SMTPTestServer {
    struct Envelope: Decodable {
        let mail_from: String
        let rcpt_tos: [String]
        let tls: Bool
        let authenticated: Bool
    }

    struct Received {
        let data: [UInt8]
        let envelope: Envelope
        let path: String
    }

    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("smtp_server.py").path

    let port: Int
    let folder: TemporaryDirectory
    private let process: Process

    /// Starts the server with `smtp_server.py`'s options (`--auth`, `--refuse`, …), on `port` or a free one.
    init(_ options: [String] = [], port: Int? = nil) throws {
        folder = try TemporaryDirectory("smtp")
        process = Process()
        process.executableURL = URL(fileURLWithPath: Python.interpreter)
        process.arguments = [Self.script, "--dir", folder.path] + options + (port.map { ["--port", String($0)] } ?? [])
        let output = Pipe()
        process.standardOutput = output
        try process.run()

        var line: [UInt8] = []
        while !line.contains(0x0A) {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            line += chunk
        }
        guard let text = String(bytes: line, encoding: .utf8)?.split(separator: "\n").first, let port = Int(text) else {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw TestFailure("smtp_server.py did not start: \(String(decoding: line, as: UTF8.self))")
        }
        self.port = port
    }

    deinit { stop() }

    var url: String { "smtp://127.0.0.1:\(port)" }

    /// Kills the server (SIGKILL: a child of the test runner may have SIGTERM blocked) and waits for it.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// The messages stored so far, in arrival order.
    func received() throws -> [Received] {
        var out: [Received] = []
        var n = 1
        while FileManager.default.fileExists(atPath: "\(folder.path)/\(n).json") {
            let base = "\(folder.path)/\(n)"
            let data = try Data(contentsOf: URL(fileURLWithPath: base + ".eml"))
            let envelope = try JSONDecoder().decode(Envelope.self, from: Data(contentsOf: URL(fileURLWithPath: base + ".json")))
            out.append(Received(data: Array(data), envelope: envelope, path: base + ".eml"))
            n += 1
        }
        return out
    }
}

/// A self-signed certificate for `localhost` and 127.0.0.1, made with the `openssl` command.
struct SelfSignedCertificate {
    let certificate: String
    let key: String

    init(in folder: TemporaryDirectory) throws {
        certificate = "\(folder.path)/cert.pem"
        key = "\(folder.path)/key.pem"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                             "-keyout", key, "-out", certificate, "-days", "1", "-subj", "/CN=localhost",
                             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"]
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestFailure("openssl req failed") }
    }
}
