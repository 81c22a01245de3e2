import Foundation
import Testing
@testable import SecretsCore

/// `Resources/pypi-macaroons.json`: PyPI tokens made with pymacaroons (see Resources/README.md).
struct MacaroonVectorFile: Decodable {
    struct Case: Decodable, Sendable, CustomTestStringConvertible {
        let name: String
        let token: String
        let expect: String
        let identifier: String?
        let location: String?
        var testDescription: String { name }
        var isValid: Bool { expect == "valid" }
    }
    let root_key_hex: String
    let cases: [Case]

    static func load() throws -> MacaroonVectorFile {
        let url = try #require(Bundle.module.url(forResource: "pypi-macaroons", withExtension: "json", subdirectory: "Resources"))
        return try JSONDecoder().decode(MacaroonVectorFile.self, from: Data(contentsOf: url))
    }

    static var allCases: [Case] { (try? load().cases) ?? [] }
    static var validCases: [Case] { allCases.filter(\.isValid) }
    static var invalidCases: [Case] { allCases.filter { !$0.isValid } }
    static var rootKey: [UInt8] { (try? load()).flatMap { Hex.decode($0.root_key_hex) } ?? [] }
}

@Suite("Tokens: PyPI macaroons")
struct TokensMacaroonTests {
    let pypi = PyPITokenType()

    @Test("the vector file loads and has both kinds of case")
    func vectorsLoad() throws {
        let file = try MacaroonVectorFile.load()
        #expect(file.cases.count >= 17)
        #expect(MacaroonVectorFile.validCases.count >= 9)
        #expect(MacaroonVectorFile.invalidCases.count >= 8)
        #expect(MacaroonVectorFile.rootKey.count == 32)
    }

    @Test("every valid vector yields its identifier and location", arguments: MacaroonVectorFile.validCases)
    func validVector(_ vector: MacaroonVectorFile.Case) throws {
        let token = LeakedToken(vector.token)
        let identity = try pypi.identity(of: token)
        #expect(identity == vector.identifier)
        let macaroon = try pypi.macaroon(of: token)
        #expect(macaroon.locationString == vector.location)
        #expect(macaroon.identifierString == vector.identifier)
        #expect(macaroon.signature.count == 32)
    }

