/// Every changing command's report (detach, reattach, persist apply, the sriov commands, apply):
/// the findings, what changed per object ("created 2 VFs on ...", "0000:01:00.0: e1000e ->
/// vfio-pci", "enp1s0 VF 0: mac ..."), and the plan with each step's result. JSON per docs/json.md;
/// text for people.
public enum RunOutput {
    public static func json(_ report: RunReport) -> JSON {
        let plan = report.plan
        return .document([
            "changes": .array(report.changes.map(json)),
            "dry_run": .bool(report.dryRun),
            "findings": CheckOutput.findings(Finding.ordered(plan.findings)),
            "functions": .array(plan.originals.bindings.sorted { $0.address < $1.address }.map { original in
                let after = report.after[original.address]
                return .object([
                    "address": .string(original.address.description),
                    "driver_after": .optional(after?.driver ?? (after == nil ? original.driver : nil)),
                    "driver_before": .optional(original.driver),
                    "group": .optional(original.group),
                    "removed": .bool(after == .gone),
                ])
            }),
            "groups": .array(plan.groups.map(JSON.int)),
            "operation": .string(plan.operation.rawValue),
            "plan": .array(plan.steps.enumerated().map { index, step in
                .object([
                    "action": .string(step.action),
                    "path": .string(step.path),
                    "result": .string(report.results[index].rawValue),
                    "value": .string(step.value),
                ])
            }),
            "refused": .bool(plan.refused),
            "unchanged": .strings(plan.unchanged.sorted().map(\.description)),
        ])
    }

    /// A change as one object with the same keys whatever its kind (null where a key does not
    /// apply), so engines read every kind alike: docs/json.md's `R`.
    static func json(_ change: RunReport.Change) -> JSON {
        var object: String
        var interface: String?, vf: Int?, name: String?, before: String?, after: String?
        var new = false, removed = false
        switch change {
        case .loadedModule(let module):
            object = module
            after = "loaded"
        case .vfCount(let pf, let from, let to):
            (object, name, before, after) = (pf.description, SRIOVPlanner.numVFsAttribute, String(from), String(to))
        case .attribute(let a, let attribute, let value):
            (object, name, after) = (a.description, attribute, value)
        case .binding(let a, let driverBefore, let driverAfter, let created):
            (object, before, after, new, removed) = (a.description, driverBefore, driverAfter.driver, created, driverAfter == .gone)
        case .vfSetting(let pf, let netdev, let index, let attribute):
            (object, interface, vf, name, after) = (pf.description, netdev, index, attribute.name, attribute.description)
        case .linkUp(let netdev):
            (object, interface, before, after) = (netdev, netdev, "down", "up")
        case .reloaded(let reload):
            (object, interface, vf, name, after) = (reload.vf.description, reload.interface, reload.index, reload.driver, reload.mac.description)
        case .mdev(let step):
            object = step.mdev?.description ?? ""
            switch step {
            case .createMdev(_, let type, _): (name, before, after, new) = (type, "absent", "active", true)
            case .removeMdev: (before, after, removed) = ("active", "absent", true)
            case .defineMdev(let definition): (name, after) = (definition.type, "defined start=\(definition.start.rawValue)")
            default: (before, after) = ("defined", "undefined")
            }
        }
        return .object([
            "after": .optional(after), "before": .optional(before), "change": .string(change.kind), "interface": .optional(interface),
            "name": .optional(name), "new": .bool(new), "object": .string(object), "removed": .bool(removed), "vf": .optional(vf),
        ])
    }

    /// One line per change: "created 2 VFs on 0000:e1:00.0", "0000:01:00.0  e1000e  ->  vfio-pci"
    /// (drivers before padded to `width`).
    public static func line(_ change: RunReport.Change, dryRun: Bool, width: Int = 0) -> String {
        switch change {
        case .loadedModule(let module): return (dryRun ? "load " : "loaded ") + module
        case .vfCount(let pf, let from, let to):
            if from == 0 { return (dryRun ? "create " : "created ") + "\(to) VF\(to == 1 ? "" : "s") on \(pf)" }
            if to == 0 { return (dryRun ? "destroy " : "destroyed ") + "\(from) VF\(from == 1 ? "" : "s") on \(pf)" }
            return "\(pf): \(from) -> \(to) VFs (through 0: every VF is replaced)"
        case .attribute(let a, let name, let value): return "\(a): \(name) = \(value)"
        case .binding(let a, let before, let after, let new):
            let now = switch after {
            case .gone: "removed"
            case .hostDriver: "its host driver"
            case .bound(let driver): driver ?? "no driver"
            }
            if new { return "\(a)  new VF, on \(now)" }
            return "\(a)  \((before ?? "no driver").padding(width))  ->  \(now)"
        case .vfSetting(_, let interface, let vf, let attribute): return "\(interface) VF \(vf): " + (dryRun ? "set " : "") + attribute.description
        case .linkUp(let name): return "\(name): " + (dryRun ? "bring up" : "up")
        case .reloaded(let reload):
            return "reloaded \(reload.driver) on \(reload.vf) so it takes the new MAC \(reload.mac) (\(reload.interface) VF \(reload.index))"
        case .mdev(let step):
            switch step {
            case .createMdev(let parent, let type, let uuid): return (dryRun ? "create" : "created") + " mdev \(uuid) (\(type)) on \(parent)"
            case .removeMdev(let parent, let uuid): return (dryRun ? "remove" : "removed") + " mdev \(uuid) from \(parent)"
            case .defineMdev(let d): return (dryRun ? "define" : "defined") + " mdev \(d.uuid) for mdevctl (\(d.path), start \(d.start.rawValue))"
            default: return (dryRun ? "remove" : "removed") + " mdevctl's definition of \(step.mdev.map(\.description) ?? "")"
            }
        }
    }

