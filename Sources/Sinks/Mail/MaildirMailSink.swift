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
/// Each file is written in `tmp/`, unnamed (`O_TMPFILE`) where the file system allows it, else under a
/// unique name, and linked into `new/`. What a returned `send`
/// survives is the `durability`: with `.powerLoss` (the default) the file and the `new/` directory are
/// `fsync`ed first, so the mail also survives an OS crash or power loss; with `.process` nothing is
/// `fsync`ed and the mail survives the death of the process (it is in the page cache), like a SQLite
/// commit with `synchronous=NORMAL`. Thread-safe, and safe for several processes sharing the folder.
/// Errors carry the failing call and its errno text, never the body.
public final class MaildirMailSink: MailSink {
    /// What a mail survives once `send` returned.
    public enum Durability: String, Sendable, CaseIterable {
        /// The death of the process (crash, `kill -9`): the file is written and linked into `new/`, not
        /// `fsync`ed. An OS crash or power loss may lose it, or leave it empty, after the outbox marked it sent.
        case process
        /// Also an OS crash or power loss: the file and the `new/` directory are `fsync`ed before `send`
        /// returns (two `fsync`s per mail).
        case powerLoss = "power_loss"
    }

    /// The maildir's root folder.
    public let path: String
    /// What a delivered mail survives.
    public let durability: Durability
    /// Makes temporary names unique within this process (with the pid across processes).
    private let sequence = Atomic<UInt64>(0)
    /// `tmp/` takes unnamed files (`O_TMPFILE`) and `/proc/self/fd` can link them: probed at start-up.
    private let unnamedFiles: Bool
    /// The delivered names found in `cur/` at its last reading, reused while `cur/` is unchanged.
    private let curNames = Mutex<CurSnapshot?>(nil)

    /// Opens the maildir at `path`, creating it and its `tmp/`, `new/` and `cur/` folders (mode 0700) if needed.
    /// `durability` defaults to `.powerLoss`, the safe choice; pass `.process` to match a store that
    /// only promises to survive the process (`database_durability: process`).
    public convenience init(path: String, durability: Durability = .powerLoss) throws(MailError) {
        try self.init(path: path, durability: durability, unnamedFiles: nil)
    }

    /// `unnamedFiles`: nil to probe `tmp/`, false to use named temporary files only (tests of that path).
    init(path: String, durability: Durability, unnamedFiles: Bool?) throws(MailError) {
        self.path = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
        self.durability = durability
        try Self.makeDirectory(self.path, intermediates: true)
        for sub in ["tmp", "new", "cur"] { try Self.makeDirectory("\(self.path)/\(sub)", intermediates: false) }
        self.unnamedFiles = unnamedFiles ?? Self.probeUnnamedFiles(in: "\(self.path)/tmp")
    }

    /// Whether mail is written as unnamed files (`O_TMPFILE`) before being linked into `new/`.
    var usesUnnamedFiles: Bool { unnamedFiles }

    /// The file name a message with this id is delivered under in `new/`.
    public static func fileName(messageID: String) -> String {
        String(SHA256.hex(messageID).prefix(32)) + ".tokenscan"
    }

    public func send(_ message: MailMessage) throws(MailError) {
        let name = Self.fileName(messageID: message.messageID)
        if try isDelivered(name) { return }
        let bytes = try RFC5322Message(message).bytes
        let final = "\(path)/new/\(name)"
        let linked = unnamedFiles ? try linkUnnamed(bytes, to: final) : try linkNamed(bytes, name: name, to: final)
        // Not linked: a concurrent send of the same message delivered it first.
        if linked && durability == .powerLoss { try syncDirectory("\(path)/new") }
    }

