/// neutron's SR-IOV NIC agent (`sriov_agent.ini`, section `[sriov_nic]`), as neutron 21
/// (bookworm's python3-neutron) parses it: `physical_device_mappings` is a list of
/// `physnet:interface` (neutron_lib's parse_mappings: exactly one ':' each, keys may repeat),
/// `exclude_devices` a list of `interface:VF;VF` whose interface must be mapped
/// (SriovNicAgentConfigParser). The agent manages every VF of a mapped PF (it lists the PF's
/// virtfnN links) except those excluded: so the VFs of each exported VF's PF that were not
/// selected are excluded.
public enum NeutronExport {
    public struct Mapping: Sendable, Equatable {
        public var physnet: String
        public var interface: String
        public var pf: PCIAddress
        public var vfs: [PCIAddress]
        public var excluded: [PCIAddress]
    }

    public static func mappings(_ selection: ExportSelection, _ snapshot: HostSnapshot, _ names: ExportNames) throws(VFIOError) -> [Mapping] {
        let notVFs = selection.functions.filter { $0.function.physfn == nil }.map(\.address)
        if !notVFs.isEmpty {
            throw .usage("neutron's SR-IOV agent hands out VFs; " + notVFs.map(\.description).joined(separator: ", ")
                            + (notVFs.count == 1 ? " is" : " are") + " not a VF",
                         hint: "name the VFs (or --pool FILE), or export the other devices for nova: vfioctl export nova ...")
        }
        var byPF: [PCIAddress: [ExportedFunction]] = [:]
        for exported in selection.functions {
            if let pf = exported.function.physfn { byPF[pf, default: []].append(exported) }
        }
        var mappings: [Mapping] = []
        for (address, vfs) in byPF.sorted(by: { $0.key < $1.key }) {
            guard let pf = snapshot.function(address) else { throw UnknownFunction.error(address) }
            guard let interface = pf.netInterfaces.first else {
                throw .failed("\(address), the PF of " + vfs.map(\.address.description).joined(separator: ", ")
                                + ", has no network interface (driver: \(pf.driver ?? "none")): neutron names PFs by interface",
                              hint: "bind the PF to its network driver, so its interface exists")
            }
            guard let physnet = names.physnet(of: pf, pool: vfs.first?.pool) else {
                throw .usage("no physical network for \(interface) (\(address)): neutron maps each PF to one",
                             hint: "--physnet \(interface)=NAME, --physnet NAME for every PF, or network = \"NAME\" in the pool file's entry")
            }
            let chosen = Set(vfs.map(\.address))
            let excluded = (pf.sriov?.vfs ?? []).filter { !chosen.contains($0) }
            mappings.append(Mapping(physnet: physnet, interface: interface, pf: address, vfs: vfs.map(\.address).sorted(), excluded: excluded))
        }
        return mappings
    }

    public static func render(_ selection: ExportSelection, _ snapshot: HostSnapshot, _ names: ExportNames) throws(VFIOError) -> ExportDocument {
        let mappings = try mappings(selection, snapshot, names)
        var content = Export.banner(.neutron, selection)
        for mapping in mappings {
            content += "# \(mapping.interface) (\(mapping.pf)): VFs " + mapping.vfs.map(\.description).joined(separator: ", ") + "\n"
        }
        content += "[sriov_nic]\n"
        content += "physical_device_mappings = " + mappings.map { "\($0.physnet):\($0.interface)" }.joined(separator: ",") + "\n"
        let exclusions = mappings.filter { !$0.excluded.isEmpty }
        if !exclusions.isEmpty {
            content += "exclude_devices = " + exclusions.map { $0.interface + ":" + $0.excluded.map(\.description).joined(separator: ";") }
                .joined(separator: ",") + "\n"
        }
        let entries: [JSON] = mappings.map { mapping in
            .object([
                "physical_network": .string(mapping.physnet),
                "interface": .string(mapping.interface),
                "pf": .string(mapping.pf.description),
                "vfs": .strings(mapping.vfs.map(\.description)),
                "excluded": .strings(mapping.excluded.map(\.description)),
            ])
        }
        return ExportDocument(format: .neutron, content: content, entries: entries, selection: selection)
    }
}
