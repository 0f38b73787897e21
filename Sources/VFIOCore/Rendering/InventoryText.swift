/// Text output of the inventory commands: for people, aligned, not a stable format.
public enum InventoryText {
    static let dash = "-"

    /// What a row says about a function beyond its name: VF, PF, override, vfio ownership.
    public static func notes(_ f: PCIFunction) -> String {
        var notes: [String] = []
        if let physfn = f.physfn {
            notes.append("VF" + (f.vfIndex.map { " \($0)" } ?? "") + " of \(physfn)")
        }
        if let sriov = f.sriov { notes.append("SR-IOV PF: \(sriov.numVFs)/\(sriov.totalVFs) VFs") }
        if let override = f.driverOverride { notes.append("override: \(override)") }
        if f.bootVGA == true { notes.append("boot VGA") }
        return notes.isEmpty ? "" : "  [" + notes.joined(separator: ", ") + "]"
    }

    static func row(_ f: PCIFunction, group: Bool) -> [String] {
        var row = [f.address.description]
        if group { row.append(f.iommuGroup.map(String.init) ?? dash) }
        row += [f.ids, f.classDisplayName, f.driver ?? dash, f.displayName + notes(f)]
        return row
    }

    public static func list(_ snapshot: HostSnapshot) -> String {
        guard !snapshot.functions.isEmpty else { return "No PCI functions found.\n" }
        let table = TextTable(header: ["ADDRESS", "GROUP", "IDS", "CLASS", "DRIVER", "DEVICE"],
                              rows: snapshot.functions.map { row($0, group: true) })
        return table.render()
    }

    /// ls-iommu's layout, but every group (numbers need not be contiguous), full addresses, the
    /// driver of each member, and columns aligned across groups.
    /// `cause`: why there are none (`HostChecks.noGroups`), when there are none.
    public static func groups(_ snapshot: HostSnapshot, cause: Finding? = nil) -> String {
        guard snapshot.iommu.hasGroups, !snapshot.groups.isEmpty else { return noGroupsMessage(snapshot, cause: cause) + "\n" }
        let tables = snapshot.groups.map { group in
            TextTable(header: ["ADDRESS", "IDS", "CLASS", "DRIVER", "DEVICE"],
                      rows: group.members.compactMap { snapshot.function($0).map { row($0, group: false) } },
                      indent: "  ")
        }
        var widths = tables[0].widths()
        for table in tables.dropFirst() { widths = zip(widths, table.widths()).map(max) }
        var out = ""
        for (group, table) in zip(snapshot.groups, tables) {
            let bridges = group.members.filter { snapshot.function($0)?.isBridge == true }.count
            var summary = group.members.count == 1 ? "1 function" : "\(group.members.count) functions"
            if bridges > 0 { summary += bridges == 1 ? ", 1 bridge" : ", \(bridges) bridges" }
            out += "IOMMU group \(group.id)  (\(summary))\n"
            out += table.render(widths: widths, includeHeader: false)
        }
        let ungrouped = snapshot.functions.filter { $0.iommuGroup == nil }
        if !ungrouped.isEmpty {
            out += "Not in any IOMMU group\n"
            out += TextTable(header: [], rows: ungrouped.map { row($0, group: false) }, indent: "  ")
                .render(widths: widths, includeHeader: false)
        }
        return out
    }

    /// Said plainly when the host has no IOMMU groups, with the cause `check` names.
    public static func noGroupsMessage(_ snapshot: HostSnapshot, cause: Finding?) -> String {
        let reason = cause.map { $0.message + ", so" } ?? "the kernel has no active IOMMU, so"
        return "No IOMMU groups: \(reason) none of the \(snapshot.functions.count) PCI functions can be assigned to a guest with VFIO."
    }

    /// What `show` (text and JSON) needs read besides the function and what completes it (its
    /// group, PF, slot: `HostSnapshot.completing`): the bridges and ports above it.
    public static func showScope(for f: PCIFunction) -> [ScopeLink] {
        f.parent.map { [.function($0)] } ?? []
    }

