// tokenscan-bench: micro-benchmarks of the request path's CPU work. Not shipped, not a test: it
// prints figures that bench/verify.sh compares with `openssl speed`.
//
//   tokenscan-bench verify [--seconds S]
//
// Prints `verify_path_per_sec=N` (SignedReportVendor.verify: header lookup, strict base64, DER
// check, key-cache lookup, ECDSA verify) and `verify_raw_per_sec=N` (PublicKey.isValidSignature
// alone), both single-threaded, per second of **user CPU time** — what `openssl speed` counts by
// default, so the two compare fairly on a shared machine — and the same per wall-clock second
// (`..._wall_per_sec`).
import Foundation
import SecretsCore
#if canImport(Glibc)
import Glibc
#endif

/// Serves one fixed document, so the cache never touches the network.
struct FixedKeySource: PublicKeySource {
    let document: PublicKeyDocument
    func fetch(ifNoneMatch etag: String?) throws(PublicKeyFetchError) -> PublicKeyFetchResult {
        .document(document, etag: nil)
    }
}

/// CPU time of this thread, in seconds. The loop makes no system calls (the clock is read through
/// the vDSO), so this is user time, as `openssl speed` counts it.
func userCPUSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

/// Calls `body` until `seconds` of wall-clock time have passed; answers calls per user-CPU second
/// and per wall-clock second.
func measure(seconds: Double, _ body: () -> Bool) -> (cpu: Double, wall: Double) {
    let clock = ContinuousClock()
    let limit = Duration.milliseconds(Int64(seconds * 1000))
    var calls = 0
    var failures = 0
    let cpuStart = userCPUSeconds()
    let start = clock.now
    var elapsed = Duration.zero
    while elapsed < limit {
        for _ in 0..<64 where !body() { failures += 1 }
        calls += 64
        elapsed = clock.now - start
    }
    let cpu = userCPUSeconds() - cpuStart
    if failures > 0 {
        FileHandle.standardError.write(Data("warning: \(failures) verifications failed\n".utf8))
    }
    let (s, atto) = elapsed.components
    return (Double(calls) / max(cpu, 1e-3), Double(calls) / (Double(s) + Double(atto) / 1e18))
}

func benchVerify(seconds: Double) throws {
    let privateKey = try P256.Signing.PrivateKey()
    let publicKey = try privateKey.publicKey
    let keyID = SHA256.hex(try publicKey.pemRepresentation)
    // A single-item report of about 200 bytes, as vendors send.
    let body = Array(#"[{"token":"pypi-AgEIcHlwaS5vcmcCJGQ4ZjY0YzFhLTJkYjQtNGI1Ny1hZDI2LWQ1ZjY3YjIyMjM0MAACKlszLCJ0ZXN0Il0AAAYgQ","type":"pypi_api_token","url":"https://github.com/example/repo/blob/main/.env","source":"commit"}]"#.utf8)
    let signature = try privateKey.signature(for: body)
    let document = PublicKeyDocument(keys: [.init(keyIdentifier: keyID, publicKey: publicKey, isCurrent: true)])
    let pair = HeaderPair(keyIdentifier: "Github-Public-Key-Identifier", signature: "Github-Public-Key-Signature")
    let vendor = SignedReportVendor(id: "github", kind: "github", headers: pair,
                                    keyCache: PublicKeyCache(vendorID: "github", source: FixedKeySource(document: document)))
    let headers: HTTPHeaders = [
        "Host": "tokenscan.example",
        "User-Agent": "GitHub-Hookshot/1",
        "Content-Type": "application/json",
        "Content-Length": String(body.count),
        "Github-Public-Key-Identifier": keyID,
        "Github-Public-Key-Signature": signature.base64Representation,
    ]
    guard vendor.verify(body: body, headers: headers).isVerified, publicKey.isValidSignature(signature, for: body) else {
        FileHandle.standardError.write(Data("error: the benchmark signature does not verify\n".utf8))
        exit(1)
    }
    _ = measure(seconds: min(0.5, seconds / 4)) { vendor.verify(body: body, headers: headers).isVerified }
    let path = measure(seconds: seconds) { vendor.verify(body: body, headers: headers).isVerified }
    let raw = measure(seconds: seconds) { publicKey.isValidSignature(signature, for: body) }
    print("body_bytes=\(body.count)")
    print("verify_path_per_sec=\(Int(path.cpu))")
    print("verify_raw_per_sec=\(Int(raw.cpu))")
    print("verify_path_wall_per_sec=\(Int(path.wall))")
    print("verify_raw_wall_per_sec=\(Int(raw.wall))")
}

var arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.first == "verify" else {
    FileHandle.standardError.write(Data("usage: tokenscan-bench verify [--seconds S]\n".utf8))
    exit(2)
}
var seconds = 3.0
if let index = arguments.firstIndex(of: "--seconds"), index + 1 < arguments.count, let value = Double(arguments[index + 1]), value > 0 {
    seconds = value
}
do {
    try benchVerify(seconds: seconds)
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
