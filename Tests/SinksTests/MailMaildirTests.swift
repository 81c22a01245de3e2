import Foundation
import SecretsCore
@testable import Sinks
import Synchronization
import Testing

@Suite("MaildirMailSink")
struct MailMaildirTests {
    static func message(id: String = "3f2a@tokenscan.test", subject: String = "Your token was revoked",
                        body: String = "Hello,\n\nyour token leaked.\n", to: [String] = ["owner@example.org"]) -> MailMessage {
        MailMessage(messageID: id, from: "Tokenscan <security@example.org>", to: to, subject: subject, body: body,
                    date: Date(timeIntervalSince1970: 1_796_415_429), user: "alice")
    }

    @Test func createsTheMaildirFolders() throws {
        let dir = try TemporaryDirectory("maildir")
        _ = try MaildirMailSink(path: "\(dir.path)/deep/er/mail")
        for sub in ["tmp", "new", "cur"] {
            var isDirectory: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: "\(dir.path)/deep/er/mail/\(sub)", isDirectory: &isDirectory))
            #expect(isDirectory.boolValue)
        }
    }

    @Test func refusesAFileWhereTheFolderShouldBe() throws {
        let dir = try TemporaryDirectory("maildir")
        #expect(FileManager.default.createFile(atPath: "\(dir.path)/mail", contents: Data()))
        let error = try #require(throws: MailError.self) { try MaildirMailSink(path: "\(dir.path)/mail") }
        #expect(error.errno != nil)
        #expect(error.description.contains("\(dir.path)/mail"))
    }

    @Test func writesAnRFC5322FileAMailReaderParses() throws {
        let dir = try TemporaryDirectory("maildir")
        let sink = try MaildirMailSink(path: dir.path)
        try sink.send(Self.message())

        let files = try dir.files(in: "new")
        #expect(files == [MaildirMailSink.fileName(messageID: "3f2a@tokenscan.test")])
        #expect(try dir.files(in: "tmp").isEmpty)
        let path = "\(dir.path)/new/\(files[0])"
        let raw = try #require(FileManager.default.contents(atPath: path))
        // CRLF everywhere, never a bare LF.
        for (index, byte) in raw.enumerated() where byte == 0x0A { #expect(index > 0 && raw[index - 1] == 0x0D) }

        let mail = try ParsedMail.parse(file: path)
        #expect(mail.defects.isEmpty)
        #expect(mail.header("Date") == "Fri, 04 Dec 2026 20:17:09 +0000")
        #expect(mail.header("From") == "Tokenscan <security@example.org>")
        #expect(mail.header("To") == "owner@example.org")
        #expect(mail.header("Subject") == "Your token was revoked")
        #expect(mail.header("Message-ID") == "<3f2a@tokenscan.test>")
        #expect(mail.header("MIME-Version") == "1.0")
        #expect(mail.contentType == "text/plain")
        #expect(mail.charset == "utf-8")
        #expect(mail.body == "Hello,\n\nyour token leaked.\n")
    }

    @Test func sameMessageIDTwiceIsOneFile() throws {
        let dir = try TemporaryDirectory("maildir")
        let sink = try MaildirMailSink(path: dir.path)
        try sink.send(Self.message())
        try sink.send(Self.message(body: "a retried copy\n"))
        #expect(try dir.files(in: "new").count == 1)
        #expect(try dir.files(in: "tmp").isEmpty)
    }

    @Test func aMessageAMailClientMovedToCurIsNotWrittenAgain() throws {
        let dir = try TemporaryDirectory("maildir")
        let sink = try MaildirMailSink(path: dir.path)
        try sink.send(Self.message())
        let name = MaildirMailSink.fileName(messageID: "3f2a@tokenscan.test")
        try FileManager.default.moveItem(atPath: "\(dir.path)/new/\(name)", toPath: "\(dir.path)/cur/\(name):2,S")
        try sink.send(Self.message())
        #expect(try dir.files(in: "new").isEmpty)
        #expect(try dir.files(in: "cur") == ["\(name):2,S"])
    }

    @Test func concurrentSendsOfOneIDLeaveOneFile() throws {
        let dir = try TemporaryDirectory("maildir")
        let sink = try MaildirMailSink(path: dir.path)
        let failures = Mutex<[String]>([])
        for round in 0..<20 {
            DispatchQueue.concurrentPerform(iterations: 8) { _ in
                do { try sink.send(Self.message(id: "race-\(round)@tokenscan.test")) } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 } == [])
        #expect(try dir.files(in: "new").count == 20)
        #expect(try dir.files(in: "tmp").isEmpty)
    }

    @Test func differentIDsAreDistinctFiles() throws {
        let dir = try TemporaryDirectory("maildir")
        let sink = try MaildirMailSink(path: dir.path)
        for n in 0..<5 { try sink.send(Self.message(id: "m\(n)@tokenscan.test")) }
        #expect(Set(try dir.files(in: "new")).count == 5)
    }

    @Test func nonASCIISubjectAndBodyAreEncodedAndReadBack() throws {
        let dir = try TemporaryDirectory("maildir")
        let sink = try MaildirMailSink(path: dir.path)
        let subject = "Jeton révoqué — トークンが失効しました 🔑 " + String(repeating: "überlang ", count: 8)
        let body = "Grüße,\nLine with trailing space \n" + String(repeating: "é", count: 600) + "\n"
        try sink.send(Self.message(subject: subject, body: body))
        let path = "\(dir.path)/new/\(try dir.files(in: "new")[0])"
        let raw = try #require(FileManager.default.contents(atPath: path))
        #expect(raw.allSatisfy { $0 < 0x80 }, "the whole file is 7-bit")
        let text = String(decoding: raw, as: UTF8.self)
        #expect(text.contains("Subject: =?UTF-8?B?"))
        #expect(text.contains("Content-Transfer-Encoding: quoted-printable\r\n"))
        #expect(text.components(separatedBy: "\r\n").allSatisfy { $0.utf8.count <= 78 })

        let mail = try ParsedMail.parse(file: path)
        #expect(mail.defects.isEmpty)
        #expect(mail.header("Subject") == String(subject.dropLast()))
        #expect(mail.body == body)
    }

    @Test(arguments: ["Hi\r\nBcc: victim@example.org", "Hi\nBcc: victim@example.org", "Hi\rBcc: victim@example.org",
                      "Hi\u{85}Bcc: victim@example.org"])
    func headerInjectionInTheSubjectIsNeutralized(subject: String) throws {
        let dir = try TemporaryDirectory("maildir")
        let sink = try MaildirMailSink(path: dir.path)
        try sink.send(Self.message(subject: subject))
        let path = "\(dir.path)/new/\(try dir.files(in: "new")[0])"
        let mail = try ParsedMail.parse(file: path)
        #expect(mail.header("Bcc") == nil)
        #expect(mail.headers["subject"]?.count == 1)
        #expect(mail.header("Subject")?.contains("Bcc: victim@example.org") == true)
    }

    @Test(arguments: ["owner@example.org\r\nBcc: victim@example.org", "owner@example.org\nX: y", "", "a b@example.org"])
    func aBadRecipientIsRefusedPermanently(recipient: String) throws {
        let dir = try TemporaryDirectory("maildir")
        let sink = try MaildirMailSink(path: dir.path)
        let error = try #require(throws: MailError.self) { try sink.send(Self.message(to: [recipient])) }
        #expect(error.isPermanent)
        #expect(try dir.files(in: "new").isEmpty)
    }

    @Test func aBadMessageIDIsRefused() throws {
        let dir = try TemporaryDirectory("maildir")
        let sink = try MaildirMailSink(path: dir.path)
        let error = try #require(throws: MailError.self) { try sink.send(Self.message(id: "a>\r\nBcc: x@y")) }
        #expect(error.isPermanent)
    }

    @Test func anUnwritableMaildirThrowsWithErrnoText() throws {
        guard getuid() != 0 else { return } // root writes anywhere
        let dir = try TemporaryDirectory("maildir")
        let sink = try MaildirMailSink(path: dir.path)
        #expect(chmod("\(dir.path)/tmp", 0o500) == 0)
        defer { chmod("\(dir.path)/tmp", 0o700) }
        let error = try #require(throws: MailError.self) { try sink.send(Self.message(body: "secret body text")) }
        #expect(error.errno == EACCES)
        #expect(error.description.contains("Permission denied"))
        #expect(!error.description.contains("secret body text"))
        #expect(!error.isPermanent)
    }
}

