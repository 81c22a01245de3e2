import Foundation
import SecretsCore

/// JSON text columns (`outbox.recipients`, `events.data`): compact, keys sorted, so equal values store equal text.
enum JSONText {
    /// An object of strings, byte for byte as the generic `encode` writes it (keys sorted by their UTF-8
    /// bytes; `"`, `\\` and control characters escaped, `\b \f \n \r \t` by name, others as `\u00xx`;
    /// everything else, `/` included, as is) without `JSONEncoder`'s cost: it runs for every event.
    /// Never throws; typed like the generic one so that call sites read the same.
    static func encode(_ object: [String: String]) throws(StoreError) -> String {
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(object.reduce(2) { $0 + $1.key.utf8.count + $1.value.utf8.count + 6 })
        for (index, entry) in object.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }).enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            appendQuoted(entry.key, to: &out)
            out.append(UInt8(ascii: ":"))
            appendQuoted(entry.value, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// An array of strings, byte for byte as the generic `encode` writes it (see the object overload).
    static func encode(_ array: [String]) throws(StoreError) -> String {
        var out: [UInt8] = [UInt8(ascii: "[")]
        out.reserveCapacity(array.reduce(2) { $0 + $1.utf8.count + 3 })
        for (index, item) in array.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            appendQuoted(item, to: &out)
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    private static func appendQuoted(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), byte]
            case 0x08: out += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
            case 0x0C: out += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0x00..<0x20:
                out += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                        hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0x0F)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    static func encode<T: Encodable>(_ value: T) throws(StoreError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        } catch {
            throw StoreError(.permanent, "cannot encode a JSON column: \(error)")
        }
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String, what: String) throws(StoreError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(text.utf8))
        } catch {
            throw StoreError(.permanent, "\(what) is not valid JSON of the expected shape")
        }
    }
}
