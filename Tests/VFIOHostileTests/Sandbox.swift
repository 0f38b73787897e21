import Foundation
import Glibc
import VFIOTestSupport

/// One campaign's playground: a tree vfioctl is pointed at (`root`), a directory beside it that
/// nothing may ever change (`outside`: links in the tree point at it), and the state directory.
///
///     $TMPDIR/vfioctl-hostile.XXXXXX/{root, outside, state, scratch} ($TMPDIR: /tmp when unset)
final class Sandbox {
    let base: String
    var root: String { base + "/root" }
    var outside: String { base + "/outside" }
    var state: String { base + "/state" }
    var scratch: String { base + "/scratch" }

    /// A sandbox whose root is a copy of `fixture` (a directory under fixtures/).
    init(copying fixture: String?) throws {
        base = ScratchDirectory.make("vfioctl-hostile")
        let manager = FileManager.default
        for directory in [root, outside, state, scratch] {
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        if let fixture {
            let copy = try TestProcess.run("cp", ["-a", Sandbox.fixtures + "/" + fixture + "/.", root], timeout: 120)
            guard copy.status == 0 else { throw CocoaError(.fileWriteUnknown) }
        }
        // What a link out of the tree may reach: a precious file, a directory, a FIFO.
        try Data("precious\n".utf8).write(to: URL(fileURLWithPath: outside + "/precious"))
        try manager.createDirectory(atPath: outside + "/dir", withIntermediateDirectories: true)
        try Data("inside a directory outside the root\n".utf8).write(to: URL(fileURLWithPath: outside + "/dir/file"))
        mkfifo(outside + "/fifo", 0o600)
    }

    /// Removes the sandbox, unless VFIOCTL_HOSTILE_KEEP=1 asks to keep it for a look at a replayed case.
    func remove() {
        if ProcessInfo.processInfo.environment["VFIOCTL_HOSTILE_KEEP"] == "1" {
            print("hostile-input sandbox kept: \(base)")
            return
        }
        try? FileManager.default.removeItem(atPath: base)
    }

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures").path

    /// Everything observable about a tree without reading it: per path its type, mode, owner,
    /// size, inode, modification and change times and link target. Any write, chmod, rename,
    /// link or removal changes it.
    /// What is compared of each entry: type and mode, owner, size, inode, both times, and a
    /// link's target. A struct, not text: the campaign takes some 3,000 fingerprints of a
    /// 770-entry tree, and formatting each entry as a string was most of its own time.
    struct Entry: Equatable {
        var mode: mode_t, uid: uid_t, gid: gid_t, size: off_t, inode: ino_t
        var modified: timespec, changed: timespec
        var target: [CChar]?

        init(_ info: stat, target: [CChar]?) {
            (mode, uid, gid, size, inode) = (info.st_mode, info.st_uid, info.st_gid, info.st_size, info.st_ino)
            (modified, changed, self.target) = (info.st_mtim, info.st_ctim, target)
        }

        static func == (a: Entry, b: Entry) -> Bool {
            a.mode == b.mode && a.uid == b.uid && a.gid == b.gid && a.size == b.size && a.inode == b.inode
                && a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec
                && a.changed.tv_sec == b.changed.tv_sec && a.changed.tv_nsec == b.changed.tv_nsec && a.target == b.target
        }
    }

    static func fingerprint(_ directory: String) -> [String: Entry] {
        var result: [String: Entry] = [:]
        func walk(_ path: String, _ relative: String) {
            var info = stat()
            guard lstat(path, &info) == 0 else { return }
            let type = info.st_mode & S_IFMT
            var target: [CChar]?
            if type == S_IFLNK {
                var buffer = [CChar](repeating: 0, count: 4097)
                let count = readlink(path, &buffer, 4096)
                target = count >= 0 ? Array(buffer[0..<count]) : []
            }
            result[relative.isEmpty ? "." : relative] = Entry(info, target: target)
            guard type == S_IFDIR, let stream = opendir(path) else { return }
            var names: [String] = []
            while let item = readdir(stream) {
                let name = withUnsafePointer(to: item.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                if name != "." && name != ".." { names.append(name) }
            }
            closedir(stream)
            for name in names { walk(path + "/" + name, relative.isEmpty ? name : relative + "/" + name) }
        }
        walk(directory, "")
        return result
    }

    /// The paths whose fingerprint differs between two readings.
    static func changes(_ before: [String: Entry], _ after: [String: Entry]) -> [String] {
        Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }.sorted()
    }
}

/// Low-level file surgery on a tree (no FileManager conveniences that follow links).
enum Surgery {
    static func write(_ path: String, _ bytes: [UInt8]) {
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { return }
        bytes.withUnsafeBytes { _ = Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    static func read(_ path: String) -> [UInt8]? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return [UInt8](data)
    }

    /// Removes whatever is at `path` (file, link, FIFO or a directory tree).
    static func removeAny(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFDIR { try? FileManager.default.removeItem(atPath: path) } else { unlink(path) }
    }

    static func isRegular(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
    }

    static func isLink(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFLNK
    }

    /// Every regular file and link below `directory` (relative paths), not following links.
    static func entries(_ directory: String) -> [String] {
        Sandbox.fingerprint(directory).compactMap { path, entry in
            let type = entry.mode & S_IFMT
            return path != "." && (type == S_IFREG || type == S_IFLNK) ? path : nil
        }.sorted()
    }
}
