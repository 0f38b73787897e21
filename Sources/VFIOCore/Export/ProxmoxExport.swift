/// Proxmox VE's PCI resource mappings (`/etc/pve/mapping/pci.cfg`), as pve-guest-common's
/// PVE::Mapping::PCI and pve-common's SectionConfig read them: a section per mapping, its header
/// the bare id (pve-configid: a letter, then letters, digits, '_' and '-'), its body lines
/// indented, ended by a blank line (without one the next header is read as a body line and
/// dropped); one `map` line per node: `id=VVVV:DDDD,iommugroup=N,node=NODE,path=PATH,subsystem-id=SSSS:SSSS`.
/// assert_valid compares id and subsystem-id with sysfs's lower-case values as strings, and
/// requires each (and iommugroup) when sysfs has it: all three are written, lower case.
/// `path` without a function maps a whole multi-function device (checked as its function 0);
/// `a;b;c` are alternatives, the first free one is taken at guest start (a VF pool).
public enum ProxmoxExport {
    public struct Mapping: Sendable, Equatable {
        public var id: String
        public var node: String
        /// Alternatives; a whole device is its function 0's address with `wholeDevice`.
        public var paths: [PCIAddress]
        public var wholeDevice: Bool
        /// Of the first path (function 0 of a whole device).
        public var ids: String
        public var subsystemID: String
        public var iommuGroup: Int
        public var functions: [PCIAddress]

        public var path: String {
            paths.map { wholeDevice ? String($0.description.dropLast(2)) : $0.description }.joined(separator: ";")
        }

        /// The property string, keys in the order Proxmox writes them (sorted).
        public var map: String {
            "id=\(ids),iommugroup=\(iommuGroup),node=\(node),path=\(path),subsystem-id=\(subsystemID)"
        }
    }

    /// pve-configid.
    public static func validateID(_ id: String, option: String = "--name") throws(VFIOError) {
        guard id.count >= 2, let first = id.first, first.isASCIILetter,
              id.allSatisfy({ $0.isASCIIAlphanumeric || $0 == "_" || $0 == "-" })
        else {
            throw .usage("'\(id.printable)' is not a Proxmox mapping id (a letter, then letters, digits, '_' or '-'; at least 2)",
                         hint: "\(option) gpu-t4, for instance")
        }
    }

    /// pve-node.
    public static func validateNode(_ node: String, from source: String) throws(VFIOError) {
        guard let first = node.first, let last = node.last, first.isASCIIAlphanumeric, last.isASCIIAlphanumeric,
              node.allSatisfy({ $0.isASCIIAlphanumeric || $0 == "-" })
        else {
            throw .usage("\(source) '\(node.printable)' is not a Proxmox node name (letters, digits and '-', alphanumeric at both ends)",
                         hint: "--node NAME, the node's name as 'pvecm nodes' lists it")
        }
    }

    /// "pci-0000-01-00" for a whole device, "pci-0000-01-00-1" for a function.
    static func defaultID(_ address: PCIAddress, whole: Bool) -> String {
        let text = whole ? String(address.description.dropLast(2)) : address.description
        return "pci-" + String(text.map { $0 == ":" || $0 == "." ? "-" : $0 })
    }

