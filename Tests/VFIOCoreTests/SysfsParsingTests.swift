import Testing
import VFIOCore

@Suite("Parsing sysfs attribute text")
struct SysfsParsingTests {
    @Test("hex attributes", arguments: [
        ("0x8086\n", UInt64(0x8086)), ("0x10d3", 0x10d3), ("8086", 0x8086), ("0X00ff\n", 0xff), ("0x020000\n", 0x020000),
    ])
    func hex(text: String, value: UInt64) {
        #expect(SysfsValues.hex(text) == value)
    }

    @Test("malformed hex is nil", arguments: ["", "0x", "0xzz", "x12", "0x12 34", "0x" + String(repeating: "f", count: 17)])
    func badHex(text: String) {
        #expect(SysfsValues.hex(text) == nil)
    }

    @Test("16-bit ids refuse wider values")
    func hex16() {
        #expect(SysfsValues.hex16("0x1af4\n") == 0x1af4)
        #expect(SysfsValues.hex16("0x10000") == nil)
        #expect(SysfsValues.classCode("0x1000000") == nil)
        #expect(SysfsValues.classCode("0x0c0330\n") == 0x0c0330)
    }

    @Test("numa_node: -1 is unknown", arguments: [("-1\n", nil), ("0\n", 0), ("3", 3), ("x", nil)] as [(String, Int?)])
    func numa(text: String, node: Int?) {
        #expect(SysfsValues.numaNode(text) == node)
    }

    @Test("driver_override: (null) and empty are none", arguments: [
        ("(null)\n", nil), ("\n", nil), ("", nil), ("vfio-pci\n", "vfio-pci"), ("none", "none"),
    ] as [(String, String?)])
    func override(text: String, value: String?) {
        #expect(SysfsValues.driverOverride(text) == value)
    }

    @Test("reset_method lists methods in the kernel's order")
    func resetMethods() {
        #expect(SysfsValues.resetMethods("flr pm bus\n") == ["flr", "pm", "bus"])
        #expect(SysfsValues.resetMethods("\n").isEmpty)
        #expect(SysfsValues.resetMethods("device_specific  acpi\tflr") == ["device_specific", "acpi", "flr"])
    }

    @Test("flags", arguments: [("0\n", false), ("1\n", true), ("Y", true), ("N\n", false), ("2", true)] as [(String, Bool?)])
    func flags(text: String, value: Bool?) {
        #expect(SysfsValues.flag(text) == value)
    }

    @Test("group numbers come from the link's last component", arguments: [
        ("../../../../kernel/iommu_groups/14", 14), ("../../kernel/iommu_groups/0", 0),
        ("../../kernel/iommu_groups/x", nil), ("", nil),
    ] as [(String, Int?)])
    func groupNumber(link: String, group: Int?) {
        #expect(SysfsValues.groupNumber(fromLink: link) == group)
    }

    @Test("virtfn entries", arguments: [("virtfn0", 0), ("virtfn63", 63), ("virtfn", nil), ("virtfnx", nil), ("vendor", nil)] as [(String, Int?)])
    func virtfn(entry: String, index: Int?) {
        #expect(SysfsValues.virtfnIndex(entry) == index)
    }

    @Test("reserved_regions lines")
    func reservedRegions() {
        let regions = SysfsValues.reservedRegions("""
            0x00000000000a0000 0x00000000000bffff direct-relaxable
            0x00000000fee00000 0x00000000feefffff msi
            garbage
            """)
        #expect(regions == [ReservedRegion(start: 0xa0000, end: 0xbffff, type: "direct-relaxable"),
                            ReservedRegion(start: 0xfee00000, end: 0xfeefffff, type: "msi")])
    }

    @Test("CPU vendor from /proc/cpuinfo")
    func cpuVendor() {
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n"
        #expect(SysfsValues.cpuVendorID(cpuinfo: cpuinfo) == "AuthenticAMD")
        #expect(CPUVendor(vendorID: "AuthenticAMD") == .amd)
        #expect(CPUVendor(vendorID: "GenuineIntel") == .intel)
        #expect(CPUVendor(vendorID: nil) == .other)
    }
}

