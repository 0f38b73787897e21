/// `vfioctl detach|reattach` output: what moves from which driver to which, the plan (exact
/// action, sysfs path, value), and the findings. JSON per docs/json.md; text for people.
public enum BindingOutput {
    /// A run as it is reported: the plan, each step's result ("planned", "done", "skipped"), and
    /// each changed function's driver afterwards (planned: what it should be; nil = the kernel picks).
    public struct Report: Sendable {
        public var plan: BindingPlan
        public var dryRun: Bool
        public var results: [String]
        public var driversAfter: [PCIAddress: String?]

        public init(plan: BindingPlan, dryRun: Bool, results: [String]? = nil, driversAfter: [PCIAddress: String?]? = nil) {
            self.plan = plan
            self.dryRun = dryRun
            self.results = results ?? Array(repeating: "planned", count: plan.steps.count)
            self.driversAfter = driversAfter ?? BindingOutput.plannedDrivers(plan)
        }
    }

    /// Where each changed function should end: the driver its last verify step names.
    public static func plannedDrivers(_ plan: BindingPlan) -> [PCIAddress: String?] {
        var drivers: [PCIAddress: String?] = [:]
        for step in plan.steps {
            guard case .expect(let address, let expectation) = step else { continue }
            switch expectation {
            case .driver(let name): drivers[address] = .some(name)
            case .unbound, .notVFIO: drivers[address] = .some(nil)
            }
        }
        return drivers
    }

    public static func json(_ report: Report) -> JSON {
        let plan = report.plan
        return .document([
            "dry_run": .bool(report.dryRun),
            "findings": CheckOutput.findings(Finding.ordered(plan.findings)),
            "functions": .array(plan.originals.sorted { $0.address < $1.address }.map { original in
                .object([
                    "address": .string(original.address.description),
                    "driver_after": .optional(report.driversAfter[original.address] ?? nil),
                    "driver_before": .optional(original.driver),
                    "group": .optional(original.group),
                ])
            }),
            "groups": .array(plan.groups.map(JSON.int)),
            "operation": .string(plan.operation.rawValue),
            "plan": .array(plan.steps.enumerated().map { index, step in
                .object([
                    "action": .string(step.action),
                    "path": .string(step.path),
                    "result": .string(report.results[index]),
                    "value": .string(step.value),
                ])
            }),
            "refused": .bool(plan.refused),
            "unchanged": .strings(plan.unchanged.sorted().map(\.description)),
        ])
    }

    public static func text(_ report: Report) -> String {
        let plan = report.plan
        var out = ""
        let findings = CheckOutput.findingsText(Finding.ordered(plan.findings), verbose: true)
        if !findings.isEmpty { out += findings + "\n" }
        if plan.refused {
            return out + "refused: nothing was changed (\(plan.findings.filter { $0.severity == .error }.count) errors above)\n"
        }
        let groups = plan.groups.isEmpty ? "" : " (group" + (plan.groups.count == 1 ? " " : "s ")
            + plan.groups.map(String.init).joined(separator: ", ") + ")"
        let verb = report.dryRun ? "would move" : "moved"
        if plan.originals.isEmpty {
            out += "nothing to do\(groups): " + (plan.operation == .detach ? "every endpoint is on vfio already" : "nothing is on vfio") + "\n"
        } else {
            out += "\(plan.operation.rawValue)\(groups): \(verb)\n"
            let width = plan.originals.map { ($0.driver ?? "no driver").count }.max() ?? 0
            for original in plan.originals.sorted(by: { $0.address < $1.address }) {
                let after = report.driversAfter[original.address].map { $0 ?? "no driver" } ?? "?"
                out += "  \(original.address)  \(original.driverName.padding(width))  ->  \(after)\n"
            }
        }
        if !plan.unchanged.isEmpty {
            out += "unchanged: " + plan.unchanged.sorted().map(\.description).joined(separator: ", ") + "\n"
        }
        if report.dryRun && !plan.steps.isEmpty {
            out += "\nplan (nothing is written with --dry-run):\n"
            let actionWidth = plan.steps.map(\.action.count).max() ?? 0
            let pathWidth = plan.steps.map(\.path.count).max() ?? 0
            for (index, step) in plan.steps.enumerated() {
                let number = String(index + 1).leftPadded(String(plan.steps.count).count)
                out += "  \(number). \(step.action.padding(actionWidth))  \(step.path.padding(pathWidth))  \(step.value)\n"
            }
        }
        return out
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}

/// `vfioctl recover` output: the interrupted run, what recover did with it, where each function is.
public enum RecoverOutput {
    public static func json(_ journal: JournalState?, action: String, steps: [BindingStep], dryRun: Bool,
                            after: [PCIAddress: String?] = [:]) -> JSON {
        .document([
            "action": .string(action),
            "dry_run": .bool(dryRun),
            "functions": .array((journal?.originals ?? []).sorted { $0.address < $1.address }.map { original in
                .object([
                    "address": .string(original.address.description),
                    "driver": .optional(after[original.address] ?? nil),
                    "driver_before_run": .optional(original.driver),
                ])
            }),
            "journal": journal.map { journal in
                .object([
                    "begun": .int(journal.begun.count),
                    "command": .optional(journal.command),
                    "done": .int(journal.done.count),
                    "operation": .string(journal.operation.rawValue),
                    "pid": .int(journal.pid),
                    "started": .int(journal.started),
                    "steps": .int(journal.steps.count),
                ])
            } ?? .null,
            "plan": .array(steps.map { step in
                .object(["action": .string(step.action), "path": .string(step.path), "value": .string(step.value)])
            }),
        ])
    }

    public static func text(_ journal: JournalState, action: String, steps: [BindingStep], dryRun: Bool,
                            after: [PCIAddress: String?]) -> String {
        var out = "interrupted: \(journal.operation.rawValue) (pid \(journal.pid)" + (journal.command.map { ": \($0)" } ?? "")
            + "), \(journal.done.count) of \(journal.steps.count) steps done\n"
        let verbs = ["undone": "undo it: back to the drivers before that run", "finished": "finish it",
                     "committed": "it had finished: write its records", "closed": "it had rolled back: close its journal"]
        out += (dryRun ? "would " : "") + (verbs[action] ?? action) + "\n"
        if dryRun {
            for (index, step) in steps.enumerated() { out += "  \(index + 1). \(step.action)  \(step.path)  \(step.value)\n" }
        } else {
            for original in journal.originals.sorted(by: { $0.address < $1.address }) {
                out += "  \(original.address)  now on \((after[original.address] ?? nil) ?? "no driver")"
                    + " (before the run: \(original.driverName))\n"
            }
        }
        return out
    }
}
