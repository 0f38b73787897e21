import Foundation
import Testing
import VFIOCommands
import VFIOCore
import VFIODeviceLayer
import VFIOTestSupport

struct CheckResult {
    var status: Int32
    var err: String
    var document: [String: Any]
    var findings: [[String: Any]] { document["findings"] as? [[String: Any]] ?? [] }
    var verdict: String? { document["verdict"] as? String }

    func finding(_ id: String, subject: String? = nil) -> [String: Any]? {
        findings.first { $0["id"] as? String == id && (subject == nil || $0["subject"] as? String == subject) }
    }

    func message(_ id: String, subject: String? = nil) -> String { finding(id, subject: subject)?["message"] as? String ?? "" }
    func hint(_ id: String, subject: String? = nil) -> String { finding(id, subject: subject)?["hint"] as? String ?? "" }
    func severity(_ id: String, subject: String? = nil) -> String? { finding(id, subject: subject)?["severity"] as? String }
}

func check(_ fake: FakeSysfs, _ arguments: [String]) throws -> CheckResult {
    let result = Vfioctl.capture(["check"] + arguments + ["--root", fake.root, "--format", "json"])
    return CheckResult(status: result.status, err: result.err, document: try json(result.out))
}

@Suite("check: host readiness")
struct HostCheckTests {
    @Test("a host ready for VFIO passes, and says why")
    func ready() throws {
        let fake = checkHost()
        defer { fake.remove() }
        let result = try check(fake, [])
        #expect(result.status == 0 && result.verdict == "pass")
        #expect(result.severity("iommu.enabled") == "info" && result.message("iommu.enabled").contains("9 IOMMU groups"))
        #expect(result.severity("irq-remap.active") == "info")
        #expect(result.severity("iommu.passthrough") == "info")
        #expect(result.finding("memlock.unlimited") != nil)
        #expect(result.findings.allSatisfy { $0["subject"] as? String == "host" })
    }

    @Test("VT-d in the firmware but switched off on the command line: the Intel fix")
    func iommuDisabled() throws {
        let fake = checkHost { fake in
            fake.iommuUnits = []
            fake.commandLine = "root=/dev/nvme0n1p2 intel_iommu=off"
            for position in fake.functions.indices { fake.setGroup(nil, at: position) }
        }
        defer { fake.remove() }
        let result = try check(fake, [])
        #expect(result.status == 2 && result.verdict == "fail")
        #expect(result.severity("iommu.disabled") == "error")
        #expect(result.message("iommu.disabled").contains("DMAR") && result.message("iommu.disabled").contains("intel_iommu=off"))
        #expect(result.hint("iommu.disabled").contains("remove intel_iommu=off") && result.hint("iommu.disabled").contains("intel_iommu=on"))
        #expect(result.finding("irq-remap.active") == nil, "no groups: nothing to say about remapping")
    }

    @Test("no IOMMU in the firmware of an AMD host: enable it there; amd_iommu=on is called out")
    func iommuAbsentAMD() throws {
        let fake = checkHost { fake in
            fake.iommuUnits = []
            fake.acpiTables = []
            fake.cpuVendor = "AuthenticAMD"
            fake.commandLine = "root=/dev/sda1 amd_iommu=on"
            for position in fake.functions.indices { fake.setGroup(nil, at: position) }
        }
        defer { fake.remove() }
        let result = try check(fake, [])
        #expect(result.severity("iommu.absent") == "error" && result.hint("iommu.absent").contains("AMD-Vi"))
        #expect(result.severity("cmdline.amd-iommu-on") == "warning")
        #expect(result.message("cmdline.amd-iommu-on").contains("not a valid value"))
    }

