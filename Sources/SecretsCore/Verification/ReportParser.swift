import Foundation

/// Turns a verified report body into disclosures.
///
/// Implementation requirements: read the **raw body bytes** (never a re-serialized form); throw
/// `ReportError` only when the body as a whole is unusable (not JSON, not an array, too many items);
/// judge every item on its own, turning a malformed one into a `Disclosure` with `problem` set; never
/// put a raw token into `problem` or any other text. Must be safe to call from many threads at once.
public protocol ReportParser: Sendable {
    func disclosures(from body: [UInt8]) throws(ReportError) -> [Disclosure]
}

/// The report format every known vendor sends: a JSON array of `{"token","type","url","source"}`.
///
/// `url` may be empty or absent, `source` may be absent, `type` absent reads as empty (classified by
/// token prefix later). Each item is tolerant: a non-object, a missing, non-string, empty or too long
/// token, or a non-string `type`/`url`/`source` yields a `Disclosure` whose `problem` says so. A
/// usable token is kept even when another field is malformed, so the leak can still be recorded.
public struct StandardReportParser: ReportParser {
    /// Most items one report may hold. Default 10,000.
    public var maxItems: Int
    /// Longest token accepted, in UTF-8 bytes. Default 4096.
    public var maxTokenLength: Int

    public init(maxItems: Int = 10_000, maxTokenLength: Int = 4096) {
        self.maxItems = maxItems
        self.maxTokenLength = maxTokenLength
    }

    public func disclosures(from body: [UInt8]) throws(ReportError) -> [Disclosure] {
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])
        } catch {
            throw .notJSON
        }
        guard let items = parsed as? [Any] else { throw .notArray }
        guard items.count <= maxItems else { throw .tooManyItems(limit: maxItems) }
        return items.map(disclosure(from:))
    }

    private func disclosure(from item: Any) -> Disclosure {
        guard let object = item as? [String: Any] else {
            return Disclosure(token: nil, type: "", url: "", problem: "item is not an object")
        }
        var problems: [String] = []
        var token: LeakedToken?
        switch object["token"] {
        case nil, is NSNull:
            problems.append("token missing")
        case let value as String:
            if value.isEmpty {
                problems.append("token empty")
            } else if value.utf8.count > maxTokenLength {
                problems.append("token too long")
            } else {
                token = LeakedToken(value)
            }
        default:
            problems.append("token is not a string")
        }
        let type = field("type", of: object, problems: &problems) ?? ""
        let url = field("url", of: object, problems: &problems) ?? ""
        let source = field("source", of: object, problems: &problems)
        return Disclosure(token: token, type: type, url: url, source: source,
                          problem: problems.isEmpty ? nil : problems.joined(separator: "; "))
    }

    /// The string under `name`; nil when absent or null; a problem noted when of another type.
    private func field(_ name: String, of object: [String: Any], problems: inout [String]) -> String? {
        switch object[name] {
        case nil, is NSNull: return nil
        case let value as String: return value
        default:
            problems.append("\(name) is not a string")
            return nil
        }
    }
}