@Suite("MaildirMailSink durability and cur/ reading")
struct MailMaildirDurabilityTests {
    @Test func theDefaultDurabilitySurvivesPowerLoss() throws {
        let dir = try TemporaryDirectory("maildir")
        #expect(try MaildirMailSink(path: dir.path).durability == .powerLoss)
        #expect(try MaildirMailSink(path: dir.path, durability: .process).durability == .process)
    }

    /// Every durability, with unnamed temporary files (where this file system has them) and named ones.
    static let variants: [(MaildirMailSink.Durability, Bool)] = MaildirMailSink.Durability.allCases.flatMap { [($0, true), ($0, false)] }

    static func sink(_ dir: TemporaryDirectory, _ durability: MaildirMailSink.Durability, unnamed: Bool) throws -> MaildirMailSink {
        try MaildirMailSink(path: dir.path, durability: durability, unnamedFiles: unnamed ? nil : false)
    }

    @Test func unnamedTemporaryFilesAreUsedWhereTheFileSystemHasThem() throws {
        let dir = try TemporaryDirectory("maildir")
        #if os(Linux)
        // This machine's /tmp (ext4, /proc mounted) has them; the probe leaves nothing behind.
        #expect(try MaildirMailSink(path: dir.path).usesUnnamedFiles)
        #endif
        #expect(try dir.files(in: "tmp").isEmpty)
        #expect(try !Self.sink(dir, .process, unnamed: false).usesUnnamedFiles)
    }

