import VFIOCore

/// The synthetic host of the benchmarks (vfioctl-faketree), about `functions` functions, not yet
/// built: several PCI domains; each root port carries a dual-port SR-IOV NIC whose first port has
/// up to 63 VFs (ARI: on the same bus, devices 0x10 and up, each VF in its own group, each with a
/// netdev), a GPU with its audio function in one group, or an NVMe drive.
public func benchHost(_ fake: inout FakeSysfs, functions target: Int) {
    fake.withIOMMU()
    var count = 0
    var group = 0
    var domain: UInt32 = 0
    var bus: UInt8 = 1
    var port = 0
    func address(_ domain: UInt32, _ bus: UInt8, _ device: UInt8, _ function: UInt8) -> String {
        PCIAddress(domain: domain, bus: bus, device: device, function: function).description
    }
    func nextGroup() -> Int {
        group += 1
        return group
    }
    while count < target {
        let portAddress = address(domain, 0, UInt8(1 + port % 30), 0)
        var rootPort = FakeFunction(portAddress, vendor: 0x8086, device: 0x1c10, class: 0x060400, group: nextGroup(),
                                    driver: "pcieport")
        rootPort.driverModule = nil
        rootPort.config?.pcieType = .rootPort
        rootPort.config?.acs = ACSCapability(capability: 0x1f, control: 0x1d)
        fake.add(rootPort)
        count += 1
        switch port % 3 {
        case 0: // dual-port NIC, port 0 with up to 63 VFs (ARI: VFs on the same bus, devices 0x10+)
            var pf = FakeFunction(address(domain, bus, 0, 0), vendor: 0x8086, device: 0x1572, class: 0x020000,
                                  parent: portAddress, group: nextGroup(), driver: "i40e")
            pf.sriov = (total: 64, autoprobe: true)
            pf.config?.sriovCapability = true
            pf.config?.multifunction = true
            pf.netInterfaces = ["enp\(domain)s\(bus)f0"]
            fake.add(pf)
            var second = FakeFunction(address(domain, bus, 0, 1), vendor: 0x8086, device: 0x1572, class: 0x020000,
                                      parent: portAddress, group: group, driver: "i40e")
            second.config?.multifunction = true
            second.netInterfaces = ["enp\(domain)s\(bus)f1"]
            fake.add(second)
            count += 2
            var index = 0
            while index < 63 && count < target {
                let slot = 0x10 + index / 8
                var vf = FakeFunction(address(domain, bus, UInt8(slot), UInt8(index % 8)), vendor: 0x8086, device: 0x154c,
                                      class: 0x020000, parent: portAddress, group: nextGroup(), driver: "iavf")
                vf.physfn = (pf.address, index)
                vf.netInterfaces = ["enp\(domain)s\(bus)f0v\(index)"]
                fake.add(vf)
                index += 1
                count += 1
            }
        case 1: // GPU + audio sharing a group
            let gpuGroup = nextGroup()
            var gpu = FakeFunction(address(domain, bus, 0, 0), vendor: 0x10de, device: 0x2204, class: 0x030000,
                                   parent: portAddress, group: gpuGroup, driver: "nvidia")
            gpu.config?.multifunction = true
            fake.add(gpu)
            var audio = FakeFunction(address(domain, bus, 0, 1), vendor: 0x10de, device: 0x1aef, class: 0x040300,
                                     parent: portAddress, group: gpuGroup, driver: "snd_hda_intel")
            audio.config?.multifunction = true
            fake.add(audio)
            count += 2
        default: // NVMe
            var nvme = FakeFunction(address(domain, bus, 0, 0), vendor: 0x144d, device: 0xa80a, class: 0x010802,
                                    parent: portAddress, group: nextGroup(), driver: "nvme")
            nvme.blockDevices = [("nvme\(port)n1", "nvme/nvme\(port)/nvme\(port)n1")]
            fake.add(nvme)
            count += 1
        }
        port += 1
        if bus == 255 || port % 30 == 0 {
            domain += 1
            bus = 1
        } else {
            bus += 1
        }
    }
}
