import Foundation
import SecretsCore
import Synchronization

/// Delivers each mail as one file in a maildir (`tmp/`, `new/`, `cur/`), which any mail client opens.
///
/// Delivery is idempotent per `messageID`: the file name is derived from the id alone
/// (`<first 32 hex digits of SHA-256(messageID)>.tokenscan`), a mail whose file already sits in `new/`
/// or, renamed by a mail client with any flags suffix, in `cur/` is not written again, and the file
/// enters `new/` by `link(2)`, which never replaces an existing file (`EEXIST` means another sender got
/// there first: delivered). So a crash between writing a mail and marking it sent, a retry, or eight
/// threads sending the same mail at once all leave exactly one file.
///
/// Each file is written under a unique name in `tmp/`, `fsync`ed, linked into `new/`, and the `new/`
/// directory is `fsync`ed before `send` returns. Thread-safe, and safe for several processes sharing
/// the folder. Errors carry the failing call and its errno text, never the body.
public final class MaildirMailSink: MailSink {
    /// The maildir's root folder.
    public let path: String
    /// Makes temporary names unique within this process (with the pid across processes).
    private let sequence = Atomic<UInt64>(0)

    /// Opens the maildir at `path`, creating it and its `tmp/`, `new/` and `cur/` folders (mode 0700) if needed.
    public init(path: String) throws(MailError) {
        self.path = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
        try Self.makeDirectory(self.path, intermediates: true)
        for sub in ["tmp", "new", "cur"] { try Self.makeDirectory("\(self.path)/\(sub)", intermediates: false) }
    }

    /// The file name a message with this id is delivered under in `new/`.
    public static func fileName(messageID: String) -> String {
        String(SHA256.hex(messageID).prefix(32)) + ".tokenscan"
    }

    public func send(_ message: MailMessage) throws(MailError) {
        let name = Self.fileName(messageID: message.messageID)
        if try isDelivered(name) { return }
        let bytes = try RFC5322Message(message).bytes

        let unique = sequence.add(1, ordering: .relaxed).newValue
        let temporary = "\(path)/tmp/\(name).\(getpid()).\(unique).\(Hex.encode(SecureRandom.bytes(4)))"
        let final = "\(path)/new/\(name)"
        try writeSynced(bytes, to: temporary)
        defer { unlink(temporary) }
        if link(temporary, final) != 0 {
            let code = Glibc.errno
            if code == EEXIST { return } // Delivered by a concurrent send of the same message.
            throw Self.failure("link \(temporary) -> \(final)", code)
        }
        try syncDirectory("\(path)/new")
    }

    /// True when a file for this name is in `new/`, or in `cur/` under any mail client's flags suffix.
    private func isDelivered(_ name: String) throws(MailError) -> Bool {
        var info = stat()
        if stat("\(path)/new/\(name)", &info) == 0 { return true }
        let code = Glibc.errno
        guard code == ENOENT else { throw Self.failure("stat \(path)/new/\(name)", code) }

        guard let directory = opendir("\(path)/cur") else { throw Self.failure("opendir \(path)/cur", Glibc.errno) }
        defer { closedir(directory) }
        let prefix = Array(name.utf8)
        while let entry = readdir(directory) {
            let matches = withUnsafeBytes(of: entry.pointee.d_name) { raw -> Bool in
                guard raw.count > prefix.count else { return false }
                return raw.prefix(prefix.count).elementsEqual(prefix)
            }
            if matches { return true }
        }
        return false
    }

    private func writeSynced(_ bytes: [UInt8], to file: String) throws(MailError) {
        let fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.failure("open \(file)", Glibc.errno) }
        var failure: MailError?
        var written = 0
        while written < bytes.count && failure == nil {
            let result = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if result >= 0 {
                written += result
            } else if Glibc.errno != EINTR {
                failure = Self.failure("write \(file)", Glibc.errno)
            }
        }
        if failure == nil && fsync(fd) != 0 { failure = Self.failure("fsync \(file)", Glibc.errno) }
        if close(fd) != 0 && failure == nil { failure = Self.failure("close \(file)", Glibc.errno) }
        if let failure {
            unlink(file)
            throw failure
        }
    }

    /// Makes the new directory entry durable: without it a power loss could forget a mail marked sent.
    private func syncDirectory(_ directory: String) throws(MailError) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.failure("open \(directory)", Glibc.errno) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw Self.failure("fsync \(directory)", Glibc.errno) }
    }

    private static func makeDirectory(_ directory: String, intermediates: Bool) throws(MailError) {
        if mkdir(directory, 0o700) == 0 { return }
        var code = Glibc.errno
        if code == ENOENT && intermediates, let slash = directory.lastIndex(of: "/"), slash != directory.startIndex {
            try makeDirectory(String(directory[..<slash]), intermediates: true)
            if mkdir(directory, 0o700) == 0 { return }
            code = Glibc.errno
        }
        guard code == EEXIST else { throw failure("mkdir \(directory)", code) }
        var info = stat()
        guard stat(directory, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw failure("mkdir \(directory): exists and is not a directory", ENOTDIR)
        }
    }

    private static func failure(_ what: String, _ code: Int32) -> MailError {
        MailError(.fileSystem(errno: code), "\(what): \(String(cString: strerror(code)))")
    }
}
