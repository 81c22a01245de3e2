import Testing
@testable import SecretsCore

/// The GitHub docs sample and Warehouse's sample, verified over their exact bytes: the published
/// cases verify, a trailing newline, re-serialized JSON or a removed space do not.
@Suite("Published signed samples")
struct SignedSampleTests {
    @Test func everyCaseIsLoaded() throws {
        let cases = try SignedSample.allCases()
        #expect(cases.count == 6)
        #expect(cases.filter { $0.sample.expected == "valid" }.count == 2)
    }

    @Test(arguments: try SignedSample.allCases())
    func bodyBytesAreExact(_ c: SampleCase) {
        let body = Array(c.sample.body.utf8)
        #expect(body.count == c.sample.body_length)
        #expect(SHA256.hex(body) == c.sample.body_sha256)
    }

    @Test(arguments: try SignedSample.allCases())
    func verifiesWithTheKeyDirectly(_ c: SampleCase) throws {
        let key = try P256.Signing.PublicKey(pemRepresentation: c.pem)
        let signature = try P256.Signing.Signature(base64Header: c.sample.signature)
        #expect(key.isValidSignature(signature, for: Array(c.sample.body.utf8)) == (c.sample.expected == "valid"))
    }

    /// The real path: headers, strict base64, keys fetched over HTTP from a key server, raw-body verify.
    @Test(arguments: try SignedSample.allCases())
    func verifiesThroughTheVendorAndAKeyServer(_ c: SampleCase) throws {
        let server = try KeyServer(document: c.keysDocument)
        let pair = HeaderPair(keyIdentifier: "Github-Public-Key-Identifier", signature: "Github-Public-Key-Signature")
        let vendor = SignedReportVendor(id: "github", kind: "github", headers: pair,
                                        keyCache: PublicKeyCache(vendorID: "github", keysURL: server.keysURL))
        let headers: HTTPHeaders = ["github-public-key-identifier": c.sample.key_identifier,
                                    "GITHUB-PUBLIC-KEY-SIGNATURE": c.sample.signature]
        let outcome = vendor.verify(body: Array(c.sample.body.utf8), headers: headers)
        if c.sample.expected == "valid" {
            #expect(outcome == .verified(keyIdentifier: c.sample.key_identifier))
        } else {
            #expect(outcome == .failed(.invalidSignature))
        }
    }
}
