import Foundation
import SecretsCore

// tokenscan-loadgen: makes signed vendor traffic for the benchmarks in bench/ (not a test, not shipped).
//
//   tokenscan-loadgen keys --out DIR
//       a P-256 key: DIR/key.pem (private) and DIR/keys.json (the vendor meta-API document)
//   tokenscan-loadgen requests --key DIR --count N --out FILE
//       N single-item reports, each with a distinct well-formed PyPI token we never issued,
//       one per line: key_id<TAB>signature<TAB>body (for bench/report.lua)
//   tokenscan-loadgen pipeline [--dir DIR] [--durability process|power_loss]
//       the pipeline on SQLite without HTTP: intake items/s, tokens fully processed/s (PipelineBench.swift)
//   tokenscan-loadgen post --key DIR --url URL --items N [--issued FILE]
//       signs and posts one report of N items, prints "status=… ms=…"

struct Fail: Error, CustomStringConvertible { let description: String }

func option(_ name: String, in args: [String]) throws -> String {
    guard let i = args.firstIndex(of: "--\(name)"), i + 1 < args.count else { throw Fail(description: "--\(name) is required") }
    return args[i + 1]
}

struct SigningKey {
    let key: P256.Signing.PrivateKey
    let id: String

    init(directory: String) throws {
        key = try P256.Signing.PrivateKey(pemRepresentation: String(contentsOfFile: directory + "/key.pem", encoding: .utf8))
        id = SHA256.hex(try key.publicKey.pemRepresentation)
    }

    static func create(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let key = try P256.Signing.PrivateKey()
        let pem = try key.publicKey.pemRepresentation
        try key.pemRepresentation.write(toFile: directory + "/key.pem", atomically: true, encoding: .utf8)
        let document: [String: Any] = ["public_keys": [["key_identifier": SHA256.hex(pem), "key": pem, "is_current": true]]]
        try JSONSerialization.data(withJSONObject: document).write(to: URL(fileURLWithPath: directory + "/keys.json"))
    }
}

func reportBody(_ tokens: [String]) throws -> [UInt8] {
    let items = tokens.enumerated().map { i, t in
        ["token": t, "type": "pypi_api_token", "url": "https://github.com/bench/repo/blob/main/file\(i).py", "source": "commit"]
    }
    return Array(try JSONSerialization.data(withJSONObject: items, options: [.withoutEscapingSlashes]))
}

func main() throws {
    let args = Array(CommandLine.arguments.dropFirst())
    switch args.first {
    case "keys":
        try SigningKey.create(directory: try option("out", in: args))
    case "requests":
        let key = try SigningKey(directory: try option("key", in: args))
        guard let count = Int(try option("count", in: args)) else { throw Fail(description: "--count must be a number") }
        let minter = PyPITokenMinter(rootKey: SecureRandom.bytes(32))
        var out = ""
        out.reserveCapacity(count * 400)
        for _ in 0..<count {
            let body = try reportBody([minter.mint().value])
            let signature = try key.key.signature(for: body).base64Representation
            out += "\(key.id)\t\(signature)\t\(String(decoding: body, as: UTF8.self))\n"
        }
        try out.write(toFile: try option("out", in: args), atomically: true, encoding: .utf8)
    case "pipeline":
        try runPipelineBench(args)
    case "post":
        let key = try SigningKey(directory: try option("key", in: args))
        guard let items = Int(try option("items", in: args)) else { throw Fail(description: "--items must be a number") }
        var tokens: [String] = []
        if let i = args.firstIndex(of: "--issued"), i + 1 < args.count {
            tokens = try String(contentsOfFile: args[i + 1], encoding: .utf8).split(separator: "\n").map(String.init)
        }
        let minter = PyPITokenMinter(rootKey: SecureRandom.bytes(32))
        while tokens.count < items { tokens.append(minter.mint().value) }
        let body = try reportBody(Array(tokens.prefix(items)))
        let headers: HTTPHeaders = [
            "Github-Public-Key-Identifier": key.id,
            "Github-Public-Key-Signature": try key.key.signature(for: body).base64Representation,
            "Content-Type": "application/json",
        ]
        let started = ContinuousClock.now
        let response = try HTTPClient().post(try option("url", in: args), headers: headers, body: body,
                                             timeouts: HTTPTimeouts(connect: .seconds(5), total: .seconds(60)))
        let elapsed = ContinuousClock.now - started
        let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        print(String(format: "status=%d ms=%.1f bytes=%d", response.status, ms, body.count))
    default:
        throw Fail(description: "usage: tokenscan-loadgen keys|requests|post … (see the comment at the top of main.swift)")
    }
}

do {
    try main()
} catch {
    FileHandle.standardError.write(Data("tokenscan-loadgen: \(error)\n".utf8))
    exit(1)
}
