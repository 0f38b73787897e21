import Testing
import VFIOCore

// Pool trees written as literals; dictionary literals keep their key order, as the readers do.
extension PoolValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByFloatLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .integer(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .float(value) }
    public init(arrayLiteral elements: PoolValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, PoolValue)...) { self = .table(elements.map { PoolValue.Entry($0.0, $0.1) }) }
}

/// One refusal: a tree, the words the message must hold (file, key path, value), and the hint's.
struct PoolRefusal: Sendable, CustomTestStringConvertible {
    var rule: String
    var tree: PoolValue
    var message: String
    var hint: String

    init(_ rule: String, _ tree: PoolValue, _ message: String, hint: String) {
        (self.rule, self.tree, self.message, self.hint) = (rule, tree, message, hint)
    }

    var testDescription: String { rule }
}

/// A file with one PF entry holding `keys` after device and vfs.
func onePF(vfs: PoolValue = 8, _ keys: [(String, PoolValue)] = []) -> PoolValue {
    ["pf": .array([.table([PoolValue.Entry("device", "enp1s0f0"), PoolValue.Entry("vfs", vfs)] + keys.map { PoolValue.Entry($0.0, $0.1) })])]
}

/// A file with one PF entry of 8 VFs and one vf range holding `keys`.
func oneRange(_ keys: [(String, PoolValue)]) -> PoolValue {
    onePF([("vf", .array([.table(keys.map { PoolValue.Entry($0.0, $0.1) })]))])
}

@Suite("pool file: the model and its builder")
struct PoolSpecTests {
    static let file = "pools.toml"

    static func build(_ tree: PoolValue) throws(VFIOError) -> PoolSpec { try PoolSpec.build(tree, file: file) }

    /// The example of docs/pools.md.
    static let example: PoolValue = [
        "pf": [
            [
                "device": "enp1s0f0", "vfs": 8, "driver": "vfio", "mac": "auto", "vlan": 100, "qos": 3, "proto": "802.1Q",
                "spoofchk": true, "trust": false, "state": "auto", "min_tx_rate": 0, "max_tx_rate": 1000, "network": "pool-a",
                "vf": [
                    ["index": "4-7", "driver": "host", "vlan": 200],
                    ["index": 0, "mac": "52:54:00:12:34:56"],
                ],
            ],
            ["device": "0000:02:00.0", "vfs": 0],
        ],
        "detach": ["devices": ["0000:03:00.0"], "groups": [14]],
    ]

    @Test("the documented example: every key lands where it should")
    func example() throws {
        let spec = try Self.build(Self.example)
        let mac = try MACAddress.parse("52:54:00:12:34:56")
        let expected = PoolSpec(
            pfs: [
                PFPool(pf: .interface("enp1s0f0"), count: 8, network: "pool-a",
                       defaults: VFSettings(driver: .vfio(.best), mac: .auto, vlan: .tag(id: 100, qos: 3, proto: .dot1Q), spoofchk: true,
                                            trust: false, state: .auto, minTxRate: 0, maxTxRate: 1000),
                       ranges: [
                        VFRange(first: 4, last: 7, settings: VFSettings(driver: .host, vlan: .tag(id: 200, qos: 0, proto: .dot1Q)),
                                location: "pools.toml: pf[0].vf[0] (VFs 4-7)"),
                        VFRange(first: 0, last: 0, settings: VFSettings(mac: .address(mac)), location: "pools.toml: pf[0].vf[1] (VF 0)"),
                       ],
                       location: "pools.toml: pf[0] (enp1s0f0)"),
                // vfs = 0: no driver default, nothing to set.
                PFPool(pf: .address(PCIAddress(bus: 2, device: 0, function: 0)), count: 0, location: "pools.toml: pf[1] (0000:02:00.0)"),
            ],
            detach: [PCIAddress(bus: 3, device: 0, function: 0)], detachGroups: [14])
        #expect(spec == expected)
        #expect(spec.networkNames == ["pool-a"])
        #expect(spec.networkMembers("pool-a").map(\.vfs) == [[0, 1, 2, 3]])
    }

