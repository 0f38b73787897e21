/// nova's `[pci]` options (nova/conf/pci.py), as nova 26 (Debian bookworm's python3-nova)
/// parses them in nova/pci/devspec.py and nova/pci/request.py:
/// - `device_spec`: one JSON object per function, by exact address and with `vendor_id` and
///   `product_id` pinned: a spec holding only a PF's address matches every VF of that PF too
///   (nova reads sriov_totalvfs at the address, and then matches the VFs' parent address);
///   `physical_network` on VFs and PFs of a PF mapped to a physnet (neutron's SR-IOV ports).
///   nova keeps PCI domains at most 0xFFFF (MAX_DOMAIN): an address behind an Intel VMD
///   controller (domain 10000 and up) is rejected, so such functions are refused here.
/// - `remote_managed` (`--remote-managed`): on VFs only (nova refuses it on a PF), with
///   `physical_network` null unless one is given (an overlay network); nova drops such a device
///   from its pool unless libvirt reads a card serial number from the VPD of the VF or of its PF,
///   so a VF without one is refused here. Remote-managed VFs serve neutron's remote-managed
///   ports only, so they get no alias.
/// - `alias`: one per (name, vendor, product), always with `device_type` (an alias without it
///   breaks nova's alias parser when a second one shares its name) and `numa_policy`; aliases
///   sharing a name must agree on both (nova refuses the file otherwise).
public enum NovaExport {
    /// nova's MAX_DOMAIN.
    public static let maxDomain: UInt32 = 0xFFFF

    /// nova's PciDeviceType: type-PCI, type-PF (a function with SR-IOV), type-VF.
    public static func deviceType(_ f: PCIFunction) -> String {
        if f.physfn != nil { return "type-VF" }
        if let sriov = f.sriov, sriov.totalVFs > 0 { return "type-PF" }
        return "type-PCI"
    }

    /// The alias name a function gets without --name or a pool network: its ids ("8086-10ed").
    static func defaultAlias(_ f: PCIFunction) -> String { Export.hex4(f.vendorID) + "-" + Export.hex4(f.deviceID) }

