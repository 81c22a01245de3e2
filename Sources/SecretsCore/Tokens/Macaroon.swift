/// A macaroon as pymacaroons (and so PyPI's Warehouse) serializes it: a location, an identifier,
/// caveats and an HMAC-SHA-256 signature chained over them.
///
/// Fields are kept as bytes so that decoding and re-serializing is exact. Decoding is ours: strict,
/// iterative (no recursion), bounds-checked at every read, and it throws `TokenFormatError` for anything
/// that is not exactly one well-formed macaroon.
public struct Macaroon: Sendable, Equatable {
    /// A caveat: first-party (a predicate) or third-party (with a verification id and a location).
    public struct Caveat: Sendable, Equatable {
        /// The third party's location; nil for a first-party caveat.
        public var location: [UInt8]?
        /// The predicate (first-party) or the caveat id the third party reads (third-party).
        public var identifier: [UInt8]
        /// The verification id of a third-party caveat; nil for a first-party caveat.
        public var verificationID: [UInt8]?

        public init(location: [UInt8]? = nil, identifier: [UInt8], verificationID: [UInt8]? = nil) {
            self.location = location
            self.identifier = identifier
            self.verificationID = verificationID
        }

        /// A first-party caveat with this predicate.
        public init(predicate: String) { self.init(identifier: Array(predicate.utf8)) }

        public var isFirstParty: Bool { verificationID == nil }
    }

    /// The serialization a macaroon was decoded from.
    public enum Format: Sendable, Equatable {
        /// libmacaroons/pymacaroons V1: length-prefixed text packets.
        case v1
        /// libmacaroons/pymacaroons V2: binary fields, what Warehouse issues.
        case v2
    }

    /// Nil when the serialization had no location field.
    public var location: [UInt8]?
    public var identifier: [UInt8]
    public var caveats: [Caveat]
    /// 32 bytes of HMAC-SHA-256.
    public var signature: [UInt8]

    public init(location: [UInt8]?, identifier: [UInt8], caveats: [Caveat], signature: [UInt8]) {
        self.location = location
        self.identifier = identifier
        self.caveats = caveats
        self.signature = signature
    }

    /// Mints a macaroon with first-party caveats, signed as pymacaroons signs: the signature starts as
    /// HMAC(HMAC("macaroons-key-generator", rootKey), identifier) and each caveat chains one more HMAC.
    public init(rootKey: [UInt8], location: String?, identifier: String, caveats: [String] = []) {
        let caveatList = caveats.map(Caveat.init(predicate:))
        self.init(location: location.map { Array($0.utf8) }, identifier: Array(identifier.utf8), caveats: caveatList,
                  signature: Macaroon.signature(rootKey: rootKey, identifier: Array(identifier.utf8), caveats: caveatList))
    }

    /// The location as text, when present and valid UTF-8.
    public var locationString: String? { location.flatMap { String(validating: $0, as: UTF8.self) } }
    /// The identifier as text, when valid UTF-8.
    public var identifierString: String? { String(validating: identifier, as: UTF8.self) }

    // MARK: Signature

    /// The signature pymacaroons computes for this identifier and these caveats under `rootKey`.
    ///
    /// First-party caveat: `sig = HMAC(sig, predicate)`. Third-party caveat:
    /// `sig = HMAC(sig, HMAC(sig, vid) ‖ HMAC(sig, cid))`, as pymacaroons' `sign_third_party_caveat`.
    public static func signature(rootKey: [UInt8], identifier: [UInt8], caveats: [Caveat]) -> [UInt8] {
        let derivedKey = HMACSHA256.authenticationCode(key: Array("macaroons-key-generator".utf8), message: rootKey)
        var signature = HMACSHA256.authenticationCode(key: derivedKey, message: identifier)
        for caveat in caveats {
            if let vid = caveat.verificationID {
                let joined = HMACSHA256.authenticationCode(key: signature, message: vid)
                    + HMACSHA256.authenticationCode(key: signature, message: caveat.identifier)
                signature = HMACSHA256.authenticationCode(key: signature, message: joined)
            } else {
                signature = HMACSHA256.authenticationCode(key: signature, message: caveat.identifier)
            }
        }
        return signature
    }

    /// Whether the signature is the HMAC chain of this identifier and these caveats under `rootKey`.
    ///
    /// Checks the chain only: it does not evaluate caveats and does not verify discharge macaroons for
    /// third-party caveats, so `true` means "we minted this (or a holder attenuated it)", not "authorized".
    /// Compares in constant time.
    public func verifySignature(rootKey: [UInt8]) -> Bool {
        let expected = Macaroon.signature(rootKey: rootKey, identifier: identifier, caveats: caveats)
        guard expected.count == signature.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(expected, signature) { difference |= a ^ b }
        return difference == 0
    }

    /// A copy with one more first-party caveat, its signature chained on (attenuation needs no root key).
    public func addingFirstPartyCaveat(_ predicate: String) -> Macaroon {
        var copy = self
        let bytes = Array(predicate.utf8)
        copy.caveats.append(Caveat(identifier: bytes))
        copy.signature = HMACSHA256.authenticationCode(key: signature, message: bytes)
        return copy
    }
}

// MARK: - Decoding

extension Macaroon {
    /// Decodes one macaroon from its raw serialization (after base64), V2 binary or V1 packets,
    /// detected by the first byte as pymacaroons does.
    public init(deserializing bytes: [UInt8]) throws(TokenFormatError) {
        guard let first = bytes.first else { throw .malformed("empty macaroon") }
        if first == MacaroonV2.version {
            self = try MacaroonV2.decode(bytes)
        } else if MacaroonV1.isPacketStart(first) {
            self = try MacaroonV1.decode(bytes)
        } else {
            throw .malformed("not a macaroon (unknown serialization)")
        }
    }

    /// The serialization `init(deserializing:)` would detect for these bytes, or nil.
    public static func format(of bytes: [UInt8]) -> Format? {
        guard let first = bytes.first else { return nil }
        if first == MacaroonV2.version { return .v2 }
        return MacaroonV1.isPacketStart(first) ? .v1 : nil
    }

    /// The V2 binary serialization, byte-for-byte as pymacaroons writes it.
    public func serializedV2() -> [UInt8] { MacaroonV2.encode(self) }
}