    @Test("every invalid vector fails with a TokenFormatError that does not echo the token",
          arguments: MacaroonVectorFile.invalidCases)
    func invalidVector(_ vector: MacaroonVectorFile.Case) {
        do {
            let identity = try pypi.identity(of: LeakedToken(vector.token))
            Issue.record("expected a format error, got identity \(identity)")
        } catch {
            #expect(!error.reason.isEmpty)
            if vector.token.count > 5 { #expect(!error.description.contains(vector.token)) }
        }
    }

    @Test("signatures verify with the vectors' root key, except the tampered one", arguments: MacaroonVectorFile.validCases)
    func signatureVerification(_ vector: MacaroonVectorFile.Case) throws {
        let macaroon = try pypi.macaroon(of: LeakedToken(vector.token))
        let rootKey = MacaroonVectorFile.rootKey
        #expect(macaroon.verifySignature(rootKey: rootKey) == (vector.name != "tampered-signature"))
        #expect(!macaroon.verifySignature(rootKey: [UInt8](repeating: 7, count: 32)))
    }

    @Test("minting with the vector's key, location, identifier and caveats reproduces the token byte for byte",
          arguments: MacaroonVectorFile.validCases.filter { $0.name.hasPrefix("v2-") })
    func mintReproducesVector(_ vector: MacaroonVectorFile.Case) throws {
        let decoded = try pypi.macaroon(of: LeakedToken(vector.token))
        let rootKey = MacaroonVectorFile.rootKey
        if decoded.caveats.allSatisfy(\.isFirstParty) {
            let predicates = try decoded.caveats.map { try #require(String(validating: $0.identifier, as: UTF8.self)) }
            let minted = Macaroon(rootKey: rootKey, location: vector.location,
                                  identifier: try #require(vector.identifier), caveats: predicates)
            #expect(PyPITokenMinter.token(for: minted) == vector.token)
        } else {
            // Third-party caveat: the chain (HMAC of the vid and cid HMACs) must give the vector's signature.
            let signature = Macaroon.signature(rootKey: rootKey, identifier: decoded.identifier, caveats: decoded.caveats)
            #expect(signature == decoded.signature)
        }
        // Decoding then re-serializing is exact for every V2 vector.
        #expect(PyPITokenMinter.token(for: decoded) == vector.token)
    }

    @Test("the V1 vector decodes to the same fields a V2 serialization would carry")
    func v1Format() throws {
        let vector = try #require(MacaroonVectorFile.allCases.first { $0.name == "v1-format" })
        let body = try #require(Base64.decodeURLSafe(vector.token.dropFirst(5)))
        #expect(Macaroon.format(of: body) == .v1)
        let macaroon = try Macaroon(deserializing: body)
        #expect(macaroon.caveats.count == 1)
        #expect(macaroon.caveats.first?.isFirstParty == true)
        let v2 = try Macaroon(deserializing: macaroon.serializedV2())
        #expect(v2 == macaroon)
    }

    @Test("padding is accepted when exact, refused when wrong")
    func padding() throws {
        let vector = try #require(MacaroonVectorFile.validCases.first { $0.name == "v2-pypi.org-0caveats" })
        let body = vector.token.dropFirst(5)
        let padded = "pypi-" + body + String(repeating: "=", count: (4 - body.count % 4) % 4)
        #expect(padded != vector.token)
        #expect(try pypi.identity(of: LeakedToken(padded)) == vector.identifier)
        #expect(throws: TokenFormatError.self) { try pypi.identity(of: LeakedToken(padded + "====")) }
    }

    @Test("every prefix of every valid token is refused cleanly", arguments: MacaroonVectorFile.validCases)
    func truncations(_ vector: MacaroonVectorFile.Case) {
        let chars = Array(vector.token)
        for length in 0..<chars.count {
            let cut = String(chars[0..<length])
            let outcome = Result { () throws(TokenFormatError) in try pypi.identity(of: LeakedToken(cut)) }
            // Only dropping base64 characters that carry no whole byte may still decode; none does here.
            if case .success = outcome { Issue.record("prefix of length \(length) decoded") }
        }
    }

    @Test("random bytes, byte flips and random tokens never crash the decoder")
    func fuzz() throws {
        var generator = SplitMix64(seed: 0x70_6970_69)
        for vector in MacaroonVectorFile.validCases {
            guard let raw = Base64.decodeURLSafe(vector.token.dropFirst(5)) else { continue }
            for _ in 0..<400 {
                var mutated = raw
                let flips = Int(generator.next() % 4) + 1
                for _ in 0..<flips {
                    let at = Int(generator.next() % UInt64(mutated.count))
                    mutated[at] = UInt8(truncatingIfNeeded: generator.next())
                }
                _ = try? Macaroon(deserializing: mutated)
                _ = try? pypi.identity(of: LeakedToken("pypi-" + Base64.encodeURLSafe(mutated)))
            }
        }
        for _ in 0..<2000 {
            let count = Int(generator.next() % 200)
            var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            if !bytes.isEmpty && generator.next() % 2 == 0 { bytes[0] = 0x02 }
            _ = try? Macaroon(deserializing: bytes)
        }
    }

    @Test("hostile V2 shapes are refused: huge lengths, long varints, non-minimal varints, trailing data, many caveats")
    func hostileV2() throws {
        let base: [UInt8] = [0x02, 0x02, 0x01, 0x41, 0x00]
        let signature: [UInt8] = [0x06, 0x20] + [UInt8](repeating: 0xaa, count: 32)
        let valid = base + [0x00] + signature
        #expect(try Macaroon(deserializing: valid).identifier == [0x41])
        // A length larger than the input.
        #expect(throws: TokenFormatError.self) { try Macaroon(deserializing: [0x02, 0x02, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x41]) }
        // A varint that never ends / overflows.
        #expect(throws: TokenFormatError.self) { try Macaroon(deserializing: [0x02, 0x02] + [UInt8](repeating: 0xff, count: 20)) }
        // Non-minimal varint for the identifier length.
        #expect(throws: TokenFormatError.self) { try Macaroon(deserializing: [0x02, 0x02, 0x81, 0x00, 0x41, 0x00, 0x00] + signature) }
        // Data after the signature.
        #expect(throws: TokenFormatError.self) { try Macaroon(deserializing: valid + [0x00]) }
        // Signature of the wrong size.
        #expect(throws: TokenFormatError.self) { try Macaroon(deserializing: base + [0x00, 0x06, 0x1f] + [UInt8](repeating: 1, count: 31)) }
        // Fields out of order (identifier before location) and unknown field types.
        #expect(throws: TokenFormatError.self) { try Macaroon(deserializing: [0x02, 0x02, 0x01, 0x41, 0x01, 0x01, 0x42, 0x00, 0x00] + signature) }
        #expect(throws: TokenFormatError.self) { try Macaroon(deserializing: [0x02, 0x03, 0x01, 0x41, 0x00, 0x00] + signature) }
        // Thousands of caveats parse iteratively (no recursion), and an unterminated caveat list is refused.
        let caveat: [UInt8] = [0x02, 0x01, 0x43, 0x00]
        let many = base + Array([[UInt8]](repeating: caveat, count: 5000).joined()) + [0x00] + signature
        #expect(try Macaroon(deserializing: many).caveats.count == 5000)
        let unterminated = base + Array([[UInt8]](repeating: caveat, count: 5000).joined())
        #expect(throws: TokenFormatError.self) { try Macaroon(deserializing: unterminated) }
    }

    @Test("hostile V1 shapes are refused: bad lengths, missing signature, packets out of order")
    func hostileV1() throws {
        func packet(_ key: String, _ value: [UInt8]) -> [UInt8] {
            let content = Array(key.utf8) + [0x20] + value + [0x0a]
            return Array(String(format: "%04x", content.count + 4).utf8) + content
        }
        let signature = packet("signature", [UInt8](repeating: 0x20, count: 32))
        let good = packet("location", Array("pypi.org".utf8)) + packet("identifier", Array("x".utf8)) + signature
        #expect(try Macaroon(deserializing: good).identifier == Array("x".utf8))
        #expect(throws: TokenFormatError.self) { try Macaroon(deserializing: packet("identifier", Array("x".utf8))) }
        #expect(throws: TokenFormatError.self) { try Macaroon(deserializing: Array("ffff".utf8) + good) }
        #expect(throws: TokenFormatError.self) { try Macaroon(deserializing: signature + packet("identifier", Array("x".utf8))) }
        #expect(throws: TokenFormatError.self) { try Macaroon(deserializing: good + packet("cid", Array("late".utf8))) }
        #expect(throws: TokenFormatError.self) { try Macaroon(deserializing: packet("identifier", Array("x".utf8)) + packet("bogus", [1]) + signature) }
        #expect(throws: TokenFormatError.self) { try Macaroon(deserializing: Array("0003".utf8)) }
    }

    @Test("identifiers are read as Warehouse reads a UUID and answered in canonical lower case")
    func uuidForms() {
        let canonical = "0fd630f1-f29d-4da9-953f-48f1a09f76b5"
        for form in [canonical, canonical.uppercased(), "{\(canonical)}", "urn:uuid:\(canonical)",
                     canonical.replacingOccurrences(of: "-", with: "")] {
            #expect(CanonicalUUID.parse(Array(form.utf8)) == canonical, "\(form)")
        }
        for bad in ["", "not-a-uuid", String(canonical.dropLast()), canonical + "0", "0fd630f1-f29d-4da9-953f-48f1a09f76bg",
                    " \(canonical)"] {
            #expect(CanonicalUUID.parse(Array(bad.utf8)) == nil, "\(bad)")
        }
        #expect(CanonicalUUID.parse([0xff, 0xfe]) == nil)
    }

    @Test("PyPITokenMinter mints tokens the type reads back, signed with its root key")
    func minterRoundTrip() throws {
        let rootKey = SecureRandom.bytes(32)
        let minter = PyPITokenMinter(rootKey: rootKey)
        let minted = minter.mint(caveats: ["{\"version\": 1, \"permissions\": \"user\"}"])
        #expect(minted.value.hasPrefix("pypi-"))
        #expect(!minted.value.contains("="))
        #expect(try pypi.identity(of: LeakedToken(minted.value)) == minted.identity)
        let macaroon = try pypi.macaroon(of: LeakedToken(minted.value))
        #expect(macaroon.locationString == "pypi.org")
        #expect(macaroon.verifySignature(rootKey: rootKey))
        #expect(macaroon.addingFirstPartyCaveat("[0,1,2]").verifySignature(rootKey: rootKey))
        #expect(minter.mint().identity != minter.mint().identity)
        let fixed = try #require(UUID(uuidString: "6B4CB242-4A23-4596-A217-BEADDBC496CB"))
        let test = PyPITokenMinter(rootKey: MacaroonVectorFile.rootKey, location: "test.pypi.org").mint(identifier: fixed)
        let vector = try #require(MacaroonVectorFile.validCases.first { $0.name == "v2-test.pypi.org-0caveats" })
        #expect(test.value == vector.token)
        #expect(test.identity == vector.identifier)
    }

    @Test("a token over the length limit is refused before decoding")
    func maxLength() throws {
        let long = LeakedToken("pypi-" + String(repeating: "A", count: 5000))
        let error = try #require(throws: TokenFormatError.self) { try pypi.identity(of: long) }
        #expect(error.reason.contains("over the limit"))
        let small = PyPITokenType(maxLength: 50)
        let vector = try #require(MacaroonVectorFile.validCases.first)
        #expect(throws: TokenFormatError.self) { try small.identity(of: LeakedToken(vector.token)) }
    }
}

/// A small deterministic generator, so fuzz runs are reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
