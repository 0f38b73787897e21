import Foundation
import Glibc
import Testing
import VFIOCore
import VFIODeviceLayer
import VFIOTestSupport

/// The kernel modules that could drive a function, as `lspci -k` lists them, from a module index
/// the real depmod made (FakeModules), looked up with the real libkmod.
@Suite("Kernel modules from modules.alias")
struct KernelModulesTests {
    /// An 82574L (8086:10d3, subsystem 8086:a01f), a ConnectX-5 VF (15b3:101e) and a device no
    /// module claims; modules aliasing the first by ids and by class, one aliasing another device,
    /// the generic vfio_pci (matches everything) and a variant driver for the ConnectX VF.
    static func host(index: Bool = true) -> FakeSysfs {
        var fake = FakeSysfs()
        fake.withIOMMU()
        var nic = FakeFunction("0000:01:00.0", vendor: 0x8086, device: 0x10d3, class: 0x020000, group: 1, driver: "e1000e")
        nic.subsystemVendorID = 0x8086
        nic.subsystemDeviceID = 0xa01f
        fake.add(nic)
        var vf = FakeFunction("0000:02:00.0", vendor: 0x15b3, device: 0x101e, class: 0x020000, group: 2, driver: "mlx5_core")
        vf.subsystemVendorID = 0x15b3
        vf.subsystemDeviceID = 0x0001
        fake.add(vf)
        fake.add(FakeFunction("0000:03:00.0", vendor: 0x1234, device: 0x1111, class: 0x030000, group: 3))
        if index {
            fake.moduleAliases = [
                "e1000e": ["pci:v00008086d000010D3sv*sd*bc*sc*i*"],
                "igb": ["pci:v00008086d000010C9sv*sd*bc*sc*i*"],
                // A class match: every Ethernet controller (as a driver with PCI_DEVICE_CLASS would).
                "eth-any": ["pci:v*d*sv*sd*bc02sc00i*"],
                "mlx5_core": ["pci:v000015B3d0000101Esv*sd*bc*sc*i*"],
                "vfio_pci": ["vfio_pci:v*d*sv*sd*bc*sc*i*"],
                "mlx5_vfio_pci": ["vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i*"],
            ]
        }
        return fake
    }

    static func show(_ fake: FakeSysfs, _ text: String) throws -> PCIFunction? {
        let scope = ObservationScope(.around(addresses: [address(text)]), kernelModules: true)
        return try DeviceLayer(root: HostRoot(fake.root)).observe(scope).snapshot.function(address(text))
    }

    @Test("the modules aliasing a function's modalias, by ids or class; variant drivers from its vfio_pci: aliases")
    func matches() throws {
        let fake = Self.host()
        defer { fake.remove() }
        fake.build()
        let nic = try #require(try Self.show(fake, "0000:01:00.0"))
        #expect(Set(nic.kernelModules ?? []) == ["e1000e", "eth_any"], "\(String(describing: nic.kernelModules))")
        #expect(nic.kernelModules?.count == 2)
        // vfio_pci's own alias matches every device: it is not a variant.
        #expect(nic.vfioVariantModules == [])
        let vf = try #require(try Self.show(fake, "0000:02:00.0"))
        #expect(Set(vf.kernelModules ?? []) == ["mlx5_core", "eth_any"], "\(String(describing: vf.kernelModules))")
        #expect(vf.vfioVariantModules == ["mlx5_vfio_pci"])
        let unclaimed = try #require(try Self.show(fake, "0000:03:00.0"))
        #expect(unclaimed.kernelModules == [])
        #expect(unclaimed.vfioVariantModules == [])
    }

    @Test("only the functions asked for are looked up, and only when asked: list and check do not pay for it")
    func onlyWhenAsked() throws {
        let fake = Self.host()
        defer { fake.remove() }
        fake.build()
        let layer = try DeviceLayer(root: HostRoot(fake.root))
        #expect(try layer.snapshot(.all).functions.allSatisfy { $0.kernelModules == nil && $0.vfioVariantModules == nil })
        let scoped = try layer.observe(ObservationScope(.around(addresses: [address("0000:01:00.0")], groups: [2]),
                                                        kernelModules: true)).snapshot
        #expect(scoped.function(address("0000:01:00.0"))?.kernelModules != nil)
        #expect(scoped.function(address("0000:02:00.0"))?.kernelModules == nil)
        let everything = try layer.observe(ObservationScope(.all, kernelModules: true)).snapshot
        #expect(everything.functions.allSatisfy { $0.kernelModules != nil })
    }

