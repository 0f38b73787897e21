/// Plans `mdev create` and `mdev remove` from what was read (MdevState, who holds the groups open).
/// Pure. A name that is not there (parent, type, UUID) is a usage error that lists what is; a
/// host that cannot do it now (no instance left, the mdev in use, the UUID taken) is a refusal
/// finding: nothing is written either way.
public enum MdevPlanner {
    public struct Create: Sendable, Equatable {
        public var parent: String
        public var type: String
        public var uuid: MdevUUID
        /// Also write mdevctl's definition, started at boot (`auto`) or by hand (`manual`); nil: no definition.
        public var persist: MdevDefinition.Start?

        public init(parent: String, type: String, uuid: MdevUUID, persist: MdevDefinition.Start?) {
            (self.parent, self.type, self.uuid, self.persist) = (parent, type, uuid, persist)
        }
    }

    public static func create(_ request: Create, _ state: MdevState) throws(VFIOError) -> Plan {
        guard let parent = state.parent(request.parent) else {
            throw .usage("no mdev parent '\(request.parent.printable)' (not in /sys/class/mdev_bus)",
                         hint: state.parents.isEmpty
                            ? "no device offers mdevs here: load the parent's driver (nvidia, i915 with GVT-g, mtty...) first"
                            : "parents here: " + state.parents.map(\.name).joined(separator: ", ") + " ('vfioctl mdev types' lists their types)")
        }
        guard let type = parent.type(request.type) else {
            throw .usage("\(parent.name) offers no mdev type '\(request.type.printable)'",
                         hint: "its types: " + parent.types.map(\.id).joined(separator: ", ") + " ('vfioctl mdev types \(parent.name)')")
        }
        let uuid = request.uuid
        var plan = Plan(operation: .mdevCreate)
        let existing = state.device(uuid)
        let definition = state.definitions(uuid).first { $0.parent == parent.name }
        plan.originals.mdevs = [MdevOriginal(uuid: uuid, parent: parent.name, type: type.id, active: existing != nil, definition: definition)]
        if let existing {
            if existing.parent != parent.name || existing.type != type.id {
                plan.findings.append(Finding("mdev.exists", .error, uuid.description,
                                             "mdev \(uuid) exists already, as \(existing.type ?? "an unknown type") on \(existing.parent)",
                                             hint: "choose another UUID (or leave --uuid out), or remove it first: vfioctl mdev remove \(uuid)"))
                return plan
            }
        } else {
            if let available = type.availableInstances, available <= 0 {
                let others = parent.types.filter { $0.id != type.id && ($0.availableInstances ?? 0) > 0 }.map(\.id)
                plan.findings.append(Finding("mdev.no-instances", .error, parent.name,
                                             "\(parent.name) has no available instance of \(type.id)"
                                                + (type.name.map { " (\($0))" } ?? "") + " left: \(type.devices.count) of this type exist"
                                                + " and a parent's instances are shared between its types",
                                             hint: "remove an mdev of \(parent.name) first ('vfioctl mdev list')"
                                                + (others.isEmpty ? "" : ", or choose a type with instances left: " + others.joined(separator: ", "))))
                return plan
            }
            plan.steps.append(.createMdev(parent: parent.name, type: type.id, uuid: uuid))
        }
        if let start = request.persist {
            if let elsewhere = state.definitions(uuid).first(where: { $0.parent != parent.name }) {
                plan.findings.append(Finding("mdev.defined-elsewhere", .error, uuid.description,
                                             "mdevctl defines \(uuid) on \(elsewhere.parent) already (\(elsewhere.path))",
                                             hint: "remove that definition first (vfioctl mdev remove \(uuid) --persist), or choose another UUID"))
                return plan
            }
            // Attributes mdevctl would write after creating it are kept when the type stays the same.
            let wanted = MdevDefinition(uuid: uuid, parent: parent.name, type: type.id, start: start,
                                        attributes: definition?.type == type.id ? definition?.attributes ?? [] : [])
            if definition != wanted { plan.steps.append(.defineMdev(wanted)) }
        }
        if plan.steps.isEmpty { plan.findings.append(Finding("mdev.unchanged", .info, uuid.description, "mdev \(uuid) is already as asked")) }
        if let api = type.deviceAPI, !api.hasPrefix("vfio-") {
            plan.findings.append(Finding("mdev.device-api", .warning, uuid.description,
                                         "\(type.id) has device_api '\(api)': not one libvirt or QEMU pass through (vfio-pci, vfio-ccw, vfio-ap)"))
        }
        return plan
    }

    /// Removes an mdev (if it exists) and, with `persist`, mdevctl's definitions of it. Refused
    /// while its group is open: the kernel's `remove` blocks until the guest lets go.
    public static func remove(_ uuid: MdevUUID, persist: Bool, _ state: MdevState, holders: (Int) -> GroupHolders) throws(VFIOError) -> Plan {
        let device = state.device(uuid)
        let definitions = state.definitions(uuid)
        guard device != nil || !definitions.isEmpty else {
            throw .usage("no mdev \(uuid): it is neither active (/sys/bus/mdev/devices) nor defined (/etc/mdevctl.d)",
                         hint: "'vfioctl mdev list' shows the mdevs")
        }
        var plan = Plan(operation: .mdevRemove)
        var originals: [MdevOriginal] = []
        if let device {
            let definition = definitions.first { $0.parent == device.parent }
            originals.append(MdevOriginal(uuid: uuid, parent: device.parent, type: device.type ?? definition?.type ?? "", active: true, definition: definition))
            guard device.type != nil else {
                plan.findings.append(Finding("mdev.type-unknown", .error, uuid.description,
                                             "the type of mdev \(uuid) cannot be read (no mdev_type link): a rollback could not create it again",
                                             hint: "remove it by hand if you must: echo 1 > /sys/bus/mdev/devices/\(uuid)/remove"))
                plan.originals.mdevs = originals
                return plan
            }
            if let group = device.iommuGroup {
                switch holders(group) {
                case .known(let users) where !users.isEmpty:
                    plan.findings.append(Finding("device.in-use", .error, uuid.description,
                                                 "mdev \(uuid) (group \(group)) is open by " + users.map(\.description).joined(separator: ", ")
                                                    + ": the kernel's remove would block until that guest stops",
                                                 hint: "shut the guest down first (virsh shutdown), then remove it"))
                case .known: break
                case .unknown: plan.findings.append(Finding.holdersUnknown(group, uuid.description))
                }
            }
            plan.groups = device.iommuGroup.map { [$0] } ?? []
            plan.steps.append(.removeMdev(parent: device.parent, uuid: uuid))
        }
        for definition in definitions where !originals.contains(where: { $0.parent == definition.parent }) {
            originals.append(MdevOriginal(uuid: uuid, parent: definition.parent, type: definition.type, active: false, definition: definition))
        }
        plan.originals.mdevs = originals
        if persist {
            plan.steps += definitions.map { .undefineMdev(parent: $0.parent, uuid: uuid) }
        } else if !definitions.isEmpty {
            plan.findings.append(Finding("mdev.definition-kept", .info, uuid.description,
                                         "mdevctl's definition stays (" + definitions.map(\.path).joined(separator: ", ") + "): "
                                            + (definitions.contains { $0.start == .auto } ? "it is created again at boot" : "'mdevctl start -u \(uuid)' creates it again"),
                                         hint: "add --persist to remove the definition too"))
        }
        return plan
    }
}
