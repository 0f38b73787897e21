/// The declarative pool file of `vfioctl apply FILE` (docs/pools.md): for each SR-IOV PF, how
/// many VFs, which driver they go to and what the PF's driver sets on them (MAC, VLAN, spoof
/// check, trust, link state, rates); devices to detach for guests; the libvirt hostdev networks
/// the VFs form. Plain values and a builder from a neutral value tree (`PoolValue`) that the
/// TOML and YAML readers produce. Pure: no file I/O, no host.

/// A PF as the file names it: by PCI address or by its network interface.
public enum PFName: Sendable, Hashable, CustomStringConvertible {
    case address(PCIAddress)
    case interface(String)

    /// A PCI address (or libvirt's node-device name of one) when the text is one; otherwise an
    /// interface name. Interface names cannot hold ':' nor be longer than 15 bytes, so text with a
    /// ':', or a long one starting `pci_`, that is no address is a mistyped address.
    public static func parse(_ text: String) throws(VFIOError) -> PFName {
        if let address = PCIAddress(argument: text) { return .address(address) }
        if text.contains(":") || (text.hasPrefix("pci_") && text.utf8.count > 15) { _ = try PCIAddress.parse(text) }
        try InterfaceName.validate(text)
        return .interface(text)
    }

    public var description: String {
        switch self {
        case .address(let address): address.description
        case .interface(let name): name
        }
    }
}

/// A VF's MAC: derived from the PF's permanent address and the VF index, or given.
public enum MACSetting: Sendable, Equatable {
    case auto
    case address(MACAddress)
}

/// A VF's port VLAN: cleared, or a tag (with priority and protocol).
public enum VLANSetting: Sendable, Equatable {
    case none
    case tag(id: Int, qos: Int, proto: VLANProtocol)
}

/// What the file asks for one VF (or all of a PF's VFs). Every field is optional: nil leaves
/// the VF as the host has it.
public struct VFSettings: Sendable, Equatable {
    public var driver: SRIOVPlanner.VFDriver?
    public var mac: MACSetting?
    public var vlan: VLANSetting?
    public var spoofchk: Bool?
    public var trust: Bool?
    public var state: VFLinkState?
    /// Mbit/s; 0 is no limit.
    public var minTxRate: Int?
    public var maxTxRate: Int?

    public init(driver: SRIOVPlanner.VFDriver? = nil, mac: MACSetting? = nil, vlan: VLANSetting? = nil, spoofchk: Bool? = nil,
                trust: Bool? = nil, state: VFLinkState? = nil, minTxRate: Int? = nil, maxTxRate: Int? = nil) {
        self.driver = driver
        self.mac = mac
        self.vlan = vlan
        self.spoofchk = spoofchk
        self.trust = trust
        self.state = state
        self.minTxRate = minTxRate
        self.maxTxRate = maxTxRate
    }

    /// Whether nothing is asked for.
    public var isEmpty: Bool { self == VFSettings() }

    /// A MAC or a netlink attribute to set (a driver alone needs no netdev).
    public var setsAttributes: Bool { mac != nil || !attributes.isEmpty }

    /// These settings over `base`: each field this one gives wins; the others come from `base`.
    /// The VLAN is one field: a range's `vlan` replaces the PF's tag, priority and protocol.
    public func merged(over base: VFSettings) -> VFSettings {
        VFSettings(driver: driver ?? base.driver, mac: mac ?? base.mac, vlan: vlan ?? base.vlan,
                   spoofchk: spoofchk ?? base.spoofchk, trust: trust ?? base.trust, state: state ?? base.state,
                   minTxRate: minTxRate ?? base.minTxRate, maxTxRate: maxTxRate ?? base.maxTxRate)
    }

    /// The netlink attributes these settings ask for, MAC excluded (`auto` needs the host), in
    /// the order sriov-cni applies them: vlan, rate, spoofchk, trust, state. Rates travel
    /// together (IFLA_VF_RATE): the one not given is 0, no limit.
    public var attributes: [VFAttribute] {
        var out: [VFAttribute] = []
        switch vlan {
        case .none?: out.append(.vlan(id: 0, qos: 0, proto: .dot1Q))
        case .tag(let id, let qos, let proto)?: out.append(.vlan(id: id, qos: qos, proto: proto))
        case nil: break
        }
        if minTxRate != nil || maxTxRate != nil { out.append(.txRate(min: minTxRate ?? 0, max: maxTxRate ?? 0)) }
        if let spoofchk { out.append(.spoofchk(spoofchk)) }
        if let trust { out.append(.trust(trust)) }
        if let state { out.append(.linkState(state)) }
        return out
    }
}