    @Test(arguments: variants)
    func eachDurabilityDeliversOneFilePerMessageID(durability: MaildirMailSink.Durability, unnamed: Bool) throws {
        let dir = try TemporaryDirectory("maildir")
        let sink = try Self.sink(dir, durability, unnamed: unnamed)
        try sink.send(MailMaildirTests.message(id: "one@tokenscan.test"))
        let name = MaildirMailSink.fileName(messageID: "one@tokenscan.test")
        #expect(try dir.files(in: "new") == [name])
        let written = try #require(FileManager.default.contents(atPath: "\(dir.path)/new/\(name)"))
        #expect(String(decoding: written, as: UTF8.self).contains("Message-ID: <one@tokenscan.test>\r\n"))

        // A retry (the outbox did not record the first send) writes nothing, not even a different body.
        try sink.send(MailMaildirTests.message(id: "one@tokenscan.test", body: "a retried copy\n"))
        #expect(try dir.files(in: "new") == [name])
        #expect(FileManager.default.contents(atPath: "\(dir.path)/new/\(name)") == written)

        // A second sink on the same folder (another process after a crash) does not deliver it again.
        try Self.sink(dir, durability, unnamed: !unnamed).send(MailMaildirTests.message(id: "one@tokenscan.test"))
        #expect(try dir.files(in: "new") == [name])
        #expect(try dir.files(in: "tmp").isEmpty)
    }

