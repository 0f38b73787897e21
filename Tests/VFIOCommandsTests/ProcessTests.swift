import Foundation
import Testing
import VFIOTestSupport

@Suite("The vfioctl executable")
struct ProcessTests {
    @Test("the binary is built next to the tests")
    func exists() {
        #expect(FileManager.default.isExecutableFile(atPath: TestProcess.vfioctl), "no executable at \(TestProcess.vfioctl)")
    }

    @Test("VFIOCTL_ROOT selects the root like --root")
    func environmentRoot() throws {
        let fake = commandFixture()
        defer { fake.remove() }
        let viaEnvironment = try TestProcess.vfioctl(["list", "--format", "json"], environment: ["VFIOCTL_ROOT": fake.root])
        let viaOption = try TestProcess.vfioctl(["list", "--format", "json", "--root", fake.root])
        #expect(viaEnvironment.status == 0)
        #expect(viaEnvironment.out == viaOption.out)
        #expect(viaEnvironment.out.contains("10000:e1:10.0"))
    }

    @Test("exit statuses and streams: results on stdout, error and hint on stderr")
    func statuses() throws {
        let fake = commandFixture()
        defer { fake.remove() }
        let bad = try TestProcess.vfioctl(["show", "1:2", "--root", fake.root])
        #expect(bad.status == 64 && bad.out.isEmpty)
        #expect(bad.err.contains("error: '1:2' is not a PCI address") && bad.err.contains("hint: "))
        let missing = try TestProcess.vfioctl(["show", "0000:0f:00.0", "--root", fake.root])
        #expect(missing.status == 1 && missing.out.isEmpty)
        let ok = try TestProcess.vfioctl(["show", "0000:01:00.0", "--root", fake.root])
        #expect(ok.status == 0 && ok.err.isEmpty && ok.out.hasPrefix("0000:01:00.0"))
    }

    @Test("detach and reattach on the live host need root: a plain user gets the reason before anything is read")
    func needsRoot() throws {
        // As nobody (setpriv from util-linux), on this machine's own /sys.
        for command in [["detach", "--group", "0"], ["reattach", "--all"], ["recover"]] {
            let result = try TestProcess.run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", TestProcess.vfioctl] + command,
                                             environment: ["VFIOCTL_ROOT": ""])
            #expect(result.status == 1, "\(command): \(result.err)")
            #expect(result.err.hasPrefix("error: \(command[0]) changes the host's devices (sysfs, netlink): it needs root"), "\(result.err)")
        }
        let dryRun = try TestProcess.run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", TestProcess.vfioctl,
                                                     "detach", "--group", "999999", "--dry-run"], environment: ["VFIOCTL_ROOT": ""])
        #expect(dryRun.err.contains("no IOMMU group 999999"), "\(dryRun.err)")
    }
}
