import Foundation
import Testing
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// The fake hosts export is tried on, and running it.
enum ExportHosts {
    /// A root port; a T4-like GPU and its audio function on vfio-pci (group 2); two NIC
    /// functions sharing group 3, one on vfio-pci and one on e1000e; the boot NVMe (group 5,
    /// root filesystem); an 82599 PF (enp5s0f0, ixgbe) with VFs 0 and 1 on vfio-pci (groups 20,
    /// 21) and VF 2 on ixgbevf (group 22); with `vmd`, an NVMe behind an Intel VMD controller
    /// (domain 10000) on vfio-pci. etc/hostname says pve1.
    /// How a host changes after its configuration was exported (the drift `--check` finds).
    enum Change: Sendable, CaseIterable {
        /// The GPU's slot is empty (its audio function stays).
        case gpuGone
        /// Another GPU model at the GPU's address.
        case gpuReplaced
        /// The same GPU model with other subsystem ids (another vendor's card).
        case gpuSubsystem
        /// A USB controller in the next slot joins the GPU's group.
        case gpuGroupGrew
        /// The GPU is back on its host driver.
        case gpuOnHostDriver
        /// The PF has one VF only (VFs 1 and 2 gone).
        case fewerVFs
        /// VF 0 is back on ixgbevf.
        case vfOnHostDriver
        /// The GPU's group is 9 now.
        case gpuRegrouped
    }

    static func host(vmd: Bool = false, hostname: Bool = true, change: Change? = nil, _ adjust: (inout FakeSysfs) -> Void = { _ in }) -> FakeSysfs {
        var fake = FakeSysfs()
        fake.withIOMMU()
        var port = FakeFunction("0000:00:1c.0", vendor: 0x8086, device: 0x1c10, class: 0x060400, group: 1, driver: "pcieport")
        port.driverModule = nil
        fake.add(port)
        let gpuGroup = change == .gpuRegrouped ? 9 : 2
        var gpu = FakeFunction("0000:01:00.0", vendor: 0x10de, device: change == .gpuReplaced ? 0x2204 : 0x1eb8, class: 0x030200,
                               parent: "0000:00:1c.0", group: gpuGroup, driver: change == .gpuOnHostDriver ? "nouveau" : "vfio-pci")
        gpu.subsystemVendorID = change == .gpuSubsystem ? 0x1043 : 0x10de
        gpu.subsystemDeviceID = change == .gpuSubsystem ? 0x87b5 : 0x12a2
        gpu.numaNode = 0
        if change != .gpuGone { fake.add(gpu) }
        if change == .gpuGroupGrew {
            fake.add(FakeFunction("0000:01:01.0", vendor: 0x1b21, device: 0x2142, class: 0x0c0330, parent: "0000:00:1c.0", group: 2, driver: "xhci_hcd"))
        }
        var audio = FakeFunction("0000:01:00.1", vendor: 0x10de, device: 0x10f8, class: 0x040300, parent: "0000:00:1c.0", group: gpuGroup, driver: "vfio-pci")
        audio.subsystemVendorID = 0x10de
        audio.subsystemDeviceID = 0x12a2
        fake.add(audio)
        fake.add(FakeFunction("0000:02:00.0", vendor: 0x8086, device: 0x10c9, class: 0x020000, group: 3, driver: "vfio-pci"))
        var shared = FakeFunction("0000:02:00.1", vendor: 0x8086, device: 0x10c9, class: 0x020000, group: 3, driver: "igb")
        shared.netInterfaces = ["enp2s0f1"]
        fake.add(shared)
        var nvme = FakeFunction("0000:03:00.0", vendor: 0x144d, device: 0xa80a, class: 0x010802, group: 5, driver: "nvme")
        nvme.blockDevices = [("nvme0n1", "nvme/nvme0/nvme0n1"), ("nvme0n1p2", "nvme/nvme0/nvme0n1/nvme0n1p2")]
        fake.add(nvme)
        fake.blockDeviceNumbers = ["nvme0n1": "259:0", "nvme0n1p2": "259:2"]
        fake.mounts = [("259:2", "/", "ext4", "/dev/nvme0n1p2")]
        let pf = FakeFunction.networkPF("0000:05:00.0", device: 0x10fb, group: 10, driver: "ixgbe", netdev: "enp5s0f0", total: 63, autoprobe: false)
        fake.add(pf)
        fake.add(.virtualFunction("0000:05:10.0", of: pf, index: 0, device: 0x10ed, group: 20, driver: change == .vfOnHostDriver ? "ixgbevf" : "vfio-pci"))
        if change != .fewerVFs {
            fake.add(.virtualFunction("0000:05:10.2", of: pf, index: 1, device: 0x10ed, group: 21, driver: "vfio-pci"))
            var hostVF = FakeFunction.virtualFunction("0000:05:10.4", of: pf, index: 2, device: 0x10ed, group: 22, driver: "ixgbevf")
            hostVF.netInterfaces = ["enp5s0f0v2"]
            fake.add(hostVF)
        }
        if vmd {
            fake.add(FakeFunction("10000:e1:00.0", vendor: 0x8086, device: 0x0a54, class: 0x010802, group: 30, driver: "vfio-pci"))
        }
        adjust(&fake)
        fake.build()
        if hostname { fake.write("etc/hostname", "pve1\n") }
        return fake
    }

    static func run(_ fake: FakeSysfs, _ arguments: [String]) -> (status: Int32, out: String, err: String) {
        Vfioctl.capture(["export"] + arguments + ["--root", fake.root], invocation: Invocation(pciIDs: Golden.pciIDs))
    }

    static func write(_ text: String, _ name: String, in fake: FakeSysfs) throws -> String {
        let path = fake.root + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

/// An engine's own code, run by Debian's python3 (its packages: scripts/setup test): a judge
/// script in fixtures/engines reads files on a fake root and prints one JSON object per file.
enum EngineJudge {
    static let python = "/usr/bin/python3"
    static let directory = Golden.repository + "/fixtures/engines"

    /// One JSON result per (root, file).
    static func run(_ script: String, _ cases: [(root: String, file: String)]) throws -> [[String: Any]] {
        let result = try TestProcess.run(python, [directory + "/" + script] + cases.flatMap { [$0.root, $0.file] }, timeout: 600)
        let lines = result.out.split(separator: "\n").map(String.init)
        guard lines.count == cases.count else {
            throw JudgeFailed("\(script): \(lines.count) results for \(cases.count) files (status \(result.status))\n\(result.out)\n\(result.err)")
        }
        return try lines.map { try TestProcess.json($0) }
    }
}

struct JudgeFailed: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

@Suite("export: nova and neutron, judged by their own parsers")
struct ExportNovaNeutronTests {
    @Test("nova by default: every whole group on vfio, device_spec by address with ids pinned, one alias per ids; a group partly on vfio is left out")
    func novaDefault() throws {
        let fake = ExportHosts.host()
        defer { fake.remove() }
        let result = ExportHosts.run(fake, ["nova"])
        #expect(result.status == 0, "\(result.err)")
        let specs = result.out.split(separator: "\n").filter { $0.hasPrefix("device_spec = ") }
        #expect(specs == [
            #"device_spec = {"vendor_id": "10de", "product_id": "1eb8", "address": "0000:01:00.0"}"#,
            #"device_spec = {"vendor_id": "10de", "product_id": "10f8", "address": "0000:01:00.1"}"#,
            #"device_spec = {"vendor_id": "8086", "product_id": "10ed", "address": "0000:05:10.0"}"#,
            #"device_spec = {"vendor_id": "8086", "product_id": "10ed", "address": "0000:05:10.2"}"#,
        ], "\(result.out)")
        #expect(result.out.contains(#"alias = {"name": "8086-10ed", "vendor_id": "8086", "product_id": "10ed", "device_type": "type-VF", "numa_policy": "legacy"}"#))
        #expect(result.out.contains("\n[pci]\n"))
        #expect(result.err.contains("warning: group 3: IOMMU group 3 is left out: 0000:02:00.1 is on igb"), "\(result.err)")
    }

