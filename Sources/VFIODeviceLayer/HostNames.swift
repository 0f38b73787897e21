import VFIOCore

/// The names a shell completes (`vfioctl` answering Tab): PCI functions, IOMMU groups, SR-IOV PFs
/// with their interfaces, VFs. Read cheaply, from directory listings and one attribute or link per
/// function (no config space, no pci.ids), since a person is waiting. Nothing here fails: what
/// cannot be read is not there. Mediated devices come from `MdevReader`.
public struct HostNames: Sendable {
    public let root: HostRoot

    public init(root: HostRoot) { self.root = root }

    /// Every PCI function, sorted.
    public func functions() -> [PCIAddress] {
        (root.entries(SysfsLayout.busDevices) ?? []).compactMap { PCIAddress($0) }.sorted()
    }

    /// Every IOMMU group number, sorted (mdevs' groups are among them, as the kernel lists them).
    public func groups() -> [Int] {
        (root.entries(SysfsLayout.iommuGroups) ?? []).compactMap { Int($0) }.filter { $0 >= 0 }.sorted()
    }

    /// The SR-IOV VFs (functions with a `physfn` link), sorted.
    public func virtualFunctions() -> [PCIAddress] {
        functions().filter { root.link(SysfsLayout.busDevices + "/\($0)/physfn") != nil }
    }

    /// The SR-IOV PFs (`sriov_totalvfs` above 0) and the network interfaces on each, sorted.
    public func physicalFunctions() -> [(address: PCIAddress, interfaces: [String])] {
        functions().compactMap { address in
            let directory = SysfsLayout.busDevices + "/\(address)"
            guard let total = root.text(directory + "/sriov_totalvfs", limit: 64).flatMap({ SysfsValues.int($0.trimmingWhitespace()) }), total > 0 else { return nil }
            return (address, (root.entries(directory + "/net") ?? []).sorted())
        }
    }
}
