/// Drift of KubeVirt's permittedHostDevices, the SR-IOV device plugin's config.json and
/// Proxmox's pci.cfg against the host.
extension ExportDrift {
    // MARK: KubeVirt

    /// The first `permittedHostDevices` in a KubeVirt CR, a HyperConverged CR, export's patch or
    /// the bare block.
    static func permittedHostDevices(_ value: PoolValue) -> PoolValue? {
        switch value {
        case .table(let entries):
            if let found = entries.first(where: { $0.key == "permittedHostDevices" }) { return found.value }
            for entry in entries { if let found = permittedHostDevices(entry.value) { return found } }
            return nil
        case .array(let items):
            for item in items { if let found = permittedHostDevices(item) { return found } }
            return nil
        default:
            return nil
        }
    }

    public static func kubevirt(_ tree: PoolValue, file: String, _ snapshot: HostSnapshot, mdevs: MdevState = MdevState()) throws(VFIOError) -> [Finding] {
        guard let block = permittedHostDevices(tree) else {
            throw .usage("\(file) has no permittedHostDevices", hint: "give the KubeVirt CR (kubectl get kubevirt kubevirt -n kubevirt -o yaml) or what vfioctl export kubevirt wrote")
        }
        guard case .table(let fields) = block else { throw .usage("\(file): permittedHostDevices is not a mapping", hint: "pciHostDevices: [...] under it") }
        var findings: [Finding] = []
        for field in fields where !["pciHostDevices", "mediatedDevices", "usb"].contains(field.key) {
            findings.append(Finding("kubevirt.unknown-field", .warning, "\(file)\(field.line.map { ":\($0)" } ?? "")",
                                    "permittedHostDevices.\(field.key.printable) is not in KubeVirt's schema: the API server drops it without a word",
                                    hint: "check its spelling: pciHostDevices, mediatedDevices, usb"))
        }
        if let mediated = fields.first(where: { $0.key == "mediatedDevices" })?.value {
            findings += try kubevirtMdevs(mediated, file: file, mdevs)
        }
        guard let devices = fields.first(where: { $0.key == "pciHostDevices" })?.value else { return findings }
        guard case .array(let items) = devices else { throw .usage("\(file): pciHostDevices is not a list", hint: "- pciVendorSelector: ...") }
        var covered = Set<PCIAddress>()
        var selectors: [String: String] = [:]
        for (index, item) in items.enumerated() {
            let subject = "\(file): pciHostDevices[\(index)]"
            guard let (selectorText, resource) = kubevirtEntry(item, selectorKey: "pciVendorSelector", subject: subject,
                                                               example: "pciVendorSelector: \"10de:1eb8\", resourceName: \"nvidia.com/TU104GL_Tesla_T4\"",
                                                               findings: &findings)
            else { continue }
            let selector = selectorText.lowercased()
            if let other = selectors[selector], other != resource {
                findings.append(Finding("kubevirt.selector-twice", .warning, subject,
                                        "\(selector) is permitted as \(other) and as \(resource): KubeVirt keeps the last", hint: "one entry per vendor:device"))
            }
            selectors[selector] = resource
            let matching = snapshot.functions.filter { Export.ids($0) == selector }
            let offered = matching.filter { $0.driver == StubDriver.vfioPCI }
            if matching.isEmpty {
                findings.append(Finding("kubevirt.selector-matches-nothing", .error, subject,
                                        "pciVendorSelector \(selector) matches no PCI function of this host: \(resource) is empty here",
                                        hint: "the device changed or left: 'vfioctl list --vendor \(selector)'; write the entry again: " + regenerate(.kubevirt, "ADDRESS")))
            } else if offered.isEmpty {
                findings.append(Finding("export.driver", .error, subject,
                                        "pciVendorSelector \(selector) matches " + matching.map { "\($0.address) (\($0.driver ?? "no driver"))" }.joined(separator: ", ")
                                            + ", none on vfio-pci: KubeVirt offers no \(resource) here",
                                        hint: "vfioctl detach ADDRESS --driver vfio-pci (and persist it)"))
            } else {
                for f in matching where f.driver != StubDriver.vfioPCI {
                    findings.append(Finding("export.driver", .warning, f.address.description,
                                            "\(f.address) has \(selector) and is on \(f.driver ?? "no driver"): KubeVirt does not offer it as \(resource)",
                                            hint: "vfioctl detach \(f.address) --driver vfio-pci, if guests are to have it"))
                }
            }
            covered.formUnion(offered.map(\.address))
        }
        findings += grownGroups(covered, snapshot, format: .kubevirt, file: file).map { finding in
            // Members of a group on vfio-pci that the selectors miss still let the guest start.
            var finding = finding
            let group = finding.subject.split(separator: " ").last.flatMap { Int($0) } ?? -1
            if snapshot.endpoints(ofGroup: group).allSatisfy({ snapshot.function($0).map(StubDriver.isVFIO) ?? false }) { finding.severity = .warning }
            return finding
        }
        return findings
    }

