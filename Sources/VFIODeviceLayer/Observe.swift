import Dispatch
import VFIOCore

/// What one observation reads: which functions, and what else besides.
public struct ObservationScope: Sendable {
    public enum Functions: Sendable {
        /// Every function under sys/bus/pci/devices.
        case all
        /// `addresses`, the members of `groups`, and, from every function read, what
        /// `HostSnapshot.completing` names (its group, PF, slot: so it reads as in a full read) and
        /// what `following` names (a command's needs: `Preflight.readScope`, `InventoryText.showScope`),
        /// until nothing new is named. A few dozen directories instead of thousands.
        case around(addresses: [PCIAddress], groups: [Int] = [], following: @Sendable (PCIFunction) -> [ScopeLink] = { _ in [] })
    }

    /// How much of each function is read.
    public enum Depth: Sendable {
        /// All a `PCIFunction` holds.
        case full
        /// Only what identifies a function and where it is bound (`FunctionReader.summary`): ids
        /// and class, driver, vfio-dev, IOMMU group, NUMA node, PF, a PF's VF counts and VFs. No
        /// config space (capabilities, link, header type, BARs), revision, driver_override, reset
        /// methods, boot_vga, cdev, other SR-IOV attributes, net or block devices; `sysfsPath` is
        /// the sys/bus/pci/devices entry and `parent` is nil. What `metrics` reads every minute.
        case summary
    }

    public var functions: Functions
    /// `.full` unless asked otherwise. `.summary` applies to `.all`; `.around` reads every
    /// function in full (its rules follow what only a full read has: parents, slots, buses).
    public var depth: Depth
    /// Names from pci.ids.
    public var names: Bool
    /// Each group's `type` and `reserved_regions`.
    public var groupDetails: Bool
    /// The host's facts (FactsReader) for the functions read.
    public var facts: Bool
    /// The BARs with their sizes (the kernel's `resource` file) of the functions asked for (as
    /// `kernelModules`): only `show` prints them.
    public var regions: Bool
    /// Who holds each /dev/vfio/N open (a readlink per open file on the host, /proc/*/fd), into
    /// the facts' `vfioUsers`; implies `facts`.
    public var openGroups: Bool
    /// The kernel modules and vfio-pci variant drivers that could drive the functions asked for
    /// (the `addresses` of `.around`, every function of `.all`), from the root's module index
    /// through libkmod (`ModuleIndex`): `kernelModules`; and their vfio variants as `vfioVariants`.
    public var kernelModules: Bool
    /// The vfio-pci variant drivers of every function read, and the best of each, from the
    /// running kernel's modules.alias (`vfioVariantModules`, `vfioVariant`): what detach, persist
    /// and pools bind to.
    public var vfioVariants: Bool
    /// With `.summary`: the last summary, while the kernel reports no device change since
    /// (SummaryCache); the read is kept for the next run.
    public var reuseSummary = false

    public init(_ functions: Functions = .all, names: Bool = false, groupDetails: Bool = false, facts: Bool = false,
                openGroups: Bool = false, kernelModules: Bool = false, vfioVariants: Bool = false, regions: Bool = false,
                depth: Depth = .full) {
        self.functions = functions
        self.depth = depth
        self.regions = regions
        self.names = names
        self.groupDetails = groupDetails
        self.facts = facts
        self.openGroups = openGroups
        self.kernelModules = kernelModules
        self.vfioVariants = vfioVariants
    }

    /// The functions asked for by address; nil for every function.
    var askedFor: Set<PCIAddress>? {
        switch functions {
        case .all: nil
        case .around(let addresses, _, _): Set(addresses)
        }
    }
}

/// Network interfaces and block devices, by the function they sit on, sorted by name.
struct AttachedDeviceNames {
    var net: [PCIAddress: [String]] = [:]
    var block: [PCIAddress: [String]] = [:]
}

