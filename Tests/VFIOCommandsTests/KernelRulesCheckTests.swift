import Foundation
import Testing
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// Resets, ACS and links as the kernel and vfio-pci handle them (issue 18): each case is a small
/// host built to the kernel's own rules (drivers/pci/pci.c, drivers/iommu/iommu.c, drivers/vfio/pci).
@Suite("check: resets, ACS and links as the kernel does them")
struct KernelRulesCheckTests {
    /// A root port at 00:01.0 (ACS as given) with a two-function device below it.
    static func host(portACS: ACSCapability? = ACSCapability(capability: 0x1f, control: 0x1d), portDevice: UInt16 = 0x0c01,
                     adjust: (inout FakeFunction, inout FakeFunction) -> Void = { _, _ in }) -> FakeSysfs {
        var fake = FakeSysfs()
        fake.withIOMMU()
        var port = FakeFunction("0000:00:01.0", vendor: 0x8086, device: portDevice, class: 0x060400, group: 1, driver: "pcieport")
        port.config?.pcieType = .rootPort
        port.config?.acs = portACS
        port.config?.linkCapability = (3, 16)
        fake.add(port)
        var gpu = FakeFunction("0000:01:00.0", vendor: 0x10de, device: 0x1b80, class: 0x030000, parent: "0000:00:01.0", group: 2,
                               driver: "vfio-pci")
        gpu.config?.multifunction = true
        gpu.resetMethods = []
        var audio = FakeFunction("0000:01:00.1", vendor: 0x10de, device: 0x10f0, class: 0x040300, parent: "0000:00:01.0", group: 2,
                                 driver: "vfio-pci")
        audio.config?.multifunction = true
        audio.resetMethods = []
        adjust(&gpu, &audio)
        fake.add(gpu)
        fake.add(audio)
        fake.build()
        return fake
    }

    @Test("a GPU sharing its bus with its audio function: the kernel lists no method, vfio-pci's bus reset still resets it, and says what else it takes")
    func sharedBus() throws {
        let fake = Self.host()
        defer { fake.remove() }
        let alone = try check(fake, ["01:00.0"])
        #expect(alone.finding("reset.none") == nil, "\(alone.findings)")
        #expect(alone.severity("reset.bus", subject: "0000:01:00.0") == "warning")
        #expect(alone.message("reset.bus", subject: "0000:01:00.0").contains("the bus below 0000:00:01.0, which also resets 0000:01:00.1"))
        #expect(alone.hint("reset.bus", subject: "0000:01:00.0").contains("assign 0000:01:00.1 to the same guest"))
        let together = try check(fake, ["01:00.0", "01:00.1"])
        #expect(together.finding("reset.bus") == nil)
        #expect(together.message("reset.limited", subject: "0000:01:00.0").contains("whose other functions all go to the same guest"))
    }

    @Test("reset.none only where nothing can reset it: a function on a root bus with no method")
    func nothingResets() throws {
        var fake = FakeSysfs()
        defer { fake.remove() }
        fake.withIOMMU()
        var f = FakeFunction("0000:00:02.0", vendor: 0x8086, device: 0x1912, class: 0x030000, group: 1, driver: "vfio-pci")
        f.resetMethods = []
        fake.add(f)
        fake.build()
        let result = try check(fake, ["00:02.0"])
        #expect(result.severity("reset.none", subject: "0000:00:02.0") == "warning")
        #expect(result.message("reset.none").contains("root bus"))
    }

    @Test("a kernel before 5.15 (a reset attribute, no reset_method): methods from config space, never an empty list")
    func olderKernel() throws {
        func older(flr: Bool, shortConfig: Bool = false) throws -> CheckResult {
            let fake = Self.host { gpu, _ in
                gpu.resetMethods = nil
                gpu.extraAttributes = [:]
                gpu.config?.flr = flr
                if shortConfig { gpu.config?.size = 64 }
            }
            defer { fake.remove() }
            // The kernel creates `reset` when some method works: write it as an old kernel would.
            fake.write(fake.devicePath(PCIAddress("0000:01:00.0")!) + "/reset", "", mode: 0o200)
            return try check(fake, ["01:00.0"])
        }
        let withFLR = try older(flr: true)
        #expect(withFLR.message("reset.function-level", subject: "0000:01:00.0").contains("(flr"))
        #expect(withFLR.message("reset.function-level").contains("this kernel lists no reset_method"))
        let unreadable = try older(flr: false, shortConfig: true)
        #expect(!unreadable.message("reset.limited").hasSuffix("resets only by "), "\(unreadable.findings)")
        #expect(unreadable.finding("reset.none") == nil)
    }

