import Foundation
import VFIOActuator
import VFIOCore
import VFIODeviceLayer
import VFIOTestSupport

/// A host with what detach and reattach must tell apart: an isolated NIC, a conventional PCI
/// bridge with two NICs (one group), the boot NVMe, a multifunction GPU + audio, a NIC with the
/// same IDs as the first in a group of its own, and an SR-IOV PF with two VFs.
func bindingHost(_ adjust: (inout FakeSysfs) -> Void = { _ in }) -> FakeSysfs {
    var fake = FakeSysfs()
    fake.withIOMMU()
    for (port, group) in [("0000:00:1c.0", 1), ("0000:00:1d.0", 4), ("0000:00:1b.0", 11)] {
        var f = FakeFunction(port, vendor: 0x8086, device: 0x1c10, class: 0x060400, group: group, driver: "pcieport")
        f.driverModule = nil
        f.config?.pcieType = .rootPort
        fake.add(f)
    }
    var nic = FakeFunction("0000:01:00.0", vendor: 0x8086, device: 0x10d3, class: 0x020000, parent: "0000:00:1c.0", group: 2, driver: "e1000e")
    nic.netInterfaces = ["enp1s0"]
    fake.add(nic)
    var bridge = FakeFunction("0000:00:1e.0", vendor: 0x8086, device: 0x244e, class: 0x060401, group: 3)
    bridge.config?.pcieType = nil
    fake.add(bridge)
    for slot in ["0000:02:01.0", "0000:02:02.0"] {
        var f = FakeFunction(slot, vendor: 0x8086, device: 0x100e, class: 0x020000, parent: "0000:00:1e.0", group: 3, driver: "e1000")
        f.config?.pcieType = nil
        fake.add(f)
    }
    var nvme = FakeFunction("0000:03:00.0", vendor: 0x144d, device: 0xa80a, class: 0x010802, parent: "0000:00:1d.0", group: 5, driver: "nvme")
    nvme.blockDevices = [("nvme0n1", "nvme/nvme0/nvme0n1"), ("nvme0n1p2", "nvme/nvme0/nvme0n1/nvme0n1p2")]
    fake.add(nvme)
    fake.blockDeviceNumbers = ["nvme0n1": "259:0", "nvme0n1p2": "259:2"]
    fake.mounts = [("259:2", "/", "ext4", "/dev/nvme0n1p2")]
    var gpu = FakeFunction("0000:04:00.0", vendor: 0x10de, device: 0x1b80, class: 0x030000, group: 6, driver: "nouveau")
    gpu.config?.multifunction = true
    fake.add(gpu)
    var audio = FakeFunction("0000:04:00.1", vendor: 0x10de, device: 0x10f0, class: 0x040300, group: 6, driver: "snd_hda_intel")
    audio.config?.multifunction = true
    fake.add(audio)
    fake.add(FakeFunction("0000:07:00.0", vendor: 0x8086, device: 0x10d3, class: 0x020000, parent: "0000:00:1b.0", group: 7, driver: "e1000e"))
    var pf = FakeFunction("0000:08:00.0", vendor: 0x8086, device: 0x10c9, class: 0x020000, group: 8, driver: "igb")
    pf.sriov = (total: 7, autoprobe: true)
    fake.add(pf)
    for (index, slot) in ["0000:08:10.0", "0000:08:10.2"].enumerated() {
        var vf = FakeFunction(slot, vendor: 0x8086, device: 0x10ca, class: 0x020000, group: 9 + index, driver: "igbvf")
        vf.physfn = (pf.address, index)
        fake.add(vf)
    }
    adjust(&fake)
    fake.build()
    return fake
}

extension FakeSysfs {
    /// What the commands read for a plan: the functions without pci.ids names.
    func snapshot() throws -> HostSnapshot {
        let layer = DeviceLayer(root: try HostRoot(root))
        return try layer.scopedSnapshot(addresses: functions.map(\.address), groups: [])
    }

    func facts() throws -> HostFacts {
        let reader = FactsReader(root: try HostRoot(root))
        var facts = reader.read(for: try snapshot().functions)
        facts.vfioUsers = reader.vfioUsers()
        return facts
    }

    /// (driver, driver_override) of a function, read from the tree as LiveKernel reads it.
    func binding(_ address: String) throws -> (String?, String?) {
        let kernel = LiveKernel(root: try HostRoot(root))
        return (try kernel.driver(of: pci(address)),
                kernel.read("/sys/bus/pci/devices/\(address)/driver_override").flatMap(SysfsValues.driverOverride))
    }
}

func pci(_ text: String) -> PCIAddress { PCIAddress(text)! }
