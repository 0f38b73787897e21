import Foundation
import Testing
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// libvirt's node-device names (`virsh nodedev-list --cap pci`: `pci_0000_02_01_0`) wherever a
/// function is named: each command given the name does exactly what it does given the address.
@Suite("libvirt node-device names: every command takes them as it takes addresses")
struct NodeDeviceNameTests {
    /// The same command line with each address in `spelled` replaced by libvirt's name of it.
    static func renamed(_ arguments: [String]) -> [String] {
        arguments.map { word in PCIAddress(word).map(\.nodeDeviceName) ?? word }
    }

    /// Command lines on checkHost (and its PCI mdev parent); changing commands as dry runs.
    static let lines: [[String]] = [
        ["show", "0000:02:01.0"], ["show", "0000:05:10.0", "--format", "json"],
        ["check", "0000:04:00.0"], ["check", "0000:02:01.0", "0000:05:10.0", "--format", "json"],
        ["detach", "0000:02:01.0", "--dry-run"], ["detach", "0000:04:00.0", "--dry-run", "--format", "json"],
        ["reattach", "0000:05:10.0", "--dry-run", "--format", "json"],
        ["persist", "add", "0000:02:01.0"],
        ["xml", "hostdev", "0000:04:00.0"], ["xml", "qemu-args", "0000:04:00.0"],
        ["xml", "interface", "0000:05:10.0"], ["xml", "network", "pool", "--vf", "0000:05:10.0"],
        ["sriov", "status", "0000:05:00.0"], ["sriov", "status", "0000:05:00.0", "--format", "json"],
        ["sriov", "create", "0000:05:00.0", "--count", "2", "--dry-run", "--format", "json"],
        ["sriov", "destroy", "0000:05:00.0", "--dry-run"],
        ["mdev", "types", "0000:04:00.0"],
        ["mdev", "create", "0000:04:00.0", "--type", "gvt-1", "--uuid", MdevCommandTests.uuid, "--dry-run", "--format", "json"],
    ]

    /// checkHost with its GPU offering mdevs (a PCI parent: /sys/class/mdev_bus/0000:04:00.0).
    static func host() throws -> BindingCommandTests.Host {
        let host = try BindingCommandTests.Host()
        let gpu = try #require(PCIAddress("0000:04:00.0"))
        host.fake.addMdevParent(FakeMdevParent(name: gpu.description, path: host.fake.devicePath(gpu), driver: "amdgpu",
                                               mdevDriver: "vfio_mdev", types: [.init("gvt-1", name: "GVTg_V5_4", available: 2)]))
        return host
    }

