import Foundation
import Testing
@testable import SecretsCore

@Suite("Public key documents")
struct PublicKeyDocumentTests {
    @Test(arguments: [
        ("github-public-keys-example.json", ["90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a",
                                             "bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c"], [false, true]),
        ("github-public-keys-snapshot-2023-11.json", ["90a421169f0a406205f1563a953312f0be898d3c7b6c06b681aa86a874555f4a"], [true]),
        ("gitlab-public-keys-example.json", ["6917d7584f0fa65c8c33df5ab20f54dfb9a6e6ae"], [true]),
    ])
    func publishedDocumentsParse(_ file: String, _ ids: [String], _ current: [Bool]) throws {
        let document = try PublicKeyDocument(jsonBytes: Fixture.bytes(file))
        #expect(document.keys.map(\.keyIdentifier) == ids)
        #expect(document.keys.map(\.isCurrent) == current)
        #expect(document.skippedEntries == 0)
    }

    /// Key ids are opaque: GitLab's is SHA-1 of the PEM, and nothing recomputes or checks it.
    @Test func keyIdentifiersAreNotRecomputed() throws {
        let (_, pem) = try TestKeys.make()
        let document = try PublicKeyDocument(jsonBytes: TestKeys.document([(id: "any opaque id ✓", pem: pem, current: true)]))
        #expect(document.keys.map(\.keyIdentifier) == ["any opaque id ✓"])
    }

    /// Bodies that are not `{"public_keys": [...]}` at all, including GitHub's real rate-limit answer.
    @Test(arguments: [
        #"{"message":"API rate limit exceeded for 192.0.2.1.","documentation_url":"https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"}"#,
        #"{"public_keys": {"key_identifier": "x"}}"#,
        #"[{"key_identifier": "x", "key": "y"}]"#,
        #"{"public_keys": ["#,
        "",
        "null",
        #""public_keys""#,
    ])
    func wrongShapesAreErrors(_ body: String) {
        #expect(throws: PublicKeyDocumentError.self) { try PublicKeyDocument(jsonBytes: Array(body.utf8)) }
    }

    @Test func rateLimitMessageIsReported() {
        do {
            _ = try PublicKeyDocument(jsonBytes: Array(#"{"message":"API rate limit exceeded for 192.0.2.1."}"#.utf8))
            Issue.record("accepted a rate-limit answer")
        } catch {
            #expect(error.message.contains("API rate limit exceeded"))
        }
    }

    @Test func malformedEntriesAreSkippedAndCounted() throws {
        let (_, good) = try TestKeys.make()
        let (_, other) = try TestKeys.make()
        let entries: [Any] = [
            "not an object",
            ["key": good, "is_current": true],
            ["key_identifier": "no-key", "is_current": true],
            ["key_identifier": "", "key": good],
            ["key_identifier": 7, "key": good],
            ["key_identifier": "bad-pem", "key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"],
            ["key_identifier": "bad-current", "key": good, "is_current": "yes"],
            ["key_identifier": "good", "key": good, "is_current": true],
            ["key_identifier": "good", "key": other, "is_current": false],
            ["key_identifier": "no-current", "key": other],
        ]
        let document = try PublicKeyDocument(jsonBytes: TestKeys.document(raw: entries))
        #expect(document.keys.map(\.keyIdentifier) == ["good", "no-current"])
        #expect(document.keys.map(\.isCurrent) == [true, false])
        #expect(document.skippedEntries == 8)
        #expect(!document.skippedReasons.joined().contains("BEGIN PUBLIC KEY"))
    }

    /// Keys of other algorithms and curves, made with the `openssl` command line on the spot.
    @Test(arguments: [
        ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
        ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1"],
        ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        ["genpkey", "-algorithm", "ED25519"],
    ])
    func keysThatAreNotP256AreRefused(_ generate: [String]) throws {
        let privatePEM = try openssl(generate + ["-out", "{out}"])
        let publicPEM = try openssl(["pkey", "-in", "{in}", "-pubout", "-out", "{out}"], input: privatePEM)
        try #require(publicPEM.hasPrefix("-----BEGIN PUBLIC KEY-----"))
        do {
            _ = try P256.Signing.PublicKey(pemRepresentation: publicPEM)
            Issue.record("accepted a non-P-256 key")
        } catch {
            #expect(error.isMalformedKey)
        }
        let (_, good) = try TestKeys.make()
        let document = try PublicKeyDocument(jsonBytes: TestKeys.document([(id: "other", pem: publicPEM, current: true),
                                                                           (id: "p256", pem: good, current: false)]))
        #expect(document.keys.map(\.keyIdentifier) == ["p256"])
        #expect(document.skippedEntries == 1)
    }

    @Test func aPrivateKeyIsNotAPublicKey() throws {
        let (key, _) = try TestKeys.make()
        #expect(throws: CryptoError.self) { try P256.Signing.PublicKey(pemRepresentation: try key.pemRepresentation) }
    }
}
