internal import COpenSSL
import Synchronization

/// ECDSA over NIST P-256 with SHA-256, the scheme every secret-scanning vendor signs with.
///
/// Keys are parsed once and kept: parsing a PEM costs several verifications.
public enum P256 {
    public enum Signing {}
}

/// The one owner of an OpenSSL `EVP_PKEY`, freed in `deinit`, with a small pool of verification
/// contexts made from it.
///
/// `@unchecked Sendable`: the key is never mutated after construction, OpenSSL documents concurrent
/// use of a const `EVP_PKEY` by several `EVP_PKEY_CTX`s as thread-safe, and each pooled context is
/// used by one thread at a time (taken out of the `Mutex`-guarded pool for one verification).
final class OwnedPKey: @unchecked Sendable {
    let pointer: OpaquePointer
    private let verifyContexts = Mutex<[VerifyContext]>([])
    /// More idle contexts than threads that verify at once is waste; beyond this they are freed.
    private static let poolLimit = 32

    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { EVP_PKEY_free(pointer) }

    /// Runs `body` with a context ready for `EVP_PKEY_verify` (initialized once, reused: making one per
    /// call costs as much as a sixth of the verification). `body` answers whether the context may be
    /// reused; a context that saw an error is freed instead. Nil when no context could be made.
    func withVerifyContext(_ body: (OpaquePointer) -> (result: Bool, reusable: Bool)) -> Bool? {
        guard let context = verifyContexts.withLock({ $0.popLast() }) ?? VerifyContext(key: pointer) else { return nil }
        let (result, reusable) = body(context.pointer)
        if reusable {
            verifyContexts.withLock { pool in
                if pool.count < Self.poolLimit { pool.append(context) }
            }
        }
        return result
    }

    /// Refuses anything but an EC key on prime256v1.
    func requireP256() throws(CryptoError) {
        guard EVP_PKEY_get_base_id(pointer) == EVP_PKEY_EC else {
            throw .unsupportedKey("not an EC key (only ECDSA P-256 keys are accepted)")
        }
        var name = [CChar](repeating: 0, count: 64)
        var length = 0
        guard EVP_PKEY_get_group_name(pointer, &name, name.count, &length) == 1 else {
            throw .unsupportedKey("EC key without a named curve (only P-256 is accepted)")
        }
        let curve = String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard curve == "prime256v1" else {
            throw .unsupportedKey("EC key on curve \(curve) (only P-256 / prime256v1 is accepted)")
        }
    }

    /// Writes the key with `write` into a memory BIO and returns the PEM text.
    func pem(_ write: (OpaquePointer) -> Int32) throws(CryptoError) -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { throw .library("BIO_new") }
        defer { BIO_free(bio) }
        guard write(bio) == 1 else { throw .library("PEM export") }
        var data: UnsafeMutablePointer<CChar>?
        let length = CTokenscan_BIO_get_mem_data(bio, &data)
        guard length > 0, let data else { throw .library("BIO_get_mem_data") }
        return data.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }
}

/// The one owner of an `EVP_PKEY_CTX` initialized for ECDSA verification of a SHA-256 digest.
///
/// `@unchecked Sendable`: it moves between threads only through `OwnedPKey`'s pool, and is used by
/// one thread at a time.
final class VerifyContext: @unchecked Sendable {
    let pointer: OpaquePointer

    init?(key: OpaquePointer) {
        guard let context = EVP_PKEY_CTX_new_from_pkey(nil, key, nil) else {
            OpenSSLErrors.clear()
            return nil
        }
        guard EVP_PKEY_verify_init(context) == 1, EVP_PKEY_CTX_set_signature_md(context, SHA256.algorithm) == 1 else {
            EVP_PKEY_CTX_free(context)
            OpenSSLErrors.clear()
            return nil
        }
        pointer = context
    }

    deinit { EVP_PKEY_CTX_free(pointer) }
}

/// Reads one PEM object from text into an `EVP_PKEY` with `read`.
private func readPEM(_ pem: String, _ read: (OpaquePointer) -> OpaquePointer?) throws(CryptoError) -> OwnedPKey {
    OpenSSLErrors.clear()
    let bytes = Array(pem.utf8)
    guard !bytes.isEmpty else { throw .malformedKey("empty PEM") }
    let key: OpaquePointer? = bytes.withUnsafeBytes { raw in
        guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
        defer { BIO_free(bio) }
        return read(bio)
    }
    guard let key else { throw .malformedKey("not a PEM key: \(OpenSSLErrors.drain())") }
    return OwnedPKey(key)
}

extension P256.Signing {
    /// A P-256 public key, parsed once from PEM (SubjectPublicKeyInfo).
    public struct PublicKey: Sendable {
        let key: OwnedPKey

        /// Parses a `-----BEGIN PUBLIC KEY-----` PEM; any key that is not EC on P-256 is refused.
        public init(pemRepresentation pem: String) throws(CryptoError) {
            key = try readPEM(pem) { PEM_read_bio_PUBKEY($0, nil, nil, nil) }
            try key.requireP256()
        }

        init(owned: OwnedPKey) { key = owned }

        /// The PEM (SubjectPublicKeyInfo) form, ending in a newline.
        public var pemRepresentation: String {
            get throws(CryptoError) { try key.pem { PEM_write_bio_PUBKEY($0, key.pointer) } }
        }

