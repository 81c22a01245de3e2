import Foundation

/// Runs a small Python program with the Debian interpreter (it has `aiosmtpd`; the `python3` on PATH may not).
enum Python {
    static let interpreter = "/usr/bin/python3"

    /// Runs `arguments` and answers standard output; throws when the exit status is not 0.
    static func run(_ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: interpreter)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestFailure("\(interpreter) \(arguments.prefix(2)) exited with \(process.terminationStatus)")
        }
        return data
    }
}

/// A message as Python's `email` package (policy `default`) reads it: decoded headers, the decoded body
/// with LF line endings, and the defects it found. Stands in for "a mail client opens it".
struct ParsedMail: Decodable {
    let headers: [String: [String]]
    let body: String
    let defects: [String]
    let contentType: String
    let charset: String?

    func header(_ name: String) -> String? { headers[name.lowercased()]?.first }

    static func parse(file path: String) throws -> ParsedMail {
        let program = """
        import sys, json, email, email.policy
        raw = open(sys.argv[1], 'rb').read()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        headers = {}
        for k, v in msg.items():
            headers.setdefault(k.lower(), []).append(str(v))
        defects = [type(d).__name__ for d in msg.defects]
        for k, v in msg.items():
            defects += [type(d).__name__ for d in getattr(v, 'defects', ())]
        print(json.dumps({"headers": headers, "body": msg.get_content().replace("\\r\\n", "\\n"), "defects": defects,
                          "contentType": msg.get_content_type(), "charset": msg.get_content_charset()}))
        """
        return try JSONDecoder().decode(ParsedMail.self, from: Python.run(["-c", program, path]))
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
