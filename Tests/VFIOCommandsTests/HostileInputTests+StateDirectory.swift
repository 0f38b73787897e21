import Foundation
import Glibc
import Testing
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// Special files in the state directory (issue 15, item 10).
extension HostileInputTests {
    @Test("a FIFO where the journal, the records or the VF records belong: refused at once (exit 1), dry runs included, never a hang",
          arguments: [
              ("journal", ["recover", "--dry-run"]), ("journal", ["recover", "--finish", "--dry-run"]),
              ("detached", ["reattach", "--all", "--dry-run"]), ("vf-originals", ["sriov", "restore", "10000:e1:00.0", "--dry-run"]),
          ])
    func fifoInStateDirectory(name: String, arguments: [String]) throws {
        let fake = commandFixture()
        defer { fake.remove() }
        let state = try Self.directory()
        defer { FakeSysfs.removeTree(state) }
        #expect(mkfifo(state + "/" + name, 0o600) == 0)
        let result = try Self.run(arguments + ["--root", fake.root, "--state-dir", state], timeout: 20)
        Self.expectError(result, status: 1, "\(state)/\(name) is a FIFO, not a regular file")
    }

    @Test("a FIFO as the journal: detach --dry-run says a run is unfinished instead of hanging on it")
    func fifoJournalBlocksDetach() throws {
        let fake = commandFixture()
        defer { fake.remove() }
        let state = try Self.directory()
        defer { FakeSysfs.removeTree(state) }
        #expect(mkfifo(state + "/journal", 0o600) == 0)
        let result = try Self.run(["detach", "--group", "17", "--dry-run", "--root", fake.root, "--state-dir", state], timeout: 20)
        Self.expectError(result, status: 1, "did not finish: its journal is at \(state)/journal")
    }
}
