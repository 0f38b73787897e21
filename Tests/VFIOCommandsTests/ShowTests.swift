import Foundation
import Testing
import VFIOCommands
import VFIOCore
import VFIODeviceLayer
import VFIOTestSupport

/// `show ADDRESS` reads only what it shows; what it prints must stay what a read of the whole
/// host gives.
@Suite("show")
struct ShowTests {
    /// Every function of the tree, shown by the command, is byte for byte what the renderers make
    /// of a read of the whole tree (text and JSON).
    static func expectSameAsFullRead(_ root: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let full = try DeviceLayer(root: HostRoot(root)).snapshot(.all)
        #expect(full.functions.count >= 6, "\(name)", sourceLocation: sourceLocation)
        for f in full.functions {
            let address = f.address.description
            let text = Vfioctl.capture(["show", address, "--root", root])
            #expect(text.status == 0 && text.err.isEmpty, "\(name) \(address): \(text.err)", sourceLocation: sourceLocation)
            #expect(text.out == InventoryText.show(f, in: full), "\(name) \(address)", sourceLocation: sourceLocation)
            let json = Vfioctl.capture(["show", address, "--root", root, "--format", "json"])
            #expect(json.out == InventoryJSON.show(f, in: full).serialized(), "\(name) \(address) --format json",
                    sourceLocation: sourceLocation)
        }
    }

    @Test("show prints what a full read shows, for every function of the lab's real-kernel snapshots",
          arguments: ["passthrough", "passthrough-sriov", "no-intremap", "iommu-off", "no-vtd"])
    func labFixtures(name: String) throws {
        try Self.expectSameAsFullRead(CheckFixtureTests.fixture(name), name)
    }

    @Test("show prints what a full read shows, for every function of the command tests' hosts")
    func commandFixtures() throws {
        for (name, fake) in [("commandFixture", commandFixture()), ("checkHost", checkHost())] {
            defer { fake.remove() }
            try Self.expectSameAsFullRead(fake.root, name)
        }
    }

    @Test("a class pci.ids does not name is shown by its code once, not 'Class 2a00 [2a00]'; a named one keeps its code")
    func unnamedClass() throws {
        var fake = FakeSysfs()
        defer { fake.remove() }
        fake.withIOMMU()
        // Base class 2a is assigned by nobody: no pci.ids names it. Base class 02 is in every pci.ids.
        fake.add(FakeFunction("0000:05:00.0", vendor: 0x8086, device: 0x10d3, class: 0x2a0000, group: 1))
        fake.add(FakeFunction("0000:06:00.0", vendor: 0x8086, device: 0x10d3, class: 0x020000, group: 2))
        fake.build()
        let unnamed = Vfioctl.capture(["show", "0000:05:00.0", "--root", fake.root])
        #expect(unnamed.status == 0, "\(unnamed.err)")
        #expect(unnamed.out.hasPrefix("0000:05:00.0  Class 2a00: "), "\(unnamed.out)")
        #expect(!unnamed.out.contains("[2a00]"), "\(unnamed.out)")
        let named = Vfioctl.capture(["show", "0000:06:00.0", "--root", fake.root])
        #expect(named.out.hasPrefix("0000:06:00.0  Ethernet controller [0200]: "), "\(named.out)")
    }
}
