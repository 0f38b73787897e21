/// What `vfioctl metrics` reports, read from the host and vfioctl's own records.
public struct MetricsInput: Sendable {
    /// Every function (a `.summary` read is enough).
    public var snapshot: HostSnapshot
    /// The host's facts, with who holds each /dev/vfio/N open (`vfioUsers`: nil leaves out the
    /// VFs in use) and the mediated devices (`mdevs`: nil leaves out their findings and series).
    public var facts: HostFacts
    /// The functions `vfioctl detach` recorded (the state directory's `detached`).
    public var detached: [FunctionBinding]
    /// The functions `vfioctl persist` recorded (/etc/vfioctl/persist.conf).
    public var persisted: [Persist.Record]
    /// How the last `vfioctl apply` ended; nil when none is recorded.
    public var lastApply: LastRun?

    public init(snapshot: HostSnapshot, facts: HostFacts, detached: [FunctionBinding] = [], persisted: [Persist.Record] = [],
                lastApply: LastRun? = nil) {
        (self.snapshot, self.facts, self.detached, self.persisted, self.lastApply) = (snapshot, facts, detached, persisted, lastApply)
    }
}

/// The Prometheus text exposition format (version 0.0.4) of a host's passthrough state, for
/// node_exporter's textfile collector: every family with HELP and TYPE, all gauges, base units,
/// labels that name devices, groups and finding ids (never free text), samples sorted.
/// docs/metrics.md lists every metric. Pure.
public enum HostMetrics {
    /// Where a recorded function (detached or persisted) is now.
    public enum RecordedState: String, Sendable, CaseIterable {
        /// On vfio-pci or a vfio variant driver.
        case vfio
        /// On a driver of the host.
        case host
        /// On no driver.
        case unbound
        /// Not on the host.
        case absent

        public init(_ f: PCIFunction?) {
            guard let f else { self = .absent; return }
            self = StubDriver.isVFIO(f) ? .vfio : f.driver == nil ? .unbound : .host
        }
    }

    /// The host's check findings, as `vfioctl check` with no target gives them, except the
    /// locked-memory limit: that is the limit of the process running vfioctl (here the timer's
    /// service), not of any guest.
    public static func findings(_ snapshot: HostSnapshot, _ facts: HostFacts) -> [Finding] {
        var facts = facts
        facts.memlock = nil
        return Preflight.run(snapshot, facts, CheckRequest()).findings
    }

