import Foundation
import Testing
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// The pool file as TOMLKit and Yams read it, and `xml network --pool` on a fake host.
@Suite("pool file: TOML, YAML and xml network --pool")
struct PoolFileTests {
    /// docs/pools.md's example in both formats.
    static let toml = """
        # /etc/vfioctl/pools.toml
        [[pf]]
        device = "enp1s0f0"        # the PF: its interface name or PCI address ("0000:01:00.0")
        vfs = 8
        driver = "vfio"
        mac = "auto"
        vlan = 100
        qos = 3
        proto = "802.1Q"
        spoofchk = true
        trust = false
        state = "auto"
        min_tx_rate = 0
        max_tx_rate = 1000
        network = "pool-a"

        [[pf.vf]]
        index = "4-7"
        driver = "host"
        vlan = 200

        [[pf.vf]]
        index = 0
        mac = "52:54:00:12:34:56"

        [[pf]]
        device = "0000:02:00.0"
        vfs = 0

        [detach]
        devices = ["0000:03:00.0"] # whole IOMMU groups, as 'vfioctl detach'
        groups = [14]

        """

    static let yaml = """
        # /etc/vfioctl/pools.yaml
        pf:
          - device: enp1s0f0
            vfs: 8
            driver: vfio
            mac: auto
            vlan: 100
            qos: 3
            proto: 802.1Q
            spoofchk: true
            trust: false
            state: auto
            min_tx_rate: 0
            max_tx_rate: 1000
            network: pool-a
            vf:
              - index: 4-7
                driver: host
                vlan: 200
              - index: 0
                mac: 52:54:00:12:34:56     # YAML 1.1 would read this as a base-60 number; kept as written
          - device: 0000:02:00.0
            vfs: 0
        detach:
          devices: [0000:03:00.0]
          groups: [14]

        """

    static func refusal(_ text: String, _ format: PoolFile.Format, name: String = "pools") -> VFIOError? {
        do {
            _ = try PoolFile.parse(text, name: name, format: format)
            return nil
        } catch {
            return error
        }
    }

