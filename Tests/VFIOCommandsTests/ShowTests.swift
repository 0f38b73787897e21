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
}
