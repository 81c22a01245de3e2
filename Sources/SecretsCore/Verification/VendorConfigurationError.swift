/// A vendor configuration that cannot work, naming the offending field the way the configuration
/// file spells it (`vendors[1].keys_url`), so `tokenscan config check` can say exactly where.
public struct VendorConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The field's path, e.g. `vendors[1].keys_url`.
    public let field: String
    /// What is wrong, e.g. `is required for kind "gitlab"`.
    public let problem: String

    public init(field: String, problem: String) {
        self.field = field
        self.problem = problem
    }

    /// `vendors[1].keys_url is required for kind "gitlab"`.
    public var description: String { "\(field) \(problem)" }
}
