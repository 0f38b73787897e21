/// What one observation of the host gave: the PCI functions it read and, when asked for, the
/// host's facts. Plain values; what was not read is nil, never empty.
public struct Observation: Sendable, Equatable {
    public var snapshot: HostSnapshot
    /// nil when the facts were not read.
    public var facts: HostFacts?

    public init(snapshot: HostSnapshot, facts: HostFacts? = nil) {
        self.snapshot = snapshot
        self.facts = facts
    }

    /// Who holds each /dev/vfio/N open; nil when that was not read.
    public var openGroups: [Int: [VFIOUser]]? { facts?.vfioUsers }
}

/// Something a read of part of the host follows from a function it has read: more functions
/// to read. The rules that say what to follow are pure (`HostSnapshot.completing`,
/// `Preflight.readScope`, `InventoryText.showScope`); the device layer only follows them.
public enum ScopeLink: Hashable, Sendable {
    /// This function.
    case function(PCIAddress)
    /// Every member of IOMMU group N.
    case group(Int)
    /// Every function of this function's slot (DDDD:BB:SS.0 to .7).
    case slot(PCIAddress)
    /// Every function on this function's bus, beside it below the same bridge: what a bus reset
    /// resets with it.
    case bus(PCIAddress)
}

extension HostSnapshot {
    /// What a snapshot holding `f` must hold besides, for f to read as a read of the whole host
    /// reads it: its group's members (a group is made from its members' links), its PF (a VF's
    /// index comes from the PF's `virtfnN` links), and, for any other function, the rest of its
    /// slot (multifunction is decided per slot, `assignMultifunction`).
    public static func completing(_ f: PCIFunction) -> [ScopeLink] {
        var links: [ScopeLink] = []
        if let group = f.iommuGroup { links.append(.group(group)) }
        if let pf = f.physfn { links.append(.function(pf)) } else { links.append(.slot(f.address)) }
        return links
    }
}
