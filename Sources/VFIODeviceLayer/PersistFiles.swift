import VFIOCore

/// What `vfioctl persist` reads: under the root, its records file and the files it writes (the
/// udev rule, the unit) as they are now, read as `SafeFiles` reads (a file too large is an
/// error, never cut short); and where this executable is, for the unit to run.
public struct PersistFiles: Sendable {
    public let root: HostRoot

    public init(root: HostRoot) {
        self.root = root
    }

    /// The file at `path` (from the root) as it is now; nil when there is none.
    public func current(_ path: String) throws(VFIOError) -> String? {
        try SafeFiles.read(path, root: root).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The records file as it is: its text (nil when there is none) and its records.
    public func records() throws(VFIOError) -> (text: String?, records: [Persist.Record]) {
        let text = try current(Persist.recordsPath)
        return (text, try text.map { text throws(VFIOError) in try Persist.parse(text) } ?? [])
    }

    /// This process's executable (/proc/self/exe of the running system, whatever the root); nil
    /// when it cannot be read.
    public static func runningExecutable() -> String? {
        FileRead.link("/proc/self/exe")
    }
}
