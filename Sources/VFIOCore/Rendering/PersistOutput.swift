/// `vfioctl persist status`: each recorded set against the host. Pure.
public enum PersistOutput {
    /// "bound" (every function on vfio: vfio-pci or the variant recorded), "pending" (matches; applies at boot or with
    /// `persist apply`), or "refused" (moved, changed, or its group changed).
    public static func state(_ set: Persist.SetState) -> String {
        !set.ready ? "refused" : set.bound.count == set.records.count ? "bound" : "pending"
    }

    public static func json(_ states: [Persist.SetState]) -> JSON {
        .document(["sets": .array(states.map { set in
            .object([
                "functions": .array(set.records.map { r in
                    .object(["address": .string(r.address.description), "class": .string(r.classText), "devpath": .string(r.devpath),
                             "driver_recorded": .optional(r.driver), "id": .string(r.ids), "on_vfio": .bool(set.bound.contains(r.address)),
                             "reset_method": r.resetMethod.map(JSON.strings) ?? .null, "subsystem": .optional(r.subsystem),
                             "vfio_driver": .string(r.boundDriver)])
                }),
                "group": set.group.map { .int($0) } ?? .null,
                "problems": .strings(set.problems),
                "set": .string(set.set.description),
                "state": .string(state(set)),
            ])
        })])
    }

    public static func text(_ states: [Persist.SetState]) -> String {
        guard !states.isEmpty else { return "nothing recorded in \(Persist.recordsPath) ('vfioctl persist ADDRESS --write' records a group)\n" }
        var rows: [[String]] = []
        for set in states {
            for r in set.records {
                rows.append([set.set.description, r.address.description, r.ids + (r.subsystem.map { " (\($0))" } ?? ""),
                             set.group.map(String.init) ?? "-", set.bound.contains(r.address) ? r.boundDriver : "-", state(set)])
            }
        }
        var out = TextTable(header: ["SET", "FUNCTION", "ID (SUBSYSTEM)", "GROUP", "BOUND", "STATE"], rows: rows).render()
        for set in states {
            for r in set.records {
                if let methods = r.resetMethod { out += "\(r.address): reset_method set to '" + methods.joined(separator: " ") + "' at boot\n" }
            }
        }
        for set in states { for problem in set.problems { out += "set \(set.set): \(problem)\n" } }
        return out
    }
}
