/// `vfioctl sriov status`: each SR-IOV PF with its VFs. Pure.
public enum SRIOVOutput {
    public static func pfs(_ snapshot: HostSnapshot, only: PCIAddress? = nil) -> [PCIFunction] {
        snapshot.functions.filter { $0.sriov != nil && $0.physfn == nil && (only == nil || $0.address == only) }
    }

    public static func json(_ pfs: [PCIFunction], _ snapshot: HostSnapshot, _ facts: HostFacts) -> JSON {
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
                    ])
                }),
            ])
        })])
    }

    static func vfs(_ pf: PCIFunction) -> [(Int, PCIAddress)] {
        (pf.sriov?.vfIndices ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    static func interfaces(_ f: PCIFunction, _ facts: HostFacts) -> JSON {
        .array(f.netInterfaces.sorted().map { name in
            .object(["name": .string(name), "state": .optional(facts.network[name]?.operstate)])
        })
    }

    public static func text(_ pfs: [PCIFunction], _ snapshot: HostSnapshot, _ facts: HostFacts) -> String {
        guard !pfs.isEmpty else { return "no SR-IOV PFs on this host (no function has sriov_totalvfs)\n" }
        var out = ""
        for pf in pfs {
            let sriov = pf.sriov
            let links = pf.netInterfaces.sorted().map { "\($0) (\(facts.network[$0]?.operstate ?? "?"))" }.joined(separator: ", ")
            out += "\(pf.address)  \(pf.driver ?? "no driver")" + (links.isEmpty ? "" : "  \(links)")
                + "  VFs \(sriov?.numVFs ?? 0) of \(sriov?.totalVFs ?? 0)  autoprobe " + (sriov?.driversAutoprobe.map { $0 ? "on" : "off" } ?? "?")
                + "  \(pf.displayName)\n"
            let rows = vfs(pf).map { index, address -> [String] in
                let vf = snapshot.function(address)
                return ["  \(index)", address.description, vf?.driver ?? "-", vf?.iommuGroup.map(String.init) ?? "-",
                        vf?.numaNode.map(String.init) ?? "-", vf?.netInterfaces.sorted().joined(separator: ",") ?? ""]
            }
            if !rows.isEmpty { out += TextTable(header: ["  VF", "ADDRESS", "DRIVER", "GROUP", "NUMA", "NETDEV"], rows: rows).render() }
        }
        return out
    }
}