    @Test("ACS as the kernel counts it: required flags the port does not implement count as enabled; implemented ones turned off do not")
    func acsImplementedBits() throws {
        // Implements only SV and RR, both on: the kernel treats CR and UF as hard-wired on.
        let partial = Self.host(portACS: ACSCapability(capability: 0x05, control: 0x05)) { gpu, audio in
            gpu.group = 2
            audio.group = 3
        }
        defer { partial.remove() }
        #expect(try check(partial, ["01:00.0"]).finding("acs.group-shared") == nil)
        // Implements SV, RR, CR, UF but UF is off: does not isolate, and the finding says which bit.
        let off = Self.host(portACS: ACSCapability(capability: 0x1d, control: 0x0d)) { gpu, audio in
            gpu.config?.multifunction = false
            audio.address = PCIAddress("0000:01:01.0")!
            audio.config?.multifunction = false
        }
        defer { off.remove() }
        let result = try check(off, ["01:00.0"])
        #expect(result.message("acs.group-shared").contains("0000:00:01.0 (root port) above 0000:01:00.0 does not isolate"))
        #expect(result.message("acs.group-shared").contains("upstream_forwarding implemented but not enabled"), "\(result.findings)")
        #expect(result.hint("acs.group-shared").contains("ACS"))
    }

    @Test("the kernel's ACS quirk table: an Intel PCH root port without an ACS capability still isolates when an IOMMU is on")
    func acsQuirk() throws {
        // 0x1c10: a Cougar Point PCH root port (pci_quirk_intel_pch_acs_ids).
        let pch = Self.host(portACS: nil, portDevice: 0x1c10) { gpu, audio in
            gpu.config?.multifunction = false
            audio.address = PCIAddress("0000:01:01.0")!
            audio.config?.multifunction = false
        }
        defer { pch.remove() }
        #expect(try check(pch, ["01:00.0"]).message("acs.group-shared").contains("0000:00:01.0") == false)
        // Any other root port without ACS: the port is the reason.
        let plain = Self.host(portACS: nil) { gpu, audio in
            gpu.config?.multifunction = false
            audio.address = PCIAddress("0000:01:01.0")!
            audio.config?.multifunction = false
        }
        defer { plain.remove() }
        #expect(try check(plain, ["01:00.0"]).message("acs.group-shared").contains("0000:00:01.0 (root port) above 0000:01:00.0 does not isolate the devices below it: it has no ACS capability"))
    }

    @Test("behind a PCIe-to-PCI bridge no ACS helps: the finding says so, and does not suggest an ACS port")
    func pcieToPCIBridge() throws {
        var fake = FakeSysfs()
        defer { fake.remove() }
        fake.withIOMMU()
        var port = FakeFunction("0000:00:1c.0", vendor: 0x8086, device: 0x0c01, class: 0x060400, group: 1, driver: "pcieport")
        port.config?.pcieType = .rootPort
        port.config?.acs = ACSCapability(capability: 0x1f, control: 0x1d)
        fake.add(port)
        var bridge = FakeFunction("0000:01:00.0", vendor: 0x12d8, device: 0xe111, class: 0x060400, parent: "0000:00:1c.0", group: 2)
        bridge.config?.pcieType = .pcieToPCIBridge
        fake.add(bridge)
        for slot in ["0000:02:01.0", "0000:02:02.0"] {
            var card = FakeFunction(slot, vendor: 0x8086, device: 0x100e, class: 0x020000, parent: "0000:01:00.0", group: 2, driver: "e1000")
            card.config?.pcieType = nil
            fake.add(card)
        }
        fake.build()
        let result = try check(fake, ["02:01.0"])
        #expect(result.message("acs.group-shared").contains("sit behind 0000:01:00.0, a PCIe-to-PCI bridge"))
        #expect(result.hint("acs.group-shared").contains("no setting splits this group"))
        #expect(!result.hint("acs.group-shared").contains("below a port with ACS"))
    }