@Suite("Paths under an injected root")
struct SysfsPathTests {
    @Test("links resolve lexically and never climb above the root", arguments: [
        ("../../../devices/pci0000:00/0000:00:1c.0/0000:01:00.0", "sys/bus/pci/devices",
         "sys/devices/pci0000:00/0000:00:1c.0/0000:01:00.0"),
        ("../../../../../../../../etc/passwd", "sys/bus/pci/devices", "etc/passwd"),
        ("/sys/devices/pci0000:00/0000:00:02.0", "sys/bus/pci/devices", "sys/devices/pci0000:00/0000:00:02.0"),
        ("./a/./b", "x", "x/a/b"),
    ])
    func resolve(target: String, directory: String, expected: String) {
        #expect(SysfsPaths.resolve(link: target, in: directory) == expected)
    }

    @Test("PCI ancestors skip host bridges, including a VMD domain's")
    func ancestors() {
        let path = "sys/devices/pci0000:00/0000:00:0e.0/pci10000:e0/10000:e0:06.0/10000:e1:00.0/nvme/nvme0/nvme0n1"
        #expect(SysfsPaths.pciAncestors(in: path).map(\.description) == ["0000:00:0e.0", "10000:e0:06.0", "10000:e1:00.0"])
        #expect(SysfsPaths.owningFunction(of: path)?.description == "10000:e1:00.0")
        #expect(SysfsPaths.owningFunction(of: "sys/devices/virtual/net/lo") == nil)
    }
}

@Suite("PCI uevent")
struct UeventTests {
    @Test("the kernel's uevent gives ids, class, subsystem and driver")
    func parses() throws {
        let uevent = try #require(PCIUevent("""
            DRIVER=virtio-pci
            PCI_CLASS=20000
            PCI_ID=1AF4:1041
            PCI_SUBSYS_ID=1AF4:1100
            PCI_SLOT_NAME=0000:00:03.0
            MODALIAS=pci:v00001AF4d00001041sv00001AF4sd00001041bc02sc00i00

            """))
        #expect(uevent.vendorID == 0x1af4 && uevent.deviceID == 0x1041 && uevent.classCode == 0x020000)
        #expect(uevent.subsystemVendorID == 0x1af4 && uevent.subsystemDeviceID == 0x1100)
        #expect(uevent.driver == "virtio-pci" && uevent.slotName == "0000:00:03.0")
    }

    @Test("incomplete or malformed uevents are not used", arguments: [
        "PCI_CLASS=20000\n", "PCI_ID=1AF4:1041\n", "PCI_CLASS=20000\nPCI_ID=1AF4\n", "PCI_CLASS=zz\nPCI_ID=1AF4:1041\n", "",
    ])
    func rejects(text: String) {
        #expect(PCIUevent(text) == nil)
    }
}

@Suite("block device names")
struct BlockDeviceNameTests {
    @Test("a hidden NVMe multipath path names its head (nvme_mpath_set_disk_name); nothing else does", arguments: [
        ("nvme0c0n1", "nvme0n1"), ("nvme1c12n3", "nvme1n3"), ("nvme10c2n10", "nvme10n10"),
        ("nvme0n1", nil), ("nvme0n1p2", nil), ("nvme0c0n", nil), ("nvmec0n1", nil), ("nvme0c0n1p1", nil), ("sda", nil), ("nvme0cxn1", nil),
    ] as [(String, String?)])
    func multipathHead(_ name: String, _ head: String?) {
        #expect(BlockDevice.multipathHead(ofPath: name) == head)
    }

    @Test("partitions: nvme0n1p2 of nvme0n1, sda2 of sda; not nvme0n10 of nvme0n1 or sdab of sda")
    func partitions() {
        #expect(BlockDevice.isPartition("nvme0n1p2", of: "nvme0n1") && BlockDevice.isPartition("sda2", of: "sda"))
        #expect(!BlockDevice.isPartition("nvme0n10", of: "nvme0n1") && !BlockDevice.isPartition("sdab", of: "sda"))
        #expect(!BlockDevice.isPartition("nvme0n1", of: "nvme0n1") && !BlockDevice.isPartition("nvme0n1p", of: "nvme0n1"))
    }
}