    @Test("interrupt remapping: inactive is an error, allowed-unsafe a warning naming the cost")
    func interruptRemapping() throws {
        let inactive = checkHost { $0.interruptChips = ["IO-APIC", "PCI-MSI"]; $0.commandLine += " intremap=off" }
        defer { inactive.remove() }
        let off = try check(inactive, [])
        #expect(off.status == 2 && off.severity("irq-remap.inactive") == "error")
        #expect(off.message("irq-remap.inactive").contains("intremap=off"))
        #expect(off.hint("irq-remap.inactive").contains("--allow-unsafe-interrupts"))

        let unsafe = checkHost {
            $0.interruptChips = ["IO-APIC", "PCI-MSI"]
            $0.moduleParameters["vfio_iommu_type1.allow_unsafe_interrupts"] = "Y"
        }
        defer { unsafe.remove() }
        let allowed = try check(unsafe, [])
        #expect(allowed.status == 0 && allowed.severity("irq-remap.unsafe") == "warning")
        #expect(allowed.message("irq-remap.unsafe").contains("forge MSIs"))

        let needless = checkHost { $0.moduleParameters["vfio_iommu_type1.allow_unsafe_interrupts"] = "Y" }
        defer { needless.remove() }
        #expect(try check(needless, []).severity("irq-remap.unsafe-allowed") == "warning")
    }

    @Test("VFIO modules: missing is an error, not yet loaded is information")
    func modules() throws {
        let none = checkHost { $0.loadedModules = ["kvm"]; $0.installedModules = [] }
        defer { none.remove() }
        let missing = try check(none, [])
        #expect(missing.severity("vfio.module-missing") == "error")
        #expect(missing.message("vfio.module-missing").contains("vfio_pci"))
        let unloaded = checkHost { $0.loadedModules = []; $0.installedModules = ["vfio", "vfio_pci", "vfio_iommu_type1"] }
        defer { unloaded.remove() }
        let later = try check(unloaded, [])
        #expect(later.severity("vfio.module-not-loaded") == "info" && later.status == 0)
        let builtin = checkHost { $0.loadedModules = []; $0.installedModules = []; $0.builtinModules = ["vfio", "vfio_iommu_type1", "vfio_pci"] }
        defer { builtin.remove() }
        #expect(try check(builtin, []).finding("vfio.module-missing") == nil)
    }

    @Test("/dev/vfio/vfio: missing while vfio is loaded, or not 0666")
    func containerNode() throws {
        let missing = checkHost { $0.vfioContainerMode = nil }
        defer { missing.remove() }
        #expect(try check(missing, []).severity("vfio.container-missing") == "error")
        let tight = checkHost { $0.vfioContainerMode = 0o600 }
        defer { tight.remove() }
        let result = try check(tight, [])
        #expect(result.severity("vfio.container-mode") == "warning" && result.message("vfio.container-mode").contains("0600"))
    }

    @Test("a finite memlock limit is a warning with the number")
    func memlock() throws {
        let fake = checkHost { $0.memlock = ("8388608", "8388608") }
        defer { fake.remove() }
        let result = try check(fake, [])
        #expect(result.severity("memlock.limited") == "warning" && result.message("memlock.limited").contains("8 MiB"))
    }
}

@Suite("check: devices and groups")
struct DeviceCheckTests {
    @Test("an isolated NIC on its host driver: the group is not viable until it is detached")
    func hostDriverBlocks() throws {
        let fake = checkHost()
        defer { fake.remove() }
        let result = try check(fake, ["0000:01:00.0"])
        #expect(result.status == 2)
        #expect(result.severity("group.not-viable", subject: "group 2") == "error")
        #expect(result.message("group.not-viable").contains("0000:01:00.0 (e1000e)"))
        #expect(result.hint("group.not-viable").contains("vfioctl detach --group 2"))
        #expect(result.severity("reset.function-level", subject: "0000:01:00.0") == "info")
        let groups = try #require(result.document["groups"] as? [[String: Any]])
        #expect(groups.first?["viable"] as? Bool == false)
    }

