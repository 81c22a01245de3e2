import SecretsCore

/// Any vendor that signs reports the GitHub way under its own names: both headers and the keys URL
/// must be configured.
public struct GenericVendor: VendorKind {
    public let kind = "generic"
    public let defaultHeaders: HeaderPair? = nil
    public let headersConfigurable = true
    public let defaultKeysURL: String? = nil

    public init() {}
}
