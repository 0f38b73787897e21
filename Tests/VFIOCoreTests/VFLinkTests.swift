import Testing
import VFIOCore

@Suite("SR-IOV VF attributes: values, validation, read-back")
struct VFLinkTests {
    static func mac(_ text: String) throws -> MACAddress { try MACAddress.parse(text) }

    @Test("MACs as the kernel reports them: any six octets, with multicast and zero told apart")
    func macs() throws {
        let zero = try #require(MACAddress(rawOctets: [0, 0, 0, 0, 0, 0]))
        #expect(zero.isZero && !zero.isMulticast && zero.description == "00:00:00:00:00:00")
        let multicast = try #require(MACAddress(rawOctets: [0x01, 0x00, 0x5e, 0, 0, 1]))
        #expect(multicast.isMulticast && multicast.description == "01:00:5e:00:00:01")
        #expect(MACAddress(rawOctets: [1, 2, 3]) == nil)
        // What a user types still goes through LibvirtXML's checks.
        #expect(throws: VFIOError.self) { try MACAddress.parse("01:00:5e:00:00:01") }
        #expect(try Self.mac("52:54:00:AA:bb:01").description == "52:54:00:aa:bb:01")
    }

    @Test("VLAN protocols and link states in iproute2's words", arguments: [
        ("802.1Q", VLANProtocol.dot1Q), ("802.1ad", .dot1AD), ("8021AD", .dot1AD), ("802.1q", .dot1Q),
    ])
    func protocols(text: String, expected: VLANProtocol) throws {
        #expect(try VLANProtocol.parse(text) == expected)
    }

    @Test("unknown words are usage errors that list the choices")
    func badWords() throws {
        #expect(VLANProtocol(rawValue: 0x9100).description == "0x9100")
        #expect(VLANProtocol.dot1AD.description == "802.1ad")
        #expect(throws: VFIOError.self) { try VLANProtocol.parse("qinq") }
        #expect(try VFLinkState.parse("Disable") == .disable)
        do {
            _ = try VFLinkState.parse("up")
            Issue.record("'up' parsed")
        } catch {
            #expect(error.kind == .usage && error.hint == "write auto, enable or disable")
        }
    }

    @Test("names and descriptions", arguments: [
        (VFAttribute.vlan(id: 10, qos: 3, proto: .dot1AD), "vlan", "vlan 10 qos 3 proto 802.1ad"),
        (.vlan(id: 10, qos: 0, proto: .dot1Q), "vlan", "vlan 10"),
        (.spoofchk(true), "spoofchk", "spoofchk on"),
        (.trust(false), "trust", "trust off"),
        (.linkState(.enable), "state", "state enable"),
        (.txRate(min: 10, max: 100), "rate", "min_tx_rate 10 max_tx_rate 100"),
    ])
    func describe(attribute: VFAttribute, name: String, text: String) {
        #expect(attribute.name == name)
        #expect(attribute.description == text)
    }

    @Test("validate refuses what no driver takes, naming the attribute and the VF", arguments: [
        (VFAttribute.vlan(id: 4096, qos: 0, proto: .dot1Q), "'vlan' for VF 2: 4096"),
        (.vlan(id: 10, qos: 8, proto: .dot1Q), "'vlan' for VF 2: qos 8"),
        (.vlan(id: 10, qos: 256, proto: .dot1Q), "'vlan' for VF 2: qos 256"),
        (.vlan(id: 0, qos: 3, proto: .dot1Q), "'vlan' for VF 2: qos or proto without"),
        (.vlan(id: 0, qos: 0, proto: .dot1AD), "'vlan' for VF 2: qos or proto without"),
        (.vlan(id: 5, qos: 0, proto: VLANProtocol(rawValue: 0x9100)), "'vlan' for VF 2: protocol 0x9100"),
        (.txRate(min: 100, max: 10), "'rate' for VF 2: min_tx_rate 100 is above"),
        (.txRate(min: -1, max: 10), "'rate' for VF 2"),
    ])
    func refused(attribute: VFAttribute, start: String) {
        do {
            try attribute.validate(vf: 2)
            Issue.record("\(attribute) passed")
        } catch {
            #expect(error.kind == .usage)
            #expect(error.message.hasPrefix(start), "\(error.message)")
            #expect(error.hint != nil)
        }
    }

    @Test("validate takes the whole range drivers take")
    func accepted() throws {
        for attribute: VFAttribute in [
            .mac(try Self.mac("52:54:00:00:00:01")), .vlan(id: 0, qos: 0, proto: .dot1Q), .vlan(id: 4095, qos: 7, proto: .dot1AD),
            .spoofchk(true), .trust(true), .linkState(.disable), .txRate(min: 0, max: 0), .txRate(min: 10, max: 0),
        ] {
            try attribute.validate(vf: 0)
        }
        #expect(throws: VFIOError.self) { try VFAttribute.trust(true).validate(vf: -1) }
        let multicast = try #require(MACAddress(rawOctets: [1, 0, 0, 0, 0, 1]))
        #expect(throws: VFIOError.self) { try VFAttribute.mac(multicast).validate(vf: 0) }
    }

    @Test("applied(to:) changes exactly the attribute's fields; isSatisfied compares a read-back")
    func applied() throws {
        let fresh = VFLinkConfig(index: 3, mac: MACAddress(rawOctets: [0, 0, 0, 0, 0, 0]), spoofchk: false, trust: false, linkState: .auto)
        let vlan = VFAttribute.vlan(id: 100, qos: 5, proto: .dot1AD).applied(to: fresh)
        #expect(vlan.vlan == 100 && vlan.qos == 5 && vlan.proto == .dot1AD && vlan.index == 3 && vlan.mac == fresh.mac)
        let rate = VFAttribute.txRate(min: 10, max: 100).applied(to: fresh)
        #expect(rate.minTxRate == 10 && rate.maxTxRate == 100 && rate.vlan == 0)
        #expect(VFAttribute.trust(false).isSatisfied(by: fresh))
        #expect(!VFAttribute.trust(true).isSatisfied(by: fresh))
        #expect(VFAttribute.linkState(.disable).applied(to: fresh).linkState == .disable)
        #expect(fresh.description == "vf 3 mac 00:00:00:00:00:00 vlan 0 qos 0 proto 802.1Q spoofchk off trust off state auto min_tx_rate 0 max_tx_rate 0")
    }

    @Test("interface names as the kernel takes them", arguments: [
        ("eni10np1", true), ("enp1s0f0", true), ("123456789012345", true), ("1234567890123456", false),
        ("", false), ("a/b", false), ("eth0:1", false), ("eth 0", false), (".", false), ("..", false),
    ])
    func interfaceNames(name: String, valid: Bool) {
        #expect(((try? InterfaceName.validate(name)) != nil) == valid)
    }
}
