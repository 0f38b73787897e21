import CSysShim
import Glibc
import VFIOCore

/// The injected root every path is read under: "/" on a live host, a directory in tests and
/// for snapshots (`--root DIR`, `VFIOCTL_ROOT`). The device layer reads a tree under a root
/// through its open directory (RootFiles.swift), so no link in the tree leads outside it.
public struct HostRoot: Sendable, Equatable, CustomStringConvertible {
    /// Absolute, without a trailing slash ("" stands for "/").
    public let prefix: String
    /// The root directory, open; nil for the live root.
    let directory: RootDirectory?

    public static let live = HostRoot(validated: "")

    private init(validated prefix: String) {
        self.prefix = prefix
        self.directory = nil
    }

    /// A root directory; relative paths are taken from the current directory.
    public init(_ path: String) throws(VFIOError) {
        guard !path.isEmpty else { throw .usage("the root directory is empty", hint: "omit --root to read this host") }
        var absolute = path
        if !path.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            guard getcwd(&buffer, buffer.count) != nil else {
                throw .failed("cannot resolve '\(path.printable)': the current directory is unreadable")
            }
            absolute = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } + "/" + path
        }
        let normalized = "/" + SysfsPaths.resolve(link: absolute, in: "")
        var info = stat()
        guard stat(normalized, &info) == 0 else {
            throw .usage("root '\(path.printable)' does not exist: \(Errno.describe(errno))",
                         hint: "--root names a directory holding a sys/ tree, e.g. one made by 'vfioctl snapshot DIR'")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw .usage("root '\(path.printable)' is not a directory",
                         hint: "--root names a directory holding a sys/ tree, e.g. one made by 'vfioctl snapshot DIR'")
        }
        self.prefix = normalized == "/" ? "" : normalized
        if normalized == "/" {
            directory = nil
        } else {
            guard let opened = RootDirectory(normalized) else {
                throw .usage("root '\(path.printable)' cannot be opened: \(Errno.describe(errno))",
                             hint: "--root names a directory holding a sys/ tree, e.g. one made by 'vfioctl snapshot DIR'")
            }
            directory = opened
        }
    }

    public static func == (a: HostRoot, b: HostRoot) -> Bool { a.prefix == b.prefix }

    public var isLive: Bool { prefix.isEmpty }

    /// The absolute path of `relative` ("sys/bus/pci") under this root.
    public func path(_ relative: String) -> String { prefix + "/" + relative }

    public var description: String { prefix.isEmpty ? "/" : prefix }
}

/// errno as text.
public enum Errno {
    public static func describe(_ code: Int32) -> String { String(cString: strerror(code)) }

    /// The symbolic name ("EOPNOTSUPP") of the errnos vfioctl meets; "errno N" for others.
    public static func name(_ code: Int32) -> String {
        switch code {
        case EPERM: "EPERM"
        case ENOENT: "ENOENT"
        case EIO: "EIO"
        case ENOMEM: "ENOMEM"
        case EACCES: "EACCES"
        case EBUSY: "EBUSY"
        case EEXIST: "EEXIST"
        case ENODEV: "ENODEV"
        case EINVAL: "EINVAL"
        case ENOSPC: "ENOSPC"
        case ERANGE: "ERANGE"
        case EAGAIN: "EAGAIN"
        case ENOBUFS: "ENOBUFS"
        case EMSGSIZE: "EMSGSIZE"
        case EOPNOTSUPP: "EOPNOTSUPP"
        case EPROTONOSUPPORT: "EPROTONOSUPPORT"
        case ENETDOWN: "ENETDOWN"
        case EAFNOSUPPORT: "EAFNOSUPPORT"
        default: "errno \(code)"
        }
    }
}

/// A directory held open (O_PATH) for the lookups made relative to it: the root, or a
/// directory under it read many times.
final class RootDirectory: Sendable {
    let fd: Int32

    convenience init?(_ path: String) {
        self.init(descriptor: open(path, vfioctl_o_path() | O_DIRECTORY | O_CLOEXEC))
    }

    /// Takes over `fd` (nil when it is -1).
    init?(descriptor fd: Int32) {
        guard fd >= 0 else { return nil }
        self.fd = fd
    }

    deinit { close(fd) }
}

/// An open directory, read once for its entry names.
final class Directory {
    private let stream: OpaquePointer

    init?(_ path: String) {
        guard let stream = opendir(path) else { return nil }
        self.stream = stream
    }

