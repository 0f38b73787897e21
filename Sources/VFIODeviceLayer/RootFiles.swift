import CSysShim
import Glibc
import VFIOCore

/// Reads under a root, by paths relative to it ("sys/bus/pci/devices"). A tree under --root is
/// looked up through the root's open directory as if it were "/": links in it are followed, but
/// an absolute target and ".." resolve inside the root, as `SysfsPaths.resolve` resolves them,
/// so neither a link nor a linked directory in the tree leads outside it (openat2
/// RESOLVE_IN_ROOT, or the same walk done here on kernels before 5.6). The live root is read
/// with plain calls on "/relative".
extension HostRoot {
    /// open(2) of `relative` inside the root: -1 with errno set on failure.
    func open(_ relative: String, _ flags: Int32) -> Int32 {
        guard let directory else { return Glibc.open("/" + relative, flags) }
        if HostRoot.kernelResolvesInRoot {
            return vfioctl_open_in_root(directory.fd, relative, flags)
        }
        return walk(relative, flags)
    }

    /// Whether this kernel has openat2 with RESOLVE_IN_ROOT (Linux 5.6), asked once.
    static let kernelResolvesInRoot: Bool = {
        let fd = vfioctl_open_in_root(AT_FDCWD, ".", vfioctl_o_path() | O_CLOEXEC)
        guard fd >= 0 else { return false }
        close(fd)
        return true
    }()

    /// RESOLVE_IN_ROOT done by hand: one component at a time from the root, each link's text
    /// put in its place (an absolute one starting again from the root), ".." never above the
    /// root, at most 40 links (ELOOP). The path left has no links, and its last component is
    /// opened with O_NOFOLLOW.
    func walk(_ relative: String, _ flags: Int32) -> Int32 {
        guard let directory else { return Glibc.open("/" + relative, flags) }
        var resolved: [Substring] = []
        var pending = Array(relative.split(separator: "/").reversed())
        var links = 0
        while let component = pending.popLast() {
            if component == "." { continue }
            if component == ".." {
                _ = resolved.popLast()
                continue
            }
            resolved.append(component)
            let isLast = !pending.contains { $0 != "." }
            if isLast && flags & O_NOFOLLOW != 0 { break }
            let path = resolved.joined(separator: "/")
            var info = stat()
            guard fstatat(directory.fd, path, &info, AT_SYMLINK_NOFOLLOW) == 0, info.st_mode & S_IFMT == S_IFLNK else { continue }
            links += 1
            guard links <= 40, let target = FileRead.link(at: directory.fd, path) else {
                if links > 40 { errno = ELOOP }
                return -1
            }
            resolved.removeLast()
            if target.hasPrefix("/") { resolved = [] }
            pending += target.split(separator: "/").reversed()
        }
        return openat(directory.fd, resolved.isEmpty ? "." : resolved.joined(separator: "/"), flags | O_NOFOLLOW)
    }

    /// (the directory part, the last component): "a/b/c" → ("a/b", "c"), "c" → (".", "c").
    private static func split(_ relative: String) -> (String, String) {
        let name = SysfsPaths.lastComponent(of: relative)
        let parent = SysfsPaths.directory(of: relative)
        return (parent.isEmpty ? "." : parent, name)
    }

    /// A directory opened with O_PATH, as a base for lookups relative to it; nil when it cannot be.
    func pathDirectory(_ relative: String) -> RootDirectory? {
        RootDirectory(descriptor: open(relative, vfioctl_o_path() | O_DIRECTORY | O_CLOEXEC))
    }

    /// The directory holding `relative`, opened to look at `relative` itself (not where it leads).
    private func withParent<T>(of relative: String, _ body: (Int32, String) -> T?) -> T? {
        let (parent, name) = HostRoot.split(relative)
        let fd = open(parent, vfioctl_o_path() | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return body(fd, name)
    }

    /// Up to `limit` bytes of the regular file at `relative` (never blocking: see
    /// FileRead.openRegular), or why not.
    public func read(_ relative: String, limit: Int) -> Result<[UInt8], FileRead.Failure> {
        guard directory != nil else { return FileRead.read(path(relative), limit: limit) }
        let fd = open(relative, FileRead.readFlags)
        guard fd >= 0 else {
            let code = errno
            // A socket: open(2) says ENXIO.
            if code == ENXIO, let info = status(relative), info.st_mode & S_IFMT != S_IFREG {
                return .failure(.notRegular(FileRead.Kind(mode: info.st_mode)))
            }
            return .failure(.system(code))
        }
        return FileRead.regular(fd).flatMap { FileRead.read(opened: $0, limit: limit) }
    }

    /// The file's bytes; nil when it is absent, unreadable or not a regular file.
    public func bytes(_ relative: String, limit: Int) -> [UInt8]? {
        guard case .success(let bytes) = read(relative, limit: limit) else { return nil }
        return bytes
    }

    /// The file's text; nil when it is absent, unreadable or not a regular file.
    public func text(_ relative: String, limit: Int = 65536) -> String? {
        bytes(relative, limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The text of the link at `relative` (not followed), or nil when it is not a link.
    public func link(_ relative: String) -> String? {
        guard directory != nil else { return FileRead.link(path(relative)) }
        return withParent(of: relative) { fd, name in FileRead.link(at: fd, name) }
    }

    /// A directory's entry names (without "." and ".."), or nil when it cannot be read.
    public func entries(_ relative: String) -> [String]? {
        openDirectory(relative)?.entries()
    }

    /// A directory opened for reading its entries.
    func openDirectory(_ relative: String) -> Directory? {
        guard directory != nil else { return Directory(path(relative)) }
        return Directory(descriptor: open(relative, O_RDONLY | O_DIRECTORY | O_NONBLOCK | O_CLOEXEC))
    }

    /// How many entries a directory has (without "." and ".."), or nil when it cannot be read.
    func count(_ relative: String) -> Int? {
        guard directory != nil else { return FileRead.count(path(relative)) }
        return entries(relative)?.count
    }

    /// Whether anything (a link included) is at `relative`.
    public func exists(_ relative: String) -> Bool {
        guard directory != nil else { return FileRead.exists(path(relative)) }
        return withParent(of: relative) { fd, name -> Bool? in
            var info = stat()
            return fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 ? true : nil
        } ?? false
    }

    /// stat(2) of what `relative` leads to, or nil when nothing is there.
    public func status(_ relative: String) -> stat? {
        let fd = open(relative, vfioctl_o_path() | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        return fstat(fd, &info) == 0 ? info : nil
    }

    /// When the file was last modified (seconds since the epoch), or nil when it does not exist.
    public func modified(_ relative: String) -> Double? {
        status(relative).map { Double($0.st_mtim.tv_sec) + Double($0.st_mtim.tv_nsec) / 1e9 }
    }
}
