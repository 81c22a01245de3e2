import Foundation
import Testing
import SecretsCore
@testable import Vendors

/// GitHub's documented sample request through a GitHub vendor made from configuration, with its keys
/// served by a loopback key server.
@Suite("GitHub docs sample through the GitHub vendor")
struct GitHubSampleTests {
    struct Sample: Decodable {
        struct Key: Decodable { let key_identifier: String; let key: String; let is_current: Bool }
        struct Case: Decodable { let name: String; let key_identifier: String; let signature: String; let body: String; let expected: String }
        let public_keys: [Key]
        let cases: [Case]
    }

    static func sample() throws -> Sample {
        let url = try #require(Bundle.module.url(forResource: "github-docs-sample", withExtension: "json", subdirectory: "Resources"))
        return try JSONDecoder().decode(Sample.self, from: Data(contentsOf: url))
    }

    static func keysDocument(_ sample: Sample) throws -> [UInt8] {
        let keys = sample.public_keys.map { ["key_identifier": $0.key_identifier, "key": $0.key, "is_current": $0.is_current] as [String: Any] }
        return [UInt8](try JSONSerialization.data(withJSONObject: ["public_keys": keys]))
    }

    @Test func sampleVerifiesAndParsesIntoDisclosures() throws {
        let sample = try Self.sample()
        let server = try LoopbackKeyServer(document: Self.keysDocument(sample))
        let vendors = try VendorCatalog.makeVendors([VendorConfiguration(id: "github", kind: "github", keysURL: server.keysURL)])
        for c in sample.cases {
            // As GitHub sends it: its own header spelling, detected on the shared path.
            let headers: HTTPHeaders = ["Content-Type": "application/json",
                                        "Github-Public-Key-Identifier": c.key_identifier,
                                        "Github-Public-Key-Signature": c.signature]
            let vendor = try #require(vendors.detect(headers: headers))
            #expect(vendor.id == "github")
            let outcome = vendor.verify(body: Array(c.body.utf8), headers: headers)
            #expect(outcome.isVerified == (c.expected == "valid"), "\(c.name)")
            if outcome.isVerified {
                let disclosures = try vendor.disclosures(from: Array(c.body.utf8))
                try #require(disclosures.count == 1)
                #expect(disclosures[0].token?.value == "some_token")
                #expect(disclosures[0].type == "some_type")
                #expect(disclosures[0].url == "https://example.com/base-repo-url/")
                #expect(disclosures[0].source == "commit")
                #expect(disclosures[0].problem == nil)
            }
        }
    }

    @Test func malformedItemsYieldProblemsNotABatchFailure() throws {
        let vendor = try VendorCatalog.makeVerifier(VendorConfiguration(id: "github", kind: "github"))
        let body = #"[{"token":"ghp_ok","type":"github_personal_access_token","url":""}, 7, {"type":"x"}, {"token":42}, {"token":"","url":"u"}]"#
        let disclosures = try vendor.disclosures(from: Array(body.utf8))
        #expect(disclosures.map(\.problem) == [nil, "item is not an object", "token missing", "token is not a string", "token empty"])
        #expect(disclosures.compactMap { $0.token?.value } == ["ghp_ok"])
        #expect(throws: ReportError.notArray) { try vendor.disclosures(from: Array(#"{"token":"x"}"#.utf8)) }
        #expect(throws: ReportError.notJSON) { try vendor.disclosures(from: Array("[{".utf8)) }
    }
}
