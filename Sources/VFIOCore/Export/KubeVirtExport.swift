/// KubeVirt's `permittedHostDevices` (the KubeVirt CR, spec.configuration), as a merge patch:
/// `pciHostDevices` entries of `pciVendorSelector` ("vendor:device") and `resourceName`
/// ("domain/name"). What KubeVirt's virt-handler does with them (pkg/virt-handler/device-manager):
/// it lowercases the selector, walks /sys/bus/pci/devices and takes every function with those
/// ids bound to vfio-pci itself (no variant driver; NVIDIA's vGPU VFs aside), one device per
/// IOMMU group. So: only the fields the CRD schema has (unknown ones are pruned silently), a
/// warning for each function the selector would also permit that was not exported, and for
/// each exported function KubeVirt would not take.
public enum KubeVirtExport {
    /// The domain of a default resource name: `vfioctl.local/10de_1eb8` (`.local` is nobody's).
    public static let defaultDomain = "vfioctl.local"

    public struct Device: Sendable, Equatable {
        public var selector: String
        public var resourceName: String
        public var functions: [PCIAddress]
    }

    /// A Kubernetes extended resource name: a DNS subdomain (not kubernetes.io's), '/', a name
    /// of at most 63 characters.
    public static func validateResourceName(_ name: String, option: String = "--name") throws(VFIOError) {
        let hint = "\(option) DOMAIN/NAME, e.g. \(option) nvidia.com/TU104GL_Tesla_T4"
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw .usage("KubeVirt's resourceName '\(name.printable)' is not DOMAIN/NAME", hint: hint)
        }
        let (domain, local) = (String(parts[0]), String(parts[1]))
        func label(_ text: Substring) -> Bool {
            guard let first = text.first, let last = text.last, text.count <= 63 else { return false }
            return first.isLowercaseAlphanumeric && last.isLowercaseAlphanumeric && text.allSatisfy { $0.isLowercaseAlphanumeric || $0 == "-" }
        }
        guard domain.count <= 253, domain.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(label) else {
            throw .usage("KubeVirt's resourceName '\(name.printable)': '\(domain.printable)' is not a DNS domain (lower-case letters, digits, '-' and '.')",
                         hint: hint)
        }
        guard domain != "kubernetes.io", !domain.hasSuffix(".kubernetes.io"), domain != "k8s.io", !domain.hasSuffix(".k8s.io") else {
            throw .usage("KubeVirt's resourceName '\(name.printable)': Kubernetes keeps the domain \(domain) for itself", hint: hint)
        }
        guard let first = local.first, let last = local.last, local.count <= 63, first.isASCIIAlphanumeric, last.isASCIIAlphanumeric,
              local.allSatisfy({ $0.isASCIIAlphanumeric || "-_.".contains($0) })
        else {
            throw .usage("KubeVirt's resourceName '\(name.printable)': '\(local.printable)' is not a resource name (letters, digits, '-', '_', '.', at most 63, alphanumeric at both ends)",
                         hint: hint)
        }
    }

    /// One `mediatedDevices` entry: the type name KubeVirt matches, and the mdevs it takes.
    public struct MdevEntry: Sendable, Equatable {
        /// As the type's `name` says it (its id when it has none), trimmed.
        public var selector: String
        public var resourceName: String
        public var mdevs: [MdevUUID]
    }

    /// What KubeVirt compares (virt-handler's removeSelectorSpaces and getMdevTypeName): spaces
    /// made '_', then whitespace trimmed; the same for the selector and the type's `name`
    /// (the `mdev_type` link's last component when the type has no `name`).
    public static func mdevKey(_ text: String) -> String {
        String(text.map { $0 == " " ? "_" : $0 }).trimmingWhitespace()
    }

    /// The key KubeVirt matches an mdev of this host by: its type's name, else the type id.
    static func mdevKey(of device: MediatedDevice, in state: MdevState) -> String {
        mdevKey(state.type(of: device)?.name ?? device.type ?? "")
    }

    /// The name KubeVirt matches an mdev by.
    static func mdevSelector(_ mdev: ExportedMdev) -> String {
        (mdev.typeName ?? mdev.device.type ?? "").trimmingWhitespace()
    }

    /// vfioctl.local/ and the selector as a resource name: '_' for what a name cannot hold.
    static func defaultName(mdevSelector selector: String) -> String {
        var local = String(mdevKey(selector).map { $0.isASCIIAlphanumeric || "-_.".contains($0) ? $0 : "_" }.prefix(63))
        while let last = local.last, !last.isASCIIAlphanumeric { local.removeLast() }
        while let first = local.first, !first.isASCIIAlphanumeric { local.removeFirst() }
        return defaultDomain + "/" + (local.isEmpty ? "mdev" : local)
    }

    static func defaultName(_ exported: ExportedFunction) -> String {
        let f = exported.function
        if let network = exported.poolNetwork, (try? validateResourceName(defaultDomain + "/" + network)) != nil {
            return defaultDomain + "/" + network
        }
        return defaultDomain + "/" + Export.hex4(f.vendorID) + "_" + Export.hex4(f.deviceID)
    }

    public static func render(_ selection: ExportSelection, _ snapshot: HostSnapshot, _ names: ExportNames,
                              mdevs: MdevState? = nil) throws(VFIOError) -> ExportDocument {
        if let name = names.name { try validateResourceName(name) }
        var devices: [Device] = []
        for exported in selection.functions {
            let selector = Export.ids(exported.function)
            let resource = names.name ?? defaultName(exported)
            if let index = devices.firstIndex(where: { $0.selector == selector }) {
                if devices[index].resourceName != resource {
                    throw .usage("\(selector) would be permitted as both \(devices[index].resourceName) and \(resource): KubeVirt maps a vendor:device to one resourceName",
                                 hint: "give them one --name, or export them one at a time")
                }
                devices[index].functions.append(exported.address)
            } else {
                devices.append(Device(selector: selector, resourceName: resource, functions: [exported.address]))
            }
        }
        var findings: [Finding] = []
        let selected = Set(selection.addresses)
        for device in devices {
            let others = snapshot.functions.filter { !selected.contains($0.address) && Export.ids($0) == device.selector }
            if !others.isEmpty {
                findings.append(Finding("kubevirt.selector-permits-more", .warning, device.selector,
                                        "pciVendorSelector \(device.selector) also permits "
                                            + others.map { "\($0.address) (\($0.driver ?? "no driver"))" }.joined(separator: ", ")
                                            + ", which \(others.count == 1 ? "was" : "were") not selected: KubeVirt selects by vendor:device only, and takes any such function on vfio-pci",
                                        hint: "keep those off vfio-pci, or export them too"))
            }
        }
        for exported in selection.functions where exported.function.driver != StubDriver.vfioPCI {
            let f = exported.function
            findings.append(Finding("kubevirt.not-on-vfio-pci", .warning, f.address.description,
                                    "\(f.address) is on \(f.driver ?? "no driver"): KubeVirt takes only functions bound to vfio-pci itself, so it is not offered until it is",
                                    hint: "vfioctl detach \(f.address) --driver vfio-pci (or persist it: vfioctl persist \(f.address) --driver vfio-pci --write)"))
        }
        for id in selection.groups {
            let members = selection.functions.filter { $0.function.iommuGroup == id }
            let bySelector = Dictionary(grouping: members, by: { Export.ids($0.function) })
            for (selector, same) in bySelector.sorted(by: { $0.key < $1.key }) where same.count > 1 {
                findings.append(Finding("kubevirt.group-counted-once", .info, "group \(id)",
                                        same.map(\.address.description).joined(separator: ", ") + " (\(selector)) share IOMMU group \(id): KubeVirt offers one device per group, so they count once",
                                        hint: nil))
            }
        }
        let mediated = try mdevEntries(selection, names, pciNames: devices.map(\.resourceName), mdevs: mdevs, findings: &findings)
        var content = Export.banner(.kubevirt, selection)
        for exported in selection.functions { content += "# " + Export.describe(exported.function) + "\n" }
        for mdev in selection.mdevs { content += "# " + describe(mdev) + "\n" }
        content += "spec:\n  configuration:\n    permittedHostDevices:\n"
        if !devices.isEmpty { content += "      pciHostDevices:\n" }
        for device in devices {
            content += "      - pciVendorSelector: \"\(device.selector)\"\n        resourceName: \"\(device.resourceName)\"\n"
        }
        if !mediated.isEmpty { content += "      mediatedDevices:\n" }
        for entry in mediated {
            content += "      - mdevNameSelector: \(JSON.quoted(entry.selector))\n        resourceName: \"\(entry.resourceName)\"\n"
        }
        let entries: [JSON] = devices.map { device in
            .object([
                "pci_vendor_selector": .string(device.selector),
                "resource_name": .string(device.resourceName),
                "functions": .strings(device.functions.map(\.description)),
            ])
        } + mediated.map { entry in
            .object([
                "mdev_name_selector": .string(entry.selector),
                "resource_name": .string(entry.resourceName),
                "mdevs": .strings(entry.mdevs.map(\.description)),
            ])
        }
        return ExportDocument(format: .kubevirt, content: content, entries: entries, selection: selection, findings: findings)
    }

    /// "UUID, type mtty-2 (Dual port serial) on mtty, IOMMU group 12, mtty"
    static func describe(_ mdev: ExportedMdev) -> String {
        let d = mdev.device
        return "\(d.uuid), type \(d.type ?? "unknown")" + (mdev.typeName.map { " (\($0.printable))" } ?? "")
            + " on \(d.parent), IOMMU group \(d.iommuGroup.map(String.init) ?? "none"), \(d.driver ?? "no driver")"
    }

    /// The selected mdevs as `mediatedDevices` entries, one per name KubeVirt tells apart; the
    /// resource names refused when two entries would share one (KubeVirt starts one device
    /// plugin per mdev type name, and two registering one resource name displace each other).
    static func mdevEntries(_ selection: ExportSelection, _ names: ExportNames, pciNames: [String], mdevs state: MdevState?,
                            findings: inout [Finding]) throws(VFIOError) -> [MdevEntry] {
        var entries: [MdevEntry] = []
        for mdev in selection.mdevs {
            let selector = mdevSelector(mdev)
            if let index = entries.firstIndex(where: { mdevKey($0.selector) == mdevKey(selector) }) {
                if entries[index].selector != selector {
                    findings.append(Finding("kubevirt.mdev-names-alike", .warning, selector.printable,
                                            "mdev types named '\(entries[index].selector.printable)' and '\(selector.printable)' are one to KubeVirt (it makes spaces '_'): both go to \(entries[index].resourceName)",
                                            hint: "export one of the two types only"))
                }
                entries[index].mdevs.append(mdev.uuid)
            } else {
                entries.append(MdevEntry(selector: selector, resourceName: names.name ?? defaultName(mdevSelector: selector), mdevs: [mdev.uuid]))
            }
        }
        var seen = Set(pciNames)
        for entry in entries where !seen.insert(entry.resourceName).inserted {
            throw .usage("KubeVirt's resourceName \(entry.resourceName) would stand for mdevs of '\(entry.selector.printable)' and for other devices: "
                            + "KubeVirt starts one device plugin per mdev type name, and two registering one resource name displace each other",
                         hint: "export each mdev type with a --name of its own (--mdev UUID --name DOMAIN/NAME), or leave --name out")
        }
        let selected = Set(selection.mdevs.map(\.uuid))
        for entry in entries {
            let others = (state?.devices ?? []).filter { device in
                !selected.contains(device.uuid) && device.iommuGroup != nil && state.map { mdevKey(of: device, in: $0) } == mdevKey(entry.selector)
            }
            if !others.isEmpty {  // KubeVirt skips an mdev without a group
                findings.append(Finding("kubevirt.selector-permits-more", .warning, entry.selector.printable,
                                        "mdevNameSelector '\(entry.selector.printable)' also permits " + others.map { "\($0.uuid) on \($0.parent)" }.joined(separator: ", ")
                                            + ", which \(others.count == 1 ? "was" : "were") not selected: KubeVirt selects mdevs by their type's name only",
                                        hint: "remove those mdevs, or export them too"))
            }
        }
        for mdev in selection.mdevs {
            if mdev.device.iommuGroup == nil {
                findings.append(Finding("kubevirt.mdev-not-offered", .warning, mdev.uuid.description,
                                        "mdev \(mdev.uuid) has no IOMMU group (no vfio mdev driver is bound to it): KubeVirt skips it",
                                        hint: "load its parent's vfio mdev driver (for NVIDIA: nvidia-vgpu-vfio), then check again"))
            }
            if !mdev.startsAtBoot {
                findings.append(Finding("export.mdev-not-persistent", .warning, mdev.uuid.description,
                                        "mdev \(mdev.uuid) is not made again at boot (no mdevctl definition with start auto): after a reboot KubeVirt offers none of it",
                                        hint: "vfioctl mdev create \(mdev.device.parent) --type \(mdev.device.type ?? "TYPE") --uuid \(mdev.uuid) --persist --auto"))
            }
        }
        if !entries.isEmpty {
            findings.append(Finding("kubevirt.mdev-configuration", .info, "mediatedDevices",
                                    "KubeVirt takes these mdevs as they are; leave their types out of spec.configuration.mediatedDevicesConfiguration, "
                                        + "which has virt-handler create mdevs itself and remove mdevs of the types it manages that the list no longer names",
                                    hint: nil))
        }
        return entries
    }
}

extension Character {
    var isLowercaseAlphanumeric: Bool { ("a"..."z").contains(self) || ("0"..."9").contains(self) }
    var isASCIIAlphanumeric: Bool { isLowercaseAlphanumeric || ("A"..."Z").contains(self) }
}
