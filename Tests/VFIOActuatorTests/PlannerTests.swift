import Testing
import VFIOCore
import VFIOTestSupport

@Suite("detach and reattach planning")
struct PlannerTests {
    func detach(_ fake: FakeSysfs, addresses: [String] = [], groups: [Int] = [], force: Bool = false) throws -> Plan {
        BindingPlanner.detach(.init(addresses: addresses.map(pci), groups: groups, force: force), try fake.snapshot(), try fake.facts())
    }

    @Test("an isolated NIC: override, unbind, probe, verify, then /dev/vfio/N, in that order")
    func isolated() throws {
        let fake = bindingHost()
        defer { fake.remove() }
        let plan = try detach(fake, addresses: ["0000:01:00.0"])
        let nic = pci("0000:01:00.0")
        #expect(!plan.refused, "\(plan.findings)")
        #expect(plan.steps == [.setOverride(nic, "vfio-pci"), .unbind(nic, current: "e1000e", keeping: "vfio-pci"), .probe(nic),
                               .expect(nic, .driver("vfio-pci")), .awaitGroupNode(2)])
        #expect(plan.originals.bindings == [FunctionBinding(address: nic, group: 2, driver: "e1000e", module: "e1000e", override: nil)])
        #expect(plan.records.write == plan.originals.bindings && plan.groups == [2])
        #expect(plan.steps.map(\.path) == ["/sys/bus/pci/devices/0000:01:00.0/driver_override", "/sys/bus/pci/drivers/e1000e/unbind",
                                          "/sys/bus/pci/drivers_probe", "/sys/bus/pci/devices/0000:01:00.0/driver", "/dev/vfio/2"])
    }

    @Test("an address stands for its whole group; the bridge stays; identical IDs elsewhere are untouched")
    func wholeGroup() throws {
        let fake = bindingHost()
        defer { fake.remove() }
        let plan = try detach(fake, addresses: ["0000:02:02.0"])
        #expect(plan.changed == [pci("0000:02:01.0"), pci("0000:02:02.0")])
        #expect(!plan.steps.contains { $0.address == pci("0000:00:1e.0") })
        #expect(plan.findings.contains { $0.id == "group.whole" && $0.message.contains("0000:02:01.0") })
        // 0000:07:00.0 has the IDs of 0000:01:00.0 and lives in another group: a detach of one never names the other.
        let isolated = try detach(fake, addresses: ["0000:01:00.0"])
        #expect(!isolated.steps.contains { $0.address == pci("0000:07:00.0") })
        #expect(!isolated.steps.contains { $0.path.contains("new_id") })
    }

    @Test("multifunction: the audio function before the GPU; reattach the other way round")
    func ordering() throws {
        let fake = bindingHost()
        defer { fake.remove() }
        let plan = try detach(fake, groups: [6])
        #expect(plan.changed == [pci("0000:04:00.1"), pci("0000:04:00.0")])
        let records = plan.originals.bindings
        let onVFIO = bindingHost { fake in
            fake.setDriver("vfio-pci", for: "0000:04:00.0")
            fake.setDriver("vfio-pci", for: "0000:04:00.1")
        }
        defer { onVFIO.remove() }
        let back = BindingPlanner.reattach(.init(groups: [6]), records: records, try onVFIO.snapshot(), try onVFIO.facts())
        #expect(back.changed == [pci("0000:04:00.0"), pci("0000:04:00.1")])
        #expect(BindingPlanner.detachOrder([]).isEmpty)
    }

    @Test("refusals: the root disk (unless --force), a PF with VFs, a bridge, no group, no vfio-pci")
    func refusals() throws {
        let fake = bindingHost { fake in
            fake.loadedModules.removeAll { $0.hasPrefix("vfio") }
            fake.installedModules.append("vfio_pci")
            fake.registeredDrivers = []
        }
        defer { fake.remove() }
        let disk = try detach(fake, addresses: ["0000:03:00.0"])
        #expect(disk.refused && disk.findings.contains { $0.id == "device.host-critical" && $0.message.contains("root filesystem") })
        let forced = try detach(fake, addresses: ["0000:03:00.0"], force: true)
        #expect(!forced.refused && forced.findings.contains { $0.id == "device.host-critical" && $0.severity == .warning })
        #expect(forced.steps.first == .loadModule(module: "vfio-pci", driver: "vfio-pci"))
        let pf = try detach(fake, addresses: ["0000:08:00.0"])
        #expect(pf.refused && pf.findings.contains { $0.id == "detach.pf-has-vfs" && $0.message.contains("0000:08:10.2") })
        let bridge = try detach(fake, addresses: ["0000:00:1e.0"])
        #expect(bridge.findings.contains { $0.id == "device.bridge" })
        let missing = bindingHost { fake in
            fake.loadedModules.removeAll { $0.hasPrefix("vfio") }
            fake.installedModules = []
            fake.registeredDrivers = []
            fake.setGroup(nil, for: "0000:07:00.0")
        }
        defer { missing.remove() }
        let noModule = try detach(missing, addresses: ["0000:01:00.0"])
        #expect(noModule.refused && noModule.findings.contains { $0.id == "vfio.module-missing" })
        let noGroup = try detach(missing, addresses: ["0000:07:00.0"])
        #expect(noGroup.findings.contains { $0.id == "device.no-group" })
    }

    @Test("a group already on vfio-pci: nothing to do")
    func alreadyDetached() throws {
        let fake = bindingHost { $0.setDriver("vfio-pci", for: "0000:01:00.0") }
        defer { fake.remove() }
        let plan = try detach(fake, addresses: ["0000:01:00.0"])
        #expect(plan.steps.isEmpty && plan.unchanged == [pci("0000:01:00.0")] && !plan.refused)
    }

    @Test("reattach: the recorded driver exactly (override names it while probing), else the kernel's pick")
    func reattach() throws {
        let fake = bindingHost { fake in
            fake.setDriver("vfio-pci", for: "0000:01:00.0")
            fake.setDriver("vfio-pci", for: "0000:07:00.0")
        }
        defer { fake.remove() }
        let nic = pci("0000:01:00.0")
        let record = FunctionBinding(address: nic, group: 2, driver: "e1000e", module: "e1000e", override: nil)
        let plan = BindingPlanner.reattach(.init(addresses: [nic, pci("0000:07:00.0")]), records: [record], try fake.snapshot(), try fake.facts())
        #expect(Array(plan.steps.prefix(6)) == [.loadModule(module: "e1000e", driver: "e1000e"), .setOverride(nic, "e1000e"),
                                                .unbind(nic, current: nil, keeping: "e1000e"), .probe(nic), .expect(nic, .driver("e1000e")),
                                                .setOverride(nic, nil)])
        let other = pci("0000:07:00.0")
        #expect(plan.steps.suffix(4) == [.setOverride(other, nil), .unbind(other, current: "vfio-pci", keeping: nil), .probe(other),
                                        .expect(other, .notVFIO)])
        #expect(plan.findings.contains { $0.id == "reattach.no-record" && $0.subject == "0000:07:00.0" })
        #expect(plan.records.drop == [nic])
    }

    @Test("reattach refuses while a guest holds the group; a function moved elsewhere is left alone")
    func reattachGuards() throws {
        let fake = bindingHost { fake in
            fake.setDriver("vfio-pci", for: "0000:01:00.0")
            fake.vfioUsers = [(pid: 4242, command: "qemu-system-x86", arguments: ["qemu-system-x86_64", "-name", "guest=win11,debug-threads=on"],
                               groups: [2])]
        }
        defer { fake.remove() }
        let records = [FunctionBinding(address: pci("0000:01:00.0"), group: 2, driver: "e1000e", module: "e1000e", override: nil),
                       FunctionBinding(address: pci("0000:07:00.0"), group: 7, driver: "igb", module: "igb", override: nil),
                       FunctionBinding(address: pci("0000:0a:00.0"), group: 12, driver: "ixgbe", module: "ixgbe", override: nil)]
        let plan = BindingPlanner.reattach(.init(all: true), records: records, try fake.snapshot(), try fake.facts())
        #expect(plan.refused)
        #expect(plan.findings.contains { $0.id == "device.in-use" && $0.message.contains("qemu-system-x86 (pid 4242, guest 'win11')") })
        #expect(plan.findings.contains { $0.id == "reattach.moved" && $0.message.contains("on e1000e now") })
        #expect(plan.findings.contains { $0.id == "reattach.gone" && $0.subject == "0000:0a:00.0" })
        #expect(Set(plan.records.drop) == [pci("0000:07:00.0"), pci("0000:0a:00.0"), pci("0000:01:00.0")])
    }

    @Test("open groups not read are not 'nobody': reattach and SR-IOV changes refuse, naming /dev/vfio/N")
    func holdersUnknown() throws {
        let fake = bindingHost { fake in
            fake.setDriver("vfio-pci", for: "0000:01:00.0")
            fake.setDriver("vfio-pci", for: "0000:08:10.0")
        }
        defer { fake.remove() }
        let snapshot = try fake.snapshot()
        var facts = try fake.facts()
        #expect(facts.vfioUsers == [:])
        let request = BindingPlanner.ReattachRequest(addresses: [pci("0000:01:00.0")])
        #expect(!BindingPlanner.reattach(request, records: [], snapshot, facts).refused)
        #expect(!SRIOVPlanner.destroy(pci("0000:08:00.0"), snapshot, facts).refused)
        facts.vfioUsers = nil
        let reattach = BindingPlanner.reattach(request, records: [], snapshot, facts)
        #expect(reattach.refused)
        #expect(reattach.findings.contains { $0.id == "device.holders-unknown" && $0.subject == "0000:01:00.0"
            && $0.message.contains("/dev/vfio/2") }, "\(reattach.findings)")
        let destroy = SRIOVPlanner.destroy(pci("0000:08:00.0"), snapshot, facts)
        #expect(destroy.refused)
        // Only the VF on vfio-pci can be held by a guest: 0000:08:10.2 stays on igbvf.
        #expect(destroy.findings.filter { $0.id == "device.holders-unknown" }.map(\.subject) == ["0000:08:10.0"], "\(destroy.findings)")
    }

    @Test("QEMU's -name forms", arguments: [
        (["qemu", "-name", "guest=win11,debug-threads=on"], "win11"), (["qemu", "-name", "plain"], "plain"),
        (["qemu", "-name", "guest=a,,b"], "a,b"), (["qemu"], nil), (["qemu", "-name"], nil),
    ] as [([String], String?)])
    func guestNames(arguments: [String], expected: String?) {
        #expect(VFIOUser.guestName(arguments) == expected)
    }
}
