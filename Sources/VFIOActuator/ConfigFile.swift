import Glibc
import VFIOCore
import VFIODeviceLayer

/// Configuration files written atomically: the new text goes to a temporary file next to the
/// old one (same mode), is synced, and renamed over it; the previous version is kept as
/// PATH.vfioctl.bak. A crash leaves the old file or the new one, never half of either.
public enum ConfigFile {
    /// Writes `text` to `path` (from the root) and returns the backup's path, if there was a file.
    @discardableResult
    public static func write(_ text: String, to path: String, root: HostRoot) throws(VFIOError) -> String? {
        let full = root.prefix + path
        let directory = SysfsPaths.directory(of: full)
        guard FileWrite.makeDirectories(directory) else {
            throw .failed("cannot create \(directory): \(Errno.describe(errno))", hint: errno == EACCES ? "run as root" : nil)
        }
        var info = stat()
        let existed = stat(full, &info) == 0
        let mode = existed ? info.st_mode & 0o7777 : 0o644
        var backup: String?
        if existed {
            let old = FileRead.text(full, limit: 16 << 20) ?? ""
            guard old != text else { return nil }
            backup = full + ".vfioctl.bak"
            try replace(old, at: backup!, mode: mode)
        }
        try replace(text, at: full, mode: mode)
        if existed { _ = chown(full, info.st_uid, info.st_gid) }
        return backup.map { String($0.dropFirst(root.prefix.count)) }
    }

    /// Replaces `path` (absolute) atomically: temporary file with `mode`, fsync, rename, fsync the directory.
    static func replace(_ text: String, at path: String, mode: mode_t) throws(VFIOError) {
        let temporary = path + ".vfioctl-new"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .failed("cannot write \(temporary): \(Errno.describe(errno))", hint: "run as root") }
        _ = fchmod(fd, mode)
        let written = StateDirectory.writeAll(fd, text) && fsync(fd) == 0
        close(fd)
        guard written, rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw .failed("cannot write \(path): \(Errno.describe(code))")
        }
        let directory = open(SysfsPaths.directory(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            _ = fsync(directory)
            close(directory)
        }
    }
}