    /// Takes over `fd`, a directory opened for reading (closed when this goes, or now on failure).
    init?(descriptor fd: Int32) {
        guard fd >= 0 else { return nil }
        guard let stream = fdopendir(fd) else {
            close(fd)
            return nil
        }
        self.stream = stream
    }

    deinit { closedir(stream) }

    /// Entry names (without "." and ".."), read once.
    func entries() -> [String] {
        rewinddir(stream)
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Entry names with whether each is a directory (a link is not), read once.
    func entriesAndKinds() -> [(name: String, isDirectory: Bool)] {
        rewinddir(stream)
        var entries: [(String, Bool)] = []
        while let entry = readdir(stream) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            guard name != "." && name != ".." else { continue }
            var isDirectory = entry.pointee.d_type == UInt8(DT_DIR)
            if entry.pointee.d_type == UInt8(DT_UNKNOWN) {
                var info = stat()
                isDirectory = fstatat(dirfd(stream), name, &info, AT_SYMLINK_NOFOLLOW) == 0 && info.st_mode & S_IFMT == S_IFDIR
            }
            entries.append((name, isDirectory))
        }
        return entries
    }
}

/// Reads of small files and links, relative to a directory descriptor or absolute.
public enum FileRead {
    /// What sits where a regular file was expected.
    public enum Kind: Sendable, Equatable, CustomStringConvertible {
        case directory, fifo, socket, characterDevice, blockDevice, symbolicLink, other

        init(mode: mode_t) {
            switch mode & S_IFMT {
            case S_IFDIR: self = .directory
            case S_IFIFO: self = .fifo
            case S_IFSOCK: self = .socket
            case S_IFCHR: self = .characterDevice
            case S_IFBLK: self = .blockDevice
            case S_IFLNK: self = .symbolicLink
            default: self = .other
            }
        }

        public var description: String {
            switch self {
            case .directory: "a directory"
            case .fifo: "a FIFO"
            case .socket: "a socket"
            case .characterDevice: "a character device"
            case .blockDevice: "a block device"
            case .symbolicLink: "a symbolic link"
            case .other: "not a regular file"
            }
        }
    }

    /// Why a file could not be read.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// open or read failed with this errno.
        case system(Int32)
        /// Something other than a regular file is there; it was not read.
        case notRegular(Kind)

        /// "No such file or directory", "it is a FIFO, not a regular file".
        public var description: String {
            switch self {
            case .system(let code): Errno.describe(code)
            case .notRegular(let kind): "it is \(kind), not a regular file"
            }
        }

