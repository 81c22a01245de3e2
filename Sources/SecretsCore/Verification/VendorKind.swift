/// A kind of vendor in the catalog (`github`, `depsdev`, `gitlab`, `generic`): what a configuration
/// entry of that kind defaults to, and how it becomes a `VendorVerifier`.
///
/// Implementation requirements: `kind` is unique in the catalog and lower-case; a kind whose vendor
/// fixes its header names gives them in `defaultHeaders` and answers `headersConfigurable == false`;
/// a kind without a public keys URL answers nil for `defaultKeysURL`, which makes `keys_url` required.
/// `makeVerifier` throws `VendorConfigurationError` naming the field for any configuration it cannot
/// honour, and must not touch the network (keys are fetched on first use). The defaults below give a
/// `SignedReportVendor` with a `StandardReportParser`, which is all the known vendors need.
public protocol VendorKind: Sendable {
    /// The `kind` value in the configuration file.
    var kind: String { get }
    /// The header pair the vendor sends; nil when it must be configured.
    var defaultHeaders: HeaderPair? { get }
    /// Whether the receiver chooses the header names (generic vendors) or the vendor fixes them.
    var headersConfigurable: Bool { get }
    /// The vendor's public keys URL; nil when it must be configured.
    var defaultKeysURL: String? { get }

    /// The parser for this vendor's report bodies.
    func reportParser(for configuration: VendorConfiguration) -> any ReportParser

    /// Validates `configuration` and builds the verifier, with its own key cache.
    func makeVerifier(_ configuration: VendorConfiguration) throws(VendorConfigurationError) -> any VendorVerifier
}

extension VendorKind {
    public func reportParser(for configuration: VendorConfiguration) -> any ReportParser {
        StandardReportParser(maxItems: configuration.maxItems, maxTokenLength: configuration.maxTokenLength)
    }

    public func makeVerifier(_ configuration: VendorConfiguration) throws(VendorConfigurationError) -> any VendorVerifier {
        let resolved = try configuration.validated(by: self)
        let cache = PublicKeyCache(vendorID: configuration.id, keysURL: resolved.keysURL, configuration: resolved.keyCache)
        return SignedReportVendor(id: configuration.id, kind: kind, headers: resolved.headers,
                                  response: configuration.response, labelsDeadline: configuration.labelsDeadline,
                                  keyCache: cache, parser: reportParser(for: configuration))
    }
}
