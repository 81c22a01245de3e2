import Testing
import SecretsCore
@testable import Vendors

@Suite("Vendor catalog and per-vendor defaults")
struct VendorCatalogTests {
    @Test func catalogListsTheFourKinds() {
        #expect(VendorCatalog.kinds.map(\.kind) == ["github", "depsdev", "gitlab", "generic"])
        #expect(VendorCatalog.kind(named: "gitlab")?.kind == "gitlab")
        #expect(VendorCatalog.kind(named: "bitbucket") == nil)
    }

    /// Exactly DESIGN.md's table.
    @Test(arguments: [
        ("github", "Github-Public-Key-Identifier", "Github-Public-Key-Signature", "https://api.github.com/meta/public_keys/secret_scanning"),
        ("depsdev", "GOSST-Public-Key-Identifier", "GOSST-Public-Key-Signature", "https://storage.googleapis.com/depsdev-gcp-public-keys/secret_scanning"),
        ("gitlab", "Gitlab-Public-Key-Identifier", "Gitlab-Public-Key-Signature", nil),
    ] as [(String, String, String, String?)])
    func fixedHeaderVendors(_ name: String, _ keyID: String, _ signature: String, _ url: String?) throws {
        let kind = try #require(VendorCatalog.kind(named: name))
        #expect(kind.defaultHeaders?.keyIdentifier == keyID)
        #expect(kind.defaultHeaders?.signature == signature)
        #expect(kind.defaultKeysURL == url)
        #expect(!kind.headersConfigurable)

        let verifier = try kind.makeVerifier(VendorConfiguration(id: name, kind: name, keysURL: url == nil ? "https://keys.example/" : nil))
        #expect(verifier.id == name)
        #expect(verifier.kind == name)
        // Compare the spelling too, not only case-insensitively.
        #expect(verifier.headers.keyIdentifier == keyID)
        #expect(verifier.headers.signature == signature)
        #expect(verifier.response == .accepted)
        #expect(verifier.labelsDeadline == .milliseconds(500))
        #expect(verifier.keyCache.vendorID == name)
        #expect(verifier.keyCache.configuration == KeyCacheConfiguration())
    }

    @Test func genericVendorHasNoDefaults() throws {
        let kind = try #require(VendorCatalog.kind(named: "generic"))
        #expect(kind.defaultHeaders == nil)
        #expect(kind.defaultKeysURL == nil)
        #expect(kind.headersConfigurable)
        let verifier = try kind.makeVerifier(VendorConfiguration(id: "acme", kind: "generic", keysURL: "http://127.0.0.1:9000/keys",
                                                                 keyIdentifierHeader: "Acme-Key-Id", signatureHeader: "Acme-Signature"))
        #expect(verifier.headers == HeaderPair(keyIdentifier: "Acme-Key-Id", signature: "Acme-Signature"))
    }

    @Test func keyCacheDefaultsAreTheDocumentedOnes() {
        let defaults = KeyCacheConfiguration()
        #expect(defaults.ttl == .seconds(1800))
        #expect(defaults.refetchInterval == .seconds(60))
        #expect(defaults.negativeCacheTTL == .seconds(60))
        #expect(defaults.connectTimeout == .seconds(2))
        #expect(defaults.totalTimeout == .seconds(5))
        #expect(defaults.apiToken == nil)
        #expect(defaults.conditionalRequests)
    }

    @Test func configurationCarriesResponseStyleDeadlineLimitsAndToken() throws {
        var config = VendorConfiguration(id: "github", kind: "github", apiToken: "ghs_secret", response: .labels,
                                         labelsDeadline: .milliseconds(250), maxItems: 2, maxTokenLength: 5)
        config.keyCache.ttl = .seconds(60)
        let verifier = try VendorCatalog.makeVerifier(config)
        #expect(verifier.response == .labels)
        #expect(verifier.labelsDeadline == .milliseconds(250))
        #expect(verifier.keyCache.configuration.apiToken == "ghs_secret")
        #expect(verifier.keyCache.configuration.ttl == .seconds(60))
        #expect(throws: ReportError.tooManyItems(limit: 2)) { try verifier.disclosures(from: Array("[1,2,3]".utf8)) }
        let long = try verifier.disclosures(from: Array(#"[{"token":"123456"}]"#.utf8))
        #expect(long.map(\.problem) == ["token too long"])
        #expect(!config.description.contains("ghs_secret"))
    }

    @Test func responseStyleDecodesFromItsConfigurationSpelling() throws {
        #expect(ResponseStyle(rawValue: "labels") == .labels)
        #expect(ResponseStyle(rawValue: "accepted") == .accepted)
        #expect(ResponseStyle(rawValue: "Labels") == nil)
        #expect(ResponseStyle.allCases.map(\.rawValue) == ["accepted", "labels"])
    }
}
