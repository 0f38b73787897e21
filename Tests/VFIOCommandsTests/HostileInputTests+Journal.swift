import Foundation
import Glibc
import Testing
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// A damaged journal (issue 15, item 5).
extension HostileInputTests {
    @Test("a journal line 'begin -1': recover --dry-run names the journal, the line and its number (exit 1) instead of trapping")
    func journalNegativeIndex() throws {
        let fake = commandFixture()
        defer { fake.remove() }
        let journal = [JournalRecord.magic, "run detach pid=7 started=1", "command vfioctl%20detach%20--group%2014",
                       "original 0000:01:00.0 group=14 driver=e1000e module=e1000e override=-",
                       "step 0 set-override 0000:01:00.0 vfio-pci", "begin -1", ""].joined(separator: "\n")
        let state = try Self.directory(["journal": journal])
        defer { FakeSysfs.removeTree(state) }
        for arguments in [["recover", "--dry-run"], ["recover", "--finish", "--dry-run"]] {
            let result = try Self.run(arguments + ["--root", fake.root, "--state-dir", state])
            Self.expectError(result, status: 1, "\(state)/journal line 6 is damaged: 'begin -1'")
        }
        #expect(FileManager.default.fileExists(atPath: state + "/journal"), "a damaged journal is kept for the admin")
    }
}
