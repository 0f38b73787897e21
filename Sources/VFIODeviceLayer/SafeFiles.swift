import Glibc
import VFIOCore

/// A directory opened under an anchor (the root vfioctl works in) without ever leaving it, the
/// one way vfioctl reaches every directory it writes in (configuration files, its state
/// directory, snapshots):
///
/// - the path is walked one component at a time from the anchor's descriptor with
///   `fstatat(AT_SYMLINK_NOFOLLOW)` and `openat(O_DIRECTORY|O_NOFOLLOW)`; a symbolic link on the
///   way is resolved by vfioctl itself: followed while it stays inside the anchor, refused when
///   it leads out (`..` above the anchor, or an absolute target under a root other than `/`);
/// - missing directories are created (mode 0755) only where nothing is: never through a link;
/// - files in it are opened with `O_NOFOLLOW` (a link at the file's name is refused, or replaced
///   by `rename`, never followed) and must be regular files.
public final class SafeDirectory {
    public let fd: Int32
    /// The directory as the user knows it (for messages).
    public let path: String
    /// The anchor's path ("" for "/"), and the directory's components under it after links.
    let anchor: String
    let resolved: [String]

    init(fd: Int32, path: String, anchor: String, resolved: [String]) {
        self.fd = fd
        self.path = path
        self.anchor = anchor
        self.resolved = resolved
    }

    deinit { close(fd) }

    /// The longest link chain followed (as the kernel's MAXSYMLINKS).
    static let linkLimit = 40

    /// `relative` ("etc/default", or an absolute path when `anchor` is "/") under `anchor`
    /// (absolute; "" or "/" for the whole file system), created when `create` and missing.
    public static func open(_ relative: String, under anchor: String, create: Bool) throws(VFIOError) -> SafeDirectory {
        guard let directory = try open(relative, under: anchor, create: create, missing: false) else {
            throw .failed("cannot open \(relative.printable)")  // not reached: missing is an error here
        }
        return directory
    }