    @Test(arguments: variants)
    func concurrentSendsLeaveOneFileEachDurability(durability: MaildirMailSink.Durability, unnamed: Bool) throws {
        let dir = try TemporaryDirectory("maildir")
        let sink = try Self.sink(dir, durability, unnamed: unnamed)
        let failures = Mutex<[String]>([])
        for round in 0..<10 {
            DispatchQueue.concurrentPerform(iterations: 8) { _ in
                do { try sink.send(MailMaildirTests.message(id: "race-\(round)@tokenscan.test")) } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 } == [])
        #expect(try dir.files(in: "new").count == 10)
        #expect(try dir.files(in: "tmp").isEmpty)
    }

    /// Sets `cur/`'s mtime an hour back, so the sink trusts (and keeps) what it reads there.
    private func settle(_ dir: TemporaryDirectory) {
        let past = timespec(tv_sec: time(nil) - 3600, tv_nsec: 0)
        var times = [past, past]
        _ = times.withUnsafeMutableBufferPointer { utimensat(AT_FDCWD, "\(dir.path)/cur", $0.baseAddress, 0) }
    }

    @Test func aMailMovedToCurAfterTheSinkReadItIsSeen() throws {
        let dir = try TemporaryDirectory("maildir")
        let sink = try MaildirMailSink(path: dir.path)
        for n in 0..<3 { try sink.send(MailMaildirTests.message(id: "m\(n)@tokenscan.test")) }
        let first = MaildirMailSink.fileName(messageID: "m0@tokenscan.test")
        try FileManager.default.moveItem(atPath: "\(dir.path)/new/\(first)", toPath: "\(dir.path)/cur/\(first):2,S")
        settle(dir)
        // Read (and kept): m0 is in cur/, so it is not written again.
        try sink.send(MailMaildirTests.message(id: "m0@tokenscan.test"))
        #expect(try dir.files(in: "new").count == 2)

        // A mail client moves m1 to cur/ (Dovecot's suffix); the kept reading must not hide it.
        let second = MaildirMailSink.fileName(messageID: "m1@tokenscan.test")
        try FileManager.default.moveItem(atPath: "\(dir.path)/new/\(second)", toPath: "\(dir.path)/cur/\(second),S=1234:2,S")
        try sink.send(MailMaildirTests.message(id: "m1@tokenscan.test"))
        #expect(try dir.files(in: "new") == [MaildirMailSink.fileName(messageID: "m2@tokenscan.test")])
        #expect(try dir.files(in: "cur").count == 2)
    }

    @Test func aChangeToCurThatKeepsItsMtimeIsSeenByItsCtime() throws {
        let dir = try TemporaryDirectory("maildir")
        let sink = try MaildirMailSink(path: dir.path)
        try sink.send(MailMaildirTests.message(id: "a@tokenscan.test"))
        try sink.send(MailMaildirTests.message(id: "b@tokenscan.test"))
        settle(dir)
        try sink.send(MailMaildirTests.message(id: "c@tokenscan.test")) // reads cur/ (empty) and keeps it
        var before = stat()
        #expect(stat("\(dir.path)/cur", &before) == 0)

        // A move into cur/ followed by restoring the old mtime: only the ctime tells.
        let name = MaildirMailSink.fileName(messageID: "a@tokenscan.test")
        try FileManager.default.moveItem(atPath: "\(dir.path)/new/\(name)", toPath: "\(dir.path)/cur/\(name):2,")
        var times = [before.st_atim, before.st_mtim]
        _ = times.withUnsafeMutableBufferPointer { utimensat(AT_FDCWD, "\(dir.path)/cur", $0.baseAddress, 0) }
        var after = stat()
        #expect(stat("\(dir.path)/cur", &after) == 0)
        #expect(after.st_mtim.tv_sec == before.st_mtim.tv_sec && after.st_mtim.tv_nsec == before.st_mtim.tv_nsec)

        try sink.send(MailMaildirTests.message(id: "a@tokenscan.test"))
        #expect(try !dir.files(in: "new").contains(name))
    }
}

