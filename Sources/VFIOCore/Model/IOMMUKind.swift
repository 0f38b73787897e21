/// Which IOMMU a host has, as the evidence names it: the firmware's ACPI table (DMAR, IVRS,
/// VIOT) and the units the kernel registered in /sys/class/iommu.
public enum IOMMUKind: String, Sendable, Equatable, CaseIterable {
    case intel
    case amd
    case virtio

    /// How findings and `groups` name it.
    public var name: String {
        switch self {
        case .intel: "Intel VT-d (DMAR)"
        case .amd: "AMD-Vi (IVRS)"
        case .virtio: "virtio-iommu (VIOT)"
        }
    }

    /// The ACPI table that describes it.
    public var table: String {
        switch self {
        case .intel: "DMAR"
        case .amd: "IVRS"
        case .virtio: "VIOT"
        }
    }

    /// The kernel option that builds its driver.
    public var configOption: String {
        switch self {
        case .intel: "CONFIG_INTEL_IOMMU"
        case .amd: "CONFIG_AMD_IOMMU"
        case .virtio: "CONFIG_VIRTIO_IOMMU"
        }
    }

    /// The driver's module when it can be one (Intel's and AMD's drivers are always built in).
    public var module: String? { self == .virtio ? "virtio_iommu" : nil }

    /// Command-line switches that turn it off. `iommu=off` (no_iommu) stops the x86 drivers'
    /// detection (amd_iommu_detect, detect_intel_iommu); virtio-iommu does not look at it.
    public var offSwitches: [String] {
        switch self {
        case .intel: ["intel_iommu=off", "iommu=off"]
        case .amd: ["amd_iommu=off", "iommu=off"]
        case .virtio: []
        }
    }

    public init?(table: String) {
        guard let kind = IOMMUKind.allCases.first(where: { $0.table == table }) else { return nil }
        self = kind
    }

    /// A /sys/class/iommu entry: `dmarN` (intel-iommu), `ivhdN` (amd-iommu); virtio-iommu names
    /// its unit after the virtio device's bus name (virtio_bus_name: the PCI function's address
    /// for virtio-pci, "virtio-mmio" for virtio-mmio).
    public init?(unit: String) {
        if unit.hasPrefix("dmar") {
            self = .intel
        } else if unit.hasPrefix("ivhd") {
            self = .amd
        } else if unit.hasPrefix("virtio") || PCIAddress(unit) != nil {
            self = .virtio
        } else {
            return nil
        }
    }

    /// The kind a CPU vendor's hosts have, for hints when nothing describes an IOMMU.
    public init?(cpu: CPUVendor) {
        switch cpu {
        case .intel: self = .intel
        case .amd, .hygon: self = .amd
        case .other: return nil
        }
    }
}

extension IOMMUState {
    /// The kinds of IOMMU the evidence names, most direct first: registered units, then the
    /// firmware's tables. Empty when nothing describes one.
    public var kinds: [IOMMUKind] {
        var kinds: [IOMMUKind] = []
        for kind in units.compactMap(IOMMUKind.init(unit:)) + acpiTables.compactMap(IOMMUKind.init(table:))
        where !kinds.contains(kind) {
            kinds.append(kind)
        }
        return kinds
    }

    /// The IOMMU this host has, when anything names one.
    public var kind: IOMMUKind? { kinds.first }
}

/// The options of interest in the running kernel's build configuration (/boot/config-RELEASE).
public struct KernelConfig: Sendable, Equatable {
    /// The options the checks ask about.
    public static let optionsOfInterest: Set<String> = [
        "CONFIG_INTEL_IOMMU", "CONFIG_INTEL_IOMMU_DEFAULT_ON", "CONFIG_INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF",
        "CONFIG_INTEL_IOMMU_DEFAULT_OFF", "CONFIG_AMD_IOMMU", "CONFIG_VIRTIO_IOMMU", "CONFIG_IRQ_REMAP",
        // iommufd and the VFIO device cdev (IOMMUFD.status).
        "CONFIG_IOMMUFD", "CONFIG_VFIO_DEVICE_CDEV", "CONFIG_VFIO_GROUP", "CONFIG_VFIO_CONTAINER", "CONFIG_IOMMUFD_VFIO_CONTAINER",
    ]

    /// Where it was read ("/boot/config-6.1.0-56-amd64", or "/proc/config.gz").
    public var path: String
    /// Values of the options set ("y", "m", a string); an option not set is absent.
    public var values: [String: String]

    public init(path: String, values: [String: String], mentioned: Set<String> = []) {
        self.path = path
        self.values = values
        self.mentioned = mentioned
    }

    /// The option's value, nil when it is not set ("# CONFIG_X is not set", or not in the file).
    public func value(_ option: String) -> String? { values[option] }

    /// How the file says an option is not set: "# CONFIG_X is not set in PATH" when it says so,
    /// "CONFIG_X is not in PATH" when the option is absent (a kernel from before it existed).
    public func notSet(_ option: String) -> String {
        (mentioned.contains(option) ? "# \(option) is not set in " : "\(option) is not in ") + path
    }

