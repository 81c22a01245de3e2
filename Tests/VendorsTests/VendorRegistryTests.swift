import Foundation
import Testing
import SecretsCore
@testable import Vendors

@Suite("Vendor registry: duplicates and detection")
struct VendorRegistryTests {
    static let github = VendorConfiguration(id: "github", kind: "github")
    static let depsdev = VendorConfiguration(id: "depsdev", kind: "depsdev")
    static let gitlab = VendorConfiguration(id: "gitlab", kind: "gitlab", keysURL: "https://gitlab.example/keys")
    static func generic(_ id: String, _ keyID: String, _ signature: String) -> VendorConfiguration {
        VendorConfiguration(id: id, kind: "generic", keysURL: "http://127.0.0.1:9000/keys",
                            keyIdentifierHeader: keyID, signatureHeader: signature)
    }

    @Test func duplicateIDsAreAnError() {
        var second = Self.github
        second.apiToken = "t"
        do {
            _ = try VendorCatalog.makeVendors([Self.github, Self.depsdev, second])
            Issue.record("two vendors called github were accepted")
        } catch {
            #expect(error.description == #"vendors has two vendors with id "github""#)
        }
    }

    @Test func duplicateHeaderPairsAreAnErrorNamingBoth() {
        let copycat = Self.generic("copycat", "GITHUB-public-key-identifier", "github-PUBLIC-key-signature")
        do {
            _ = try VendorCatalog.makeVendors([Self.github, copycat])
            Issue.record("two vendors with the same header pair were accepted")
        } catch {
            #expect(error.description.contains(#""github" and "copycat" use the same headers"#))
        }
    }

    @Test func twoGitHubVendorsClashOnHeadersEvenWithDifferentIDs() {
        var staging = Self.github
        staging.id = "github-staging"
        staging.keysURL = "http://127.0.0.1:8964/keys"
        #expect(throws: VendorConfigurationError.self) { try VendorCatalog.makeVendors([Self.github, staging]) }
    }

    @Test func disabledVendorsAreValidatedButNotRegistered() throws {
        var staging = Self.github
        staging.id = "github-staging"
        staging.enabled = false
        let vendors = try VendorCatalog.makeVendors([Self.github, staging, Self.depsdev])
        #expect(vendors.all.map(\.id) == ["github", "depsdev"])
        var broken = VendorConfiguration(id: "gl", kind: "gitlab")
        broken.enabled = false
        #expect(throws: VendorConfigurationError.self) { try VendorCatalog.makeVendors([broken]) }
    }

    @Test func vendorsAreFoundByExactID() throws {
        let vendors = try VendorCatalog.makeVendors([Self.github, Self.depsdev, Self.gitlab])
        #expect(vendors.vendor(id: "depsdev")?.kind == "depsdev")
        #expect(vendors.vendor(id: "GitHub") == nil)
        #expect(vendors.vendor(id: "nope") == nil)
    }

    @Test(arguments: [
        (["github-public-key-identifier": "k", "GITHUB-PUBLIC-KEY-SIGNATURE": "s"], "github"),
        (["Gosst-Public-Key-Identifier": "k", "gosst-public-key-signature": "s"], "depsdev"),
        (["Gitlab-Public-Key-Identifier": "k", "Gitlab-Public-Key-Signature": "s"], "gitlab"),
        (["acme-key-id": "k", "ACME-SIGNATURE": "s"], "acme"),
        (["Gitlab-Public-Key-Signature": "s"], "gitlab"),
        (["Github-Public-Key-Identifier": "k"], "github"),
        (["Content-Type": "application/json"], nil),
        ([:], nil),
    ] as [([String: String], String?)])
    func detectionByHeaderPair(_ headers: [String: String], _ expected: String?) throws {
        let vendors = try VendorCatalog.makeVendors([Self.github, Self.depsdev, Self.gitlab, Self.generic("acme", "Acme-Key-Id", "Acme-Signature")])
        let request = HTTPHeaders(headers.map { (name: $0.key, value: $0.value) })
        #expect(vendors.detect(headers: request)?.id == expected)
    }

    @Test func exactPairWinsOverAPartialMatch() throws {
        let first = Self.generic("first", "Shared-Key-Id", "First-Signature")
        let second = Self.generic("second", "Shared-Key-Id", "Second-Signature")
        let vendors = try VendorCatalog.makeVendors([first, second])
        #expect(vendors.detect(headers: ["shared-key-id": "k", "second-signature": "s"])?.id == "second")
        #expect(vendors.detect(headers: ["shared-key-id": "k", "first-signature": "s"])?.id == "first")
        #expect(vendors.detect(headers: ["shared-key-id": "k"])?.id == "first")
    }

    @Test func registryBuilderFreezesWhatWasAdded() throws {
        var registry = VendorRegistry()
        registry.add(try VendorCatalog.makeVerifier(Self.gitlab))
        registry.add(try VendorCatalog.makeVerifier(Self.github))
        let vendors = try registry.freeze()
        #expect(vendors.all.map(\.id) == ["gitlab", "github"])
        #expect(!vendors.isEmpty)
        #expect(try VendorRegistry().freeze().isEmpty)
    }
}
