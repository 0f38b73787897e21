import Testing
import VFIOCore
import VFIODeviceLayer

/// The device layer on sysfs trees snapshotted from the lab's real kernel (scripts/lab snapshot):
/// what Linux 5.10, 6.1 and 6.12 made of each QEMU topology and IOMMU, read back without a kernel.
@Suite("Real-kernel snapshots from the lab")
struct LabFixtureTests {
    static func snapshot(_ name: String) throws -> HostSnapshot {
        try DeviceLayer(root: HostRoot(Fixtures.directory + "/lab/" + name), idsPath: Fixtures.pciIDs).snapshot()
    }

    static func ids(_ f: PCIFunction) -> String { f.ids }

    @Test("every snapshot reads cleanly: sorted, groups consistent, config space read in full as root",
          arguments: ["passthrough", "passthrough-sriov", "no-intremap", "iommu-off", "no-vtd", "passthrough-5.10", "passthrough-6.12",
                      "amd-iommu", "amd-iommu-off", "virtio-iommu-6.1"])
    func consistent(name: String) throws {
        let snapshot = try Self.snapshot(name)
        #expect(snapshot.functions.count >= 17)
        #expect(snapshot.functions.map(\.address) == snapshot.functions.map(\.address).sorted())
        for group in snapshot.groups {
            for member in group.members { #expect(snapshot.function(member)?.iommuGroup == group.id) }
        }
        for f in snapshot.functions {
            let length = try #require(f.capabilities?.configLength, "\(f.address)")
            #expect(length == (f.capabilities?.isPCIe == true ? 4096 : 256), "\(f.address)")
            // Unbound only: bridges, VFs, the host bridge, and an AMD IOMMU's own function (class
            // 0806: the kernel's AMD-Vi driver is not a PCI driver).
            #expect(f.driver != nil || f.isBridge || f.isVirtualFunction || f.address.device == 0 || f.classCode >> 8 == 0x0806,
                    "\(f.address) \(f.ids)")
        }
    }

    @Test("passthrough: the groups Linux forms for each topology")
    func passthroughGroups() throws {
        let s = try Self.snapshot("passthrough")
        func members(_ f: PCIFunction?) -> Set<String> {
            Set(s.group(of: f?.address ?? PCIAddress(bus: 0, device: 0, function: 0))?.members.map(\.description) ?? [])
        }
        let bridge = try #require(s.functions.first { $0.ids == "1b36:0001" })
        let bridged = s.functions.filter { $0.parent == bridge.address }
        #expect(bridge.isBridge && bridge.driver == nil && bridged.count == 2)
        #expect(members(bridge) == Set(([bridge] + bridged).map(\.address.description)))
        #expect(bridge.capabilities?.isPCIe == false)

        let multifunction = s.functions.filter { $0.ids == "8086:100e" && $0.parent == nil }
        #expect(multifunction.map(\.isMultifunction) == [true, true])
        #expect(members(multifunction.first) == Set(multifunction.map(\.address.description)))

        let rootPorts = s.functions.filter { $0.capabilities?.pcieType == .rootPort }
        #expect(rootPorts.count == 5)  // isolated (2), switch, nvme-sriov, nvme-disk
        for port in rootPorts {
            // QEMU's root ports have ACS with SV, RR, CR and UF enabled: what isolates what is below.
            let acs = try #require(port.capabilities?.acs, "\(port.address)")
            for bit in [ACSCapability.Bit.sourceValidation, .requestRedirect, .completionRedirect, .upstreamForwarding] {
                #expect(acs.enables(bit), "\(port.address) \(bit)")
            }
        }
        let downstream = s.functions.filter { $0.capabilities?.pcieType == .downstreamPort }
        #expect(downstream.count == 2)
        for port in downstream {
            #expect(port.capabilities?.acs == nil && port.capabilities?.extendedConfigReadable == true)
            let endpoint = try #require(s.functions.first { $0.parent == port.address })
            #expect(members(endpoint) == [port.address.description, endpoint.address.description])
            #expect(s.upstreamPath(of: endpoint.address).map { $0.capabilities?.pcieType } == [.downstreamPort, .upstreamPort, .rootPort])
        }
        let isolated = s.functions.filter { f in f.ids == "8086:10d3" && s.function(f.parent ?? f.address)?.capabilities?.pcieType == .rootPort }
        #expect(isolated.count == 2)
        for f in isolated { #expect(members(f) == [f.address.description]) }
    }

    @Test("passthrough-sriov: the NVMe VFs the kernel created, with their PF, indices and own groups")
    func sriovVFs() throws {
        let s = try Self.snapshot("passthrough-sriov")
        let pf = try #require(s.functions.first { $0.sriov != nil })
        let sriov = try #require(pf.sriov)
        #expect(sriov.totalVFs == 2 && sriov.numVFs == 2 && sriov.driversAutoprobe == false && sriov.vfs.count == 2)
        #expect(pf.driver == "nvme" && pf.capabilities?.hasSRIOV == true)
        for (index, address) in sriov.vfs.enumerated() {
            let vf = try #require(s.function(address))
            #expect(vf.physfn == pf.address && vf.vfIndex == index && vf.driver == nil)
            #expect(vf.iommuGroup != nil && vf.iommuGroup != pf.iommuGroup)
            #expect(s.group(of: address)?.members == [address])
            #expect(vf.isMultifunction == false)
        }
    }

    @Test("without an active IOMMU: no groups; what the firmware offers is still known")
    func withoutIOMMU() throws {
        let off = try Self.snapshot("iommu-off")
        #expect(off.groups.isEmpty && !off.iommu.hasGroups && off.iommu.acpiTables == ["DMAR"])
        let none = try Self.snapshot("no-vtd")
        #expect(none.groups.isEmpty && none.iommu.acpiTables.isEmpty && none.iommu.units.isEmpty)
        let defaultOn = try Self.snapshot("no-intremap")
        #expect(!defaultOn.groups.isEmpty && defaultOn.iommu.units == ["dmar0"])
    }

    /// The same machine under three kernels: 5.10 (a `reset` attribute, no `reset_method`, no
    /// `vfio-dev/`), 6.1 and 6.12 (which list their methods). What vfioctl reads from 5.10's config
    /// space is what the newer kernels list, but for the bus reset they decide from the topology.
    @Test("sysfs of three kernel ages: 5.10's reset methods, read from config space, are the ones 6.1 and 6.12 list")
    func kernelAges() throws {
        let old = try Self.snapshot("passthrough-5.10")
        #expect(old.functions.allSatisfy { $0.resetMethods.isEmpty })
        let resettable = old.functions.filter(\.hasResetAttribute)
        #expect(resettable.contains { $0.driver == "nvme" } && resettable.allSatisfy(\.resetMethodsUnlisted))
        for newer in ["passthrough", "passthrough-6.12"] {
            let listed = try Self.snapshot(newer)
            #expect(listed.functions.map(\.address) == old.functions.map(\.address), "\(newer)")
            for f in old.functions {
                let theirs = try #require(listed.function(f.address))
                #expect(f.effectiveResetMethods == theirs.resetMethods.filter { $0 != "bus" }, "\(newer) \(f.address) \(f.ids)")
                #expect(f.hasResetAttribute == !theirs.resetMethods.isEmpty, "\(newer) \(f.address) \(f.ids)")
                #expect(f.iommuGroup == theirs.iommuGroup && f.capabilities == theirs.capabilities, "\(newer) \(f.address)")
            }
        }
    }
}
