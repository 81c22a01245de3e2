internal import CCurl
import SecretsCore

/// Where and how `SMTPMailSink` connects.
public struct SMTPConfiguration: Sendable, Equatable {
    /// How STARTTLS is used on an `smtp://` URL (libcurl's `CURLOPT_USE_SSL`). An `smtps://` URL is TLS
    /// from the first byte whatever this says.
    public enum StartTLS: String, Sendable, Equatable, CaseIterable {
        /// Plain text, never STARTTLS. For a relay on localhost or tests.
        case off
        /// STARTTLS when the server offers it, plain text otherwise (open to downgrade attacks).
        case opportunistic
        /// STARTTLS or fail. The default.
        case required
    }

    /// `smtp://host:port` or `smtps://host:port` (default ports 25 and 465). A path sets the EHLO
    /// name (`smtp://relay.example.org:587/tokenscan.example.org`); other schemes are refused.
    public var url: String
    /// Default `.required`.
    public var startTLS: StartTLS
    /// Login for SMTP AUTH (libcurl picks PLAIN, LOGIN or a stronger mechanism the server offers);
    /// nil sends no AUTH. With `.off`, or `.opportunistic` against a server without STARTTLS, the
    /// password crosses the network in plain text.
    public var username: String?
    public var password: String?
    /// Time allowed for the connection phase: TCP, TLS, and (libcurl counts these in) the greeting,
    /// EHLO, STARTTLS and AUTH. Default 10 s.
    public var connectTimeout: Duration
    /// Time allowed for the whole exchange. Default 60 s.
    public var timeout: Duration
    /// A PEM file of CA certificates to trust instead of the system's; nil: the system's.
    public var caFile: String?
    /// Skips certificate and host name verification. Only for tests against a self-signed server.
    public var insecureSkipVerify: Bool

    public init(url: String, startTLS: StartTLS = .required, username: String? = nil, password: String? = nil,
                connectTimeout: Duration = .seconds(10), timeout: Duration = .seconds(60),
                caFile: String? = nil, insecureSkipVerify: Bool = false) {
        self.url = url
        self.startTLS = startTLS
        self.username = username
        self.password = password
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.caFile = caFile
        self.insecureSkipVerify = insecureSkipVerify
    }
}

/// Sends each mail over SMTP (or SMTPS) with libcurl: `MAIL FROM` the message's sender, one
/// `RCPT TO` per recipient, the RFC 5322 message (`RFC5322Message`) as `DATA`.
///
/// - One libcurl easy handle per `send`, on the calling thread: freely shared between threads.
/// - libcurl dot-stuffs the upload (a line starting with "." goes out as "..") and ends `DATA` with
///   `CRLF.CRLF` itself; the tests send lines ".", ".." and ".x" and check they arrive unchanged.
/// - A thrown `MailError` means "not delivered": it carries libcurl's message and the server's last
///   reply code (`smtpResponseCode`, e.g. 451 or 550), never the body or the password. Every recipient
///   must be accepted, or nothing is sent. A refused login is `curlCode` 67 (`CURLE_LOGIN_DENIED`);
///   libcurl does not keep the server's 535 for it. SMTP itself is not idempotent: if the connection drops after
///   the server accepted `DATA` but before its reply arrived, the retry delivers the mail a second time
///   (the Message-ID lets the recipient's client spot it).
public struct SMTPMailSink: MailSink {
    public let configuration: SMTPConfiguration

    /// Checks the URL's scheme; everything else is checked when a mail is sent.
    public init(configuration: SMTPConfiguration) throws(MailError) {
        let lower = configuration.url.lowercased()
        guard lower.hasPrefix("smtp://") || lower.hasPrefix("smtps://") else {
            throw MailError(.setup, "SMTP URL must start with smtp:// or smtps://")
        }
        self.configuration = configuration
    }

    public func send(_ message: MailMessage) throws(MailError) {
        let rendered = try RFC5322Message(message)
        let config = configuration
        let easy: CurlEasy
        do {
            easy = try CurlEasy(maxResponseBytes: 64 * 1024)
        } catch {
            throw MailError(.setup, error.message)
        }
        do {
            try easy.set(CURLOPT_URL, config.url)
            try easy.set(CURLOPT_PROTOCOLS_STR, "smtp,smtps")
            try easy.set(CURLOPT_USE_SSL, Int(Self.useSSL(config.startTLS).rawValue))
            try easy.set(CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(config.connectTimeout))
            try easy.set(CURLOPT_TIMEOUT_MS, Self.milliseconds(config.timeout))
            if let username = config.username {
                try easy.set(CURLOPT_USERNAME, username)
                try easy.set(CURLOPT_PASSWORD, config.password ?? "")
            }
            if let caFile = config.caFile { try easy.set(CURLOPT_CAINFO, caFile) }
            if config.insecureSkipVerify {
                try easy.set(CURLOPT_SSL_VERIFYPEER, 0)
                try easy.set(CURLOPT_SSL_VERIFYHOST, 0)
            }
            try easy.set(CURLOPT_MAIL_FROM, "<\(rendered.envelopeFrom)>")
            try easy.set(CURLOPT_MAIL_RCPT, list: rendered.envelopeTo.map { "<\($0)>" })
            try easy.set(CURLOPT_UPLOAD, 1)
            try easy.setUploadBody(rendered.bytes)
        } catch {
            throw MailError(.setup, error.message)
        }
        do {
            try easy.perform()
        } catch {
            // Only a failure reply counts: after a refused login libcurl reports the last challenge (334).
            let reply = easy.responseCode >= 400 ? easy.responseCode : 0
            throw MailError(.smtp(curlCode: error.curlCode ?? -1, responseCode: reply), error.message)
        }
    }

    private static func useSSL(_ mode: SMTPConfiguration.StartTLS) -> curl_usessl {
        switch mode {
        case .off: CURLUSESSL_NONE
        case .opportunistic: CURLUSESSL_TRY
        case .required: CURLUSESSL_ALL
        }
    }

    /// A duration in whole milliseconds, at least 1 (0 would mean "no timeout" to libcurl).
    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        let millis = seconds.multipliedReportingOverflow(by: 1000)
        guard !millis.overflow else { return Int.max }
        return max(1, Int(millis.partialValue + attoseconds / 1_000_000_000_000_000))
    }
}
