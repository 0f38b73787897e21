/// One VF of one PF: how records and plans name a VF (the PF's address stays when its netdev is
/// renamed).
public struct VFKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var pf: PCIAddress
    public var index: Int

    public init(pf: PCIAddress, index: Int) { (self.pf, self.index) = (pf, index) }

    public static func < (a: VFKey, b: VFKey) -> Bool { (a.pf, a.index) < (b.pf, b.index) }
    public var description: String { "\(pf) VF \(index)" }
}

/// A VF's netlink attributes before vfioctl first changed them: journaled before the first
/// write of a run (rolled back from there), and kept in the state directory (`vf-originals`)
/// until `vfioctl sriov restore` puts them back.
public struct VFOriginal: Sendable, Equatable {
    public var pf: PCIAddress
    /// The PF's netdev when recorded (for people: the PF is found by address again).
    public var interface: String
    public var config: VFLinkConfig

    public init(pf: PCIAddress, interface: String, config: VFLinkConfig) {
        (self.pf, self.interface, self.config) = (pf, interface, config)
    }

    public var key: VFKey { VFKey(pf: pf, index: config.index) }

    /// The attributes that bring `current` back to this, one request each, in the order sriov-cni
    /// restores them (VLAN, MAC, rate, spoof checking, trust, link state). What the driver did not
    /// report when recorded is left alone.
    public func restoring(from current: VFLinkConfig) -> [VFAttribute] {
        let was = config
        var out: [VFAttribute] = []
        if (was.vlan, was.qos, was.proto) != (current.vlan, current.qos, current.proto) {
            out.append(.vlan(id: was.vlan, qos: was.qos, proto: was.proto))
        }
        if let mac = was.mac, mac != current.mac { out.append(.mac(mac)) }
        if (was.minTxRate, was.maxTxRate) != (current.minTxRate, current.maxTxRate) {
            out.append(.txRate(min: was.minTxRate, max: was.maxTxRate))
        }
        if let on = was.spoofchk, on != current.spoofchk { out.append(.spoofchk(on)) }
        if let on = was.trust, on != current.trust { out.append(.trust(on)) }
        if let state = was.linkState, state != current.linkState { out.append(.linkState(state)) }
        return out
    }
}

/// A PF netdev's MAC addresses: the permanent one (IFLA_PERM_ADDRESS; all zero or nil when the
/// driver has none, e.g. netdevsim) and the current one.
public struct PFAddresses: Sendable, Equatable {
    public var permanent: MACAddress?
    public var current: MACAddress?

    public init(permanent: MACAddress?, current: MACAddress?) { (self.permanent, self.current) = (permanent, current) }
}

/// `vfioctl sriov set` and `sriov restore` as plans: one `set-vf` step per attribute that is not
/// already so, each VF's attributes recorded before the first change. Pure: the VFs' attributes
/// come in read (over netlink) by the caller.
public enum VFPlanner {
    /// What the host's VFs are configured with now, read over netlink, per PF netdev; and each
    /// PF netdev's permanent and current MAC (IFLA_PERM_ADDRESS, IFLA_ADDRESS).
    public struct Links: Sendable, Equatable {
        public var vfs: [String: [VFLinkConfig]]
        public var addresses: [String: PFAddresses]

        public init(vfs: [String: [VFLinkConfig]] = [:], addresses: [String: PFAddresses] = [:]) {
            (self.vfs, self.addresses) = (vfs, addresses)
        }

        /// Every admin MAC on the host's VFs but `except`'s own.
        func macsInUse(except: (String, Int)? = nil) -> [MACAddress: String] {
            var out: [MACAddress: String] = [:]
            for (interface, vfs) in vfs {
                for vf in vfs {
                    guard let mac = vf.mac, !mac.isZero else { continue }
                    if let except, except.0 == interface && except.1 == vf.index { continue }
                    out[mac] = "VF \(vf.index) of \(interface)"
                }
            }
            return out
        }
    }

    /// What `--mac auto` derives from: the PF's permanent address, or (a netdev without one,
    /// e.g. netdevsim) its current address.
    public static func macSource(_ interface: String, _ links: Links) -> (mac: MACAddress, permanent: Bool)? {
        let addresses = links.addresses[interface]
        if let permanent = addresses?.permanent, !permanent.isZero { return (permanent, true) }
        if let current = addresses?.current, !current.isZero { return (current, false) }
        return nil
    }

    /// The automatic MAC of VF `vf`: 02:PP:PP:PP:VV:VV — locally administered, unicast, the
    /// NIC-specific half of the PF's address (so the ports of one card differ), then the VF index.
    /// When another VF already has it, the first octet steps through 06, 0a, 0e, ... (still
    /// locally administered unicast): deterministic for a given host. nil when all 64 are taken.
    public static func autoMAC(source: MACAddress, vf: Int, taken: (MACAddress) -> Bool) -> MACAddress? {
        let o = source.octets
        for attempt in 0..<64 {
            let octets: [UInt8] = [UInt8(0x02 | (attempt << 2)), o[3], o[4], o[5], UInt8((vf >> 8) & 0xff), UInt8(vf & 0xff)]
            guard let mac = MACAddress(rawOctets: octets) else { return nil }
            if !taken(mac) { return mac }
        }
        return nil
    }

