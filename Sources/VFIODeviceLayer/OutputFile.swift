import Glibc
import VFIOCore

/// A file the user names for vfioctl to write (`metrics --output`), on the running system
/// whatever the root. `prepare` checks it before anything else is read, so a bad name writes
/// nothing: the name must end in `suffix`, no directory may stand at it, and its directory must
/// exist and take a new file: the temporary file the content goes to, beside the target under a
/// name that does not end in `suffix` (`NAME.vfioctl-new-XXXXXX`), is created then, through
/// `SafeDirectory` (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600). `write` fills it, sets its mode,
/// fsyncs it, renames it over the target and fsyncs the directory: a reader such as
/// node_exporter's textfile collector sees the old file or the new one, never a part. Never
/// written, the temporary file is removed when this goes.
public final class OutputFile {
    public let path: String
    let directory: SafeDirectory
    let name: String
    let temporary: String
    private var fd: Int32

    init(path: String, directory: SafeDirectory, name: String, temporary: String, fd: Int32) {
        (self.path, self.directory, self.name, self.temporary, self.fd) = (path, directory, name, temporary, fd)
    }

    deinit {
        guard fd >= 0 else { return }
        close(fd)
        unlinkat(directory.fd, temporary, 0)
    }

    /// `option` names the option in messages ("--output"); `example` is a good name to suggest.
    public static func prepare(_ path: String, suffix: String, option: String, example: String) throws(VFIOError) -> OutputFile {
        let shown = "\(option) '\(path.printable)'"
        let name = SysfsPaths.lastComponent(of: path)
        guard !path.isEmpty, !path.hasSuffix("/"), name != ".", name != ".." else {
            throw .usage("\(shown) names no file", hint: "name the file to write, e.g. \(option) \(example)")
        }
        var absolute = path
        if !path.hasPrefix("/") {
            guard let current = SafeFiles.currentDirectory() else {
                throw .usage("cannot resolve \(shown): the current directory is unreadable", hint: "give an absolute path")
            }
            absolute = current + "/" + path
        }
        let parent = String(absolute.dropLast(name.count))
        let opened: SafeDirectory?
        do {
            opened = try SafeDirectory.open(parent, under: "", create: false, missing: true)
        } catch {
            throw .usage("\(shown): " + error.message, hint: error.hint ?? "name a file in a directory that exists")
        }
        guard let directory = opened else {
            throw .usage("\(shown): \(parent.printable) is not an existing directory",
                         hint: "create it, or name a file in node_exporter's textfile directory "
                             + "(Debian: /var/lib/prometheus/node-exporter, from prometheus-node-exporter)")
        }
        if let info = try directory.status(name), info.st_mode & S_IFMT == S_IFDIR {
            let file = example.split(separator: "/").last.map(String.init) ?? "NAME" + suffix
            throw .usage("\(shown) is a directory", hint: "name a file in it, e.g. \(option) \(absolute)/\(file)")
        }
        guard name.hasSuffix(suffix), name.count > suffix.count else {
            throw .usage("\(shown) is not named NAME\(suffix): node_exporter's textfile collector reads only "
                         + "files named *\(suffix)", hint: "name it NAME\(suffix), e.g. \(option) \(example)")
        }
        var temporary = ""
        var fd: Int32 = -1
        for _ in 0..<16 {
            temporary = name + ".vfioctl-new-" + SafeFiles.randomSuffix()
            fd = openat(directory.fd, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else {
            let code = errno
            throw .usage("\(shown): cannot create a file in \(parent.printable): \(Errno.describe(code))",
                         hint: code == EROFS ? "name a file on a writable file system"
                             : "run as root, or name a file in a directory you can write, e.g. \(option) \(example)")
        }
        return OutputFile(path: absolute, directory: directory, name: name, temporary: temporary, fd: fd)
    }

    /// Replaces the file with `text`, readable by everyone (`mode`). Once only.
    public func write(_ text: String, mode: mode_t = 0o644) throws(VFIOError) {
        guard fd >= 0 else { throw .failed("\(path.printable) was written already") }
        var failure: Int32 = 0
        if !FileWrite.all(fd, text) { failure = errno }
        if failure == 0 && fchmod(fd, mode) != 0 { failure = errno }
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        if close(fd) != 0 && failure == 0 { failure = errno }
        fd = -1
        if failure == 0 && renameat(directory.fd, temporary, directory.fd, name) != 0 { failure = errno }
        guard failure == 0 else {
            unlinkat(directory.fd, temporary, 0)
            throw SafeFiles.writeError(path, failure)
        }
        try directory.sync()
    }
}
