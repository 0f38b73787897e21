/// `config cmdline|modprobe|initramfs` and `persist add|remove` with `--format json`: each file
/// the command would write, whether it differs from what it should be, and (--write) whether it
/// was written. Pure.
public enum EditOutput {
    /// One file: its text before (nil: there is none) and as it should be.
    public struct File: Sendable, Equatable {
        public var path: String
        public var old: String?
        public var new: String
        public var changed: Bool
        public var written: Bool
        /// The old file kept beside it (FILE.vfioctl.bak) when it was written.
        public var backup: String?

        public init(path: String, old: String?, new: String, changed: Bool, written: Bool = false, backup: String? = nil) {
            (self.path, self.old, self.new, self.changed, self.written, self.backup) = (path, old, new, changed, written, backup)
        }
    }

    /// `reboot` is true when a file changed: each of them acts at the next boot (after
    /// `regenerate`, the command that makes the boot loader, the initramfs or udev pick it up).
    public static func json(_ files: [File], notes: [String], regenerate: String?) -> JSON {
        .document([
            "files": .array(files.map { file in
                .object(["backup": .optional(file.backup), "changed": .bool(file.changed),
                         "diff": file.changed ? .string(TextDiff.unified(file.old ?? "", file.new, path: file.path)) : .null,
                         "path": .string(file.path), "written": .bool(file.written)])
            }),
            "notes": .strings(notes),
            "reboot": .bool(files.contains(where: \.changed)),
            "regenerate": .optional(files.contains(where: \.changed) || files.isEmpty ? regenerate : nil),
        ])
    }
}
