/// A failed HTTP exchange: libcurl's own message (from `CURLOPT_ERRORBUFFER`) and its `CURLcode`,
/// or a limit of ours (response too large, a header that cannot be sent).
///
/// An HTTP error status (404, 500, …) is not an `HTTPClientError`: it comes back as a response.
/// The description never contains request headers, so an API token cannot leak through it.
public struct HTTPClientError: Error, Sendable, CustomStringConvertible, Equatable {
    enum Code: Sendable, Equatable {
        case curl(Int32)
        case responseTooLarge(limit: Int)
        case invalidRequest
        case setup
    }

    let code: Code
    /// What went wrong, in libcurl's words where libcurl said it.
    public let message: String

    init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    /// The `CURLcode` of a libcurl failure; nil for limits of ours.
    public var curlCode: Int? {
        if case .curl(let value) = code { return Int(value) }
        return nil
    }

    /// The transfer hit the connect or total timeout (`CURLE_OPERATION_TIMEDOUT`).
    public var isTimeout: Bool { code == .curl(28) }

    /// The response body was over the client's `maxResponseBytes`.
    public var isResponseTooLarge: Bool {
        if case .responseTooLarge = code { return true }
        return false
    }

    public var description: String {
        switch code {
        case .curl(let value): "\(message) (curl error \(value))"
        case .responseTooLarge(let limit): "response body over the limit of \(limit) bytes"
        case .invalidRequest, .setup: message
        }
    }
}