    /// A MAC to set: one given, or `auto`.
    public enum MACChoice: Sendable, Equatable {
        case auto
        case address(MACAddress)
    }

    public struct SetRequest: Sendable, Equatable {
        public var pf: PCIAddress
        public var vf: Int
        public var mac: MACChoice?
        /// The other attributes (VLAN, spoof checking, trust, state, rate), in request order.
        public var attributes: [VFAttribute]

        public init(pf: PCIAddress, vf: Int, mac: MACChoice? = nil, attributes: [VFAttribute] = []) {
            (self.pf, self.vf, self.mac, self.attributes) = (pf, vf, mac, attributes)
        }
    }

    /// `sriov set`: the steps for one VF, refused (error findings) when the PF is not an SR-IOV
    /// netdev PF, is down, has no such VF, or a MAC is another VF's already.
    public static func set(_ request: SetRequest, _ snapshot: HostSnapshot, _ facts: HostFacts, _ links: Links,
                           saved: [VFOriginal]) -> Plan {
        var plan = Plan(operation: .sriovSet)
        guard let (pf, interface, vfs) = netdevPF(request.pf, snapshot, links, &plan) else { return plan }
        refuseIfDown(interface, pf.address, facts, &plan)
        guard let current = vfs.first(where: { $0.index == request.vf }) else {
            plan.findings.append(noSuchVF(request.vf, interface: interface, pf: pf.address, count: vfs.count))
            return plan
        }
        var assigned: [MACAddress: String] = [:]
        var wanted = request.attributes
        switch request.mac {
        case .address(let mac)?: wanted.append(.mac(mac))
        case .auto?:
            guard let mac = automatic(interface, current, links, assigned: &assigned, &plan) else { return plan }
            wanted.append(.mac(mac))
        case nil: break
        }
        wanted = ordered(wanted)
        if case .address(let mac)? = request.mac, let conflict = macConflict(mac, vf: current.index, interface: interface, pf: pf.address, links) {
            plan.findings.append(conflict)
        }
        guard !plan.refused else { return plan }
        add(wanted, for: current, pf: pf.address, interface: interface, saved: saved, to: &plan)
        if plan.steps.isEmpty { plan.unchanged = [pf.address] }
        return plan
    }

    /// `sriov restore`: every recorded VF of the PF (or just `vf`) back to its recorded attributes,
    /// and the records dropped. VFs whose records describe VFs that are gone are dropped too.
    public static func restore(_ address: PCIAddress, vf only: Int?, _ snapshot: HostSnapshot, _ facts: HostFacts, _ links: Links,
                               saved: [VFOriginal]) -> Plan {
        var plan = Plan(operation: .sriovRestore)
        let records = saved.filter { $0.pf == address && (only == nil || $0.config.index == only) }
        guard !records.isEmpty else {
            plan.findings.append(Finding("sriov.nothing-recorded", .info, address.description,
                                         "vfioctl has no record of " + (only.map { "VF \($0) of \(address)" } ?? "VFs of \(address)")
                                             + ": it never changed " + (only == nil ? "them" : "it") + " (or restored already)"))
            plan.unchanged = [address]
            return plan
        }
        guard let (pf, interface, vfs) = netdevPF(address, snapshot, links, &plan) else { return plan }
        if refuseIfDown(interface, pf.address, facts, &plan) { return plan }
        for record in records.sorted(by: { $0.key < $1.key }) {
            plan.records.vfDrop.append(record.key)
            guard let current = vfs.first(where: { $0.index == record.config.index }) else {
                plan.findings.append(Finding("sriov.vf-gone", .warning, pf.address.description,
                                             "VF \(record.config.index) of \(interface) no longer exists (the VF count changed): its record is dropped"))
                continue
            }
            let attributes = record.restoring(from: current)
            if attributes.isEmpty { continue }
            plan.originals.vfSettings.append(VFOriginal(pf: pf.address, interface: interface, config: current))
            for attribute in attributes {
                plan.steps.append(.setVF(pf.address, interface: interface, vf: current.index, attribute))
            }
        }
        if plan.steps.isEmpty { plan.unchanged = [pf.address] }
        return plan
    }

    /// Appends a `set-vf` step for each attribute `current` does not show yet, and records the VF's
    /// attributes (journal; and the state directory unless a record is kept there already).
    public static func add(_ attributes: [VFAttribute], for current: VFLinkConfig, pf: PCIAddress, interface: String,
                           saved: [VFOriginal], to plan: inout Plan) {
        let changes = attributes.filter { !$0.isSatisfied(by: current) }
        guard !changes.isEmpty else { return }
        let original = VFOriginal(pf: pf, interface: interface, config: current)
        plan.originals.vfSettings.append(original)
        if !saved.contains(where: { $0.key == original.key }) { plan.records.vfWrite.append(original) }
        for attribute in changes { plan.steps.append(.setVF(pf, interface: interface, vf: current.index, attribute)) }
    }