    @Test("unknown, not an error, without an index: no lib/modules for the release, no osrelease, no modalias")
    func unknown() throws {
        let bare = Self.host(index: false)
        defer { bare.remove() }
        bare.build()
        let nic = try #require(try Self.show(bare, "0000:01:00.0"))
        #expect(nic.kernelModules == nil && nic.vfioVariantModules == nil)

        let fake = Self.host()
        defer { fake.remove() }
        fake.build()
        // The index belongs to another release than the one running.
        fake.write("proc/sys/kernel/osrelease", "6.12.0-1-amd64\n")
        #expect(try Self.show(fake, "0000:01:00.0")?.kernelModules == nil)
        unlink(fake.root + "/proc/sys/kernel/osrelease")
        #expect(try Self.show(fake, "0000:01:00.0")?.kernelModules == nil)
        fake.write("proc/sys/kernel/osrelease", fake.kernelRelease + "\n")
        #expect(try Self.show(fake, "0000:01:00.0")?.kernelModules != nil)
        // A tree from before modalias was copied: unknown for that function.
        unlink(fake.root + "/" + (try #require(try Self.show(fake, "0000:01:00.0"))).sysfsPath + "/modalias")
        #expect(try Self.show(fake, "0000:01:00.0")?.kernelModules == nil)
    }

    @Test("an index that is not a regular file, a link, or not an index: unknown, never a hang")
    func damagedIndex() throws {
        let fake = Self.host()
        defer { fake.remove() }
        fake.build()
        let directory = fake.root + "/lib/modules/" + fake.kernelRelease
        let saved = fake.root + "/saved.bin"
        rename(directory + "/modules.alias.bin", saved)
        defer { unlink(directory + "/modules.alias.bin") }
        // A FIFO with no writer: libkmod's fopen of it would block for ever.
        for name in ["modules.alias.bin", "modules.builtin.alias.bin", "modules.builtin.bin"] {
            if name != "modules.alias.bin" { link(saved, directory + "/modules.alias.bin") }
            #expect(mkfifo(directory + "/" + name, 0o644) == 0)
            #expect(try Self.show(fake, "0000:01:00.0")?.kernelModules == nil, "a FIFO at \(name)")
            unlink(directory + "/" + name)
            unlink(directory + "/modules.alias.bin")
        }
        // A link, even to the genuine index.
        symlink(saved, directory + "/modules.alias.bin")
        #expect(try Self.show(fake, "0000:01:00.0")?.kernelModules == nil)
        unlink(directory + "/modules.alias.bin")
        // Text where the binary index belongs.
        fake.write("lib/modules/\(fake.kernelRelease)/modules.alias.bin", "alias pci:v*d* e1000e\n")
        #expect(try Self.show(fake, "0000:01:00.0")?.kernelModules == nil)
    }

    @Test("variant drivers come from depmod's modules.alias text, as libvirt reads it, for every function read when asked")
    func variantsFromModulesAlias() throws {
        let fake = Self.host()
        defer { fake.remove() }
        fake.build()
        let text = try String(contentsOfFile: fake.root + "/lib/modules/\(fake.kernelRelease)/modules.alias", encoding: .utf8)
        #expect(text.contains("alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci\n"), "\(text)")
        let vf = try #require(try Self.show(fake, "0000:02:00.0"))
        #expect(vf.vfioVariant?.module == "mlx5_vfio_pci" && vf.vfioVariant?.wildcards == 5)
        #expect(try Self.show(fake, "0000:01:00.0")?.vfioVariant == nil)
        // detach's read: every function, no libkmod lookups.
        let all = try DeviceLayer(root: HostRoot(fake.root)).observe(ObservationScope(.all, vfioVariants: true)).snapshot
        #expect(all.functions.allSatisfy { $0.vfioVariantModules != nil && $0.kernelModules == nil })
        #expect(all.function(address("0000:02:00.0"))?.vfioVariant?.module == "mlx5_vfio_pci")
    }

    @Test("modules.alias missing, a FIFO, a directory, a link, over 8 MiB or garbage: unknown or no variant, never a hang or a trap")
    func damagedModulesAlias() throws {
        let fake = Self.host()
        defer { fake.remove() }
        fake.build()
        let path = fake.root + "/lib/modules/\(fake.kernelRelease)/modules.alias"
        let genuine = try String(contentsOfFile: path, encoding: .utf8)
        func variants() throws -> [String]? { try Self.show(fake, "0000:02:00.0")?.vfioVariantModules }
        #expect(try variants() == ["mlx5_vfio_pci"])
        unlink(path)
        #expect(try variants() == nil)
        #expect(mkfifo(path, 0o644) == 0)
        #expect(try variants() == nil)
        unlink(path)
        mkdir(path, 0o755)
        #expect(try variants() == nil)
        rmdir(path)
        symlink("/etc/passwd", path)
        #expect(try variants() == nil)
        unlink(path)
        // Past what libvirt reads (8 MiB): unknown, not a partial answer.
        fake.write("lib/modules/\(fake.kernelRelease)/modules.alias", genuine + String(repeating: "# padding\n", count: (8 << 20) / 10 + 1))
        #expect(try variants() == nil)
        fake.write("lib/modules/\(fake.kernelRelease)/modules.alias", genuine + String(repeating: "# padding\n", count: 1000))
        #expect(try variants() == ["mlx5_vfio_pci"])
        // Garbage: no line of the shape, so no variant (known: none).
        var junk: [UInt8] = []
        var seed: UInt32 = 20261203
        for _ in 0..<200_000 { seed = seed &* 1664525 &+ 1013904223; junk.append(UInt8(truncatingIfNeeded: seed >> 24)) }
        FileManager.default.createFile(atPath: path, contents: Data(junk + Array("\nalias vfio_pci:\0v*d* x\n".utf8)))
        #expect(try variants() == [])
    }

    @Test("a modalias the kernel never writes is an error naming the file; a FIFO there is too, not a hang")
    func damagedModalias() throws {
        let fake = Self.host()
        defer { fake.remove() }
        fake.build()
        let path = try #require(try Self.show(fake, "0000:01:00.0")).sysfsPath + "/modalias"
        for junk in ["pci:v*d*sv*sd*bc*sc*i*\n", "pci:v00008086d000010d3sv00008086sd0000A01Fbc02sc00i00\n",
                     "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00 \n", ""] {
            fake.write(path, junk)
            #expect(throws: VFIOError.self, "\(junk)") { try Self.show(fake, "0000:01:00.0") }
        }
        unlink(fake.root + "/" + path)
        mkfifo(fake.root + "/" + path, 0o644)
        #expect(throws: VFIOError.self) { try Self.show(fake, "0000:01:00.0") }
    }

    @Test("the modalias as the kernel writes it, and nothing else, is looked up")
    func modaliasFormat() {
        let genuine = "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00"
        #expect(PCIModalias.parse(genuine + "\n") == genuine)
        #expect(PCIModalias.parse(genuine) == genuine)
        for bad in ["", "pci:", genuine + "\n\n", genuine + "0", String(genuine.dropLast()), "usb:v1D6Bp0002d0606dc09dsc00dp01ic09isc00ip00in00",
                    "pci:v0000808[6d000010D3sv00008086sd0000A01Fbc02sc00i00", "PCI:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00"] {
            #expect(PCIModalias.parse(bad) == nil, "\(bad)")
        }
    }

    @Test("a snapshot carries the modalias and the alias index: show reads the same from it")
    func snapshot() throws {
        let fake = Self.host()
        defer { fake.remove() }
        fake.build()
        let copy = fake.root + "-snapshot"
        defer { FakeSysfs.removeTree(copy) }
        _ = try SnapshotWriter(source: HostRoot(fake.root)).write(to: copy)
        let scope = ObservationScope(.all, kernelModules: true)
        let original = try DeviceLayer(root: HostRoot(fake.root)).observe(scope).snapshot.functions
        let replayed = try DeviceLayer(root: HostRoot(copy)).observe(scope).snapshot.functions
        #expect(original.map(\.kernelModules) == replayed.map(\.kernelModules))
        #expect(original.map(\.vfioVariantModules) == replayed.map(\.vfioVariantModules))
        #expect(original.first?.kernelModules != nil)
    }
}
