import Foundation
import Glibc

/// Fresh directories for fake hosts and sandboxes: under $TMPDIR when it is set (scripts/test
/// points it at a tmpfs: building and removing thousands of fake trees on a disk file system was
/// most of the unit suite's system time), else /tmp.
public enum ScratchDirectory {
    public static var base: String {
        let tmp = ProcessInfo.processInfo.environment["TMPDIR"] ?? ""
        return tmp.hasPrefix("/") ? String(tmp.reversed().drop { $0 == "/" }.reversed()) : "/tmp"
    }

    /// A new directory `base/PREFIX.XXXXXX` (mkdtemp: mode 0700, a name nobody else has).
    public static func make(_ prefix: String) -> String {
        var template = Array((base + "/" + prefix + ".XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer -> Bool in
            guard let start = buffer.baseAddress else { return false }
            return mkdtemp(start) != nil
        }
        precondition(made, "mkdtemp failed in \(base): \(String(cString: strerror(errno)))")
        return template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
