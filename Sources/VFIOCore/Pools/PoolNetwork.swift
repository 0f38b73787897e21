/// `vfioctl xml network --pool FILE`: the libvirt hostdev networks a pool file names, laid out
/// on this host's PFs. Pure: the host comes in as a snapshot.

/// The networks of a pool file as libvirt `<network>` elements.
public enum PoolNetworks {
    public struct Layout: Sendable, Equatable {
        public var element: XMLElement
        /// Things the user should know (VFs predicted, VLANs libvirt will reset ...), one line each.
        public var warnings: [String]
    }

    /// Network `name`: the VFs on vfio-pci of every PF entry naming it. All of one PF's VFs,
    /// with the PF's interface known, become `<pf dev=.../>`; anything else lists the VFs by
    /// address: existing VFs from the PF's virtfn links, the others computed from its SR-IOV
    /// offset and stride. When every VF carries the same VLAN tag the network gets it too.
    public static func layout(_ name: String, _ spec: PoolSpec, _ snapshot: HostSnapshot) throws(VFIOError) -> Layout {
        let members = spec.networkMembers(name)
        let naming = spec.pfs.filter { $0.network == name }
        guard !members.isEmpty else {
            throw .usage("network '\(name.printable)' has no VF on vfio-pci: " + naming.map(\.location).joined(separator: "; "),
                         hint: "a hostdev network hands VFs to guests: give those VFs driver = \"vfio-pci\" (the default)")
        }
        var warnings: [String] = []
        var resolved: [(pool: PFPool, vfs: [Int], pf: PCIFunction, sriov: SRIOVInfo)] = []
        for (pool, vfs) in members {
            let (pf, sriov) = try physicalFunction(pool, snapshot)
            resolved.append((pool, vfs, pf, sriov))
        }

        var forwardPF: String?
        var addresses: [PCIAddress] = []
        if resolved.count == 1, let only = resolved.first, only.vfs.count == only.pool.count,
           let interface = only.pool.pf.interfaceName ?? (only.pf.netInterfaces.count == 1 ? only.pf.netInterfaces.first : nil) {
            forwardPF = interface
        } else {
            for (pool, vfs, pf, sriov) in resolved {
                var predicted: [Int] = []
                for index in vfs {
                    if let address = sriov.vfIndices[index] {
                        addresses.append(address)
                        continue
                    }
                    guard let offset = sriov.offset, let stride = sriov.stride,
                          let address = pf.address.virtfn(index, offset: offset, stride: stride) else {
                        throw .failed("\(pool.location): cannot tell where VF \(index) of \(pf.address) will appear: "
                                      + "the PF reports no usable sriov_offset and sriov_stride",
                                      hint: "create the VFs first (vfioctl apply FILE), then ask again")
                    }
                    addresses.append(address)
                    predicted.append(index)
                }
                if let first = predicted.first, let last = predicted.last {
                    warnings.append("\(pf.address) has \(sriov.numVFs) VFs now: the addresses of VF\(first == last ? " \(first)" : "s \(first)-\(last)") "
                                    + "are computed from its SR-IOV offset \(sriov.offset ?? 0) and stride \(sriov.stride ?? 0) "
                                    + "(they exist once 'vfioctl apply' creates them)")
                }
            }
        }

        // libvirt resets a VF's port VLAN when it hands the VF to a guest through a network:
        // virHostdevSetNetConfig calls virNetDevSetNetConfig(..., vlan, NULL, setVlan = true),
        // whose vlan == NULL branch sets the tag to 0 ("Assure any existing vlan tag is reset"),
        // and virNetDevSetVfVlan sends IFLA_VF_VLAN with qos 0, protocol 802.1Q
        // (libvirt src/hypervisor/virhostdev.c and src/util/virnetdev.c). So the pool's VLAN
        // survives only as the network's <vlan>; a guest's own <vlan> on its interface wins over it.
        let settings = resolved.flatMap { member in member.vfs.map { member.pool.settings(forVF: $0) } }
        var vlan: Int?
        let tags = settings.map(\.vlan)
        if let first = tags.first, case .tag(let id, let qos, let proto)? = first, tags.allSatisfy({ $0 == first }) {
            vlan = id
            if qos != 0 || proto != .dot1Q {
                warnings.append("network '\(name)': libvirt sets VLAN \(id) with priority 0 and 802.1Q when it hands out a VF: "
                                + "the pool's qos \(qos) / \(proto) does not survive")
            }
        } else if tags.contains(where: { if case .tag? = $0 { true } else { false } }) {
            warnings.append("network '\(name)': its VFs do not share one VLAN tag, so the network carries none, and libvirt "
                            + "clears a VF's VLAN when it hands the VF to a guest: give every VF of the network the same vlan, "
                            + "or set <vlan> on each guest's <interface type='network'>")
        }
        if settings.contains(where: { if case .address? = $0.mac { true } else { false } }) {
            warnings.append("network '\(name)': libvirt gives a VF the guest interface's MAC when it hands it out "
                            + "(and puts the pool's back when the guest lets go)")
        }
        return Layout(element: LibvirtXML.network(name: name, pf: forwardPF, vfs: addresses, vlan: vlan), warnings: warnings)
    }

    /// The PF an entry names, on this host, with its SR-IOV state; refuses VF counts it cannot have.
    static func physicalFunction(_ pool: PFPool, _ snapshot: HostSnapshot) throws(VFIOError) -> (PCIFunction, SRIOVInfo) {
        let found: PCIFunction?
        switch pool.pf {
        case .address(let address): found = snapshot.function(address)
        case .interface(let name): found = snapshot.function(interface: name)
        }
        guard let pf = found else {
            switch pool.pf {
            case .address(let address):
                throw UnknownFunction.error(address, at: pool.location, hint: UnknownFunction.pfHint)
            case .interface(let name):
                throw .failed("\(pool.location): no network interface '\(name.printable)' on a PCI function of this host",
                              hint: "'ip link' lists the interfaces; 'vfioctl sriov status' the SR-IOV PFs")
            }
        }
        guard pf.physfn == nil, let sriov = pf.sriov else {
            throw .usage("\(pool.location): \(pf.address) is not an SR-IOV PF" + (pf.physfn.map { " (it is a VF of \($0))" } ?? ""),
                         hint: "name a PF with sriov_totalvfs ('vfioctl sriov status' lists them)")
        }
        guard pool.count <= sriov.totalVFs else {
            throw .usage("\(pool.location): vfs = \(pool.count), but \(pf.address) supports at most \(sriov.totalVFs) (sriov_totalvfs)",
                         hint: "ask for \(sriov.totalVFs) or fewer")
        }
        return (pf, sriov)
    }
}

extension PFName {
    /// The interface name, when the file names the PF by one.
    public var interfaceName: String? {
        if case .interface(let name) = self { name } else { nil }
    }
}
