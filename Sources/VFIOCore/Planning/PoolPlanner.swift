/// `vfioctl apply FILE`: the difference between a pool file and the host, as one plan. Per PF
/// (in file order): the VF count (through 0, autoprobe off unless every VF goes to the host
/// driver, as `sriov create`; on whenever every VF does), the PF's link up when VF settings need it, each VF's attributes
/// (one `set-vf` per attribute not already so), each VF's driver; then the devices to detach
/// (BindingPlanner.detach, its guard included). What is already as the file says plans no step,
/// so a second run changes nothing. PFs the file does not name are left alone. Pure.
public enum PoolPlanner {
    public static func plan(_ spec: PoolSpec, _ snapshot: HostSnapshot, _ facts: HostFacts, _ links: VFPlanner.Links,
                            saved: [VFOriginal]) -> Plan {
        var plan = Plan(operation: .apply)
        var assigned: [MACAddress: String] = [:]
        var poolVFs: [PCIAddress: String] = [:]
        for pool in spec.pfs {
            guard let address = resolve(pool, snapshot, &plan) else { continue }
            var part = Plan(operation: .apply)
            if let (pf, sriov) = SRIOVPlanner.physicalFunction(address, snapshot, &part) {
                add(pool, pf, sriov, snapshot, facts, links, saved: saved, assigned: &assigned, to: &part)
                for vf in sriov.vfs { poolVFs[vf] = pool.location }
            }
            part.findings = part.findings.map { located($0, pool) }
            merge(part, into: &plan)
        }
        if !spec.detach.isEmpty || !spec.detachGroups.isEmpty {
            for address in spec.detach {
                if let location = poolVFs[address] {
                    plan.findings.append(Finding("apply.detach-pool-vf", .error, address.description,
                                                 "\(address) is a VF of a PF the file provisions (\(location)): detaching it here would fight the pool",
                                                 hint: "give its index driver = \"vfio-pci\" in that [[pf.vf]] instead"))
                }
            }
            let detach = BindingPlanner.detach(.init(addresses: spec.detach, groups: spec.detachGroups, force: false), snapshot, facts)
            merge(detach, into: &plan)
            plan.groups = detach.groups
            plan.records.write += detach.records.write
        }
        if plan.refused { plan.steps = [] }
        return plan
    }

    /// One PF's count, link, VF attributes and drivers.
    static func add(_ pool: PFPool, _ pf: PCIFunction, _ sriov: SRIOVInfo, _ snapshot: HostSnapshot, _ facts: HostFacts,
                    _ links: VFPlanner.Links, saved: [VFOriginal], assigned: inout [MACAddress: String], to plan: inout Plan) {
        guard pool.count <= sriov.totalVFs else {
            plan.findings.append(Finding("sriov.count", .error, pf.address.description,
                                         "\(pf.address) supports at most \(sriov.totalVFs) VFs (sriov_totalvfs), not \(pool.count)",
                                         hint: "give vfs = \(sriov.totalVFs) or fewer"))
            return
        }
        let recount = sriov.numVFs != pool.count
        let drivers = (0..<pool.count).map { pool.settings(forVF: $0).driver ?? .vfio(.best) }
        plan.originals.vfCounts = [SRIOVOriginal(pf: pf.address, numVFs: sriov.numVFs, autoprobe: sriov.driversAutoprobe)]
        if recount {
            if sriov.numVFs > 0 {
                plan.findings += SRIOVPlanner.inUse(pf, sriov, snapshot, facts, action: "changing the VF count from \(sriov.numVFs) to \(pool.count)")
                plan.originals.bindings = sriov.vfs.compactMap { snapshot.function($0) }.map(FunctionBinding.init)
                plan.steps.append(.setAttribute(pf.address, SRIOVPlanner.numVFsAttribute, "0"))
            }
            plan.records.vfDropPFs = [pf.address]
        }
        guard pool.count > 0 else {
            if !recount { plan.unchanged = [pf.address] }
            return
        }
        // Autoprobe on when every VF goes to the host (also when the count stays: the kernel probes
        // no VF while it is off and its driver_override is empty), off for a new count otherwise;
        // a count that stays keeps what it has, and host VFs are probed around it (Recipe.hostVF).
        // New host VFs with settings appear unbound and are probed once the settings are made, so
        // their driver starts with the MAC the file gives (igbvf reads it only at probe).
        let allHost = drivers.allSatisfy { $0 == .host }
        let settingsFirst = recount && pool.setsVFAttributes
        var autoprobe = sriov.driversAutoprobe ?? true
        func setAutoprobe(_ on: Bool) {
            guard autoprobe != on else { return }
            autoprobe = on
            plan.steps.append(.setAttribute(pf.address, SRIOVPlanner.autoprobeAttribute, on ? "1" : "0"))
        }
        if recount {
            setAutoprobe(allHost && !settingsFirst)
            plan.steps.append(.setAttribute(pf.address, SRIOVPlanner.numVFsAttribute, String(pool.count)))
            plan.steps.append(.awaitVFs(pf.address, pool.count))
        }
        addSettings(pool, pf, recount: recount, links, saved: saved, assigned: &assigned, facts, to: &plan)
        if allHost { setAutoprobe(true) }
        addDrivers(drivers, pf, sriov, recount: recount, autoprobe: autoprobe, snapshot, facts, to: &plan)
        if plan.steps.isEmpty { plan.unchanged = [pf.address] }
    }

