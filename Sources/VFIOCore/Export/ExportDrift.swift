/// `vfioctl export FORMAT --check FILE`: an engine's existing configuration compared with the
/// host, each drift a finding with its fix: an address that no longer holds the device, ids
/// or subsystem ids that changed, a group that grew past what the file gives a guest, a VF
/// range past the VF count, a function not on the driver the engine expects, a PCI domain nova
/// cannot match. `fail` (exit 2) when any finding is an error, as `check`.
public struct DriftReport: Sendable, Equatable {
    public var format: ExportFormat
    public var file: String
    public var report: CheckReport

    public init(format: ExportFormat, file: String, findings: [Finding]) {
        self.format = format
        self.file = file
        self.report = CheckReport(findings: findings)
    }

    public var passed: Bool { report.passed }
}

public enum ExportDrift {
    /// The command that writes the entry again, for hints.
    static func regenerate(_ format: ExportFormat, _ targets: String) -> String { "vfioctl export \(format) \(targets)" }

    /// A function the file names that this host does not have, or whose ids differ.
    static func identity(_ address: PCIAddress, expected: String?, _ snapshot: HostSnapshot, format: ExportFormat, file: String,
                         what: String) -> Finding? {
        guard let f = snapshot.function(address) else {
            return Finding("export.address-gone", .error, address.description,
                           "\(file): \(what) \(address), which this host does not have (a device moved, was removed, or the bus was renumbered)",
                           hint: "find it with 'vfioctl list' and write the entry again: " + regenerate(format, "ADDRESS"))
        }
        if let ids = expected?.lowercased(), ids != Export.ids(f) {
            return Finding("export.ids-changed", .error, address.description,
                           "\(file): \(what) \(address) as \(ids), but it is \(Export.ids(f)) now (\(f.displayName))",
                           hint: "another device sits there: write the entry again for what is there, or find the old one with 'vfioctl list --vendor \(ids)'")
        }
        return nil
    }

    /// Groups of `covered` whose other endpoints the file does not give: a guest given part of a
    /// group cannot start (the group is not viable) or takes a device the file does not name.
    static func grownGroups(_ covered: Set<PCIAddress>, _ snapshot: HostSnapshot, format: ExportFormat, file: String) -> [Finding] {
        var findings: [Finding] = []
        let groups = Set(covered.compactMap { snapshot.function($0)?.iommuGroup })
        for id in groups.sorted() {
            let endpoints = snapshot.endpoints(ofGroup: id)
            let outside = endpoints.filter { !covered.contains($0) }
            guard !outside.isEmpty else { continue }
            let inside = endpoints.filter { covered.contains($0) }
            findings.append(Finding("export.group-grew", .error, "group \(id)",
                                    "\(file) gives " + inside.map(\.description).joined(separator: ", ") + " of IOMMU group \(id), which also holds "
                                        + outside.map { "\($0) (\(snapshot.function($0)?.driver ?? "no driver"))" }.joined(separator: ", ")
                                        + ": a guest can only take the whole group",
                                    hint: "export the whole group again: " + regenerate(format, "--group \(id)") + " (or move the others out of it: ACS, another slot)"))
        }
        return findings
    }

    // MARK: INI (oslo.config)

    /// `key = value` lines by section, in order (oslo.config's iniparser: '=' or ':', '#' and
    /// ';' comments, a continuation line starts with white space).
    public struct INIEntry: Sendable, Equatable {
        public var section: String
        public var key: String
        public var value: String
        public var line: Int
    }

    public static func parseINI(_ text: String, file: String) throws(VFIOError) -> [INIEntry] {
        var entries: [INIEntry] = []
        var section = ""
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(raw)
            let trimmed = line.trimmingWhitespace()
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { continue }
            if line.first == " " || line.first == "\t", !entries.isEmpty, entries[entries.count - 1].section == section {
                entries[entries.count - 1].value += " " + trimmed
                continue
            }
            if trimmed.hasPrefix("[") {
                guard trimmed.hasSuffix("]"), trimmed.count > 2 else {
                    throw .usage("\(file):\(index + 1): '\(trimmed.printable)' is not a section header", hint: "write [pci] or [sriov_nic]")
                }
                section = String(trimmed.dropFirst().dropLast()).trimmingWhitespace()
                continue
            }
            guard let separator = trimmed.firstIndex(where: { $0 == "=" || $0 == ":" }) else {
                throw .usage("\(file):\(index + 1): '\(trimmed.printable)' is neither a section nor key = value", hint: "oslo.config reads key = value lines")
            }
            entries.append(INIEntry(section: section, key: String(trimmed[..<separator]).trimmingWhitespace(),
                                    value: String(trimmed[trimmed.index(after: separator)...]).trimmingWhitespace(), line: index + 1))
        }
        return entries
    }
}
