import Glibc

/// A numeric IPv4 or IPv6 listen address with its port, as the `sockaddr` bytes `bind(2)` takes.
struct SocketAddress: Sendable {
    private var storage = sockaddr_storage()
    let isIPv6: Bool

    /// Parses `127.0.0.1`, `::1`, `[::1]` or `localhost` (= 127.0.0.1); `nil` for anything else.
    init?(host: String, port: UInt16) {
        var name = host
        if name.hasPrefix("["), name.hasSuffix("]"), name.count >= 2 {
            name = String(name.dropFirst().dropLast())
        }
        if name == "localhost" { name = "127.0.0.1" }
        guard !name.utf8.contains(0) else { return nil }

        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, name, &v4) == 1 {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr = v4
            withUnsafeMutableBytes(of: &storage) { target in
                withUnsafeBytes(of: address) { target.copyMemory(from: $0) }
            }
            isIPv6 = false
        } else if inet_pton(AF_INET6, name, &v6) == 1 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            address.sin6_addr = v6
            withUnsafeMutableBytes(of: &storage) { target in
                withUnsafeBytes(of: address) { target.copyMemory(from: $0) }
            }
            isIPv6 = true
        } else {
            return nil
        }
    }

    /// Calls `body` with a `sockaddr` pointer valid for the duration of the call.
    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>) throws(HTTPServerError) -> R) throws(HTTPServerError) -> R {
        var copy = storage
        return try withUnsafeMutablePointer(to: &copy) { (pointer) throws(HTTPServerError) -> R in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (address) throws(HTTPServerError) -> R in
                try body(address)
            }
        }
    }
}
