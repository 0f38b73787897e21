import Foundation
import Glibc
import Testing
import VFIOCore
import VFIOTestSupport

/// Trees under --root that no kernel writes: numbers beyond any register, counts that would
/// loop for ever, FIFOs where files belong. The built binary runs them (a trap would kill the
/// test runner) with a deadline: each must end promptly with a clean error, never a hang or a
/// signal.
@Suite("Hostile trees under --root")
struct HostileTreeTests {
    static let nic = "0000:01:00.0"
    static let gpu = "0000:02:00.0"
    static let pf = "10000:e1:00.0"

    /// The binary on `arguments`, killed if it takes more than 30 s (a damaged tree takes milliseconds).
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> TestProcess.Result {
        try TestProcess.run(TestProcess.vfioctl, arguments, environment: environment, timeout: 30)
    }

    /// Exit 1 with `error: <message>` and a hint on stderr, nothing on stdout.
    static func expectError(_ result: TestProcess.Result, _ message: String, _ what: String,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!result.timedOut, "\(what) hung", sourceLocation: sourceLocation)
        #expect(result.status == 1, "\(what): status \(result.status), stderr: \(result.err)", sourceLocation: sourceLocation)
        #expect(result.err.hasPrefix("error: " + message), "\(what): \(result.err)", sourceLocation: sourceLocation)
        #expect(result.err.contains("\nhint: "), "\(what): \(result.err)", sourceLocation: sourceLocation)
        #expect(result.out.isEmpty, "\(what): \(result.out)", sourceLocation: sourceLocation)
    }

    /// The commands that read `address`'s directory.
    static func commands(_ address: String) -> [[String]] {
        [["list"], ["groups"], ["show", address], ["check", address], ["detach", address, "--dry-run"]]
    }

    /// commandFixture() with a GPU that has boot_vga, after `damage`.
    static func tree(_ damage: (FakeSysfs) -> Void) -> FakeSysfs {
        let fake = commandFixture()
        fake.write("sys/bus/pci/devices/\(gpu)/boot_vga", "1\n")
        damage(fake)
        return fake
    }

    /// A FIFO at `relative` instead of what was there.
    static func replace(_ fake: FakeSysfs, _ relative: String) {
        unlink(fake.root + "/" + relative)
        fake.makeDirectory(SysfsPaths.directory(of: relative))
        #expect(mkfifo(fake.root + "/" + relative, 0o644) == 0, "mkfifo \(relative)")
    }

    // MARK: numbers

    @Test("a number beyond Int in an integer attribute is an error naming the file and value, not a crash", arguments: [
        (nic, "numa_node"), (gpu, "boot_vga"), (pf, "sriov_totalvfs"), (pf, "sriov_numvfs"),
        (pf, "sriov_drivers_autoprobe"), (pf, "sriov_offset"), (pf, "sriov_stride"),
    ])
    func overflow(address: String, attribute: String) throws {
        for value in ["9999999999999999999", "99999999999999999999", "-9999999999999999999"] {
            let fake = Self.tree { $0.write("sys/bus/pci/devices/\(address)/\(attribute)", value + "\n") }
            defer { fake.remove() }
            for command in Self.commands(address) {
                let result = try Self.run(command + ["--root", fake.root])
                Self.expectError(result, "sys/bus/pci/devices/\(address)/\(attribute) holds '\(value)', not a number the kernel writes",
                                 "\(command) with \(attribute) = \(value)")
            }
        }
    }

    @Test("an iommu_group link to a group number beyond Int is an error naming the link and its target")
    func groupLink() throws {
        for target in ["../../../kernel/iommu_groups/99999999999999999999", "../../../kernel/iommu_groups/9999999999999999999",
                       "../../../kernel/iommu_groups/-1", "../../../kernel/iommu_groups/x"] {
            let fake = Self.tree { fake in
                let link = fake.root + "/" + fake.devicePath(PCIAddress(Self.nic)!) + "/iommu_group"
                unlink(link)
                symlink(target, link)
            }
            defer { fake.remove() }
            for command in Self.commands(Self.nic) {
                let result = try Self.run(command + ["--root", fake.root])
                Self.expectError(result, "sys/bus/pci/devices/\(Self.nic)/iommu_group links to '\(target)'", "\(command) with \(target)")
            }
        }
    }

    @Test("VF counts beyond the 16-bit SR-IOV registers end at once with an error, instead of a loop over every index", arguments: [
        "2147483648", "1000000000000000000", "65536", "4294967296",
    ])
    func hugeVFCounts(value: String) throws {
        // Both counts huge: the reader used to ask for virtfn0 ... virtfnN-1.
        let fake = Self.tree { fake in
            fake.write("sys/bus/pci/devices/\(Self.pf)/sriov_totalvfs", value + "\n")
            fake.write("sys/bus/pci/devices/\(Self.pf)/sriov_numvfs", value + "\n")
        }
        defer { fake.remove() }
        for command in Self.commands(Self.pf) + [["sriov", "status"]] {
            let result = try Self.run(command + ["--root", fake.root])
            Self.expectError(result, "sys/bus/pci/devices/\(Self.pf)/sriov_totalvfs holds '\(value)', not a number the kernel writes (0 to 65535)",
                             "\(command) with \(value) VFs")
        }
        // Only NumVFs huge.
        let numvfs = Self.tree { $0.write("sys/bus/pci/devices/\(Self.pf)/sriov_numvfs", value + "\n") }
        defer { numvfs.remove() }
        let result = try Self.run(["list", "--root", numvfs.root])
        Self.expectError(result, "sys/bus/pci/devices/\(Self.pf)/sriov_numvfs holds '\(value)', not a number the kernel writes (0 to 65535)",
                         "list with sriov_numvfs \(value)")
    }

    @Test("more VFs enabled than sriov_totalvfs allows is a damaged tree")
    func numVFsAboveTotal() throws {
        let fake = Self.tree { $0.write("sys/bus/pci/devices/\(Self.pf)/sriov_numvfs", "9\n") }
        defer { fake.remove() }
        let result = try Self.run(["list", "--root", fake.root])
        Self.expectError(result, "sys/bus/pci/devices/\(Self.pf)/sriov_numvfs holds '9', more than the 8 VFs its sriov_totalvfs allows", "list")
    }

    @Test("junk in an attribute the kernel always writes as a number is an error, not a silent nil", arguments: [
        (nic, "numa_node", "abc"), (nic, "numa_node", ""), (nic, "numa_node", "0x1"), (nic, "numa_node", "2147483648"),
        (gpu, "boot_vga", "2"), (gpu, "boot_vga", "yes"), (pf, "sriov_totalvfs", "-1"), (pf, "sriov_numvfs", "1.5"),
        (pf, "sriov_drivers_autoprobe", "Y"), (pf, "sriov_offset", "-1"), (pf, "sriov_stride", "65536"),
    ])
    func junk(address: String, attribute: String, value: String) throws {
        let fake = Self.tree { $0.write("sys/bus/pci/devices/\(address)/\(attribute)", value + "\n") }
        defer { fake.remove() }
        let result = try Self.run(["show", address, "--root", fake.root])
        Self.expectError(result, "sys/bus/pci/devices/\(address)/\(attribute) holds '\(value)', not a number the kernel writes",
                         "show with \(attribute) = '\(value)'")
    }

    @Test("well-formed numbers still read as before: numa_node -1 is unknown, absent SR-IOV attributes are absent")
    func wellFormed() throws {
        let fake = Self.tree { fake in
            fake.write("sys/bus/pci/devices/\(Self.nic)/numa_node", "-1\n")
            unlink(fake.root + "/" + fake.devicePath(PCIAddress(Self.pf)!) + "/sriov_offset")
            unlink(fake.root + "/" + fake.devicePath(PCIAddress(Self.pf)!) + "/sriov_numvfs")
        }
        defer { fake.remove() }
        let result = try Self.run(["list", "--format", "json", "--root", fake.root])
        #expect(result.status == 0, "\(result.err)")
        let functions = try #require(try TestProcess.json(result.out)["functions"] as? [[String: Any]])
        let nic = try #require(functions.first { $0["address"] as? String == Self.nic })
        #expect(nic["numa_node"] is NSNull)
        let pf = try #require(functions.first { $0["address"] as? String == Self.pf })
        let sriov = try #require(pf["sriov"] as? [String: Any])
        #expect(sriov["num_vfs"] as? Int == 0 && sriov["total_vfs"] as? Int == 8 && sriov["offset"] is NSNull)
        #expect(sriov["stride"] as? Int == 1)
    }

    // MARK: files that are not files

    @Test("a FIFO where a function's attribute belongs is an error naming it, never a hang (even with --dry-run)", arguments: [
        "uevent", "vendor", "config", "numa_node",
    ])
    func fifoAttribute(attribute: String) throws {
        let fake = Self.tree { fake in
            let directory = fake.devicePath(PCIAddress(Self.nic)!)
            // vendor is read only when uevent cannot give the ids.
            if attribute == "vendor" { unlink(fake.root + "/" + directory + "/uevent") }
            Self.replace(fake, directory + "/" + attribute)
        }
        defer { fake.remove() }
        for command in Self.commands(Self.nic) {
            let result = try Self.run(command + ["--root", fake.root])
            Self.expectError(result, "sys/bus/pci/devices/\(Self.nic)/\(attribute) is a FIFO, not a file the kernel writes", "\(command)")
        }
    }

    @Test("a directory where an attribute belongs is an error naming it")
    func directoryAttribute() throws {
        let fake = Self.tree { fake in
            let path = fake.devicePath(PCIAddress(Self.nic)!) + "/numa_node"
            unlink(fake.root + "/" + path)
            fake.makeDirectory(path)
        }
        defer { fake.remove() }
        let result = try Self.run(["list", "--root", fake.root])
        Self.expectError(result, "sys/bus/pci/devices/\(Self.nic)/numa_node is a directory, not a file the kernel writes", "list")
    }

    @Test("a FIFO for an IOMMU group's attribute is an error naming it")
    func fifoGroupAttribute() throws {
        let fake = Self.tree { Self.replace($0, "sys/kernel/iommu_groups/14/reserved_regions") }
        defer { fake.remove() }
        let result = try Self.run(["groups", "--root", fake.root])
        Self.expectError(result, "sys/kernel/iommu_groups/14/reserved_regions is a FIFO, not a file the kernel writes", "groups")
    }

    @Test("a FIFO for a /proc file the facts reader reads is read as unknown: check and detach --dry-run answer promptly", arguments: [
        "proc/cmdline", "proc/interrupts", "proc/modules", "proc/self/mountinfo", "proc/self/limits", "proc/cpuinfo",
        "proc/4242/comm", "proc/4242/cmdline", "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
    ])
    func fifoFacts(file: String) throws {
        let fake = commandFixtureWithUser()
        defer { fake.remove() }
        Self.replace(fake, file)
        for command in [["check", Self.nic], ["detach", Self.nic, "--dry-run"], ["list"]] {
            let result = try Self.run(command + ["--root", fake.root])
            #expect(!result.timedOut, "\(command) hung on a FIFO at \(file)")
            #expect([0, 2].contains(result.status), "\(command): \(result.status) \(result.err)")
            #expect(!result.err.contains("error:"), "\(command): \(result.err)")
        }
    }

    @Test("a FIFO for proc/cpuinfo or libvirt's index.xml makes the cpu commands fail at once, naming it")
    func fifoCPUInfo() throws {
        let fake = Self.tree { Self.replace($0, "proc/cpuinfo") }
        defer { fake.remove() }
        let result = try Self.run(["cpu", "host", "--root", fake.root, "--cpu-map", LibvirtCPU.mapDirectory])
        Self.expectError(result, "cannot read \(fake.root)/proc/cpuinfo: it is a FIFO, not a regular file", "cpu host")
        // The same for libvirt's CPU map.
        Self.replace(fake, "map/index.xml")
        let map = try Self.run(["cpu", "models", "--root", fake.root, "--cpu-map", fake.root + "/map"])
        Self.expectError(map, "libvirt's CPU map is missing: cannot read \(fake.root)/map/index.xml: it is a FIFO, not a regular file", "cpu models")
    }

    @Test("a FIFO as pci.ids is an error naming it, not a hang inside libpci")
    func fifoPCIIDs() throws {
        let fake = Self.tree { Self.replace($0, "pci.ids") }
        defer { fake.remove() }
        let result = try Self.run(["list", "--root", fake.root], environment: ["VFIOCTL_PCI_IDS": fake.root + "/pci.ids"])
        Self.expectError(result, "the pci.ids file \(fake.root)/pci.ids is a FIFO, not a regular file", "list")
    }

    @Test("links in the tree lead inside it: an attribute link is refused, a facts file linked outside is not read, snapshot copies nothing from outside")
    func linksOutside() throws {
        let outside = FakeSysfs()
        defer { outside.remove() }
        outside.write("secret", "intel_iommu=on iommu=pt\n")
        let secret = outside.root + "/secret"
        let numa = Self.tree { fake in
            let path = fake.root + "/" + fake.devicePath(PCIAddress(Self.nic)!) + "/numa_node"
            unlink(path)
            symlink(secret, path)
        }
        defer { numa.remove() }
        for command in Self.commands(Self.nic) {
            let result = try Self.run(command + ["--root", numa.root])
            Self.expectError(result, "sys/bus/pci/devices/\(Self.nic)/numa_node is a symbolic link, not a file the kernel writes", "\(command)")
        }
        let facts = Self.tree { fake in
            unlink(fake.root + "/proc/cmdline")
            symlink(secret, fake.root + "/proc/cmdline")
            FakeSysfs.removeTree(fake.root + "/proc/sys")
            symlink(String(repeating: "../", count: 30) + "proc/sys", fake.root + "/proc/sys")
        }
        defer { facts.remove() }
        // The outside file's iommu=pt would show as a finding if it were read.
        let check = try Self.run(["check", Self.nic, "--root", facts.root])
        #expect(!check.timedOut && check.out.contains("iommu.enabled") && !check.out.contains("iommu.passthrough"), "\(check.out)")
        let copy = facts.root + "-copy"
        defer { FakeSysfs.removeTree(copy) }
        let snapshot = try Self.run(["snapshot", copy, "--root", facts.root])
        #expect(snapshot.status == 0, "\(snapshot.err)")
        var info = stat()
        #expect(lstat(copy + "/proc/cmdline", &info) != 0 && lstat(copy + "/proc/sys/kernel/osrelease", &info) != 0)
    }

    @Test("snapshot of a tree with FIFOs finishes and leaves them out")
    func snapshotSkipsFIFOs() throws {
        let fake = Self.tree { fake in
            Self.replace(fake, fake.devicePath(PCIAddress(Self.nic)!) + "/numa_node")
            Self.replace(fake, "proc/cmdline")
        }
        defer { fake.remove() }
        let copy = fake.root + "-copy"
        defer { FakeSysfs.removeTree(copy) }
        let result = try Self.run(["snapshot", copy, "--root", fake.root])
        #expect(!result.timedOut && result.status == 0, "\(result.err)")
        var info = stat()
        #expect(lstat(copy + "/proc/cmdline", &info) != 0)
    }
}

/// commandFixture() with a QEMU process holding group 14 open (/proc/4242).
func commandFixtureWithUser() -> FakeSysfs {
    var fake = commandFixture()
    fake.vfioUsers = [(pid: 4242, command: "qemu-system-x86", arguments: ["qemu-system-x86_64", "-name", "guest=win11"], groups: [14])]
    fake.build()
    return fake
}