    public static func render(_ input: MetricsInput) -> String {
        var out = Exposition()
        let snapshot = input.snapshot, facts = input.facts
        let functions = snapshot.functions
        out.reserve(functions.count * 220 + 8192)
        let persisted = Set(input.persisted.map(\.address))

        out.family("vfioctl_pci_function_info", "A PCI function of the host (always 1): its ids, class, driver, IOMMU group and "
                   + "NUMA node (empty: none or unknown), whether it is on a vfio driver and whether vfioctl persist records it.")
        // Fields read in place (a PCIFunction copied is twenty retains).
        for index in functions.indices {
            out.name("vfioctl_pci_function_info")
            out.label("address", first: true)
            out.raw(functions[index].address.description)
            out.label("vendor_id")
            out.hex(UInt64(functions[index].vendorID), width: 4)
            out.label("device_id")
            out.hex(UInt64(functions[index].deviceID), width: 4)
            out.label("class")
            out.hex(UInt64(functions[index].classCode), width: 6)
            out.label("driver")
            if let driver = functions[index].driver { out.escaped(driver) }
            out.label("iommu_group")
            if let group = functions[index].iommuGroup { out.decimal(group) }
            out.label("numa_node")
            if let node = functions[index].numaNode { out.decimal(node) }
            out.label("vfio")
            out.raw(StubDriver.isVFIO(functions[index]) ? "true" : "false")
            out.label("persisted")
            out.raw(!persisted.isEmpty && persisted.contains(functions[index].address) ? "true" : "false")
            out.value(1)
        }

        let viable = Viability.verdicts(snapshot, facts: facts)
        out.family("vfioctl_iommu_group_viable", "1 when every function of the IOMMU group is unbound, on a vfio driver or on a "
                   + "driver the kernel allows beside vfio: the group can be given to a guest.")
        for group in snapshot.groups { out.sample("vfioctl_iommu_group_viable", "group", String(group.id), viable[group.id] == true ? 1 : 0) }
        out.family("vfioctl_iommu_group_functions", "PCI functions in the IOMMU group.")
        for group in snapshot.groups { out.sample("vfioctl_iommu_group_functions", "group", String(group.id), group.members.count) }

        // Each PF's VFs on vfio and in use, from the VFs' own physfn links, in one pass.
        let open = facts.vfioUsers.map { Set($0.filter { !$0.value.isEmpty }.keys) }
        var onVFIO: [PCIAddress: Int] = [:], inUse: [PCIAddress: Int] = [:]
        var pfs: [(address: String, total: Int, enabled: Int, key: PCIAddress)] = []
        for index in functions.indices {
            if let sriov = functions[index].sriov {
                pfs.append((functions[index].address.description, sriov.totalVFs, sriov.numVFs, functions[index].address))
            }
            guard let pf = functions[index].physfn else { continue }
            if StubDriver.isVFIO(functions[index]) { onVFIO[pf, default: 0] += 1 }
            if let open, !open.isEmpty, let group = functions[index].iommuGroup, open.contains(group) { inUse[pf, default: 0] += 1 }
        }
        out.family("vfioctl_sriov_total_vfs", "VFs the SR-IOV PF can have (sriov_totalvfs).")
        for pf in pfs { out.sample("vfioctl_sriov_total_vfs", "pf", pf.address, pf.total) }
        out.family("vfioctl_sriov_enabled_vfs", "VFs the SR-IOV PF has now (sriov_numvfs).")
        for pf in pfs { out.sample("vfioctl_sriov_enabled_vfs", "pf", pf.address, pf.enabled) }
        out.family("vfioctl_sriov_vfio_vfs", "VFs of the SR-IOV PF on a vfio driver (ready for guests or in use).")
        for pf in pfs { out.sample("vfioctl_sriov_vfio_vfs", "pf", pf.address, onVFIO[pf.key] ?? 0) }
        if open != nil {
            out.family("vfioctl_sriov_in_use_vfs", "VFs of the SR-IOV PF whose IOMMU group a process (a guest's QEMU) holds open.")
            for pf in pfs { out.sample("vfioctl_sriov_in_use_vfs", "pf", pf.address, inUse[pf.key] ?? 0) }
        }

        out.family("vfioctl_detached_functions", "Functions vfioctl detach recorded, by where each is now: vfio (a vfio driver), "
                   + "host (a host driver), unbound, absent (not on the host).")
        counts(input.detached.map(\.address), in: snapshot, as: "vfioctl_detached_functions", into: &out)
        out.family("vfioctl_persisted_functions", "Functions vfioctl persist records to bind to vfio at boot, by where each is now: "
                   + "vfio (a vfio driver), host (a host driver), unbound, absent (not on the host).")
        counts(input.persisted.map(\.address), in: snapshot, as: "vfioctl_persisted_functions", into: &out)

        var found: [String: [Finding.Severity: Int]] = [:]
        for finding in findings(snapshot, facts) { found[finding.id, default: [:]][finding.severity, default: 0] += 1 }
        out.family("vfioctl_check_findings", "The host's findings of 'vfioctl check' (no target), by id and severity "
                   + "(error, warning, info); the locked-memory limit of vfioctl's own process is left out.")
        for id in found.keys.sorted() {
            for severity in Finding.Severity.allCases {
                if let count = found[id]?[severity] { out.sample("vfioctl_check_findings", [("id", id), ("severity", severity.rawValue)], count) }
            }
        }

        out.family("vfioctl_iommu_enabled", "1 when an IOMMU is on (the kernel made IOMMU groups), by its kind: intel, amd, "
                   + "virtio (empty: nothing names one).")
        out.sample("vfioctl_iommu_enabled", "kind", snapshot.iommu.kind?.rawValue ?? "", snapshot.iommu.hasGroups ? 1 : 0)
        out.family("vfioctl_interrupt_remapping_enabled", "1 when interrupts are remapped (IR- chips in /proc/interrupts); "
                   + "without it vfio refuses every group unless unsafe interrupts are allowed.")
        out.sample("vfioctl_interrupt_remapping_enabled", [], facts.interruptRemappingActive ? 1 : 0)

        if let run = input.lastApply {
            out.family("vfioctl_last_apply_timestamp_seconds", "When the last 'vfioctl apply' ended, in seconds since the epoch.")
            out.sample("vfioctl_last_apply_timestamp_seconds", [], value: run.endedText)
            out.family("vfioctl_last_apply_success", "1 when the last 'vfioctl apply' made the host match its pool file; "
                       + "0 when it failed (and was rolled back) or was refused.")
            out.sample("vfioctl_last_apply_success", [], run.outcome == .ok ? 1 : 0)
            out.family("vfioctl_last_apply_changes", "Changes the last 'vfioctl apply' made (0 when nothing differed, or it did not succeed).")
            out.sample("vfioctl_last_apply_changes", [], run.changes)
        }

        if let mdevs = facts.mdevs {
            out.family("vfioctl_mdev_available_instances", "More mediated devices of the type its parent can create now "
                       + "(available_instances; shared between a parent's types).")
            for parent in mdevs.parents.sorted(by: { $0.name < $1.name }) {
                for type in parent.types.sorted(by: { $0.id < $1.id }) {
                    guard let available = type.availableInstances else { continue }
                    out.sample("vfioctl_mdev_available_instances", [("parent", parent.name), ("type", type.id)], available)
                }
            }
        }
        return out.text
    }