    @Test("each command given pci_DDDD_BB_SS_F prints, exits and plans as it does given DDDD:BB:SS.F", arguments: lines)
    func sameAsAddress(_ line: [String]) throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let byAddress = host.run(line)
        let byName = host.run(Self.renamed(line))
        #expect(Self.renamed(line) != line)
        // check and detach may find blocking problems on this host (exit 2): the same ones.
        #expect(byAddress.status == 0 || byAddress.status == 2, "\(line): \(byAddress.err)")
        #expect(!byAddress.out.isEmpty)
        #expect(byName.status == byAddress.status && byName.out == byAddress.out && byName.err == byAddress.err,
                "\(Self.renamed(line)): \(byName.err)")
        #expect(host.kernel.writes.isEmpty)
    }

    @Test("a VMD domain (5 hex digits) by libvirt's name, in show's text and JSON, which give the name")
    func vmdDomain() throws {
        let fake = commandFixture()
        defer { fake.remove() }
        for format in ["text", "json"] {
            let byAddress = Vfioctl.capture(["show", "10000:e1:10.0", "--format", format, "--root", fake.root])
            let byName = Vfioctl.capture(["show", "pci_10000_e1_10_0", "--format", format, "--root", fake.root])
            #expect(byAddress.status == 0 && byName.status == 0 && byName.out == byAddress.out, "\(byName.err)")
        }
        let text = Vfioctl.capture(["show", "pci_10000_e1_00_0", "--root", fake.root]).out
        #expect(text.split(separator: "\n").dropFirst().first?.split(separator: " ") == ["nodedev:", "pci_10000_e1_00_0"], "\(text)")
        let show = try TestProcess.json(Vfioctl.capture(["show", "10000:e1:00.0", "--format", "json", "--root", fake.root]).out)
        #expect((show["function"] as? [String: Any])?["nodedev"] as? String == "pci_10000_e1_00_0")
        // Every function object of list and groups carries its name.
        let list = try TestProcess.json(Vfioctl.capture(["list", "--format", "json", "--root", fake.root]).out)
        for f in list["functions"] as? [[String: Any]] ?? [] {
            let address = try #require(PCIAddress(f["address"] as? String ?? ""))
            #expect(f["nodedev"] as? String == address.nodeDeviceName)
        }
        let groups = try TestProcess.json(Vfioctl.capture(["groups", "--format", "json", "--root", fake.root]).out)
        let members = (groups["groups"] as? [[String: Any]] ?? []).flatMap { $0["functions"] as? [[String: Any]] ?? [] }
        #expect(!members.isEmpty && members.allSatisfy { ($0["nodedev"] as? String)?.hasPrefix("pci_") == true })
    }

    @Test("a bad name is a usage error naming it, with both spellings in the hint; nothing is read or written")
    func badNames() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        for line in [["show", "pci_0000_02_01"], ["detach", "pci_0000_02_01_8", "--dry-run"], ["check", "pci_0000_2_01_0"],
                     ["xml", "hostdev", "pci_0000_02_01_0_0"], ["persist", "add", "PCI_0000_02_01_0"]] {
            let result = host.run(line)
            #expect(result.status == 64 && result.out.isEmpty, "\(line): \(result.out)")
            let lines = result.err.split(separator: "\n").map(String.init)
            #expect(lines.first?.hasPrefix("error: '\(line[line[0] == "xml" || line[0] == "persist" ? 2 : 1])' is not") == true, "\(line): \(result.err)")
            #expect(lines.contains { $0.hasPrefix("hint: ") && $0.contains("pci_0000_01_00_0") && $0.contains("0000:01:00.0") }, "\(result.err)")
        }
        let pf = host.run(["sriov", "status", "pci_0000_05_00_9"])
        #expect(pf.status == 64 && pf.err.contains("no PF 'pci_0000_05_00_9'") && pf.err.contains("pci_0000_01_00_0"), "\(pf.err)")
        let parent = host.run(["mdev", "types", "pci_0000_09_00_0"])
        #expect(parent.status == 64 && parent.err.contains("no mdev parent 'pci_0000_09_00_0'"), "\(parent.err)")
        #expect(host.kernel.writes.isEmpty)
    }

    @Test("a pool file naming its PF and detached devices by libvirt's names plans what the addresses plan")
    func poolFile() throws {
        let host = try ApplyCommandTests.host()
        defer { host.fake.remove() }
        let byAddress = ApplyCommandTests.pool.replacingOccurrences(of: "\"enp5s0f0\"", with: "\"0000:05:00.0\"")
        let byName = byAddress.replacingOccurrences(of: "\"0000:05:00.0\"", with: "\"pci_0000_05_00_0\"")
            .replacingOccurrences(of: "\"0000:01:00.0\"", with: "\"pci_0000_01_00_0\"")
        #expect(byName.contains("device = \"pci_0000_05_00_0\"") && byName.contains("devices = [\"pci_0000_01_00_0\"]"))
        var outputs: [String] = []
        for text in [byAddress, byName] {
            let file = try ApplyCommandTests.write(text, in: host)
            let result = host.run(["apply", file, "--dry-run", "--format", "json"])
            #expect(result.status == 0, "\(result.err)")
            outputs.append(result.out)
        }
        #expect(outputs[0] == outputs[1])
        #expect(outputs[0].contains("0000:01:00.0/driver_override") && outputs[0].contains("0000:05:00.0/sriov_numvfs"))
        #expect(host.kernel.writes.isEmpty)
    }
}
