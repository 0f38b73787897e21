import Glibc
import VFIOCore
import VFIODeviceLayer

/// Configuration files written atomically and only under the root, through `SafeDirectory`:
/// the directory is reached without following a link out of the root (and created so); the
/// file itself must be a regular file or absent (a symbolic link there is refused: vfioctl
/// does not write through links); the new bytes go to a temporary file created next to it
/// (O_CREAT|O_EXCL|O_NOFOLLOW, random name), written in full, given the old file's mode and
/// owner, fsync'd and renamed over it, and the directory is fsync'd. The previous version is
/// kept as PATH.vfioctl.bak, written the same way, byte for byte as it was read. A crash leaves
/// the old file or the new one, never half of either.
public enum ConfigFile {
    /// Writes `bytes` to `path` (from the root) and returns the backup's path, if there was a
    /// file. `expected`: the file's text when the change was planned (nil: there was none); if
    /// it changed since, nothing is written. The same bytes as now: nothing is written.
    @discardableResult
    public static func write(_ bytes: [UInt8], to path: String, root: HostRoot, expected: String?? = .none) throws(VFIOError) -> String? {
        let (directory, name) = try SafeFiles.locate(path, root: root, create: true)
        // A link at the name is refused here (O_NOFOLLOW), before anything is written.
        let current = try directory.read(name, limit: SafeFiles.configLimit, shownAs: path)
        if case .some(let expected) = expected, current.map({ String(decoding: $0.bytes, as: UTF8.self) }) != expected {
            throw .failed("\(path) changed after vfioctl read it; nothing was written", hint: "run the command again")
        }
        guard let (old, info) = current else {
            try directory.write(name, bytes, mode: 0o644, shownAs: path)
            return nil
        }
        guard old != bytes else { return nil }
        let owner = (uid: info.st_uid, gid: info.st_gid)
        let mode = info.st_mode & 0o7777
        let backup = name + ".vfioctl.bak"
        try directory.write(backup, old, mode: mode, owner: owner, shownAs: path + ".vfioctl.bak")
        try directory.write(name, bytes, mode: mode, owner: owner, shownAs: path)
        return path + ".vfioctl.bak"
    }

    /// The same for text.
    @discardableResult
    public static func write(_ text: String, to path: String, root: HostRoot) throws(VFIOError) -> String? {
        try write(Array(text.utf8), to: path, root: root)
    }
}
