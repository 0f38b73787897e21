import Foundation
import Testing
import VFIOCore
import VFIOTestSupport
@testable import VFIODeviceLayer

@Suite("libpci pointed at a fake tree")
struct LibPCITests {
    @Test("libpci's own sysfs access (sysfs.path under the root) decodes what the reader decodes")
    func ownAccessAgrees() throws {
        let fake = DeviceLayerTests.desktop()
        defer { fake.remove() }
        let snapshot = try fake.read()
        let pci = try LibPCI(root: HostRoot(fake.root), idsPath: Fixtures.pciIDs)
        for function in snapshot.functions {
            let own = try #require(pci.readConfig(function.address, sizeHint: 4096), "\(function.address)")
            #expect(own.capabilities == function.capabilities, "\(function.address)")
            #expect(own.headerType == function.headerType, "\(function.address)")
            #expect(own.vendorID == function.vendorID && own.deviceID == function.deviceID)
        }
    }

    @Test("libpci errors come back as Swift errors, not exit(1)")
    func errorHook() throws {
        // A pci.ids path that does not exist is a warning to libpci (names are nil), and a
        // missing config file is an open failure it reports through the warning hook.
        let fake = FakeSysfs()
        defer { fake.remove() }
        fake.build()
        let pci = try LibPCI(root: HostRoot(fake.root), idsPath: "/nonexistent/pci.ids")
        #expect(pci.vendorName(0x8086) == nil)
        #expect(pci.readConfig(PCIAddress(bus: 1, device: 0, function: 0), sizeHint: 4096) == nil)
    }

    @Test("a class pci.ids knows only by its base class is named without libpci's code ('Unassigned class', not 'Unassigned class [ffff]')")
    func baseClassOnly() throws {
        let fake = FakeSysfs()
        defer { fake.remove() }
        fake.build()
        let ids = fake.root + "/pci.ids"
        let text = "C 02  Network controller\n\t00  Ethernet controller\nC ff  Unassigned class\n"
        try text.write(toFile: ids, atomically: true, encoding: .utf8)
        let pci = try LibPCI(root: HostRoot(fake.root), idsPath: ids)
        #expect(pci.className(0x02_00_00) == "Ethernet controller")
        #expect(pci.className(0x02_ff_00) == "Network controller")
        #expect(pci.className(0xff_ff_00) == "Unassigned class")
    }
}