    /// A name a flavor's `pci_passthrough:alias` can hold ("NAME:COUNT,NAME:COUNT").
    static func validateAlias(_ name: String) throws(VFIOError) {
        guard !name.trimmingWhitespace().isEmpty, name.utf8.count <= 256, name == name.trimmingWhitespace(),
              !name.contains(":"), !name.contains(","), !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f })
        else {
            throw .usage("'\(name.printable)' cannot be a nova alias name (1-256 characters, no ':' or ',' which a flavor's pci_passthrough:alias separates with, no spaces around it)",
                         hint: "--name gpu-t4, for instance")
        }
    }

    static let vmdReason = "the PCI domain is above 0xFFFF (an Intel VMD controller's), and nova rejects such an address in device_spec (MAX_DOMAIN 0xFFFF)"
    static let vmdHint = "turn VMD off in the firmware so the devices appear in domain 0000, or leave them out of nova's pool"

    static let remoteManagedHint = "remote-managed ports need a SmartNIC DPU whose VPD holds the card's serial number ('lspci -vv -s PF' shows [SN]); "
        + "leave --remote-managed out for ordinary SR-IOV ports"

    /// The serial number of each VF --remote-managed tags; refused when the selection has no VF,
    /// or a VF that nova would drop.
    static func remoteManagedSerials(_ selection: ExportSelection, _ vpd: [PCIAddress: VPDReading]) throws(VFIOError) -> [PCIAddress: (serial: String, source: String)] {
        let vfs = selection.functions.map(\.function).filter { $0.physfn != nil }
        guard !vfs.isEmpty else {
            throw .usage("--remote-managed tags VFs, and the selection holds none: nova refuses remote_managed on a PF",
                         hint: "name the DPU's VFs (ADDRESS, --pool FILE), or leave --remote-managed out")
        }
        var serials: [PCIAddress: (serial: String, source: String)] = [:]
        var missing: [String] = []
        for vf in vfs {
            let found = vpd.cardSerialNumber(of: vf)
            if let serial = found.serial { serials[vf.address] = (serial, found.source) } else { missing.append(found.source) }
        }
        if !missing.isEmpty {
            throw VFIOError(.refused, "nova drops a remote_managed VF whose card serial number libvirt cannot read (from the VPD of the VF or its PF): "
                                + missing.joined(separator: "; "), hint: remoteManagedHint)
        }
        return serials
    }

    public static func render(_ selection: ExportSelection, _ snapshot: HostSnapshot, _ names: ExportNames,
                              vpd: [PCIAddress: VPDReading] = [:]) throws(VFIOError) -> ExportDocument {
        var selection = selection
        let beyond = selection.functions.filter { $0.address.domain > maxDomain }.map(\.address)
        if !beyond.isEmpty {
            guard selection.isDefault else {
                throw VFIOError(.refused, "nova cannot take " + beyond.map(\.description).joined(separator: ", ") + ": " + vmdReason, hint: vmdHint)
            }
            selection = selection.leavingOut(beyond, id: "nova.domain-above-ffff", because: vmdReason, hint: vmdHint)
            if selection.functions.isEmpty {
                throw VFIOError(.refused, "nova can take none of the functions on vfio: " + vmdReason, hint: vmdHint)
            }
        }
        let selected = Set(selection.addresses)
        // A PF whose VFs have its own ids: its spec would match VFs left out.
        for exported in selection.functions {
            let f = exported.function
            guard let sriov = f.sriov, sriov.vfDeviceID == f.deviceID else { continue }
            let left = sriov.vfs.filter { !selected.contains($0) }
            if !left.isEmpty {
                throw VFIOError(.refused, "nova would match \(f.address)'s VFs " + left.map(\.description).joined(separator: ", ")
                                    + " with its device_spec too: they have its ids (\(Export.ids(f))) and nova matches a PF's address against its VFs",
                                hint: "export the VFs with it, or leave the PF out")
            }
        }
        if let name = names.name { try validateAlias(name) }
        let serials = names.remoteManaged ? try remoteManagedSerials(selection, vpd) : [:]

        var specs: [String] = []
        var entries: [JSON] = []
        var aliases: [(name: String, pairs: [(String, String?)], type: String)] = []
        var aliasKeys = Set<String>()
        for exported in selection.functions {
            let f = exported.function
            let type = deviceType(f)
            var pairs: [(String, String?)] = [("vendor_id", Export.hex4(f.vendorID)), ("product_id", Export.hex4(f.deviceID)), ("address", f.address.description)]
            var physnet: String?
            if f.baseClass != 0x02 {
                physnet = nil  // physical networks are for network functions
            } else if let pf = f.physfn.flatMap(snapshot.function) {
                physnet = names.physnet(of: pf, pool: exported.pool)
            } else if type == "type-PF" {
                physnet = names.physnet(of: f, pool: nil)
            }
            let remote = serials[f.address]
            if remote != nil {
                // An overlay network's devices carry physical_network null, as nova's docs write it.
                pairs += [("physical_network", physnet), ("remote_managed", "true")]
            } else if let physnet {
                pairs.append(("physical_network", physnet))
            }
            specs.append("# " + Export.describe(f) + (remote.map { ", card serial number \($0.serial.printable) (\($0.source))" } ?? "")
                            + "\ndevice_spec = " + Export.inlineJSON(pairs) + "\n")
            let alias = remote == nil ? names.name ?? exported.poolNetwork ?? defaultAlias(f) : nil
            if let alias { try validateAlias(alias) }
            entries.append(.object([
                "kind": .string("device_spec"),
                "address": .string(f.address.description),
                "vendor_id": .string(Export.hex4(f.vendorID)),
                "product_id": .string(Export.hex4(f.deviceID)),
                "physical_network": .optional(physnet),
                "remote_managed": .bool(remote != nil),
                "card_serial_number": .optional(remote?.serial),
                "alias": .optional(alias),
                "device_type": .string(type),
            ]))
            guard let alias else { continue }  // remote-managed VFs serve neutron's ports, not flavors
            let key = alias + "\u{0}" + Export.ids(f)
            if aliasKeys.insert(key).inserted {
                aliases.append((alias, [("name", alias), ("vendor_id", Export.hex4(f.vendorID)), ("product_id", Export.hex4(f.deviceID)),
                                        ("device_type", type), ("numa_policy", names.numaPolicy.rawValue)], type))
            }
        }
        // Aliases sharing a name must agree on device_type (numa_policy is one for all here).
        var typeOfName: [String: String] = [:]
        for alias in aliases {
            if let other = typeOfName[alias.name], other != alias.type {
                throw .usage("nova alias '\(alias.name.printable)' would stand for \(other) and \(alias.type) devices: nova refuses aliases of one name with different device_type",
                             hint: "export them with a --name each (or without --name: each vendor:device gets its own alias)")
            }
            typeOfName[alias.name] = alias.type
        }
        for alias in aliases {
            entries.append(.object([
                "kind": .string("alias"),
                "name": .string(alias.name),
                "vendor_id": .optional(alias.pairs[1].1),
                "product_id": .optional(alias.pairs[2].1),
                "device_type": .string(alias.type),
                "numa_policy": .string(names.numaPolicy.rawValue),
            ]))
        }
        let content = Export.banner(.nova, selection) + "[pci]\n" + specs.joined()
            + aliases.map { "alias = " + Export.inlineJSON($0.pairs) + "\n" }.joined()
        return ExportDocument(format: .nova, content: content, entries: entries, selection: selection)
    }
}