    public static func show(_ f: PCIFunction, in snapshot: HostSnapshot) -> String {
        var lines: [(String, String)] = []
        func add(_ key: String, _ value: String) { lines.append((key, value)) }
        // The code after the name, once: "Class ffff" (pci.ids has no name) already is the code.
        let classHex = HexDigits.padded(UInt64(f.classCode >> 8), width: 4)
        let classText = f.className.map { $0 + " [\(classHex)]" } ?? f.classDisplayName
        var out = "\(f.address)  \(classText): \(f.displayName) [\(f.ids)]\n"
        if let sv = f.subsystemVendorID, let sd = f.subsystemDeviceID, sv != 0 || sd != 0 {
            let ids = HexDigits.padded(UInt64(sv), width: 4) + ":" + HexDigits.padded(UInt64(sd), width: 4)
            add("subsystem", (f.subsystemName.map { $0 + " " } ?? "") + "[\(ids)]")
        }
        if let revision = f.revision { add("revision", HexDigits.padded(UInt64(revision), width: 2)) }
        add("driver", f.driver.map { driver in driver + (f.driverModule.map { $0 == driver ? "" : " (module \($0))" } ?? "") }
            ?? "none")
        add("driver_override", f.driverOverride ?? "none")
        if let groupID = f.iommuGroup {
            let others = snapshot.group(groupID)?.members.filter { $0 != f.address } ?? []
            add("iommu group", others.isEmpty ? "\(groupID) (alone)"
                : "\(groupID) (with " + others.map(\.description).joined(separator: ", ") + ")")
        } else {
            add("iommu group", "none" + (snapshot.iommu.hasGroups ? "" : " (no IOMMU active)"))
        }
        add("numa node", f.numaNode.map(String.init) ?? "unknown")
        if let caps = f.capabilities {
            add("pcie", caps.pcieType.map { $0.name.replacingUnderscores } ?? (caps.isPCIe ? "yes" : "conventional PCI"))
        }
        add("bridge", f.isBridge ? "yes" : "no")
        if let multifunction = f.isMultifunction { add("multifunction", multifunction ? "yes" : "no") }
        add("reset methods", f.resetMethods.isEmpty
            ? (f.hasResetAttribute ? "(not listed by this kernel)" : "none") : f.resetMethods.joined(separator: " "))
        if let caps = f.capabilities {
            var parts = ["FLR " + (caps.flr ? "yes" : "no")]
            if caps.afFLR { parts.append("AF FLR yes") }
            if caps.hasPowerManagement { parts.append("PM no-soft-reset " + (caps.pmNoSoftReset ? "yes" : "no")) }
            if let acs = caps.acs {
                let enabled = ACSCapability.Bit.allCases.filter(acs.enables).map(\.name)
                parts.append("ACS enabled: " + (enabled.isEmpty ? "none" : enabled.joined(separator: " ")))
            } else {
                parts.append(caps.extendedConfigReadable ? "no ACS" : "ACS unknown (extended config space unreadable)")
            }
            add("capabilities", parts.joined(separator: ", ") + " (\(caps.configLength) bytes of config space)")
        } else {
            add("capabilities", "unknown (config space unreadable; run as root)")
        }
        if let physfn = f.physfn { add("physical function", physfn.description + (f.vfIndex.map { " (VF \($0))" } ?? "")) }
        if let sriov = f.sriov {
            let autoprobe = sriov.driversAutoprobe.map { $0 ? ", autoprobe on" : ", autoprobe off" } ?? ""
            add("sr-iov", "\(sriov.numVFs) of \(sriov.totalVFs) VFs enabled\(autoprobe)")
            if !sriov.vfs.isEmpty { add("virtual functions", sriov.vfs.map(\.description).joined(separator: " ")) }
        }
        if let bootVGA = f.bootVGA, bootVGA { add("boot vga", "yes (the firmware's display device)") }
        if !f.netInterfaces.isEmpty { add("network interfaces", f.netInterfaces.joined(separator: " ")) }
        if !f.blockDevices.isEmpty { add("block devices", f.blockDevices.joined(separator: " ")) }
        let path = snapshot.upstreamPath(of: f.address)
        add("upstream", path.isEmpty ? "root bus" : path.map { "\($0.address) (\($0.classDisplayName))" }
            .joined(separator: " <- "))
        add("sysfs", "/" + f.sysfsPath)
        let width = lines.map(\.0.count).max() ?? 0
        for (key, value) in lines {
            out += "  " + key + ":" + String(repeating: " ", count: width - key.count + 1) + value + "\n"
        }
        return out
    }
}

extension String {
    var replacingUnderscores: String { String(map { $0 == "_" ? " " : $0 }) }
}
