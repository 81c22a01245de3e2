import Foundation

/// A configuration problem, naming the exact key (`vendors[1].keys_url`) and what is wrong with it.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    /// The JSON path of the offending key, empty for the file as a whole.
    public let path: String
    public let problem: String

    public init(path: String, _ problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { path.isEmpty ? problem : "\(path): \(problem)" }
}

/// Reads one JSON object of the configuration, tracking its path for error messages and refusing keys
/// it does not know (a typo must not silently fall back to a default).
struct ConfigReader {
    let path: String
    private let object: [String: Any]
    private var used: Set<String> = []

    init(_ value: Any, path: String) throws(ConfigurationError) {
        guard let object = value as? [String: Any] else {
            throw ConfigurationError(path: path, "must be a JSON object")
        }
        self.object = object
        self.path = path
    }

    private func at(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    mutating func has(_ key: String) -> Bool {
        object[key] != nil && !(object[key] is NSNull)
    }

    mutating func raw(_ key: String) -> Any? {
        used.insert(key)
        guard let value = object[key], !(value is NSNull) else { return nil }
        return value
    }

    mutating func string(_ key: String) throws(ConfigurationError) -> String? {
        guard let value = raw(key) else { return nil }
        guard let s = value as? String else { throw ConfigurationError(path: at(key), "must be a string") }
        return s
    }

    mutating func string(_ key: String, default value: String) throws(ConfigurationError) -> String {
        try string(key) ?? value
    }

    mutating func nonEmptyString(_ key: String) throws(ConfigurationError) -> String? {
        guard let s = try string(key) else { return nil }
        guard !s.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ConfigurationError(path: at(key), "must not be empty")
        }
        return s
    }

    mutating func bool(_ key: String, default value: Bool) throws(ConfigurationError) -> Bool {
        guard let raw = raw(key) else { return value }
        guard let n = raw as? NSNumber, n.isJSONBoolean else {
            throw ConfigurationError(path: at(key), "must be true or false")
        }
        return n.boolValue
    }

    mutating func int(_ key: String, default value: Int, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let raw = raw(key) else { return value }
        guard let n = raw as? NSNumber, !n.isJSONBoolean,
              n.doubleValue == n.doubleValue.rounded(), let i = Int(exactly: n.doubleValue) else {
            throw ConfigurationError(path: at(key), "must be a whole number")
        }
        guard range.contains(i) else {
            throw ConfigurationError(path: at(key), "must be between \(range.lowerBound) and \(range.upperBound), got \(i)")
        }
        return i
    }

    mutating func choice<T: RawRepresentable>(_ key: String, default value: T) throws(ConfigurationError) -> T
        where T.RawValue == String, T: CaseIterable {
        guard let s = try string(key) else { return value }
        guard let v = T(rawValue: s) else {
            let allowed = T.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
            throw ConfigurationError(path: at(key), "must be one of \(allowed), got \"\(s)\"")
        }
        return v
    }

    mutating func object(_ key: String) throws(ConfigurationError) -> ConfigReader? {
        guard let value = raw(key) else { return nil }
        return try ConfigReader(value, path: at(key))
    }

    mutating func array(_ key: String) throws(ConfigurationError) -> [ConfigReader]? {
        guard let value = raw(key) else { return nil }
        guard let items = value as? [Any] else { throw ConfigurationError(path: at(key), "must be a JSON array") }
        var readers: [ConfigReader] = []
        for (i, item) in items.enumerated() {
            readers.append(try ConfigReader(item, path: "\(at(key))[\(i)]"))
        }
        return readers
    }

    /// A secret given inline under `key` or, preferably, named by `key_env` as an environment variable.
    mutating func secret(_ key: String, environment: [String: String]) throws(ConfigurationError) -> String? {
        let inline = try string(key)
        if let name = try string("\(key)_env") {
            if inline != nil { throw ConfigurationError(path: at(key), "give either \(key) or \(key)_env, not both") }
            guard let value = environment[name], !value.isEmpty else {
                throw ConfigurationError(path: at("\(key)_env"), "environment variable \(name) is not set")
            }
            return value
        }
        return inline
    }

    /// Refuses keys that were never read: they are typos or settings this version does not have.
    func finish() throws(ConfigurationError) {
        if let unknown = object.keys.sorted().first(where: { !used.contains($0) }) {
            throw ConfigurationError(path: at(unknown), "unknown key")
        }
    }
}

extension NSNumber {
    /// JSONSerialization answers `true`/`false` as NSNumbers of C type `char`.
    var isJSONBoolean: Bool { String(cString: objCType) == "c" }
}