    /// Options of interest the file names as "# CONFIG_X is not set".
    public var mentioned: Set<String> = []

    /// The setting by which this kernel leaves VT-d off unless intel_iommu=on, or nil when it
    /// turns it on by itself. Upstream has one option, CONFIG_INTEL_IOMMU_DEFAULT_ON; Debian and
    /// Ubuntu make it a choice of DEFAULT_ON, DEFAULT_ON_INTGPU_OFF (theirs: on, but for an
    /// integrated GPU) and DEFAULT_OFF.
    public var intelIOMMUDefaultOff: String? {
        if value("CONFIG_INTEL_IOMMU_DEFAULT_OFF") == "y" { return "CONFIG_INTEL_IOMMU_DEFAULT_OFF=y" }
        if value("CONFIG_INTEL_IOMMU_DEFAULT_ON") == nil && value("CONFIG_INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF") == nil {
            return "CONFIG_INTEL_IOMMU_DEFAULT_ON is not set"
        }
        return nil
    }

    /// Built in or as a module.
    public func builds(_ option: String) -> Bool { value(option) == "y" || value(option) == "m" }

    /// "CONFIG_X=y" lines of the options asked about; "# CONFIG_X is not set" and absent both
    /// mean not set.
    public static func parse(_ text: String, path: String, options: Set<String> = optionsOfInterest) -> KernelConfig {
        var values: [String: String] = [:]
        var mentioned: Set<String> = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# CONFIG_"), line.hasSuffix(" is not set") {
                let name = String(line.dropFirst(2).dropLast(" is not set".count))
                if options.contains(name) { mentioned.insert(name) }
                continue
            }
            guard line.hasPrefix("CONFIG_") else { continue }
            guard let equals = line.firstIndex(of: "=") else { continue }
            let name = String(line[..<equals])
            guard options.contains(name) else { continue }
            var value = line[line.index(after: equals)...]
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = value.dropFirst().dropLast() }
            values[name] = String(value)
        }
        return KernelConfig(path: path, values: values, mentioned: mentioned)
    }
}

/// The kernel's log as /dev/kmsg gives it: one record per line, "PRI,SEQ,USEC,FLAGS;message",
/// continuation lines (" KEY=value") after it.
public enum KernelLog {
    /// What the IOMMU checks quote: the drivers' prefixes (pr_fmt "DMAR: ", "DMAR-IR: ",
    /// "AMD-Vi: ", the core's "iommu: "), virtio-iommu's device messages, and the
    /// interrupt-remapping lines; not each device's "Adding to iommu group N".
    static let relevantWords = ["DMAR", "AMD-Vi", "IVRS", "VIOT", "virtio_iommu", "iommu:", "IOMMU", "remapping", "x2apic"]

    /// The messages of the records in `text`, in order; lines without a record header are
    /// taken as messages (a log saved as text), continuation lines are left out.
    public static func messages(_ text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            if line.hasPrefix(" ") { return nil }
            // The header: "PRI,SEQ,USEC,FLAGS" and, since 5.10, ",caller=T1" and the like.
            if let semicolon = line.firstIndex(of: ";"), line.first?.isNumber == true,
               line[..<semicolon].contains(","), !line[..<semicolon].contains(" ") {
                return String(line[line.index(after: semicolon)...])
            }
            return String(line)
        }
    }

    /// The messages the IOMMU checks may quote.
    public static func relevant(_ messages: [String]) -> [String] {
        messages.filter { message in relevantWords.contains { message.contains($0) } }
    }
}

/// Interrupt chips as /proc/interrupts names them: one per kind on Linux 6.1 ("IR-PCI-MSI"),
/// one per device and kind since the per-device MSI domains ("IR-PCI-MSIX-0000:00:02.0").
public enum InterruptChips {
    /// "IR-PCI-MSIX-0000:00:02.0" → ("IR-PCI-MSIX", 0000:00:02.0); "IR-IO-APIC" → ("IR-IO-APIC", nil).
    public static func split(_ chip: String) -> (kind: String, device: PCIAddress?) {
        if let dash = chip.lastIndex(of: "-"), let device = PCIAddress(String(chip[chip.index(after: dash)...])) {
            return (String(chip[..<dash]), device)
        }
        return (chip, nil)
    }

    /// "IR-IO-APIC, IR-PCI-MSIX on 12 devices": each kind once, with how many devices have one.
    public static func summary(_ chips: some Sequence<String>) -> String {
        var devices: [String: Set<PCIAddress>] = [:]
        for chip in chips {
            let (kind, device) = split(chip)
            devices[kind, default: []].formUnion(device.map { [$0] } ?? [])
        }
        return devices.keys.sorted().map { kind in
            let count = devices[kind]?.count ?? 0
            return count == 0 ? kind : kind + " on \(count) " + (count == 1 ? "device" : "devices")
        }.joined(separator: ", ")
    }
}