    /// One sample per `RecordedState`, zeros included (an alert on a state needs no absent()).
    static func counts(_ addresses: [PCIAddress], in snapshot: HostSnapshot, as name: String, into out: inout Exposition) {
        var counts: [RecordedState: Int] = [:]
        for address in Set(addresses) { counts[RecordedState(snapshot.function(address)), default: 0] += 1 }
        for state in RecordedState.allCases { out.sample(name, "state", state.rawValue, counts[state] ?? 0) }
    }
}

/// Text in Prometheus's exposition format: `# HELP` and `# TYPE` lines, then samples, label
/// values and help text escaped as the format asks (backslash, double quote, newline). Written
/// as bytes: a host with thousands of functions has as many samples, every minute.
struct Exposition {
    private var bytes: [UInt8] = []

    var text: String { String(decoding: bytes, as: UTF8.self) }

    mutating func reserve(_ count: Int) { bytes.reserveCapacity(count) }

    mutating func family(_ name: String, _ help: String, type: String = "gauge") {
        raw("# HELP " + name + " ")
        escaped(help, quote: false)
        raw("\n# TYPE " + name + " " + type + "\n")
    }

    mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Int) {
        sample(name, labels, value: String(value))
    }

    mutating func sample(_ name: String, _ label: String, _ content: String, _ value: Int) {
        sample(name, [(label, content)], value: String(value))
    }

    mutating func sample(_ name: String, _ labels: [(String, String)], value: String) {
        self.name(name)
        for (position, (label, content)) in labels.enumerated() {
            self.label(label, first: position == 0)
            escaped(content)
        }
        raw(labels.isEmpty ? " " : "\"} ")
        raw(value)
        bytes.append(UInt8(ascii: "\n"))
    }

    // The pieces of a sample line: name, then `label` + value for each label, then `value`.

    mutating func name(_ name: String) { raw(name) }

    /// `{label="` for the first, `",label="` after.
    mutating func label(_ label: String, first: Bool = false) {
        raw(first ? "{" : "\",")
        raw(label)
        raw("=\"")
    }

    /// Closes the labels (`"}`) and writes the value.
    mutating func value(_ value: Int) {
        raw("\"} ")
        decimal(value)
        bytes.append(UInt8(ascii: "\n"))
    }

    mutating func raw(_ text: String) { bytes.append(contentsOf: text.utf8) }

    mutating func decimal(_ value: Int) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        let magnitude = value.magnitude
        var divisor: UInt = 1
        while magnitude / divisor >= 10 { divisor *= 10 }
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(magnitude / divisor % 10))
            divisor /= 10
        }
    }

    /// Lower-case hex, zero-padded to `width` digits.
    mutating func hex(_ value: UInt64, width: Int) {
        let digits = max(width, max(1, (64 - value.leadingZeroBitCount + 3) / 4))
        for shift in stride(from: (digits - 1) * 4, through: 0, by: -4) { bytes.append(HexDigits.lower[Int((value >> UInt64(shift)) & 0xf)]) }
    }

    /// `\` → `\\`, newline → `\n`, and in label values `"` → `\"`.
    mutating func escaped(_ text: String, quote: Bool = true) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): raw("\\\\")
            case UInt8(ascii: "\n"): raw("\\n")
            case UInt8(ascii: "\"") where quote: raw("\\\"")
            default: bytes.append(byte)
            }
        }
    }
}
