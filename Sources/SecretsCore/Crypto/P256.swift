internal import COpenSSL

/// ECDSA over NIST P-256 with SHA-256, the scheme every secret-scanning vendor signs with.
///
/// Keys are parsed once and kept: parsing a PEM costs several verifications.
public enum P256 {
    public enum Signing {}
}

/// The one owner of an OpenSSL `EVP_PKEY`, freed in `deinit`.
///
/// `@unchecked Sendable`: the key is never mutated after construction, and OpenSSL documents
/// concurrent use of a const `EVP_PKEY` for signing and verification (each call makes its own
/// `EVP_MD_CTX`) as thread-safe.
final class OwnedPKey: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { EVP_PKEY_free(pointer) }

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

        private func verify(_ der: [UInt8], _ data: UnsafeBufferPointer<UInt8>) -> Bool {
            guard let ctx = EVP_MD_CTX_new() else { return false }
            defer { EVP_MD_CTX_free(ctx) }
            guard EVP_DigestVerifyInit(ctx, nil, EVP_sha256(), nil, key.pointer) == 1 else {
                OpenSSLErrors.clear()
                return false
            }
            let result = der.withUnsafeBufferPointer { sig in
                EVP_DigestVerify(ctx, sig.baseAddress, sig.count, data.baseAddress, data.count)
            }
            if result != 1 { OpenSSLErrors.clear() }
            return result == 1
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