    /// One entry of a permittedHostDevices list: a warning for each key KubeVirt's schema lacks
    /// (the API server prunes it), an error for a missing selector or resourceName (refused) or
    /// an invalid resourceName; the selector and resourceName when both are there.
    static func kubevirtEntry(_ item: PoolValue, selectorKey: String, subject: String, example: String,
                              findings: inout [Finding]) -> (selector: String, resource: String)? {
        guard case .table(let entry) = item else { return nil }
        func string(_ key: String) -> String? { if case .string(let s)? = entry.first(where: { $0.key == key })?.value { s } else { nil } }
        let keys = [selectorKey, "resourceName", "externalResourceProvider"]
        for key in entry.map(\.key) where !keys.contains(key) {
            findings.append(Finding("kubevirt.unknown-field", .warning, subject, "'\(key.printable)' is not in KubeVirt's schema: the API server drops it without a word",
                                    hint: keys.joined(separator: ", ")))
        }
        guard let selector = string(selectorKey), let resource = string("resourceName") else {
            findings.append(Finding("kubevirt.entry-invalid", .error, subject, "an entry needs \(selectorKey) and resourceName: the API server refuses it", hint: example))
            return nil
        }
        do { try KubeVirtExport.validateResourceName(resource, option: "resourceName:") } catch {
            findings.append(Finding("kubevirt.resource-name", .error, subject, error.message, hint: error.hint))
        }
        return (selector, resource)
    }

    /// KubeVirt's `mediatedDevices` against the mdevs there are: an entry whose type name no
    /// mdev has offers nothing; an mdev without an IOMMU group is skipped by KubeVirt; one not
    /// made again at boot is gone after the next.
    static func kubevirtMdevs(_ value: PoolValue, file: String, _ state: MdevState) throws(VFIOError) -> [Finding] {
        guard case .array(let items) = value else { throw .usage("\(file): mediatedDevices is not a list", hint: "- mdevNameSelector: ...") }
        var findings: [Finding] = []
        var selectors: [String: String] = [:]
        for (index, item) in items.enumerated() {
            let subject = "\(file): mediatedDevices[\(index)]"
            guard let (selector, resource) = kubevirtEntry(item, selectorKey: "mdevNameSelector", subject: subject,
                                                           example: "mdevNameSelector: \"GRID T4-1Q\", resourceName: \"nvidia.com/GRID_T4-1Q\"",
                                                           findings: &findings)
            else { continue }
            let key = KubeVirtExport.mdevKey(selector)
            if let other = selectors[key], other != resource {
                findings.append(Finding("kubevirt.selector-twice", .warning, subject,
                                        "mdevNameSelector '\(selector.printable)' is permitted as \(other) and as \(resource): KubeVirt keeps the last", hint: "one entry per mdev type name"))
            }
            selectors[key] = resource
            let matching = state.devices.filter { KubeVirtExport.mdevKey(of: $0, in: state) == key }
            if matching.isEmpty {
                let offered = state.parents.flatMap { parent in parent.types.filter { KubeVirtExport.mdevKey($0.name ?? $0.id) == key }.map { "\(parent.name) (\($0.id))" } }
                findings.append(Finding("kubevirt.mdev-matches-nothing", .error, subject,
                                        "mdevNameSelector '\(selector.printable)' matches no mdev of this host: \(resource) is empty here"
                                            + (offered.isEmpty ? ", and no parent offers a type of that name" : ""),
                                        hint: offered.isEmpty ? "'vfioctl mdev types' lists the types there are (a driver update can rename them)"
                                            : "create one: vfioctl mdev create " + offered[0].split(separator: " ")[0] + " --type TYPE --persist --auto (offered by " + offered.joined(separator: ", ") + ")"))
                continue
            }
            let grouped = matching.filter { $0.iommuGroup != nil }
            if grouped.isEmpty {
                findings.append(Finding("export.driver", .error, subject,
                                        "mdevNameSelector '\(selector.printable)' matches " + matching.map(\.uuid.description).joined(separator: ", ")
                                            + ", none with an IOMMU group (no vfio mdev driver bound): KubeVirt offers no \(resource) here",
                                        hint: "load the parent's vfio mdev driver (for NVIDIA: nvidia-vgpu-vfio)"))
            }
            for device in matching where !state.definitions(device.uuid).contains(where: { $0.parent == device.parent && $0.start == .auto }) {
                findings.append(Finding("export.mdev-not-persistent", .warning, device.uuid.description,
                                        "mdev \(device.uuid) (\(resource)) is not made again at boot (no mdevctl definition with start auto): after a reboot KubeVirt offers one fewer",
                                        hint: "vfioctl mdev create \(device.parent) --type \(device.type ?? "TYPE") --uuid \(device.uuid) --persist --auto"))
            }
        }
        return findings
    }

