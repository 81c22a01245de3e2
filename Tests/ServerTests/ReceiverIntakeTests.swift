import Foundation
import SecretsCore
@testable import Server
import Testing

/// The receiver tells the intake which reports are on their way (group commit waits for them): every
/// report it starts verifying must end that announcement exactly once, whatever its answer, or the intake
/// would wait its whole window before every later commit.
@Suite("ReceiverResponder: reports announced to the intake end, whatever the answer")
struct ReceiverIntakeTests {
    /// An assembled application on a temporary SQLite file, its GitHub vendor's keys served by a live fake
    /// vendor, and the receiver called directly (no HTTP server).
    private final class Rig {
        let vendor: FakeVendor
        let directory: String
        let app: Application
        let receiver: ReceiverResponder

        init(commitWindowMicroseconds: Int) throws {
            vendor = try FakeVendor(target: "", statePath: nil)
            _ = try vendor.state.ensureCurrentKey()
            try vendor.start()
            directory = NSTemporaryDirectory() + "tokenscan-receiver-intake-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let json = """
                {"listen": "127.0.0.1:0", "database": "sqlite:db.sqlite3", "mail": {"path": "mail"},
                 "server": {"commit_window_us": \(commitWindowMicroseconds)},
                 "vendors": [{"id": "github", "keys_url": "\(vendor.publicKeysURL)"}]}
                """
            let configuration = try Configuration.parse(data: Data(json.utf8), baseDirectory: directory)
            app = try Application(configuration: configuration, logger: .none)
            receiver = ReceiverResponder(vendors: app.vendors, intake: app.intake,
                                         health: HealthResponder(vendors: app.vendors, storage: app.storage, prometheus: app.prometheus),
                                         metrics: app.metrics, logger: app.logger)
            app.intake.start()
        }

        deinit {
            app.intake.stop()
            vendor.stop(graceful: .zero)
            try? FileManager.default.removeItem(atPath: directory)
        }

        /// POSTs `body` to the detecting path, signed as `tamper` says.
        func post(_ body: String, tamper: FakeVendorTamper = .none) throws -> HTTPResponse {
            let signed = try FakeVendorSigner(state: vendor.state).sign(body, tamper: tamper)
            var headers = HTTPHeaders()
            headers.add("Content-Type", "application/json")
            headers.add("Github-Public-Key-Identifier", signed.keyID)
            headers.add("Github-Public-Key-Signature", signed.signature)
            return receiver.respond(to: HTTPRequest(method: "POST", path: "/_/secrets/disclose-token", headers: headers, body: signed.body))
        }
    }

    private static let report = #"[{"token": "pypi-AgEIcHlwaS5vcmcCJGFhYWFhYWFhLWJiYmItY2NjYy1kZGRkLWVlZWVlZWVlZWVlZQ", "type": "pypi_api_token", "url": "https://example.com/leak"}]"#

    @Test("accepted, wrong signature, unknown key id, not JSON, not an array: the intake has nothing on its way after each")
    func everyAnswerEndsTheArrival() throws {
        // A window of 100 ms: were an announcement left open, every later commit would wait it out.
        let rig = try Rig(commitWindowMicroseconds: 100_000)
        let cases: [(String, FakeVendorTamper, Int)] = [
            (Self.report, .none, 204),
            (Self.report, .wrongSignature, 400),
            (Self.report, .unknownKeyID, 400),
            (#"[{"token": "x""#, .none, 400),
            (#"{"token": "x"}"#, .none, 400),
            (Self.report, .none, 204),
        ]
        for (body, tamper, status) in cases {
            let response = try rig.post(body, tamper: tamper)
            #expect(response.status == status, "\(tamper) \(body)")
            #expect(rig.app.intake.arrivingCount == 0, "after a \(response.status) (\(tamper))")
        }
        #expect(rig.app.intake.batchCount == 2, "the two accepted reports, each committed")
    }
}
