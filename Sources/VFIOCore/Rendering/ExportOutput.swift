/// `vfioctl export` output: the engine's configuration as text (stdout, ready for the engine's
/// file), or the document docs/json.md describes.
public enum ExportOutput {
    public static func json(_ document: ExportDocument) -> JSON {
        .document([
            "format": .string(document.format.rawValue),
            "target": .string(document.format.target),
            "content": .string(document.content),
            "entries": .array(document.entries),
            "functions": .array(document.selection.functions.map(function)),
            "groups": .array(document.selection.groups.map(JSON.int)),
            "mdevs": .array(document.selection.mdevs.map(mdev)),
            "findings": CheckOutput.findings(document.findings),
        ])
    }

    static func mdev(_ exported: ExportedMdev) -> JSON {
        let d = exported.device
        return .object([
            "uuid": .string(d.uuid.description),
            "parent": .string(d.parent),
            "type": .optional(d.type),
            "type_name": .optional(exported.typeName),
            "iommu_group": .optional(d.iommuGroup),
            "driver": .optional(d.driver),
            "starts_at_boot": .bool(exported.startsAtBoot),
        ])
    }

    static func function(_ exported: ExportedFunction) -> JSON {
        let f = exported.function
        return .object([
            "address": .string(f.address.description),
            "vendor_id": .string(Export.hex4(f.vendorID)),
            "device_id": .string(Export.hex4(f.deviceID)),
            "subsystem_id": .optional(Export.subsystemIDs(f)),
            "iommu_group": .optional(f.iommuGroup),
            "driver": .optional(f.driver),
            "physfn": .optional(f.physfn?.description),
            "numa_node": .optional(f.numaNode),
        ])
    }

    /// `export FORMAT --check FILE`: the findings and the verdict, as `check` has them.
    public static func json(_ drift: DriftReport) -> JSON {
        .document([
            "format": .string(drift.format.rawValue),
            "file": .string(drift.file),
            "findings": CheckOutput.findings(drift.report.findings),
            "verdict": .string(drift.passed ? "pass" : "fail"),
        ])
    }

    public static func text(_ drift: DriftReport) -> String {
        let errors = drift.report.count(.error), warnings = drift.report.count(.warning)
        func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)" + (n == 1 ? "" : "s") }
        let findings = CheckOutput.findingsText(drift.report.findings, verbose: true)
        return findings + (findings.isEmpty ? "" : "\n")
            + "\(drift.file) against this host (\(drift.format)): " + (drift.passed ? "no drift" : "drift")
            + " (\(plural(errors, "error")), \(plural(warnings, "warning")))\n"
    }

    /// Warnings for stderr (text output): `warning: subject: message` with the fix.
    public static func warnings(_ findings: [Finding]) -> [(message: String, hint: String?)] {
        findings.filter { $0.severity != .info }.map { ("\($0.subject): \($0.message)", $0.hint) }
    }
}
