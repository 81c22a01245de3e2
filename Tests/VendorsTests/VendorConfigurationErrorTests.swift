import Testing
import SecretsCore
@testable import Vendors

/// Errors name the field as the configuration file spells it, so `config check` can point at it.
@Suite("Vendor configuration errors")
struct VendorConfigurationErrorTests {
    static func config(_ id: String, _ kind: String, path: String? = "vendors[1]", url: String? = nil,
                       keyID: String? = nil, signature: String? = nil) -> VendorConfiguration {
        VendorConfiguration(id: id, kind: kind, keysURL: url, keyIdentifierHeader: keyID, signatureHeader: signature, path: path)
    }

    @Test(arguments: [
        (config("gl", "gitlab"), #"vendors[1].keys_url is required for kind "gitlab""#),
        (config("acme", "generic", url: "https://k/"), #"vendors[1].key_identifier_header is required for kind "generic""#),
        (config("acme", "generic", url: "https://k/", keyID: "Acme-Key"), #"vendors[1].signature_header is required for kind "generic""#),
        (config("acme", "generic", keyID: "Acme-Key", signature: "Acme-Sig"), #"vendors[1].keys_url is required for kind "generic""#),
        (config("acme", "generic", path: nil, keyID: "Acme-Key", signature: "Acme-Sig"), #"vendors["acme"].keys_url is required for kind "generic""#),
        (config("bb", "bitbucket", path: "vendors[2]"), #"vendors[2].kind is "bitbucket", not one of "github", "depsdev", "gitlab", "generic""#),
        (config("gh", "github", keyID: "X-Key"), #"vendors[1].key_identifier_header cannot be changed for kind "github" (it is always Github-Public-Key-Identifier)"#),
        (config("gh", "github", signature: "X-Sig"), #"vendors[1].signature_header cannot be changed for kind "github" (it is always Github-Public-Key-Signature)"#),
        (config("GitHub Main", "github"), #"vendors[1].id must be 1 to 64 of A-Z, a-z, 0-9, '-' and '_' (got "GitHub Main")"#),
        (config("", "github"), #"vendors[1].id must be 1 to 64 of A-Z, a-z, 0-9, '-' and '_' (got "")"#),
        (config("gh", "github", url: "ftp://keys.example/"), "vendors[1].keys_url must be an http:// or https:// URL"),
        (config("gh", "github", url: "https://keys.example/a b"), "vendors[1].keys_url must be an http:// or https:// URL"),
        (config("acme", "generic", url: "https://k/", keyID: "Acme Key", signature: "Acme-Sig"), "vendors[1].key_identifier_header is not a valid HTTP header name"),
        (config("acme", "generic", url: "https://k/", keyID: "Acme-Key", signature: "acme-key"), "vendors[1].signature_header must differ from key_identifier_header"),
    ])
    func errorsNameTheField(_ configuration: VendorConfiguration, _ message: String) {
        do {
            _ = try VendorCatalog.makeVerifier(configuration)
            Issue.record("accepted \(configuration)")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func sameHeadersInAnotherCaseAreAllowedForFixedKinds() throws {
        let verifier = try VendorCatalog.makeVerifier(Self.config("gh", "github", keyID: "github-public-key-identifier"))
        #expect(verifier.headers.keyIdentifier == "Github-Public-Key-Identifier")
    }

    enum BadLimit: CaseIterable, Sendable {
        case noItems, negativeTokenLength, zeroDeadline, emptyToken, zeroTimeout

        func apply(to c: inout VendorConfiguration) {
            switch self {
            case .noItems: c.maxItems = 0
            case .negativeTokenLength: c.maxTokenLength = -1
            case .zeroDeadline: c.labelsDeadline = .zero
            case .emptyToken: c.apiToken = ""
            case .zeroTimeout: c.keyCache.totalTimeout = .zero
            }
        }

        var message: String {
            switch self {
            case .noItems: "vendors[1].max_items must be positive"
            case .negativeTokenLength: "vendors[1].max_token_length must be positive"
            case .zeroDeadline: "vendors[1].labels_deadline must be positive"
            case .emptyToken: "vendors[1].api_token must be non-empty printable text"
            case .zeroTimeout: "vendors[1].key_cache durations and sizes must be positive"
            }
        }
    }

    @Test(arguments: BadLimit.allCases)
    func limitsMustBePositive(_ bad: BadLimit) {
        var configuration = Self.config("gh", "github")
        bad.apply(to: &configuration)
        do {
            _ = try VendorCatalog.makeVerifier(configuration)
            Issue.record("accepted \(bad)")
        } catch {
            #expect(error.description == bad.message)
        }
    }

    @Test func errorCarriesFieldAndProblemSeparately() {
        do {
            _ = try VendorCatalog.makeVerifier(Self.config("gl", "gitlab", path: "vendors[3]"))
            Issue.record("gitlab without keys_url was accepted")
        } catch {
            #expect(error.field == "vendors[3].keys_url")
            #expect(error.problem == #"is required for kind "gitlab""#)
        }
    }
}
