import Foundation
import Glibc
import Testing
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// Input files that are not regular files, or too large (issue 15, item 11).
extension HostileInputTests {
    @Test("a FIFO without a writer, a directory or /dev/zero as an input file: refused at once (exit 64) with a hint, never read",
          arguments: ["fifo", "directory", "/dev/zero"])
    func specialInputFiles(kind: String) throws {
        let fake = commandFixture()
        defer { fake.remove() }
        let directory = try Self.directory()
        defer { FakeSysfs.removeTree(directory) }
        let path: String
        let what: String
        switch kind {
        case "fifo":
            path = directory + "/pools.toml"
            #expect(mkfifo(path, 0o600) == 0)
            what = "a FIFO"
        case "directory":
            path = directory + "/d.toml"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            what = "a directory"
        default:
            path = kind
            what = "a device"
        }
        let file = path
        Self.expectError(try Self.run(["check", "--domain", file, "--root", fake.root], timeout: 20), status: 64,
                         "'\(file)' is \(what), not a domain XML file")
        Self.expectError(try Self.run(["cpu", "baseline", file], timeout: 20), status: 64, "'\(file)' is \(what), not a file with <cpu>")
        if kind != "/dev/zero" {
            Self.expectError(try Self.run(["apply", file, "--dry-run", "--root", fake.root, "--state-dir", directory], timeout: 20), status: 64,
                             "'\(file)' is \(what), not a pool file (.toml)")
        }
    }

    @Test("stdin that never ends is read to 16 MiB and one byte, then refused with a hint")
    func endlessStdin() throws {
        let fake = commandFixture()
        defer { fake.remove() }
        let result = try TestProcess.run("/bin/sh", ["-c", "head -c 40000000 /dev/zero | \"$0\" check --domain - --root \"$1\"",
                                                     TestProcess.vfioctl, fake.root], timeout: 60)
        Self.expectError(result, status: 64, "stdin is larger than 16 MiB: not a domain XML file")
    }

    @Test("an input file over 16 MiB: an error with a hint")
    func largeInputFile() throws {
        let directory = try Self.directory()
        defer { FakeSysfs.removeTree(directory) }
        let path = directory + "/big.xml"
        #expect(FileManager.default.createFile(atPath: path, contents: Data(count: (16 << 20) + 1)))
        let result = Vfioctl.capture(["cpu", "baseline", path])
        #expect(result.status == 64 && result.err.contains("error: '\(path)' is larger than 16 MiB"), "\(result.err)")
        #expect(result.err.contains("\nhint: a file with <cpu> elements, 'virsh capabilities' output or a CPUID dump is far smaller"), "\(result.err)")
    }
}
