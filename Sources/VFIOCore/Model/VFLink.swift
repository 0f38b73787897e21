/// SR-IOV VF attributes as the kernel keeps them on the PF's netdev (IFLA_VF_* in rtnetlink):
/// what one VF is configured with (`VFLinkConfig`) and one attribute to set (`VFAttribute`).
/// Plain values; reading and writing them is the device layer's and the actuator's business.

/// The MAC addresses the kernel reports and takes are LibvirtXML's type; `parse` checks what a
/// user types (unicast, not all zero), `init?(rawOctets:)` takes any six octets as they are.
public typealias MACAddress = LibvirtXML.MAC

extension LibvirtXML.MAC {
    /// Any six octets, unchecked: what the kernel reports (00:00:00:00:00:00 for a VF whose admin
    /// MAC was never set), or what a test sends on purpose. nil unless there are exactly six.
    public init?(rawOctets octets: [UInt8]) {
        guard octets.count == 6 else { return nil }
        self.octets = octets
    }

    /// Six hex octets separated by ':' as the kernel prints them, unchecked (00:00:00:00:00:00 and
    /// multicast too): what journals and iproute2 show. nil unless exactly six.
    public init?(rawText text: some StringProtocol) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let octets = parts.compactMap { $0.count == 2 ? UInt8($0, radix: 16) : nil }
        guard parts.count == 6 else { return nil }
        self.init(rawOctets: octets)
    }

    public var isMulticast: Bool { octets.first.map { $0 & 1 == 1 } ?? false }
    public var isZero: Bool { octets.allSatisfy { $0 == 0 } }
}

/// The VLAN protocol (TPID) of a VF's port VLAN: 802.1Q (0x8100) or 802.1ad (0x88a8, QinQ).
public struct VLANProtocol: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let dot1Q = VLANProtocol(rawValue: 0x8100)
    public static let dot1AD = VLANProtocol(rawValue: 0x88a8)

    /// "802.1Q" and "802.1ad" as iproute2 writes them; anything else as hex.
    public var description: String {
        switch self {
        case .dot1Q: "802.1Q"
        case .dot1AD: "802.1ad"
        default: "0x" + HexDigits.padded(UInt64(rawValue), width: 4)
        }
    }

    /// "802.1Q" or "802.1ad" (any case; "8021q"/"8021ad" too).
    public static func parse(_ text: String) throws(VFIOError) -> VLANProtocol {
        switch text.lowercased() {
        case "802.1q", "8021q": return .dot1Q
        case "802.1ad", "8021ad": return .dot1AD
        default:
            throw .usage("'\(text.printable)' is not a VLAN protocol", hint: "write 802.1Q (the default) or 802.1ad")
        }
    }
}

/// A VF's administrative link state (IFLA_VF_LINK_STATE_*): follow the PF, always up, always down.
public enum VFLinkState: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case auto = 0
    case enable = 1
    case disable = 2

    /// The words iproute2 uses ("state auto|enable|disable").
    public var description: String {
        switch self {
        case .auto: "auto"
        case .enable: "enable"
        case .disable: "disable"
        }
    }

    public static func parse(_ text: String) throws(VFIOError) -> VFLinkState {
        guard let state = allCases.first(where: { $0.description == text.lowercased() }) else {
            throw .usage("'\(text.printable)' is not a VF link state", hint: "write auto, enable or disable")
        }
        return state
    }
}

/// One VF as the PF's driver reports it (IFLA_VF_INFO). Optional fields are the ones a driver
/// may leave unreported (the kernel then sends -1, or nothing).
public struct VFLinkConfig: Sendable, Equatable, CustomStringConvertible {
    public var index: Int
    /// The administrative MAC (00:00:00:00:00:00 when never set); nil when not reported.
    public var mac: MACAddress?
    /// The port VLAN: 0 means none.
    public var vlan: Int
    public var qos: Int
    public var proto: VLANProtocol
    public var spoofchk: Bool?
    public var trust: Bool?
    public var linkState: VFLinkState?
    /// Mbit/s; 0 means no limit.
    public var minTxRate: Int
    public var maxTxRate: Int

    public init(index: Int, mac: MACAddress? = nil, vlan: Int = 0, qos: Int = 0, proto: VLANProtocol = .dot1Q,
                spoofchk: Bool? = nil, trust: Bool? = nil, linkState: VFLinkState? = nil, minTxRate: Int = 0, maxTxRate: Int = 0) {
        self.index = index
        self.mac = mac
        self.vlan = vlan
        self.qos = qos
        self.proto = proto
        self.spoofchk = spoofchk
        self.trust = trust
        self.linkState = linkState
        self.minTxRate = minTxRate
        self.maxTxRate = maxTxRate
    }

    /// One line in iproute2's words, e.g. "vf 3 mac 52:54:00:00:00:03 vlan 10 qos 3 proto 802.1ad
    /// spoofchk on trust off state auto min_tx_rate 0 max_tx_rate 0".
    public var description: String {
        func onOff(_ value: Bool?) -> String { value.map { $0 ? "on" : "off" } ?? "?" }
        return "vf \(index) mac \(mac?.description ?? "?") vlan \(vlan) qos \(qos) proto \(proto)"
            + " spoofchk \(onOff(spoofchk)) trust \(onOff(trust)) state \(linkState?.description ?? "?")"
            + " min_tx_rate \(minTxRate) max_tx_rate \(maxTxRate)"
    }
}