    @Test("the bridged group: one NIC on vfio is not enough; the bridge itself never blocks")
    func bridgedGroup() throws {
        let half = checkHost { $0.setDriver("vfio-pci", for: "0000:02:01.0") }
        defer { half.remove() }
        let partial = try check(half, ["0000:02:01.0"])
        #expect(partial.status == 2)
        #expect(partial.message("group.not-viable").contains("0000:02:02.0 (e1000)"))
        #expect(!partial.message("group.not-viable").contains("0000:02:01.0 (vfio-pci)"))
        #expect(partial.message("acs.group-shared").contains("sit behind 0000:00:1e.0, a conventional PCI bridge"))
        // Only a bus reset, and the other NIC shares the bus: it would be reset too.
        #expect(partial.severity("reset.bus", subject: "0000:02:01.0") == "warning")
        #expect(partial.message("reset.bus", subject: "0000:02:01.0").contains("0000:02:02.0 (8086:100e, e1000)"))
        let whole = checkHost { fake in
            fake.setDriver("vfio-pci", for: "0000:02:01.0")
            fake.setDriver("vfio-pci", for: "0000:02:02.0")
            fake.vfioGroupNodes = [3, 8]
        }
        defer { whole.remove() }
        let viable = try check(whole, ["--group", "3"])
        #expect(viable.status == 0, "\(viable.findings)")
        #expect(viable.severity("group.viable", subject: "group 3") == "info")
        #expect(viable.document["targets"] as? [String] == ["0000:02:01.0", "0000:02:02.0"])
        // Both NICs go to the guest: the bus reset takes nothing else with it.
        #expect(viable.severity("reset.bus", subject: "0000:02:01.0") == nil)
        #expect(viable.message("reset.limited", subject: "0000:02:01.0").contains("whose other functions all go to the same guest"))
    }

    @Test("allowed drivers: since 5.19 driver_managed_dma ones (pcieport, pci-stub); before, pci-stub and any bridge driver")
    func allowedDrivers() throws {
        let shared = { (release: String, bridgeDriver: String) in
            checkHost { fake in
                fake.kernelRelease = release
                fake.setGroup(2, for: "0000:00:1c.0")
                fake.setDriver(bridgeDriver, for: "0000:00:1c.0")
                fake.setDriver("vfio-pci", for: "0000:01:00.0")
                fake.vfioGroupNodes = [2]
            }
        }
        for (release, driver, passes) in [("6.1.0-56-amd64", "pcieport", true), ("6.1.0-56-amd64", "shpchp", false),
                                           ("5.15.0-91-generic", "pcieport", true), ("5.15.0-91-generic", "shpchp", true)] {
            let host = shared(release, driver)
            defer { host.remove() }
            let result = try check(host, ["0000:01:00.0"])
            #expect((result.status == 0) == passes, "\(release) \(driver): \(result.findings)")
            if !passes { #expect(result.message("group.not-viable").contains("0000:00:1c.0 (shpchp)")) }
        }
        let stub = checkHost { fake in
            fake.kernelRelease = "5.4.0-150-generic"
            fake.setDriver("pci-stub", for: "0000:02:01.0")
            fake.setDriver("vfio-pci", for: "0000:02:02.0")
            fake.vfioGroupNodes = [3]
        }
        defer { stub.remove() }
        #expect(try check(stub, ["0000:02:02.0"]).status == 0)
    }

    @Test("the boot NVMe: root and boot filesystems and swap are named; it is an error")
    func hostCriticalDisk() throws {
        let fake = checkHost()
        defer { fake.remove() }
        let result = try check(fake, ["03:00.0"])
        let message = result.message("device.host-critical", subject: "0000:03:00.0")
        #expect(result.severity("device.host-critical", subject: "0000:03:00.0") == "error")
        #expect(message.contains("the root filesystem (/) on nvme0n1p2"))
        #expect(message.contains("the boot filesystem (/boot/efi) on nvme0n1p1"))
        #expect(message.contains("swap on nvme0n1p3"))
    }

    @Test("LVM on the disk: the device-mapper holder and what it carries")
    func stackedDisk() throws {
        let fake = checkHost { fake in
            fake.mounts = [("254:0", "/srv", "xfs", "/dev/mapper/vg-srv")]
            fake.swaps = []
            fake.stackedBlockDevices = [("dm-0", "254:0", ["nvme0n1p3"])]
        }
        defer { fake.remove() }
        let message = try check(fake, ["03:00.0"]).message("device.host-critical")
        #expect(message.contains("nvme0n1p3 is part of dm-0, a device-mapper (LVM, dm-crypt or multipath) device holding a mounted xfs filesystem (/srv) on dm-0"))
    }

    @Test("NVMe native multipath: root on the head's partition (under the nvme-subsystem) is seen through the controller's hidden path")
    func multipathDisk() throws {
        // As QEMU 10's NVMe and dual-port drives appear with CONFIG_NVME_MULTIPATH: only the hidden
        // path nvme0c0n1 sits under the PCI function; nvme0n1 and its partitions under
        // /sys/devices/virtual/nvme-subsystem. The guard missed the mounted root before.
        let fake = checkHost { fake in
            fake.setBlockDevices([("nvme0c0n1", "nvme/nvme0/nvme0c0n1")], for: "0000:03:00.0")
            fake.blockDeviceNumbers = ["nvme0c0n1": "259:9"]
        }
        defer { fake.remove() }
        let head = "sys/devices/virtual/nvme-subsystem/nvme-subsys0/nvme0n1"
        fake.write(head + "/dev", "259:0\n")
        fake.link("sys/class/block/nvme0n1", to: head)
        for (partition, number) in [("nvme0n1p1", "259:1"), ("nvme0n1p2", "259:2"), ("nvme0n1p3", "259:3")] {
            fake.write(head + "/" + partition + "/dev", number + "\n")
            fake.write(head + "/" + partition + "/partition", String(partition.last!) + "\n")
            fake.link("sys/class/block/" + partition, to: head + "/" + partition)
        }
        let result = try check(fake, ["03:00.0"])
        let message = result.message("device.host-critical", subject: "0000:03:00.0")
        #expect(result.severity("device.host-critical", subject: "0000:03:00.0") == "error", "\(message)")
        #expect(message.contains("the root filesystem (/) on nvme0n1p2"), "\(message)")
        #expect(message.contains("swap on nvme0n1p3"), "\(message)")
        let shown = try JSONSerialization.jsonObject(with: Data(Vfioctl.capture(["show", "03:00.0", "--format", "json", "--root", fake.root]).out.utf8))
        #expect(((shown as? [String: Any])?["function"] as? [String: Any])?["block_devices"] as? [String]
                    == ["nvme0n1", "nvme0n1p1", "nvme0n1p2", "nvme0n1p3"], "\(shown)")
    }

