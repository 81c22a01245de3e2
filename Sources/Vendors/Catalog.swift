import SecretsCore

/// Every vendor kind tokenscan knows, one line each. Adding a vendor adds its folder and one line here.
public enum VendorCatalog {
    public static let kinds: [any VendorKind] = [
        GitHubVendor(),
        DepsDevVendor(),
        GitLabVendor(),
        GenericVendor(),
    ]

    /// The kind called `name` (exact, lower-case), or nil.
    public static func kind(named name: String) -> (any VendorKind)? {
        kinds.first { $0.kind == name }
    }

    /// Builds the verifier for one configuration entry; an unknown kind is an error naming the field.
    public static func makeVerifier(_ configuration: VendorConfiguration) throws(VendorConfigurationError) -> any VendorVerifier {
        guard let kind = kind(named: configuration.kind) else {
            throw configuration.error("kind", "is \"\(configuration.kind.prefix(64))\", not one of \(kinds.map { "\"\($0.kind)\"" }.joined(separator: ", "))")
        }
        return try kind.makeVerifier(configuration)
    }

    /// Validates every entry (disabled ones too), registers the enabled ones and freezes the set.
    public static func makeVendors(_ configurations: [VendorConfiguration]) throws(VendorConfigurationError) -> VendorSet {
        var registry = VendorRegistry()
        for configuration in configurations {
            let verifier = try makeVerifier(configuration)
            if configuration.enabled { registry.add(verifier) }
        }
        return try registry.freeze()
    }
}