    // MARK: the SR-IOV device plugin

    public static func devicePlugin(_ json: JSON, file: String, _ snapshot: HostSnapshot) throws(VFIOError) -> [Finding] {
        guard case .object(let root) = json, case .array(let resources)? = root["resourceList"] else {
            throw .usage("\(file) has no resourceList", hint: "give the plugin's config.json, as vfioctl export sriov-device-plugin writes it")
        }
        var findings: [Finding] = []
        var covered = Set<PCIAddress>()
        for (index, resource) in resources.enumerated() {
            guard case .object(let fields) = resource else { continue }
            let name: String = if case .string(let n)? = fields["resourceName"] { n } else { "resourceList[\(index)]" }
            let subject = "\(file): \(name)"
            let type: String = if case .string(let t)? = fields["deviceType"] { t } else { "netDevice" }
            let selectorObjects: [JSONObject]
            switch fields["selectors"] {
            case .object(let object)?: selectorObjects = [object]
            case .array(let list)?: selectorObjects = list.compactMap { if case .object(let o) = $0 { o } else { nil } }
            default: selectorObjects = [[:]]
            }
            var selected: [PCIFunction] = []
            for selector in selectorObjects {
                func strings(_ key: String) -> [String]? {
                    guard case .array(let list)? = selector[key] else { return nil }
                    return list.compactMap { if case .string(let s) = $0 { s } else { nil } }
                }
                let baseClass: UInt8 = type == "accelerator" ? 0x12 : 0x02
                var candidates = snapshot.functions.filter { $0.baseClass == baseClass }
                if let vendors = strings("vendors") { candidates = candidates.filter { vendors.map { $0.lowercased() }.contains(Export.hex4($0.vendorID)) } }
                if let devices = strings("devices") { candidates = candidates.filter { devices.map { $0.lowercased() }.contains(Export.hex4($0.deviceID)) } }
                if let addresses = strings("pciAddresses") {
                    for text in addresses {
                        if let address = PCIAddress(text), let finding = identity(address, expected: nil, snapshot, format: .sriovDevicePlugin, file: file,
                                                                                   what: "resource \(name) names") {
                            findings.append(finding)
                        }
                    }
                    let named = Set(addresses.compactMap { PCIAddress($0) })
                    candidates = candidates.filter { named.contains($0.address) }
                }
                for key in ["pfNames", "rootDevices"] {
                    guard let entries = strings(key) else { continue }
                    var kept: [PCIFunction] = []
                    for entry in entries {
                        let parts = entry.split(separator: "#", maxSplits: 1).map(String.init)
                        let pf = key == "pfNames" ? snapshot.function(interface: parts[0]) : PCIAddress(parts[0]).flatMap(snapshot.function)
                        guard let pf, let sriov = pf.sriov else {
                            findings.append(Finding("sriov-device-plugin.pf-gone", .error, subject,
                                                    "\(key) names \(parts[0].printable), which is no SR-IOV PF of this host",
                                                    hint: "'vfioctl sriov status' lists the PFs; " + regenerate(.sriovDevicePlugin, "VF...")))
                            continue
                        }
                        var indices = Array(0..<sriov.numVFs)
                        if parts.count == 2 {
                            indices = []
                            for range in parts[1].split(separator: ",") {
                                let bounds = range.split(separator: "-").compactMap { Int($0) }
                                if bounds.count == 2, bounds[0] <= bounds[1] { indices += Array(bounds[0]...bounds[1]) } else if bounds.count == 1 { indices.append(bounds[0]) }
                            }
                            if let highest = indices.max(), highest >= sriov.numVFs {
                                findings.append(Finding("sriov-device-plugin.vf-range", .error, subject,
                                                        "\(key) \(entry.printable) reaches VF \(highest), and \(parts[0]) has \(sriov.numVFs) VF\(sriov.numVFs == 1 ? "" : "s") now (0-\(max(sriov.numVFs - 1, 0)))",
                                                        hint: "create the VFs (vfioctl apply FILE, or vfioctl sriov create \(parts[0]) --count \(highest + 1)), or narrow the range"))
                            }
                        }
                        let vfs = Set(indices.compactMap { sriov.vfIndices[$0] })
                        kept += candidates.filter { vfs.contains($0.address) }
                    }
                    candidates = kept
                }
                if let drivers = strings("drivers") {
                    for f in candidates where !drivers.contains(f.driver ?? "") {
                        findings.append(Finding("export.driver", .error, f.address.description,
                                                "\(f.address) is on \(f.driver ?? "no driver"), and resource \(name) selects drivers " + drivers.joined(separator: ", ")
                                                    + ": the plugin leaves it out",
                                                hint: f.physfn != nil ? "vfioctl apply FILE (the pool's driver), or vfioctl detach \(f.address)" : "bind it to \(drivers[0])"))
                    }
                    candidates = candidates.filter { drivers.contains($0.driver ?? "") }
                }
                selected += candidates
            }
            if selected.isEmpty {
                findings.append(Finding("sriov-device-plugin.resource-empty", .error, subject,
                                        "resource \(name) selects no function of this host",
                                        hint: "write it again for what the host has: " + regenerate(.sriovDevicePlugin, "--name \(name) ...")))
            }
            covered.formUnion(selected.map(\.address))
        }
        findings += grownGroups(covered, snapshot, format: .sriovDevicePlugin, file: file)
        return findings
    }

