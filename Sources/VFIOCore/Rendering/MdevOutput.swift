/// `mdev types` and `mdev list`: text for people, JSON per docs/json.md.
public enum MdevOutput {
    // MARK: types

    public static func typesJSON(_ state: MdevState) -> JSON {
        .document([
            "parents": .array(state.parents.map { parent in
                .object([
                    "address": .optional(parent.address?.description),
                    "driver": .optional(parent.driver),
                    "name": .string(parent.name),
                    "types": .array(parent.types.map { type in
                        .object([
                            "available_instances": .optional(type.availableInstances),
                            "description": .optional(type.description),
                            "device_api": .optional(type.deviceAPI),
                            "devices": .strings(type.devices.map(\.description)),
                            "id": .string(type.id),
                            "name": .optional(type.name),
                        ])
                    }),
                ])
            }),
            "vgpus": .array(state.vgpus.map(vgpuJSON)),
        ])
    }

    static func vgpuJSON(_ vgpu: NVIDIAVGPU) -> JSON {
        .object([
            "address": .string(vgpu.address.description),
            "creatable_types": .array(vgpu.creatable.map { .object(["id": .int($0.id), "name": .string($0.name)]) }),
            "current_type": .optional(vgpu.currentType),
        ])
    }

    public static func typesText(_ state: MdevState) -> String {
        var out = ""
        if state.parents.isEmpty && state.vgpus.isEmpty {
            return "no mdev parents: no device here offers mediated devices (/sys/class/mdev_bus is empty or missing)\n"
        }
        for parent in state.parents {
            out += parent.name + (parent.driver.map { " (driver \($0))" } ?? "") + "\n"
            let table = TextTable(header: ["TYPE", "AVAILABLE", "API", "EXIST", "NAME"], rows: parent.types.map { type in
                [type.id, type.availableInstances.map(String.init) ?? "?", type.deviceAPI ?? "-", String(type.devices.count), type.name ?? "-"]
            }, indent: "  ")
            out += table.render()
            for type in parent.types { if let description = type.description { out += "  \(type.id): \(description)\n" } }
        }
        for vgpu in state.vgpus { out += vgpuText(vgpu) }
        return out
    }

    /// NVIDIA SR-IOV vGPU of one VF, for people.
    public static func vgpuText(_ vgpu: NVIDIAVGPU) -> String {
        let current = vgpu.currentType.flatMap { $0 == 0 ? nil : $0 }
        let name = current.flatMap { id in vgpu.creatable.first { $0.id == id }?.name }
        return "\(vgpu.address) (NVIDIA SR-IOV vGPU): current type " + (current.map { "\($0)" + (name.map { " (\($0))" } ?? "") } ?? "none")
            + "; creatable: " + (vgpu.creatable.isEmpty ? "none" : vgpu.creatable.map { "\($0.id) \($0.name)" }.joined(separator: ", ")) + "\n"
    }

    // MARK: list

    public static func listJSON(_ state: MdevState, holders: [Int: [VFIOUser]]) -> JSON {
        .document([
            "mdevs": .array(state.entries.map { entry in
                .object([
                    "active": .bool(entry.active),
                    "defined": .bool(entry.defined),
                    "driver": .optional(entry.device?.driver),
                    "group": .optional(entry.group),
                    "held_by": .array((entry.group.flatMap { holders[$0] } ?? []).map { user in
                        .object(["command": .string(user.command), "guest": .optional(user.guest), "pid": .int(user.pid)])
                    }),
                    "parent": .string(entry.parent),
                    "start": .optional(entry.definition?.start.rawValue),
                    "type": .optional(entry.type),
                    "uuid": .string(entry.uuid.description),
                ])
            }),
            "unreadable": .strings(state.unreadable),
        ])
    }

    public static func listText(_ state: MdevState, holders: [Int: [VFIOUser]]) -> String {
        let entries = state.entries
        var out = ""
        if entries.isEmpty {
            out = "no mdevs: none is active (/sys/bus/mdev/devices) or defined (/etc/mdevctl.d)\n"
        } else {
            out = TextTable(header: ["UUID", "PARENT", "TYPE", "ACTIVE", "DEFINED", "GROUP", "HELD BY"], rows: entries.map { entry in
                [entry.uuid.description, entry.parent, entry.type ?? "?", entry.active ? "yes" : "no",
                 entry.definition.map { "yes (\($0.start.rawValue))" } ?? "no", entry.group.map(String.init) ?? "-",
                 (entry.group.flatMap { holders[$0] } ?? []).map(\.description).joined(separator: ", ").nonEmpty ?? "-"]
            }).render()
        }
        for problem in state.unreadable { out += "warning: \(problem)\n" }
        return out
    }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}
