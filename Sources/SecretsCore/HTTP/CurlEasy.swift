package import CCurl

/// `curl_global_init`, run exactly once per process before the first easy handle.
///
/// A `static let` is initialized lazily and thread-safely by the Swift runtime (`swift_once`), which
/// is what libcurl asks for: global init must not race with itself or with handle creation.
private enum CurlGlobal {
    static let initialized: UInt32 = curl_global_init(Int(CURL_GLOBAL_DEFAULT)).rawValue
}

/// The one owner of a libcurl easy handle (`CURL *`), freed in `deinit`, together with the memory
/// libcurl borrows from it for the transfer: the error buffer, header lists, the body being uploaded
/// and the response being collected.
///
/// Not `Sendable`: an easy handle must be used by one thread at a time. Make one per transfer (or
/// keep one per thread); `HTTPClient` does the former. `package` so that other targets of this
/// package (the SMTP mail sink) can drive a handle with their own options.
package final class CurlEasy {
    /// Everything the C callbacks read or write, reached through `userdata`.
    final class Transfer {
        var body: [UInt8] = []
        var headers = HTTPHeaders()
        var limit: Int
        var overLimit = false
        var upload: [UInt8] = []
        var uploadOffset = 0

        init(limit: Int) { self.limit = limit }
    }

    private let handle: UnsafeMutableRawPointer
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private var lists: [UnsafeMutablePointer<curl_slist>] = []
    private let transfer: Transfer

    /// A fresh handle that collects at most `maxResponseBytes` of response body, with `NOSIGNAL` set
    /// (libcurl must not use signals in a threaded process) and the error buffer installed.
    package init(maxResponseBytes: Int) throws(HTTPClientError) {
        guard CurlGlobal.initialized == CURLE_OK.rawValue else {
            throw HTTPClientError(code: .setup, message: "curl_global_init failed (\(CurlGlobal.initialized))")
        }
        guard let handle = curl_easy_init() else {
            throw HTTPClientError(code: .setup, message: "curl_easy_init failed")
        }
        self.handle = handle
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        transfer = Transfer(limit: max(0, maxResponseBytes))

        let context = Unmanaged.passUnretained(transfer).toOpaque()
        try check(CTokenscan_curl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer), "CURLOPT_ERRORBUFFER")
        try set(CURLOPT_NOSIGNAL, 1)
        try check(CTokenscan_curl_setopt_callback(handle, CURLOPT_WRITEFUNCTION, curlWrite), "CURLOPT_WRITEFUNCTION")
        try check(CTokenscan_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context), "CURLOPT_WRITEDATA")
        try check(CTokenscan_curl_setopt_callback(handle, CURLOPT_HEADERFUNCTION, curlHeader), "CURLOPT_HEADERFUNCTION")
        try check(CTokenscan_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context), "CURLOPT_HEADERDATA")
        try check(CTokenscan_curl_setopt_callback(handle, CURLOPT_READFUNCTION, curlRead), "CURLOPT_READFUNCTION")
        try check(CTokenscan_curl_setopt_pointer(handle, CURLOPT_READDATA, context), "CURLOPT_READDATA")
        if maxResponseBytes > 0 {
            // Refuses early when the server announces a larger body; the write callback enforces it otherwise.
            try check(CTokenscan_curl_setopt_off(handle, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(maxResponseBytes)),
                      "CURLOPT_MAXFILESIZE_LARGE")
        }
    }

    deinit {
        curl_easy_cleanup(handle)
        for list in lists { curl_slist_free_all(list) }
        errorBuffer.deallocate()
    }

    /// Sets a `long` option.
    package func set(_ option: CURLoption, _ value: Int) throws(HTTPClientError) {
        try check(CTokenscan_curl_setopt_long(handle, option, value), "curl option \(option.rawValue)")
    }

    /// Sets a string option; libcurl copies the string.
    package func set(_ option: CURLoption, _ value: String) throws(HTTPClientError) {
        guard !value.utf8.contains(0) else {
            throw HTTPClientError(code: .invalidRequest, message: "curl option \(option.rawValue): value contains NUL")
        }
        let code = value.withCString { CTokenscan_curl_setopt_string(handle, option, $0) }
        try check(code, "curl option \(option.rawValue)")
    }

    /// Sets a list option (`CURLOPT_HTTPHEADER`, `CURLOPT_MAIL_RCPT`, …); the list lives as long as the handle.
    package func set(_ option: CURLoption, list lines: [String]) throws(HTTPClientError) {
        var list: UnsafeMutablePointer<curl_slist>?
        for line in lines {
            guard !line.utf8.contains(0) else {
                if let list { curl_slist_free_all(list) }
                throw HTTPClientError(code: .invalidRequest, message: "curl list option \(option.rawValue): value contains NUL")
            }
            guard let appended = curl_slist_append(list, line) else {
                if let list { curl_slist_free_all(list) }
                throw HTTPClientError(code: .setup, message: "curl_slist_append failed")
            }
            list = appended
        }
        if let list { lists.append(list) }
        try check(CTokenscan_curl_setopt_slist(handle, option, list), "curl list option \(option.rawValue)")
    }

    /// Makes `body` the data libcurl reads for an upload (`CURLOPT_UPLOAD`, SMTP) through the read callback.
    package func setUploadBody(_ body: [UInt8]) throws(HTTPClientError) {
        transfer.upload = body
        transfer.uploadOffset = 0
        try check(CTokenscan_curl_setopt_off(handle, CURLOPT_INFILESIZE_LARGE, curl_off_t(body.count)), "CURLOPT_INFILESIZE_LARGE")
    }

    /// Makes `body` the request body of a POST (copied by libcurl, binary-safe).
    package func setPostBody(_ body: [UInt8]) throws(HTTPClientError) {
        try check(CTokenscan_curl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)), "CURLOPT_POSTFIELDSIZE_LARGE")
        var copy = body
        if copy.isEmpty { copy = [0] } // libcurl needs a valid pointer even for zero bytes.
        let code = copy.withUnsafeMutableBytes { CTokenscan_curl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, $0.baseAddress) }
        try check(code, "CURLOPT_COPYPOSTFIELDS")
    }

    /// Runs the transfer. Errors carry libcurl's message and code; a body over the limit is reported as such.
    package func perform() throws(HTTPClientError) {
        errorBuffer[0] = 0
        transfer.body = []
        transfer.headers = HTTPHeaders()
        transfer.overLimit = false
        let code = curl_easy_perform(handle)
        if transfer.overLimit || code == CURLE_FILESIZE_EXCEEDED {
            throw HTTPClientError(code: .responseTooLarge(limit: transfer.limit), message: "response too large")
        }
        try check(code, "transfer")
    }

    /// The last response's status code (0 when none arrived).
    package var responseCode: Int {
        var code = 0
        _ = CTokenscan_curl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
        return code
    }

    /// The last response's headers (of the final response when there were interim ones).
    package var responseHeaders: HTTPHeaders { transfer.headers }

    /// The last response's body.
    package var responseBody: [UInt8] { transfer.body }

    private func check(_ code: CURLcode, _ what: String) throws(HTTPClientError) {
        guard code != CURLE_OK else { return }
        var message = String(cString: errorBuffer)
        if message.isEmpty { message = String(cString: curl_easy_strerror(code)) }
        throw HTTPClientError(code: .curl(Int32(code.rawValue)), message: "\(what): \(message)")
    }
}