/// Settings for the VFs `first...last` of a PF (one `[[pf.vf]]` entry).
public struct VFRange: Sendable, Equatable, CustomStringConvertible {
    public var first: Int
    public var last: Int
    public var settings: VFSettings
    /// Where the file says it, for messages: "pools.toml: pf[0].vf[1] (VFs 4-7)".
    public var location: String

    public init(first: Int, last: Int, settings: VFSettings, location: String) {
        (self.first, self.last, self.settings, self.location) = (first, last, settings, location)
    }

    public func contains(_ index: Int) -> Bool { (first...last).contains(index) }

    /// "5" or "4-7", as the file writes an index.
    public var description: String { first == last ? String(first) : "\(first)-\(last)" }
}

/// One PF's pool: how many VFs, what every VF gets, and the ranges that differ.
public struct PFPool: Sendable, Equatable {
    public var pf: PFName
    /// The VFs wanted (sriov_numvfs); 0 removes them.
    public var count: Int
    /// The libvirt hostdev network these VFs form (`vfioctl xml network --pool`).
    public var network: String?
    /// What every VF gets; the builder sets driver vfio (the best vfio driver) when the file names none (and there are VFs).
    public var defaults: VFSettings
    /// In file order; a later range wins over an earlier one for the VFs both contain.
    public var ranges: [VFRange]
    /// Where the file says it, for messages: "pools.toml: pf[0] (enp1s0f0)".
    public var location: String

    public init(pf: PFName, count: Int, network: String? = nil, defaults: VFSettings = VFSettings(), ranges: [VFRange] = [],
                location: String) {
        self.pf = pf
        self.count = count
        self.network = network
        self.defaults = defaults
        self.ranges = ranges
        self.location = location
    }

    /// What VF `index` gets: the defaults, then every range that contains it, in file order.
    public func settings(forVF index: Int) -> VFSettings {
        ranges.reduce(defaults) { settings, range in range.contains(index) ? range.settings.merged(over: settings) : settings }
    }

    /// Some VF gets a MAC or a netlink attribute: the PF's netdev is needed.
    public var setsVFAttributes: Bool { (0..<count).contains { settings(forVF: $0).setsAttributes } }
}

/// A whole pool file.
public struct PoolSpec: Sendable, Equatable {
    public var pfs: [PFPool]
    /// Devices to detach for guests; each stands for its IOMMU group, as `vfioctl detach`.
    public var detach: [PCIAddress]
    public var detachGroups: [Int]

    public init(pfs: [PFPool] = [], detach: [PCIAddress] = [], detachGroups: [Int] = []) {
        (self.pfs, self.detach, self.detachGroups) = (pfs, detach, detachGroups)
    }

    /// The hostdev networks the file names, in file order, each once.
    public var networkNames: [String] {
        var names: [String] = []
        for pool in pfs { if let name = pool.network, !names.contains(name) { names.append(name) } }
        return names
    }

    /// The VFs of network `name`: for each PF entry naming it, the indexes whose driver (after
    /// ranges) is a vfio one. Entries none of whose VFs qualify are left out.
    public func networkMembers(_ name: String) -> [(pool: PFPool, vfs: [Int])] {
        pfs.compactMap { pool in
            guard pool.network == name else { return nil }
            let vfs = (0..<pool.count).filter { pool.settings(forVF: $0).driver?.isVFIO == true }
            return vfs.isEmpty ? nil : (pool, vfs)
        }
    }
}

extension PoolSpec {
    /// Where the boot-time unit reads the pool file.
    public static let defaultPath = "/etc/vfioctl/pools.toml"

    /// systemd/vfioctl-pools.service: `vfioctl apply` at boot, once udev has named the PFs and
    /// before the network (and libvirt) start, so guests and network configuration find the VFs
    /// as the file says.
    public static func unit(binary: String) -> String {
        """
        # Shipped with vfioctl. Applies the VF pools in \(defaultPath) at boot, before the network:
        # VF counts, VF drivers, MAC/VLAN/trust/spoofchk/state, devices to detach (docs/pools.md).
        [Unit]
        Description=vfioctl: SR-IOV VF pools and vfio-pci assignments from \(defaultPath)
        Documentation=https://github.com/vfioctl/vfioctl/blob/main/docs/pools.md
        DefaultDependencies=no
        ConditionPathExists=\(defaultPath)
        Wants=systemd-udev-settle.service network-pre.target
        After=systemd-udev-settle.service systemd-modules-load.service local-fs.target vfioctl-persist.service
        Before=network-pre.target NetworkManager.service systemd-networkd.service libvirtd.service virtqemud.service shutdown.target
        Conflicts=shutdown.target
        RequiresMountsFor=/var/lib/vfioctl

        [Service]
        Type=oneshot
        RemainAfterExit=yes
        ExecStart=\(binary) apply \(defaultPath) --wait 120

        [Install]
        WantedBy=multi-user.target

        """
    }
}