    @Test("a NIC with the default route, addresses, or in a bond is critical; an idle one is not")
    func hostCriticalNetwork() throws {
        let routed = checkHost { fake in
            fake.ipv4Routes = [("enp1s0", true)]
            fake.ipv4Addresses = ["enp1s0": ["192.0.2.10/24"]]
        }
        defer { routed.remove() }
        let message = try check(routed, ["01:00.0"]).message("device.host-critical")
        #expect(message.contains("enp1s0 carries the default route") && message.contains("addresses 192.0.2.10/24"))
        let bonded = checkHost { $0.netMasters = ["enp1s0": "bond0"] }
        defer { bonded.remove() }
        #expect(try check(bonded, ["01:00.0"]).message("device.host-critical").contains("enslaved to bond0"))
        let idle = checkHost()
        defer { idle.remove() }
        #expect(try check(idle, ["01:00.0"]).finding("device.host-critical") == nil)
    }

    @Test("the boot GPU drawing the console, with the AMD reset bug and only a bus reset")
    func gpu() throws {
        let fake = checkHost()
        defer { fake.remove() }
        let result = try check(fake, ["04:00.0"])
        #expect(result.message("device.host-critical", subject: "0000:04:00.0").contains("draws the host console (fb0)"))
        #expect(result.severity("reset.amd-reset-bug") == "warning" && result.message("reset.amd-reset-bug").contains("Polaris 10"))
        #expect(result.hint("reset.amd-reset-bug").contains("vendor-reset"))
        #expect(result.message("reset.bus", subject: "0000:04:00.0").contains("0000:04:00.1"))
        #expect(result.message("acs.group-shared").contains("multifunction device 0000:04:00.0"))
        let headless = checkHost { $0.framebuffers = [:] }
        defer { headless.remove() }
        #expect(try check(headless, ["04:00.0"]).severity("device.boot-vga", subject: "0000:04:00.0") == "warning")
    }