    /// Writes `bytes` to an unnamed file in `tmp/` and links it to `final`; false when `final` exists.
    ///
    /// No name in `tmp/` means no `unlink` afterwards, no lock on `tmp/` shared by concurrent senders, and
    /// nothing left behind by a crash: an unnamed file that was never linked vanishes with its descriptor.
    private func linkUnnamed(_ bytes: [UInt8], to final: String) throws(MailError) -> Bool {
        let what = "\(path)/tmp (unnamed)"
        let fd = open("\(path)/tmp", Self.unnamedFileFlags, 0o600)
        guard fd >= 0 else { throw Self.failure("open \(what)", Glibc.errno) }
        var closed = false
        defer { if !closed { close(fd) } }
        try Self.writeAll(bytes, to: fd, what: what)
        if durability == .powerLoss && fsync(fd) != 0 { throw Self.failure("fsync \(what)", Glibc.errno) }
        if linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, final, AT_SYMLINK_FOLLOW) != 0 {
            let code = Glibc.errno
            if code == EEXIST { return false }
            throw Self.failure("link \(what) -> \(final)", code)
        }
        closed = true
        if close(fd) != 0 {
            // A file system that reports a write error only now: take the file back, the outbox retries.
            let code = Glibc.errno
            unlink(final)
            throw Self.failure("close \(final)", code)
        }
        return true
    }

    /// Writes `bytes` to a uniquely named file in `tmp/`, links it to `final` and removes the temporary
    /// name; false when `final` exists.
    private func linkNamed(_ bytes: [UInt8], name: String, to final: String) throws(MailError) -> Bool {
        let unique = sequence.add(1, ordering: .relaxed).newValue
        let temporary = "\(path)/tmp/\(name).\(getpid()).\(unique).\(Hex.encode(SecureRandom.bytes(4)))"
        try write(bytes, to: temporary, sync: durability == .powerLoss)
        defer { unlink(temporary) }
        if link(temporary, final) != 0 {
            let code = Glibc.errno
            if code == EEXIST { return false }
            throw Self.failure("link \(temporary) -> \(final)", code)
        }
        return true
    }

    /// Linux's `O_TMPFILE` (`__O_TMPFILE | O_DIRECTORY`), which Swift's Glibc module does not import;
    /// the same value on x86-64 and arm64. Zero elsewhere: named temporary files only.
    private static let unnamedFileFlags: Int32 = {
        #if os(Linux) && (arch(x86_64) || arch(arm64))
        return 0o20_200_000 | O_WRONLY | O_CLOEXEC
        #else
        return 0
        #endif
    }()

    /// True when `directory` takes an unnamed file and `/proc/self/fd` links it (a kernel and file system
    /// with `O_TMPFILE`, `/proc` mounted): one file is made, linked and removed to find out.
    private static func probeUnnamedFiles(in directory: String) -> Bool {
        guard unnamedFileFlags != 0 else { return false }
        let fd = open(directory, unnamedFileFlags, 0o600)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let probe = "\(directory)/.probe.\(getpid()).\(Hex.encode(SecureRandom.bytes(8)))"
        guard linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, probe, AT_SYMLINK_FOLLOW) == 0 else { return false }
        unlink(probe)
        return true
    }

    /// True when a file for this name is in `new/`, or in `cur/` under any mail client's flags suffix.
    private func isDelivered(_ name: String) throws(MailError) -> Bool {
        var info = stat()
        if stat("\(path)/new/\(name)", &info) == 0 { return true }
        let code = Glibc.errno
        guard code == ENOENT else { throw Self.failure("stat \(path)/new/\(name)", code) }
        return try curHolds(name)
    }

    /// True when `cur/` holds a file whose name starts with `name`.
    ///
    /// Reading `cur/` costs a pass over every mail a client ever moved there, so its names are kept and
    /// reused while `stat` of the folder answers the same device, inode, mtime and ctime: any rename into
    /// or out of `cur/` changes its mtime. One case would not: a change within the same timestamp tick
    /// as the reading. So a reading is kept only when the folder's mtime was already a second old when
    /// the reading started; a folder changed more recently is read again on every send.
    private func curHolds(_ name: String) throws(MailError) -> Bool {
        let cur = "\(path)/cur"
        let readingStarted = Self.realtimeNow()
        var info = stat()
        guard stat(cur, &info) == 0 else { throw Self.failure("stat \(cur)", Glibc.errno) }
        let version = CurVersion(info)
        if let names = curNames.withLock({ $0?.version == version ? $0?.names : nil }) {
            return names.contains(name)
        }
        let names = try Self.deliveredNames(in: cur, length: name.utf8.count)
        if version.isSettled(before: readingStarted) {
            curNames.withLock { $0 = CurSnapshot(version: version, names: names) }
        }
        return names.contains(name)
    }

    /// The first `length` bytes of every entry of `directory` at least that long: the delivered names,
    /// whatever flags suffix a mail client added.
    private static func deliveredNames(in directory: String, length: Int) throws(MailError) -> Set<String> {
        guard let handle = opendir(directory) else { throw failure("opendir \(directory)", Glibc.errno) }
        defer { closedir(handle) }
        var names: Set<String> = []
        while let entry = readdir(handle) {
            let prefix = withUnsafeBytes(of: entry.pointee.d_name) { raw -> String? in
                let bytes = raw.prefix(while: { $0 != 0 })
                guard bytes.count >= length else { return nil }
                return String(decoding: bytes.prefix(length), as: UTF8.self)
            }
            if let prefix { names.insert(prefix) }
        }
        return names
    }

    private static func realtimeNow() -> timespec {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return now
    }

    /// Writes `bytes` to a new file (`O_EXCL`, mode 0600), `fsync`ing it when `sync`; removes it on failure.
    private func write(_ bytes: [UInt8], to file: String, sync: Bool) throws(MailError) {
        let fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.failure("open \(file)", Glibc.errno) }
        var failure: MailError?
        do {
            try Self.writeAll(bytes, to: fd, what: file)
        } catch {
            failure = error
        }
        if sync && failure == nil && fsync(fd) != 0 { failure = Self.failure("fsync \(file)", Glibc.errno) }
        if close(fd) != 0 && failure == nil { failure = Self.failure("close \(file)", Glibc.errno) }
        if let failure {
            unlink(file)
            throw failure
        }
    }

    private static func writeAll(_ bytes: [UInt8], to fd: Int32, what: String) throws(MailError) {
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if result >= 0 {
                written += result
            } else if Glibc.errno != EINTR {
                throw failure("write \(what)", Glibc.errno)
            }
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

/// What identifies one state of the `cur/` folder: a rename into or out of it changes its mtime and ctime.
private struct CurVersion: Equatable {
    var device: UInt64
    var inode: UInt64
    var modifiedSeconds: Int
    var modifiedNanoseconds: Int
    var changedSeconds: Int
    var changedNanoseconds: Int

    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        modifiedSeconds = Int(info.st_mtim.tv_sec)
        modifiedNanoseconds = Int(info.st_mtim.tv_nsec)
        changedSeconds = Int(info.st_ctim.tv_sec)
        changedNanoseconds = Int(info.st_ctim.tv_nsec)
    }

    /// True when the folder's entries last changed more than a second before `moment`: any later change
    /// of its entries gets a later mtime, even with a coarse file system clock. (A `touch` setting the
    /// mtime back changes the ctime, which the equality check sees.)
    func isSettled(before moment: timespec) -> Bool {
        modifiedSeconds < Int(moment.tv_sec) - 1
    }
}

/// The names delivered in `cur/` as read at `version`.
private struct CurSnapshot {
    var version: CurVersion
    var names: Set<String>
}