    @Test("nova's own parser accepts every export and matches exactly the exported functions, with the physnets and aliases asked for")
    func novaJudges() throws {
        let fake = ExportHosts.host()
        defer { fake.remove() }
        let pool = try ExportHosts.write("[[pf]]\ndevice = \"enp5s0f0\"\nvfs = 3\nnetwork = \"physnet2\"\n\n[[pf.vf]]\nindex = 2\ndriver = \"host\"\n",
                                         "pools.toml", in: fake)
        let runs: [(arguments: [String], expected: [String], physnet: String?)] = [
            (["nova"], ["0000:01:00.0", "0000:01:00.1", "0000:05:10.0", "0000:05:10.2"], nil),
            (["nova", "0000:05:10.0", "--physnet", "enp5s0f0=physnet1", "--name", "fast-nic", "--numa-policy", "required"], ["0000:05:10.0"], "physnet1"),
            (["nova", "--group", "2", "--name", "t4"], ["0000:01:00.0", "0000:01:00.1"], nil),
            // A function brings its whole group: the audio function, the GPU.
            (["nova", "pci_0000_01_00_1"], ["0000:01:00.0", "0000:01:00.1"], nil),
            (["nova", "--pool", pool], ["0000:05:10.0", "0000:05:10.2"], "physnet2"),
            // The PF itself (type-PF): its VFs have other ids, so its spec matches it alone.
            (["nova", "0000:05:00.0"], ["0000:05:00.0"], nil),
        ]
        var cases: [(root: String, file: String)] = []
        for (index, run) in runs.enumerated() {
            let result = ExportHosts.run(fake, run.arguments)
            #expect(result.status == 0, "\(run.arguments): \(result.err)")
            cases.append((fake.root, try ExportHosts.write(result.out, "nova-\(index).conf", in: fake)))
        }
        let judged = try EngineJudge.run("nova_judge.py", cases)
        for (run, verdict) in zip(runs, judged) {
            #expect(verdict["error"] == nil, "\(run.arguments): nova refused: \(verdict)")
            #expect(verdict["matched"] as? [String] == run.expected, "\(run.arguments): \(verdict)")
            let tags = verdict["tags"] as? [String: [String: String]] ?? [:]
            for address in run.expected {
                #expect(tags[address]?["physical_network"] == (address.hasPrefix("0000:05:10") ? run.physnet : nil), "\(run.arguments) \(address): \(tags)")
            }
            // Every exported function is in some alias, and every alias names only exported ones.
            let aliases = verdict["aliases"] as? [String: [String: Any]] ?? [:]
            let members = Set(aliases.values.flatMap { $0["devices"] as? [String] ?? [] })
            #expect(members == Set(run.expected), "\(run.arguments): \(aliases)")
        }
        let second = judged[1]["aliases"] as? [String: [String: Any]]
        #expect(second?["fast-nic"]?["numa_policy"] as? String == "required")
        #expect(second?["fast-nic"]?["device_type"] as? String == "type-VF")
        let third = judged[2]["aliases"] as? [String: [String: Any]]
        #expect(third?.keys.sorted() == ["t4"], "one name for the GPU and its audio function: both type-PCI")
    }

