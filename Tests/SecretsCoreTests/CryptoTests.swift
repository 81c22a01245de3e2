import Foundation
import Synchronization
import Testing
@testable import SecretsCore

@Suite("P-256 signing, SHA-256 and strict base64")
struct CryptoTests {
    @Test func signAndVerifyRoundTrip() throws {
        let key = try P256.Signing.PrivateKey()
        let body = Array(#"[{"token":"t","type":"x","url":""}]"#.utf8)
        let signature = try key.signature(for: body)
        let publicKey = try key.publicKey
        #expect(publicKey.isValidSignature(signature, for: body))
        #expect(!publicKey.isValidSignature(signature, for: body + [10]))
        #expect(!(try P256.Signing.PrivateKey().publicKey).isValidSignature(signature, for: body))
        let reparsed = try P256.Signing.PublicKey(pemRepresentation: try publicKey.pemRepresentation)
        #expect(reparsed.isValidSignature(try P256.Signing.Signature(base64Header: signature.base64Representation), for: body))
    }

    /// Verification contexts are pooled per key; many threads verifying with one key at once, good
    /// and bad signatures mixed, must each get their own answer.
    @Test func concurrentVerificationWithOneKey() throws {
        let key = try P256.Signing.PrivateKey()
        let publicKey = try key.publicKey
        let bodies = (0..<8).map { Array("report \($0)".utf8) }
        let signatures = try bodies.map { try key.signature(for: $0) }
        let wrong = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 8) { thread in
            for i in 0..<200 {
                let body = bodies[(thread + i) % 8]
                let matching = signatures[(thread + i) % 8]
                let other = signatures[(thread + i + 1) % 8]
                if !publicKey.isValidSignature(matching, for: body) || publicKey.isValidSignature(other, for: body) {
                    wrong.withLock { $0 += 1 }
                }
            }
        }
        #expect(wrong.withLock { $0 } == 0)
    }

    @Test func sha256KnownAnswer() {
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    static let docsSignature = "MEQCIQDaMKqrGnE27S0kgMrEK0eYBmyG0LeZismAEz/BgZyt7AIfXt9fErtRS4XaeSt/AO1RtBY66YcAdjxji410VQV4xg=="

    /// Signature header values that strict standard base64 must refuse, with why.
    static let refusedHeaders: [(String, String)] = {
        let sig = docsSignature
        var cases: [(String, String)] = []
        cases.append(("", "empty"))
        cases.append((String(sig.dropLast(2)), "padding missing"))
        cases.append((sig + "=", "padding too long"))
        cases.append((" " + sig, "leading space"))
        cases.append((sig + "\n", "trailing newline"))
        cases.append((String(sig.prefix(40)) + "\n" + String(sig.dropFirst(40)), "line break inside"))
        cases.append((sig.replacingOccurrences(of: "/", with: "_"), "URL-safe alphabet"))
        cases.append(("MER=", "non-zero trailing bits"))
        cases.append(("====", "padding only"))
        cases.append(("ME*CIQ==", "character outside the alphabet"))
        cases.append(("TQ=a", "padding in the middle"))
        cases.append((String(repeating: "A", count: 1000), "longer than any DER signature"))
        return cases
    }()

    @Test(arguments: refusedHeaders)
    func strictBase64Refuses(_ header: String, _ why: String) {
        #expect(throws: CryptoError.self, "\(why)") { try P256.Signing.Signature(base64Header: header) }
        do {
            _ = try P256.Signing.Signature(base64Header: header)
        } catch {
            #expect(error.isMalformedSignature)
        }
    }

    @Test func strictBase64AcceptsTheDocsSignature() throws {
        let signature = try P256.Signing.Signature(base64Header: Self.docsSignature)
        #expect(signature.derRepresentation.count == 70)
        #expect(signature.base64Representation == Self.docsSignature)
    }

    @Test(arguments: [("", ""), ("Zg==", "f"), ("Zm8=", "fo"), ("Zm9v", "foo"), ("Zm9vYg==", "foob")])
    func base64KnownAnswers(_ encoded: String, _ plain: String) {
        #expect(Base64.decodeStandard(encoded) == Array(plain.utf8))
        #expect(Base64.encodeStandard(Array(plain.utf8)) == encoded)
    }

    @Test func pemThatIsNotAKeyIsMalformed() {
        for pem in ["", "hello", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"] {
            do {
                _ = try P256.Signing.PublicKey(pemRepresentation: pem)
                Issue.record("accepted \(pem.debugDescription)")
            } catch {
                #expect(error.isMalformedKey)
            }
        }
    }
}