    /// The VF attributes (and the PF's link, when they need it up).
    static func addSettings(_ pool: PFPool, _ pf: PCIFunction, recount: Bool, _ links: VFPlanner.Links, saved: [VFOriginal],
                            assigned: inout [MACAddress: String], _ facts: HostFacts, to plan: inout Plan) {
        let wanted = (0..<pool.count).map { pool.settings(forVF: $0) }
        guard wanted.contains(where: \.setsAttributes) else { return }
        guard let interface = pf.netInterfaces.first(where: { links.vfs[$0] != nil }) ?? pf.netInterfaces.first else {
            plan.findings.append(Finding("sriov.no-netdev", .error, pf.address.description,
                                         "\(pf.address) (\(pf.displayName)) has no network interface: MAC, VLAN, trust and state are set through the PF's netdev",
                                         hint: "leave the VF settings out for this PF, or load its network driver"))
            return
        }
        var links = links
        // The VFs a new count makes start as the driver creates them: nothing is known of them yet,
        // so every setting is planned (each step still skips what is already so).
        if recount { links.vfs[interface] = (0..<pool.count).map { VFLinkConfig(index: $0) } }
        if let net = facts.network[interface], !net.isUp {
            plan.steps.append(.linkUp(interface))
            plan.findings.append(Finding("apply.pf-up", .info, pf.address.description,
                                         "\(interface) is down: apply brings it up first (drivers may drop VF settings made while the PF is down)"))
        }
        let current = links.vfs[interface] ?? []
        for (index, settings) in wanted.enumerated() {
            guard let config = current.first(where: { $0.index == index }) else {
                plan.findings.append(VFPlanner.noSuchVF(index, interface: interface, pf: pf.address, count: current.count))
                continue
            }
            var attributes = settings.attributes
            switch settings.mac {
            case .auto?:
                var refusal = Plan(operation: .apply)
                guard let mac = VFPlanner.automatic(interface, config, links, assigned: &assigned, &refusal) else {
                    plan.findings += refusal.findings
                    continue
                }
                attributes.append(.mac(mac))
            case .address(let mac)?:
                if let conflict = VFPlanner.macConflict(mac, vf: index, interface: interface, pf: pf.address, links, assigned: assigned) {
                    plan.findings.append(conflict)
                }
                assigned[mac] = "VF \(index) of \(interface)"
                attributes.append(.mac(mac))
            case nil: break
            }
            if recount {
                for attribute in VFPlanner.ordered(attributes) { plan.steps.append(.setVF(pf.address, interface: interface, vf: index, attribute)) }
            } else {
                VFPlanner.add(VFPlanner.ordered(attributes), for: config, pf: pf.address, interface: interface, saved: saved, to: &plan)
            }
        }
    }

