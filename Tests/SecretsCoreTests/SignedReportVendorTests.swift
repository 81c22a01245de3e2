import Foundation
import Testing
@testable import SecretsCore

/// Header handling of the one ECDSA verifier, with keys from a real loopback key server.
@Suite("SignedReportVendor.verify")
struct SignedReportVendorTests {
    static let pair = HeaderPair(keyIdentifier: "Acme-Key-Id", signature: "Acme-Signature")

    struct Setup {
        let server: KeyServer
        let vendor: SignedReportVendor
        let key: P256.Signing.PrivateKey
        let body: [UInt8]
        let signature: P256.Signing.Signature
    }

    static func setUp() throws -> Setup {
        let (key, pem) = try TestKeys.make()
        let server = try KeyServer(document: TestKeys.document([(id: "k1", pem: pem, current: true)]))
        let vendor = SignedReportVendor(id: "acme", kind: "generic", headers: pair,
                                        keyCache: PublicKeyCache(vendorID: "acme", keysURL: server.keysURL))
        let body = Array(#"[{"token":"acme_123","type":"acme","url":""}]"#.utf8)
        return Setup(server: server, vendor: vendor, key: key, body: body, signature: try key.signature(for: body))
    }

    @Test func headerNamesMatchCaseInsensitively() throws {
        let s = try Self.setUp()
        let headers: HTTPHeaders = ["acme-key-id": "k1", "ACME-SIGNATURE": s.signature.base64Representation]
        #expect(s.vendor.verify(body: s.body, headers: headers) == .verified(keyIdentifier: "k1"))
    }

    @Test func keyIdentifierValueMatchesExactly() throws {
        let s = try Self.setUp()
        let headers: HTTPHeaders = ["Acme-Key-Id": "K1", "Acme-Signature": s.signature.base64Representation]
        #expect(s.vendor.verify(body: s.body, headers: headers) == .failed(.unknownKeyID))
    }

    @Test(arguments: [
        [("Acme-Signature", "sig")],
        [("Acme-Key-Id", "k1")],
        [("Acme-Key-Id", "k1"), ("Acme-Key-Id", "k1"), ("Acme-Signature", "sig")],
        [("Acme-Key-Id", "k1"), ("Acme-Signature", "sig"), ("acme-signature", "sig")],
        [("Acme-Key-Id", ""), ("Acme-Signature", "sig")],
        [("Acme-Key-Id", "k1"), ("Acme-Signature", "")],
        [],
    ])
    func missingEmptyOrDoubledHeaders(_ entries: [(String, String)]) throws {
        let s = try Self.setUp()
        let signature = s.signature.base64Representation
        let headers = HTTPHeaders(entries.map { (name: $0.0, value: $0.1 == "sig" ? signature : $0.1) })
        #expect(s.vendor.verify(body: s.body, headers: headers) == .failed(.missingHeaders))
        #expect(try s.server.count() == 0)
    }

    @Test(arguments: ["not base64!", "MEQCIQ", String(repeating: "A", count: 100_000), "AAAA", "\u{0}\u{1}\u{2}\u{3}"])
    func malformedSignatureNeverFetchesKeys(_ value: String) throws {
        let s = try Self.setUp()
        #expect(s.vendor.verify(body: s.body, headers: ["Acme-Key-Id": "k1", "Acme-Signature": value]) == .failed(.malformedSignature))
        #expect(try s.server.count() == 0)
    }

    @Test func wellFormedButWrongSignatureIsInvalid() throws {
        let s = try Self.setUp()
        let other = try s.key.signature(for: Array("another body".utf8))
        #expect(s.vendor.verify(body: s.body, headers: TestKeys.headers(Self.pair, keyID: "k1", signature: other)) == .failed(.invalidSignature))
        // r = 1, s = 1: well-formed DER, so the key is looked up, and the signature fails.
        #expect(s.vendor.verify(body: s.body, headers: ["Acme-Key-Id": "k1", "Acme-Signature": "MAYCAQECAQE="]) == .failed(.invalidSignature))
        let stranger = try P256.Signing.PrivateKey().signature(for: s.body)
        #expect(s.vendor.verify(body: s.body, headers: TestKeys.headers(Self.pair, keyID: "k1", signature: stranger)) == .failed(.invalidSignature))
    }

    @Test func rawBodyIsVerifiedNotATrimmedOrReserializedOne() throws {
        let s = try Self.setUp()
        let headers = TestKeys.headers(Self.pair, keyID: "k1", signature: s.signature)
        #expect(s.vendor.verify(body: s.body, headers: headers).isVerified)
        #expect(s.vendor.verify(body: s.body + [10], headers: headers) == .failed(.invalidSignature))
        #expect(s.vendor.verify(body: [32] + s.body, headers: headers) == .failed(.invalidSignature))
        #expect(s.vendor.verify(body: [], headers: headers) == .failed(.invalidSignature))
    }

    @Test func hugeKeyIdentifierIsUnknownNotACrash() throws {
        let s = try Self.setUp()
        let hugeID = String(repeating: "k", count: 100_000)
        let headers = TestKeys.headers(Self.pair, keyID: hugeID, signature: s.signature)
        for _ in 0..<3 {
            #expect(s.vendor.verify(body: s.body, headers: headers) == .failed(.unknownKeyID))
        }
        // The initial fetch, then the one forced refetch the interval allows; never more.
        #expect(try s.server.count() == 2)
    }

    @Test func binaryJunkKeyIdentifierIsUnknown() throws {
        let s = try Self.setUp()
        let junk = String(decoding: (0..<255).map { UInt8($0) }, as: UTF8.self)
        #expect(s.vendor.verify(body: s.body, headers: TestKeys.headers(Self.pair, keyID: junk, signature: s.signature)) == .failed(.unknownKeyID))
    }

    @Test func disclosuresUseTheConfiguredParser() throws {
        let s = try Self.setUp()
        #expect(try s.vendor.disclosures(from: s.body).map { $0.token?.value } == ["acme_123"])
        let strict = SignedReportVendor(id: "acme", kind: "generic", headers: Self.pair, keyCache: s.vendor.keyCache,
                                        parser: StandardReportParser(maxItems: 0))
        #expect(throws: ReportError.tooManyItems(limit: 0)) { try strict.disclosures(from: s.body) }
    }

    @Test func failureRawValuesAreSnakeCaseMetricLabels() {
        #expect(VerificationFailure.allCases.map(\.rawValue) == [
            "missing_headers", "unknown_key_id", "invalid_signature", "malformed_signature", "malformed_key", "keys_unavailable",
        ])
    }
}
