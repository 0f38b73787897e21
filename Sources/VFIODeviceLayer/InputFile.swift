import Glibc
import VFIOCore

/// Files the user names on the command line (a domain XML, CPU descriptions, a pool file): read
/// whole, as UTF-8, at most 16 MiB; "-" reads stdin (which may be a pipe). A named file must be a
/// regular file: it is opened without blocking, so a FIFO with no writer cannot hang the command
/// (libvirt's hook and the boot unit run it unattended), and a device such as /dev/zero is not
/// read forever.
public enum InputFile {
    public static let limit = 16 << 20

    public static func read(_ path: String, what: String) throws(VFIOError) -> String {
        let fd = path == "-" ? STDIN_FILENO : open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw .usage("cannot read '\(path.printable)': \(Errno.describe(errno))", hint: "give a readable \(what), or - for stdin")
        }
        defer { if fd != STDIN_FILENO { close(fd) } }
        if fd != STDIN_FILENO {
            var info = stat()
            guard fstat(fd, &info) == 0 else {
                throw .usage("cannot read '\(path.printable)': \(Errno.describe(errno))", hint: "give a readable \(what)")
            }
            guard info.st_mode & S_IFMT == S_IFREG else {
                let kind = switch info.st_mode & S_IFMT {
                case S_IFDIR: "a directory"
                case S_IFIFO: "a FIFO"
                case S_IFCHR, S_IFBLK: "a device"
                case S_IFSOCK: "a socket"
                default: "not a regular file"
                }
                throw .usage("'\(path.printable)' is \(kind), not a \(what)",
                             hint: "give the file itself; to read from a pipe, give - and send it on stdin")
            }
        }
        // One byte past the limit is enough to know the input is too large (stdin may not end).
        guard let bytes = FileRead.bytes(descriptor: fd, limit: limit + 1) else {
            throw .usage("cannot read '\(path.printable)': \(Errno.describe(errno))", hint: "give a readable \(what)")
        }
        let name = path == "-" ? "stdin" : "'\(path.printable)'"
        guard bytes.count <= limit else {
            throw .usage("\(name) is larger than 16 MiB: not a \(what)",
                         hint: "a \(what) is far smaller: check that this is the file you meant")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .usage("\(name) is not UTF-8 text", hint: "give a \(what)")
        }
        return text
    }
}
