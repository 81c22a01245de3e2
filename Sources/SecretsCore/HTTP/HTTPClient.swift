internal import CCurl

/// Connect and total timeouts of one HTTP exchange.
public struct HTTPTimeouts: Sendable, Equatable {
    /// Time allowed to establish the connection (TCP + TLS). Default 2 s.
    public var connect: Duration
    /// Time allowed for the whole exchange, connection included. Default 5 s.
    public var total: Duration

    public init(connect: Duration = .seconds(2), total: Duration = .seconds(5)) {
        self.connect = connect
        self.total = total
    }
}

/// A response as it came back: any status, including 304 and error statuses.
public struct HTTPClientResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(status: Int, headers: HTTPHeaders, body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// A small blocking HTTP client on libcurl, for the few outbound calls tokenscan makes (vendor key
/// documents, webhooks).
///
/// Each call runs on the calling thread with its own easy handle, so the client is freely shared
/// between threads. Redirects are followed (at most 3) but never to another scheme than http/https,
/// and never from https down to http. Conditional requests are the caller's: send `If-None-Match`
/// and a 304 comes back as status 304.
public struct HTTPClient: Sendable {
    /// Largest response body accepted; a larger one fails with `HTTPClientError.isResponseTooLarge`.
    public var maxResponseBytes: Int
    public var userAgent: String

    public init(maxResponseBytes: Int = 4 << 20, userAgent: String = "tokenscan") {
        self.maxResponseBytes = maxResponseBytes
        self.userAgent = userAgent
    }

    public func get(_ url: String, headers: HTTPHeaders = HTTPHeaders(), timeouts: HTTPTimeouts = HTTPTimeouts()) throws(HTTPClientError) -> HTTPClientResponse {
        let easy = try prepare(url, headers: headers, timeouts: timeouts)
        try easy.set(CURLOPT_HTTPGET, 1)
        return try run(easy)
    }

    public func post(_ url: String, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8], timeouts: HTTPTimeouts = HTTPTimeouts()) throws(HTTPClientError) -> HTTPClientResponse {
        let easy = try prepare(url, headers: headers, timeouts: timeouts)
        try easy.set(CURLOPT_POST, 1)
        try easy.setPostBody(body)
        return try run(easy)
    }

    private func prepare(_ url: String, headers: HTTPHeaders, timeouts: HTTPTimeouts) throws(HTTPClientError) -> CurlEasy {
        let lower = url.lowercased()
        let https = lower.hasPrefix("https://")
        guard https || lower.hasPrefix("http://") else {
            throw HTTPClientError(code: .invalidRequest, message: "only http and https URLs are fetched")
        }
        var lines: [String] = []
        for (name, value) in headers {
            guard Self.isToken(name), !value.utf8.contains(where: { $0 == 13 || $0 == 10 || $0 == 0 }) else {
                throw HTTPClientError(code: .invalidRequest, message: "header \"\(name.prefix(64))\" cannot be sent")
            }
            // "Name;" is curl's spelling of a header with an empty value ("Name:" would remove it).
            lines.append(value.isEmpty ? "\(name);" : "\(name): \(value)")
        }
        let easy = try CurlEasy(maxResponseBytes: maxResponseBytes)
        try easy.set(CURLOPT_URL, url)
        try easy.set(CURLOPT_PROTOCOLS_STR, "http,https")
        try easy.set(CURLOPT_FOLLOWLOCATION, 1)
        try easy.set(CURLOPT_MAXREDIRS, 3)
        try easy.set(CURLOPT_REDIR_PROTOCOLS_STR, https ? "https" : "http,https")
        try easy.set(CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(timeouts.connect))
        try easy.set(CURLOPT_TIMEOUT_MS, Self.milliseconds(timeouts.total))
        try easy.set(CURLOPT_USERAGENT, userAgent)
        try easy.set(CURLOPT_ACCEPT_ENCODING, "")
        if !lines.isEmpty { try easy.set(CURLOPT_HTTPHEADER, list: lines) }
        return easy
    }

    private func run(_ easy: CurlEasy) throws(HTTPClientError) -> HTTPClientResponse {
        try easy.perform()
        return HTTPClientResponse(status: easy.responseCode, headers: easy.responseHeaders, body: easy.responseBody)
    }

    /// Whole milliseconds, at least 1 (0 means "no timeout" to libcurl).
    static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        let ms = seconds.multipliedReportingOverflow(by: 1000)
        guard !ms.overflow, ms.partialValue < Int64(Int32.max) else { return Int(Int32.max) }
        return max(1, Int(ms.partialValue + attoseconds / 1_000_000_000_000_000))
    }

    /// An RFC 9110 token: what a header name may be.
    static func isToken(_ name: String) -> Bool {
        guard !name.isEmpty else { return false }
        return name.utf8.allSatisfy { c in
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): true
            default: "!#$%&'*+-.^_`|~".utf8.contains(c)
            }
        }
    }
}
