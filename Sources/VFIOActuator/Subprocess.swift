import Glibc
import VFIOCore
import VFIODeviceLayer

/// Runs a program found on PATH (with /sbin and /usr/sbin added: modprobe lives there) and
/// collects its exit status and stderr. stdout is discarded; stdin is /dev/null.
enum Subprocess {
    struct Result {
        var status: Int32
        var errorOutput: String
    }

    static func run(_ arguments: [String]) throws(VFIOError) -> Result {
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else { throw .failed("cannot run \(arguments[0]): pipe: \(Errno.describe(errno))") }
        for fd in pipeFDs { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 2)

        let path = (getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
        var found: String?
        for directory in path.split(separator: ":") where found == nil {
            let candidate = String(directory) + "/" + arguments[0]
            if access(candidate, X_OK) == 0 { found = candidate }
        }
        guard let program = found else {
            close(pipeFDs[0])
            close(pipeFDs[1])
            throw .failed("cannot run \(arguments[0]): not found on \(path)", hint: "install it (kmod provides modprobe)")
        }
        var pid: pid_t = 0
        let status = withCStrings(arguments) { argv in
            withCStrings(["PATH=" + path, "LC_ALL=C"]) { envp in posix_spawn(&pid, program, &actions, nil, argv, envp) }
        }
        close(pipeFDs[1])
        guard status == 0 else {
            close(pipeFDs[0])
            throw .failed("cannot run \(program): \(Errno.describe(status))")
        }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(pipeFDs[0], &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            if output.count < 65536 { output += buffer[0..<count] }
        }
        close(pipeFDs[0])
        var wait: Int32 = 0
        while waitpid(pid, &wait, 0) < 0 && errno == EINTR {}
        let exit = (wait & 0x7f) == 0 ? (wait >> 8) & 0xff : 128 + (wait & 0x7f)
        return Result(status: exit, errorOutput: String(decoding: output, as: UTF8.self))
    }

    /// A NULL-terminated C array of C strings, valid inside `body`.
    static func withCStrings<T>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> T) -> T {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { for pointer in pointers { free(pointer) } }
        return body(pointers)
    }
}
