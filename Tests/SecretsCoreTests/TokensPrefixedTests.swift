import Testing
@testable import SecretsCore

@Suite("Tokens: prefixed tokens and classification")
struct TokensPrefixedTests {
    let github = PrefixedTokenType(name: "github_personal_access_token", prefix: "ghp_", checksum: .crc32Base62)
    let plain = PrefixedTokenType(name: "acme_api_key", prefix: "acme_")

    @Test("CRC-32 and base62 match zlib and the usual base62 alphabet")
    func checksumPrimitives() {
        // The CRC-32 check value of "123456789" (IEEE 802.3).
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
        #expect(Base62Checksum.encode(0) == Array("000000".utf8))
        #expect(Base62Checksum.encode(61) == Array("00000z".utf8))
        #expect(Base62Checksum.encode(62) == Array("000010".utf8))
        #expect(Base62Checksum.encode(UInt32.max) == Array("4gfFC3".utf8))
    }

    @Test("a GitHub-style token with a correct checksum is identified by its SHA-256")
    func validChecksum() throws {
        // crc32("abcdefghijABCDEFGHIJ0123456789") in base62 is 2C2O59 (computed with Python's zlib).
        let token = LeakedToken("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")
        #expect(try github.identity(of: token) == token.sha256)
        #expect(try github.identity(of: token) == SHA256.hex("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"))
    }

    @Test("a wrong checksum is a format error before any lookup", arguments: [
        "ghp_abcdefghijABCDEFGHIJ01234567892C2O58", // last character changed
        "ghp_abcdefghijABCDEFGHIJ01234567892c2O59", // case of the checksum changed
        "ghp_bbcdefghijABCDEFGHIJ01234567892C2O59", // body changed
        "ghp_2C2O59X",                              // checksum not at the end
    ])
    func wrongChecksum(_ value: String) throws {
        let error = try #require(throws: TokenFormatError.self) { try github.identity(of: LeakedToken(value)) }
        #expect(error.isChecksumFailure)
        #expect(!error.description.contains(value))
    }

    @Test("too short, wrong prefix, empty and over-long tokens are format errors", arguments: [
        "ghp_", "ghp_2C2O5", "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", "",
    ])
    func malformed(_ value: String) {
        #expect(throws: TokenFormatError.self) { try github.identity(of: LeakedToken(value)) }
    }

    @Test("minted tokens pass their own checksum; tokens without checksum only need the prefix and a body")
    func mintAndPlain() throws {
        for _ in 0..<50 {
            let minted = github.mint()
            #expect(minted.utf8.count == 4 + 30 + 6)
            #expect(try github.identity(of: LeakedToken(minted)) == SHA256.hex(minted))
        }
        #expect(try plain.identity(of: LeakedToken("acme_x")) == SHA256.hex("acme_x"))
        #expect(throws: TokenFormatError.self) { try plain.identity(of: LeakedToken("acme_")) }
        #expect(plain.mint().hasPrefix("acme_"))
        let long = LeakedToken("acme_" + String(repeating: "a", count: defaultMaxTokenLength))
        #expect(throws: TokenFormatError.self) { try plain.identity(of: long) }
        #expect(PrefixedTokenType.Checksum(rawValue: "crc32-base62-6") == .crc32Base62)
        #expect(PrefixedTokenType.Checksum(rawValue: "none") == PrefixedTokenType.Checksum.none)
    }

    @Test("classification: the reported type by name (any case) first, then the longest matching prefix")
    func classification() throws {
        let pypi = PyPITokenType()
        let acme = PrefixedTokenType(name: "acme_key", prefix: "acme_")
        let acmeLive = PrefixedTokenType(name: "acme_live_key", prefix: "acme_live_")
        let registry = TokenTypeRegistry([pypi, acme, acmeLive, github])

        #expect(registry.classify(reportedType: "PyPI_API_Token", token: LeakedToken("anything"))?.name == "pypi_api_token")
        #expect(registry.classify(reportedType: "pypi_api_token", token: LeakedToken("acme_live_1"))?.name == "pypi_api_token")
        #expect(registry.classify(reportedType: "unknown", token: LeakedToken("pypi-AgE"))?.name == "pypi_api_token")
        #expect(registry.classify(reportedType: "", token: LeakedToken("acme_live_123"))?.name == "acme_live_key")
        #expect(registry.classify(reportedType: "", token: LeakedToken("acme_123"))?.name == "acme_key")
        #expect(registry.classify(reportedType: "other", token: LeakedToken("PYPI-AgE")) == nil)
        #expect(registry.classify(reportedType: "", token: LeakedToken("")) == nil)
        #expect(registry.type(named: "GITHUB_PERSONAL_ACCESS_TOKEN")?.name == github.name)

        // Longest prefix wins whatever the configuration order.
        let reversed = TokenTypeRegistry([acmeLive, acme])
        #expect(reversed.classify(reportedType: "", token: LeakedToken("acme_live_1"))?.name == "acme_live_key")
        #expect(reversed.classify(reportedType: "", token: LeakedToken("acme_1"))?.name == "acme_key")
    }
}
