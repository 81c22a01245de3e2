/// One item of a vendor's report, normalized and judged on its own.
///
/// A malformed item still becomes a `Disclosure`, with `problem` set and usually no token, so the batch
/// never fails because of one bad item and every item leaves an audit record.
public struct Disclosure: Sendable {
    /// The leaked token, or nil when the item had none usable.
    public var token: LeakedToken?
    /// The type the vendor reported (as sent; matched case-insensitively later). Empty when absent.
    public var type: String
    /// Where the token was found publicly. May be empty.
    public var url: String
    /// The vendor's `source` field (e.g. "commit"), when present.
    public var source: String?
    /// Why the item is malformed, when it is. A short phrase that never contains the token.
    public var problem: String?

    public init(token: LeakedToken?, type: String, url: String, source: String? = nil, problem: String? = nil) {
        self.token = token
        self.type = type
        self.url = url
        self.source = source
        self.problem = problem
    }
}