        /// The errno this stands for (EISDIR for a directory, EINVAL for other non-files), for
        /// callers that report errno.
        var code: Int32 {
            switch self {
            case .system(let code): code
            case .notRegular(let kind): kind == .directory ? EISDIR : EINVAL
            }
        }
    }

    /// How every file is opened for reading: O_NONBLOCK, so a FIFO opens at once instead of
    /// waiting for a writer; O_NOCTTY, so a terminal is never taken over.
    static let readFlags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC

    /// Opens a file for reading in a way that can never block: `readFlags`, then fstat, and only
    /// a regular file is kept. sysfs attributes, /proc files and configuration files are all
    /// regular. `following: false` refuses a link (sysfs attributes are never links).
    static func openRegular(at directory: Int32, _ path: UnsafePointer<CChar>, following: Bool = true) -> Result<Int32, Failure> {
        let fd = openat(directory, path, readFlags | (following ? 0 : O_NOFOLLOW))
        guard fd >= 0 else {
            let code = errno
            // open(2) refuses a socket with ENXIO, and a link with ELOOP under O_NOFOLLOW: say what is there.
            var info = stat()
            if code == ENXIO || code == ELOOP, fstatat(directory, path, &info, following ? 0 : AT_SYMLINK_NOFOLLOW) == 0,
               info.st_mode & S_IFMT != S_IFREG {
                return .failure(.notRegular(Kind(mode: info.st_mode)))
            }
            return .failure(.system(code))
        }
        return regular(fd)
    }

    /// `fd` when it is a regular file; otherwise it is closed and what it is comes back.
    static func regular(_ fd: Int32) -> Result<Int32, Failure> {
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            close(fd)
            return .failure(.system(code))
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            return .failure(.notRegular(Kind(mode: info.st_mode)))
        }
        return .success(fd)
    }

    /// What is at `path` (links followed) when it is there but is not a regular file.
    static func nonRegular(_ path: String) -> Kind? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & S_IFMT == S_IFREG ? nil : Kind(mode: info.st_mode)
    }

    /// When the file was last modified (seconds since the epoch), or nil when it does not exist.
    public static func modified(_ path: String) -> Double? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
    }

    /// Up to 64 KiB of text (sysfs attributes are at most a page); nil when the file is absent,
    /// unreadable or not a regular file (errno tells which).
    public static func text(at directory: Int32 = AT_FDCWD, _ path: String, limit: Int = 65536) -> String? {
        bytes(at: directory, path, limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }

    static func bytes(at directory: Int32 = AT_FDCWD, _ path: String, limit: Int) -> [UInt8]? {
        switch read(at: directory, path, limit: limit) {
        case .success(let bytes): return bytes
        case .failure(let failure):
            errno = failure.code
            return nil
        }
    }

    /// Up to `limit` bytes of a regular file, or why not.
    public static func read(at directory: Int32 = AT_FDCWD, _ path: String, limit: Int) -> Result<[UInt8], Failure> {
        openRegular(at: directory, path).flatMap { read(opened: $0, limit: limit) }
    }

    /// Up to `limit` bytes from `fd`, which is closed.
    static func read(opened fd: Int32, limit: Int) -> Result<[UInt8], Failure> {
        defer { close(fd) }
        return readAll(fd, limit: limit)
    }

    /// At most `limit` bytes from an open file, left open (nil on a read error, errno set).
    public static func bytes(descriptor fd: Int32, limit: Int) -> [UInt8]? {
        switch readAll(fd, limit: limit) {
        case .success(let bytes): return bytes
        case .failure(let failure):
            errno = failure.code
            return nil
        }
    }

    private static func readAll(_ fd: Int32, limit: Int) -> Result<[UInt8], Failure> {
        var result: [UInt8] = []
        var failure: Failure?
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 65536) { buffer in
            while result.count < limit {
                let count = Glibc.read(fd, buffer.baseAddress, min(buffer.count, limit - result.count))
                if count < 0 {
                    if errno == EINTR { continue }
                    failure = .system(errno)
                    return
                }
                if count == 0 { return }
                result.append(contentsOf: UnsafeBufferPointer(start: buffer.baseAddress, count: count))
            }
        }
        if let failure { return .failure(failure) }
        return .success(result)
    }

    public static func link(at directory: Int32 = AT_FDCWD, _ path: String) -> String? {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 4096) { buffer -> String? in
            guard let base = buffer.baseAddress else { return nil }
            let count = readlinkat(directory, path, base, buffer.count)
            guard count > 0 else { return nil }
            return String(decoding: UnsafeRawBufferPointer(start: base, count: count), as: UTF8.self)
        }
    }

    public static func entries(_ path: String) -> [String]? {
        Directory(path)?.entries()
    }

    /// How many entries a directory has (without "." and ".."), or nil when it cannot be read.
    static func count(_ path: String) -> Int? {
        guard let stream = opendir(path) else { return nil }
        defer { closedir(stream) }
        var count = 0
        while let entry = readdir(stream) {
            let dot = withUnsafeBytes(of: entry.pointee.d_name) { name in
                name[0] == UInt8(ascii: ".") && (name[1] == 0 || (name[1] == UInt8(ascii: ".") && name[2] == 0))
            }
            if !dot { count += 1 }
        }
        return count
    }

    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }
}

/// What everything vfioctl writes shares: directories made through `SafeDirectory` (so a planted
/// link never leads out of the root it works in), and the loop that writes a buffer in full.
public enum FileWrite {
    /// mkdir -p of `relative` under `anchor` (mode 0755): the directory, opened.
    public static func makeDirectories(_ relative: String, under anchor: String) throws(VFIOError) -> SafeDirectory {
        try SafeDirectory.open(relative, under: anchor, create: true)
    }

    /// Writes all of `bytes` to `fd`, again after a short write or EINTR. false when a write
    /// fails (errno says why) or writes nothing.
    public static func all(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let base = bytes.baseAddress else { return true }  // nothing to write
        var offset = 0
        while offset < bytes.count {
            let count = Glibc.write(fd, base + offset, bytes.count - offset)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return false }
            offset += count
        }
        return true
    }

    public static func all(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { all(fd, $0) }
    }

    public static func all(_ fd: Int32, _ text: String) -> Bool {
        Bytes.with(text) { all(fd, $0) }
    }
}
