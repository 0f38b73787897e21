/// Checks of the mediated devices a libvirt domain assigns (`<hostdev type='mdev'>`): libvirt
/// opens /sys/bus/mdev/devices/UUID when the guest starts and creates none itself, so the mdev
/// must exist, of a type whose device API is the hostdev's model, with a driver bound (its
/// /dev/vfio/N), and not held by another guest.
public enum MdevChecks {
    public static func domain(_ mdevs: [DomainDevices.Mdev], _ facts: HostFacts) -> [Finding] {
        guard let state = facts.mdevs else {
            return mdevs.map { Finding("mdev.unknown", .error, $0.uuid.description, "the host's mdevs were not read", hint: "this is a bug in vfioctl; report it") }
        }
        return mdevs.flatMap { check($0, state, facts) }
    }

    /// The host's mdevs: definitions mdevctl cannot read, `auto` ones that did not start (their
    /// parent is missing, or mdevctl's udev rule did not run), and an info line per active mdev.
    public static func host(_ state: MdevState) -> [Finding] {
        var findings = state.unreadable.map { Finding("mdev.definition-unreadable", .warning, Finding.host, $0,
                                                      hint: "mdevctl skips it too; fix or remove the file") }
        for definition in state.definitions where definition.start == .auto && state.device(definition.uuid) == nil {
            let parentThere = state.parent(definition.parent) != nil
            findings.append(Finding("mdev.not-started", .warning, definition.uuid.description,
                                    "mdev \(definition.uuid) (\(definition.type) on \(definition.parent)) is defined to start at boot but is not active"
                                        + (parentThere ? "" : ": its parent \(definition.parent) is not there (driver not loaded?)"),
                                    hint: parentThere ? "mdevctl start -u \(definition.uuid); journalctl -b | grep mdevctl says why it did not start"
                                        : "load the parent's driver; mdevctl's udev rule then starts it"))
        }
        for device in state.devices {
            findings.append(Finding("mdev.active", .info, device.uuid.description,
                                    "mdev \(device.uuid): \(device.type ?? "unknown type") on \(device.parent)"
                                        + (device.iommuGroup.map { ", group \($0) (/dev/vfio/\($0))" } ?? ", no IOMMU group")
                                        + (device.driver.map { ", driver \($0)" } ?? ", no driver")))
        }
        return findings
    }

    static func check(_ wanted: DomainDevices.Mdev, _ state: MdevState, _ facts: HostFacts) -> [Finding] {
        let uuid = wanted.uuid
        let subject = uuid.description
        guard let device = state.device(uuid) else {
            guard let definition = state.definitions(uuid).first else {
                return [Finding("mdev.missing", .error, subject, "mdev \(uuid) does not exist and mdevctl does not define it: the guest cannot start",
                                hint: "create it: vfioctl mdev create PARENT --type TYPE --uuid \(uuid) --persist ('vfioctl mdev types' lists parents and types)")]
            }
            guard state.parent(definition.parent) != nil else {
                return [Finding("mdev.no-parent", .error, subject,
                                "mdev \(uuid) is defined on \(definition.parent) (\(definition.path)), which is not there: its driver is not loaded "
                                    + "or the device is gone (/sys/class/mdev_bus/\(definition.parent) is missing)",
                                hint: "load the parent's driver (nvidia's vGPU manager, i915 with GVT-g, ...), then: mdevctl start -u \(uuid)")]
            }
            return [Finding("mdev.inactive", .error, subject,
                            "mdev \(uuid) is defined (\(definition.type) on \(definition.parent), start \(definition.start.rawValue)) but not active: libvirt does not create it",
                            hint: "start it: mdevctl start -u \(uuid)" + (definition.start == .manual ? "; or define it with start auto (vfioctl mdev create ... --persist --auto)" : ""))]
        }
        var findings: [Finding] = []
        let type = state.type(of: device)
        let what = "mdev \(uuid) (\(device.type ?? "unknown type") on \(device.parent))"
        if let model = wanted.model, let api = type?.deviceAPI, model != api {
            findings.append(Finding("mdev.model", .error, subject, "the hostdev's model='\(model)' is not the type's device API '\(api)': libvirt refuses the mdev",
                                    hint: "write model='\(api)' (vfioctl xml hostdev --mdev \(uuid))"))
        }
        if device.driver == nil {
            findings.append(Finding("mdev.no-driver", .error, subject, "\(what) has no driver bound: it has no /dev/vfio node to open",
                                    hint: "load vfio_mdev (before Linux 5.19) or the parent's vfio driver, then bind it: echo \(uuid) > /sys/bus/mdev/drivers/DRIVER/bind"))
        }
        if let group = device.iommuGroup, let users = facts.vfioUsers?[group], !users.isEmpty {
            findings.append(Finding("mdev.in-use", .error, subject, "\(what) is open by " + users.map(\.description).joined(separator: ", ")
                                        + ": one guest at a time", hint: "give this guest another mdev, or stop that guest"))
        }
        if findings.isEmpty {
            findings.append(Finding("mdev.ready", .info, subject, "\(what) is active" + (device.iommuGroup.map { ", group \($0)" } ?? "")))
        }
        return findings
    }
}
