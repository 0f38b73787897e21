import Foundation
import Testing
import VFIOCore
import VFIODeviceLayer
import VFIOTestSupport

/// Config spaces recorded on real machines (fixtures/real-hardware: pciutils' test dumps, see its
/// README), each written as a device's `config` file of a fake tree and read by the device layer;
/// lspci reading the same bytes (`lspci -F`) is the oracle for every capability fact, and says
/// `<access denied>` where vfioctl must say unknown.
@Suite("Real hardware's config spaces, read as lspci reads them")
struct RealHardwareTests {
    static let dumps = ["tree-asus-p6t6", "tree-fujitsu-p8010", "PCI-X-bridges-and-domains", "cap-pcie-1", "cap-pcie-2",
                        "cap-rebar", "cap-dev3", "cap-phy32", "cap-aer-root", "cap-exp-lnkcap2", "cap-pasid-pri", "cap-pci-af",
                        "cap-vc-and-rcl", "cap-multicast", "cap-dpc", "cap-ea-1"]

    static func dump(_ name: String) throws -> LspciDump {
        try LspciDump(String(contentsOfFile: Fixtures.directory + "/real-hardware/" + name, encoding: .utf8))
    }

    /// The fake host the dump makes, read back.
    static func read(_ dump: LspciDump) throws -> HostSnapshot {
        var fake = FakeSysfs()
        defer { fake.remove() }
        for f in dump.functions() { fake.add(f) }
        return try fake.read([])
    }

    @Test("every capability fact equals lspci's on the same bytes", arguments: dumps)
    func agreesWithLspci(name: String) throws {
        let dump = try Self.dump(name)
        try Self.compare(dump, name: name)
    }

    @Test("cut to 64 bytes (an unprivileged read), every capability fact is unknown where lspci says access denied",
          arguments: dumps)
    func shortReadIsUnknown(name: String) throws {
        let dump = try Self.dump(name).truncated(to: 64)
        try Self.compare(dump, name: name + " (64 bytes)")
        let snapshot = try Self.read(dump)
        for f in snapshot.functions {
            let caps = try #require(f.capabilities)
            guard !caps.listReadable else { continue }
            #expect(caps.isPCIe == nil && caps.flr == nil && caps.hasPowerManagement == nil && caps.hasMSI == nil
                        && caps.hasACS == nil && caps.hasSRIOV == nil && caps.hasARI == nil, "\(f.address)")
            #expect(f.isPCIe == nil, "\(f.address): unknown is not conventional PCI")
        }
    }

    static func compare(_ dump: LspciDump, name: String) throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("vfioctl-dump-\(getpid())-\(UUID().uuidString)").path
        try dump.text.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let lspci = try TestProcess.run("lspci", ["-D", "-vvv", "-F", file])
        #expect(lspci.status == 0, "lspci failed on \(name): \(lspci.err)")
        let theirs = LspciFacts.parse(lspci.out)
        let snapshot = try read(dump)
        #expect(snapshot.functions.count == dump.devices.count)
        for f in snapshot.functions {
            let expected = try #require(theirs[f.address], "lspci shows no \(f.address) in \(name)")
            #expect(LspciFacts.of(f) == expected, "\(name) \(f.address) \(f.ids)")
        }
    }

    @Test("a CardBus bridge's capabilities start at 0x14: Power Management is found (the Fujitsu P8010's O2 Micro OZ711SP1)")
    func cardBus() throws {
        let snapshot = try Self.read(try Self.dump("tree-fujitsu-p8010"))
        let address = PCIAddress(bus: 0x1c, device: 3, function: 0)
        let cardbus = try #require(snapshot.function(address))
        #expect(cardbus.capabilities?.hasPowerManagement == true)
        #expect(cardbus.isBridge)
        // Without the kernel's attributes, its subsystem ids come from 0x40 of its config space.
        var fake = FakeSysfs()
        defer { fake.remove() }
        for var f in try Self.dump("tree-fujitsu-p8010").functions() {
            if f.address == address { f.omitAttributes = ["uevent", "subsystem_vendor", "subsystem_device"] }
            fake.add(f)
        }
        let bare = try #require(try fake.read([]).function(address))
        #expect(bare.subsystemVendorID == 0x10cf && bare.subsystemDeviceID == 0x143d)
    }

    @Test("an SR-IOV NIC (Intel 82576): Initial VFs, MSI-X vectors, the serial number, ARI, and no 'conventional PCI' when cut short")
    func sriovNIC() throws {
        let dump = try Self.dump("cap-pcie-2")
        let nic = try #require(try Self.read(dump).functions.first)
        let caps = try #require(nic.capabilities)
        #expect(caps.sriov?.initialVFs == 8 && caps.sriov?.totalVFs == 8)
        #expect(caps.msix?.vectors == 10)
        #expect(caps.serialNumber != nil)
        #expect(caps.hasARI == true)
        let short = try #require(try Self.read(dump.truncated(to: 64)).functions.first)
        let shortSnapshot = try Self.read(dump.truncated(to: 64))
        #expect(short.isPCIe == nil)
        #expect(InventoryText.show(short, in: shortSnapshot).contains("unknown: config space not readable, run as root"))
    }

    @Test("a GPU with Resizable BAR (AMD Fiji): BAR 0's current and supported sizes as lspci lists them")
    func resizableBAR() throws {
        let gpu = try #require(try Self.read(try Self.dump("cap-rebar")).functions.first)
        let rebar = try #require(gpu.capabilities?.resizableBARs.first)
        #expect(rebar.bar == 0 && rebar.currentSize == 256 << 20)
        #expect(rebar.supportedSizes.contains(256 << 20))
    }
}

