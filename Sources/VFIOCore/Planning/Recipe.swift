/// The one way each driver change is written as steps, used by every planner and by the actuator
/// (which expands `bind-vfs` for the VFs it finds). driver_override decides which driver may take
/// the function, so only that function moves: other devices with the same IDs stay where they are.
public enum Recipe {
    /// What a planner knows of a function's binding: as read, or nothing yet (a VF to be created).
    public enum Now: Sendable, Equatable {
        case bound(driver: String?, override: String?)
        case unknown

        public init(_ f: PCIFunction?) {
            self = f.map { .bound(driver: $0.driver, override: $0.driverOverride) } ?? .unknown
        }

        var driver: String? { if case .bound(let driver, _) = self { driver } else { nil } }
    }

    /// Onto `driver`: override names it, unbind from anything else, probe, verify.
    public static func bind(_ a: PCIAddress, to driver: String, from now: Now) -> [Step] {
        var steps: [Step] = []
        if case .bound(_, let override) = now, override == driver {} else { steps.append(.setOverride(a, driver)) }
        if case .bound(nil, _) = now {} else { steps.append(.unbind(a, current: now.driver, keeping: driver)) }
        return steps + [.probe(a), .expect(a, .driver(driver))]
    }

    /// Off vfio, to whatever host driver the kernel picks (or none): override cleared, unbound only
    /// from vfio (a host driver it is on stays; an unbind step would take any driver, so none is
    /// planned for a function not known to be on vfio), probe, verify.
    public static func release(_ a: PCIAddress, from now: Now) -> [Step] {
        [.setOverride(a, nil)] + (StubDriver.isVFIO(now.driver) ? [.unbind(a, current: now.driver, keeping: nil)] : [])
            + [.probe(a), .expect(a, .notVFIO)]
    }

    /// No driver at all, override set to `override` (nil clears it).
    public static func unbind(_ a: PCIAddress, override: String?, from now: Now) -> [Step] {
        [.setOverride(a, override), .unbind(a, current: now.driver, keeping: nil), .expect(a, .unbound)]
    }

    /// Back exactly as `binding` says, from whatever state it is in: driver_override names the
    /// recorded driver while the kernel probes (so that driver, and no other that matches the ID,
    /// takes it), then gets its recorded value back. Reattach, rollback and recover use it.
    public static func restore(_ binding: FunctionBinding, pciDrivers: Set<String>?) -> [Step] {
        let a = binding.address
        guard let driver = binding.driver else { return unbind(a, override: binding.override, from: .unknown) }
        var steps: [Step] = []
        if pciDrivers?.contains(driver) != true, let module = binding.module {
            steps.append(.loadModule(module: module, driver: driver))
        }
        steps += bind(a, to: driver, from: .unknown)
        if binding.override != driver { steps.append(.setOverride(a, binding.override)) }
        return steps
    }

    /// A VF onto its host driver (the kernel's pick by ID: iavf, igbvf, ixgbevf ...): override
    /// cleared, off vfio, probed, verified on a host driver. The kernel probes a VF only while its
    /// PF's sriov_drivers_autoprobe is 1 or its driver_override is set (drivers/pci/pci-driver.c,
    /// pci_device_can_probe; drivers_probe and a driver's bind both go through it), so with
    /// autoprobe off (`autoprobe` false) it is turned on around this VF's probe and off after:
    /// only a probe of this VF runs in between. A VF on a host driver stays.
    public static func hostVF(_ vf: PCIAddress, pf: PCIAddress, autoprobe: Bool, from now: Now) -> [Step] {
        var steps: [Step] = [.setOverride(vf, nil)]
        if StubDriver.isVFIO(now.driver) { steps.append(.unbind(vf, current: now.driver, keeping: nil)) }
        guard !autoprobe else { return steps + [.probe(vf), .expect(vf, .hostDriver)] }
        return steps + [.setAttribute(pf, SRIOVPlanner.autoprobeAttribute, "1"), .probe(vf), .expect(vf, .hostDriver),
                        .setAttribute(pf, SRIOVPlanner.autoprobeAttribute, "0")]
    }

    /// The driver a VF is on, unbound and probed again (a driver that reads the VF's MAC from its PF
    /// only at probe, igbvf): driver_override names it meanwhile, so that driver, and no other, takes
    /// the VF back whatever the PF's autoprobe says; then the override gets its value back.
    public static func reload(_ vf: PCIAddress, driver: String, override: String?) -> [Step] {
        [.setOverride(vf, driver), .unbind(vf, current: driver, keeping: nil), .probe(vf), .expect(vf, .driver(driver)),
         .setOverride(vf, override)]
    }

    /// A VF of `bind-vfs`, as the actuator finds it: onto `driver`, or onto its host driver (nil);
    /// first checked to be a device `alias` matches, when the step names one.
    public static func bindVF(_ vf: PCIAddress, to driver: String?, alias: String?, pf: PCIAddress, autoprobe: Bool, from now: Now) -> [Step] {
        (alias.map { [.expect(vf, .device(alias: $0))] } ?? [])
            + (driver.map { bind(vf, to: $0, from: now) } ?? hostVF(vf, pf: pf, autoprobe: autoprobe, from: now))
    }

    /// The module a vfio driver pick needs loaded, unless its driver is registered already.
    public static func load(_ pick: VFIODriverChoice.Pick, _ facts: HostFacts) -> Step? {
        guard !pick.isVFIOPCI else { return loadVFIO(facts) }
        return facts.pciDrivers?.contains(pick.driver) == true ? nil : .loadModule(module: pick.module, driver: pick.driver)
    }

    /// vfio-pci's module, unless its driver is registered (or the module cannot be loaded: nil).
    public static func loadVFIO(_ facts: HostFacts) -> Step? {
        facts.pciDrivers?.contains(StubDriver.vfioPCI) == true ? nil : .loadModule(module: StubDriver.vfioPCI, driver: StubDriver.vfioPCI)
    }
}
