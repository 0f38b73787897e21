import Glibc
import VFIOCore

/// The injected root every path is read under: "/" on a live host, a directory in tests and
/// for snapshots (`--root DIR`, `VFIOCTL_ROOT`).
public struct HostRoot: Sendable, Equatable, CustomStringConvertible {
    /// Absolute, without a trailing slash ("" stands for "/").
    public let prefix: String

    public static let live = HostRoot(validated: "")

    private init(validated prefix: String) { self.prefix = prefix }

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
    }

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

/// An open directory, for reading many attributes with short relative opens (openat), which
/// costs far less than resolving the full sysfs path (and its bus symlink) for every file.
final class Directory {
    private let stream: OpaquePointer
    let fd: Int32

    init?(_ path: String) {
        guard let stream = opendir(path) else { return nil }
        self.stream = stream
        self.fd = dirfd(stream)
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

    /// A small text attribute, or nil when it is absent or unreadable.
    func read(_ name: String) -> String? { FileRead.attribute(at: fd, name) }

    func readLink(_ name: String) -> String? { FileRead.link(at: fd, name) }

    func size(_ name: String) -> Int? {
        var info = stat()
        guard fstatat(fd, name, &info, 0) == 0 else { return nil }
        return Int(info.st_size)
    }
}

/// Reads of small files and links, relative to a directory descriptor or absolute.
public enum FileRead {
    /// A sysfs attribute: at most a page, which the kernel returns in one read, so a read that
    /// does not fill the buffer is the whole file (one read syscall, not two).
    static func attribute(at directory: Int32, _ name: String) -> String? {
        let fd = openat(directory, name, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4097) { buffer -> String? in
            guard let base = buffer.baseAddress else { return nil }
            var count = 0
            while count < buffer.count {
                let got = Glibc.read(fd, base + count, buffer.count - count)
                if got < 0 && errno == EINTR { continue }
                if got < 0 { return nil }
                count += got
                if got == 0 || count < 4096 { break }
            }
            return String(decoding: UnsafeBufferPointer(start: base, count: count), as: UTF8.self)
        }
    }

    /// When the file was last modified (seconds since the epoch), or nil when it does not exist.
    public static func modified(_ path: String) -> Double? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
    }

    /// Up to 64 KiB of text (sysfs attributes are at most a page).
    public static func text(at directory: Int32 = AT_FDCWD, _ path: String, limit: Int = 65536) -> String? {
        bytes(at: directory, path, limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }

    static func bytes(at directory: Int32 = AT_FDCWD, _ path: String, limit: Int) -> [UInt8]? {
        let fd = openat(directory, path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return bytes(descriptor: fd, limit: limit)
    }

    /// At most `limit` bytes from an open file (nil on a read error, errno set).
    public static func bytes(descriptor fd: Int32, limit: Int) -> [UInt8]? {
        var result: [UInt8] = []
        var failed = false
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 65536) { buffer in
            while result.count < limit {
                let count = Glibc.read(fd, buffer.baseAddress, min(buffer.count, limit - result.count))
                if count < 0 {
                    if errno == EINTR { continue }
                    failed = true
                    return
                }
                if count == 0 { return }
                result.append(contentsOf: UnsafeBufferPointer(start: buffer.baseAddress, count: count))
            }
        }
        return failed ? nil : result
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

/// Directory creation shared by everything vfioctl writes (snapshots, its state, config files):
/// through `SafeDirectory`, so a planted link never leads it out of the root it works in.
public enum FileWrite {
    /// mkdir -p of `relative` under `anchor` (mode 0755): the directory, opened.
    public static func makeDirectories(_ relative: String, under anchor: String) throws(VFIOError) -> SafeDirectory {
        try SafeDirectory.open(relative, under: anchor, create: true)
    }
}