/// What a non-root reader still gets from the kernel when config space stops at 64 bytes: BARs
/// with their sizes from `resource`, the link from max_link_* / current_link_*. lspci reading the
/// same fake sysfs tree (`-A linux-sysfs -O sysfs.path=`) is the oracle for the BARs.
@Suite("Real hardware through the kernel's attributes")
struct KernelAttributeFactsTests {
    @Test("an 82576 cut to 64 bytes: BARs and their sizes from `resource` as lspci shows them, the link from the kernel's attributes")
    func resourceAndLinkAttributes() throws {
        var fake = FakeSysfs()
        defer { fake.remove() }
        var nic = try #require(try RealHardwareTests.dump("cap-pcie-2").truncated(to: 64).functions().first)
        // As the kernel writes them for this card (igb, 82576): BAR 0 128K memory, BAR 2 32 bytes
        // of I/O, BAR 3 16K memory; the unimplemented BARs and the ROM as zero lines.
        let lines = ["0x00000000fbe00000 0x00000000fbe1ffff 0x0000000000040200", "0x0000000000000000 0x0000000000000000 0x0000000000000000",
                     "0x000000000000e000 0x000000000000e01f 0x0000000000040101", "0x00000000fbe40000 0x00000000fbe43fff 0x0000000000040200",
                     "0x0000000000000000 0x0000000000000000 0x0000000000000000", "0x0000000000000000 0x0000000000000000 0x0000000000000000",
                     "0x0000000000000000 0x0000000000000000 0x0000000000000000"]
        nic.extraAttributes = ["irq": "16", "resource": lines.joined(separator: "\n"), "max_link_speed": "2.5 GT/s PCIe", "max_link_width": "4",
                               "current_link_speed": "2.5 GT/s PCIe", "current_link_width": "1"]
        fake.add(nic)
        fake.build()
        let layer = DeviceLayer(root: try HostRoot(fake.root), idsPath: Fixtures.pciIDs, workers: 1)
        let read = try #require(try layer.observe(ObservationScope(regions: true)).snapshot.functions.first)
        #expect(read.bars?.map(\.index) == [0, 2, 3])
        #expect(read.bars?.map(\.size) == [128 << 10, 32, 16 << 10])
        #expect(read.link == PCIeLink(maxSpeed: PCIeLinkSpeed(kernelText: "2.5 GT/s PCIe"), maxWidth: 4,
                                      speed: PCIeLinkSpeed(kernelText: "2.5 GT/s PCIe"), width: 1))
        #expect(read.link?.widthDowngraded == true)
        #expect(read.capabilities?.isPCIe == nil && read.isPCIe == true, "its config space does not say; the kernel's link does")

        let lspci = try TestProcess.run("lspci", ["-A", "linux-sysfs", "-O", "sysfs.path=\(fake.root)/sys/bus/pci", "-D", "-vvv"])
        #expect(lspci.status == 0, "\(lspci.err)")
        let theirs = try #require(LspciFacts.parse(lspci.out)[read.address], "\(lspci.out)")
        #expect(LspciFacts.of(read) == theirs)
        #expect(theirs["region 0"] == "memory 32-bit non-prefetchable size=128K" && theirs["capabilities"] == "<access denied>", "\(theirs)")

        let text = InventoryText.show(read, in: try layer.snapshot())
        #expect(text.contains("x1 at 2.5 GT/s (can do x4 at 2.5 GT/s)"), "\(text)")
        #expect(text.contains("yes (the kernel's link attributes; type unknown: config space not readable, run as root)"), "\(text)")
    }
}
