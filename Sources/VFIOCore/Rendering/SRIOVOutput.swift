/// `vfioctl sriov status`: each SR-IOV PF with its VFs. Pure.
public enum SRIOVOutput {
    public static func pfs(_ snapshot: HostSnapshot, only: PCIAddress? = nil) -> [PCIFunction] {
        snapshot.functions.filter { $0.sriov != nil && $0.physfn == nil && (only == nil || $0.address == only) }
    }

    /// A VF's attributes as its PF's driver reports them over netlink (nil: no netdev PF, or not read).
    static func settings(_ pf: PCIFunction, index: Int, _ links: VFPlanner.Links) -> VFLinkConfig? {
        pf.netInterfaces.lazy.compactMap { links.vfs[$0] }.first?.first { $0.index == index }
    }

    static func json(_ config: VFLinkConfig?) -> JSON {
        guard let c = config else { return .null }
        return .object([
            "link_state": .optional(c.linkState?.description),
            "mac": .optional(c.mac?.description),
            "max_tx_rate": .int(c.maxTxRate),
            "min_tx_rate": .int(c.minTxRate),
            "qos": .int(c.qos),
            "spoofchk": c.spoofchk.map { .bool($0) } ?? .null,
            "trust": c.trust.map { .bool($0) } ?? .null,
            "vlan": .int(c.vlan),
            "vlan_protocol": .string(c.proto.description),
        ])
    }

    public static func json(_ pfs: [PCIFunction], _ snapshot: HostSnapshot, _ facts: HostFacts, _ links: VFPlanner.Links = .init()) -> JSON {
        .document(["pfs": .array(pfs.map { pf in
            let sriov = pf.sriov
            return .object([
                "address": .string(pf.address.description),
                "autoprobe": sriov?.driversAutoprobe.map { .bool($0) } ?? .null,
                "driver": .optional(pf.driver),
                "interfaces": interfaces(pf, facts),
                "num_vfs": .int(sriov?.numVFs ?? 0),
                "numa_node": pf.numaNode.map { .int($0) } ?? .null,
                "total_vfs": .int(sriov?.totalVFs ?? 0),
                "vf_device_id": .optional(sriov?.vfDeviceID.map { HexDigits.padded(UInt64($0), width: 4) }),
                "vfs": .array(vfs(pf).map { index, address in
                    let vf = snapshot.function(address)
                    return .object([
                        "address": .string(address.description),
                        "driver": .optional(vf?.driver),
                        "group": vf?.iommuGroup.map { .int($0) } ?? .null,
                        "index": .int(index),
                        "interfaces": vf.map { interfaces($0, facts) } ?? .array([]),
                        "numa_node": vf?.numaNode.map { .int($0) } ?? .null,
                        "settings": json(settings(pf, index: index, links)),
                    ])
                }),
            ])
        })])
    }

    static func settingsColumns(_ config: VFLinkConfig?) -> [String] {
        guard let c = config else { return ["?", "?", "?", "?", "?"] }
        func onOff(_ value: Bool?) -> String { value.map { $0 ? "on" : "off" } ?? "-" }
        let vlan = c.vlan == 0 ? "-" : "\(c.vlan)" + (c.qos != 0 ? " qos \(c.qos)" : "") + (c.proto != .dot1Q ? " \(c.proto)" : "")
        return [c.mac.map { $0.isZero ? "-" : $0.description } ?? "?", vlan, onOff(c.spoofchk), onOff(c.trust), c.linkState?.description ?? "-"]
    }

    static func vfs(_ pf: PCIFunction) -> [(Int, PCIAddress)] {
        (pf.sriov?.vfIndices ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    static func interfaces(_ f: PCIFunction, _ facts: HostFacts) -> JSON {
        .array(f.netInterfaces.sorted().map { name in
            .object(["name": .string(name), "state": .optional(facts.network[name]?.operstate)])
        })
    }

    public static func text(_ pfs: [PCIFunction], _ snapshot: HostSnapshot, _ facts: HostFacts, _ links: VFPlanner.Links = .init()) -> String {
        guard !pfs.isEmpty else { return "no SR-IOV PFs on this host (no function has sriov_totalvfs)\n" }
        var out = ""
        for pf in pfs {
            let sriov = pf.sriov
            let names = pf.netInterfaces.sorted().map { "\($0) (\(facts.network[$0]?.operstate ?? "?"))" }.joined(separator: ", ")
            out += "\(pf.address)  \(pf.driver ?? "no driver")" + (names.isEmpty ? "" : "  \(names)")
                + "  VFs \(sriov?.numVFs ?? 0) of \(sriov?.totalVFs ?? 0)  autoprobe " + (sriov?.driversAutoprobe.map { $0 ? "on" : "off" } ?? "?")
                + "  \(pf.displayName)\n"
            let read = pf.netInterfaces.contains { links.vfs[$0] != nil }
            let rows = vfs(pf).map { index, address -> [String] in
                let vf = snapshot.function(address)
                var row = ["  \(index)", address.description, vf?.driver ?? "-", vf?.iommuGroup.map(String.init) ?? "-",
                           vf?.numaNode.map(String.init) ?? "-", vf?.netInterfaces.sorted().joined(separator: ",") ?? ""]
                if read { row += settingsColumns(settings(pf, index: index, links)) }
                return row
            }
            let header = ["  VF", "ADDRESS", "DRIVER", "GROUP", "NUMA", "NETDEV"] + (read ? ["MAC", "VLAN", "SPOOFCHK", "TRUST", "STATE"] : [])
            if !rows.isEmpty { out += TextTable(header: header, rows: rows).render() }
        }
        return out
    }
}