    /// The same; with `missing`, nil when a component is not there (or is not a directory).
    public static func open(_ relative: String, under anchor: String, create: Bool, missing: Bool) throws(VFIOError) -> SafeDirectory? {
        let anchor = anchor == "/" ? "" : anchor
        let base = Glibc.open(anchor.isEmpty ? "/" : anchor, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard base >= 0 else {
            let code = errno
            throw .failed("cannot open \(anchor.isEmpty ? "/" : anchor): \(Errno.describe(code))", hint: code == EACCES ? "run as root" : nil)
        }
        defer { close(base) }
        let shown = anchor + (relative.hasPrefix("/") ? "" : "/") + relative
        return try walk(from: base, anchor: anchor, components: relative.split(separator: "/").map(String.init), create: create, shown: shown,
                        missing: missing)
    }

    /// `relative` under this directory, which is then the anchor: nothing may lead out of it.
    public func open(_ relative: String, create: Bool) throws(VFIOError) -> SafeDirectory {
        let shown = path + "/" + relative
        guard let directory = try Self.walk(from: fd, anchor: path, components: relative.split(separator: "/").map(String.init), create: create,
                                            shown: shown, missing: false, confined: true) else {
            throw .failed("cannot open \(shown.printable)")  // not reached: missing is an error here
        }
        return directory
    }

    /// The walk: `components` from the directory `base` (not closed here).
    static func walk(from base: Int32, anchor: String, components: [String], create: Bool, shown: String, missing: Bool,
                     confined: Bool? = nil) throws(VFIOError) -> SafeDirectory? {
        let confined = confined ?? !anchor.isEmpty
        var opened: [(fd: Int32, name: String)] = []
        var success = false
        defer { if !success { for entry in opened { close(entry.fd) } } }
        var pending = Array(components.reversed())
        var links = 0
        var attempts = 0
        func here() -> String { anchor + "/" + opened.map(\.name).joined(separator: "/") }
        func outside(_ name: String, _ target: String) -> VFIOError {
            .failed("cannot use \(shown): \((here() + "/" + name).printable) is a symbolic link to \(target.printable), which leads out of \(anchor.isEmpty ? "/" : anchor)",
                    hint: "vfioctl never follows a link out of the root it works in: make it a directory, or point it inside")
        }
        while let name = pending.popLast() {
            if name.isEmpty || name == "." { continue }
            if name == ".." {
                if let last = opened.popLast() {
                    close(last.fd)
                } else if confined {
                    throw .failed("cannot use \(shown.printable): '..' leads out of \(anchor.isEmpty ? "/" : anchor)", hint: "name a path inside it")
                }
                continue
            }
            let directory = opened.last?.fd ?? base
            var info = stat()
            if fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) != 0 {
                let code = errno
                if code == ENOENT && create && attempts < 8 {
                    attempts += 1
                    if mkdirat(directory, name, 0o755) != 0 && errno != EEXIST {
                        let code = errno
                        throw .failed("cannot create \((here() + "/" + name).printable): \(Errno.describe(code))",
                                      hint: code == EACCES || code == EPERM || code == EROFS ? "run as root, on a writable file system" : nil)
                    }
                    pending.append(name)
                    continue
                }
                if code == ENOENT && missing { return nil }
                throw .failed("cannot open \(shown.printable): \((here() + "/" + name).printable): \(Errno.describe(code))",
                              hint: code == EACCES ? "run as root" : (code == ENOENT ? "check the path" : nil))
            }
            if info.st_mode & S_IFMT == S_IFLNK {
                links += 1
                guard links <= linkLimit, let target = FileRead.link(at: directory, name) else {
                    throw .failed("cannot open \(shown.printable): too many symbolic links at \((here() + "/" + name).printable)", hint: "fix the links")
                }
                if target.hasPrefix("/") {
                    guard !confined else { throw outside(name, target) }
                    for entry in opened { close(entry.fd) }
                    opened = []
                }
                pending += target.split(separator: "/").map(String.init).reversed()
                // A relative link's ".." climbs from the directory holding the link.
                if !target.hasPrefix("/") && confined {
                    // Refuse a climb above the anchor before taking a step.
                    var depth = opened.count
                    for component in target.split(separator: "/") {
                        if component == ".." { depth -= 1 } else if component != "." { depth += 1 }
                        if depth < 0 { throw outside(name, target) }
                    }
                }
                continue
            }
            guard info.st_mode & S_IFMT == S_IFDIR else {
                if missing { return nil }
                throw .failed("cannot use \(shown.printable): \((here() + "/" + name).printable) is not a directory", hint: "move it out of the way")
            }
            let next = openat(directory, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else {
                let code = errno
                throw .failed("cannot open \((here() + "/" + name).printable): \(Errno.describe(code))", hint: code == EACCES ? "run as root" : nil)
            }
            opened.append((next, name))
        }
        let fd: Int32
        if let last = opened.popLast() {
            fd = last.fd
            opened.append(last)
        } else {
            fd = dup(base)
            guard fd >= 0 else { throw .failed("cannot open \(shown.printable): \(Errno.describe(errno))") }
        }
        for entry in opened.dropLast() { close(entry.fd) }
        success = true
        return SafeDirectory(fd: fd, path: shown, anchor: anchor, resolved: opened.map(\.name))
    }

    // MARK: files

    /// A file in this directory as the user knows it.
    func shown(_ name: String) -> String { path + "/" + name }

    /// What is at `name`: nil when nothing, else its lstat.
    public func status(_ name: String) throws(VFIOError) -> stat? {
        var info = stat()
        guard fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return nil }
            throw .failed("cannot look at \(shown(name).printable): \(Errno.describe(errno))", hint: errno == EACCES ? "run as root" : nil)
        }
        return info
    }

    /// The bytes of the regular file `name` (nil when there is none), at most `limit` of them:
    /// a larger file is an error, never cut short. A symbolic link at `name` is an error.
    public func read(_ name: String, limit: Int, shownAs: String? = nil) throws(VFIOError) -> (bytes: [UInt8], info: stat)? {
        let shown = shownAs ?? self.shown(name)
        let file = openat(fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard file >= 0 else {
            let code = errno
            if code == ENOENT { return nil }
            if code == ELOOP { throw SafeFiles.linkError(shown, target: FileRead.link(at: fd, name)) }
            throw .failed("cannot read \(shown.printable): \(Errno.describe(code))", hint: code == EACCES ? "run as root" : nil)
        }
        defer { close(file) }
        var info = stat()
        guard fstat(file, &info) == 0 else { throw .failed("cannot read \(shown.printable): \(Errno.describe(errno))") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw SafeFiles.notRegular(shown, info) }
        guard Int(info.st_size) <= limit else { throw SafeFiles.tooLarge(shown, size: Int(info.st_size), limit: limit) }
        guard let bytes = FileRead.bytes(descriptor: file, limit: limit + 1) else {
            throw .failed("cannot read \(shown.printable): \(Errno.describe(errno))")
        }
        guard bytes.count <= limit else { throw SafeFiles.tooLarge(shown, size: bytes.count, limit: limit) }
        return (bytes, info)
    }

    /// Writes `bytes` as `name`: into a new temporary file created here with
    /// O_CREAT|O_EXCL|O_NOFOLLOW under a random name, written in full, given `mode` (and
    /// `owner`), fsync'd, renamed over `name` (a link there is replaced, never followed) and the
    /// directory fsync'd. With `durable` false (snapshots) a name that is free is created
    /// directly (O_EXCL|O_NOFOLLOW) and nothing is synced.
    public func write(_ name: String, _ bytes: [UInt8], mode: mode_t, owner: (uid: uid_t, gid: gid_t)? = nil, durable: Bool = true,
                      shownAs: String? = nil) throws(VFIOError) {
        let shown = shownAs ?? self.shown(name)
        if !durable {
            let file = openat(fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if file >= 0 {
                try fill(file, bytes, mode: mode, owner: owner, sync: false, shown: shown)
                return
            }
            guard errno == EEXIST else { throw SafeFiles.writeError(shown, errno) }
        }
        var temporary = ""
        var file: Int32 = -1
        for _ in 0..<16 {
            temporary = name + ".vfioctl-new-" + SafeFiles.randomSuffix()
            file = openat(fd, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if file >= 0 || errno != EEXIST { break }
        }
        guard file >= 0 else { throw SafeFiles.writeError(path + "/" + temporary, errno) }
        do {
            try fill(file, bytes, mode: mode, owner: owner, sync: durable, shown: shown)
        } catch {
            unlinkat(fd, temporary, 0)
            throw error
        }
        guard renameat(fd, temporary, fd, name) == 0 else {
            let code = errno
            unlinkat(fd, temporary, 0)
            throw SafeFiles.writeError(shown, code)
        }
        if durable { try sync() }
    }

    /// Writes, sets the mode (and owner), syncs and closes `file` (closed whatever happens).
    private func fill(_ file: Int32, _ bytes: [UInt8], mode: mode_t, owner: (uid: uid_t, gid: gid_t)?, sync: Bool, shown: String) throws(VFIOError) {
        var failure: Int32 = 0
        if !FileWrite.all(file, bytes) { failure = errno }
        // Owner first: chown clears set-id bits that the mode then puts back.
        if failure == 0, let owner, fchown(file, owner.uid, owner.gid) != 0, errno != EPERM { failure = errno }
        if failure == 0 && fchmod(file, mode) != 0 { failure = errno }
        if failure == 0 && sync && fsync(file) != 0 { failure = errno }
        if close(file) != 0 && failure == 0 { failure = errno }
        if failure != 0 { throw SafeFiles.writeError(shown, failure) }
    }

    /// fsync of the directory (after a rename or an unlink in it).
    public func sync() throws(VFIOError) {
        guard fsync(fd) == 0 || errno == EINVAL else { throw .failed("cannot sync \(path.printable): \(Errno.describe(errno))") }
    }

    /// Opens the regular file `name` for appending (created with `mode` when `create`), never
    /// through a link; `exclusive`: it must not exist yet.
    public func openForAppend(_ name: String, create: Bool, exclusive: Bool = false, mode: mode_t = 0o644) throws(VFIOError) -> Int32 {
        var flags = O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC
        if create { flags |= O_CREAT }
        if exclusive { flags |= O_EXCL }
        return try openRegular(name, flags: flags, mode: mode)
    }

    /// Opens the regular file `name` read-write (created when missing), never through a link.
    public func openForUpdate(_ name: String, mode: mode_t = 0o644) throws(VFIOError) -> Int32 {
        try openRegular(name, flags: O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode: mode)
    }

    private func openRegular(_ name: String, flags: Int32, mode: mode_t) throws(VFIOError) -> Int32 {
        let shown = self.shown(name)
        let file = openat(fd, name, flags, mode)
        guard file >= 0 else {
            let code = errno
            if code == ELOOP { throw SafeFiles.linkError(shown, target: FileRead.link(at: fd, name)) }
            throw .init(.failed, (code == EEXIST ? "\(shown.printable) already exists" : "cannot open \(shown.printable): \(Errno.describe(code))"),
                        hint: code == EACCES || code == EPERM ? "run as root" : nil)
        }
        var info = stat()
        guard fstat(file, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            close(file)
            throw SafeFiles.notRegular(shown, info)
        }
        // O_NONBLOCK only for the open (a FIFO planted at the name must not hang it).
        let status = fcntl(file, F_GETFL)
        if status >= 0 { _ = fcntl(file, F_SETFL, status & ~O_NONBLOCK) }
        return file
    }

    /// Removes `name` (a link itself, never what it points to); nothing there is fine.
    public func remove(_ name: String) throws(VFIOError) {
        guard unlinkat(fd, name, 0) == 0 || errno == ENOENT else {
            throw .failed("cannot remove \(shown(name).printable): \(Errno.describe(errno))", hint: errno == EACCES ? "run as root" : nil)
        }
    }

    /// A symbolic link `name` → `target` (relative text kept as is); one already there is kept.
    public func link(_ name: String, to target: String) throws(VFIOError) {
        guard symlinkat(target, fd, name) == 0 || errno == EEXIST else {
            throw .failed("cannot link \(shown(name).printable): \(Errno.describe(errno))")
        }
    }
}

/// Reads and writes of the files vfioctl edits, under a root, through `SafeDirectory`.
public enum SafeFiles {
    /// The largest configuration file vfioctl reads or edits: /etc/default/grub and the like
    /// are a few KiB, and a shell file is followed byte by byte (tens of bytes of memory each).
    public static let configLimit = 4 << 20
    /// The largest file of vfioctl's own state (journal, records) it reads.
    public static let stateLimit = 16 << 20

    /// `relative` ("etc/default/grub") under `root`: the directory (walked safely, created when
    /// `create`) and the file's name in it.
    public static func locate(_ relative: String, root: HostRoot, create: Bool) throws(VFIOError) -> (directory: SafeDirectory, name: String) {
        guard let found = try locate(relative, root: root, create: create, missing: false) else { throw .failed("cannot open \(relative.printable)") }
        return found
    }

    /// The same; nil when a directory on the way is missing (with `missing`).
    static func locate(_ relative: String, root: HostRoot, create: Bool, missing: Bool) throws(VFIOError) -> (directory: SafeDirectory, name: String)? {
        let trimmed = relative.hasPrefix("/") ? String(relative.dropFirst()) : relative
        let name = SysfsPaths.lastComponent(of: trimmed)
        let directory = String(trimmed.dropLast(name.count))
        guard !name.isEmpty, name != ".", name != ".." else { throw .usage("'\(relative.printable)' names no file") }
        guard let opened = try SafeDirectory.open(directory, under: root.prefix, create: create, missing: missing) else { return nil }
        return (opened, name)
    }

    /// The bytes of a configuration file under the root (nil when it does not exist). A link at
    /// the file is followed while it stays inside the root; one leading out, a file that is not
    /// regular or larger than `limit` is an error.
    public static func read(_ relative: String, root: HostRoot, limit: Int = configLimit) throws(VFIOError) -> [UInt8]? {
        var current = relative.hasPrefix("/") ? String(relative.dropFirst()) : relative
        let shown = "/" + current
        for _ in 0...SafeDirectory.linkLimit {
            guard let (directory, name) = try locate(current, root: root, create: false, missing: true) else { return nil }
            guard let info = try directory.status(name) else { return nil }
            if info.st_mode & S_IFMT == S_IFLNK, let target = FileRead.link(at: directory.fd, name) {
                if target.hasPrefix("/") {
                    guard root.isLive else { throw linkError(shown, target: target, outside: true) }
                    current = String(target.dropFirst())
                } else {
                    current = (directory.resolved + [target]).joined(separator: "/")
                    var depth = directory.resolved.count
                    for component in target.split(separator: "/") {
                        if component == ".." { depth -= 1 } else if component != "." { depth += 1 }
                        if depth < 0 && !root.isLive { throw linkError(shown, target: target, outside: true) }
                    }
                }
                continue
            }
            return try directory.read(name, limit: limit, shownAs: shown)?.bytes
        }
        throw .failed("cannot read \(shown.printable): too many symbolic links", hint: "fix the links")
    }

    /// The current directory (for a relative path the user gave), nil when unreadable.
    public static func currentDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func randomSuffix() -> String {
        let value = UInt64.random(in: .min ... .max)
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    static func linkError(_ shown: String, target: String?, outside: Bool = false) -> VFIOError {
        let to = target.map { " (to \($0.printable))" } ?? ""
        if outside {
            return .failed("\(shown.printable) is a symbolic link\(to) that leads out of the root vfioctl works in",
                           hint: "vfioctl never follows a link out of the root: replace the link with the file itself")
        }
        return .failed("\(shown.printable) is a symbolic link\(to): vfioctl does not write through links",
                       hint: "edit the file it points to by hand, or replace the link with a copy of that file and run again")
    }

    static func notRegular(_ shown: String, _ info: stat) -> VFIOError {
        let kind = switch info.st_mode & S_IFMT {
        case S_IFDIR: "a directory"
        case S_IFIFO: "a FIFO"
        case S_IFSOCK: "a socket"
        case S_IFCHR, S_IFBLK: "a device node"
        default: "not a regular file"
        }
        return .failed("\(shown.printable) is \(kind), not a regular file", hint: "move it out of the way; vfioctl reads and writes regular files only")
    }

    static func tooLarge(_ shown: String, size: Int, limit: Int) -> VFIOError {
        .failed("\(shown.printable) is \(size) bytes, more than the \(limit >> 20) MiB (\(limit) bytes) vfioctl reads of such a file; nothing was changed",
                hint: "a configuration file this large is not something vfioctl edits safely: check what made it grow, or make the change by hand")
    }

    static func writeError(_ shown: String, _ code: Int32) -> VFIOError {
        .failed("cannot write \(shown.printable): \(Errno.describe(code))",
                hint: code == EACCES || code == EPERM || code == EROFS ? "run as root, on a writable file system" : (code == ENOSPC ? "free some space" : nil))
    }
}
