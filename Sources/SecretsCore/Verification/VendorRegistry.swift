/// Collects the enabled vendors, then freezes into an immutable, `Sendable` `VendorSet` — after
/// checking that no two share an id or a header pair.
///
/// ```swift
/// var registry = VendorRegistry()
/// for config in configs where config.enabled { registry.add(try kind.makeVerifier(config)) }
/// let vendors = try registry.freeze()
/// ```
public struct VendorRegistry {
    private var vendors: [any VendorVerifier] = []

    public init() {}

    /// Adds a vendor. Order matters only as the tie-break of `VendorSet.detect(headers:)`.
    public mutating func add(_ vendor: any VendorVerifier) {
        vendors.append(vendor)
    }

    /// The vendors added so far.
    public var all: [any VendorVerifier] { vendors }

    /// Checks ids and header pairs, and answers the immutable set. Throws naming both vendors when two
    /// share an id, or share a header pair (compared case-insensitively): detection could not tell
    /// them apart.
    public func freeze() throws(VendorConfigurationError) -> VendorSet {
        for (index, vendor) in vendors.enumerated() {
            for earlier in vendors[..<index] {
                if earlier.id == vendor.id {
                    throw VendorConfigurationError(field: "vendors", problem: "has two vendors with id \"\(vendor.id)\"")
                }
                if earlier.headers == vendor.headers {
                    throw VendorConfigurationError(
                        field: "vendors",
                        problem: "\"\(earlier.id)\" and \"\(vendor.id)\" use the same headers (\(vendor.headers)), so reports could not be told apart")
                }
            }
        }
        return VendorSet(vendors)
    }
}

/// The enabled vendors, immutable: found by id (explicit path) or detected by their header pair.
public struct VendorSet: Sendable {
    /// In registration order.
    public let all: [any VendorVerifier]
    private let byID: [String: Int]

    init(_ vendors: [any VendorVerifier]) {
        all = vendors
        byID = Dictionary(vendors.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The vendor with this id (exact match), or nil.
    public func vendor(id: String) -> (any VendorVerifier)? {
        byID[id].map { all[$0] }
    }

    /// The vendor whose headers the request carries: one whose key-id **and** signature headers are both
    /// present wins; otherwise the first with either present (its verification will then fail with
    /// `missingHeaders`, which is the honest answer). Header names match case-insensitively.
    public func detect(headers: HTTPHeaders) -> (any VendorVerifier)? {
        var partial: (any VendorVerifier)?
        for vendor in all {
            let hasKeyID = headers.contains(vendor.headers.keyIdentifier)
            let hasSignature = headers.contains(vendor.headers.signature)
            if hasKeyID && hasSignature { return vendor }
            if partial == nil && (hasKeyID || hasSignature) { partial = vendor }
        }
        return partial
    }

    public var isEmpty: Bool { all.isEmpty }
}