    @Test("a bridge is never a target; an unknown address or group is bad input")
    func badTargets() throws {
        let fake = checkHost()
        defer { fake.remove() }
        #expect(try check(fake, ["00:1e.0"]).severity("device.bridge") == "error")
        let unknown = Vfioctl.capture(["check", "0000:09:00.0", "--root", fake.root])
        #expect(unknown.status == 1 && unknown.err.contains("error: no PCI function 0000:09:00.0") && unknown.out.isEmpty)
        let group = Vfioctl.capture(["check", "--group", "99", "--root", fake.root])
        #expect(group.status == 1 && group.err.contains("no IOMMU group 99"))
        let malformed = Vfioctl.capture(["check", "1:2", "--root", fake.root])
        #expect(malformed.status == 64 && malformed.err.contains("'1:2' is not a PCI address"))
    }

    @Test("a VF: its PF must keep a driver; a PF that is down is a warning")
    func virtualFunction() throws {
        let fake = checkHost()
        defer { fake.remove() }
        let result = try check(fake, ["05:10.0"])
        #expect(result.status == 0, "\(result.findings)")
        #expect(result.severity("sriov.pf-down") == "warning" && result.message("sriov.pf-down").contains("enp5s0f0 is down"))
        let orphan = checkHost { $0.setDriver(nil, for: "0000:05:00.0") }
        defer { orphan.remove() }
        #expect(try check(orphan, ["05:10.0"]).severity("sriov.pf-no-driver") == "error")
    }

    @Test("text output groups findings by subject and ends with the verdict")
    func text() throws {
        let fake = checkHost()
        defer { fake.remove() }
        let result = Vfioctl.capture(["check", "02:01.0", "--root", fake.root])
        #expect(result.status == 2)
        let lines = result.out.split(separator: "\n").map(String.init)
        #expect(lines.first == "Host")
        #expect(lines.contains("0000:02:01.0") && lines.contains("group 3"))
        #expect(lines.last == "verdict: fail (1 error, 1 warning)")
        let brief = Vfioctl.capture(["check", "02:01.0", "--root", fake.root, "--brief"])
        #expect(!brief.out.contains("  info  "))
    }
}

@Suite("check: nested virtualization")
struct NestedCheckTests {
    @Test("Intel with nested and VMCS shadowing on", arguments: [true])
    func enabled(_: Bool) throws {
        let fake = checkHost()
        defer { fake.remove() }
        let result = try check(fake, ["--nested"])
        #expect(result.severity("nested.enabled") == "info" && result.finding("nested.shadow-vmcs-off") == nil)
    }

    @Test("nested off: the modprobe.d line that fixes it; shadow VMCS off: a warning")
    func disabled() throws {
        let off = checkHost { $0.moduleParameters["kvm_intel.nested"] = "N" }
        defer { off.remove() }
        let result = try check(off, ["--nested"])
        #expect(result.status == 2 && result.hint("nested.disabled").contains("options kvm_intel nested=1 enable_shadow_vmcs=1"))
        let slow = checkHost { $0.moduleParameters["kvm_intel.enable_shadow_vmcs"] = "N" }
        defer { slow.remove() }
        #expect(try check(slow, ["--nested"]).severity("nested.shadow-vmcs-off") == "warning")
    }

    @Test("no vmx/svm: the firmware switch; AMD reads kvm_amd")
    func hardware() throws {
        let none = checkHost { $0.cpuFlags = "fpu vme" }
        defer { none.remove() }
        #expect(try check(none, ["--nested"]).severity("nested.no-hardware-virtualization") == "error")
        let amd = checkHost { fake in
            fake.cpuFlags = "fpu svm npt"
            fake.cpuVendor = "AuthenticAMD"
            fake.moduleParameters = ["kvm_amd.nested": "1", "vfio_iommu_type1.allow_unsafe_interrupts": "N"]
        }
        defer { amd.remove() }
        let result = try check(amd, ["--nested"])
        #expect(result.message("nested.enabled").contains("kvm_amd"))
    }
}