/// One attribute of one VF to set: one RTM_SETLINK each, since the kernel stops at the first
/// attribute of a request that fails and reports only its errno.
///
/// Values are taken as given; `validate()` refuses what no driver can take (the command line
/// calls it). The actuator sends exactly what it is handed, so the lab can show what the kernel
/// itself refuses.
public enum VFAttribute: Sendable, Equatable, CustomStringConvertible {
    case mac(MACAddress)
    /// id 0 clears the port VLAN (qos 0, 802.1Q).
    case vlan(id: Int, qos: Int, proto: VLANProtocol)
    case spoofchk(Bool)
    case trust(Bool)
    case linkState(VFLinkState)
    /// Mbit/s; 0 is no limit. IFLA_VF_RATE carries both, so both are set together.
    case txRate(min: Int, max: Int)

    /// The attribute's name as iproute2 spells it ("mac", "vlan", "spoofchk", "trust", "state",
    /// "rate"): what error messages name.
    public var name: String {
        switch self {
        case .mac: "mac"
        case .vlan: "vlan"
        case .spoofchk: "spoofchk"
        case .trust: "trust"
        case .linkState: "state"
        case .txRate: "rate"
        }
    }

    /// The attribute with its value, e.g. "vlan 10 qos 3 proto 802.1ad".
    public var description: String {
        switch self {
        case .mac(let mac): "mac \(mac)"
        case .vlan(let id, let qos, let proto):
            "vlan \(id)" + (qos != 0 ? " qos \(qos)" : "") + (proto != .dot1Q ? " proto \(proto)" : "")
        case .spoofchk(let on): "spoofchk \(on ? "on" : "off")"
        case .trust(let on): "trust \(on ? "on" : "off")"
        case .linkState(let state): "state \(state)"
        case .txRate(let min, let max): "min_tx_rate \(min) max_tx_rate \(max)"
        }
    }

    /// Refuses values no driver takes, naming the attribute and the VF.
    public func validate(vf: Int) throws(VFIOError) {
        guard (0...Int(Int32.max - 1)).contains(vf) else {
            throw .usage("VF index \(vf) is out of range", hint: "VFs are numbered from 0 to sriov_numvfs - 1")
        }
        switch self {
        case .mac(let mac):
            guard !mac.isMulticast else {
                throw .usage("'mac' for VF \(vf): \(mac) is a multicast address", hint: "give a unicast MAC (lowest bit of the first octet clear), e.g. 52:54:00:6d:90:02")
            }
        case .vlan(let id, let qos, let proto):
            guard (0...4095).contains(id) else {
                throw .usage("'vlan' for VF \(vf): \(id) is not a VLAN id from 0 to 4095", hint: "0 clears the port VLAN; 1-4094 tag")
            }
            // The kernel passes qos to drivers as a u8: 256 would arrive as 0, so it is checked here.
            guard (0...7).contains(qos) else {
                throw .usage("'vlan' for VF \(vf): qos \(qos) is not a priority from 0 to 7", hint: "802.1p priorities are 0-7")
            }
            guard id != 0 || (qos == 0 && proto == .dot1Q) else {
                throw .usage("'vlan' for VF \(vf): qos or proto without a VLAN id", hint: "give a VLAN id from 1 to 4094 with qos or 802.1ad")
            }
            guard proto == .dot1Q || proto == .dot1AD else {
                throw .usage("'vlan' for VF \(vf): protocol \(proto) is neither 802.1Q nor 802.1ad", hint: "write proto 802.1Q or 802.1ad")
            }
        case .txRate(let min, let max):
            guard min >= 0, max >= 0, min <= Int(UInt32.max), max <= Int(UInt32.max) else {
                throw .usage("'rate' for VF \(vf): rates are Mbit/s from 0 (no limit)", hint: "e.g. min_tx_rate 0 max_tx_rate 1000")
            }
            guard max == 0 || min <= max else {
                throw .usage("'rate' for VF \(vf): min_tx_rate \(min) is above max_tx_rate \(max)", hint: "give a maximum of at least the minimum, or 0 for no maximum")
            }
        case .spoofchk, .trust, .linkState:
            break
        }
    }

    /// The VF as the kernel reports it once this attribute took effect (what a read-back must show).
    public func applied(to config: VFLinkConfig) -> VFLinkConfig {
        var out = config
        switch self {
        case .mac(let mac): out.mac = mac
        case .vlan(let id, let qos, let proto):
            out.vlan = id
            out.qos = qos
            out.proto = proto
        case .spoofchk(let on): out.spoofchk = on
        case .trust(let on): out.trust = on
        case .linkState(let state): out.linkState = state
        case .txRate(let min, let max):
            out.minTxRate = min
            out.maxTxRate = max
        }
        return out
    }

    /// Whether `config` (read back from the kernel) shows this attribute in effect.
    public func isSatisfied(by config: VFLinkConfig) -> Bool { applied(to: config) == config }
}

/// Network interface names as the kernel takes them (dev_valid_name): 1-15 bytes, no '/', ':' or
/// whitespace, not "." or "..".
public enum InterfaceName {
    public static func validate(_ name: String) throws(VFIOError) {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= 15, name != ".", name != "..",
              !bytes.contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") || $0 <= 0x20 || $0 == 0x7f }) else {
            throw .usage("'\(name.printable)' is not a network interface name",
                         hint: "interface names are 1-15 characters without '/', ':' or spaces; 'ip link' lists them")
        }
    }
}