    /// The MAC `auto` gives `vf` (recorded in `assigned` so a pool's VFs differ), or an error
    /// finding when the PF has no address to derive from or every candidate is taken.
    public static func automatic(_ interface: String, _ vf: VFLinkConfig, _ links: Links, assigned: inout [MACAddress: String],
                                 _ plan: inout Plan) -> MACAddress? {
        guard let source = macSource(interface, links) else {
            plan.findings.append(Finding("sriov.mac-auto", .error, interface, "\(interface) reports no MAC address to derive VF MACs from",
                                         hint: "give each VF its MAC (--mac 52:54:00:...)"))
            return nil
        }
        let inUse = links.macsInUse(except: (interface, vf.index))
        let owner = "VF \(vf.index) of \(interface)"
        guard let mac = autoMAC(source: source.mac, vf: vf.index, taken: { inUse[$0] != nil || (assigned[$0].map { $0 != owner } ?? false) }) else {
            plan.findings.append(Finding("sriov.mac-auto", .error, interface, "every automatic MAC for VF \(vf.index) of \(interface) is taken",
                                         hint: "give the VF its MAC (--mac 52:54:00:...)"))
            return nil
        }
        assigned[mac] = owner
        return mac
    }

    /// Refuses VF settings while the PF's netdev is down (drivers may drop them without an error);
    /// true when it did.
    @discardableResult
    static func refuseIfDown(_ interface: String, _ pf: PCIAddress, _ facts: HostFacts, _ plan: inout Plan) -> Bool {
        guard let net = facts.network[interface], !net.isUp else { return false }
        plan.findings.append(Finding("sriov.pf-down", .error, pf.description,
                                     "\(interface), the PF's interface, is down: VF settings made now may not reach the hardware, without an error",
                                     hint: "bring it up first: ip link set \(interface) up"))
        return true
    }

    /// A refusal when `mac` is another VF's already: on the host, or given to another VF earlier
    /// in the same plan (`assigned`, by owner).
    static func macConflict(_ mac: MACAddress, vf: Int, interface: String, pf: PCIAddress, _ links: Links,
                            assigned: [MACAddress: String] = [:]) -> Finding? {
        let owner = "VF \(vf) of \(interface)"
        guard let other = links.macsInUse(except: (interface, vf))[mac] ?? assigned[mac].flatMap({ $0 == owner ? nil : $0 }) else { return nil }
        return Finding("sriov.mac-in-use", .error, pf.description,
                       "\(mac) for \(owner) is already the MAC of \(other): two VFs with one MAC break both",
                       hint: "give another MAC, or auto for one derived from the PF's address")
    }

    /// The PF, its netdev, and its VFs as netlink reports them; or an error finding.
    static func netdevPF(_ address: PCIAddress, _ snapshot: HostSnapshot, _ links: Links,
                         _ plan: inout Plan) -> (PCIFunction, String, [VFLinkConfig])? {
        guard let (pf, _) = SRIOVPlanner.physicalFunction(address, snapshot, &plan) else { return nil }
        guard let interface = pf.netInterfaces.first(where: { links.vfs[$0] != nil }) ?? pf.netInterfaces.first else {
            plan.findings.append(Finding("sriov.no-netdev", .error, address.description,
                                         "\(address) (\(pf.displayName)) has no network interface: VF MAC, VLAN, trust and state are set through the PF's netdev",
                                         hint: "only network PFs take VF attributes; its driver may not be loaded (see 'vfioctl sriov status')"))
            return nil
        }
        return (pf, interface, links.vfs[interface] ?? [])
    }

    /// Attributes in the order sriov-cni applies them: VLAN, MAC, rate, spoof checking, trust,
    /// link state (a driver may refuse a MAC change while trust is being changed, and so on).
    public static func ordered(_ attributes: [VFAttribute]) -> [VFAttribute] {
        func rank(_ a: VFAttribute) -> Int {
            switch a {
            case .vlan: 0
            case .mac: 1
            case .txRate: 2
            case .spoofchk: 3
            case .trust: 4
            case .linkState: 5
            }
        }
        return attributes.enumerated().sorted { (rank($0.element), $0.offset) < (rank($1.element), $1.offset) }.map(\.element)
    }

    static func noSuchVF(_ vf: Int, interface: String, pf: PCIAddress, count: Int) -> Finding {
        Finding("sriov.no-vf", .error, pf.description,
                "\(interface) has no VF \(vf): it has \(count) VF" + (count == 1 ? "" : "s") + (count > 0 ? " (0-\(count - 1))" : ""),
                hint: count == 0 ? "create VFs first: vfioctl sriov create \(interface) --count N" : "VFs are numbered from 0 to \(count - 1)")
    }
}