@Suite("check --domain and the libvirt hook")
struct DomainCheckTests {
    static func domain(_ devices: String) -> String {
        "<domain type='kvm'><name>guest1</name><devices>\(devices)</devices></domain>"
    }

    static func hostdev(_ bus: String, _ slot: String, managed: Bool) -> String {
        "<hostdev mode='subsystem' type='pci' managed='\(managed ? "yes" : "no")'><source><address domain='0x0000' bus='\(bus)' slot='\(slot)' function='0x0'/></source></hostdev>"
    }

    func write(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "vfioctl-domain-\(UUID().uuidString).xml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("managed hostdevs may still be on host drivers: libvirt detaches them")
    func managed() throws {
        let fake = checkHost()
        defer { fake.remove() }
        let file = try write(Self.domain(Self.hostdev("0x02", "0x01", managed: true) + Self.hostdev("0x02", "0x02", managed: true)))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try check(fake, ["--domain", file])
        #expect(result.status == 0, "\(result.findings)")
        #expect(result.severity("device.libvirt-detaches", subject: "0000:02:01.0") == "info")
        let members = (result.document["groups"] as? [[String: Any]])?.first?["members"] as? [[String: Any]] ?? []
        #expect(members.filter { $0["detached_by_libvirt"] as? Bool == true }.count == 2)
    }

    @Test("a group member left out of the domain blocks: add it with managed='yes' or detach it")
    func outsider() throws {
        let fake = checkHost()
        defer { fake.remove() }
        let file = try write(Self.domain(Self.hostdev("2", "1", managed: true)))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try check(fake, ["--domain", file])
        #expect(result.status == 2)
        #expect(result.hint("group.not-viable").contains("add 0000:02:02.0 to the guest with managed='yes'"))
    }

    @Test("a VF with a MAC or VLAN needs its PF up: an error for such a domain")
    func hostdevInterface() throws {
        let fake = checkHost()
        defer { fake.remove() }
        let file = try write(Self.domain("<interface type='hostdev' managed='yes'><source><address type='pci' domain='0' bus='5' slot='0x10' function='0'/></source><mac address='52:54:00:00:00:01'/></interface>"))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try check(fake, ["--domain", file])
        #expect(result.status == 2 && result.severity("sriov.pf-down") == "error")
        #expect(result.message("sriov.pf-down").contains("libvirt refuses"))
    }

    @Test("bad domain input: malformed XML, unreadable file, unknown device")
    func badDomain() throws {
        let fake = checkHost()
        defer { fake.remove() }
        let broken = try write("<domain>\n<devices>\n</domain>")
        defer { try? FileManager.default.removeItem(atPath: broken) }
        let malformed = Vfioctl.capture(["check", "--domain", broken, "--root", fake.root])
        #expect(malformed.status == 64 && malformed.err.contains("malformed XML at line 3"))
        let missing = Vfioctl.capture(["check", "--domain", "/nonexistent/guest.xml", "--root", fake.root])
        #expect(missing.status == 64 && missing.err.contains("cannot read '/nonexistent/guest.xml'"))
        let absent = try write(Self.domain(Self.hostdev("0x09", "0x00", managed: true)))
        defer { try? FileManager.default.removeItem(atPath: absent) }
        let unknown = try check(fake, ["--domain", absent])
        #expect(unknown.status == 2 && unknown.severity("device.unknown", subject: "0000:09:00.0") == "error")
    }

    @Test("--libvirt-hook: XML on stdin, reasons on stderr, exit 2, nothing on stdout")
    func hook() throws {
        let fake = checkHost()
        defer { fake.remove() }
        let blocked = try TestProcess.vfioctl(["check", "--libvirt-hook", "--root", fake.root],
                                             input: Self.domain(Self.hostdev("0x02", "0x01", managed: false)))
        #expect(blocked.status == 2 && blocked.out.isEmpty)
        #expect(blocked.err.contains("vfioctl: guest 'guest1': error: group 3: group 3 is not viable"))
        let fine = try TestProcess.vfioctl(["check", "--libvirt-hook", "--root", fake.root],
                                          input: Self.domain(Self.hostdev("0x02", "0x01", managed: true) + Self.hostdev("2", "2", managed: true)))
        #expect(fine.status == 0 && fine.out.isEmpty, "\(fine.err)")
    }

    /// scripts/libvirt-hook, run the way libvirt runs it: GUEST OPERATION SUB-OPERATION EXTRA, XML on stdin.
    func runHook(_ arguments: [String], vfioctl: String = TestProcess.vfioctl, root: String, input: String) throws -> TestProcess.Result {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/libvirt-hook").path
        return try TestProcess.run("/bin/sh", [script] + arguments, environment: ["VFIOCTL": vfioctl, "VFIOCTL_ROOT": root],
                                   input: input, timeout: 60)
    }

    @Test("scripts/libvirt-hook: stops a start on a verdict only; other operations and a missing tool pass")
    func hookScript() throws {
        let fake = checkHost()
        defer { fake.remove() }
        let blocking = Self.domain(Self.hostdev("0x02", "0x01", managed: false))
        let blocked = try runHook(["guest1", "prepare", "begin", "-"], root: fake.root, input: blocking)
        #expect(blocked.status == 1, "libvirt stops the start on any non-zero exit")
        #expect(blocked.err.contains("vfioctl: guest 'guest1': error: group 3: group 3 is not viable"))
        let fine = try runHook(["guest1", "prepare", "begin", "-"], root: fake.root,
                               input: Self.domain(Self.hostdev("0x02", "0x01", managed: true) + Self.hostdev("2", "2", managed: true)))
        #expect(fine.status == 0 && fine.err.isEmpty, "\(fine.err)")
        for operation in [["start", "begin"], ["release", "end"], ["migrate", "begin"], ["prepare", "end"]] {
            let other = try runHook(["guest1"] + operation + ["-"], root: fake.root, input: blocking)
            #expect(other.status == 0 && other.err.isEmpty, "\(operation)")
        }
        let missing = try runHook(["guest1", "prepare", "begin", "-"], vfioctl: "/nonexistent/vfioctl", root: fake.root, input: blocking)
        #expect(missing.status == 0 && missing.err.contains("/nonexistent/vfioctl is not installed; 'guest1' starts unchecked"))
        // vfioctl's own failure (here: a root that is not a host) is not the guest's: warn, start.
        let broken = try runHook(["guest1", "prepare", "begin", "-"], root: "/nonexistent-root", input: blocking)
        #expect(broken.status == 0 && broken.err.contains("could not run (exit"), "\(broken.err)")
    }
}

/// `check` on snapshots of the lab's real kernel (fixtures/lab, from scripts/lab snapshot): the
/// facts Linux 6.1 really shows for each IOMMU state, read back without a kernel.
@Suite("check on real-kernel snapshots")
struct CheckFixtureTests {
    static func fixture(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fixtures/lab/" + name).path
    }

