import SecretsCore

/// GitHub's secret scanning partner program. GitHub fixes the header names and publishes its keys
/// (SHA-256-of-PEM identifiers) at its meta API; an API token raises the rate limit.
public struct GitHubVendor: VendorKind {
    public let kind = "github"
    public let defaultHeaders: HeaderPair? = HeaderPair(keyIdentifier: "Github-Public-Key-Identifier",
                                                       signature: "Github-Public-Key-Signature")
    public let headersConfigurable = false
    public let defaultKeysURL: String? = "https://api.github.com/meta/public_keys/secret_scanning"

    public init() {}
}
