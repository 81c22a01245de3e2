import Glibc

/// A deliberately small, blocking HTTP/1.1 client over one TCP connection, for tests that must send
/// exactly the bytes they mean: malformed requests, doubled headers, stalls, pipelined keep-alive.
final class RawHTTPClient {
    struct Failure: Error, CustomStringConvertible {
        let description: String
        /// The `errno` of a failed system call, 0 otherwise.
        let code: Int32
        init(_ description: String, code: Int32 = 0) {
            self.description = description
            self.code = code
        }
    }

    /// One parsed response.
    struct Response {
        var status: Int
        var headers: [(name: String, value: String)]
        var body: [UInt8]

        func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    private var fd: Int32
    private var buffer: [UInt8] = []

    /// Connects to `host:port` (numeric IPv4 or IPv6); every later read or write gives up after `timeout`.
    init(port: Int, host: String = "127.0.0.1", timeout: Duration = .seconds(5)) throws {
        var storage = sockaddr_storage()
        var length: socklen_t
        var v6 = in6_addr()
        let family: Int32
        if inet_pton(AF_INET6, host, &v6) == 1 {
            family = AF_INET6
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = UInt16(port).bigEndian
            address.sin6_addr = v6
            withUnsafeMutableBytes(of: &storage) { t in withUnsafeBytes(of: address) { t.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        } else {
            family = AF_INET
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(port).bigEndian
            address.sin_addr.s_addr = inet_addr(host)
            withUnsafeMutableBytes(of: &storage) { t in withUnsafeBytes(of: address) { t.copyMemory(from: $0) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        }
        fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure("socket: \(String(cString: strerror(errno)))", code: errno) }
        let connected = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
        }
        guard connected == 0 else {
            let code = errno
            Glibc.close(fd)
            fd = -1
            throw Failure("connect: \(String(cString: strerror(code)))", code: code)
        }
        setTimeout(timeout)
    }

    deinit { close() }

    func close() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    /// Half-closes: sends FIN, keeps reading.
    func shutdownWrite() {
        if fd >= 0 { _ = shutdown(fd, Int32(SHUT_WR)) }
    }

    /// Sets the receive and send timeouts.
    func setTimeout(_ timeout: Duration) {
        let (seconds, attoseconds) = timeout.components
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                throw Failure("send: \(String(cString: strerror(code)))", code: code)
            }
            offset += n
        }
    }

    /// Sends a request with `Content-Length` (when there is a body or the method is POST/PUT).
    func send(method: String = "GET", path: String = "/", headers: [(String, String)] = [],
              body: [UInt8] = []) throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" || method == "PUT" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        try send(Array(head.utf8) + body)
    }

    /// Sends a request and reads its response.
    func request(method: String = "GET", path: String = "/", headers: [(String, String)] = [],
                 body: [UInt8] = []) throws -> Response {
        try send(method: method, path: path, headers: headers, body: body)
        return try readResponse(method: method)
    }

    /// Reads one response: status line, headers, then a body framed by `Content-Length`, chunked
    /// encoding, or the close of the connection.
    func readResponse(method: String = "GET") throws -> Response {
        let head = try readHead()
        let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = lines[0].split(separator: " ", maxSplits: 2)
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw Failure("bad status line: \(lines[0])")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { throw Failure("bad header line: \(line)") }
            headers.append((String(line[..<colon]),
                            String(line[line.index(after: colon)...]).trimmingCharacters(in: " \t")))
        }
        var response = Response(status: status, headers: headers, body: [])
        if method == "HEAD" || status == 204 || status == 304 || (100..<200).contains(status) {
            return response
        }
        if let length = response.header("Content-Length"), let count = Int(length) {
            response.body = try readExactly(count)
        } else if response.header("Transfer-Encoding")?.lowercased() == "chunked" {
            response.body = try readChunked()
        } else {
            response.body = try readUntilClose()
        }
        return response
    }

    /// Everything until the server closes the connection.
    func readUntilClose() throws -> [UInt8] {
        while try fill() {}
        defer { buffer = [] }
        return buffer
    }

    /// Whether the server closed the connection (end of stream or reset) within the socket timeout,
    /// discarding whatever arrives before.
    func waitForClose() -> Bool {
        while true {
            do {
                if try !fill() { return true }
                buffer = []
            } catch let failure as Failure {
                return failure.code == ECONNRESET || failure.code == EPIPE
            } catch {
                return false
            }
        }
    }

    // MARK: - Reading

    private func readHead() throws -> String {
        let terminator: [UInt8] = [13, 10, 13, 10]
        while true {
            if let end = find(terminator) {
                let head = String(decoding: buffer[..<end], as: UTF8.self)
                buffer.removeFirst(end + 4)
                return head
            }
            guard try fill() else { throw Failure("connection closed before a response head (\(buffer.count) bytes)") }
        }
    }

    private func readExactly(_ count: Int) throws -> [UInt8] {
        while buffer.count < count {
            guard try fill() else { throw Failure("connection closed \(count - buffer.count) bytes before the end of the body") }
        }
        defer { buffer.removeFirst(count) }
        return Array(buffer[..<count])
    }

    private func readLine() throws -> String {
        while true {
            if let end = find([13, 10]) {
                let line = String(decoding: buffer[..<end], as: UTF8.self)
                buffer.removeFirst(end + 2)
                return line
            }
            guard try fill() else { throw Failure("connection closed inside a chunked body") }
        }
    }

    private func readChunked() throws -> [UInt8] {
        var body: [UInt8] = []
        while true {
            let sizeLine = try readLine()
            guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else { throw Failure("bad chunk size \(sizeLine)") }
            if size == 0 {
                while try !readLine().isEmpty {}
                return body
            }
            body += try readExactly(size)
            _ = try readLine()
        }
    }

    private func find(_ needle: [UInt8]) -> Int? {
        guard buffer.count >= needle.count else { return nil }
        for i in 0...(buffer.count - needle.count) where buffer[i] == needle[0] {
            if Array(buffer[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }

    /// Reads what is available into `buffer`; `false` at end of stream.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                buffer += chunk[..<n]
                return true
            }
            if n == 0 { return false }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { throw Failure("timed out waiting for the server", code: code) }
            throw Failure("recv: \(String(cString: strerror(code)))", code: code)
        }
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}
