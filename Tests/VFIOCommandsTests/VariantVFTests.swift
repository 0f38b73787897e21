import Foundation
import Testing
import VFIOActuator
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// vfio-pci variant drivers for SR-IOV VFs, through `sriov create` and `apply`: VFs that do not
/// exist yet get the variant their PF's sriov_vf_device matches in modules.alias (libvirt's pick),
/// each VF checked against that alias once it exists; on SRIOVCommandTests' ixgbe PF (VFs
/// 8086:10ed, VF 0 at 05:10.0 on vfio-pci, group 8) with a module index depmod made.
@Suite("vfio-pci variant drivers: VFs of sriov create and apply", .serialized)
struct VariantVFTests {
    typealias Host = BindingCommandTests.Host

    static let variant = "ixgbevf_vfio_pci"
    static let pattern = "v00008086d000010EDsv*sd*bc*sc*i*"
    static let aliases = ["vfio_pci": ["vfio_pci:v*d*sv*sd*bc*sc*i*"], variant: ["vfio_pci:" + pattern],
                          "ixgbevf": ["pci:v00008086d000010EDsv*sd*bc*sc*i*"]]
    /// A variant whose alias names a subsystem device: only the VF's own config space tells.
    static let picky = "picky_vfio_pci"
    static let pickyPattern = "v00008086d000010EDsv*sd00001234bc*sc*i*"
    static let pickyAliases = ["vfio_pci": ["vfio_pci:v*d*sv*sd*bc*sc*i*"], picky: ["vfio_pci:" + pickyPattern]]
    static let vfs = ["0000:05:10.0", "0000:05:10.2", "0000:05:10.4", "0000:05:10.6"]

    static func host(aliases: [String: [String]] = Self.aliases, users: Bool = false) throws -> Host {
        var host = try SRIOVCommandTests.host(users: users, aliases: aliases, modules: [variant: variant, picky: picky])
        let netlink = RecordingVFNetlink(["enp5s0f0": .fresh(driver: "ixgbe", count: 1)])
        host.netlink = netlink
        host.kernel.netlink = netlink
        return host
    }

    static func numVFs(_ host: Host) -> String? {
        try? String(contentsOfFile: host.fake.root + "/sys/bus/pci/devices/0000:05:00.0/sriov_numvfs", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("sriov create: the VFs' best variant from sriov_vf_device, its module loaded, each VF checked then bound; again: nothing")
    func create() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let (status, document, _) = try host.json(["sriov", "create", "enp5s0f0", "--count", "4", "--dry-run"])
        #expect(status == 0 && host.kernel.writes.isEmpty)
        let plan = document["plan"] as? [[String: Any]] ?? []
        let steps = plan.map { "\($0["action"] as? String ?? "") \($0["value"] as? String ?? "")" }
        #expect(steps.contains("load-module \(Self.variant)") && !steps.contains("load-module vfio-pci"), "\(steps)")
        #expect(steps.last == "bind-vfs \(Self.variant)", "\(steps)")
        let chosen = (document["findings"] as? [[String: Any]] ?? []).first { $0["id"] as? String == VFIODriverChoice.chosenID }
        #expect((chosen?["message"] as? String)?.contains("go to \(Self.variant): best vfio_pci alias match for its VFs "
            + "(pci:v00008086d000010EDsv00000000sd*bc*sc*i*): vfio_pci:\(Self.pattern)") == true, "\(String(describing: chosen))")