    /// Each VF's driver: a vfio driver by driver_override (the best vfio-pci variant for the VF
    /// unless the file names one: for a VF not made yet, from its PF's sriov_vf_device, checked
    /// against the VF once it exists), the host driver by a probe, or none. A VF on a vfio driver
    /// stays where it is when the file asks only for the best one. A VF whose group a guest holds
    /// is not moved off vfio (the kernel's unbind would wait for the guest): an error finding.
    /// Host VFs come last, so that no VF meant for vfio or none is still unclaimed (empty
    /// override) while autoprobe is briefly on for them.
    static func addDrivers(_ drivers: [SRIOVPlanner.VFDriver], _ pf: PCIFunction, _ sriov: SRIOVInfo, recount: Bool, autoprobe: Bool,
                           _ snapshot: HostSnapshot, _ facts: HostFacts, to plan: inout Plan) {
        var loads: [Step] = []
        var steps: [Step] = []
        var hostSteps: [Step] = []
        var variants: [(pick: VFIODriverChoice.Pick, vfs: [Int])] = []
        for (index, driver) in drivers.enumerated() {
            let existing = recount ? nil : sriov.vfIndices[index]
            let predicted = sriov.offset.flatMap { offset in sriov.stride.flatMap { pf.address.virtfn(index, offset: offset, stride: $0) } }
            guard let vf = existing ?? predicted else {
                plan.findings.append(Finding("sriov.vf-address", .error, pf.address.description,
                                             "cannot tell VF \(index)'s address: \(pf.address) reports no sriov_offset / sriov_stride",
                                             hint: "create the VFs first (vfioctl sriov create), then apply"))
                return
            }
            let function = existing.flatMap { snapshot.function($0) }
            let current = function?.driver
            switch driver {
            case .vfio(let choice):
                let pick: VFIODriverChoice.Pick
                switch function.map({ choice.pick(for: $0) }) ?? choice.pick(forVFsOf: pf) {
                case .success(let chosen): pick = chosen
                case .failure(let finding):
                    if !plan.findings.contains(finding) { plan.findings.append(finding) }
                    continue
                }
                if let function {
                    if current == pick.driver || (choice == .best && StubDriver.isVFIO(function)) { continue }
                    guard movable(function, to: pick.driver, facts, &plan) else { continue }
                }
                if let load = Recipe.load(pick, facts), !loads.contains(load) { loads.append(load) }
                if !pick.isVFIOPCI {
                    if let seen = variants.firstIndex(where: { $0.pick == pick }) { variants[seen].vfs.append(index) } else { variants.append((pick, [index])) }
                }
                steps += pick.alias.map { [.expect(vf, .device(alias: $0))] } ?? []
                steps += Recipe.bind(vf, to: pick.driver, from: .init(function))
            case .host:
                if !recount, let function, SRIOVPlanner.onHostDriver(function) { continue }
                if let function { guard movable(function, to: "its host driver", facts, &plan) else { continue } }
                hostSteps += Recipe.hostVF(vf, pf: pf.address, autoprobe: autoprobe, from: .init(function))
            case .none:
                if !recount, current == nil, function?.driverOverride == nil { continue }
                if let function { guard movable(function, to: "no driver", facts, &plan) else { continue } }
                steps += Recipe.unbind(vf, override: nil, from: .init(function))
            }
            if let function { plan.originals.bindings.append(FunctionBinding(function)) }
        }
        for (pick, vfs) in variants {
            plan.findings.append(Finding(VFIODriverChoice.chosenID, .info, pf.address.description,
                                         "\(vfs.count == 1 ? "VF" : "VFs") \(indexText(vfs)) of \(pf.address) go\(vfs.count == 1 ? "es" : "") to \(pick.driver): \(pick.reason)"))
        }
        plan.steps += loads.filter { !plan.steps.contains($0) } + steps + hostSteps
    }

    /// "0-3, 5": indexes in order, runs shortened.
    static func indexText(_ indexes: [Int]) -> String {
        var runs: [ClosedRange<Int>] = []
        for index in indexes.sorted() {
            if let last = runs.last, last.upperBound + 1 == index { runs[runs.count - 1] = last.lowerBound...index } else { runs.append(index...index) }
        }
        return runs.map { $0.count == 1 ? String($0.lowerBound) : "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ", ")
    }

    /// Whether a VF may leave the driver it is on for `target`: not while a guest holds its group
    /// open on a vfio driver (an error finding names the guest, or says it could not be told).
    static func movable(_ vf: PCIFunction, to target: String, _ facts: HostFacts, _ plan: inout Plan) -> Bool {
        guard StubDriver.isVFIO(vf), let group = vf.iommuGroup else { return true }
        switch facts.holders(ofGroup: group) {
        case .known(let users) where !users.isEmpty:
            plan.findings.append(Finding("sriov.vf-in-use", .error, vf.address.description,
                                         "\(vf.address) would move from \(vf.driver ?? "vfio") to \(target), but group \(group) is open by "
                                             + users.map { "pid \($0.pid) \($0.command)" }.joined(separator: ", "),
                                         hint: "stop the guest using it, then run it again"))
            return false
        case .known: return true
        case .unknown:
            plan.findings.append(Finding.holdersUnknown(group, vf.address.description))
            return false
        }
    }

    /// The PF a pool names, or an error finding.
    static func resolve(_ pool: PFPool, _ snapshot: HostSnapshot, _ plan: inout Plan) -> PCIAddress? {
        switch pool.pf {
        case .address(let address): return address
        case .interface(let name):
            if let f = snapshot.function(interface: name) { return f.address }
            plan.findings.append(Finding("apply.no-pf", .error, name, "\(pool.location): there is no network interface '\(name)' on a PCI function of this host",
                                         hint: "'vfioctl sriov status' lists the PFs with their interfaces; name the PF by PCI address to be rename-proof"))
            return nil
        }
    }

    static func located(_ finding: Finding, _ pool: PFPool) -> Finding {
        var out = finding
        if finding.severity == .error { out.message = "\(pool.location): " + finding.message }
        return out
    }

    /// One PF's (or the detach's) plan into the whole.
    static func merge(_ part: Plan, into plan: inout Plan) {
        plan.findings += part.findings
        plan.steps += part.steps
        plan.originals.bindings += part.originals.bindings.filter { o in !plan.originals.bindings.contains { $0.address == o.address } }
        plan.originals.vfCounts += part.originals.vfCounts.filter { original in part.steps.contains { $0.address == original.pf } }
        plan.originals.vfSettings += part.originals.vfSettings
        plan.records.vfWrite += part.records.vfWrite
        plan.records.vfDropPFs += part.records.vfDropPFs
        plan.unchanged += part.unchanged
    }
}
