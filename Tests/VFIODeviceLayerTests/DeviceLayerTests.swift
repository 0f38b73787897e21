import Testing
import VFIOCore
import VFIODeviceLayer
import VFIOTestSupport

@Suite("Device layer on kernel-layout trees")
struct DeviceLayerTests {
    /// A desktop: a root port with a NIC behind it, a multifunction GPU, groups 7/14/17/200.
    static func desktop() -> FakeSysfs {
        var fake = FakeSysfs()
        fake.withIOMMU()
        var port = FakeFunction("0000:00:1c.0", vendor: 0x8086, device: 0x1c10, class: 0x060400, group: 7, driver: "pcieport")
        port.driverModule = nil
        port.config?.pcieType = .rootPort
        port.config?.acs = ACSCapability(capability: 0x001f, control: 0x001d)
        fake.add(port)
        var nic = FakeFunction("0000:01:00.0", vendor: 0x8086, device: 0x10d3, class: 0x020000, parent: "0000:00:1c.0",
                               group: 14, driver: "e1000e")
        nic.subsystemVendorID = 0x8086
        nic.subsystemDeviceID = 0xa01f
        nic.numaNode = 0
        nic.netInterfaces = ["enp1s0"]
        nic.config?.flr = true
        fake.add(nic)
        var gpu = FakeFunction("0000:02:00.0", vendor: 0x10de, device: 0x1b80, class: 0x030000, group: 17, driver: "nouveau")
        gpu.config?.multifunction = true
        gpu.bootVGA = true
        gpu.resetMethods = ["bus"]
        fake.add(gpu)
        var audio = FakeFunction("0000:02:00.1", vendor: 0x10de, device: 0x10f0, class: 0x040300, group: 17,
                                 driver: "snd_hda_intel")
        audio.config?.multifunction = true
        audio.driverOverride = "vfio-pci"
        fake.add(audio)
        var stray = FakeFunction("0000:05:00.0", vendor: 0x1af4, device: 0x1042, class: 0x010000, group: 200)
        stray.config?.pcieType = nil
        fake.add(stray)
        return fake
    }