        /// Whether `signature` is a valid ECDSA signature over SHA-256 of exactly `data`.
        ///
        /// Answers `false`, never throws, for a signature that does not verify for any reason.
        public func isValidSignature<Bytes: Collection>(_ signature: Signature, for data: Bytes) -> Bool where Bytes.Element == UInt8 {
            if let answer = data.withContiguousStorageIfAvailable({ verify(signature.derRepresentation, $0) }) {
                return answer
            }
            return Array(data).withUnsafeBufferPointer { verify(signature.derRepresentation, $0) }
        }

        /// SHA-256 of the data, then `EVP_PKEY_verify` on a pooled context: the same work as
        /// `EVP_DigestVerify`, without setting up a digest context and fetching algorithms per call.
        /// OpenSSL's ECDSA verification is DER-strict (it re-encodes the signature and compares).
        private func verify(_ der: [UInt8], _ data: UnsafeBufferPointer<UInt8>) -> Bool {
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { digest in
                guard SHA256.digest(data, into: digest) else { return false }
                let verified = key.withVerifyContext { context in
                    let result = der.withUnsafeBufferPointer { sig in
                        EVP_PKEY_verify(context, sig.baseAddress, sig.count, digest.baseAddress, 32)
                    }
                    // 0 is "does not verify"; negative is an error that may have left state behind.
                    if result != 1 { OpenSSLErrors.clear() }
                    return (result == 1, result >= 0)
                }
                return verified ?? false
            }
        }
    }

    /// An ECDSA signature in its DER form. Construction checks only that there are bytes; the strict
    /// DER check happens in verification, where OpenSSL refuses any non-canonical encoding.
    public struct Signature: Sendable, Equatable {
        public let derRepresentation: [UInt8]

        public init(derRepresentation der: [UInt8]) throws(CryptoError) {
            guard !der.isEmpty, der.count <= 256 else {
                throw .malformedSignature("a DER ECDSA P-256 signature is 8 to 72 bytes, got \(der.count)")
            }
            derRepresentation = der
        }

        /// Parses a signature header value: strict standard base64 of the DER bytes.
        public init(base64Header value: String) throws(CryptoError) {
            guard let der = Base64.decodeStandard(value) else {
                throw .malformedSignature("signature is not strict standard base64")
            }
            try self.init(derRepresentation: der)
        }

        public var base64Representation: String { Base64.encodeStandard(derRepresentation) }
    }

    /// A P-256 private key: generated here, or read from PEM (PKCS #8). Used by the fake vendor and tests.
    public struct PrivateKey: Sendable {
        let key: OwnedPKey

        /// Generates a fresh key with the `EVP_PKEY_CTX` key-generation API.
        public init() throws(CryptoError) {
            OpenSSLErrors.clear()
            guard let ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nil) else { throw .library("EVP_PKEY_CTX_new_id") }
            defer { EVP_PKEY_CTX_free(ctx) }
            guard EVP_PKEY_keygen_init(ctx) == 1 else { throw .library("EVP_PKEY_keygen_init") }
            guard EVP_PKEY_CTX_set_ec_paramgen_curve_nid(ctx, NID_X9_62_prime256v1) == 1 else {
                throw .library("EVP_PKEY_CTX_set_ec_paramgen_curve_nid")
            }
            var generated: OpaquePointer?
            guard EVP_PKEY_keygen(ctx, &generated) == 1, let generated else { throw .library("EVP_PKEY_keygen") }
            key = OwnedPKey(generated)
        }

        /// Parses a `-----BEGIN PRIVATE KEY-----` (or `EC PRIVATE KEY`) PEM on P-256.
        public init(pemRepresentation pem: String) throws(CryptoError) {
            key = try readPEM(pem) { PEM_read_bio_PrivateKey($0, nil, nil, nil) }
            try key.requireP256()
        }

        /// PKCS #8 PEM, unencrypted.
        public var pemRepresentation: String {
            get throws(CryptoError) {
                try key.pem { PEM_write_bio_PrivateKey($0, key.pointer, nil, nil, 0, nil, nil) }
            }
        }

        /// The matching public key (shares the same `EVP_PKEY`; OpenSSL verifies with a private key's public half).
        public var publicKey: PublicKey {
            get throws(CryptoError) {
                // Round-trip through PEM so the public key holds no private material.
                try PublicKey(pemRepresentation: try PublicKey(owned: key).pemRepresentation)
            }
        }

        /// Signs SHA-256 of exactly `data`, answering a DER signature.
        public func signature<Bytes: Collection>(for data: Bytes) throws(CryptoError) -> Signature where Bytes.Element == UInt8 {
            OpenSSLErrors.clear()
            let bytes = Array(data)
            guard let ctx = EVP_MD_CTX_new() else { throw .library("EVP_MD_CTX_new") }
            defer { EVP_MD_CTX_free(ctx) }
            guard EVP_DigestSignInit(ctx, nil, EVP_sha256(), nil, key.pointer) == 1 else { throw .library("EVP_DigestSignInit") }
            var length = 0
            guard EVP_DigestSign(ctx, nil, &length, bytes, bytes.count) == 1 else { throw .library("EVP_DigestSign(size)") }
            var der = [UInt8](repeating: 0, count: length)
            guard EVP_DigestSign(ctx, &der, &length, bytes, bytes.count) == 1 else { throw .library("EVP_DigestSign") }
            return try Signature(derRepresentation: Array(der.prefix(length)))
        }
    }
}
