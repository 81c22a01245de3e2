/// A mail that was not delivered: by the formatter (a message no transport can carry), the maildir
/// (a file system error, with its errno text) or SMTP (libcurl's message and the server's reply code).
///
/// The description never contains the body, and never a password. Every `MailError` a `MailSink`
/// throws means "not delivered"; `isPermanent` says whether sending the same message again can help.
public struct MailError: Error, Sendable, CustomStringConvertible, Equatable {
    enum Code: Sendable, Equatable {
        /// The message itself is unusable (no recipient, a control character in an address).
        case invalidMessage
        /// A file system call failed with this errno.
        case fileSystem(errno: Int32)
        /// libcurl failed with this `CURLcode`; `responseCode` is the last SMTP reply code (0 if none).
        case smtp(curlCode: Int, responseCode: Int)
        /// The sink could not be set up (a bad URL scheme, libcurl initialization).
        case setup
    }

    let code: Code
    /// What went wrong, in the words of the layer that noticed it.
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// Retrying cannot help: the message is malformed or the sink is misconfigured.
    public var isPermanent: Bool {
        switch code {
        case .invalidMessage, .setup: true
        case .fileSystem, .smtp: false
        }
    }

    /// The SMTP server's last reply code (e.g. 451, 550), when the failure came from SMTP and a reply arrived.
    public var smtpResponseCode: Int? {
        if case .smtp(_, let response) = code, response != 0 { return response }
        return nil
    }

    /// libcurl's `CURLcode`, when the failure came from libcurl.
    public var curlCode: Int? {
        if case .smtp(let curl, _) = code { return curl }
        return nil
    }

    /// The errno of a failed file system call.
    public var errno: Int32? {
        if case .fileSystem(let value) = code { return value }
        return nil
    }

    public var description: String {
        switch code {
        case .invalidMessage: "invalid mail: \(message)"
        case .fileSystem(let value): "maildir: \(message) (errno \(value))"
        case .smtp(let curl, let response) where response != 0: "smtp: \(message) (curl error \(curl), SMTP reply \(response))"
        case .smtp(let curl, _): "smtp: \(message) (curl error \(curl))"
        case .setup: "mail setup: \(message)"
        }
    }
}