    public static func mappings(_ selection: ExportSelection, _ snapshot: HostSnapshot, _ names: ExportNames) throws(VFIOError) -> [Mapping] {
        guard let node = names.node else {
            throw .usage("Proxmox maps devices per node, and this host's name is unknown (no etc/hostname under the root)",
                         hint: "--node NAME, the node's name as 'pvecm nodes' lists it")
        }
        let missing = selection.functions.filter { Export.subsystemIDs($0.function) == nil || $0.function.iommuGroup == nil }.map(\.address)
        if !missing.isEmpty {
            throw .failed("the subsystem ids of " + missing.map(\.description).joined(separator: ", ")
                            + " could not be read, and Proxmox checks subsystem-id on every device",
                          hint: "run as root, or on a tree with the functions' config space or uevent")
        }
        let selected = Set(selection.addresses)
        var mappings: [Mapping] = []
        var done = Set<PCIAddress>()
        // VFs: one mapping per PF and name, its VFs as alternatives when their ids agree.
        var vfPools: [(key: String, pf: PCIAddress, vfs: [ExportedFunction])] = []
        for exported in selection.functions {
            guard let pf = exported.function.physfn else { continue }
            let key = (names.name ?? exported.poolNetwork ?? "") + "\u{0}" + pf.description + "\u{0}" + Export.ids(exported.function)
                + "\u{0}" + (Export.subsystemIDs(exported.function) ?? "")
            if let index = vfPools.firstIndex(where: { $0.key == key }) { vfPools[index].vfs.append(exported) } else { vfPools.append((key, pf, [exported])) }
        }
        for pool in vfPools {
            let first = pool.vfs[0]
            let id = names.name ?? first.poolNetwork.flatMap { (try? validateID($0)) != nil ? $0 : nil }
                ?? (snapshot.function(pool.pf)?.netInterfaces.first.map { "vfs-" + $0 }.flatMap { (try? validateID($0)) != nil ? $0 : nil }
                    ?? defaultID(pool.pf, whole: false) + "-vfs")
            mappings.append(Mapping(id: id, node: node, paths: pool.vfs.map(\.address), wholeDevice: false, ids: Export.ids(first.function),
                                    subsystemID: Export.subsystemIDs(first.function) ?? "", iommuGroup: first.function.iommuGroup ?? 0,
                                    functions: pool.vfs.map(\.address)))
            done.formUnion(pool.vfs.map(\.address))
        }
        // Other functions: a whole device when every function of its slot is exported and it has several.
        for exported in selection.functions where !done.contains(exported.address) {
            let f = exported.function
            let slot = snapshot.functions.filter { $0.address.slot == f.address.slot && $0.physfn == nil && !$0.isBridge }
            let whole = slot.count > 1 && slot.allSatisfy { selected.contains($0.address) } && slot.first?.address.function == 0
            let members = whole ? slot.map(\.address) : [f.address]
            guard let first = whole ? slot.first : f else { continue }
            mappings.append(Mapping(id: names.name ?? defaultID(first.address, whole: whole), node: node, paths: [first.address], wholeDevice: whole,
                                    ids: Export.ids(first), subsystemID: Export.subsystemIDs(first) ?? "", iommuGroup: first.iommuGroup ?? 0,
                                    functions: members))
            done.formUnion(members)
        }
        if let name = names.name, mappings.count > 1 {
            throw .usage("--name \(name) names one mapping, and these functions make \(mappings.count): "
                            + mappings.map { $0.path }.joined(separator: ", "),
                         hint: "export them one device at a time with a --name each, or leave out --name (each gets an id of its own)")
        }
        for mapping in mappings { try validateID(mapping.id) }
        var seen = Set<String>()
        for mapping in mappings where !seen.insert(mapping.id).inserted {
            throw .usage("two mappings would have the id '\(mapping.id)'", hint: "export them with a --name each")
        }
        return mappings.sorted { ($0.paths.first ?? PCIAddress(bus: 0, device: 0, function: 0)) < ($1.paths.first ?? PCIAddress(bus: 0, device: 0, function: 0)) }
    }

    public static func render(_ selection: ExportSelection, _ snapshot: HostSnapshot, _ names: ExportNames) throws(VFIOError) -> ExportDocument {
        let mappings = try mappings(selection, snapshot, names)
        var findings: [Finding] = []
        for id in selection.groups {
            let parts = mappings.filter { mapping in mapping.functions.contains { snapshot.function($0)?.iommuGroup == id } }
            if parts.count > 1 {
                findings.append(Finding("proxmox.group-in-several-mappings", .warning, "group \(id)",
                                        "IOMMU group \(id) is in mappings " + parts.map(\.id).joined(separator: ", ")
                                            + ": a guest needs all of them (Proxmox does not check that a group is whole)",
                                        hint: "give the guest every one of them"))
            }
        }
        let sections = mappings.map { mapping in
            "\(mapping.id)\n\tmap \(mapping.map)\n"
        }
        let content = Export.banner(.proxmox, selection) + "\n" + sections.joined(separator: "\n")
        let entries: [JSON] = mappings.map { mapping in
            .object([
                "id": .string(mapping.id),
                "node": .string(mapping.node),
                "path": .string(mapping.path),
                "vendor_device": .string(mapping.ids),
                "subsystem_id": .string(mapping.subsystemID),
                "iommu_group": .int(mapping.iommuGroup),
                "functions": .strings(mapping.functions.map(\.description)),
            ])
        }
        return ExportDocument(format: .proxmox, content: content, entries: entries, selection: selection, findings: findings)
    }
}

extension Character {
    var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
}
