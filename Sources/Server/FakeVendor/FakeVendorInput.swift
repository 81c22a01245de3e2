import Foundation

/// Any JSON value, decoded strictly (a number is never taken for a Boolean), so API input can be
/// checked field by field with errors that name the field.
enum JSONValue: Decodable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a Boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// The JSON body of an API request, with typed, worded field access.
struct FakeVendorInput {
    let value: JSONValue

    /// Parses `body`; an empty body reads as `{}` (buttons that send nothing).
    init(_ body: [UInt8]) throws(FakeVendorAPIError) {
        guard !body.isEmpty else {
            value = .object([:])
            return
        }
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(body))
        } catch {
            throw FakeVendorAPIError(400, "the request body is not valid JSON")
        }
    }

    private var fields: [String: JSONValue] {
        get throws(FakeVendorAPIError) {
            guard case .object(let fields) = value else {
                throw FakeVendorAPIError(400, "the request body must be a JSON object, got \(value.typeName)")
            }
            return fields
        }
    }

    /// The string field `name`; nil when absent or null.
    func string(_ name: String) throws(FakeVendorAPIError) -> String? {
        switch try fields[name] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        case let other?: throw FakeVendorAPIError(400, "\"\(name)\" must be a string, got \(other.typeName)")
        }
    }

    /// The string field `name`, which must be present.
    func requiredString(_ name: String) throws(FakeVendorAPIError) -> String {
        guard let text = try string(name) else { throw FakeVendorAPIError(400, "\"\(name)\" is required") }
        return text
    }

    /// The whole-number field `name`; nil when absent or null.
    func integer(_ name: String) throws(FakeVendorAPIError) -> Int? {
        switch try fields[name] {
        case nil, .null?: return nil
        case .number(let number)?:
            guard number.rounded() == number, abs(number) < 1e15 else {
                throw FakeVendorAPIError(400, "\"\(name)\" must be a whole number")
            }
            return Int(number)
        case let other?: throw FakeVendorAPIError(400, "\"\(name)\" must be a number, got \(other.typeName)")
        }
    }

    /// A list of strings: the body itself when it is an array, else its field `name`.
    func stringList(_ name: String) throws(FakeVendorAPIError) -> [String] {
        let list: JSONValue
        if case .array = value {
            list = value
        } else {
            guard let field = try fields[name] else { throw FakeVendorAPIError(400, "\"\(name)\" is required") }
            list = field
        }
        guard case .array(let items) = list else {
            throw FakeVendorAPIError(400, "\"\(name)\" must be an array of strings, got \(list.typeName)")
        }
        var strings: [String] = []
        for item in items {
            guard case .string(let text) = item else {
                throw FakeVendorAPIError(400, "\"\(name)\" must be an array of strings; found \(item.typeName)")
            }
            strings.append(text)
        }
        return strings
    }

    /// The field `name` as one of `E`'s raw values, or `fallback` when absent.
    func choice<E: RawRepresentable & CaseIterable>(_ name: String, default fallback: E) throws(FakeVendorAPIError) -> E where E.RawValue == String {
        guard let text = try string(name), !text.isEmpty else { return fallback }
        guard let found = E(rawValue: text) else {
            let allowed = E.allCases.map(\.rawValue).joined(separator: ", ")
            throw FakeVendorAPIError(400, "\"\(name)\" must be one of \(allowed); got \"\(text.prefix(40))\"")
        }
        return found
    }
}
