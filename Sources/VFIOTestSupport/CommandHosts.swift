import VFIOCore

// The hosts the command tests run on, here so the device layer's tests read them too.

/// A small host for command tests: a root port with a NIC, a shared group of two functions,
/// an SR-IOV PF with one VF.
public func commandFixture() -> FakeSysfs {
    var fake = FakeSysfs()
    fake.withIOMMU()
    var port = FakeFunction("0000:00:1c.0", vendor: 0x8086, device: 0x1c10, class: 0x060400, group: 7, driver: "pcieport")
    port.driverModule = nil
    fake.add(port)
    var nic = FakeFunction("0000:01:00.0", vendor: 0x8086, device: 0x10d3, class: 0x020000, parent: "0000:00:1c.0",
                           group: 14, driver: "e1000e")
    nic.netInterfaces = ["enp1s0"]
    nic.numaNode = 1
    fake.add(nic)
    fake.add(FakeFunction("0000:02:00.0", vendor: 0x10de, device: 0x1b80, class: 0x030000, group: 17, driver: "nouveau"))
    fake.add(FakeFunction("0000:02:00.1", vendor: 0x10de, device: 0x10f0, class: 0x040300, group: 17, driver: "snd_hda_intel"))
    var pf = FakeFunction("10000:e1:00.0", vendor: 0x8086, device: 0x10fb, class: 0x020000, group: 3, driver: "ixgbe")
    pf.sriov = (total: 8, autoprobe: true)
    fake.add(pf)
    var vf = FakeFunction("10000:e1:10.0", vendor: 0x8086, device: 0x10ed, class: 0x020000, group: 40, driver: "ixgbevf")
    vf.physfn = (pf.address, 0)
    fake.add(vf)
    fake.build()
    return fake
}

/// A host with something for every rule: an isolated NIC, a conventional PCI bridge with two NICs,
/// the boot NVMe, a boot GPU with the AMD reset bug, an SR-IOV PF and its VF.
public func checkHost(_ adjust: (inout FakeSysfs) -> Void = { _ in }) -> FakeSysfs {
    var fake = FakeSysfs()
    fake.withIOMMU()
    var port = FakeFunction("0000:00:1c.0", vendor: 0x8086, device: 0x1c10, class: 0x060400, group: 1, driver: "pcieport")
    port.driverModule = nil
    port.config?.pcieType = .rootPort
    port.config?.acs = ACSCapability(capability: 0x1f, control: 0x1d)
    fake.add(port)
    var nic = FakeFunction("0000:01:00.0", vendor: 0x8086, device: 0x10d3, class: 0x020000, parent: "0000:00:1c.0", group: 2,
                           driver: "e1000e")
    nic.config?.flr = true
    nic.netInterfaces = ["enp1s0"]
    fake.add(nic)
    var bridge = FakeFunction("0000:00:1e.0", vendor: 0x8086, device: 0x244e, class: 0x060401, group: 3)
    bridge.config?.pcieType = nil
    fake.add(bridge)
    for slot in ["0000:02:01.0", "0000:02:02.0"] {
        var bridged = FakeFunction(slot, vendor: 0x8086, device: 0x100e, class: 0x020000, parent: "0000:00:1e.0", group: 3,
                                   driver: "e1000")
        bridged.resetMethods = ["bus"]
        bridged.config?.pcieType = nil
        fake.add(bridged)
    }
    var nvmePort = FakeFunction("0000:00:1d.0", vendor: 0x8086, device: 0x1c12, class: 0x060400, group: 4, driver: "pcieport")
    nvmePort.config?.pcieType = .rootPort
    nvmePort.config?.acs = ACSCapability(capability: 0x1f, control: 0x1d)
    fake.add(nvmePort)
    var nvme = FakeFunction("0000:03:00.0", vendor: 0x144d, device: 0xa80a, class: 0x010802, parent: "0000:00:1d.0", group: 5,
                            driver: "nvme")
    nvme.config?.flr = true
    nvme.blockDevices = [("nvme0n1", "nvme/nvme0/nvme0n1"), ("nvme0n1p1", "nvme/nvme0/nvme0n1/nvme0n1p1"),
                         ("nvme0n1p2", "nvme/nvme0/nvme0n1/nvme0n1p2"), ("nvme0n1p3", "nvme/nvme0/nvme0n1/nvme0n1p3")]
    fake.add(nvme)
    fake.blockDeviceNumbers = ["nvme0n1": "259:0", "nvme0n1p1": "259:1", "nvme0n1p2": "259:2", "nvme0n1p3": "259:3"]
    fake.mounts = [("259:2", "/", "ext4", "/dev/nvme0n1p2"), ("259:1", "/boot/efi", "vfat", "/dev/nvme0n1p1")]
    fake.swaps = ["/dev/nvme0n1p3"]
    var gpuPort = FakeFunction("0000:00:01.0", vendor: 0x8086, device: 0x0c01, class: 0x060400, group: 9, driver: "pcieport")
    gpuPort.driverModule = nil
    gpuPort.config?.pcieType = .rootPort
    gpuPort.config?.acs = ACSCapability(capability: 0x1f, control: 0x1d)
    gpuPort.config?.linkCapability = (3, 16)
    fake.add(gpuPort)
    var gpu = FakeFunction("0000:04:00.0", vendor: 0x1002, device: 0x67df, class: 0x030000, parent: "0000:00:01.0", group: 6,
                           driver: "amdgpu")
    gpu.config?.multifunction = true
    gpu.config?.linkCapability = (3, 16)
    gpu.config?.linkStatus = (1, 16)
    gpu.config?.resizableBAR = (bar: 0, current: 8, supported: 0x3f << 8)
    gpu.bootVGA = true
    // No FLR, and a bus shared with its audio function: the kernel lists no reset method.
    gpu.resetMethods = []
    fake.add(gpu)
    var audio = FakeFunction("0000:04:00.1", vendor: 0x1002, device: 0xaaf0, class: 0x040300, parent: "0000:00:01.0", group: 6,
                             driver: "snd_hda_intel")
    audio.config?.multifunction = true
    fake.add(audio)
    fake.framebuffers = ["fb0": "0000:04:00.0"]
    var pf = FakeFunction("0000:05:00.0", vendor: 0x8086, device: 0x10fb, class: 0x020000, group: 7, driver: "ixgbe")
    pf.sriov = (total: 63, autoprobe: false)
    pf.netInterfaces = ["enp5s0f0"]
    fake.add(pf)
    fake.netStates = ["enp5s0f0": "down"]
    var vf = FakeFunction("0000:05:10.0", vendor: 0x8086, device: 0x10ed, class: 0x020000, group: 8, driver: "vfio-pci")
    vf.physfn = (pf.address, 0)
    fake.add(vf)
    fake.vfioGroupNodes = [8]
    adjust(&fake)
    fake.build()
    return fake
}
