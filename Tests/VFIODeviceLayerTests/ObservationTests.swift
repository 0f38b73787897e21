import Testing
import VFIOCore
import VFIODeviceLayer
import VFIOTestSupport

/// The two enumerations (every function; the functions around a few) end in one attach pass:
/// a function reads the same whichever read it.
@Suite("Scoped and full observations agree")
struct ObservationTests {
    /// The rules commands follow around their functions.
    static let rules: [(String, @Sendable (PCIFunction) -> [ScopeLink])] = [
        ("nothing more", { _ in [] }), ("check", Preflight.readScope(for:)), ("show", InventoryText.showScope(for:)),
    ]

    /// The fields in which two functions differ, by name (for the failure message).
    static func differences(_ a: PCIFunction, _ b: PCIFunction?) -> [String] {
        guard let b else { return ["not in the full read"] }
        return zip(Mirror(reflecting: a).children, Mirror(reflecting: b).children).compactMap { x, y in
            String(describing: x.value) == String(describing: y.value) ? nil
                : "\(x.label ?? "?"): \(x.value) vs \(y.value)"
        }
    }

    /// With each function of the tree (and each group) as the scope, under each rule: every
    /// function the scoped observation holds equals the full observation's, field by field, and
    /// so does every group it holds (all members, type, reserved regions).
    static func expectScopedEqualsFull(_ root: String, _ name: String, atLeast: Int = 5,
                                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let layer = DeviceLayer(root: try HostRoot(root), idsPath: Fixtures.pciIDs)
        let full = try layer.observe(ObservationScope(.all, names: true, groupDetails: true)).snapshot
        #expect(full.functions.count >= atLeast, "\(name)", sourceLocation: sourceLocation)
        let scopes = full.functions.map { ([$0.address], [Int]()) } + full.groups.map { ([PCIAddress](), [$0.id]) }
        for (addresses, groups) in scopes {
            for (rule, following) in rules {
                let what = "\(name), scope \(addresses.map(\.description))\(groups) following \(rule)"
                let scoped = try layer.observe(ObservationScope(.around(addresses: addresses, groups: groups, following: following),
                                                                names: true, groupDetails: true)).snapshot
                for address in addresses { #expect(scoped.function(address) != nil, "\(what)", sourceLocation: sourceLocation) }
                for f in scoped.functions {
                    let other = full.function(f.address)
                    #expect(f == other, "\(what): \(f.address) differs in \(differences(f, other))", sourceLocation: sourceLocation)
                }
                for group in scoped.groups {
                    #expect(group == full.group(group.id), "\(what): group \(group.id)", sourceLocation: sourceLocation)
                }
                for id in groups { #expect(scoped.group(id) != nil, "\(what)", sourceLocation: sourceLocation) }
                #expect(scoped.iommu == full.iommu && scoped.cpuVendor == full.cpuVendor, "\(what)", sourceLocation: sourceLocation)
            }
        }
    }

    @Test("on every lab snapshot of a real kernel", arguments: ["passthrough", "passthrough-sriov", "no-intremap", "iommu-off", "no-vtd"])
    func labFixtures(name: String) throws {
        try Self.expectScopedEqualsFull(Fixtures.directory + "/lab/" + name, name)
    }

    @Test("on the command tests' hosts and the device layer's desktop")
    func commandFixtures() throws {
        let desktop = DeviceLayerTests.desktop()
        desktop.build()
        for (name, fake) in [("commandFixture", commandFixture()), ("checkHost", checkHost()), ("desktop", desktop)] {
            defer { fake.remove() }
            try Self.expectScopedEqualsFull(fake.root, name)
        }
    }

    @Test("on the benchmarks' host (ARI VFs in the PF's slots, several domains), where a scope is a small part")
    func benchHostAgrees() throws {
        var fake = FakeSysfs()
        benchHost(&fake, functions: 140)
        fake.build()
        defer { fake.remove() }
        try Self.expectScopedEqualsFull(fake.root, "benchHost")
        // A VF's observation for a check: the VF, its PF and the PF's slot, the root port. Not the other VFs.
        let layer = DeviceLayer(root: try HostRoot(fake.root), idsPath: Fixtures.pciIDs)
        let vf = try layer.observe(ObservationScope(.around(addresses: [address("0000:01:10.0")], following: Preflight.readScope(for:))))
        #expect(vf.snapshot.functions.map(\.address.description) == ["0000:00:01.0", "0000:01:00.0", "0000:01:00.1", "0000:01:10.0"])
        #expect(vf.snapshot.function(address("0000:01:10.0"))?.vfIndex == 0 && vf.facts == nil)
    }

    @Test("a slot's other functions are read even in other groups: only function 0 says multifunction (as QEMU does)")
    func slotAcrossGroups() throws {
        var fake = FakeSysfs()
        fake.withIOMMU()
        var first = FakeFunction("0000:03:00.0", vendor: 0x8086, device: 0x1572, class: 0x020000, group: 1, driver: "i40e")
        first.config?.multifunction = true
        fake.add(first)
        fake.add(FakeFunction("0000:03:00.1", vendor: 0x8086, device: 0x1572, class: 0x020000, group: 2, driver: "i40e"))
        fake.add(FakeFunction("0000:04:00.0", vendor: 0x8086, device: 0x10d3, class: 0x020000, group: 3, driver: "e1000e"))
        fake.build()
        defer { fake.remove() }
        try Self.expectScopedEqualsFull(fake.root, "two groups in one slot", atLeast: 3)
        let layer = DeviceLayer(root: try HostRoot(fake.root), idsPath: Fixtures.pciIDs)
        let second = try layer.observe(ObservationScope(.around(addresses: [address("0000:03:00.1")]))).snapshot
        #expect(second.function(address("0000:03:00.1"))?.isMultifunction == true)
        #expect(second.functions.map(\.address.description) == ["0000:03:00.0", "0000:03:00.1"])
    }
}


/// `metrics` reads every function's summary only (`ObservationScope.Depth.summary`): it must say
/// what the full read says about what it reads.
@Suite("Summary and full observations agree")
struct SummaryObservationTests {
    /// The fields a summary reads, as the full read has them, and the groups and IOMMU state.
    static func expectSummaryAgrees(_ root: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let layer = DeviceLayer(root: try HostRoot(root), idsPath: Fixtures.pciIDs)
        let full = try layer.observe(ObservationScope(.all, facts: true, openGroups: true))
        let summary = try layer.observe(ObservationScope(.all, facts: true, openGroups: true, depth: .summary))
        #expect(summary.snapshot.functions.map(\.address) == full.snapshot.functions.map(\.address), "\(name)", sourceLocation: sourceLocation)
        #expect(!summary.snapshot.functions.isEmpty, "\(name)", sourceLocation: sourceLocation)
        for (s, f) in zip(summary.snapshot.functions, full.snapshot.functions) {
            let what = "\(name) \(s.address)"
            #expect(s.vendorID == f.vendorID && s.deviceID == f.deviceID && s.classCode == f.classCode, "\(what)", sourceLocation: sourceLocation)
            #expect(s.subsystemVendorID == f.subsystemVendorID && s.subsystemDeviceID == f.subsystemDeviceID, "\(what)", sourceLocation: sourceLocation)
            #expect(s.driver == f.driver && s.driverModule == f.driverModule && s.hasVFIODevice == f.hasVFIODevice, "\(what)",
                    sourceLocation: sourceLocation)
            #expect(s.iommuGroup == f.iommuGroup && s.numaNode == f.numaNode, "\(what)", sourceLocation: sourceLocation)
            #expect(s.physfn == f.physfn && s.vfIndex == f.vfIndex, "\(what)", sourceLocation: sourceLocation)
            #expect(s.sriov?.totalVFs == f.sriov?.totalVFs && s.sriov?.numVFs == f.sriov?.numVFs && s.sriov?.vfIndices == f.sriov?.vfIndices,
                    "\(what)", sourceLocation: sourceLocation)
            #expect(StubDriver.isVFIO(s) == StubDriver.isVFIO(f) && s.isBridge == f.isBridge, "\(what)", sourceLocation: sourceLocation)
            // Not read: config space and what only the full read looks at.
            #expect(s.capabilities == nil && s.headerType == nil && s.resetMethods.isEmpty && s.netInterfaces.isEmpty, "\(what)",
                    sourceLocation: sourceLocation)
        }
        #expect(summary.snapshot.groups == full.snapshot.groups && summary.snapshot.iommu == full.snapshot.iommu, "\(name)",
                sourceLocation: sourceLocation)
        #expect(summary.facts?.vfioUsers == full.facts?.vfioUsers && summary.facts?.interruptChips == full.facts?.interruptChips, "\(name)",
                sourceLocation: sourceLocation)
    }

    @Test("on every lab snapshot of a real kernel", arguments: ["passthrough", "passthrough-sriov", "no-intremap", "iommu-off", "no-vtd"])
    func labFixtures(name: String) throws {
        try Self.expectSummaryAgrees(Fixtures.directory + "/lab/" + name, name)
    }

    @Test("on the command tests' hosts, the desktop and the benchmarks' host")
    func fakeHosts() throws {
        let desktop = DeviceLayerTests.desktop()
        desktop.build()
        var bench = FakeSysfs()
        benchHost(&bench, functions: 300)
        bench.build()
        let held = checkHost { $0.vfioUsers = [(pid: 4242, command: "qemu-system-x86", arguments: ["qemu", "-name", "guest=vm1"], groups: [8])] }
        for (name, fake) in [("commandFixture", commandFixture()), ("checkHost", held), ("desktop", desktop), ("benchHost", bench)] {
            defer { fake.remove() }
            try Self.expectSummaryAgrees(fake.root, name)
        }
    }

    @Test("damage is refused as the full read refuses it")
    func damage() throws {
        let fake = commandFixture()
        defer { fake.remove() }
        fake.write("sys/bus/pci/devices/0000:01:00.0/numa_node", "x1\n")
        let layer = DeviceLayer(root: try HostRoot(fake.root))
        #expect(throws: VFIOError.self) { try layer.observe(ObservationScope(.all, depth: .summary)) }
        #expect(throws: VFIOError.self) { try layer.observe(ObservationScope(.all)) }
    }
}
