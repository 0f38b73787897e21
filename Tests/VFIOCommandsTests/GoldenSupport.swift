import Foundation
import Testing
import VFIOCommands
import VFIOCore

/// The golden documents: each command's `--format json` output on a fixed fake host, kept under
/// Tests/VFIOCommandsTests/Golden and compared byte for byte (docs/json.md, "Golden documents").
enum Golden {
    /// What regenerates every golden file (then review the diff: it is an API change).
    static let regenerate = "VFIOCTL_UPDATE_GOLDEN=1 swift test --filter GoldenTests"

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden").path
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    /// The names every golden document uses, whatever pci.ids this machine has.
    static let pciIDs = repository + "/fixtures/test-pci.ids"

    static func path(_ name: String) -> String { directory + "/" + name + ".json" }

    /// One command's run, as the golden test sees it.
    struct Run {
        var status: Int32
        var out: String
        var err: String
        /// The fake host's directory (`--root`), replaced by `<root>` in the document.
        var root: String
    }

    /// Keys whose values differ between runs of the same command on the same tree: the pid and
    /// start time (seconds since the epoch) a journal records, and its command line (the
    /// process's: in process, the test runner's).
    static let varyingNumbers = ["pid", "started"]
    static let varyingStrings = ["command"]

    /// The one normaliser: the fake root's path (a fresh temporary directory per run) becomes
    /// `<root>` wherever it appears, and the value of a varying key becomes the string
    /// `"<key>"`. Nothing else changes: what is left must be the same on every run and machine.
    static func normalise(_ text: String, root: String) -> String {
        var text = root.isEmpty ? text : text.replacingOccurrences(of: root, with: "<root>")
        // Each key sits on its own line: `"pid": 4242,`, or without the comma when last.
        let patterns = varyingNumbers.map { ($0, "-?[0-9]+") } + varyingStrings.map { ($0, #""(?:[^"\\]|\\.)*""#) }
        for (key, value) in patterns {
            guard let pattern = try? Regex("\"\(key)\": " + value) else { continue }
            text = text.replacing(pattern, with: "\"\(key)\": \"<\(key)>\"")
        }
        return text
    }

    /// VFIOCTL_UPDATE_GOLDEN=1 rewrites the files instead of comparing; never in CI.
    static var updating: Bool {
        let environment = ProcessInfo.processInfo.environment
        guard environment["VFIOCTL_UPDATE_GOLDEN"] == "1" else { return false }
        if environment["CI"] == "true" {
            Issue.record("VFIOCTL_UPDATE_GOLDEN=1 with CI=true: golden files are never rewritten in CI; unset it")
            return false
        }
        return true
    }

    /// Compares `actual` with the golden file `name`, or rewrites the file in update mode. A
    /// mismatch is an issue with a unified diff (golden → actual) and the command to regenerate.
    static func compare(_ actual: String, name: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let file = path(name)
        let expected = try? String(contentsOfFile: file, encoding: .utf8)
        if updating {
            if expected != actual {
                do {
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                    try actual.write(toFile: file, atomically: true, encoding: .utf8)
                } catch {
                    Issue.record("cannot write \(file): \(error)", sourceLocation: sourceLocation)
                }
            }
            return
        }
        guard let expected else {
            Issue.record("no golden file Golden/\(name).json: create it with \(regenerate), and review it", sourceLocation: sourceLocation)
            return
        }
        guard expected != actual else { return }
        let diff = TextDiff.unified(expected, actual, path: "Golden/\(name).json")
        Issue.record("""
            Golden/\(name).json differs from the output (a change to a golden file is an API change: \
            review it, and docs/json.md with it; to accept it: \(regenerate)):
            \(diff)
            """, sourceLocation: sourceLocation)
    }

    /// Every key path of a JSON document: `functions[].sriov.vfs` for a key under the objects of
    /// the list `functions`. Lists of values add nothing below their own path.
    static func keyPaths(_ document: Any, prefix: String = "") -> Set<String> {
        var paths: Set<String> = []
        if let object = document as? [String: Any] {
            for (key, value) in object {
                let path = prefix.isEmpty ? key : prefix + "." + key
                paths.insert(path)
                paths.formUnion(keyPaths(value, prefix: path))
            }
        } else if let array = document as? [Any] {
            for element in array { paths.formUnion(keyPaths(element, prefix: prefix + "[]")) }
        }
        return paths
    }
}