    public static func text(_ report: RunReport) -> String {
        let plan = report.plan
        var out = ""
        let findings = CheckOutput.findingsText(Finding.ordered(plan.findings), verbose: true)
        if !findings.isEmpty { out += findings + "\n" }
        if plan.refused {
            return out + "refused: nothing was changed (\(plan.findings.filter { $0.severity == .error }.count) errors above)\n"
        }
        let groups = plan.groups.isEmpty ? "" : " (group" + (plan.groups.count == 1 ? " " : "s ")
            + plan.groups.map(String.init).joined(separator: ", ") + ")"
        let changes = report.changes
        if changes.isEmpty {
            out += "nothing to change\(groups): " + (plan.steps.isEmpty ? "the host is as asked" : "every step was already so") + "\n"
        } else {
            out += "\(plan.operation.rawValue)\(groups)" + (report.dryRun ? " would change:" : ":") + "\n"
            let width = changes.map { if case .binding(_, let before, _, false) = $0 { (before ?? "no driver").count } else { 0 } }.max() ?? 0
            for change in changes { out += "  " + line(change, dryRun: report.dryRun, width: width) + "\n" }
        }
        if !plan.unchanged.isEmpty {
            out += "unchanged: " + plan.unchanged.sorted().map(\.description).joined(separator: ", ") + "\n"
        }
        if report.dryRun && !plan.steps.isEmpty {
            out += "\nplan (nothing is written with --dry-run):\n" + steps(plan.steps)
        }
        return out
    }

    /// The numbered steps, aligned: "  1. set-override  /sys/.../driver_override  vfio-pci".
    public static func steps(_ steps: [Step]) -> String {
        let actionWidth = steps.map(\.action.count).max() ?? 0
        let pathWidth = steps.map(\.path.count).max() ?? 0
        var out = ""
        for (index, step) in steps.enumerated() {
            let number = String(index + 1).leftPadded(String(steps.count).count)
            out += "  \(number). \(step.action.padding(actionWidth))  \(step.path.padding(pathWidth))  \(step.value)\n"
        }
        return out
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}

/// `vfioctl recover` output: the interrupted run, what recover did with it, where each function is.
public enum RecoverOutput {
    public static func json(_ journal: JournalState?, _ recovery: Recovery, dryRun: Bool,
                            after: [PCIAddress: RunReport.After] = [:]) -> JSON {
        .document([
            "action": .string(recovery.action.rawValue),
            "dry_run": .bool(dryRun),
            "functions": .array((journal?.originals.bindings ?? []).sorted { $0.address < $1.address }.map { original in
                .object([
                    "address": .string(original.address.description),
                    "driver": .optional(after[original.address]?.driver),
                    "driver_before_run": .optional(original.driver),
                    "removed": .bool(after[original.address] == .gone),
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
            "plan": .array(recovery.steps.map { step in
                .object(["action": .string(step.action), "path": .string(step.path), "value": .string(step.value)])
            }),
        ])
    }

    public static func text(_ journal: JournalState?, _ recovery: Recovery, dryRun: Bool, after: [PCIAddress: RunReport.After],
                            stateDirectory: String) -> String {
        guard let journal else { return "nothing to recover: no unfinished journal in \(stateDirectory)\n" }
        var out = "interrupted: \(journal.operation.rawValue) (pid \(journal.pid)" + (journal.command.map { ": \($0)" } ?? "")
            + "), \(journal.done.count) of \(journal.steps.count) steps done\n"
        let verb = switch recovery.action {
        case .undone: "undo it: back to the drivers before that run"
        case .finished: "finish it"
        case .committed: "it had finished: write its records"
        case .closed: "it had rolled back: close its journal"
        case .none: "nothing to do"
        }
        out += (dryRun ? "would " : "") + verb + "\n"
        if dryRun {
            out += RunOutput.steps(recovery.steps)
        } else {
            for original in journal.originals.bindings.sorted(by: { $0.address < $1.address }) {
                let now = after[original.address].map { $0 == .gone ? "gone" : "on " + ($0.driver ?? "no driver") } ?? "on ?"
                out += "  \(original.address)  now \(now) (before the run: \(original.driverName))\n"
            }
        }
        return out
    }
}