private func transferState(_ userdata: UnsafeMutableRawPointer?) -> CurlEasy.Transfer? {
    guard let userdata else { return nil }
    return Unmanaged<CurlEasy.Transfer>.fromOpaque(userdata).takeUnretainedValue()
}

/// Appends response bytes; answering fewer bytes than offered makes libcurl stop with a write error.
private let curlWrite: CTokenscan_curl_io_callback = { data, size, count, userdata in
    guard let state = transferState(userdata), let data else { return 0 }
    let length = size * count
    guard state.body.count + length <= state.limit else {
        state.overLimit = true
        return 0
    }
    data.withMemoryRebound(to: UInt8.self, capacity: length) {
        state.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: length))
    }
    return length
}

/// Collects response header lines; a status line starts a new response (after 100-continue or a redirect).
private let curlHeader: CTokenscan_curl_io_callback = { data, size, count, userdata in
    guard let state = transferState(userdata), let data else { return 0 }
    let length = size * count
    let line = data.withMemoryRebound(to: UInt8.self, capacity: length) {
        String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
    }
    if line.hasPrefix("HTTP/") {
        state.headers = HTTPHeaders()
    } else if let colon = line.firstIndex(of: ":") {
        let name = line[..<colon].trimmingASCIIWhitespace()
        let value = line[line.index(after: colon)...].trimmingASCIIWhitespace()
        if !name.isEmpty { state.headers.add(name, value) }
    }
    return length
}

/// Hands the upload body to libcurl in the pieces it asks for.
private let curlRead: CTokenscan_curl_io_callback = { buffer, size, count, userdata in
    guard let state = transferState(userdata), let buffer else { return 0 }
    let room = size * count
    let remaining = state.upload.count - state.uploadOffset
    let length = min(room, remaining)
    guard length > 0 else { return 0 }
    state.upload.withUnsafeBufferPointer { source in
        buffer.withMemoryRebound(to: UInt8.self, capacity: length) { target in
            guard let base = source.baseAddress else { return }
            target.update(from: base + state.uploadOffset, count: length)
        }
    }
    state.uploadOffset += length
    return length
}

extension Substring {
    /// Drops leading and trailing spaces, tabs, CR and LF.
    func trimmingASCIIWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[start...end])
    }
}
