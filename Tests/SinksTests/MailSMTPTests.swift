import Foundation
import SecretsCore
import Sinks
import Synchronization
import Testing

/// Against a real SMTP server: aiosmtpd in a child process (`Support/smtp_server.py`).
@Suite("SMTPMailSink")
struct MailSMTPTests {
    static func message(id: String = "smtp-1@tokenscan.test", body: String = "Hello,\n.\n..\n.x\nyour token leaked.\n",
                        to: [String] = ["owner@example.org"]) -> MailMessage {
        MailMessage(messageID: id, from: "Tokenscan <security@example.org>", to: to, subject: "Jeton révoqué",
                    body: body, date: Date(timeIntervalSince1970: 1_796_415_429), user: "alice")
    }

    static func configuration(_ server: SMTPTestServer, startTLS: SMTPConfiguration.StartTLS = .off) -> SMTPConfiguration {
        SMTPConfiguration(url: server.url, startTLS: startTLS, connectTimeout: .seconds(2), timeout: .seconds(10))
    }

    /// A port nothing listens on: bound, read back, closed.
    static func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { throw TestFailure("bind failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test func deliversTheExactMessageWithDotsIntact() throws {
        let server = try SMTPTestServer()
        let sink = try SMTPMailSink(configuration: Self.configuration(server))
        let message = Self.message(to: ["owner@example.org", "Second <second@example.org>"])
        try sink.send(message)

        let received = try server.received()
        try #require(received.count == 1)
        // Byte for byte what the formatter made: libcurl dot-stuffed ".", ".." and ".x" and the server undid it.
        #expect(received[0].data == (try RFC5322Message(message)).bytes)
        #expect(received[0].envelope.mail_from == "security@example.org")
        #expect(received[0].envelope.rcpt_tos == ["owner@example.org", "second@example.org"])
        #expect(received[0].envelope.tls == false)

        let mail = try ParsedMail.parse(file: received[0].path)
        #expect(mail.defects.isEmpty)
        #expect(mail.header("Subject") == "Jeton révoqué")
        #expect(mail.header("Message-ID") == "<smtp-1@tokenscan.test>")
        #expect(mail.body == message.body)
    }

    @Test func logsIn() throws {
        let server = try SMTPTestServer(["--auth", "mailer:s3cret"])
        var config = Self.configuration(server)
        config.username = "mailer"
        config.password = "s3cret"
        try SMTPMailSink(configuration: config).send(Self.message())
        let received = try server.received()
        try #require(received.count == 1)
        #expect(received[0].envelope.authenticated)
    }

    @Test func aWrongPasswordFailsWithTheServersCodeAndNoSecret() throws {
        let server = try SMTPTestServer(["--auth", "mailer:s3cret"])
        var config = Self.configuration(server)
        config.username = "mailer"
        config.password = "wrong-password-xyz"
        let error = try #require(throws: MailError.self) {
            try SMTPMailSink(configuration: config).send(Self.message(body: "BODY-MARKER\n"))
        }
        #expect(error.curlCode == 67) // CURLE_LOGIN_DENIED; libcurl keeps no reply code for it
        #expect(error.description.contains("Login denied"))
        #expect(!error.description.contains("wrong-password-xyz"))
        #expect(!error.description.contains("BODY-MARKER"))
        #expect(try server.received().isEmpty)
    }

    @Test(arguments: [true, false])
    func startTLSWithTheCAFileOrInsecure(useCAFile: Bool) throws {
        let certificates = try TemporaryDirectory("cert")
        let certificate = try SelfSignedCertificate(in: certificates)
        let server = try SMTPTestServer(["--tls-cert", certificate.certificate, "--tls-key", certificate.key])
        var config = Self.configuration(server, startTLS: .required)
        if useCAFile { config.caFile = certificate.certificate } else { config.insecureSkipVerify = true }
        try SMTPMailSink(configuration: config).send(Self.message())
        let received = try server.received()
        try #require(received.count == 1)
        #expect(received[0].envelope.tls)
    }

