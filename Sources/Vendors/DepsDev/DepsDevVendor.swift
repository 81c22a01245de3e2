import SecretsCore

/// Google's deps.dev (Open Source Security Team, "GOSST"), which signs like GitHub with its own
/// headers and publishes its keys in a public bucket.
public struct DepsDevVendor: VendorKind {
    public let kind = "depsdev"
    public let defaultHeaders: HeaderPair? = HeaderPair(keyIdentifier: "GOSST-Public-Key-Identifier",
                                                       signature: "GOSST-Public-Key-Signature")
    public let headersConfigurable = false
    public let defaultKeysURL: String? = "https://storage.googleapis.com/depsdev-gcp-public-keys/secret_scanning"

    public init() {}
}
