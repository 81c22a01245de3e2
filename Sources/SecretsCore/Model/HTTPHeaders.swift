/// Request or response headers in arrival order. Names compare case-insensitively.
public struct HTTPHeaders: Sendable, Sequence, ExpressibleByDictionaryLiteral {
    public private(set) var entries: [(name: String, value: String)]

    public init(_ entries: [(name: String, value: String)] = []) { self.entries = entries }
    public init(dictionaryLiteral elements: (String, String)...) { entries = elements.map { (name: $0.0, value: $0.1) } }

    public mutating func add(_ name: String, _ value: String) { entries.append((name: name, value: value)) }

    /// Every value sent under `name` (case-insensitive), in order. More than one means a doubled header.
    public func values(_ name: String) -> [String] {
        entries.compactMap { $0.name.caseInsensitiveEquals(name) ? $0.value : nil }
    }

    /// The value under `name` when it was sent exactly once.
    public func single(_ name: String) -> String? {
        let found = values(name)
        return found.count == 1 ? found[0] : nil
    }

    public func contains(_ name: String) -> Bool { entries.contains { $0.name.caseInsensitiveEquals(name) } }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { entries.makeIterator() }
}

extension String {
    /// ASCII case-insensitive equality, as HTTP header names compare.
    public func caseInsensitiveEquals(_ other: String) -> Bool {
        let a = utf8, b = other.utf8
        guard a.count == b.count else { return false }
        // Header lookups compare every header name on the request path: over the contiguous bytes when
        // the strings have them (native strings do), element by element otherwise.
        let contiguous = a.withContiguousStorageIfAvailable { x in
            b.withContiguousStorageIfAvailable { y in Self.asciiCaseInsensitiveEqual(x, y) }
        }
        if let contiguous, let equal = contiguous { return equal }
        return Self.asciiCaseInsensitiveEqual(a, b)
    }

    private static func asciiCaseInsensitiveEqual<A: Collection<UInt8>, B: Collection<UInt8>>(_ a: A, _ b: B) -> Bool {
        for (x, y) in zip(a, b) where x != y {
            let lx = (x >= 65 && x <= 90) ? x + 32 : x
            let ly = (y >= 65 && y <= 90) ? y + 32 : y
            if lx != ly { return false }
        }
        return true
    }
}
