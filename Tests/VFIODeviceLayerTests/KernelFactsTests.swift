import Glibc
import Testing
import VFIOCore
import VFIODeviceLayer
import VFIOTestSupport

/// The kernel's build configuration and log, read as facts: what cannot be read is unknown (nil).
@Suite("Kernel config and log under the root")
struct KernelFactsTests {
    @Test("/boot/config-RELEASE: options of interest; absent file is unknown, not 'not set'")
    func kernelConfig() throws {
        var fake = FakeSysfs()
        defer { fake.remove() }
        fake.kernelConfig = "CONFIG_INTEL_IOMMU=y\n# CONFIG_VIRTIO_IOMMU is not set\nCONFIG_AMD_IOMMU=y\nCONFIG_LOCALVERSION=\"\"\n"
        fake.build()
        let config = FactsReader(root: try HostRoot(fake.root)).read(for: []).kernelConfig
        #expect(config == KernelConfig(path: "/boot/config-6.1.0-56-amd64", values: ["CONFIG_INTEL_IOMMU": "y", "CONFIG_AMD_IOMMU": "y"],
                                       mentioned: ["CONFIG_VIRTIO_IOMMU"]))
        #expect(config?.builds("CONFIG_VIRTIO_IOMMU") == false)

        let none = FakeSysfs()
        defer { none.remove() }
        none.build()
        #expect(try FactsReader(root: HostRoot(none.root)).read(for: []).kernelConfig == nil)
    }

    @Test("dev/kmsg in a tree: records of a regular file, only IOMMU messages; a FIFO or nothing is unknown, and never waited on")
    func kernelLog() throws {
        var fake = FakeSysfs()
        defer { fake.remove() }
        fake.kernelLog = ["Linux version 6.1.0-56-amd64", "AMD-Vi: [Firmware Bug]: IOAPIC[0] not in IVRS table",
                          "AMD-Vi: Disabling interrupt remapping", "e1000e: Intel(R) PRO/1000 Network Driver"]
        fake.build()
        #expect(try FactsReader(root: HostRoot(fake.root)).read(for: []).kernelLog
                    == ["AMD-Vi: [Firmware Bug]: IOAPIC[0] not in IVRS table", "AMD-Vi: Disabling interrupt remapping"])

        let fifo = FakeSysfs()
        defer { fifo.remove() }
        fifo.build()
        #expect(try FactsReader(root: HostRoot(fifo.root)).read(for: []).kernelLog == nil)
        #expect(mkfifo(fifo.root + "/dev/kmsg", 0o644) == 0)
        #expect(try FactsReader(root: HostRoot(fifo.root)).read(for: []).kernelLog == nil)
    }

    @Test("a snapshot keeps the kernel config and the IOMMU lines of the log, and replays them")
    func snapshotKeepsThem() throws {
        var fake = FakeSysfs()
        defer { fake.remove() }
        fake.kernelConfig = "# CONFIG_VIRTIO_IOMMU is not set\n"
        fake.kernelLog = ["Linux version 6.1.0-56-amd64", "DMAR: IOMMU disabled"]
        fake.acpiTables = ["VIOT"]
        fake.add(FakeFunction("0000:00:02.0", vendor: 0x8086, device: 0x10d3, class: 0x020000))
        fake.build()
        let copy = FakeSysfs()
        defer { copy.remove() }
        let directory = copy.root + "/snap"
        _ = try SnapshotWriter(source: try HostRoot(fake.root)).write(to: directory)
        let facts = FactsReader(root: try HostRoot(directory)).read(for: [])
        #expect(facts.kernelLog == ["DMAR: IOMMU disabled"])
        #expect(facts.kernelConfig?.builds("CONFIG_VIRTIO_IOMMU") == false && facts.kernelConfig?.path == "/boot/config-6.1.0-56-amd64")
        #expect(try DeviceLayer(root: try HostRoot(directory)).snapshot([]).iommu.acpiTables == ["VIOT"])
    }
}