extension DeviceLayer {
    /// Reads what `scope` asks for. Both enumerations end in the same attach pass and make the
    /// snapshot the same way, so a function reads the same whichever read it (DeviceLayerTests
    /// pins this on every fixture).
    public func observe(_ scope: ObservationScope) throws(VFIOError) -> Observation {
        let namer = scope.names ? SendableBox(try LibPCI(root: root, idsPath: idsPath)) : nil
        let loading = DispatchGroup()
        var read: (functions: [PCIFunction], devices: AttachedDeviceNames)
        var names = namer?.value
        switch scope.functions {
        case .all:
            // pci.ids loads on its own thread while the functions are read.
            if let namer { DispatchQueue.global().async(group: loading) { namer.value.loadNames() } }
            read = try readEverything(scope.depth, reuse: scope.reuseSummary)
            loading.wait()
        case .around(let addresses, let groups, let following):
            read = try readAround(addresses, groups: groups, following: following)
            // A few functions: only their devices' part of pci.ids, not all of it.
            let devices = Dictionary(grouping: read.functions, by: \.vendorID).mapValues { Set($0.map(\.deviceID)) }
            let vendors = Set(read.functions.compactMap(\.subsystemVendorID))
            if let whole = names { names = whole.excerpt(root: root, devices: devices, vendors: vendors) ?? whole }
        }
        var functions = read.functions
        read.functions = []  // the one reference left: attach changes the functions in place, not a copy
        attach(&functions, read.devices, names: names)
        if scope.kernelModules { try attachKernelModules(&functions, only: scope.askedFor) }
        if scope.vfioVariants || scope.kernelModules {
            try attachVFIOVariants(&functions, only: scope.vfioVariants ? nil : scope.askedFor)
        }
        if scope.regions {
            let reader = FunctionReader(root: root), asked = scope.askedFor
            for position in functions.indices where asked?.contains(functions[position].address) ?? true {
                if let bars = reader.resources(of: functions[position]) { functions[position].bars = bars }
            }
        }
        var groups = HostSnapshot.groups(of: functions)
        if scope.groupDetails {
            for position in groups.indices { try readGroupDetails(&groups[position]) }
        }
        let snapshot = HostSnapshot(functions: functions, groups: groups, iommu: iommuState(), cpuVendor: cpuVendor())
        guard scope.facts || scope.openGroups else { return Observation(snapshot: snapshot) }
        let reader = FactsReader(root: root)
        var facts = reader.read(for: snapshot.functions)
        if scope.openGroups { facts.vfioUsers = reader.vfioUsers() }
        return Observation(snapshot: snapshot, facts: facts)
    }

    /// What a function's own directory does not say, the same after either enumeration: names
    /// from pci.ids, a VF's index (its PF's `virtfnN` links), the module behind each driver, the
    /// network interfaces and block devices on it. (Whether it is part of a multifunction device
    /// is decided per slot when the HostSnapshot is made.)
    func attach(_ functions: inout [PCIFunction], _ devices: AttachedDeviceNames, names: LibPCI?) {
        if let names { name(&functions, with: names) }
        attachVFIndices(&functions)
        attachDriverModules(&functions)
        for position in functions.indices {
            let address = functions[position].address
            functions[position].netInterfaces = devices.net[address] ?? []
            functions[position].blockDevices = usableBlockDevices(devices.block[address] ?? [])
        }
    }

    /// Block devices as users see them: a hidden NVMe multipath path ("nvme0c0n1", the only
    /// /sys/class/block entry whose link names the controller's function) is replaced by its
    /// head ("nvme0n1") and the head's partitions, which live under the nvme-subsystem and so
    /// name no function. Without this a mounted root on nvme0n1p2 went unseen by the guard.
    func usableBlockDevices(_ names: [String]) -> [String] {
        guard names.contains(where: { BlockDevice.multipathHead(ofPath: $0) != nil }) else { return names }
        var usable = Set<String>()
        for name in names {
            guard let head = BlockDevice.multipathHead(ofPath: name) else { usable.insert(name); continue }
            usable.insert(head)
            for entry in root.entries(SysfsLayout.classBlock + "/" + head) ?? [] where BlockDevice.isPartition(entry, of: head) {
                usable.insert(entry)
            }
        }
        return usable.sorted()
    }
}

extension DeviceLayer {
    /// What a changing command plans from: the functions of `functions`, the host's facts for
    /// them, and, with `openGroups`, who holds each group open (a readlink per open file on the
    /// host: asked by the plans that refuse on it, which refuse when it was not read).
    public func observeForPlanning(_ functions: ObservationScope.Functions, openGroups: Bool, vfioVariants: Bool = false) throws(VFIOError)
        -> (snapshot: HostSnapshot, facts: HostFacts) {
        let seen = try observe(ObservationScope(functions, facts: true, openGroups: openGroups, vfioVariants: vfioVariants))
        guard let facts = seen.facts else { preconditionFailure("an observation with facts: true returned none") }
        return (seen.snapshot, facts)
    }
}