    @Test("the same pool in TOML and in YAML is the same PoolSpec")
    func sameInBoth() throws {
        let fromTOML = try PoolFile.parse(Self.toml, name: "pools", format: .toml)
        let fromYAML = try PoolFile.parse(Self.yaml, name: "pools", format: .yaml)
        #expect(fromTOML == fromYAML)
        #expect(fromTOML.pfs.count == 2 && fromTOML.pfs[0].ranges.count == 2 && fromTOML.detachGroups == [14])
        #expect(fromTOML.pfs[0].settings(forVF: 0).mac == .address(try MACAddress.parse("52:54:00:12:34:56")))
        #expect(fromTOML.pfs[0].settings(forVF: 5) == VFSettings(driver: .host, mac: .auto, vlan: .tag(id: 200, qos: 0, proto: .dot1Q),
                                                                 spoofchk: true, trust: false, state: .auto, minTxRate: 0, maxTxRate: 1000))
        #expect(fromTOML.pfs[0].location == "pools: pf[0] (enp1s0f0)")
    }

    @Test("docs/pools.md: its TOML and YAML examples hold the same pool")
    func documented() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/pools.md").path
        let text = try String(contentsOfFile: docs, encoding: .utf8)
        func block(_ language: String) throws -> String {
            let start = try #require(text.range(of: "```" + language + "\n"))
            let end = try #require(text.range(of: "```", range: start.upperBound..<text.endIndex))
            return String(text[start.upperBound..<end.lowerBound])
        }
        let fromTOML = try PoolFile.parse(try block("toml"), name: "pools", format: .toml)
        #expect(try PoolFile.parse(try block("yaml"), name: "pools", format: .yaml) == fromTOML)
        #expect(fromTOML == (try PoolFile.parse(Self.toml, name: "pools", format: .toml)))
    }

    @Test("syntax errors keep the library's line and column")
    func syntax() {
        let toml = Self.refusal("[[pf]\ndevice = 1\n", .toml, name: "p.toml")
        #expect(toml?.message.hasPrefix("p.toml:1:6: ") == true, "\(toml?.message ?? "parsed")")
        #expect(toml?.hint?.contains("TOML syntax") == true)
        let duplicate = Self.refusal("[[pf]]\ndevice = \"a\"\ndevice = \"b\"\nvfs = 1\n", .toml, name: "p.toml")
        #expect(duplicate?.message.hasPrefix("p.toml:3:") == true, "\(duplicate?.message ?? "parsed")")
        let yaml = Self.refusal("pf:\n  - device: x\n   vfs: 3\n", .yaml, name: "p.yaml")
        #expect(yaml?.message.hasPrefix("p.yaml:3:4: ") == true, "\(yaml?.message ?? "parsed")")
        let twice = Self.refusal("pf:\n  - device: x\n    vfs: 3\n    vfs: 4\n", .yaml, name: "p.yaml")
        #expect(twice?.message.contains("key given twice: 'vfs'") == true && twice?.message.hasPrefix("p.yaml:") == true,
                "\(twice?.message ?? "parsed")")
        let nul = Self.refusal("[[pf]]\ndevice = \"a\0b\"\n", .toml, name: "p.toml")
        #expect(nul?.message == "p.toml:2: a NUL character in the file")
    }

    @Test("YAML errors carry the key's line; TOML's the key path alone")
    func lines() {
        let yaml = Self.refusal("pf:\n  - device: enp1s0f0\n    vfs: 8\n    vf:\n      - index: 9\n        trust: on\n", .yaml, name: "p.yaml")
        #expect(yaml?.message == "p.yaml:5: pf[0].vf[0].index: VF 9 is beyond the 8 VFs of enp1s0f0 (numbered 0-7)")
        let toml = Self.refusal("[[pf]]\ndevice = \"enp1s0f0\"\nvfs = 8\nvlan = 0\n", .toml, name: "p.toml")
        #expect(toml?.message == "p.toml: pf[0].vlan: 0 is not a VLAN id from 1 to 4094")
        #expect(toml?.hint == "write vlan = \"none\" to clear the VF's VLAN")
        let unknown = Self.refusal("pf:\n  - device: enp1s0f0\n    vfs: 8\n    spoofcheck: true\n", .yaml, name: "p.yaml")
        #expect(unknown?.message == "p.yaml:4: pf[0].spoofcheck: unknown key 'spoofcheck'")
        #expect(unknown?.hint?.hasPrefix("did you mean 'spoofchk'?") == true)
    }

    @Test("YAML: merge keys bring an anchored map's keys (the entry's own win); 1.1 booleans; quoted numbers stay strings; no nulls")
    func mergeKeys() throws {
        let spec = try PoolFile.parse("""
            pf:
              - &base
                device: enp1s0f0
                vfs: 4
                spoofchk: off
                trust: yes
              - <<: *base
                device: enp2s0f0
                trust: false
            """, name: "p.yaml", format: .yaml)
        #expect(spec.pfs.map(\.pf) == [.interface("enp1s0f0"), .interface("enp2s0f0")])
        #expect(spec.pfs[1].count == 4 && spec.pfs[1].defaults.spoofchk == false && spec.pfs[1].defaults.trust == false)
        #expect(spec.pfs[0].defaults.trust == true)
        let quoted = Self.refusal("pf:\n  - device: enp1s0f0\n    vfs: \"4\"\n", .yaml, name: "p.yaml")
        #expect(quoted?.message == "p.yaml:3: pf[0].vfs: '4' is a string, not an integer")
        let null = Self.refusal("pf:\n  - device: enp1s0f0\n    vfs:\n", .yaml, name: "p.yaml")
        #expect(null?.message == "p.yaml:3: pf[0].vfs: has no value")
        let scalar = Self.refusal("just words\n", .yaml, name: "p.yaml")
        #expect(scalar?.message == "p.yaml: 'just words' is a string, not a table of keys")
        #expect(Self.refusal("", .yaml, name: "p.yaml")?.message.hasPrefix("p.yaml: asks for nothing") == true)
        #expect(Self.refusal("", .toml, name: "p.toml")?.message.hasPrefix("p.toml: asks for nothing") == true)
    }

    @Test("YAML aliases expanding to more than 100000 values are refused before anything expands them, keys included")
    func aliasBudget() throws {
        #expect(PoolFile.maxAliasedValues == 100_000)
        // Each level holds 9 of the one before: the anchors cost 74718 values, *e alone 66430 more.
        var bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
        for (level, previous) in zip(["b", "c", "d", "e"], ["a", "b", "c", "d"]) {
            bomb += "\(level): &\(level) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ", ") + "]\n"
        }
        #expect(Self.refusal(bomb, .yaml, name: "p.yaml")?.message == "p.yaml:1: a: unknown key 'a'")
        for tail in ["pf: [*e]\n", "pf: {? *e : 1}\n"] {
            let refused = Self.refusal(bomb + tail, .yaml, name: "p.yaml")
            #expect(refused?.kind == .usage && refused?.message == "p.yaml:6: aliases (*e and the others) expand to more than 100000 values",
                    "\(refused?.message ?? "parsed")")
            #expect(refused?.hint?.contains("few aliases") == true)
        }
        // A map of defaults merged into 300 PFs is far inside the budget.
        var pools = "pf:\n  - &defaults {device: eth0, vfs: 2, spoofchk: true, trust: false}\n"
        for index in 1..<300 { pools += "  - {<<: *defaults, device: eth\(index)}\n" }
        let spec = try PoolFile.parse(pools, name: "p.yaml", format: .yaml)
        #expect(spec.pfs.count == 300 && spec.pfs[299].pf == .interface("eth299") && spec.pfs[299].defaults.spoofchk == true)
    }

    @Test("values nested deeper than 64 levels are refused with the line and a hint, in YAML and TOML (brackets, dotted keys, headers)",
          arguments: [
              ("p.yaml", PoolFile.Format.yaml, "pf:\n  - device: x\n    vf: " + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "\n", 3),
              ("p.yaml", .yaml, "pf: " + String(repeating: "{a: ", count: 100) + "1" + String(repeating: "}", count: 100) + "\n", 1),
              ("p.toml", .toml, "# deep\npf = " + String(repeating: "[", count: 100) + String(repeating: "]", count: 100) + "\n", 2),
              ("p.toml", .toml, "pf = " + String(repeating: "{a = ", count: 100) + "1" + String(repeating: "}", count: 100) + "\n", 1),
              ("p.toml", .toml, "\n\n" + Array(repeating: "a", count: 100).joined(separator: ".") + " = 1\n", 3),
              ("p.toml", .toml, "[" + Array(repeating: "a", count: 100).joined(separator: ".") + "]\nb = 1\n", 1),
              ("p.toml", .toml, "[[pf]]\ndevice = \"x\"\nvf = [{index = 0, x = " + String(repeating: "[", count: 70) + String(repeating: "]", count: 70) + "}]\n", 3),
          ] as [(String, PoolFile.Format, String, Int)])
    func depthLimit(name: String, format: PoolFile.Format, text: String, line: Int) {
        #expect(PoolFile.maxDepth == 64)
        let refused = Self.refusal(text, format, name: name)
        #expect(refused?.kind == .usage && refused?.message == "\(name):\(line): values nested deeper than 64 levels", "\(refused?.message ?? "parsed")")
        #expect(refused?.hint?.contains("docs/pools.md") == true)
    }

    @Test("the TOML depth count skips strings and comments, and follows multi-line arrays")
    func tomlDepthCount() throws {
        let brackets = String(repeating: "[", count: 100), braces = String(repeating: "{", count: 100)
        let dots = Array(repeating: "a", count: 100).joined(separator: ".")
        let text = """
            # \(brackets) \(dots)
            [[pf]]
            device = "enp1s0f0"
            vfs = 2
            [[pf.vf]]
            index = 0
            "trust" = true # \(braces)
            [detach]
            groups = [
              1, # ]]]]
              2,
            ]

            """
        let spec = try PoolFile.parse(text, name: "p.toml", format: .toml)
        #expect(spec.pfs.count == 1 && spec.pfs[0].ranges.count == 1 && spec.detachGroups == [1, 2])
        // Strings: the file passes the count and toml++; the builder judges the value.
        for value in ["'''\n\(brackets)\n'''", "\"\(dots)\"", "'\(braces)'", "\"\\\"\(brackets)\""] {
            let refused = Self.refusal("[[pf]]\ndevice = \(value)\nvfs = 2\n", .toml, name: "p.toml")
            #expect(refused?.message.contains("is not a network interface name") == true, "\(value): \(refused?.message ?? "parsed")")
        }
    }

    @Test("TOML dates are refused; formats come from the extension")
    func formats() throws {
        let date = Self.refusal("[[pf]]\ndevice = \"enp1s0f0\"\nvfs = 2\nstate = 2024-01-01\n", .toml, name: "p.toml")
        #expect(date?.message.hasPrefix("p.toml: pf[0].state: ") == true && date?.message.contains("is a TOML date") == true,
                "\(date?.message ?? "parsed")")
        #expect(PoolFile.Format(path: "/etc/vfioctl/pools.toml") == .toml)
        #expect(PoolFile.Format(path: "a.YML") == .yaml && PoolFile.Format(path: "b.yaml") == .yaml)
        #expect(PoolFile.Format(path: "pools.json") == nil && PoolFile.Format(path: ".toml") == nil && PoolFile.Format(path: "dir.toml/pools") == nil)
        do {
            _ = try PoolFile.load("/etc/pools.json")
            Issue.record("loaded")
        } catch {
            #expect(error.message == "'/etc/pools.json' has '.json': a pool file is TOML (.toml) or YAML (.yaml, .yml)")
        }
        do {
            _ = try PoolFile.load("/nonexistent/pools.yml")
            Issue.record("loaded")
        } catch {
            #expect(error.kind == .usage && error.message.hasPrefix("cannot read '/nonexistent/pools.yml'"))
        }
        let path = NSTemporaryDirectory() + "vfioctl-pool-\(UUID().uuidString).yml"
        try Self.yaml.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let loaded = try PoolFile.load(path)
        #expect(loaded.pfs[0].location == "\(path): pf[0] (enp1s0f0)")
    }

    // MARK: xml network --pool

    /// Three SR-IOV PFs: 05:00.0 (ixgbe, ARI off: offset 128, stride 2) with VF 0 created,
    /// 06:00.0 (i40e, ARI on: offset 16, stride 1) and 07:00.0 (offset 1, stride 1) with none;
    /// and a NIC without SR-IOV.
    static func host() -> FakeSysfs {
        var fake = FakeSysfs()
        fake.withIOMMU()
        var nic = FakeFunction("0000:01:00.0", vendor: 0x8086, device: 0x10d3, class: 0x020000, group: 2, driver: "e1000e")
        nic.netInterfaces = ["enp1s0"]
        fake.add(nic)
        let ixgbe = FakeFunction.networkPF("0000:05:00.0", device: 0x10fb, group: 7, driver: "ixgbe", netdev: "enp5s0f0",
                                           total: 8, autoprobe: false, offset: 128, stride: 2)
        fake.add(ixgbe)
        fake.add(.virtualFunction("0000:05:10.0", of: ixgbe, index: 0, device: 0x10ed, group: 8, driver: "vfio-pci"))
        fake.add(.networkPF("0000:06:00.0", device: 0x1572, group: 9, driver: "i40e", netdev: "enp6s0f0", total: 64, autoprobe: true, offset: 16, stride: 1))
        fake.add(.networkPF("0000:07:00.0", vendor: 0x15b3, device: 0x1017, group: 10, driver: "mlx5_core", netdev: "enp7s0f0np0", total: 4, autoprobe: true))
        fake.build()
        return fake
    }

    func network(_ fake: FakeSysfs, _ pool: String, ext: String = "toml", _ arguments: [String] = []) throws -> (status: Int32, out: String, err: String) {
        let path = fake.root + "/pools." + ext
        try pool.write(toFile: path, atomically: true, encoding: .utf8)
        return Vfioctl.capture(["xml", "network", "--pool", path] + arguments + ["--root", fake.root])
    }

    @Test("every VF of one PF named by interface: <pf dev>, and the VLAN they share; libvirt accepts it")
    func wholePF() throws {
        let fake = Self.host()
        defer { fake.remove() }
        let result = try network(fake, """
            [[pf]]
            device = "enp6s0f0"
            vfs = 4
            vlan = 100
            network = "pool-b"
            """)
        #expect(result.status == 0 && result.err.isEmpty, "\(result.err)")
        #expect(result.out == """
            <network>
              <name>pool-b</name>
              <forward mode='hostdev' managed='yes'>
                <pf dev='enp6s0f0'/>
              </forward>
              <vlan>
                <tag id='100'/>
              </vlan>
            </network>

            """)
        let defined = try Libvirt.defineNetwork(result.out, name: "pool-b")
        #expect(defined.contains("<pf dev='enp6s0f0'/>") && defined.contains("<tag id='100'/>"), "\(defined)")
    }

    @Test("a PF by address, one VF kept for the host: the vfio-pci VFs listed, existing from virtfn links, the rest computed")
    func someVFs() throws {
        let fake = Self.host()
        defer { fake.remove() }
        let result = try network(fake, """
            [[pf]]
            device = "0000:05:00.0"
            vfs = 4
            network = "pool-a"
            vlan = 42
            qos = 2

            [[pf.vf]]
            index = 3
            driver = "host"
            """)
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out == """
            <network>
              <name>pool-a</name>
              <forward mode='hostdev' managed='yes'>
                <address type='pci' domain='0x0000' bus='0x05' slot='0x10' function='0x0'/>
                <address type='pci' domain='0x0000' bus='0x05' slot='0x10' function='0x2'/>
                <address type='pci' domain='0x0000' bus='0x05' slot='0x10' function='0x4'/>
              </forward>
              <vlan>
                <tag id='42'/>
              </vlan>
            </network>

            """)
        #expect(result.err.contains("warning: 0000:05:00.0 has 1 VFs now: the addresses of VFs 1-2 are computed from its SR-IOV offset 128 and stride 2"),
                "\(result.err)")
        #expect(result.err.contains("libvirt sets VLAN 42 with priority 0 and 802.1Q"), "\(result.err)")
        _ = try Libvirt.defineNetwork(result.out, name: "pool-a")
    }

    @Test("two PFs in one network, with different VLANs: VFs listed (ARI placement too), no <vlan>, a warning; no NAME: every network")
    func everyNetwork() throws {
        let fake = Self.host()
        defer { fake.remove() }
        let pool = """
            pf:
              - device: enp5s0f0
                vfs: 2
                vlan: 10
                network: pool-a
                vf:
                  - index: 1
                    mac: "52:54:00:00:00:01"
              - device: enp6s0f0
                vfs: 9
                vlan: 20
                network: pool-a
                vf:
                  - index: 0-7
                    driver: host
              - device: 0000:07:00.0
                vfs: 2
                network: pool-c
            """
        let result = try network(fake, pool, ext: "yaml")
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out == """
            <network>
              <name>pool-a</name>
              <forward mode='hostdev' managed='yes'>
                <address type='pci' domain='0x0000' bus='0x05' slot='0x10' function='0x0'/>
                <address type='pci' domain='0x0000' bus='0x05' slot='0x10' function='0x2'/>
                <address type='pci' domain='0x0000' bus='0x06' slot='0x03' function='0x0'/>
              </forward>
            </network>
            <network>
              <name>pool-c</name>
              <forward mode='hostdev' managed='yes'>
                <pf dev='enp7s0f0np0'/>
              </forward>
            </network>

            """)
        #expect(result.err.contains("network 'pool-a': its VFs do not share one VLAN tag"), "\(result.err)")
        #expect(result.err.contains("libvirt gives a VF the guest interface's MAC"), "\(result.err)")
        let one = try network(fake, pool, ext: "yaml", ["pool-c"])
        #expect(one.status == 0 && one.out.hasPrefix("<network>\n  <name>pool-c</name>") && !one.out.contains("pool-a"), "\(one.err)")
        let networks = result.out.components(separatedBy: "</network>\n").filter { !$0.isEmpty }.map { $0 + "</network>\n" }
        _ = try Libvirt.defineNetwork(networks[0], name: "pool-a")
        _ = try Libvirt.defineNetwork(networks[1], name: "pool-c")
    }

    @Test("bad requests are refused with the file's words and a hint", arguments: [
        ("[[pf]]\ndevice = \"enp6s0f0\"\nvfs = 2\nnetwork = \"a\"\n", ["zzz"], 64, "names no network 'zzz'"),
        ("[[pf]]\ndevice = \"enp6s0f0\"\nvfs = 2\n", [], 64, "names no network"),
        ("[[pf]]\ndevice = \"enp6s0f0\"\nvfs = 2\nnetwork = \"a\"\n", ["--pf", "enp6s0f0"], 64, "give --pool FILE or --pf/--vf, not both"),
        ("[[pf]]\ndevice = \"enp6s0f0\"\nvfs = 2\ndriver = \"host\"\nnetwork = \"a\"\n", [], 64, "network 'a' has no VF on vfio-pci: "),
        ("[[pf]]\ndevice = \"enp9s0\"\nvfs = 2\nnetwork = \"a\"\n", [], 1, "pf[0] (enp9s0): no network interface 'enp9s0'"),
        ("[[pf]]\ndevice = \"0000:09:00.0\"\nvfs = 2\nnetwork = \"a\"\n", [], 1, "no PCI function 0000:09:00.0 on this host"),
        ("[[pf]]\ndevice = \"enp1s0\"\nvfs = 2\nnetwork = \"a\"\n", [], 64, "pf[0] (enp1s0): 0000:01:00.0 is not an SR-IOV PF"),
        ("[[pf]]\ndevice = \"0000:05:10.0\"\nvfs = 2\nnetwork = \"a\"\n", [], 64, "is not an SR-IOV PF (it is a VF of 0000:05:00.0)"),
        ("[[pf]]\ndevice = \"enp5s0f0\"\nvfs = 9\nnetwork = \"a\"\n", [], 64, "vfs = 9, but 0000:05:00.0 supports at most 8 (sriov_totalvfs)"),
        ("[[pf]]\ndevice = \"enp5s0f0\"\nvfs = 9\nnetwork = \"a/b\"\n", [], 64, "pf[0].network: 'a/b' cannot be a network name"),
    ] as [(String, [String], Int32, String)])
    func refused(pool: String, arguments: [String], status: Int32, message: String) throws {
        let fake = Self.host()
        defer { fake.remove() }
        let result = try network(fake, pool, arguments)
        #expect(result.status == status && result.err.contains(message) && result.err.contains("hint: ") && result.out.isEmpty,
                "\(result.status) \(result.err)")
    }

    @Test("xml network without --pool still needs a name")
    func needsName() {
        let result = Vfioctl.capture(["xml", "network", "--pf", "enp6s0f0", "--root", "/"])
        #expect(result.status == 64 && result.err.contains("xml network needs the network's name"), "\(result.err)")
    }
}
