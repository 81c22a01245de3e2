/// One configured vendor: how its reports are recognised, verified, parsed and answered.
///
/// The server holds these in a frozen `VendorSet` and calls them from libmicrohttpd's pool threads.
///
/// Implementation requirements:
/// - **Thread-safe and non-blocking in the common case**: `verify` and `disclosures` are called
///   concurrently from many threads. `verify` may block only while the vendor's keys are fetched
///   (bounded by the key cache's timeouts).
/// - `verify` checks the signature over exactly `body` — the raw request bytes, never re-serialized or
///   trimmed. Header names match case-insensitively. A missing, empty or doubled key-id or signature
///   header is `.missingHeaders`. Any header value, however long or strange (a 100 KB key id, binary
///   junk), ends in a `VerificationFailure`, never a crash or a thrown error.
/// - `verify` never sends a request to the vendor because of a malformed signature, and a flood of
///   unknown key ids costs the vendor's API at most one refetch per interval (see `PublicKeyCache`).
/// - `disclosures` is only called after `verify` succeeded, and follows `ReportParser`'s requirements.
/// - Nothing here may log, throw or return a raw token.
public protocol VendorVerifier: Sendable {
    /// The configured id, unique among enabled vendors: the `{vendor-id}` path segment and the
    /// `vendor` metrics label.
    var id: String { get }
    /// The catalog kind this vendor was made from (`github`, `depsdev`, `gitlab`, `generic`, …).
    var kind: String { get }
    /// The key-identifier and signature header names.
    var headers: HeaderPair { get }
    /// How an accepted report is answered.
    var response: ResponseStyle { get }
    /// In `labels` mode, how long the server may take to label tokens before answering without them.
    var labelsDeadline: Duration { get }
    /// The vendor's own key cache, for metrics and readiness.
    var keyCache: PublicKeyCache { get }

    /// Checks the request's signature over the raw body.
    func verify(body: [UInt8], headers: HTTPHeaders) -> VerificationOutcome

    /// Parses a verified body into one `Disclosure` per item.
    func disclosures(from body: [UInt8]) throws(ReportError) -> [Disclosure]
}