    static func check(_ name: String, _ arguments: [String] = []) throws -> CheckResult {
        let result = Vfioctl.capture(["check"] + arguments + ["--root", fixture(name), "--format", "json"])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as? [String: Any], "\(result.err)")
        return CheckResult(status: result.status, err: result.err, document: document)
    }

    @Test("IOMMU states as the kernel showed them", arguments: [
        ("passthrough", "iommu.enabled", "irq-remap.active"),
        ("no-intremap", "iommu.enabled", "irq-remap.inactive"),
        ("iommu-off", "iommu.disabled", nil),
        ("no-vtd", "iommu.absent", nil),
        ("passthrough-5.10", "iommu.enabled", "irq-remap.active"),
        ("passthrough-6.12", "iommu.enabled", "irq-remap.active"),
        ("amd-iommu", "iommu.enabled", "irq-remap.active"),
    ] as [(String, String, String?)])
    func iommuStates(name: String, iommu: String, remapping: String?) throws {
        let result = try Self.check(name)
        #expect(result.finding(iommu) != nil, "\(name): \(result.findings)")
        if let remapping { #expect(result.finding(remapping) != nil, "\(name): \(result.findings)") }
        #expect((result.status == 0) == ["passthrough", "passthrough-5.10", "passthrough-6.12", "amd-iommu"].contains(name),
                "\(name): \(result.findings)")
    }

