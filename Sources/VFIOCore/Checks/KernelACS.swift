/// ACS as the kernel weighs it when it forms IOMMU groups, so a finding can name the real reason
/// a group holds more than one device. Mirrors drivers/pci/pci.c `pci_acs_enabled` and
/// `pci_acs_flags_enabled`, and drivers/iommu/iommu.c `pci_device_group`:
///
/// - A function's DMA is first aliased: behind a PCIe-to-PCI(-X) bridge or a conventional PCI
///   bridge every device shares the bridge's requester ID (`pci_for_each_dma_alias`), so no ACS
///   anywhere separates them.
/// - Then the walk goes upstream, bus by bus, until a bridge whose whole path to the root has
///   ACS enabled for the required flags (`REQ_ACS_FLAGS`: Source Validation, P2P Request and
///   Completion Redirect, Upstream Forwarding); a bridge without it joins its group to the ones below.
/// - Functions of a multifunction device that lack ACS share a group (`get_pci_function_alias_group`).
///
/// A required flag the port does not implement counts as enabled (`acs_flags &= cap | EC`):
/// "features missing from the capability field can therefore be assumed as hard-wired enabled".
public enum KernelACS {
    /// REQ_ACS_FLAGS.
    public static let required: [ACSCapability.Bit] = [.sourceValidation, .requestRedirect, .completionRedirect, .upstreamForwarding]
    static let requiredMask = required.reduce(UInt16(0)) { $0 | $1.rawValue }

    /// What the kernel's ACS answers depend on besides the function: the host's IOMMU.
    public struct Host: Sendable {
        /// The firmware has an IVRS table (AMD-Vi).
        public var ivrs: Bool
        /// An IOMMU is active (groups exist): it asked the kernel to enable ACS at boot.
        public var iommu: Bool

        public init(ivrs: Bool, iommu: Bool) {
            self.ivrs = ivrs
            self.iommu = iommu
        }

        public init(_ snapshot: HostSnapshot) {
            self.init(ivrs: snapshot.iommu.acpiTables.contains(IOMMUKind.amd.table), iommu: snapshot.iommu.hasGroups)
        }
    }

    /// What keeps `f` from isolating what is below it (or its sibling functions), as a phrase;
    /// nil when the kernel treats it as isolating; `.unknown` when config space was not readable.
    public enum Verdict: Equatable, Sendable {
        case isolates
        case doesNotIsolate(String)
        case unknown
    }

    /// `pci_acs_enabled(f, REQ_ACS_FLAGS)`, with the reason when it is false.
    public static func verdict(_ f: PCIFunction, _ host: Host) -> Verdict {
        if let quirk = KernelACSQuirks.isolates(f, ivrs: host.ivrs, iommu: host.iommu) {
            return quirk ? .isolates : .doesNotIsolate("the kernel's ACS quirk table says it does not isolate (\(f.ids))")
        }
        guard let isPCIe = f.isPCIe else { return .unknown }
        guard isPCIe else {
            return .doesNotIsolate("it is conventional PCI: devices on a shared PCI bus can always reach each other")
        }
        switch f.capabilities?.pcieType {
        case .pcieToPCIBridge?, .pciToPCIeBridge?:
            return .doesNotIsolate("it is a \(f.capabilities?.pcieType?.name.replacingUnderscores ?? "PCI bridge"), "
                                   + "which ACS never applies to (the kernel treats it as conventional PCI)")
        case .rootComplexEventCollector?:
            return .doesNotIsolate("it is a root complex event collector, which ACS never applies to")
        case .rootPort?, .downstreamPort?:
            return flags(f)
        case .endpoint?, .legacyEndpoint?, .upstreamPort?, .rootComplexIntegratedEndpoint?:
            // ACS matters for these only as functions of a multifunction device (PCIe 6.12.1.2).
            return f.isMultifunction == true ? flags(f) : .isolates
        case nil:
            // A PCIe capability with a type this model does not know, or an unreadable one.
            return f.capabilities?.listReadable == true ? .isolates : .unknown
        }
    }

    /// `pci_acs_flags_enabled(f, REQ_ACS_FLAGS)`: every required flag the ACS capability
    /// implements is enabled.
    static func flags(_ f: PCIFunction) -> Verdict {
        guard let caps = f.capabilities, caps.extendedConfigReadable else { return .unknown }
        guard let acs = caps.acs else { return .doesNotIsolate("it has no ACS capability") }
        let off = required.filter { acs.supports($0) && !acs.enables($0) }
        guard off.isEmpty else {
            return .doesNotIsolate("its ACS has " + off.map(\.name).joined(separator: ", ") + " implemented but not enabled")
        }
        return .isolates
    }

    /// The bridge whose bus every device below shares a requester ID on: the nearest
    /// conventional PCI or PCIe-to-PCI(-X) bridge above `address` (pci_for_each_dma_alias).
    public static func aliasingBridge(of address: PCIAddress, in snapshot: HostSnapshot) -> PCIFunction? {
        snapshot.upstreamPath(of: address).last { bridge in
            bridge.isPCIe == false || bridge.capabilities?.pcieType == .pcieToPCIBridge
        }
    }
}