    // MARK: Proxmox

    public static func proxmox(_ text: String, file: String, node: String?, _ snapshot: HostSnapshot) throws(VFIOError) -> [Finding] {
        guard let node else {
            throw .usage("\(file)'s map lines are per node, and this host's name is unknown (no etc/hostname under the root)",
                         hint: "--node NAME, the node's name as 'pvecm nodes' lists it")
        }
        var findings: [Finding] = []
        var covered = Set<PCIAddress>()
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)[...]
        var number = 0
        func next() -> String? {
            while let line = lines.popFirst() {
                number += 1
                // SectionConfig skips comment lines (^\s*#) wherever they are.
                if !line.drop(while: { $0 == " " || $0 == "\t" }).hasPrefix("#") { return line }
            }
            return nil
        }
        while let line = next() {
            guard !line.isEmpty else { continue }
            guard line.first != " " && line.first != "\t" else {
                findings.append(Finding("proxmox.line-ignored", .warning, "\(file):\(number)", "Proxmox ignores this line: no section header before it", hint: "an id on a line of its own first"))
                continue
            }
            let id = line.trimmingWhitespace()
            let section = "\(file): \(id)"
            while let body = next(), !body.isEmpty {
                guard body.first == " " || body.first == "\t" else {
                    findings.append(Finding("proxmox.section-dropped", .error, "\(file):\(number)",
                                            "'\(body.trimmingWhitespace().printable)' follows \(id)'s lines with no blank line between: Proxmox reads it as a line of \(id), ignores it, and drops that mapping",
                                            hint: "put a blank line before it"))
                    continue
                }
                let words = body.trimmingWhitespace().split(separator: " ", maxSplits: 1).map(String.init)
                guard words.first == "map", words.count == 2 else { continue }
                var map: [String: String] = [:]
                for part in words[1].split(separator: ",") {
                    let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
                    if pair.count == 2 { map[pair[0]] = pair[1] }
                }
                guard map["node"] == node else { continue }
                findings += proxmoxMap(map, section: section, id: id, snapshot: snapshot, covered: &covered)
            }
        }
        findings += grownGroups(covered, snapshot, format: .proxmox, file: file)
        return findings
    }

    /// assert_valid's checks of one map line of this node, and what it gives a guest.
    static func proxmoxMap(_ map: [String: String], section: String, id: String, snapshot: HostSnapshot, covered: inout Set<PCIAddress>) -> [Finding] {
        var findings: [Finding] = []
        let paths = (map["path"] ?? "").split(separator: ";").map(String.init)
        for (index, path) in paths.enumerated() {
            let whole = !path.contains(".")
            guard let address = PCIAddress(whole ? path + ".0" : path) else {
                findings.append(Finding("proxmox.path-invalid", .error, section, "path '\(path.printable)' is no PCI address", hint: "DDDD:BB:SS or DDDD:BB:SS.F"))
                continue
            }
            if let finding = identity(address, expected: nil, snapshot, format: .proxmox, file: section, what: "maps") {
                findings.append(finding)
                continue
            }
            guard let f = snapshot.function(address) else { continue }
            let actual = Export.ids(f)
            if let ids = map["id"], ids != actual {
                let caseOnly = ids.lowercased() == actual
                findings.append(Finding(caseOnly ? "proxmox.id-case" : "export.ids-changed", .error, address.description,
                                        caseOnly ? "\(section): id=\(ids) is upper case: Proxmox compares it with sysfs's \(actual) as a string, and refuses to start the guest"
                                                 : "\(section): id=\(ids), but \(address) is \(actual) now (\(f.displayName)): Proxmox refuses to start the guest",
                                        hint: caseOnly ? "write id=\(actual)" : "another device sits there: write the mapping again (" + regenerate(.proxmox, address.description) + ")"))
            }
            let subsystem = Export.subsystemIDs(f)
            if map["subsystem-id"] == nil, subsystem != nil {
                findings.append(Finding("proxmox.subsystem-missing", .error, address.description,
                                        "\(section) has no subsystem-id, and sysfs has one for \(address): Proxmox refuses to start the guest ('missing expected property')",
                                        hint: "add subsystem-id=\(subsystem ?? "")"))
            } else if let given = map["subsystem-id"], let subsystem, given != subsystem {
                findings.append(Finding("export.subsystem-changed", .error, address.description,
                                        "\(section): subsystem-id=\(given), but \(address)'s is \(subsystem) now: the card was swapped, or its firmware changed",
                                        hint: "check the device, then write subsystem-id=\(subsystem)"))
            }
            if index == 0, let group = f.iommuGroup {
                if let given = map["iommugroup"] {
                    if given != String(group) {
                        findings.append(Finding("proxmox.group-changed", .error, address.description,
                                                "\(section): iommugroup=\(given), but \(address) is in group \(group) now: Proxmox refuses to start the guest",
                                                hint: "check the group's members ('vfioctl groups'), then write iommugroup=\(group)"))
                    }
                } else {
                    findings.append(Finding("proxmox.group-missing", .error, address.description,
                                            "\(section) has no iommugroup, and \(address) is in group \(group): Proxmox refuses to start the guest",
                                            hint: "add iommugroup=\(group)"))
                }
            }
            if whole {
                covered.formUnion(snapshot.functions.filter { $0.address.slot == address.slot && $0.physfn == nil && !$0.isBridge }.map(\.address))
            } else {
                covered.insert(address)
            }
        }
        return findings
    }
}