    @Test("a link trained below its capability: fewer lanes is a warning, the slot's own limit is said as such, an idle GPU's speed is only noted")
    func links() throws {
        let narrow = Self.host { gpu, _ in
            gpu.config?.linkCapability = (3, 16)
            gpu.config?.linkStatus = (3, 4)
        }
        defer { narrow.remove() }
        let degraded = try check(narrow, ["01:00.0"])
        #expect(degraded.severity("link.degraded", subject: "0000:01:00.0") == "warning", "\(degraded.findings)")
        #expect(degraded.message("link.degraded").contains("x4 at 8.0 GT/s; it can do x16 at 8.0 GT/s"))
        let idle = Self.host { gpu, _ in
            gpu.config?.linkCapability = (3, 4)
            gpu.config?.linkStatus = (1, 4)
        }
        defer { idle.remove() }
        #expect(try check(idle, ["01:00.0"]).severity("link.speed-below-max", subject: "0000:01:00.0") == "info")
        let slot = Self.host { gpu, _ in
            gpu.config?.linkCapability = (4, 16)
            gpu.config?.linkStatus = (3, 16)
        }
        defer { slot.remove() }
        // A 16 GT/s card in an 8 GT/s root port: the slot is the limit.
        #expect(try check(slot, ["01:00.0"]).message("link.slot-limited", subject: "0000:01:00.0").contains("the slot is the limit"))
    }

    @Test("a driver that registers a VFIO device (vfio-dev/, as NVIDIA's vGPU VFs on nvidia) counts as VFIO, not as a host driver")
    func vfioDevice() throws {
        var fake = FakeSysfs()
        defer { fake.remove() }
        fake.withIOMMU()
        var vf = FakeFunction("0000:41:00.4", vendor: 0x10de, device: 0x2236, class: 0x030200, group: 60, driver: "nvidia")
        vf.registersVFIODevice = true
        fake.add(vf)
        var plain = FakeFunction("0000:42:00.0", vendor: 0x10de, device: 0x2236, class: 0x030200, group: 61, driver: "nvidia")
        plain.registersVFIODevice = false
        fake.add(plain)
        fake.build()
        let result = try check(fake, ["41:00.4"])
        #expect(result.severity("group.viable", subject: "group 60") == "info", "\(result.findings)")
        #expect(result.message("group.viable", subject: "group 60").contains("0000:41:00.4 on nvidia"))
        #expect(result.finding("group.not-viable") == nil)
        #expect(try check(fake, ["42:00.0"]).severity("group.not-viable", subject: "group 61") == "error")
    }

    @Test("before Linux 6.1 vfio-pci makes no vfio-dev/: a function on vfio-pci is still a VFIO device in list's JSON and viable")
    func vfioBeforeVFIODev() throws {
        var fake = FakeSysfs()
        defer { fake.remove() }
        fake.withIOMMU()
        var nic = FakeFunction("0000:03:00.0", vendor: 0x8086, device: 0x10d3, class: 0x020000, group: 7, driver: "vfio-pci")
        nic.omitAttributes = ["vfio-dev"]
        fake.add(nic)
        fake.build()
        let listed = Vfioctl.capture(["list", "--root", fake.root, "--format", "json"])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(listed.out.utf8)) as? [String: Any], "\(listed.err)")
        let functions = try #require(document["functions"] as? [[String: Any]])
        #expect(functions.first?["vfio_device"] as? Bool == true, "\(functions)")
        #expect(try check(fake, ["03:00.0"]).severity("group.viable", subject: "group 7") == "info")
    }
}