    @Test("identity, drivers, overrides, NUMA and links come from the tree as the kernel writes them")
    func desktopInventory() throws {
        let fake = Self.desktop()
        defer { fake.remove() }
        let snapshot = try fake.read()
        #expect(snapshot.functions.map(\.address.description)
            == ["0000:00:1c.0", "0000:01:00.0", "0000:02:00.0", "0000:02:00.1", "0000:05:00.0"])
        let nic = try #require(snapshot.function(address("0000:01:00.0")))
        #expect(nic.vendorID == 0x8086 && nic.deviceID == 0x10d3 && nic.classCode == 0x020000)
        #expect(nic.subsystemVendorID == 0x8086 && nic.subsystemDeviceID == 0xa01f)
        #expect(nic.driver == "e1000e" && nic.driverModule == "e1000e" && nic.driverOverride == nil)
        #expect(nic.numaNode == 0 && nic.iommuGroup == 14)
        #expect(nic.parent == address("0000:00:1c.0"))
        #expect(nic.netInterfaces == ["enp1s0"])
        #expect(nic.resetMethods == ["flr", "bus"] && nic.hasResetAttribute)
        #expect(nic.sysfsPath == "sys/devices/pci0000:00/0000:00:1c.0/0000:01:00.0")
        #expect(!nic.isBridge && nic.isMultifunction == false)
        let port = try #require(snapshot.function(address("0000:00:1c.0")))
        #expect(port.isBridge && port.driver == "pcieport" && port.driverModule == nil && port.parent == nil)
        let audio = try #require(snapshot.function(address("0000:02:00.1")))
        #expect(audio.driverOverride == "vfio-pci" && audio.numaNode == nil && audio.isMultifunction == true)
        let gpu = try #require(snapshot.function(address("0000:02:00.0")))
        #expect(gpu.bootVGA == true && gpu.resetMethods == ["bus"])
        let stray = try #require(snapshot.function(address("0000:05:00.0")))
        #expect(stray.driver == nil)
    }

    @Test("groups keep the kernel's numbers, gaps and all")
    func nonContiguousGroups() throws {
        let fake = Self.desktop()
        defer { fake.remove() }
        let snapshot = try fake.read()
        #expect(snapshot.groups.map(\.id) == [7, 14, 17, 200])
        #expect(snapshot.group(17)?.members.map(\.description) == ["0000:02:00.0", "0000:02:00.1"])
        #expect(snapshot.group(14)?.type == "DMA")
        #expect(snapshot.group(14)?.reservedRegions.first?.type == "msi")
        #expect(snapshot.iommu.hasGroups && snapshot.iommu.groupCount == 4 && snapshot.iommu.units == ["dmar0"])
        #expect(snapshot.cpuVendor == .intel)
    }

    @Test("with the IOMMU off there are no groups, and the functions are still listed")
    func iommuOff() throws {
        var fake = FakeSysfs()
        defer { fake.remove() }
        fake.add(FakeFunction("0000:00:02.0", vendor: 0x8086, device: 0x10d3, class: 0x020000, driver: "e1000e"))
        fake.add(FakeFunction("0000:00:03.0", vendor: 0x1af4, device: 0x1042, class: 0x010000))
        let snapshot = try fake.read()
        #expect(snapshot.functions.count == 2)
        #expect(snapshot.groups.isEmpty && !snapshot.iommu.hasGroups && snapshot.iommu.units.isEmpty)
        #expect(snapshot.functions.allSatisfy { $0.iommuGroup == nil })
    }

    @Test("functions behind an Intel VMD controller: 5-digit domain, parent chain, block devices")
    func vmdDomain() throws {
        var fake = FakeSysfs()
        defer { fake.remove() }
        fake.withIOMMU()
        fake.add(FakeFunction("0000:00:0e.0", vendor: 0x8086, device: 0x467f, class: 0x010400, group: 9, driver: "vmd"))
        var port = FakeFunction("10000:e0:06.0", vendor: 0x8086, device: 0x464d, class: 0x060400, parent: "0000:00:0e.0",
                                group: 9, driver: "pcieport")
        port.config?.pcieType = .rootPort
        fake.add(port)
        var nvme = FakeFunction("10000:e1:00.0", vendor: 0x144d, device: 0xa80a, class: 0x010802, parent: "10000:e0:06.0",
                                group: 9, driver: "nvme")
        nvme.blockDevices = [("nvme0n1", "nvme/nvme0/nvme0n1"), ("nvme0n1p1", "nvme/nvme0/nvme0n1/nvme0n1p1")]
        fake.add(nvme)
        let snapshot = try fake.read()
        let disk = try #require(snapshot.function(address("10000:e1:00.0")))
        #expect(disk.address.domain == 0x10000)
        #expect(disk.sysfsPath == "sys/devices/pci0000:00/0000:00:0e.0/pci10000:e0/10000:e0:06.0/10000:e1:00.0")
        #expect(disk.parent == address("10000:e0:06.0"))
        #expect(snapshot.upstreamPath(of: disk.address).map(\.address.description) == ["10000:e0:06.0", "0000:00:0e.0"])
        #expect(disk.blockDevices == ["nvme0n1", "nvme0n1p1"])
        #expect(snapshot.function(address("10000:e0:06.0"))?.parent == address("0000:00:0e.0"))
    }

    @Test("SR-IOV: PF totals and VF links both ways, VF indices, VFs sorted by address")
    func sriov() throws {
        var fake = FakeSysfs()
        defer { fake.remove() }
        fake.withIOMMU()
        var pf = FakeFunction("0000:03:00.0", vendor: 0x8086, device: 0x10fb, class: 0x020000, group: 20, driver: "ixgbe")
        pf.sriov = (total: 63, autoprobe: false)
        pf.config?.sriovCapability = true
        pf.config?.ari = true
        fake.add(pf)
        for (index, slot) in [(1, "0000:03:10.2"), (0, "0000:03:10.0"), (2, "0000:03:10.4")] {
            var vf = FakeFunction(slot, vendor: 0x8086, device: 0x10ed, class: 0x020000, group: 30 + index)
            vf.physfn = (address("0000:03:00.0"), index)
            fake.add(vf)
        }
        let snapshot = try fake.read()
        let sriov = try #require(snapshot.function(address("0000:03:00.0"))?.sriov)
        #expect(sriov.totalVFs == 63 && sriov.numVFs == 3 && sriov.driversAutoprobe == false)
        #expect(sriov.vfs.map(\.description) == ["0000:03:10.0", "0000:03:10.2", "0000:03:10.4"])
        #expect(sriov.vfIndices[1] == address("0000:03:10.2"))
        let vf = try #require(snapshot.function(address("0000:03:10.4")))
        #expect(vf.physfn == address("0000:03:00.0") && vf.vfIndex == 2 && vf.isVirtualFunction && vf.sriov == nil)
        let caps = try #require(snapshot.function(address("0000:03:00.0"))?.capabilities)
        #expect(caps.hasSRIOV == true && caps.hasARI == true)
    }

    @Test("capabilities are decoded by libpci from the config file")
    func capabilities() throws {
        let fake = Self.desktop()
        defer { fake.remove() }
        let snapshot = try fake.read()
        let port = try #require(snapshot.function(address("0000:00:1c.0"))?.capabilities)
        #expect(port.configLength == 4096 && port.isPCIe == true && port.pcieType == .rootPort && port.extendedConfigReadable)
        #expect(port.acs == ACSCapability(capability: 0x001f, control: 0x001d))
        #expect(port.acs?.enables(.requestRedirect) == true && port.acs?.enables(.sourceValidation) == true)
        #expect(port.acs?.enables(.translationBlocking) == false)
        let nic = try #require(snapshot.function(address("0000:01:00.0"))?.capabilities)
        #expect(nic.flr == true && nic.pcieType == .endpoint && nic.acs == nil && nic.hasPowerManagement == true && !nic.pmNoSoftReset)
        let conventional = try #require(snapshot.function(address("0000:05:00.0"))?.capabilities)
        #expect(conventional.configLength == 256 && conventional.isPCIe == false && !conventional.extendedConfigReadable)
    }

    @Test("PM No_Soft_Reset and AF FLR bits")
    func pmAndAF() throws {
        var fake = FakeSysfs()
        defer { fake.remove() }
        var f = FakeFunction("0000:00:04.0", vendor: 0x8086, device: 0x1234, class: 0x0c0330)
        f.config?.pcieType = nil
        f.config?.pmNoSoftReset = true
        f.config?.advancedFeaturesFLR = true
        fake.add(f)
        let caps = try #require(try fake.read().functions.first?.capabilities)
        #expect(caps.pmNoSoftReset && caps.afFLR == true && caps.flr == false)
    }

    @Test("unprivileged config (64 bytes) and a missing config file are reported as such")
    func partialConfig() throws {
        var fake = FakeSysfs()
        defer { fake.remove() }
        var short = FakeFunction("0000:00:04.0", vendor: 0x8086, device: 0x10d3, class: 0x020000)
        short.config?.size = 64
        fake.add(short)
        var none = FakeFunction("0000:00:05.0", vendor: 0x8086, device: 0x10d3, class: 0x020000)
        none.omitAttributes = ["config"]
        fake.add(none)
        let snapshot = try fake.read()
        let caps = try #require(snapshot.function(address("0000:00:04.0"))?.capabilities)
        // Unknown is not no: 64 bytes hold no capability list, so nothing in it is known.
        #expect(caps.configLength == 64 && !caps.listReadable && caps.isPCIe == nil && caps.flr == nil)
        #expect(caps.hasPowerManagement == nil && caps.hasMSI == nil && caps.hasACS == nil && caps.hasSRIOV == nil)
        #expect(snapshot.function(address("0000:00:05.0"))?.capabilities == nil)
        #expect(snapshot.function(address("0000:00:05.0"))?.headerType == nil)
    }

    @Test("identity falls back to config space when the attributes are missing")
    func identityFromConfig() throws {
        var fake = FakeSysfs()
        defer { fake.remove() }
        var f = FakeFunction("0000:00:06.0", vendor: 0x8086, device: 0x10d3, class: 0x020000)
        f.omitAttributes = ["uevent", "vendor", "device", "class", "revision"]
        f.revision = 3
        f.config?.revision = 3
        fake.add(f)
        let function = try #require(try fake.read().functions.first)
        #expect(function.vendorID == 0x8086 && function.deviceID == 0x10d3 && function.classCode == 0x020000)
        #expect(function.revision == 3)
    }

    @Test("without uevent the separate attributes give the same identity")
    func attributesWithoutUevent() throws {
        let fake = Self.desktop()
        defer { fake.remove() }
        let withUevent = try fake.read()
        var plain = FakeSysfs()
        defer { plain.remove() }
        plain.withIOMMU()
        for var function in fake.functions {
            function.omitAttributes.insert("uevent")
            plain.add(function)
        }
        let withoutUevent = try plain.read()
        #expect(withoutUevent.functions.map(\.vendorID) == withUevent.functions.map(\.vendorID))
        #expect(withoutUevent.functions.map(\.classCode) == withUevent.functions.map(\.classCode))
        #expect(withoutUevent.functions.map(\.subsystemVendorID) == withUevent.functions.map(\.subsystemVendorID))
        #expect(withoutUevent.functions.map(\.subsystemDeviceID) == withUevent.functions.map(\.subsystemDeviceID))
    }

    @Test("names come from pci.ids through libpci")
    func names() throws {
        let fake = Self.desktop()
        defer { fake.remove() }
        let snapshot = try fake.read()
        let nic = try #require(snapshot.function(address("0000:01:00.0")))
        #expect(nic.vendorName == "Intel Corporation")
        #expect(nic.deviceName == "82574L Gigabit Network Connection")
        #expect(nic.subsystemName == "Intel Corporation Gigabit CT Desktop Adapter")
        #expect(nic.className == "Ethernet controller")
        let gpu = try #require(snapshot.function(address("0000:02:00.0")))
        #expect(gpu.vendorName == nil && gpu.deviceName == nil)
        #expect(gpu.displayName == "Vendor 10de Device 1b80")
        let unnamed = try fake.read([])
        #expect(unnamed.functions.allSatisfy { $0.vendorName == nil && $0.className == nil })
    }

    @Test("one worker and several workers read the same snapshot")
    func workers() throws {
        let fake = Self.desktop()
        defer { fake.remove() }
        #expect(try fake.read(workers: 1) == fake.read(workers: 3))
    }

    @Test("damaged trees: dangling bus links and stray entries are skipped, not fatal")
    func damagedTree() throws {
        let fake = Self.desktop()
        defer { fake.remove() }
        fake.build()
        fake.link("sys/bus/pci/devices/0000:09:00.0", to: "sys/devices/pci0000:00/missing")
        fake.write("sys/bus/pci/devices/not-an-address", "x")
        let snapshot = try DeviceLayer(root: HostRoot(fake.root), idsPath: Fixtures.pciIDs).snapshot()
        #expect(snapshot.functions.count == 5)
        #expect(snapshot.function(address("0000:09:00.0")) == nil)
    }

    @Test("absolute links in a tree resolve inside the root, never on the host")
    func absoluteLinksStayInside() throws {
        let fake = Self.desktop()
        defer { fake.remove() }
        fake.build()
        let path = fake.root + "/sys/bus/pci/devices/0000:01:00.0"
        #expect(unlinkFile(path))
        #expect(makeLink("/sys/devices/pci0000:00/0000:00:1c.0/0000:01:00.0", at: path))
        let snapshot = try DeviceLayer(root: HostRoot(fake.root), idsPath: Fixtures.pciIDs).snapshot()
        #expect(snapshot.function(address("0000:01:00.0"))?.driver == "e1000e")
    }

    @Test("a root without a PCI bus is an error with a hint, not a crash or exit")
    func emptyRoot() throws {
        let fake = FakeSysfs()
        defer { fake.remove() }
        let layer = DeviceLayer(root: try HostRoot(fake.root))
        #expect {
            try layer.snapshot()
        } throws: { error in
            guard let error = error as? VFIOError else { return false }
            return error.kind == .failed && error.message.contains("sys/bus/pci/devices") && error.hint != nil
        }
    }

    @Test("a root that does not exist or is a file is a usage error")
    func badRoot() throws {
        #expect(throws: VFIOError.self) { try HostRoot("/nonexistent/vfioctl-root") }
        #expect(throws: VFIOError.self) { try HostRoot("/proc/cmdline") }
        #expect(try HostRoot("/").isLive)
        #expect(try HostRoot("/tmp/../tmp/").description == "/tmp")
    }
}

import Glibc
private func unlinkFile(_ path: String) -> Bool { unlink(path) == 0 }
private func makeLink(_ target: String, at path: String) -> Bool { symlink(target, path) == 0 }
