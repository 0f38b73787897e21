import Glibc
import VFIOCore
import VFIODeviceLayer

/// Files the user names on the command line (a domain XML, CPU descriptions): read whole, as
/// UTF-8, at most 16 MiB; "-" reads stdin.
enum InputFile {
    static func read(_ path: String, what: String) throws(VFIOError) -> String {
        let fd = path == "-" ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw .usage("cannot read '\(path.printable)': \(Errno.describe(errno))", hint: "give a readable \(what), or - for stdin")
        }
        defer { if fd != STDIN_FILENO { close(fd) } }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = Glibc.read(fd, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else {
                throw .usage("cannot read '\(path.printable)': \(Errno.describe(errno))", hint: "give a readable \(what)")
            }
            if count == 0 { break }
            bytes += buffer[0..<count]
            guard bytes.count <= 16 << 20 else { throw .usage("'\(path.printable)' is larger than 16 MiB: not a \(what)") }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .usage("'\(path.printable)' is not UTF-8 text", hint: "give a \(what)")
        }
        return text
    }
}
