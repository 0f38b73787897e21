/// The kernel's rule for a group's viability (vfio.rst): the group can be handed to a guest only
/// when every member is unbound, on vfio-pci or a vfio variant driver, or on a driver the kernel
/// allows beside them. Since 5.19 (Lu Baolu's DMA-ownership series) those are the drivers flagged
/// driver_managed_dma (pcieport, pci-stub); before, vfio_dev_driver_allowed() let pci-stub and
/// any driver on a bridge (header type other than 0) through.
public struct GroupViability: Sendable, Equatable {
    public var id: Int
    public var members: [Member]

    public var viable: Bool { !members.contains { $0.blocks } }
    public var blocking: [Member] { members.filter(\.blocks) }

    public struct Member: Sendable, Equatable {
        public enum State: Sendable, Equatable {
            /// No driver: nothing on the host uses it.
            case unbound
            /// vfio-pci or a variant driver (mlx5_vfio_pci, ...).
            case vfio(String)
            /// A driver the kernel allows beside vfio (pcieport, pci-stub): it does not block.
            case allowed(String)
            /// A host driver: blocks until the function is detached.
            case hostDriver(String)
        }

        public var address: PCIAddress
        public var state: State
        public var isBridge: Bool
        /// libvirt will detach it itself when the guest starts (managed='yes' in the domain).
        public var detachedByLibvirt: Bool

        public var driver: String? {
            switch state {
            case .unbound: nil
            case .vfio(let name), .allowed(let name), .hostDriver(let name): name
            }
        }

        public var blocks: Bool {
            if case .hostDriver = state { return !detachedByLibvirt }
            return false
        }
    }
}

public enum Viability {
    /// Drivers flagged driver_managed_dma in the kernel (since 5.19).
    public static let driverManagedDMADrivers: Set<String> = ["pcieport", "pci-stub"]
    /// Before 5.19: vfio_driver_allowed[] in drivers/vfio/vfio.c.
    public static let allowedDriversBefore519: Set<String> = ["pci-stub"]

    public static func state(of f: PCIFunction, facts: HostFacts) -> GroupViability.Member.State {
        state(of: f, driverManagedDMA: facts.driverManagedDMA)
    }

    static func state(of f: PCIFunction, driverManagedDMA: Bool) -> GroupViability.Member.State {
        guard let driver = f.driver else { return .unbound }
        if StubDriver.isVFIO(f) { return .vfio(driver) }
        if driverManagedDMA {
            if driverManagedDMADrivers.contains(driver) { return .allowed(driver) }
        } else if allowedDriversBefore519.contains(driver) || (f.headerType.map { $0 & 0x7f != 0 } ?? f.isBridge) {
            return .allowed(driver)
        }
        return .hostDriver(driver)
    }

    /// Every group's verdict now, as `evaluate` gives it (viable unless a member blocks: is on a
    /// host driver), in one pass over the functions: `metrics` asks it of thousands of groups.
    public static func verdicts(_ snapshot: HostSnapshot, facts: HostFacts) -> [Int: Bool] {
        var viable: [Int: Bool] = [:]
        viable.reserveCapacity(snapshot.groups.count)
        let managedDMA = facts.driverManagedDMA
        for index in snapshot.functions.indices {
            guard let group = snapshot.functions[index].iommuGroup else { continue }
            if case .hostDriver = state(of: snapshot.functions[index], driverManagedDMA: managedDMA) {
                viable[group] = false
            } else if viable[group] == nil {
                viable[group] = true
            }
        }
        return viable
    }

    /// The viability of `group` now (or once libvirt has detached `managedByLibvirt`).
    public static func evaluate(_ group: IOMMUGroup, in snapshot: HostSnapshot, facts: HostFacts,
                                managedByLibvirt: Set<PCIAddress> = []) -> GroupViability {
        GroupViability(id: group.id, members: group.members.compactMap { address in
            guard let f = snapshot.function(address) else { return nil }
            return GroupViability.Member(address: address, state: state(of: f, facts: facts), isBridge: f.isBridge,
                                         detachedByLibvirt: managedByLibvirt.contains(address))
        })
    }
}