    @Test("--remote-managed: the VFs tagged, physical_network null, no alias; nova with libvirt's VPD reading matches exactly them; no card serial number refused")
    func novaRemoteManaged() throws {
        let card = VPDBytes.card(serial: "MT2231X01234")
        let fake = ExportHosts.host { $0.update("0000:05:00.0") { $0.vpd = card.bytes } }
        defer { fake.remove() }
        let vfs = ["0000:05:10.0", "0000:05:10.2"]
        let tagged = ExportHosts.run(fake, ["nova"] + vfs + ["--remote-managed"])
        #expect(tagged.status == 0, "\(tagged.err)")
        #expect(tagged.out.contains("""
            # 0000:05:10.0 8086:10ed, IOMMU group 20, vfio-pci, VF 0 of 0000:05:00.0, card serial number MT2231X01234 (VPD of its PF 0000:05:00.0)
            device_spec = {"vendor_id": "8086", "product_id": "10ed", "address": "0000:05:10.0", "physical_network": null, "remote_managed": "true"}
            """), "\(tagged.out)")
        #expect(!tagged.out.contains("alias ="), "remote-managed VFs serve neutron's ports, not flavors: \(tagged.out)")
        let physnet = ExportHosts.run(fake, ["nova", "0000:05:10.0", "--remote-managed", "--physnet", "dcfabric"])
        #expect(physnet.out.contains("\"physical_network\": \"dcfabric\", \"remote_managed\": \"true\"}"), "\(physnet.out)")
        // The GPU with them: tagged VFs and an untagged GPU with its alias.
        let mixed = ExportHosts.run(fake, ["nova", "0000:05:10.0", "--group", "2", "--remote-managed", "--format", "json"])
        #expect(mixed.status == 0 && mixed.out.contains("\"card_serial_number\": \"MT2231X01234\""), "\(mixed.out)")

        var cases: [(root: String, file: String)] = []
        for (index, out) in [tagged.out, physnet.out].enumerated() { cases.append((fake.root, try ExportHosts.write(out, "nova-remote-\(index).conf", in: fake))) }
        // What nova refuses or drops: a PF tagged, and the VF whose card has no serial number (below).
        for product in ["10fb", "10ed"] {  // the PF's own ids, and its VFs' by the PF's address
            cases.append((fake.root, try ExportHosts.write("[pci]\ndevice_spec = {\"address\": \"0000:05:00.0\", \"vendor_id\": \"8086\", \"product_id\": \"\(product)\", \"remote_managed\": \"true\"}\n",
                                                           "nova-remote-pf-\(product).conf", in: fake)))
        }
        let judged = try EngineJudge.run("nova_judge.py", cases)
        #expect(judged[0]["error"] == nil && judged[0]["matched"] as? [String] == vfs, "\(judged[0])")
        let tags = judged[0]["tags"] as? [String: [String: Any]] ?? [:]
        #expect(tags["0000:05:10.0"]?["remote_managed"] as? String == "true" && tags["0000:05:10.0"]?["physical_network"] is NSNull, "\(tags)")
        #expect(judged[1]["matched"] as? [String] == ["0000:05:10.0"], "\(judged[1])")
        #expect((judged[2]["error"] as? String)?.contains("PciDeviceNotFoundById") == true, "nova refuses a PF tagged remote_managed: \(judged[2])")
        #expect((judged[3]["error"] as? String)?.contains("PciDeviceNotFoundById") == true, "nova 26 cannot read a PF's ids: \(judged[3])")

        // Without a serial number nova drops the VFs: refused, each with why; the same file is drift.
        let file = cases[0].file
        let unchanged = ExportHosts.run(fake, ["nova", "--check", file])
        #expect(unchanged.status == 0, "\(unchanged.out)\(unchanged.err)")
        for pfFile in [cases[2].file, cases[3].file] {
            let pfTagged = ExportHosts.run(fake, ["nova", "--check", pfFile, "--format", "json"])
            #expect(pfTagged.status == 2 && pfTagged.out.contains("\"nova.remote-managed-pf\""), "\(pfTagged.out)")
        }
        var broken = card.bytes
        broken[4] ^= 1
        fake.writeBytes(fake.devicePath(PCIAddress("0000:05:00.0")!) + "/vpd", broken, mode: 0o600)
        let refused = ExportHosts.run(fake, ["nova"] + vfs + ["--remote-managed"])
        #expect(refused.status == 2 && refused.out.isEmpty, "\(refused)")
        #expect(refused.err.contains("0000:05:10.0: no VPD; its PF 0000:05:00.0: libvirt refuses its VPD (its checksum is wrong)") && refused.err.contains("hint: "),
                "\(refused.err)")
        let drift = ExportHosts.run(fake, ["nova", "--check", file, "--format", "json"])
        #expect(drift.status == 2 && drift.out.contains("\"nova.remote-managed-no-serial\""), "\(drift.out)")
        let dropped = try EngineJudge.run("nova_judge.py", [(fake.root, file)])
        #expect(dropped[0]["matched"] as? [String] == [], "nova drops them too: \(dropped[0])")
        let noVF = ExportHosts.run(fake, ["nova", "--group", "2", "--remote-managed"])
        #expect(noVF.status == 64 && noVF.err.contains("--remote-managed tags VFs, and the selection holds none"), "\(noVF.err)")
        let other = ExportHosts.run(fake, ["kubevirt", "--remote-managed"])
        #expect(other.status == 64 && other.err.contains("--remote-managed is nova's device_spec tag"), "\(other.err)")
    }

    @Test("what nova does with what export never writes: a PF's bare address takes its VFs, a VMD domain and an alias without device_type are refused")
    func novaPitfalls() throws {
        let fake = ExportHosts.host()
        defer { fake.remove() }
        let bare = try ExportHosts.write("[pci]\ndevice_spec = {\"address\": \"0000:05:00.0\"}\n", "bare.conf", in: fake)
        let vmd = try ExportHosts.write("[pci]\ndevice_spec = {\"vendor_id\": \"8086\", \"product_id\": \"0a54\", \"address\": \"10000:e1:00.0\"}\n",
                                        "vmd.conf", in: fake)
        let alias = try ExportHosts.write("""
            [pci]
            alias = {"name": "nic", "vendor_id": "8086", "product_id": "10ed"}
            alias = {"name": "nic", "vendor_id": "8086", "product_id": "10fb", "device_type": "type-PF"}

            """, "alias.conf", in: fake)
        let judged = try EngineJudge.run("nova_judge.py", [(fake.root, bare), (fake.root, vmd), (fake.root, alias)])
        #expect(judged[0]["matched"] as? [String] == ["0000:05:00.0", "0000:05:10.0", "0000:05:10.2", "0000:05:10.4"], "\(judged[0])")
        #expect((judged[1]["error"] as? String)?.contains("greater than the maximum allowable value (FFFF)") == true, "\(judged[1])")
        #expect((judged[2]["error"] as? String)?.contains("PciInvalidAlias") == true, "\(judged[2])")
    }

    @Test("nova refuses a named function in a PCI domain above 0xFFFF (exit 2), and by default leaves it out with a warning")
    func novaVMD() {
        let fake = ExportHosts.host(vmd: true)
        defer { fake.remove() }
        let named = ExportHosts.run(fake, ["nova", "10000:e1:00.0"])
        #expect(named.status == 2 && named.out.isEmpty, "\(named)")
        #expect(named.err.contains("error: nova cannot take 10000:e1:00.0: the PCI domain is above 0xFFFF"), "\(named.err)")
        #expect(named.err.contains("hint: turn VMD off in the firmware"), "\(named.err)")
        let all = ExportHosts.run(fake, ["nova"])
        #expect(all.status == 0, "\(all.err)")
        #expect(!all.out.contains("10000:e1:00.0") && all.out.contains("0000:05:10.0"))
        #expect(all.err.contains("warning: 10000:e1:00.0: left out: the PCI domain is above 0xFFFF"), "\(all.err)")
    }

    @Test("aliases of one name must agree on device_type: a PF and a VF under one --name are refused (exit 64)")
    func novaAliasConflict() {
        let fake = ExportHosts.host()
        defer { fake.remove() }
        let result = ExportHosts.run(fake, ["nova", "0000:05:00.0", "0000:05:10.0", "--name", "nic"])
        #expect(result.status == 64 && result.out.isEmpty, "\(result)")
        #expect(result.err.contains("error: nova alias 'nic' would stand for type-PF and type-VF devices"), "\(result.err)")
        #expect(result.err.contains("hint: "))
    }

    @Test("neutron: the PF mapped to its physnet, its VFs not exported excluded; the agent's own parser manages exactly the exported VFs")
    func neutron() throws {
        let fake = ExportHosts.host()
        defer { fake.remove() }
        let pool = try ExportHosts.write("pf:\n  - device: enp5s0f0\n    vfs: 3\n    network: physnet2\n    vf:\n      - index: 2\n        driver: host\n",
                                         "pools.yaml", in: fake)
        let runs: [(arguments: [String], physnet: String, managed: [String], excluded: [String])] = [
            (["neutron", "0000:05:10.0", "0000:05:10.2", "--physnet", "physnet1"], "physnet1", ["0000:05:10.0", "0000:05:10.2"], ["0000:05:10.4"]),
            (["neutron", "0000:05:10.2", "--physnet", "0000:05:00.0=physnet3"], "physnet3", ["0000:05:10.2"], ["0000:05:10.0", "0000:05:10.4"]),
            (["neutron", "--pool", pool], "physnet2", ["0000:05:10.0", "0000:05:10.2"], ["0000:05:10.4"]),
        ]
        var cases: [(root: String, file: String)] = []
        for (index, run) in runs.enumerated() {
            let result = ExportHosts.run(fake, run.arguments)
            #expect(result.status == 0, "\(run.arguments): \(result.err)")
            #expect(result.out.contains("physical_device_mappings = \(run.physnet):enp5s0f0\n"), "\(result.out)")
            cases.append((fake.root, try ExportHosts.write(result.out, "sriov_agent-\(index).ini", in: fake)))
        }
        let judged = try EngineJudge.run("neutron_judge.py", cases)
        for (run, verdict) in zip(runs, judged) {
            #expect(verdict["error"] == nil, "\(run.arguments): neutron refused: \(verdict)")
            #expect(verdict["mappings"] as? [String: [String]] == [run.physnet: ["enp5s0f0"]], "\(verdict)")
            #expect((verdict["managed"] as? [String: [String]])?["enp5s0f0"] == run.managed, "\(run.arguments): \(verdict)")
            #expect((verdict["excluded"] as? [String: [String]])?["enp5s0f0"] == run.excluded, "\(run.arguments): \(verdict)")
        }
    }

    @Test("bad input: an error naming the value and a hint, the right exit status, nothing on stdout", arguments: [
        (["nova", "0000:05:10"], Int32(64), "'0000:05:10' is not a PCI address"),
        (["nova", "0000:09:00.0"], 1, "no PCI function 0000:09:00.0 on this host"),
        (["nova", "--group", "99"], 1, "no IOMMU group 99 on this host"),
        (["nova", "0000:00:1c.0"], 64, "0000:00:1c.0 is a bridge"),
        (["nova", "0000:03:00.0"], 2, "0000:03:00.0 is in use by the host: the root filesystem (/) on nvme0n1p2"),
        (["nova", "--name", "a:b", "--group", "2"], 64, "'a:b' cannot be a nova alias name"),
        (["neutron", "0000:01:00.0"], 64, "0000:01:00.0, 0000:01:00.1 are not a VF"),
        (["neutron", "0000:05:10.0"], 64, "no physical network for enp5s0f0 (0000:05:00.0)"),
        (["neutron", "0000:05:10.0", "--physnet", "a:b"], 64, "physical network 'a:b' is not a name neutron can map"),
        (["neutron", "0000:05:10.0", "--physnet", "=x"], 64, "--physnet '=x' names no PF"),
        (["openstack"], 64, "openstack"),
        (["nova", "--pool", "/nonexistent/pools.toml"], 64, "/nonexistent/pools.toml"),
    ] as [([String], Int32, String)])
    func badInput(_ arguments: [String], _ status: Int32, _ message: String) {
        let fake = ExportHosts.host()
        defer { fake.remove() }
        let result = ExportHosts.run(fake, arguments)
        #expect(result.status == status, "\(arguments): \(result)")
        #expect(result.out.isEmpty, "\(arguments): \(result.out)")
        #expect(result.err.hasPrefix("error: ") && result.err.contains(message), "\(arguments): \(result.err)")
        if status != 64 || !arguments.contains("openstack") { #expect(result.err.contains("\nhint: "), "\(arguments): \(result.err)") }
    }
}

/// The schemas in fixtures/engines (README.md names their sources) judge the YAML and JSON exports.
enum Schemas {
    static let kubevirt = EngineJudge.directory + "/kubevirt/kubevirt-cr.openapi.yaml"
    static let devicePlugin = EngineJudge.directory + "/sriov-device-plugin/config.schema.json"
}

@Suite("export: KubeVirt and the SR-IOV device plugin, judged by their schemas")
struct ExportKubeVirtDevicePluginTests {
    @Test("kubevirt: one pciHostDevices entry per vendor:device, valid and unpruned under KubeVirt's CRD schema; warnings for what the selector also permits")
    func kubevirt() throws {
        let fake = ExportHosts.host()
        defer { fake.remove() }
        let all = ExportHosts.run(fake, ["kubevirt"])
        #expect(all.status == 0, "\(all.err)")
        #expect(all.out.hasSuffix("""
            spec:
              configuration:
                permittedHostDevices:
                  pciHostDevices:
                  - pciVendorSelector: "10de:1eb8"
                    resourceName: "vfioctl.local/10de_1eb8"
                  - pciVendorSelector: "10de:10f8"
                    resourceName: "vfioctl.local/10de_10f8"
                  - pciVendorSelector: "8086:10ed"
                    resourceName: "vfioctl.local/8086_10ed"

            """), "\(all.out)")
        #expect(all.err.contains("warning: 8086:10ed: pciVendorSelector 8086:10ed also permits 0000:05:10.4 (ixgbevf), which was not selected"), "\(all.err)")
        let named = ExportHosts.run(fake, ["kubevirt", "--group", "3", "--name", "example.com/igb"])
        #expect(named.status == 0, "\(named.err)")
        #expect(named.err.contains("warning: 0000:02:00.1: 0000:02:00.1 is on igb: KubeVirt takes only functions bound to vfio-pci itself"), "\(named.err)")
        let json = ExportHosts.run(fake, ["kubevirt", "--group", "3", "--format", "json"])
        #expect(json.out.contains("\"kubevirt.group-counted-once\""), "\(json.out)")
        var cases: [(root: String, file: String)] = []
        for (index, out) in [all.out, named.out].enumerated() {
            cases.append((Schemas.kubevirt, try ExportHosts.write(out, "kubevirt-\(index).yaml", in: fake)))
        }
        // What the judge must catch: a misspelt key is pruned, a missing resourceName refused.
        cases.append((Schemas.kubevirt, try ExportHosts.write(
            "spec:\n  configuration:\n    permittedHostDevices:\n      pciHostDevices:\n      - pciVendorSelector: \"10de:1eb8\"\n        resourcename: x/y\n",
            "kubevirt-bad.yaml", in: fake)))
        let judged = try EngineJudge.run("schema_judge.py", cases)
        for verdict in judged.prefix(2) {
            #expect(verdict["errors"] as? [String] == [], "\(verdict)")
            #expect(verdict["pruned"] as? [String] == [], "\(verdict)")
        }
        #expect(judged[2]["pruned"] as? [String] == ["$.spec.configuration.permittedHostDevices.pciHostDevices[0].resourcename"], "\(judged[2])")
        #expect((judged[2]["errors"] as? [String])?.first?.contains("'resourceName' is a required property") == true, "\(judged[2])")
    }

    /// The export host with mtty: two Dual port serial mdevs (one started at boot by mdevctl's
    /// definition), a Single port serial one, and one whose vfio mdev driver is gone (no group).
    static let dual = "11111111-2222-4333-8444-555555555555", dual2 = "22222222-2222-4333-8444-555555555555"
    static let single = "33333333-2222-4333-8444-555555555555", orphan = "44444444-2222-4333-8444-555555555555"

    static func mdevHost() -> FakeSysfs {
        let fake = ExportHosts.host()
        fake.addMdevParent(.mtty)
        fake.addMdev(dual, parent: "mtty", type: "mtty-2", group: 40)
        fake.addMdev(dual2, parent: "mtty", type: "mtty-2", group: 41)
        fake.addMdev(single, parent: "mtty", type: "mtty-1", group: 42)
        fake.addMdev(orphan, parent: "mtty", type: "mtty-1", group: 43)
        fake.removeMdevGroup(orphan)
        fake.addMdevDefinition(parent: "mtty", uuid: dual, text: "{\"mdev_type\":\"mtty-2\",\"start\":\"auto\",\"attrs\":[]}")
        return fake
    }

    @Test("kubevirt: mdevs as mediatedDevices by their type's name; KubeVirt's own discovery offers exactly the exported mdevs and groups; schema-valid")
    func kubevirtMdevs() throws {
        let fake = Self.mdevHost()
        defer { fake.remove() }
        let all = ExportHosts.run(fake, ["kubevirt"])
        #expect(all.status == 0, "\(all.err)")
        #expect(all.out.contains("""
                  mediatedDevices:
                  - mdevNameSelector: "Dual port serial"
                    resourceName: "vfioctl.local/Dual_port_serial"
                  - mdevNameSelector: "Single port serial"
                    resourceName: "vfioctl.local/Single_port_serial"

            """), "\(all.out)")
        #expect(all.out.contains("# \(Self.single), type mtty-1 (Single port serial) on mtty, IOMMU group 42, mtty\n"), "\(all.out)")
        #expect(all.err.contains("warning: \(Self.orphan): left out: no IOMMU group"), "\(all.err)")
        #expect(all.err.contains("warning: \(Self.dual2): mdev \(Self.dual2) is not made again at boot"), "\(all.err)")
        #expect(!all.err.contains("warning: \(Self.dual): mdev"), "\(all.err)")

        let one = ExportHosts.run(fake, ["kubevirt", "--mdev", Self.dual.uppercased(), "--name", "example.com/serial2"])
        #expect(one.status == 0, "\(one.err)")
        #expect(!one.out.contains("pciHostDevices") && one.out.contains("mdevNameSelector: \"Dual port serial\"\n        resourceName: \"example.com/serial2\""), "\(one.out)")
        #expect(one.out.hasPrefix("# vfioctl export kubevirt: 1 mdev\n"), "\(one.out)")
        #expect(one.err.contains("mdevNameSelector 'Dual port serial' also permits \(Self.dual2) on mtty, which was not selected"), "\(one.err)")
        let json = ExportHosts.run(fake, ["kubevirt", "--mdev", Self.orphan, "--format", "json"])
        #expect(json.status == 0 && json.out.contains("\"kubevirt.mdev-not-offered\"") && json.out.contains("\"starts_at_boot\": false"), "\(json.out)")

        // KubeVirt's discovery re-enacted on the same root: what it offers is what was exported.
        var cases: [(root: String, file: String)] = []
        for (index, out) in [all.out, one.out].enumerated() { cases.append((fake.root, try ExportHosts.write(out, "kubevirt-mdev-\(index).yaml", in: fake))) }
        let offered = try EngineJudge.run("kubevirt_judge.py", cases)
        #expect(offered[0]["mdev"] as? [String: [String]] == ["vfioctl.local/Dual_port_serial": [Self.dual, Self.dual2],
                                                              "vfioctl.local/Single_port_serial": [Self.single]], "\(offered[0])")
        #expect(offered[0]["pci"] as? [String: [Int]] == ["vfioctl.local/10de_1eb8": [2], "vfioctl.local/10de_10f8": [2],
                                                          "vfioctl.local/8086_10ed": [20, 21]], "\(offered[0])")
        #expect(offered[1]["mdev"] as? [String: [String]] == ["example.com/serial2": [Self.dual, Self.dual2]], "\(offered[1])")
        let judged = try EngineJudge.run("schema_judge.py", cases.map { (Schemas.kubevirt, $0.file) })
        for verdict in judged {
            #expect(verdict["errors"] as? [String] == [], "\(verdict)")
            #expect(verdict["pruned"] as? [String] == [], "\(verdict)")
        }
    }

    @Test("kubevirt's mdev bad input: an unknown UUID (exit 1), --mdev for another engine, one --name for two mdev types (exit 64); nothing on stdout",
          arguments: [
              (["kubevirt", "--mdev", "99999999-2222-4333-8444-555555555555"], Int32(1), "no mdev 99999999-2222-4333-8444-555555555555 on this host"),
              (["kubevirt", "--mdev", "not-a-uuid"], Int32(64), "'not-a-uuid' is not a UUID"),
              (["nova", "--mdev", dual], Int32(64), "--mdev exports a mediated device, which only KubeVirt's export takes"),
              (["kubevirt", "--mdev", dual, "--mdev", single, "--name", "example.com/serial"], Int32(64), "would stand for mdevs of 'Single port serial' and for other devices"),
              (["kubevirt", "--mdev", dual, "--group", "2", "--name", "example.com/x"], Int32(64), "would stand for mdevs of 'Dual port serial' and for other devices"),
              (["kubevirt", "--check", "FILE:x", "--mdev", dual], Int32(64), "--check compares the file with the host: it takes no selection"),
          ])
    func kubevirtMdevRefusals(arguments: [String], status: Int32, message: String) throws {
        let fake = Self.mdevHost()
        defer { fake.remove() }
        var arguments = arguments
        if let index = arguments.firstIndex(where: { $0.hasPrefix("FILE:") }) {
            arguments[index] = try ExportHosts.write(String(arguments[index].dropFirst(5)), "check.yaml", in: fake)
        }
        let result = ExportHosts.run(fake, arguments)
        #expect(result.status == status && result.out.isEmpty, "\(result)")
        #expect(result.err.contains("error: ") && result.err.contains(message) && result.err.contains("hint: "), "\(result.err)")
    }

    @Test("sriov-device-plugin: VFs by PF interface and index ranges, other functions by address, each pinned to its ids and driver; valid under the plugin's schema")
    func devicePlugin() throws {
        let fake = ExportHosts.host()
        defer { fake.remove() }
        let pool = try ExportHosts.write("[[pf]]\ndevice = \"0000:05:00.0\"\nvfs = 3\nnetwork = \"physnet2\"\n\n[[pf.vf]]\nindex = 2\ndriver = \"host\"\n",
                                         "pools.toml", in: fake)
        let all = ExportHosts.run(fake, ["sriov-device-plugin"])
        #expect(all.status == 0, "\(all.err)")
        #expect(all.out == """
            {
              "resourceList": [
                {
                  "deviceType": "netDevice",
                  "resourceName": "vfioctl_8086_10ed",
                  "selectors": {
                    "devices": [
                      "10ed"
                    ],
                    "drivers": [
                      "vfio-pci"
                    ],
                    "pfNames": [
                      "enp5s0f0#0-1"
                    ],
                    "vendors": [
                      "8086"
                    ]
                  }
                }
              ]
            }

            """, "\(all.out)")
        #expect(all.err.contains("warning: 0000:01:00.0, 0000:01:00.1: left out: the SR-IOV device plugin takes network (class 02) and accelerator (class 12) functions"),
                "\(all.err)")
        let pooled = ExportHosts.run(fake, ["sriov-device-plugin", "--pool", pool])
        #expect(pooled.status == 0 && pooled.out.contains("\"resourceName\": \"physnet2\""), "\(pooled)")
        let mixed = ExportHosts.run(fake, ["sriov-device-plugin", "0000:05:10.2", "--group", "3", "--name", "mixed"])
        #expect(mixed.status == 0, "\(mixed.err)")
        #expect(mixed.out.contains("\"enp5s0f0#1\"") && mixed.out.contains("\"0000:02:00.0\",") && mixed.out.contains("\"igb\""), "\(mixed.out)")
        let gpu = ExportHosts.run(fake, ["sriov-device-plugin", "0000:01:00.0"])
        #expect(gpu.status == 2 && gpu.out.isEmpty && gpu.err.contains("0000:01:00.0 is class 0302"), "\(gpu)")
        let badName = ExportHosts.run(fake, ["sriov-device-plugin", "0000:05:10.0", "--name", "intel.com/x"])
        #expect(badName.status == 64 && badName.err.contains("'intel.com/x' is not a resource name the device plugin takes"), "\(badName)")
        var cases: [(root: String, file: String)] = []
        for (index, out) in [all.out, pooled.out, mixed.out].enumerated() {
            cases.append((Schemas.devicePlugin, try ExportHosts.write(out, "config-\(index).json", in: fake)))
        }
        cases.append((Schemas.devicePlugin, try ExportHosts.write(#"{"resourceList": [{"resourceName": "a", "selectors": {"pfName": ["x"]}}]}"#,
                                                                 "config-bad.json", in: fake)))
        let judged = try EngineJudge.run("schema_judge.py", cases)
        for verdict in judged.prefix(3) { #expect(verdict["errors"] as? [String] == [], "\(verdict)") }
        #expect((judged[3]["errors"] as? [String])?.isEmpty == false, "a misspelt selector must fail: \(judged[3])")
    }

    @Test("the plugin's VF ranges")
    func ranges() {
        #expect(DevicePluginExport.ranges([0, 1, 2, 3, 6]) == "0-3,6")
        #expect(DevicePluginExport.ranges([5]) == "5")
        #expect(DevicePluginExport.ranges([7, 1, 2, 9, 8]) == "1-2,7-9")
    }

    @Test("KubeVirt resource names: DOMAIN/NAME only", arguments: [
        ("nvidia.com/TU104GL_Tesla_T4", true), ("vfioctl.local/8086_10ed", true), ("a/b", true),
        ("gpu", false), ("Nvidia.com/x", false), ("nvidia.com/", false), ("kubernetes.io/gpu", false), ("a.k8s.io/x", false),
        ("a/b/c", false), ("a/-x", false), ("a_b.com/x", false),
    ])
    func resourceNames(_ name: String, _ valid: Bool) {
        #expect(((try? KubeVirtExport.validateResourceName(name)) != nil) == valid, "\(name)")
    }
}

@Suite("export: Proxmox VE's PCI mappings, judged by its rules")
struct ExportProxmoxTests {
    static let judge = "proxmox_judge.py"

    static func judged(_ cases: [(root: String, node: String, file: String)]) throws -> [[String: Any]] {
        let result = try TestProcess.run(EngineJudge.python, [EngineJudge.directory + "/" + judge] + cases.flatMap { [$0.root, $0.node, $0.file] },
                                         timeout: 120)
        let lines = result.out.split(separator: "\n").map(String.init)
        guard lines.count == cases.count else { throw JudgeFailed("\(judge): \(result.out)\n\(result.err)") }
        return try lines.map { try TestProcess.json($0) }
    }

    @Test("a whole multi-function device by its slot, a PF's VFs as alternatives; ids, subsystem-id and iommugroup on each, lower case; Proxmox's rules find no fault")
    func mappings() throws {
        let fake = ExportHosts.host()
        defer { fake.remove() }
        let all = ExportHosts.run(fake, ["proxmox"])
        #expect(all.status == 0, "\(all.err)")
        #expect(all.out.hasSuffix("""

            pci-0000-01-00
            \tmap id=10de:1eb8,iommugroup=2,node=pve1,path=0000:01:00,subsystem-id=10de:12a2

            vfs-enp5s0f0
            \tmap id=8086:10ed,iommugroup=20,node=pve1,path=0000:05:10.0;0000:05:10.2,subsystem-id=0000:0000

            """), "\(all.out)")
        let named = ExportHosts.run(fake, ["proxmox", "0000:05:10.2", "--node", "pve-2", "--name", "fast_nic"])
        #expect(named.status == 0 && named.out.hasSuffix("fast_nic\n\tmap id=8086:10ed,iommugroup=21,node=pve-2,path=0000:05:10.2,subsystem-id=0000:0000\n"),
                "\(named)")
        // Two functions of one group in two slots: two mappings, and a warning that the guest needs both.
        let split = ExportHosts.run(fake, ["proxmox", "--group", "3"])
        #expect(split.status == 0, "\(split.err)")
        #expect(split.out.contains("pci-0000-02-00\n\tmap id=8086:10c9,iommugroup=3,node=pve1,path=0000:02:00,"), "\(split.out)")
        let files = try [all.out, named.out, split.out].enumerated().map { try ExportHosts.write($0.element, "pci-\($0.offset).cfg", in: fake) }
        // Proxmox's pitfalls, hand-written: no blank line between sections, an upper-case id, a missing subsystem-id.
        let pitfalls = try ExportHosts.write("""
            first
            \tmap id=10de:1eb8,iommugroup=2,node=pve1,path=0000:01:00,subsystem-id=10de:12a2
            second
            \tmap id=8086:10ED,iommugroup=20,node=pve1,path=0000:05:10.0,subsystem-id=0000:0000

            third
            \tmap id=8086:10ed,iommugroup=21,node=pve1,path=0000:05:10.2

            """, "pitfalls.cfg", in: fake)
        let verdicts = try Self.judged([(fake.root, "pve1", files[0]), (fake.root, "pve-2", files[1]), (fake.root, "pve1", files[2]), (fake.root, "pve1", pitfalls)])
        for verdict in verdicts.prefix(3) {
            #expect(verdict["warnings"] as? [String] == [] && verdict["errors"] as? [String] == [], "\(verdict)")
            #expect((verdict["invalid"] as? [String: String])?.isEmpty == true, "\(verdict)")
        }
        #expect((verdicts[0]["sections"] as? [String: Any])?.keys.sorted() == ["pci-0000-01-00", "vfs-enp5s0f0"], "\(verdicts[0])")
        let pitfall = verdicts[3]
        #expect((pitfall["sections"] as? [String: Any])?.keys.sorted() == ["first", "third"], "the header after a body line is dropped: \(pitfall)")
        #expect((pitfall["warnings"] as? [String])?.first?.contains("ignore config line: second") == true, "\(pitfall)")
        #expect((pitfall["invalid"] as? [String: String])?["first"]?.contains("'id' does not match for 'first' (8086:10ed != 8086:10ED)") == true, "\(pitfall)")
        #expect((pitfall["invalid"] as? [String: String])?["third"]?.contains("missing expected property 'subsystem-id'") == true, "\(pitfall)")
    }

    @Test("bad input for proxmox: no node name, a node or id Proxmox refuses, one --name for several mappings", arguments: [
        (["proxmox", "--node", "pve_1"], Int32(64), "--node 'pve_1' is not a Proxmox node name"),
        (["proxmox", "--name", "1gpu", "--group", "2"], 64, "'1gpu' is not a Proxmox mapping id"),
        (["proxmox", "--name", "many"], 64, "--name many names one mapping, and these functions make 2"),
        (["nova", "--node", "pve1"], 64, "--node is Proxmox's node name"),
    ] as [([String], Int32, String)])
    func badInput(_ arguments: [String], _ status: Int32, _ message: String) {
        let fake = ExportHosts.host()
        defer { fake.remove() }
        let result = ExportHosts.run(fake, arguments)
        #expect(result.status == status && result.out.isEmpty, "\(arguments): \(result)")
        #expect(result.err.hasPrefix("error: ") && result.err.contains(message) && result.err.contains("\nhint: "), "\(arguments): \(result.err)")
    }

    @Test("without etc/hostname and --node: refused with the way out")
    func noNode() {
        let fake = ExportHosts.host(hostname: false)
        defer { fake.remove() }
        let result = ExportHosts.run(fake, ["proxmox"])
        #expect(result.status == 64 && result.out.isEmpty, "\(result)")
        #expect(result.err.contains("error: Proxmox maps devices per node, and this host's name is unknown") && result.err.contains("hint: --node NAME"), "\(result.err)")
    }
}

@Suite("export --check: each engine's file against a host that changed")
struct ExportCheckTests {
    /// An export of the unchanged host, then `--check` of it on the host after `change`:
    /// (status, finding ids, stdout).
    static func drift(_ format: String, _ arguments: [String], after change: ExportHosts.Change?, node: [String] = [])
        throws -> (status: Int32, ids: [String], out: String) {
        let before = ExportHosts.host()
        defer { before.remove() }
        let exported = ExportHosts.run(before, [format] + arguments + node)
        #expect(exported.status == 0, "\(format) \(arguments): \(exported.err)")
        let after = ExportHosts.host(change: change)
        defer { after.remove() }
        let file = try ExportHosts.write(exported.out, "exported", in: after)
        let checked = ExportHosts.run(after, [format, "--check", file, "--format", "json"] + node)
        let document = try TestProcess.json(checked.out)
        let ids = (document["findings"] as? [[String: Any]] ?? []).filter { $0["severity"] as? String == "error" }.compactMap { $0["id"] as? String }
        #expect((document["verdict"] as? String == "pass") == (checked.status == 0), "\(checked.out)")
        return (checked.status, ids, checked.out)
    }

    typealias Case = (format: String, arguments: [String], change: ExportHosts.Change, expected: String)

    static let cases: [Case] = [
        ("nova", ["--group", "2"], .gpuGone, "export.address-gone"),
        ("nova", ["--group", "2"], .gpuReplaced, "export.ids-changed"),
        ("nova", ["--group", "2"], .gpuGroupGrew, "export.group-grew"),
        ("neutron", ["0000:05:10.0", "0000:05:10.2", "--physnet", "physnet1"], .fewerVFs, "neutron.exclude-gone"),
        ("kubevirt", ["--group", "2"], .gpuReplaced, "kubevirt.selector-matches-nothing"),
        ("kubevirt", ["--group", "2"], .gpuOnHostDriver, "export.driver"),
        ("kubevirt", ["--group", "2"], .gpuGroupGrew, "export.group-grew"),
        ("sriov-device-plugin", ["0000:05:10.0", "0000:05:10.2"], .fewerVFs, "sriov-device-plugin.vf-range"),
        ("sriov-device-plugin", ["0000:05:10.0", "0000:05:10.2"], .vfOnHostDriver, "export.driver"),
        ("proxmox", ["--group", "2"], .gpuGone, "export.address-gone"),
        ("proxmox", ["--group", "2"], .gpuReplaced, "export.ids-changed"),
        ("proxmox", ["--group", "2"], .gpuSubsystem, "export.subsystem-changed"),
        ("proxmox", ["--group", "2"], .gpuRegrouped, "proxmox.group-changed"),
        ("proxmox", ["--group", "2"], .gpuGroupGrew, "export.group-grew"),
    ]

    @Test("each change is drift (exit 2), named by its finding with a fix; the unchanged host passes", arguments: cases.indices)
    func driftCase(_ index: Int) throws {
        let c = Self.cases[index]
        let node = c.format == "proxmox" ? ["--node", "pve1"] : []
        let unchanged = try Self.drift(c.format, c.arguments, after: nil, node: node)
        #expect(unchanged.status == 0 && unchanged.ids.isEmpty, "\(c.format) \(c.arguments) on the same host: \(unchanged.out)")
        let changed = try Self.drift(c.format, c.arguments, after: c.change, node: node)
        #expect(changed.status == 2, "\(c.format) after \(c.change): \(changed.out)")
        #expect(changed.ids.contains(c.expected), "\(c.format) after \(c.change): \(changed.ids)\n\(changed.out)")
        let document = try TestProcess.json(changed.out)
        for finding in document["findings"] as? [[String: Any]] ?? [] where finding["severity"] as? String == "error" {
            #expect((finding["hint"] as? String)?.isEmpty == false, "every drift says how to fix it: \(finding)")
        }
    }

    @Test("nova: a PCI domain nova cannot match is drift, and a PF's bare address a warning; the text report ends with the verdict")
    func novaDomain() throws {
        let fake = ExportHosts.host(vmd: true)
        defer { fake.remove() }
        let file = try ExportHosts.write("""
            [pci]
            device_spec = {"vendor_id": "8086", "product_id": "0a54"}
            device_spec = {"address": "0000:05:00.0"}

            """, "nova.conf", in: fake)
        let result = ExportHosts.run(fake, ["nova", "--check", file])
        #expect(result.status == 2, "\(result)")
        #expect(result.out.contains("nova.domain-above-ffff") && result.out.contains("10000:e1:00.0"), "\(result.out)")
        #expect(result.out.contains("nova.pf-address-matches-vfs"), "\(result.out)")
        #expect(result.out.hasSuffix("\(file) against this host (nova): drift (1 error, 1 warning)\n"), "\(result.out)")
    }

    @Test("Proxmox: a header right after a body line is drift (the mapping is dropped), an upper-case id too")
    func proxmoxFile() throws {
        let fake = ExportHosts.host()
        defer { fake.remove() }
        let file = try ExportHosts.write("""
            gpu
            \tmap id=10DE:1EB8,iommugroup=2,node=pve1,path=0000:01:00,subsystem-id=10de:12a2
            nic
            \tmap id=8086:10ed,iommugroup=20,node=pve1,path=0000:05:10.0,subsystem-id=0000:0000
            \tmap id=8086:10ed,iommugroup=20,node=other,path=0000:09:00.0,subsystem-id=0000:0000

            """, "pci.cfg", in: fake)
        let result = ExportHosts.run(fake, ["proxmox", "--check", file, "--format", "json"])
        #expect(result.status == 2, "\(result)")
        let ids = (try TestProcess.json(result.out)["findings"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        #expect(ids.contains("proxmox.section-dropped") && ids.contains("proxmox.id-case"), "\(ids)")
        #expect(!ids.contains("export.address-gone"), "another node's map line is not this host's business: \(ids)")
    }

    @Test("--check's bad input: a file that is not the engine's, a selection beside it (exit 64, nothing on stdout)", arguments: [
        (["nova", "--check", "FILE:not ini"], "is neither a section nor key = value"),
        (["nova", "--check", "FILE:[pci]\ndevice_spec = {nope"], "[pci] device_spec is not JSON"),
        (["sriov-device-plugin", "--check", "FILE:{\"resourceList\": ["], "is not JSON"),
        (["sriov-device-plugin", "--check", "FILE:{}"], "has no resourceList"),
        (["kubevirt", "--check", "FILE:spec: {}"], "has no permittedHostDevices"),
        (["nova", "0000:05:10.0", "--check", "FILE:[pci]"], "--check compares the file with the host: it takes no selection or names"),
        (["nova", "--check", "/nonexistent/nova.conf"], "cannot read '/nonexistent/nova.conf'"),
    ] as [([String], String)])
    func badInput(_ arguments: [String], _ message: String) throws {
        let fake = ExportHosts.host()
        defer { fake.remove() }
        var arguments = arguments
        if let index = arguments.firstIndex(where: { $0.hasPrefix("FILE:") }) {
            arguments[index] = try ExportHosts.write(String(arguments[index].dropFirst(5)), "input", in: fake)
        }
        let result = ExportHosts.run(fake, arguments)
        #expect(result.status == 64 && result.out.isEmpty, "\(arguments): \(result)")
        #expect(result.err.hasPrefix("error: ") && result.err.contains(message) && result.err.contains("\nhint: "), "\(arguments): \(result.err)")
    }

    @Test("kubevirt mediatedDevices: the mdevs gone, the type renamed, the vfio mdev driver gone are drift (exit 2) with the fix; mdevs not made at boot a warning")
    func kubevirtMdevDrift() throws {
        typealias Host = ExportKubeVirtDevicePluginTests
        func check(_ fake: FakeSysfs, _ file: String) -> (status: Int32, out: String, err: String) {
            ExportHosts.run(fake, ["kubevirt", "--check", file, "--format", "json"])
        }
        let fake = Host.mdevHost()
        defer { fake.remove() }
        let exported = ExportHosts.run(fake, ["kubevirt", "--mdev", Host.dual])
        #expect(exported.status == 0, "\(exported.err)")
        let file = try ExportHosts.write(exported.out, "kubevirt-mdev.yaml", in: fake)
        let clean = check(fake, file)
        #expect(clean.status == 0 && clean.out.contains("\"export.mdev-not-persistent\"") && clean.out.contains(Host.dual2), "\(clean.out)")

        fake.removeMdevGroup(Host.dual)
        fake.removeMdevGroup(Host.dual2)
        let unbound = check(fake, file)
        #expect(unbound.status == 2 && unbound.out.contains("\"export.driver\"") && unbound.out.contains("none with an IOMMU group"), "\(unbound.out)")

        fake.removeMdev(Host.dual)
        fake.removeMdev(Host.dual2)
        let gone = check(fake, file)
        #expect(gone.status == 2 && gone.out.contains("\"kubevirt.mdev-matches-nothing\"") && gone.out.contains("vfioctl mdev create mtty --type TYPE --persist --auto (offered by mtty (mtty-2))"),
                "\(gone.out)")

        fake.write("sys/devices/virtual/mtty/mtty/mdev_supported_types/mtty-2/name", "Dual port serial v2\n", mode: 0o444)
        fake.addMdev(Host.dual, parent: "mtty", type: "mtty-2", group: 40)
        let renamed = check(fake, file)
        #expect(renamed.status == 2 && renamed.out.contains("and no parent offers a type of that name"), "\(renamed.out)")

        let typo = try ExportHosts.write("spec:\n  configuration:\n    permittedHostDevices:\n      mediatedDevices:\n      - mdevNameSelector: \"Single port serial\"\n        resourcename: x/y\n",
                                        "kubevirt-typo.yaml", in: fake)
        let invalid = check(fake, typo)
        #expect(invalid.status == 2 && invalid.out.contains("\"kubevirt.entry-invalid\"") && invalid.out.contains("\"kubevirt.unknown-field\""), "\(invalid.out)")
    }
}

@Suite("export: selections that hold nothing")
struct ExportEmptyTests {
    @Test("a pool file whose VFs all stay with the host exports nothing (exit 1, the reason); a host with nothing on vfio neither")
    func empty() throws {
        let fake = ExportHosts.host()
        defer { fake.remove() }
        let pool = try ExportHosts.write("[[pf]]\ndevice = \"enp5s0f0\"\nvfs = 3\ndriver = \"host\"\n", "pools.toml", in: fake)
        let result = ExportHosts.run(fake, ["nova", "--pool", pool])
        #expect(result.status == 1 && result.out.isEmpty, "\(result)")
        #expect(result.err.contains("error: nothing to export: the selection holds no device") && result.err.contains("\nhint: "), "\(result.err)")
        let bare = GoldenHosts.noIOMMU()
        defer { bare.remove() }
        let none = Vfioctl.capture(["export", "kubevirt", "--root", bare.root], invocation: Invocation(pciIDs: Golden.pciIDs))
        #expect(none.status == 1 && none.out.isEmpty && none.err.contains("no function on this host is on vfio-pci"), "\(none)")
    }
}
