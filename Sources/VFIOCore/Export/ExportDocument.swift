/// What export prints for one engine: the text the engine reads, the same entries as values
/// (for `--format json`), and warnings.
public struct ExportDocument: Sendable, Equatable {
    public var format: ExportFormat
    /// The configuration, as the engine reads it.
    public var content: String
    /// The entries `content` holds, one JSON object each (docs/json.md).
    public var entries: [JSON]
    public var selection: ExportSelection
    /// The selection's warnings and the renderer's.
    public var findings: [Finding]

    public init(format: ExportFormat, content: String, entries: [JSON], selection: ExportSelection, findings: [Finding] = []) {
        self.format = format
        self.content = content
        self.entries = entries
        self.selection = selection
        self.findings = Finding.ordered(selection.findings + findings)
    }
}

/// Renders a selection for an engine.
public enum Export {
    /// `mdevs`: the host's mdev state, for the engines that take mdevs (KubeVirt); `vpd`: the
    /// VPD of the functions nova tags remote_managed and of their PFs.
    public static func render(_ format: ExportFormat, _ selection: ExportSelection, _ snapshot: HostSnapshot,
                              _ names: ExportNames, mdevs: MdevState? = nil, vpd: [PCIAddress: VPDReading] = [:]) throws(VFIOError) -> ExportDocument {
        switch format {
        case .nova: try NovaExport.render(selection, snapshot, names, vpd: vpd)
        case .neutron: try NeutronExport.render(selection, snapshot, names)
        case .kubevirt: try KubeVirtExport.render(selection, snapshot, names, mdevs: mdevs)
        case .sriovDevicePlugin: try DevicePluginExport.render(selection, snapshot, names)
        case .proxmox: try ProxmoxExport.render(selection, snapshot, names)
        }
    }

    /// The first line of every text export: what wrote it, and where it goes.
    static func banner(_ format: ExportFormat, _ selection: ExportSelection, comment: String = "#") -> String {
        let count = selection.functions.count, mdevs = selection.mdevs.count
        let groups = selection.groups.map(String.init).joined(separator: ", ")
        var what = count == 0 && mdevs > 0 ? "" : "\(count) function\(count == 1 ? "" : "s") in IOMMU group\(selection.groups.count == 1 ? "" : "s") \(groups)"
        if mdevs > 0 { what += (what.isEmpty ? "" : "; ") + "\(mdevs) mdev\(mdevs == 1 ? "" : "s")" }
        return "\(comment) vfioctl export \(format): \(what)\n" + "\(comment) for \(format.target)\n"
    }

    /// `{"key": "value", ...}` on one line, keys in the order given (oslo.config reads a JSON
    /// value to the end of its line).
    static func inlineJSON(_ pairs: [(String, String?)]) -> String {
        "{" + pairs.map { JSON.quoted($0.0) + ": " + ($0.1.map(JSON.quoted) ?? "null") }.joined(separator: ", ") + "}"
    }

    static func hex4(_ value: UInt16) -> String { HexDigits.padded(UInt64(value), width: 4) }

    /// "10de:1eb8"
    static func ids(_ f: PCIFunction) -> String { hex4(f.vendorID) + ":" + hex4(f.deviceID) }

    /// "10de:16fa", when config space gave the subsystem ids.
    static func subsystemIDs(_ f: PCIFunction) -> String? {
        guard let vendor = f.subsystemVendorID, let device = f.subsystemDeviceID else { return nil }
        return hex4(vendor) + ":" + hex4(device)
    }

    /// One line per function for a text export's comments: address, ids, group, driver, role.
    static func describe(_ f: PCIFunction) -> String {
        var text = "\(f.address) \(ids(f)), IOMMU group \(f.iommuGroup.map(String.init) ?? "none"), \(f.driver ?? "no driver")"
        if let pf = f.physfn { text += ", VF \(f.vfIndex.map(String.init) ?? "?") of \(pf)" }
        if let sriov = f.sriov, sriov.totalVFs > 0 { text += ", SR-IOV PF (\(sriov.numVFs) of \(sriov.totalVFs) VFs)" }
        return text
    }
}
