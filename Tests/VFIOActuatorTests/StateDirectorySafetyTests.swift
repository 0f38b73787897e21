import Foundation
import Glibc
import Testing
import VFIOActuator
import VFIOCore
import VFIODeviceLayer
import VFIOTestSupport

/// Issue 15, item 9, for vfioctl's own state: its lock, journal, history and records files are
/// written only where they are, never through a link planted in the state directory or on the
/// way to it under the root.
@Suite("state directory: never written through a planted link")
struct StateDirectorySafetyTests {
    static let binding = FunctionBinding(address: PCIAddress("0000:01:00.0")!, group: 2, driver: "e1000e", module: "e1000e", override: nil)

    /// A file outside the root that nothing may touch.
    static func precious() -> String {
        let path = NSTemporaryDirectory() + "vfioctl-precious-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        FileManager.default.createFile(atPath: path, contents: Data("precious\n".utf8), attributes: [.posixPermissions: 0o600])
        return path
    }

    static func untouched(_ path: String) -> Bool {
        var info = stat()
        return FileManager.default.contents(atPath: path) == Data("precious\n".utf8) && stat(path, &info) == 0 && info.st_mode & 0o7777 == 0o600
    }

    /// The default state directory of the live host is /var/lib/vfioctl wherever vfioctl runs: from
    /// another directory it once took ./var/lib/vfioctl (a recover run elsewhere then missed the journal).
    @Test("the live host's state directory is /var/lib/vfioctl, not one under the current directory")
    func liveDefaultIsAbsolute() throws {
        let directory = NSTemporaryDirectory() + "vfioctl-cwd-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory + "/var/lib/vfioctl", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The test runs from the package's directory, not /: the bug would resolve below it.
        #expect(FileManager.default.currentDirectoryPath != "/")
        // The lock, the journal, the records and the history are written where it resolves.
        #expect(StateDirectory(root: .live).resolvedPath == "/var/lib/vfioctl")
        #expect(StateDirectory(root: .live).journalPath == "/var/lib/vfioctl/journal")
        // A --state-dir typed relative is taken from here; under a --root tree, from the tree.
        #expect(StateDirectory(path: "state").resolvedPath == FileManager.default.currentDirectoryPath + "/state")
        #expect(StateDirectory(root: try HostRoot(directory)).resolvedPath == directory + "/var/lib/vfioctl")
    }

    /// Everything that writes in the state directory, errors ignored (only what they write matters here).
    static func exercise(_ state: StateDirectory) {
        let lock = try? state.lock(wait: 0, holder: "vfioctl test (pid 1)", waiting: { _ in })
        try? state.updateRecords(write: [binding], drop: [])
        if let journal = try? state.openJournal(crash: nil) { try? journal.append(.finished) }
        state.appendHistory(since: 0, operation: "detach", outcome: "ok", command: "vfioctl detach 0000:01:00.0")
        lock?.release()
    }

    @Test("a link at lock, journal, history, a records file or a records file's old temporary name is never followed",
          arguments: ["lock", "journal", "history", "detached", "detached.vfioctl-new", "vf-originals.vfioctl-new"])
    func plantedFile(name: String) throws {
        let outside = Self.precious()
        defer { try? FileManager.default.removeItem(atPath: outside) }
        let fake = FakeSysfs()
        defer { fake.remove() }
        fake.makeDirectory("var/lib/vfioctl")
        symlink(outside, fake.root + "/var/lib/vfioctl/" + name)
        let state = StateDirectory(root: try HostRoot(fake.root))
        Self.exercise(state)
        #expect(Self.untouched(outside))
        if ["lock", "journal", "detached"].contains(name) {
            #expect(throws: VFIOError.self) {
                switch name {
                case "lock": _ = try state.lock(wait: 0, holder: "x", waiting: { _ in })
                case "journal": _ = try state.openJournal(crash: nil)
                default: try state.updateRecords(write: [Self.binding], drop: [])
                }
            }
        }
    }

    @Test("records are still written where the temporary name was planted, atomically; the planted link is left alone")
    func recordsBesideAPlantedLink() throws {
        let outside = Self.precious()
        defer { try? FileManager.default.removeItem(atPath: outside) }
        let fake = FakeSysfs()
        defer { fake.remove() }
        fake.makeDirectory("var/lib/vfioctl")
        symlink(outside, fake.root + "/var/lib/vfioctl/detached.vfioctl-new")
        let state = StateDirectory(root: try HostRoot(fake.root))
        try state.updateRecords(write: [Self.binding], drop: [])
        #expect(try state.records() == [Self.binding])
        #expect(Self.untouched(outside))
    }

    @Test("a directory on the way to the state directory that links out of the root is an error; nothing is created outside")
    func linkedParent() throws {
        let outside = NSTemporaryDirectory() + "vfioctl-outside-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: outside) }
        let fake = FakeSysfs()
        defer { fake.remove() }
        fake.makeDirectory("var")
        symlink(outside, fake.root + "/var/lib")
        let state = StateDirectory(root: try HostRoot(fake.root))
        do {
            _ = try state.lock(wait: 0, holder: "x", waiting: { _ in })
            Issue.record("the lock was taken through a link out of the root")
        } catch {
            #expect(error.message.contains("leads out of") && error.hint != nil, "\(error)")
        }
        Self.exercise(state)
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
    }

    @Test("a relative link that stays inside the root is followed: the state directory may live elsewhere under it")
    func linkInsideTheRoot() throws {
        let fake = FakeSysfs()
        defer { fake.remove() }
        fake.makeDirectory("data/vfioctl")
        fake.makeDirectory("var/lib")
        symlink("../../data/vfioctl", fake.root + "/var/lib/vfioctl")
        let state = StateDirectory(root: try HostRoot(fake.root))
        try state.updateRecords(write: [Self.binding], drop: [])
        #expect(FileManager.default.fileExists(atPath: fake.root + "/data/vfioctl/detached"))
        #expect(try state.records() == [Self.binding])
    }
}
