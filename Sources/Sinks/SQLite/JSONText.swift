import Foundation
import SecretsCore

/// JSON text columns (`outbox.recipients`, `events.data`): compact, keys sorted, so equal values store equal text.
enum JSONText {
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
