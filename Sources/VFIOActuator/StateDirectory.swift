import Glibc
import Synchronization
import VFIOCore
import VFIODeviceLayer

/// vfioctl's state directory (default /var/lib/vfioctl under the root: it survives reboots, unlike
/// /run, because a record of the driver a function had must outlive them):
///
///     lock       flock(2)ed by the one invocation that may change bindings; says who holds it
///     journal    the write-ahead journal of the run in progress (absent when none is unfinished)
///     detached   one "original ..." record per function vfioctl detached: its driver before
///     history    one line per finished run
///     vf-originals one "vf ..." record per SR-IOV VF whose attributes vfioctl changed: as they were
///                before the first change (sriov restore puts them back)
public struct StateDirectory: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    /// The default under a root.
    public init(root: HostRoot) { self.init(path: root.path("var/lib/vfioctl")) }

    public var journalPath: String { path + "/journal" }
    var recordsPath: String { path + "/detached" }
    var historyPath: String { path + "/history" }
    var vfRecordsPath: String { path + "/vf-originals" }
    var lockPath: String { path + "/lock" }

    /// Creates the directory (and its parents) when missing.
    func create() throws(VFIOError) {
        guard FileWrite.makeDirectories(path) else {
            throw .failed("cannot create the state directory \(path): \(Errno.describe(errno))",
                          hint: errno == EACCES || errno == EPERM ? "run as root" : "give another with --state-dir DIR")
        }
    }

    // MARK: lock

    /// An exclusive lock on the state directory; released when the process exits or `release()`.
    public final class Lock: Sendable {
        private let fd: Mutex<Int32>
        init(fd: Int32) { self.fd = Mutex(fd) }
        deinit { release() }

        public func release() {
            fd.withLock { fd in
                if fd >= 0 { close(fd) }
                fd = -1
            }
        }
    }

    /// Takes the lock, waiting up to `wait` seconds for another invocation; `holder` says who we
    /// are to the next one that waits. `waiting` is told once if it must wait.
    public func lock(wait: Double, holder: String, waiting: (String) -> Void) throws(VFIOError) -> Lock {
        try create()
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .failed("cannot open \(lockPath): \(Errno.describe(errno))", hint: "run as root") }
        let deadline = Self.now() + wait
        var told = false
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                close(fd)
                throw .failed("cannot lock \(lockPath): \(Errno.describe(errno))")
            }
            let other = ((try? readFile(lockPath, limit: 4096)) ?? nil)?.trimmingWhitespace() ?? ""
            let who = other.isEmpty ? "another vfioctl" : other
            if Self.now() >= deadline {
                close(fd)
                throw .failed("\(who) holds \(lockPath); gave up after \(Int(wait)) s",
                              hint: "wait for it to finish, or give --wait SECONDS; if it is stuck, see its journal at \(journalPath)")
            }
            if !told {
                waiting("waiting for \(who) to finish")
                told = true
            }
            var pause = timespec(tv_sec: 0, tv_nsec: 50_000_000)
            nanosleep(&pause, nil)
        }
        _ = ftruncate(fd, 0)
        Bytes.with(holder + "\n") { bytes in _ = pwrite(fd, bytes.baseAddress, bytes.count, 0) }
        return Lock(fd: fd)
    }

    static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    /// Wall-clock time, epoch seconds.
    public static func realtime() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    // MARK: journal

    public var hasJournal: Bool { FileRead.exists(journalPath) }

    /// The unfinished run's journal, or nil when there is none.
    public func readJournal() throws(VFIOError) -> JournalState? {
        guard let text = try readFile(journalPath) else { return nil }
        return try JournalState.parse(text, path: journalPath)
    }

    /// A file of the state directory, nil when there is none. Opened without blocking and without
    /// following a symlink, and read only if it is a regular file: a FIFO would hang every command
    /// that reads it, dry runs included. At most `limit` bytes: a larger file is not vfioctl's.
    func readFile(_ file: String, limit: Int = 16 << 20) throws(VFIOError) -> String? {
        let fd = open(file, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            if errno == ELOOP {
                throw .failed("\(file) is a symbolic link: vfioctl does not follow links in its state directory",
                              hint: "check where it points, then replace it with the file itself or remove it")
            }
            throw .failed("cannot read \(file): \(Errno.describe(errno))", hint: "run as root")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .failed("cannot read \(file): \(Errno.describe(errno))", hint: "run as root") }
        guard info.st_mode & S_IFMT == S_IFREG else {
            let kind = switch info.st_mode & S_IFMT {
            case S_IFIFO: "a FIFO"
            case S_IFDIR: "a directory"
            case S_IFSOCK: "a socket"
            case S_IFCHR, S_IFBLK: "a device node"
            default: "not a regular file"
            }
            throw .failed("\(file) is \(kind), not a file vfioctl wrote",
                          hint: "vfioctl keeps plain files in \(path): move it aside (nothing reads it then)")
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while bytes.count <= limit {
            let count = Glibc.read(fd, &buffer, min(buffer.count, limit + 1 - bytes.count))
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw .failed("cannot read \(file): \(Errno.describe(errno))", hint: "run as root") }
            if count == 0 { break }
            bytes += buffer[0..<count]
        }
        guard bytes.count <= limit else {
            throw .failed("\(file) is larger than \(limit >> 20) MiB, more than vfioctl writes",
                          hint: "it is damaged or not vfioctl's: move it aside")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Starts a new journal; fails if one exists (an unfinished run must be recovered first).
    public func createJournal(crash: JournalCrash?) throws(VFIOError) -> JournalFile {
        try create()
        let fd = open(journalPath, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            if errno == EEXIST {
                throw .failed("an unfinished journal is in the way: \(journalPath)", hint: "run 'vfioctl recover' first")
            }
            throw .failed("cannot create \(journalPath): \(Errno.describe(errno))", hint: "run as root")
        }
        try syncDirectory()
        return JournalFile(fd: fd, path: journalPath, crash: crash)
    }

    /// Opens the existing journal to append to it (recover).
    public func openJournal(crash: JournalCrash?) throws(VFIOError) -> JournalFile {
        let fd = open(journalPath, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { throw .failed("cannot open \(journalPath): \(Errno.describe(errno))", hint: "run as root") }
        return JournalFile(fd: fd, path: journalPath, crash: crash)
    }

    /// The run is over (finished or rolled back): the journal goes.
    public func removeJournal() throws(VFIOError) {
        guard unlink(journalPath) == 0 || errno == ENOENT else {
            throw .failed("cannot remove \(journalPath): \(Errno.describe(errno))")
        }
        try syncDirectory()
    }

    func syncDirectory() throws(VFIOError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .failed("cannot open \(path): \(Errno.describe(errno))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .failed("cannot sync \(path): \(Errno.describe(errno))") }
    }

    // MARK: records

    /// What vfioctl recorded of functions it detached.
    public func records() throws(VFIOError) -> [FunctionBinding] {
        try read(recordsPath, consequence: "reattach then treats the function as never recorded") {
            if case .original(let binding) = $0 { binding } else { nil }
        }
    }

    /// A records file: one journal record of one kind per line ([] when there is no file).
    func read<Record>(_ file: String, consequence: String, _ extract: (JournalRecord.Kind) -> Record?) throws(VFIOError) -> [Record] {
        guard let text = try readFile(file) else { return [] }
        var records: [Record] = []
        for (number, line) in text.split(separator: "\n").enumerated() {
            guard let record = JournalRecord(line: line).flatMap({ extract($0.kind) }) else {
                throw .failed("\(file) line \(number + 1) is damaged: '\(String(line).printable)'", hint: "fix or delete that line; " + consequence)
            }
            records.append(record)
        }
        return records
    }

    /// Adds `write` and drops `drop`, atomically (temporary file, fsync, rename, fsync directory).
    public func updateRecords(write: [FunctionBinding], drop: [PCIAddress]) throws(VFIOError) {
        guard !write.isEmpty || !drop.isEmpty else { return }
        let replaced = Set(write.map(\.address)).union(drop)
        let kept = try records().filter { !replaced.contains($0.address) } + write
        let text = kept.sorted { $0.address < $1.address }.map { JournalRecord(.original($0)).line + "\n" }.joined()
        try create()
        try ConfigFile.replace(text, at: recordsPath, mode: 0o644)
    }

    /// VF attributes as they were before vfioctl first changed them.
    public func vfRecords() throws(VFIOError) -> [VFOriginal] {
        try read(vfRecordsPath, consequence: "sriov restore then has no record of that VF") {
            if case .vf(let original) = $0 { original } else { nil }
        }
    }

    /// Adds `write` where no record of the VF is kept yet (the first original stays), drops `drop`
    /// and every VF of `dropPFs`; atomically.
    public func updateVFRecords(write: [VFOriginal], drop: [VFKey], dropPFs: [PCIAddress]) throws(VFIOError) {
        guard !write.isEmpty || !drop.isEmpty || !dropPFs.isEmpty else { return }
        let existing = try vfRecords()
        let gone = Set(drop)
        var kept = existing.filter { !gone.contains($0.key) && !dropPFs.contains($0.pf) }
        let present = Set(kept.map(\.key))
        kept += write.filter { !present.contains($0.key) && !gone.contains($0.key) }
        guard kept != existing else { return }
        let text = kept.sorted { $0.key < $1.key }.map { JournalRecord(.vf($0)).line + "\n" }.joined()
        try create()
        try ConfigFile.replace(text, at: vfRecordsPath, mode: 0o644)
    }

    // MARK: history

    /// One line per finished run: when it took the lock and when it ended (epoch seconds with
    /// milliseconds), operation, outcome, pid, command.
    public func appendHistory(since: Double, operation: String, outcome: String, command: String) {
        func stamp(_ seconds: Double) -> String {
            let millis = Int((seconds * 1000).rounded())
            return "\(millis / 1000)." + String(String(millis % 1000 + 1000).dropFirst())
        }
        let line = "\(stamp(since)) \(stamp(Self.realtime())) \(operation) \(outcome) pid=\(getpid()) \(JournalRecord.escape(command))\n"
        let fd = open(historyPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        _ = Self.writeAll(fd, line)
        _ = fdatasync(fd)
        close(fd)
    }

    static func writeAll(_ fd: Int32, _ text: String) -> Bool {
        Bytes.with(text) { bytes in
            var offset = 0
            while offset < bytes.count {
                let count = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { return false }
                offset += count
            }
            return true
        }
    }
}

/// How a run is cut short after a given journal record, to prove recovery (testing aid):
/// VFIOCTL_JOURNAL_KILL_AFTER=N makes the process SIGKILL itself once record N is durable; unit
/// tests throw instead.
public struct JournalCrash: Sendable {
    public enum Mode: Sendable { case kill, interrupt }
    public var after: Int
    public var mode: Mode

    public init(after: Int, mode: Mode) {
        self.after = after
        self.mode = mode
    }
}

/// The journal being written: every record is one write(2) of a whole line, then fdatasync.
public final class JournalFile {
    let fd: Int32
    let path: String
    let crash: JournalCrash?
    public private(set) var written = 0

    init(fd: Int32, path: String, crash: JournalCrash?) {
        self.fd = fd
        self.path = path
        self.crash = crash
    }

    deinit { close(fd) }

    /// The run was cut short on purpose (JournalCrash.Mode.interrupt).
    public static let interruptedMessage = "interrupted after journal record"

    public func append(_ kind: JournalRecord.Kind) throws(VFIOError) {
        try append(line: JournalRecord(kind).line)
    }

    func append(line: String) throws(VFIOError) {
        guard StateDirectory.writeAll(fd, line + "\n"), fdatasync(fd) == 0 else {
            throw .failed("cannot write the journal \(path): \(Errno.describe(errno))",
                          hint: "free space or fix the file system, then run 'vfioctl recover'")
        }
        written += 1
        if let crash, written == crash.after {
            switch crash.mode {
            case .kill: kill(getpid(), SIGKILL)
            case .interrupt: throw .failed("\(Self.interruptedMessage) \(written)")
            }
        }
    }

    /// The header: the run, the command, every original binding and every step, before any write.
    public func start(_ plan: BindingPlan, command: String, started: Int) throws(VFIOError) {
        try append(line: JournalRecord.magic)
        try append(.run(operation: plan.operation, pid: Int(getpid()), started: started))
        try append(.command(command))
        for binding in plan.originals { try append(.original(binding)) }
        for original in plan.sriovOriginals { try append(.sriov(original)) }
        for original in plan.vfOriginals { try append(.vf(original)) }
        if plan.operation != .detach { for record in plan.recordsToWrite { try append(.record(record.address)) } }
        for (index, step) in plan.steps.enumerated() { try append(.step(index, step)) }
    }
}
