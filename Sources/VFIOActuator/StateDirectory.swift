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
///
/// Every file here is reached through `SafeDirectory`: the default directory under a root is
/// walked from the root without following a link out of it, and its files are opened with
/// O_NOFOLLOW and must be regular files (a link planted at `lock`, `journal`, `history` or a
/// records file is an error, never followed); records files are replaced atomically.
public struct StateDirectory: Sendable {
    public let path: String
    /// Where the walk starts ("" for /) and the directory under it.
    let anchor: String
    let relative: String

    /// A directory the user named (--state-dir): taken as it is, links on the way included.
    public init(path: String) {
        self.path = path
        self.anchor = ""
        self.relative = path
    }

    /// The default under a root: nothing on the way may lead out of the root.
    public init(root: HostRoot) {
        self.path = root.path("var/lib/vfioctl")
        self.anchor = root.prefix
        // From the root, never from the current directory: only a --state-dir the user typed
        // relative is taken from where vfioctl runs (`directory`).
        self.relative = root.isLive ? "/var/lib/vfioctl" : "var/lib/vfioctl"
    }

    /// The path the directory is opened at, below `anchor`: a --state-dir typed relative is taken
    /// from the current directory, nothing else is.
    var walked: String {
        guard anchor.isEmpty && !relative.hasPrefix("/"), let current = SafeFiles.currentDirectory() else { return relative }
        return current + "/" + relative
    }

    /// Where the directory is, as it is opened (the root's prefix and the walked path).
    public var resolvedPath: String { anchor + (walked.hasPrefix("/") ? "" : "/") + walked }

    /// The directory, opened (created with `create`).
    func directory(create: Bool) throws(VFIOError) -> SafeDirectory {
        let relative = walked
        do {
            return try SafeDirectory.open(relative, under: anchor, create: create)
        } catch {
            throw .failed((create ? "cannot create the state directory \(path): " : "cannot open the state directory \(path): ") + error.message,
                          hint: error.hint ?? "give another with --state-dir DIR")
        }
    }

    public var journalPath: String { path + "/journal" }
    var lockPath: String { path + "/lock" }

    /// Creates the directory (and its parents) when missing.
    func create() throws(VFIOError) { _ = try directory(create: true) }

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
        let fd = try directory(create: true).openForUpdate("lock")
        let deadline = Self.now() + wait
        var told = false
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                close(fd)
                throw .failed("cannot lock \(lockPath): \(Errno.describe(errno))")
            }
            let other = Self.holder(fd)
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

    /// Who holds the lock, as they wrote it in the file (read through the descriptor).
    static func holder(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self).trimmingWhitespace() : ""
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
        guard hasJournal else { return nil }
        guard let (bytes, _) = try directory(create: false).read("journal", limit: SafeFiles.stateLimit) else { return nil }
        return try JournalState.parse(String(decoding: bytes, as: UTF8.self), path: journalPath)
    }

    /// Starts a new journal; fails if one exists (an unfinished run must be recovered first).
    public func createJournal(crash: JournalCrash?) throws(VFIOError) -> JournalFile {
        let directory = try directory(create: true)
        guard try directory.status("journal") == nil else {
            throw .failed("an unfinished journal is in the way: \(journalPath)", hint: "run 'vfioctl recover' first")
        }
        let fd = try directory.openForAppend("journal", create: true, exclusive: true)
        try directory.sync()
        return JournalFile(fd: fd, path: journalPath, crash: crash)
    }

    /// Opens the existing journal to append to it (recover).
    public func openJournal(crash: JournalCrash?) throws(VFIOError) -> JournalFile {
        let fd = try directory(create: false).openForAppend("journal", create: false)
        return JournalFile(fd: fd, path: journalPath, crash: crash)
    }

    /// The run is over (finished or rolled back): the journal goes.
    public func removeJournal() throws(VFIOError) {
        let directory = try directory(create: false)
        try directory.remove("journal")
        try directory.sync()
    }

    // MARK: records

    /// What vfioctl recorded of functions it detached.
    public func records() throws(VFIOError) -> [FunctionBinding] {
        try read("detached", consequence: "reattach then treats the function as never recorded") {
            if case .original(let binding) = $0 { binding } else { nil }
        }
    }

    /// A records file: one journal record of one kind per line ([] when there is no file).
    func read<Record>(_ name: String, consequence: String, _ extract: (JournalRecord.Kind) -> Record?) throws(VFIOError) -> [Record] {
        let file = path + "/" + name
        guard FileRead.exists(file) else { return [] }
        guard let (bytes, _) = try directory(create: false).read(name, limit: SafeFiles.stateLimit) else { return [] }
        let text = String(decoding: bytes, as: UTF8.self)
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
        try directory(create: true).write("detached", Array(text.utf8), mode: 0o644)
    }

    /// VF attributes as they were before vfioctl first changed them.
    public func vfRecords() throws(VFIOError) -> [VFOriginal] {
        try read("vf-originals", consequence: "sriov restore then has no record of that VF") {
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
        try directory(create: true).write("vf-originals", Array(text.utf8), mode: 0o644)
    }

    // MARK: the last apply

    /// How the last `vfioctl apply` ended; nil when none has been recorded.
    public func lastApply() throws(VFIOError) -> LastRun? {
        let file = path + "/" + LastRun.fileName
        guard FileRead.exists(file) else { return nil }
        guard let (bytes, _) = try directory(create: false).read(LastRun.fileName, limit: 4096) else { return nil }
        return try LastRun.parse(String(decoding: bytes, as: UTF8.self), path: file)
    }

    /// Replaces the record of the last apply, atomically (temporary file, fsync, rename, fsync directory).
    public func recordLastApply(_ run: LastRun) throws(VFIOError) {
        try directory(create: true).write(LastRun.fileName, Array(run.fileText.utf8), mode: 0o644)
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
        guard let fd = try? directory(create: false).openForAppend("history", create: true) else { return }
        _ = FileWrite.all(fd, line)
        _ = fdatasync(fd)
        close(fd)
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

    public func append(_ kind: JournalRecord.Kind) throws(VFIOError) {
        try append(line: JournalRecord(kind).line)
    }

    func append(line: String) throws(VFIOError) {
        guard FileWrite.all(fd, line + "\n"), fdatasync(fd) == 0 else {
            throw .failed("cannot write the journal \(path): \(Errno.describe(errno))",
                          hint: "free space or fix the file system, then run 'vfioctl recover'")
        }
        written += 1
        if let crash, written == crash.after {
            switch crash.mode {
            case .kill: kill(getpid(), SIGKILL)
            case .interrupt: throw VFIOError(.interrupted, "interrupted after journal record \(written)")
            }
        }
    }

    /// The header: the run, the command, every original binding and every step, before any write.
    public func start(_ plan: Plan, command: String, started: Int) throws(VFIOError) {
        try append(line: JournalRecord.magic)
        try append(.run(operation: plan.operation, pid: Int(getpid()), started: started))
        try append(.command(command))
        for binding in plan.originals.bindings { try append(.original(binding)) }
        for original in plan.originals.vfCounts { try append(.sriov(original)) }
        for original in plan.originals.vfSettings { try append(.vf(original)) }
        for original in plan.originals.mdevs { try append(.mdev(original)) }
        if plan.operation != .detach { for record in plan.records.write { try append(.record(record.address)) } }
        for (index, step) in plan.steps.enumerated() { try append(.step(index, step)) }
    }
}
