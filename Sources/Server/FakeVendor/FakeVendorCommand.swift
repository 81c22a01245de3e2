import Foundation
import Glibc
import SecretsCore

/// `tokenscan fake-vendor --port 8964 --target URL [--host ADDR] [--state FILE]`: runs the fake vendor
/// until SIGINT or SIGTERM. `arguments` are the words after `fake-vendor`. Answers the exit status:
/// 0 after a signal, 64 for a usage error, 1 when the state cannot be read or the port cannot be bound.
public func runFakeVendorCommand(arguments: [String], logger: Logger = Logger()) -> Int32 {
    let options: FakeVendorOptions
    do {
        options = try FakeVendorOptions(arguments)
    } catch {
        FileHandle.standardError.write(Data("tokenscan fake-vendor: \(error)\n\n\(FakeVendorOptions.usage)\n".utf8))
        return error.isHelp ? 0 : 64
    }

    // Block the signals before any server thread exists, so every thread inherits the mask and only
    // `sigwait` below receives them.
    SignalWaiter.blockTermination()

    let vendor: FakeVendor
    do {
        vendor = try FakeVendor(port: options.port, host: options.host, target: options.target,
                                statePath: options.statePath, logger: logger)
        try vendor.start()
    } catch {
        FileHandle.standardError.write(Data("tokenscan fake-vendor: \(error)\n".utf8))
        return 1
    }

    let target = options.target.isEmpty ? "(none: give one on the page)" : options.target
    FileHandle.standardOutput.write(Data("""
        fake vendor: \(vendor.baseURL)/
        public keys: \(vendor.publicKeysURL)
        target: \(target)
        state: \(options.statePath)

        """.utf8))

    let received = SignalWaiter.wait()
    logger.info("fake vendor stopping", ["signal": received.description])
    vendor.stop()
    return 0
}

/// The fake vendor's command-line options.
struct FakeVendorOptions: Equatable {
    var port = 8964
    var host = "127.0.0.1"
    var target = ""
    var statePath = "fake-vendor-state.json"

    static let usage = """
    usage: tokenscan fake-vendor [--port 8964] [--host 127.0.0.1] [--target URL] [--state fake-vendor-state.json]
      --port    port to listen on (0: any free port); default 8964
      --host    numeric address to listen on; default 127.0.0.1
      --target  where reports are sent unless the page names another URL
      --state   JSON file keeping keys and send history; default fake-vendor-state.json
    """

    struct Problem: Error, CustomStringConvertible {
        let description: String
        var isHelp = false
    }

    init(_ words: [String]) throws(Problem) {
        var i = 0
        while i < words.count {
            let word = words[i]
            if word == "--help" || word == "-h" { throw Problem(description: "help", isHelp: true) }
            guard word.hasPrefix("--") else { throw Problem(description: "unexpected argument \"\(word)\"") }
            var name = String(word.dropFirst(2))
            var value: String
            if let eq = name.firstIndex(of: "=") {
                value = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            } else {
                guard i + 1 < words.count else { throw Problem(description: "--\(name) needs a value") }
                i += 1
                value = words[i]
            }
            switch name {
            case "port":
                guard let port = Int(value), (0...65535).contains(port) else {
                    throw Problem(description: "--port must be a port number from 0 to 65535, got \"\(value)\"")
                }
                self.port = port
            case "host":
                guard !value.isEmpty else { throw Problem(description: "--host needs an address") }
                host = value
            case "target":
                value = value.trimmingCharacters(in: .whitespaces)
                let lower = value.lowercased()
                guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
                    throw Problem(description: "--target must be an http:// or https:// URL, got \"\(value)\"")
                }
                target = value
            case "state":
                guard !value.isEmpty else { throw Problem(description: "--state needs a file path") }
                statePath = value
            default:
                throw Problem(description: "unknown option --\(name)")
            }
            i += 1
        }
    }
}