    @Test func startTLSRefusesAnUntrustedCertificate() throws {
        let certificates = try TemporaryDirectory("cert")
        let certificate = try SelfSignedCertificate(in: certificates)
        let server = try SMTPTestServer(["--tls-cert", certificate.certificate, "--tls-key", certificate.key])
        let error = try #require(throws: MailError.self) {
            try SMTPMailSink(configuration: Self.configuration(server, startTLS: .required)).send(Self.message())
        }
        #expect(error.curlCode == 60) // CURLE_PEER_FAILED_VERIFICATION
        #expect(try server.received().isEmpty)
    }

    @Test func requiredStartTLSFailsAgainstAPlainServer() throws {
        let server = try SMTPTestServer()
        let error = try #require(throws: MailError.self) {
            try SMTPMailSink(configuration: Self.configuration(server, startTLS: .required)).send(Self.message())
        }
        #expect(error.curlCode == 64) // CURLE_USE_SSL_FAILED
        #expect(try server.received().isEmpty)
    }

    @Test func smtpsWithImplicitTLS() throws {
        let certificates = try TemporaryDirectory("cert")
        let certificate = try SelfSignedCertificate(in: certificates)
        let server = try SMTPTestServer(["--tls-cert", certificate.certificate, "--tls-key", certificate.key, "--implicit-tls"])
        var config = Self.configuration(server)
        config.url = "smtps://127.0.0.1:\(server.port)"
        config.caFile = certificate.certificate
        try SMTPMailSink(configuration: config).send(Self.message())
        try #require(try server.received().count == 1)
    }

    @Test func aServerThatIsDownFailsPromptly() throws {
        var config = SMTPConfiguration(url: "smtp://127.0.0.1:\(try Self.closedPort())", startTLS: .off,
                                       connectTimeout: .seconds(2), timeout: .seconds(5))
        config.username = nil
        let clock = ContinuousClock()
        let start = clock.now
        let error = try #require(throws: MailError.self) { try SMTPMailSink(configuration: config).send(Self.message()) }
        #expect(clock.now - start < .seconds(2))
        #expect(error.curlCode == 7) // CURLE_COULDNT_CONNECT
        #expect(!error.isPermanent)
    }

    @Test func aServerThatNeverAnswersTimesOut() throws {
        let server = try SMTPTestServer(["--silent"])
        let config = SMTPConfiguration(url: server.url, startTLS: .off, connectTimeout: .seconds(1), timeout: .seconds(1))
        let clock = ContinuousClock()
        let start = clock.now
        let error = try #require(throws: MailError.self) { try SMTPMailSink(configuration: config).send(Self.message()) }
        #expect(clock.now - start < .seconds(3))
        #expect(error.curlCode == 28) // CURLE_OPERATION_TIMEDOUT
    }

    @Test(arguments: [("rcpt", 550), ("data", 451)])
    func aRefusingServerFailsWithItsCodeThenTheSameMessageGoesThrough(mode: String, code: Int) throws {
        let refusing = try SMTPTestServer(["--refuse", mode])
        let port = refusing.port
        let sink = try SMTPMailSink(configuration: Self.configuration(refusing))
        let message = Self.message(body: "BODY-MARKER\n")
        let error = try #require(throws: MailError.self) { try sink.send(message) }
        #expect(error.smtpResponseCode == code)
        #expect(error.description.contains(String(code)))
        #expect(!error.description.contains("BODY-MARKER"))
        #expect(!error.isPermanent)
        refusing.stop()

        // The server comes back on the same port; the outbox retries the same message.
        let server = try SMTPTestServer(port: port)
        try sink.send(message)
        let received = try server.received()
        try #require(received.count == 1)
        #expect(received[0].data == (try RFC5322Message(message)).bytes)
    }

    @Test func concurrentSendsFromManyThreads() throws {
        let server = try SMTPTestServer()
        let sink = try SMTPMailSink(configuration: Self.configuration(server))
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 8) { n in
            do { try sink.send(Self.message(id: "c\(n)@tokenscan.test")) } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        #expect(failures.withLock { $0 } == [])
        let ids = Set(try server.received().map { try ParsedMail.parse(file: $0.path).header("Message-ID") })
        #expect(ids == Set((0..<8).map { "<c\($0)@tokenscan.test>" }))
    }

    @Test(arguments: ["http://127.0.0.1:25", "file:///etc/passwd", "127.0.0.1:25"])
    func onlySMTPURLsAreAccepted(url: String) {
        #expect(throws: MailError.self) { try SMTPMailSink(configuration: SMTPConfiguration(url: url)) }
    }
}
