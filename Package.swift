// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "tokenscan",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tokenscan", targets: ["tokenscan"]),
    ],
    targets: [
        // C system libraries, each with the smallest shim Swift needs (variadics, macros).
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl"),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl"),
        .systemLibrary(name: "CMicroHTTPD", pkgConfig: "libmicrohttpd"),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3"),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq"),

        // The vendor-independent heart.
        .target(name: "SecretsCore", dependencies: ["COpenSSL", "CCurl"]),
        // One folder per vendor, plus the catalog.
        .target(name: "Vendors", dependencies: ["SecretsCore"]),
        // Backends for the sink protocols.
        .target(name: "Sinks", dependencies: ["SecretsCore", "CSQLite", "CLibPQ", "CCurl"]),
        // HTTP, configuration, the fake vendor, assembly.
        .target(name: "Server", dependencies: ["SecretsCore", "Vendors", "Sinks", "CMicroHTTPD"]),
        .executableTarget(name: "tokenscan", dependencies: ["Server"]),
        // Signed traffic for the benchmarks in bench/; not shipped, not a test.
        .executableTarget(name: "tokenscan-loadgen", dependencies: ["SecretsCore", "Sinks"]),
        // Verification micro-benchmark for bench/verify.sh; not shipped, not a test.
        .executableTarget(name: "tokenscan-bench", dependencies: ["SecretsCore"]),

        .testTarget(name: "SecretsCoreTests", dependencies: ["SecretsCore"], resources: [.copy("Resources")]),
        .testTarget(name: "VendorsTests", dependencies: ["Vendors", "SecretsCore"], resources: [.copy("Resources")]),
        .testTarget(name: "SinksTests", dependencies: ["Sinks", "SecretsCore"], resources: [.copy("Support/smtp_server.py")]),
        .testTarget(name: "ServerTests", dependencies: ["Server", "SecretsCore", "Vendors", "Sinks"]),
        .testTarget(name: "EndToEndTests", dependencies: ["SecretsCore"], resources: [.copy("Resources")]),
    ],
    swiftLanguageModes: [.v6]
)
