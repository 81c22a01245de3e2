import Foundation

/// A fresh folder under the system's temporary directory, removed when the value goes away.
final class TemporaryDirectory {
    let path: String

    init(_ label: String = "sinks") throws {
        path = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("tokenscan-\(label)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func files(in sub: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: "\(path)/\(sub)").sorted()
    }
}
