/// A failure of a storage backend. `isTransient` says whether retrying the same call may succeed
/// (busy database, lost connection) or not (constraint, corrupt data).
///
/// The description carries the backend's message (`sqlite3_errmsg`, `PQerrorMessage`) and never a token.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable { case transient, permanent, notFound, conflict }
    public let kind: Kind
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var isTransient: Bool { kind == .transient }
    public var description: String { message }
}
