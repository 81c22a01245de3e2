import Foundation
import Testing
@testable import SecretsCore

/// One Wycheproof `EcdsaVerify` test with its group's key.
struct WycheproofCase: Sendable, CustomTestStringConvertible {
    let tcId: Int
    let comment: String
    let flags: [String]
    let pem: String
    let msg: String
    let sig: String
    let result: String

    var testDescription: String { "tcId \(tcId): \(comment)" }

    private struct File: Decodable {
        struct Group: Decodable {
            let publicKeyPem: String
            let sha: String
            let tests: [Test]
        }
        struct Test: Decodable {
            let tcId: Int
            let comment: String
            let flags: [String]
            let msg: String
            let sig: String
            let result: String
        }
        let numberOfTests: Int
        let testGroups: [Group]
    }

    static func all() throws -> [WycheproofCase] {
        let file = try Fixture.decode(File.self, from: "wycheproof-ecdsa-p256-sha256.json")
        let cases = file.testGroups.flatMap { group in
            group.tests.map {
                WycheproofCase(tcId: $0.tcId, comment: $0.comment, flags: $0.flags, pem: group.publicKeyPem,
                               msg: $0.msg, sig: $0.sig, result: $0.result)
            }
        }
        guard cases.count == file.numberOfTests, file.testGroups.allSatisfy({ $0.sha == "SHA-256" }) else { return [] }
        return cases
    }
}

@Suite("Wycheproof ECDSA P-256 / SHA-256")
struct WycheproofTests {
    @Test func fileHoldsEveryCase() throws {
        #expect(try WycheproofCase.all().count == 484)
    }

    /// `valid` must verify and `invalid` must not. `acceptable` (none in this version of the file) may
    /// go either way: we run it and accept what OpenSSL answers, because such cases are legitimate
    /// encodings some protocols allow; our verifier is DER-strict, so in practice they fail.
    @Test(arguments: try WycheproofCase.all())
    func vector(_ vector: WycheproofCase) throws {
        let key = try P256.Signing.PublicKey(pemRepresentation: vector.pem)
        let message = try #require(Hex.decode(vector.msg))
        let der = try #require(Hex.decode(vector.sig))
        // An empty or oversized DER cannot even be a Signature: that is a refusal, i.e. "not valid".
        let verified = (try? P256.Signing.Signature(derRepresentation: der)).map { key.isValidSignature($0, for: message) } ?? false
        switch vector.result {
        case "valid": #expect(verified, "flags: \(vector.flags)")
        case "invalid": #expect(!verified, "flags: \(vector.flags)")
        default: break
        }
    }
}
