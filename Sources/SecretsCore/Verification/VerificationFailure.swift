/// Why a report's signature was not accepted. Distinct internally and in metrics; the vendor sees one
/// uniform error for every case (except `keysUnavailable`, answered 503 when no keys are cached).
public enum VerificationFailure: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The key-identifier or signature header is absent, empty, or sent more than once.
    case missingHeaders = "missing_headers"
    /// The key identifier is not among the vendor's keys, even after the (rate-limited) refetch.
    case unknownKeyID = "unknown_key_id"
    /// The signature parses but does not verify over the raw body with that key.
    case invalidSignature = "invalid_signature"
    /// The signature header is not strict standard base64 of a plausible DER signature.
    case malformedSignature = "malformed_signature"
    /// The key could not be used (reserved for verifiers that parse keys per request).
    case malformedKey = "malformed_key"
    /// No keys for this vendor could be fetched and none are cached.
    case keysUnavailable = "keys_unavailable"

    public var description: String { rawValue }
}

/// The result of checking one report's signature.
public enum VerificationOutcome: Sendable, Hashable {
    /// The signature verifies over the raw body with the key named by `keyIdentifier`.
    case verified(keyIdentifier: String)
    case failed(VerificationFailure)

    public var isVerified: Bool {
        if case .verified = self { return true }
        return false
    }

    /// The failure, or nil when verified.
    public var failure: VerificationFailure? {
        if case .failed(let failure) = self { return failure }
        return nil
    }
}
