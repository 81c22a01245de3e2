/// The configured token types, frozen: classifies a disclosed token as one of them.
public struct TokenTypeRegistry: Sendable {
    public let types: [any TokenType]
    private let byName: [String: Int]
    /// (prefix, index into `types`), longest prefix first.
    private let byPrefix: [(prefix: String, index: Int)]

    /// Builds the registry. Of two types with the same name (compared case-insensitively), the first wins.
    public init(_ types: [any TokenType]) {
        self.types = types
        var names: [String: Int] = [:]
        var prefixes: [(prefix: String, index: Int)] = []
        for (index, type) in types.enumerated() {
            let key = type.name.lowercased()
            if names[key] == nil { names[key] = index }
            for prefix in type.prefixes where !prefix.isEmpty {
                prefixes.append((prefix, index))
            }
        }
        byName = names
        // Stable: of two equally long prefixes the first configured type wins.
        byPrefix = prefixes.enumerated()
            .sorted { a, b in
                let la = a.element.prefix.utf8.count, lb = b.element.prefix.utf8.count
                return la != lb ? la > lb : a.offset < b.offset
            }
            .map(\.element)
    }

    /// The type named `name` (case-insensitive).
    public func type(named name: String) -> (any TokenType)? {
        byName[name.lowercased()].map { types[$0] }
    }

    /// The reported type when it names a configured type (case-insensitively); otherwise the type whose
    /// prefix the token starts with (longest prefix wins); nil when neither matches.
    public func classify(reportedType: String, token: LeakedToken) -> (any TokenType)? {
        if let named = type(named: reportedType) { return named }
        let bytes = token.value.utf8
        for entry in byPrefix where bytes.starts(with: entry.prefix.utf8) {
            return types[entry.index]
        }
        return nil
    }
}
