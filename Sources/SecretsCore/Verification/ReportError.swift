/// Why a whole report body was refused (a bad item never refuses the report; it becomes a
/// `Disclosure` with a `problem`).
///
/// The description is short and safe to send back to the vendor: it never quotes the body.
public struct ReportError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Code: Sendable, Hashable {
        case notJSON
        case notArray
        case tooManyItems(limit: Int)
    }

    private let code: Code
    private init(_ code: Code) { self.code = code }

    /// The body is not JSON (or not UTF-8).
    public static let notJSON = ReportError(.notJSON)
    /// The body is JSON but its top level is not an array.
    public static let notArray = ReportError(.notArray)
    /// The array holds more items than the vendor's `max_items`.
    public static func tooManyItems(limit: Int) -> ReportError { ReportError(.tooManyItems(limit: limit)) }

    /// A snake_case name for metrics and JSON error bodies: `not_json`, `not_array`, `too_many_items`.
    public var reason: String {
        switch code {
        case .notJSON: "not_json"
        case .notArray: "not_array"
        case .tooManyItems: "too_many_items"
        }
    }

    public var description: String {
        switch code {
        case .notJSON: "body is not JSON"
        case .notArray: "body is not a JSON array"
        case .tooManyItems(let limit): "report has more than \(limit) items"
        }
    }
}
