/// `vfioctl check` output: JSON per the contract, and text grouped by subject ending with the verdict.
public enum CheckOutput {
    public static func json(_ report: CheckReport) -> JSON {
        .document([
            "findings": findings(report.findings),
            "groups": .array(report.groups.map { group in
                .object([
                    "id": .int(group.id),
                    "members": .array(group.members.map { member in
                        .object([
                            "address": .string(member.address.description),
                            "blocks": .bool(member.blocks),
                            "detached_by_libvirt": .bool(member.detachedByLibvirt),
                            "driver": .optional(member.driver),
                            "is_bridge": .bool(member.isBridge),
                        ])
                    }),
                    "viable": .bool(group.viable),
                ])
            }),
            "targets": .strings(report.targets.map(\.description)),
            "verdict": .string(report.passed ? "pass" : "fail"),
        ])
    }

    /// Findings as the contract has them (`{"id", "severity", "subject", "message", "hint"}`).
    public static func findings(_ findings: [Finding]) -> JSON {
        .array(findings.map(finding))
    }

    public static func finding(_ finding: Finding) -> JSON {
        .object([
            "hint": .optional(finding.hint),
            "id": .string(finding.id),
            "message": .string(finding.message),
            "severity": .string(finding.severity.rawValue),
            "subject": .string(finding.subject),
        ])
    }

    /// Findings under their subject; `verbose` adds the info findings.
    public static func text(_ report: CheckReport, verbose: Bool = true) -> String {
        var out = findingsText(report.findings, verbose: verbose)
        let errors = report.count(.error)
        let warnings = report.count(.warning)
        func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)" + (n == 1 ? "" : "s") }
        out += (out.isEmpty ? "" : "\n") + "verdict: " + (report.passed ? "pass" : "fail")
            + " (\(plural(errors, "error")), \(plural(warnings, "warning")))\n"
        return out
    }

    /// Findings grouped under their subject, each with its fix.
    public static func findingsText(_ findings: [Finding], verbose: Bool) -> String {
        var out = ""
        var subject: String?
        let shown = findings.filter { verbose || $0.severity != .info }
        let width = shown.map(\.id.count).max() ?? 0
        for finding in shown {
            if finding.subject != subject {
                subject = finding.subject
                out += (finding.subject == Finding.host ? "Host" : finding.subject) + "\n"
            }
            let label = finding.severity.rawValue.padding(7)
            out += "  \(label)  \(finding.id.padding(width))  \(finding.message)\n"
            if let hint = finding.hint {
                out += String(repeating: " ", count: 13 + width) + "fix: \(hint)\n"
            }
        }
        return out
    }

    /// The libvirt hook's account on stderr: errors (and warnings), one line each.
    public static func hookLines(_ report: CheckReport) -> [String] {
        report.findings.filter { $0.severity != .info }.map { finding in
            "\(finding.severity.rawValue): \(finding.subject == Finding.host ? "" : finding.subject + ": ")\(finding.message)"
                + (finding.hint.map { " (fix: \($0))" } ?? "")
        }
    }
}

extension String {
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}
