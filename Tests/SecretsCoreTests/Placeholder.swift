import Testing
import Foundation
@testable import SecretsCore

@Test func quickGitHubSample() throws {
    let url = Bundle.module.url(forResource: "github-docs-sample", withExtension: "json", subdirectory: "Resources")!
    let doc = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    let keys = doc["public_keys"] as! [[String: Any]]
    let cases = doc["cases"] as! [[String: Any]]
    for c in cases {
        let kid = c["key_identifier"] as! String
        let pem = keys.first { ($0["key_identifier"] as! String) == kid }!["key"] as! String
        let key = try P256.Signing.PublicKey(pemRepresentation: pem)
        let sig = try P256.Signing.Signature(base64Header: c["signature"] as! String)
        let ok = key.isValidSignature(sig, for: Array((c["body"] as! String).utf8))
        #expect(ok == ((c["expected"] as! String) == "valid"))
    }
    let priv = try P256.Signing.PrivateKey()
    let s = try priv.signature(for: Array("hi".utf8))
    #expect(try priv.publicKey.isValidSignature(s, for: Array("hi".utf8)))
    #expect(try !priv.publicKey.isValidSignature(s, for: Array("ho".utf8)))
    #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
}
