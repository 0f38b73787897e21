/// An IOMMU group as the kernel exposes it under /sys/kernel/iommu_groups/N.
public struct IOMMUGroup: Sendable, Equatable {
    public var id: Int
    /// Member functions, sorted by address.
    public var members: [PCIAddress]
    /// Default domain type (`identity`, `DMA`, `DMA-FQ`, `blocked`, `unmanaged`), when readable.
    public var type: String?
    public var reservedRegions: [ReservedRegion]

    public init(id: Int, members: [PCIAddress], type: String? = nil, reservedRegions: [ReservedRegion] = []) {
        self.id = id
        self.members = members.sorted()
        self.type = type
        self.reservedRegions = reservedRegions
    }
}

/// One line of an IOMMU group's `reserved_regions`: "0x00000000fee00000 0x00000000feefffff msi".
public struct ReservedRegion: Sendable, Equatable {
    public var start: UInt64
    public var end: UInt64
    /// `direct` (an RMRR), `direct-relaxable`, `reserved` or `msi`.
    public var type: String

    public init(start: UInt64, end: UInt64, type: String) {
        self.start = start
        self.end = end
        self.type = type
    }
}

/// What the host's IOMMU looks like from sysfs, before any judgement.
public struct IOMMUState: Sendable, Equatable {
    /// Entries of /sys/class/iommu (`dmar0`, `ivhd0`, ...).
    public var units: [String]
    /// /sys/kernel/iommu_groups exists (it does whenever the IOMMU core is built in).
    public var groupsDirectoryExists: Bool
    /// Number of entries in /sys/kernel/iommu_groups that are not a mediated device's own group.
    public var groupCount: Int
    /// The groups of mediated devices (each mdev has one, IOMMU or not).
    public var mdevGroupCount = 0
    /// ACPI tables that describe an IOMMU: "DMAR" (Intel VT-d), "IVRS" (AMD-Vi), "VIOT"
    /// (virtio-iommu). Present means the firmware offers one, whether or not the kernel turned
    /// it on.
    public var acpiTables: [String]

    public init(units: [String], groupsDirectoryExists: Bool, groupCount: Int, acpiTables: [String] = []) {
        self.units = units
        self.groupsDirectoryExists = groupsDirectoryExists
        self.groupCount = groupCount
        self.acpiTables = acpiTables
    }

    /// No group at all: no function can be handed to VFIO.
    public var hasGroups: Bool { groupCount > 0 }
}

/// The CPU vendor, which decides the right IOMMU switches.
public enum CPUVendor: String, Sendable, Equatable {
    case intel = "GenuineIntel"
    case amd = "AuthenticAMD"
    case hygon = "HygonGenuine"
    case other = ""

    public init(vendorID: String?) {
        self = vendorID.flatMap(CPUVendor.init(rawValue:)) ?? .other
    }
}

/// Everything the device layer read from one host, as plain values.
public struct HostSnapshot: Sendable, Equatable {
    /// Every PCI function, sorted by address.
    public var functions: [PCIFunction]
    /// Groups built from the functions' `iommu_group` links, sorted by id (ids need not be contiguous).
    public var groups: [IOMMUGroup]
    public var iommu: IOMMUState
    public var cpuVendor: CPUVendor

    private var index: [PCIAddress: Int]

    /// `functions` is consumed: from a caller that has no more use for them, the multifunction
    /// pass changes them in place instead of copying thousands of functions.
    public init(functions: consuming [PCIFunction], groups: [IOMMUGroup], iommu: IOMMUState, cpuVendor: CPUVendor) {
        // The device layer hands them over sorted; sorting again would copy every function.
        // (Compared in place: a PCIFunction copied is some twenty retains.)
        var sorted = true
        for position in functions.indices.dropFirst() where !(functions[position - 1].address < functions[position].address) {
            sorted = false
            break
        }
        if !sorted { functions.sort { $0.address < $1.address } }
        HostSnapshot.assignMultifunction(&functions)
        var index: [PCIAddress: Int] = [:]
        index.reserveCapacity(functions.count)
        for position in functions.indices { index[functions[position].address] = position }
        self.functions = functions
        self.groups = groups.sorted { $0.id < $1.id }
        self.iommu = iommu
        self.cpuVendor = cpuVendor
        self.index = index
    }

    /// A function belongs to a multifunction device when function 0 of its slot sets header-type
    /// bit 7 (only function 0 need set it: QEMU, for one, sets it nowhere else) or the slot has
    /// more than one function. VFs are left out: with ARI they share slot numbers freely.
    static func assignMultifunction(_ functions: inout [PCIFunction]) {
        // Fields read in place: thousands of functions, each copy some twenty retains.
        var slots: [PCIAddress: (count: Int, bit: Bool?)] = [:]
        for position in functions.indices where functions[position].physfn == nil {
            let address = functions[position].address
            var slot = slots[address.slot] ?? (0, nil)
            slot.count += 1
            if address.function == 0 { slot.bit = functions[position].headerSaysMultifunction }
            slots[address.slot] = slot
        }
        for position in functions.indices {
            let header = functions[position].headerSaysMultifunction
            if functions[position].physfn != nil {
                functions[position].isMultifunction = header.map { _ in false }
                continue
            }
            guard let slot = slots[functions[position].address.slot] else { continue }
            if slot.count > 1 || slot.bit == true {
                functions[position].isMultifunction = true
            } else if let bit = slot.bit ?? header {
                functions[position].isMultifunction = bit
            }
        }
    }

    public func function(_ address: PCIAddress) -> PCIFunction? {
        index[address].map { functions[$0] }
    }

    public func group(_ id: Int) -> IOMMUGroup? {
        groups.first { $0.id == id }
    }

    /// The group of a function, when it has one.
    public func group(of address: PCIAddress) -> IOMMUGroup? {
        function(address)?.iommuGroup.flatMap(group)
    }

    /// The members of group `id` that are not bridges or ports: what a guest gets of it.
    public func endpoints(ofGroup id: Int) -> [PCIAddress] {
        group(id)?.members.filter { function($0)?.isBridge == false } ?? []
    }

    /// Bridges and ports from the function up to its root bus, nearest first.
    public func upstreamPath(of address: PCIAddress) -> [PCIFunction] {
        var path: [PCIFunction] = []
        var seen: Set<PCIAddress> = [address]
        var next = function(address)?.parent
        while let parent = next, seen.insert(parent).inserted, let bridge = function(parent) {
            path.append(bridge)
            next = bridge.parent
        }
        return path
    }

    /// Groups the functions' links name, with members from those links.
    public static func groups(of functions: [PCIFunction]) -> [IOMMUGroup] {
        var members: [Int: [PCIAddress]] = [:]
        for position in functions.indices {
            if let group = functions[position].iommuGroup { members[group, default: []].append(functions[position].address) }
        }
        return members.map { IOMMUGroup(id: $0.key, members: $0.value) }.sorted { $0.id < $1.id }
    }
}
