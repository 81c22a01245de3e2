import SecretsCore

/// GitLab's partner program for leaked-credential notifications. The header names are fixed; the
/// keys URL is agreed with GitLab per partner, so it must be configured. Its key identifiers are
/// SHA-1 hex, matched as opaque strings like every other vendor's.
public struct GitLabVendor: VendorKind {
    public let kind = "gitlab"
    public let defaultHeaders: HeaderPair? = HeaderPair(keyIdentifier: "Gitlab-Public-Key-Identifier",
                                                       signature: "Gitlab-Public-Key-Signature")
    public let headersConfigurable = false
    public let defaultKeysURL: String? = nil

    public init() {}
}
