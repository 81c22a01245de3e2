import Foundation
import Synchronization

/// Where log lines go. Implementation requirements: thread-safe; one call writes one whole line.
public protocol LogOutput: Sendable {
    func write(line: String)
}

/// Writes each line to standard error in one `write(2)`, so lines from many threads never interleave.
public struct StandardErrorLog: LogOutput {
    public init() {}
    public func write(line: String) {
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.write(2, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { return }
                offset += n
            }
        }
    }
}

/// Keeps lines in memory (tests read them back).
public final class InMemoryLog: LogOutput {
    private let stored = Mutex<[String]>([])
    public init() {}
    public func write(line: String) { stored.withLock { $0.append(line) } }
    public var lines: [String] { stored.withLock { $0 } }
}

/// Structured logging: one JSON object per line, `{"time","level","msg",…fields}`.
///
/// Fields are strings the caller chose; a raw token must never be one (log `LeakedToken.sha256`).
public struct Logger: Sendable {
    public enum Level: Int, Sendable, Comparable, CaseIterable {
        case debug, info, warning, error
        public var name: String { ["debug", "info", "warning", "error"][rawValue] }
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        public init?(name: String) {
            guard let found = Level.allCases.first(where: { $0.name == name.lowercased() }) else { return nil }
            self = found
        }
    }

    public let output: any LogOutput
    public let minimum: Level

    public init(output: any LogOutput = StandardErrorLog(), minimum: Level = .info) {
        self.output = output
        self.minimum = minimum
    }

    public static let none = Logger(output: NoLog(), minimum: .error)

    public func debug(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.debug, message, fields) }
    public func info(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.info, message, fields) }
    public func warning(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.warning, message, fields) }
    public func error(_ message: String, _ fields: KeyValuePairs<String, String> = [:]) { log(.error, message, fields) }

    public func log(_ level: Level, _ message: String, _ fields: KeyValuePairs<String, String>) {
        guard level >= minimum else { return }
        var line = "{\"time\":\"\(Self.timestamp())\",\"level\":\"\(level.name)\",\"msg\":\(JSONText.quote(message))"
        for (key, value) in fields {
            line += ",\(JSONText.quote(key)):\(JSONText.quote(value))"
        }
        line += "}"
        output.write(line: line)
    }

    private static func timestamp() -> String {
        Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}

struct NoLog: LogOutput {
    func write(line: String) {}
}

/// Minimal JSON string quoting for hand-built JSON (log lines, small answers).
public enum JSONText {
    public static func quote(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
        return out
    }
}
