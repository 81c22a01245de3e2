/// A command line after the command words: `--name value` options, `--flag` switches, nothing else.
///
/// Unknown options, a missing value or a stray word are errors the caller prints with the usage.
struct Arguments {
    private var values: [String: String] = [:]
    private var flags: Set<String> = []

    struct Problem: Error, CustomStringConvertible {
        let description: String
    }

    /// - Parameters:
    ///   - options: names (without `--`) that take a value.
    ///   - switches: names that take none.
    init(_ words: [String], options: Set<String>, switches: Set<String> = []) throws(Problem) {
        var i = 0
        while i < words.count {
            let word = words[i]
            guard word.hasPrefix("--") else { throw Problem(description: "unexpected argument \"\(word)\"") }
            var name = String(word.dropFirst(2))
            var inlineValue: String?
            if let eq = name.firstIndex(of: "=") {
                inlineValue = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            if switches.contains(name) {
                guard inlineValue == nil else { throw Problem(description: "--\(name) takes no value") }
                flags.insert(name)
            } else if options.contains(name) {
                if let inlineValue {
                    values[name] = inlineValue
                } else {
                    guard i + 1 < words.count else { throw Problem(description: "--\(name) needs a value") }
                    i += 1
                    values[name] = words[i]
                }
            } else {
                throw Problem(description: "unknown option --\(name)")
            }
            i += 1
        }
    }

    func value(_ name: String) -> String? { values[name] }

    func required(_ name: String) throws(Problem) -> String {
        guard let v = values[name], !v.isEmpty else { throw Problem(description: "--\(name) is required") }
        return v
    }

    func flag(_ name: String) -> Bool { flags.contains(name) }

    func int(_ name: String, default value: Int) throws(Problem) -> Int {
        guard let text = values[name] else { return value }
        guard let n = Int(text), (0...65535).contains(n) else { throw Problem(description: "--\(name) must be a port number, got \"\(text)\"") }
        return n
    }
}