        let created = host.run(["sriov", "create", "enp5s0f0", "--count", "4"])
        #expect(created.status == 0, "\(created.out)\(created.err)")
        #expect(host.kernel.loadedModules == [Self.variant])
        for vf in Self.vfs { #expect(host.driver(vf)?.hasSuffix("/" + Self.variant) == true, "\(vf): \(host.driver(vf) ?? "none")") }
        #expect(!host.kernel.writes.contains { $0.description.hasSuffix("<- vfio-pci") }, "\(host.kernel.writes)")
        let again = host.rerun(["sriov", "create", "enp5s0f0", "--count", "4"])
        #expect(again.unchanged, "\(again.out)")

        // --driver vfio-pci moves them (no guest holds them); the best again leaves them on vfio-pci.
        let plain = host.run(["sriov", "create", "enp5s0f0", "--count", "4", "--driver", "vfio-pci"])
        #expect(plain.status == 0, "\(plain.out)\(plain.err)")
        for vf in Self.vfs { #expect(host.driver(vf)?.hasSuffix("/vfio-pci") == true, "\(vf)") }
        let best = host.rerun(["sriov", "create", "enp5s0f0", "--count", "4", "--driver", "vfio"])
        #expect(best.unchanged, "\(best.out)")
    }

    @Test("apply: VFs to the best variant unless the file names vfio-pci; again: nothing")
    func apply() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let file = try ApplyCommandTests.write("""
            [[pf]]
            device = "enp5s0f0"
            vfs = 4

            [[pf.vf]]
            index = 3
            driver = "vfio-pci"

            """, in: host)
        let (status, document, _) = try host.json(["apply", file, "--dry-run"])
        #expect(status == 0)
        let findings = document["findings"] as? [[String: Any]] ?? []
        let chosen = findings.filter { $0["id"] as? String == VFIODriverChoice.chosenID }.compactMap { $0["message"] as? String }
        #expect(chosen.count == 1 && chosen[0].hasPrefix("VFs 0-2 of 0000:05:00.0 go to \(Self.variant): "), "\(chosen)")
        let plan = document["plan"] as? [[String: Any]] ?? []
        let checks = plan.filter { $0["path"] as? String == "/sys/bus/pci/devices/0000:05:10.0/modalias" }
        #expect(checks.count == 1 && checks.first?["action"] as? String == "verify" && checks.first?["value"] as? String == "vfio_pci:" + Self.pattern)

        let result = host.run(["apply", file])
        #expect(result.status == 0, "\(result.out)\(result.err)")
        for vf in Self.vfs.prefix(3) { #expect(host.driver(vf)?.hasSuffix("/" + Self.variant) == true, "\(vf)") }
        #expect(host.driver(Self.vfs[3])?.hasSuffix("/vfio-pci") == true)
        let again = host.rerun(["apply", file])
        #expect(again.unchanged && again.out.contains("nothing to change"), "\(again.out)")
    }

    @Test("a VF a guest holds stays on vfio-pci for the best; a named variant for it is refused, naming the guest; nothing written")
    func held() throws {
        let host = try Self.host(users: true)
        defer { host.fake.remove() }
        let best = try ApplyCommandTests.write("[[pf]]\ndevice = \"enp5s0f0\"\nvfs = 1\n", in: host)
        let kept = host.run(["apply", best])
        #expect(kept.status == 0 && host.kernel.writes.isEmpty, "\(kept.out)\(kept.err)")
        let named = try ApplyCommandTests.write("[[pf]]\ndevice = \"enp5s0f0\"\nvfs = 1\ndriver = \"\(Self.variant)\"\n", in: host, name: "named.toml")
        let refused = host.run(["apply", named])
        #expect(refused.status == 2 && host.kernel.writes.isEmpty, "\(refused.out)\(refused.err)")
        #expect(refused.err.contains("0000:05:10.0 would move from vfio-pci to \(Self.variant), but group 8 is open by pid 4242 qemu-system-x86"),
                "\(refused.err)")
        let create = host.run(["sriov", "create", "enp5s0f0", "--count", "1", "--driver", Self.variant])
        #expect(create.status == 2 && host.kernel.writes.isEmpty && create.err.contains("group 8 is open by pid 4242"), "\(create.err)")
    }

    @Test("a variant only the VF's subsystem device decides: the best refused before the VFs exist; a named one checked once they do")
    func undecided() throws {
        let host = try Self.host(aliases: Self.pickyAliases)
        defer { host.fake.remove() }
        let best = host.run(["sriov", "create", "enp5s0f0", "--count", "2"])
        #expect(best.status == 2 && host.kernel.writes.isEmpty, "\(best.out)\(best.err)")
        #expect(best.err.contains("the best vfio driver for the VFs of 0000:05:00.0 cannot be known before they exist: \(Self.picky) (vfio_pci:\(Self.pickyPattern))"),
                "\(best.err)")
        #expect(best.err.contains("hint: name the driver: vfio-pci, or \(Self.picky)"), "\(best.err)")

        // Named, it is checked once each VF exists: these read the PF's subsystem device, not
        // 0x1234: the run fails before any VF is bound, and everything is put back.
        let wrong = host.run(["sriov", "create", "enp5s0f0", "--count", "2", "--driver", Self.picky])
        #expect(wrong.status == 1, "\(wrong.out)\(wrong.err)")
        #expect(wrong.err.contains("which vfio_pci:\(Self.pickyPattern) does not match"), "\(wrong.err)")
        #expect(Self.numVFs(host) == "1" && host.driver("0000:05:10.0")?.hasSuffix("/vfio-pci") == true)
        #expect(!host.kernel.writes.contains { $0.description.hasSuffix("<- \(Self.picky)") }, "\(host.kernel.writes)")

        host.kernel.vfSubsystemDevice = 0x1234
        let right = host.run(["sriov", "create", "enp5s0f0", "--count", "2", "--driver", Self.picky])
        #expect(right.status == 0, "\(right.out)\(right.err)")
        for vf in Self.vfs.prefix(2) { #expect(host.driver(vf)?.hasSuffix("/" + Self.picky) == true, "\(vf)") }
    }

    @Test("a driver no alias of the VFs names is refused with the ones that do; none readable: vfio-pci, said so")
    func notVariant() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let result = host.run(["sriov", "create", "enp5s0f0", "--count", "2", "--driver", "mlx5_vfio_pci"])
        #expect(result.status == 2 && host.kernel.writes.isEmpty, "\(result.err)")
        #expect(result.err.contains("mlx5_vfio_pci is not a vfio-pci variant driver of the VFs of 0000:05:00.0 (pci:v00008086d000010EDsv00000000sd*bc*sc*i*): "
            + "the vfio_pci aliases that may match them name \(Self.variant)"), "\(result.err)")
        let bare = try SRIOVCommandTests.host()
        defer { bare.fake.remove() }
        let (status, document, _) = try bare.json(["sriov", "create", "enp5s0f0", "--count", "2", "--dry-run"])
        let steps = (document["plan"] as? [[String: Any]] ?? []).map { "\($0["action"] as? String ?? "") \($0["value"] as? String ?? "")" }
        #expect(status == 0 && steps.last == "bind-vfs vfio-pci", "\(steps)")
    }
}