    @Test("settings(forVF:): the defaults, then each range containing the VF in file order; a range's vlan replaces the whole tag")
    func merging() throws {
        let spec = try Self.build(onePF([
            ("vlan", 100), ("qos", 5), ("proto", "802.1ad"), ("spoofchk", false), ("max_tx_rate", 500),
            ("vf", [
                ["index": "0-5", "vlan": 200, "trust": true],
                ["index": "4-7", "vlan": "none", "driver": "none", "min_tx_rate": 100],
                ["index": 5, "state": "disable", "spoofchk": true],
            ]),
        ]))
        let pool = spec.pfs[0]
        #expect(pool.settings(forVF: 7) == VFSettings(driver: VFIOCore.SRIOVPlanner.VFDriver.none, vlan: VLANSetting.none, spoofchk: false,
                                                     minTxRate: 100, maxTxRate: 500))
        #expect(pool.settings(forVF: 6) == pool.settings(forVF: 7))
        #expect(pool.settings(forVF: 5) == VFSettings(driver: VFIOCore.SRIOVPlanner.VFDriver.none, vlan: VLANSetting.none, spoofchk: true,
                                                     trust: true, state: .disable, minTxRate: 100, maxTxRate: 500))
        // The PF's qos and 802.1ad went with its tag: range 0's vlan is 200, qos 0, 802.1Q.
        #expect(pool.settings(forVF: 1) == VFSettings(driver: .vfio(.best), vlan: .tag(id: 200, qos: 0, proto: .dot1Q), spoofchk: false,
                                                     trust: true, maxTxRate: 500))
        #expect(pool.defaults.vlan == .tag(id: 100, qos: 5, proto: .dot1AD))
        #expect(spec.networkMembers("x").isEmpty)
    }

    @Test("merged(over:) takes each field from the settings that give it")
    func merged() {
        let base = VFSettings(driver: .vfio(.best), mac: .auto, vlan: .tag(id: 5, qos: 1, proto: .dot1AD), spoofchk: true, trust: true,
                              state: .enable, minTxRate: 10, maxTxRate: 20)
        #expect(VFSettings().merged(over: base) == base)
        #expect(base.merged(over: VFSettings()) == base)
        let over = VFSettings(vlan: VLANSetting.none, trust: false, maxTxRate: 0)
        #expect(over.merged(over: base) == VFSettings(driver: .vfio(.best), mac: .auto, vlan: VLANSetting.none, spoofchk: true, trust: false,
                                                       state: .enable, minTxRate: 10, maxTxRate: 0))
        #expect(VFSettings().isEmpty && !over.isEmpty)
    }

    @Test("attributes: vlan, rate, spoofchk, trust, state (sriov-cni's order); MAC left out; a missing rate is 0")
    func attributes() {
        let all = VFSettings(driver: .vfio(.best), mac: .auto, vlan: .tag(id: 10, qos: 3, proto: .dot1AD), spoofchk: false, trust: true,
                             state: .disable, maxTxRate: 1000)
        #expect(all.attributes == [.vlan(id: 10, qos: 3, proto: .dot1AD), .txRate(min: 0, max: 1000), .spoofchk(false), .trust(true),
                                   .linkState(.disable)])
        #expect(VFSettings(vlan: VLANSetting.none, minTxRate: 50).attributes == [.vlan(id: 0, qos: 0, proto: .dot1Q), .txRate(min: 50, max: 0)])
        #expect(VFSettings(driver: .host, mac: .address(try! MACAddress.parse("52:54:00:00:00:01"))).attributes.isEmpty)
    }

    @Test("what builds: words in any case, a PF by its address in the short form, vfs = 0 alone, a minimum with no maximum")
    func accepted() throws {
        let spec = try Self.build([
            "pf": [
                ["device": "05:00.0", "vfs": 2, "driver": "HOST", "mac": "AUTO", "vlan": "None", "state": "Enable", "min_tx_rate": 300, "max_tx_rate": 0],
                ["device": "enp6s0", "vfs": 0],
            ],
        ])
        #expect(spec.pfs[0].pf == .address(PCIAddress(bus: 5, device: 0, function: 0)))
        #expect(spec.pfs[0].defaults == VFSettings(driver: .host, mac: .auto, vlan: VLANSetting.none, state: .enable, minTxRate: 300, maxTxRate: 0))
        #expect(spec.pfs[1] == PFPool(pf: .interface("enp6s0"), count: 0, location: "pools.toml: pf[1] (enp6s0)"))
        let detachOnly = try Self.build(["detach": ["groups": [0, 14]]])
        #expect(detachOnly.pfs.isEmpty && detachOnly.detachGroups == [0, 14] && detachOnly.detach.isEmpty)
        // Overlapping ranges, single-VF MACs each once, an index as a string.
        let ranges = try Self.build(oneRange([("index", " 2 - 3 "), ("trust", true)]))
        #expect(ranges.pfs[0].ranges.map(\.description) == ["2-3"])
        #expect(ranges.pfs[0].ranges[0].contains(3) && !ranges.pfs[0].ranges[0].contains(4))
    }

    static let refusals: [PoolRefusal] = [
        // Keys.
        .init("unknown key in a pf entry", onePF([("vlans", 100)]), "pools.toml: pf[0].vlans: unknown key 'vlans'", hint: "did you mean 'vlan'?"),
        .init("unknown key at the top", ["pfs": []], "pools.toml: pfs: unknown key 'pfs'", hint: "did you mean 'pf'?"),
        .init("unknown key in a range", oneRange([("indx", 1), ("trust", true)]), "pf[0].vf[0].indx: unknown key 'indx'", hint: "did you mean 'index'?"),
        .init("unknown key in detach", ["detach": ["device": ["0000:03:00.0"]]], "detach.device: unknown key 'device'", hint: "did you mean 'devices'?"),
        .init("unknown key far from any", onePF([("colour", "red")]), "pf[0].colour: unknown key 'colour'", hint: "keys here: device, vfs"),
        .init("a key twice", .table([PoolValue.Entry("detach", ["groups": [1]]), PoolValue.Entry("detach", ["groups": [2]])]),
              "pools.toml: detach: 'detach' is given twice", hint: "keep one"),
        // Types.
        .init("root not a table", ["pf", "detach"], "pools.toml: is a list, not a table of keys", hint: "docs/pools.md"),
        .init("pf not a list", ["pf": ["device": "enp1s0f0", "vfs": 8]], "pools.toml: pf: is a table, not a list", hint: "[[pf]]"),
        .init("vf not a list", onePF([("vf", ["index": 1])]), "pf[0].vf: is a table, not a list", hint: "[[pf.vf]]"),
        .init("pf entry not a table", ["pf": ["enp1s0f0"]], "pf[0]: 'enp1s0f0' is a string, not a table of keys", hint: "device ="),
        .init("vfs as a string", onePF(vfs: "8"), "pools.toml: pf[0].vfs: '8' is a string, not an integer", hint: "without quotes"),
        .init("vfs as a float", onePF(vfs: 8.5), "pf[0].vfs: 8.5 is a floating-point number, not an integer", hint: "whole number"),
        .init("device as a number", ["pf": [["device": 5, "vfs": 1]]], "pf[0].device: 5 is an integer, not a string", hint: "quote"),
        .init("spoofchk as a word", onePF([("spoofchk", "yes")]), "pf[0].spoofchk: 'yes' is a string, not true or false", hint: "true or false"),
        .init("mac as a number", onePF([("mac", 5)]), "pf[0].mac: 5 is an integer, not a string", hint: "\"auto\""),
        .init("detach not a table", ["detach": ["0000:03:00.0"]], "detach: is a list, not a table of keys", hint: "devices ="),
        // Required keys and counts.
        .init("no device", ["pf": [["vfs": 4]]], "pools.toml: pf[0]: no device", hint: "device = \"enp1s0f0\""),
        .init("no vfs", ["pf": [["device": "enp1s0f0"]]], "pools.toml: pf[0]: no vfs: how many VFs enp1s0f0 should have", hint: "vfs = N"),
        .init("vfs above 65535", onePF(vfs: 65536), "pf[0].vfs: 65536 is not a VF count from 0 to 65535", hint: "sriov_totalvfs"),
        .init("negative vfs", onePF(vfs: -1), "pf[0].vfs: -1 is not a VF count", hint: "0 removes"),
        .init("a bad device address", ["pf": [["device": "0000:01:00", "vfs": 1]]], "pf[0].device: '0000:01:00' is not a PCI address", hint: "DDDD:BB:SS.F"),
        .init("a bad interface name", ["pf": [["device": "a very long name", "vfs": 1]]], "pf[0].device: 'a very long name' is not a network interface name",
              hint: "1-15 characters"),
        // The same PF twice.
        .init("the same interface twice", ["pf": [["device": "enp1s0f0", "vfs": 2], ["device": "enp1s0f0", "vfs": 4]]],
              "pools.toml: pf[1].device: enp1s0f0 already has an entry (pf[0])", hint: "merge the two"),
        .init("the same address in two spellings", ["pf": [["device": "0000:01:00.0", "vfs": 2], ["device": "01:00.0", "vfs": 4]]],
              "pf[1].device: 0000:01:00.0 already has an entry (pf[0])", hint: "one entry per PF"),
        // Indexes.
        .init("an index past the VFs", oneRange([("index", 8), ("trust", true)]), "pf[0].vf[0].index: VF 8 is beyond the 8 VFs of enp1s0f0 (numbered 0-7)",
              hint: "raise vfs"),
        .init("a range running past the VFs", oneRange([("index", "4-9"), ("trust", true)]), "pf[0].vf[0].index: VF 9 is beyond", hint: "vfs - 1"),
        .init("a reversed range", oneRange([("index", "7-4"), ("trust", true)]), "pf[0].vf[0].index: '7-4' runs backwards", hint: "\"4-7\""),
        .init("a word for an index", oneRange([("index", "first"), ("trust", true)]), "pf[0].vf[0].index: 'first' is not a VF index or range", hint: "\"4-7\""),
        .init("a negative index", oneRange([("index", -1), ("trust", true)]), "pf[0].vf[0].index: -1 is not a VF index", hint: "numbered from 0"),
        .init("a float index", oneRange([("index", 1.5), ("trust", true)]), "pf[0].vf[0].index: 1.5 is a floating-point number, not a VF index", hint: "\"5\""),
        .init("three parts", oneRange([("index", "1-2-3"), ("trust", true)]), "'1-2-3' is not a VF index or range", hint: "\"4-7\""),
        .init("no index", oneRange([("trust", true)]), "pools.toml: pf[0].vf[0]: no index", hint: "index = 5"),
        .init("a range setting nothing", oneRange([("index", 3)]), "pools.toml: pf[0].vf[0]: sets nothing for VF 3", hint: "drop the entry"),
        // MACs.
        .init("a MAC for every VF", onePF([("mac", "52:54:00:12:34:56")]), "pf[0].mac: 52:54:00:12:34:56 would go to every VF of enp1s0f0",
              hint: "a single index"),
        .init("a MAC for a range", oneRange([("index", "0-1"), ("mac", "52:54:00:12:34:56")]), "pf[0].vf[0].mac: 52:54:00:12:34:56 would go to VFs 0-1",
              hint: "mac = \"auto\""),
        .init("a multicast MAC", oneRange([("index", 0), ("mac", "01:00:5e:00:00:01")]), "pf[0].vf[0].mac: 01:00:5e:00:00:01 is a multicast MAC",
              hint: "unicast"),
        .init("the zero MAC", oneRange([("index", 0), ("mac", "00:00:00:00:00:00")]), "pf[0].vf[0].mac: 00:00:00:00:00:00 is not a usable MAC",
              hint: "unicast"),
        .init("a malformed MAC", oneRange([("index", 0), ("mac", "52:54:00:12:34")]), "pf[0].vf[0].mac: '52:54:00:12:34' is not a MAC address",
              hint: "six hex octets"),
        .init("one MAC twice", ["pf": [
            ["device": "enp1s0f0", "vfs": 2, "vf": [["index": 0, "mac": "52:54:00:00:00:01"]]],
            ["device": "enp2s0f0", "vfs": 2, "vf": [["index": 1, "mac": "52:54:00:00:00:01"]]],
        ]], "pools.toml: pf[1].vf[0].mac: 52:54:00:00:00:01 is given twice (also at pf[0].vf[0].mac)", hint: "a MAC of its own"),
        // VLANs.
        .init("VLAN 0", onePF([("vlan", 0)]), "pools.toml: pf[0].vlan: 0 is not a VLAN id from 1 to 4094", hint: "vlan = \"none\" to clear"),
        .init("VLAN 4095", onePF([("vlan", 4095)]), "pf[0].vlan: 4095 is not a VLAN id from 1 to 4094", hint: "\"none\" clears"),
        .init("VLAN as a quoted number", onePF([("vlan", "100")]), "pf[0].vlan: '100' is a string, not a VLAN id from 1 to 4094 or \"none\"",
              hint: "no quotes"),
        .init("qos 8", onePF([("vlan", 10), ("qos", 8)]), "pf[0].qos: 8 is not a priority from 0 to 7", hint: "0-7"),
        .init("qos without vlan", onePF([("qos", 3)]), "pf[0].qos: qos without a VLAN tag in this table", hint: "give vlan = ID"),
        .init("proto without vlan", oneRange([("index", 1), ("proto", "802.1ad")]), "pf[0].vf[0].proto: proto without a VLAN tag", hint: "vlan = ID"),
        .init("qos with vlan none", onePF([("vlan", "none"), ("qos", 1)]), "pf[0].qos: qos without a VLAN tag (vlan is \"none\")", hint: "1-4094"),
        .init("an unknown protocol", onePF([("vlan", 10), ("proto", "802.1x")]), "pf[0].proto: '802.1x' is not a VLAN protocol", hint: "802.1ad"),
        // Words.
        .init("an unknown state", onePF([("state", "up")]), "pf[0].state: 'up' is not a VF link state", hint: "auto, enable or disable"),
        .init("an unknown driver", oneRange([("index", 2), ("driver", "vfio pci")]), "pf[0].vf[0].driver: 'vfio pci' is not a VF driver", hint: "vfio-pci"),
        // Rates.
        .init("a negative rate", onePF([("min_tx_rate", -5)]), "pf[0].min_tx_rate: -5 is not a rate", hint: "Mbit/s"),
        .init("min above max", onePF([("min_tx_rate", 500), ("max_tx_rate", 100)]), "pf[0].min_tx_rate: min_tx_rate 500 is above max_tx_rate 100",
              hint: "0 for no maximum"),
        .init("min above max once merged", onePF([("min_tx_rate", 500), ("vf", [["index": "2-3", "max_tx_rate": 100]])]),
              "pools.toml: pf[0]: VF 2 would get min_tx_rate 500 (from pf[0]) above max_tx_rate 100 (from pf[0].vf[0])", hint: "at least its minimum"),
        // vfs = 0.
        .init("a setting with vfs = 0", onePF(vfs: 0, [("vlan", 10)]), "pf[0].vlan: vfs = 0 removes the VFs of enp1s0f0: 'vlan' has no VF", hint: "vfs = N"),
        .init("a range with vfs = 0", onePF(vfs: 0, [("vf", [["index": 0, "trust": true]])]), "pf[0].vf: vfs = 0 removes", hint: "drop the VF settings"),
        .init("a network with vfs = 0", onePF(vfs: 0, [("network", "pool-a")]), "pf[0].network: vfs = 0 removes", hint: "drop"),
        // Network names.
        .init("a network name with '/'", onePF([("network", "a/b")]), "pf[0].network: 'a/b' cannot be a network name", hint: "vf-pool"),
        .init("an empty network name", onePF([("network", "")]), "pf[0].network: the network name is empty", hint: "vf-pool"),
        // Detach.
        .init("a bad detach address", ["detach": ["devices": ["0000:03:00"]]], "pools.toml: detach.devices[0]: '0000:03:00' is not a PCI address", hint: "DDDD:BB:SS.F"),
        .init("a detach device twice", ["detach": ["devices": ["0000:03:00.0", "03:00.0"]]], "detach.devices[1]: 0000:03:00.0 is listed twice", hint: "once"),
        .init("a negative group", ["detach": ["groups": [-1]]], "detach.groups[0]: -1 is not an IOMMU group number", hint: "vfioctl groups"),
        .init("a group as a string", ["detach": ["groups": ["14"]]], "detach.groups[0]: '14' is a string, not an integer", hint: "without quotes"),
        .init("a group twice", ["detach": ["groups": [14, 14]]], "detach.groups[1]: group 14 is listed twice", hint: "once"),
        // Nothing asked.
        .init("an empty file", .table([]), "pools.toml: asks for nothing", hint: "docs/pools.md"),
        .init("empty lists", ["pf": [], "detach": ["devices": [], "groups": []]], "pools.toml: asks for nothing", hint: "a pf entry"),
    ]

    @Test("every refusal names the file, the key path and the value, with a hint", arguments: refusals)
    func refused(_ refusal: PoolRefusal) {
        do {
            let spec = try Self.build(refusal.tree)
            Issue.record("built: \(spec)")
        } catch {
            #expect(error.kind == .usage)
            #expect(error.message.hasPrefix("pools.toml"), "\(error.message)")
            #expect(error.message.contains(refusal.message), "\(error.message)")
            #expect(error.hint?.contains(refusal.hint) == true, "\(error.hint ?? "no hint")")
        }
    }

    @Test("lines: a reader's line goes into the message; a table without lines borrows its key's")
    func lines() {
        let tree: PoolValue = .table([
            PoolValue.Entry("pf", .array([.table([PoolValue.Entry("device", "enp1s0f0", line: 2), PoolValue.Entry("vfs", 4, line: 3),
                                                  PoolValue.Entry("vlan", 0, line: 4)])]), line: 1),
        ])
        #expect(throws: VFIOError.usage("pools.yaml:4: pf[0].vlan: 0 is not a VLAN id from 1 to 4094",
                                         hint: "write vlan = \"none\" to clear the VF's VLAN")) {
            try PoolSpec.build(tree, file: "pools.yaml")
        }
        let noDevice: PoolValue = .table([PoolValue.Entry("pf", .array([.table([PoolValue.Entry("vfs", 4, line: 7)])]), line: 6)])
        #expect(throws: VFIOError.self) { try PoolSpec.build(noDevice, file: "p.yaml") }
        do {
            _ = try PoolSpec.build(noDevice, file: "p.yaml")
        } catch {
            #expect(error.message.hasPrefix("p.yaml:7: pf[0]: no device"), "\(error.message)")
        }
    }

    @Test("PF names: an address when the text is one, a mistyped address when it has ':', else an interface")
    func pfNames() throws {
        #expect(try PFName.parse("0000:3b:00.1") == .address(PCIAddress(bus: 0x3b, device: 0, function: 1)))
        #expect(try PFName.parse("enp59s0f1np1") == .interface("enp59s0f1np1"))
        #expect(throws: VFIOError.self) { try PFName.parse("3b:00") }
        #expect(throws: VFIOError.self) { try PFName.parse("") }
        #expect(PFName.interface("eth0").description == "eth0" && PFName.interface("eth0").interfaceName == "eth0")
        #expect(PFName.address(PCIAddress(bus: 1, device: 0, function: 0)).interfaceName == nil)
    }

    @Test("PF names and detach lists take libvirt's node-device names; a long pci_ word that is none is a mistyped one")
    func nodeDeviceNames() throws {
        #expect(try PFName.parse("pci_0000_3b_00_1") == .address(PCIAddress(bus: 0x3b, device: 0, function: 1)))
        #expect(try PFName.parse("pci_10000_e1_00_0") == .address(PCIAddress(domain: 0x10000, bus: 0xe1, device: 0, function: 0)))
        // Short enough to be an interface (15 bytes at most), so one: Linux allows these names.
        #expect(try PFName.parse("pci_eth") == .interface("pci_eth"))
        #expect(try PFName.parse("pci_0000_3b_00") == .interface("pci_0000_3b_00"))
        do {
            _ = try PFName.parse("pci_0000_3b_00_1x")
            Issue.record("expected an error")
        } catch {
            #expect(error.message == "'pci_0000_3b_00_1x' is not libvirt's node-device name of a PCI function", "\(error)")
            #expect(error.hint?.contains("pci_0000_01_00_0") == true)
        }
        let spec = try Self.build(["pf": [["device": "pci_0000_02_00_0", "vfs": 2]],
                                   "detach": ["devices": ["pci_0000_03_00_0", "0000:04:00.0"]]])
        #expect(spec.pfs.map(\.pf) == [.address(PCIAddress(bus: 2, device: 0, function: 0))])
        #expect(spec.detach.map(\.description) == ["0000:03:00.0", "0000:04:00.0"])
        // The same function twice, once by each spelling, is listed twice.
        #expect(throws: VFIOError.self) { try Self.build(["detach": ["devices": ["pci_0000_03_00_0", "0000:03:00.0"]]]) }
        do {
            _ = try Self.build(["detach": ["devices": ["pci_0000_03_00"]]])
            Issue.record("expected an error")
        } catch {
            #expect(error.message == "pools.toml: detach.devices[0]: 'pci_0000_03_00' is not libvirt's node-device name of a PCI function",
                    "\(error)")
        }
    }

    @Test("VF placement: PF routing ID + offset + index × stride, carried into the bus (pci_iov_virtfn_bus/devfn)", arguments: [
        // ARI off, 82576 (igb): offset 128, stride 2; VFs on devices 0x10-0x11, the PF's function kept in the low bit.
        ("0000:01:00.0", 128, 2, 0, "0000:01:10.0"), ("0000:01:00.0", 128, 2, 1, "0000:01:10.2"), ("0000:01:00.0", 128, 2, 7, "0000:01:11.6"),
        ("0000:01:00.1", 128, 2, 0, "0000:01:10.1"), ("0000:01:00.1", 128, 2, 3, "0000:01:10.7"),
        // ARI on, X710 (i40e): offset 16, stride 1: functions run on past 7 into the next device numbers.
        ("0000:3b:00.0", 16, 1, 0, "0000:3b:02.0"), ("0000:3b:00.0", 16, 1, 8, "0000:3b:03.0"), ("0000:3b:00.1", 15, 1, 127, "0000:3b:11.7"),
        // Past devfn 0xff the VFs continue on the next bus; the domain stays.
        ("0000:3b:00.0", 16, 1, 240, "0000:3c:00.0"), ("10000:e1:00.0", 1, 1, 0, "10000:e1:00.1"),
    ])
    func virtfn(pf: String, offset: Int, stride: Int, index: Int, expected: String) throws {
        let address = try PCIAddress.parse(pf)
        #expect(address.virtfn(index, offset: offset, stride: stride)?.description == expected)
    }

    @Test("VF placement refuses what cannot be: past bus 0xff, negative numbers")
    func virtfnLimits() throws {
        let last = try PCIAddress.parse("0000:ff:00.0")
        #expect(last.virtfn(0, offset: 255, stride: 1)?.description == "0000:ff:1f.7")
        #expect(last.virtfn(1, offset: 255, stride: 1) == nil)
        #expect(last.virtfn(-1, offset: 1, stride: 1) == nil && last.virtfn(0, offset: -1, stride: 1) == nil)
        #expect(last.virtfn(Int.max, offset: 1, stride: 2) == nil)
        #expect(last.virtfn(1, offset: Int.max, stride: 1) == nil && last.virtfn(0, offset: Int.max - 0xff00, stride: 0) == nil)
    }

    @Test("nearest key: typos get a suggestion; unrelated words none")
    func nearest() {
        func hint(_ key: String) -> String? {
            do {
                _ = try PoolSpec.build(onePF([(key, 1)]), file: "f.toml")
            } catch {
                return error.hint
            }
            return nil
        }
        #expect(hint("spoofcheck")?.hasPrefix("did you mean 'spoofchk'?") == true)
        #expect(hint("max-tx-rate")?.hasPrefix("did you mean 'max_tx_rate'?") == true)
        #expect(hint("VFS")?.hasPrefix("did you mean 'vfs'?") == true)
        #expect(hint("bandwidth")?.hasPrefix("keys here:") == true)
    }
}