    /// The verdict-only boots CI no longer runs (`ci=no` in lab/boots, `scripts/lab test --all`
    /// still does): the same judgement as their lab suites (IOMMUKindBootTests), on their snapshots.
    @Test("no groups, and why, as the lab's kernels showed it: amd_iommu=off with AMD-Vi in the firmware; a VIOT on a kernel without CONFIG_VIRTIO_IOMMU",
          arguments: [
              ("amd-iommu-off", "amd_iommu=off", ["amd_iommu=off", "AMD-Vi"]),
              ("virtio-iommu-6.1", "CONFIG_VIRTIO_IOMMU", ["virtio-iommu", "CONFIG_VIRTIO_IOMMU"]),
          ] as [(String, String, [String])])
    func causeOfNoGroups(name: String, hint: String, evidence: [String]) throws {
        let groups = Vfioctl.capture(["groups", "--root", Self.fixture(name)])
        #expect(groups.status == 0 && groups.out.contains("No IOMMU groups"), "\(groups.out)")
        #expect(groups.err.contains(hint) && !groups.err.contains("firmware setup"), "\(groups.err)")
        let result = try Self.check(name)
        #expect(result.status != 0 && result.finding("iommu.absent") == nil, "\(result.findings)")
        let messages = result.findings.compactMap { $0["message"] as? String }.joined(separator: "\n")
        for word in evidence { #expect(messages.contains(word), "\(name): \(messages)") }
        if name == "amd-iommu-off" {
            #expect(result.message("iommu.disabled").contains("amd_iommu=off") && result.message("iommu.disabled").contains("AMD-Vi"), "\(result.findings)")
        }
    }

    @Test("the snapshot's devices: isolated NICs on e1000e, the bridged pair, an idle NVMe disk")
    func devices() throws {
        let snapshot = try DeviceLayer(root: HostRoot(Self.fixture("passthrough"))).snapshot()
        let isolated = try #require(snapshot.functions.first { $0.ids == "8086:10d3" && snapshot.function($0.parent!)?.ids == "1b36:000c" })
        let hosted = try Self.check("passthrough", [isolated.address.description])
        #expect(hosted.status == 2 && hosted.finding("group.not-viable") != nil)
        // Nothing in the guest used the NVMe disk when the snapshot was taken: no guard finding.
        let disk = try #require(snapshot.functions.first { $0.driver == "nvme" && $0.sriov == nil && !$0.blockDevices.isEmpty })
        let nvme = try Self.check("passthrough", [disk.address.description])
        #expect(nvme.finding("device.host-critical") == nil, "\(nvme.findings)")
        #expect(nvme.finding("reset.function-level", subject: disk.address.description) != nil, "\(nvme.findings)")
    }

    @Test("Linux 5.10 lists no reset_method: the NVMe disk still resets on its own, read from config space and said so")
    func olderKernel() throws {
        let snapshot = try DeviceLayer(root: HostRoot(Self.fixture("passthrough-5.10"))).snapshot()
        let disk = try #require(snapshot.functions.first { $0.driver == "nvme" && $0.sriov == nil && !$0.blockDevices.isEmpty })
        let nvme = try Self.check("passthrough-5.10", [disk.address.description])
        let reset = try #require(nvme.finding("reset.function-level", subject: disk.address.description), "\(nvme.findings)")
        #expect((reset["message"] as? String ?? "").contains("resets on its own (flr") && (reset["message"] as? String ?? "").contains("(read from config space: this kernel lists no reset_method)"), "\(reset)")
        #expect(nvme.findings.allSatisfy { ($0["message"] as? String ?? "").range(of: "only by $", options: .regularExpression) == nil })
    }
}
