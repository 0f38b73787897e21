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
        let full = try DeviceLayer(root: HostRoot(root))
            .observe(ObservationScope(.all, names: true, groupDetails: true, kernelModules: true)).snapshot
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

    @Test("kernel modules and vfio variant drivers from the root's module index, in text and JSON; unknown without one")
    func kernelModules() throws {
        func host(index: Bool) -> FakeSysfs {
            var fake = FakeSysfs()
            fake.withIOMMU()
            fake.add(FakeFunction("0000:01:00.0", vendor: 0x8086, device: 0x10d3, class: 0x020000, group: 1, driver: "e1000e"))
            fake.add(FakeFunction("0000:02:00.0", vendor: 0x15b3, device: 0x101e, class: 0x020000, group: 2, driver: "mlx5_core"))
            if index {
                fake.moduleAliases = ["e1000e": ["pci:v00008086d000010D3sv*sd*bc*sc*i*"],
                                      "mlx5_core": ["pci:v000015B3d0000101Esv*sd*bc*sc*i*"],
                                      "vfio_pci": ["vfio_pci:v*d*sv*sd*bc*sc*i*"],
                                      "mlx5_vfio_pci": ["vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i*"]]
            }
            fake.build()
            return fake
        }
        func line(_ out: String, _ key: String) -> String? {
            out.split(separator: "\n").first { $0.hasPrefix("  \(key):") }
                .map { $0.dropFirst(key.count + 3).trimmingCharacters(in: .whitespaces) }
        }
        func document(_ out: String) throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
        }
        let fake = host(index: true)
        defer { fake.remove() }
        let nic = Vfioctl.capture(["show", "0000:01:00.0", "--root", fake.root])
        #expect(nic.status == 0 && line(nic.out, "kernel modules") == "e1000e", "\(nic.out)\(nic.err)")
        #expect(line(nic.out, "vfio variant drivers") == nil, "\(nic.out)")
        let vf = Vfioctl.capture(["show", "0000:02:00.0", "--root", fake.root])
        #expect(line(vf.out, "kernel modules") == "mlx5_core", "\(vf.out)")
        #expect(line(vf.out, "vfio variant drivers") == "mlx5_vfio_pci", "\(vf.out)")
        let json = try document(Vfioctl.capture(["show", "0000:02:00.0", "--root", fake.root, "--format", "json"]).out)
        #expect(json["kernel_modules"] as? [String] == ["mlx5_core"])
        #expect(json["vfio_variant_modules"] as? [String] == ["mlx5_vfio_pci"])
        let nicJSON = try document(Vfioctl.capture(["show", "0000:01:00.0", "--root", fake.root, "--format", "json"]).out)
        #expect(nicJSON["vfio_variant_modules"] as? [String] == [])

        let bare = host(index: false)
        defer { bare.remove() }
        let unknown = Vfioctl.capture(["show", "0000:01:00.0", "--root", bare.root])
        #expect(unknown.status == 0 && line(unknown.out, "kernel modules") == "unknown", "\(unknown.out)\(unknown.err)")
        let unknownJSON = try document(Vfioctl.capture(["show", "0000:01:00.0", "--root", bare.root, "--format", "json"]).out)
        #expect(unknownJSON["kernel_modules"] is NSNull && unknownJSON["vfio_variant_modules"] is NSNull)
        // list does not look modules up: its functions carry no such keys.
        let list = try document(Vfioctl.capture(["list", "--root", fake.root, "--format", "json"]).out)
        let functions = try #require(list["functions"] as? [[String: Any]])
        #expect(functions.allSatisfy { $0["kernel_modules"] == nil })
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
