/// Plans detach and reattach of whole IOMMU groups. Pure: it reads a snapshot and facts, and
/// returns what to write, in order, with the guard's findings. The guard and viability rules are
/// the preflight's (HostCriticalGuard, Viability), not a second copy.
public enum BindingPlanner {
    /// What `detach` was asked: addresses (each stands for its whole group) and group numbers.
    public struct DetachRequest: Sendable, Equatable {
        public var addresses: [PCIAddress]
        public var groups: [Int]
        /// Override the host-critical guard (and only it).
        public var force: Bool
        /// The vfio driver for every function moved (`--driver`; the best variant by default).
        public var driver: VFIODriverChoice
        /// Per function, a driver that wins over `driver` (persist apply: what each record says).
        public var drivers: [PCIAddress: VFIODriverChoice]

        public init(addresses: [PCIAddress] = [], groups: [Int] = [], force: Bool = false, driver: VFIODriverChoice = .best,
                    drivers: [PCIAddress: VFIODriverChoice] = [:]) {
            self.addresses = addresses
            self.groups = groups
            self.force = force
            self.driver = driver
            self.drivers = drivers
        }

        /// The choice for one function.
        public func choice(_ address: PCIAddress) -> VFIODriverChoice { drivers[address] ?? driver }
    }

    /// What `reattach` was asked: addresses (their whole group), groups, or every recorded function.
    public struct ReattachRequest: Sendable, Equatable {
        public var addresses: [PCIAddress]
        public var groups: [Int]
        public var all: Bool

        public init(addresses: [PCIAddress] = [], groups: [Int] = [], all: Bool = false) {
            self.addresses = addresses
            self.groups = groups
            self.all = all
        }
    }

    // MARK: detach

    public static func detach(_ request: DetachRequest, _ snapshot: HostSnapshot, _ facts: HostFacts) -> Plan {
        var plan = Plan(operation: .detach)
        var groupIDs: [Int] = []
        for address in request.addresses {
            guard let f = snapshot.function(address) else { continue }
            if f.isBridge {
                plan.findings.append(Finding("device.bridge", .error, address.description,
                                             "\(address) is a bridge: bridges stay with the host driver they have",
                                             hint: "detach the devices behind it: vfioctl detach --group \(f.iommuGroup.map(String.init) ?? "N")"))
            }
            guard let group = f.iommuGroup else {
                plan.findings.append(Finding("device.no-group", .error, address.description,
                                             "\(address) is in no IOMMU group: vfio-pci cannot take it",
                                             hint: "turn the IOMMU on (vfioctl check says how)"))
                continue
            }
            if !groupIDs.contains(group) { groupIDs.append(group) }
        }
        for id in request.groups where !groupIDs.contains(id) { groupIDs.append(id) }
        plan.groups = groupIDs.sorted()

        var moving: [PCIFunction] = []
        for id in plan.groups {
            guard let group = snapshot.group(id) else { continue }
            let members = group.members.compactMap { snapshot.function($0) }
            let endpoints = members.filter { !$0.isBridge }
            let asked = Set(request.addresses)
            let others = endpoints.filter { !asked.contains($0.address) }
            if !asked.isDisjoint(with: group.members) && !others.isEmpty {
                plan.findings.append(Finding("group.whole", .info, "group \(id)",
                                             "group \(id) also holds " + others.map(\.address.description).joined(separator: ", ")
                                                 + ": the whole group goes to vfio-pci, or no guest can use any of it"))
            }
            // Bridges stay; one on a driver that blocks keeps the group from ever being viable.
            for bridge in members where bridge.isBridge {
                if case .hostDriver(let driver) = Viability.state(of: bridge, facts: facts) {
                    plan.findings.append(Finding("group.bridge-blocks", .error, "group \(id)",
                                                 "\(bridge.address) is a bridge on \(driver), which the kernel does not allow beside "
                                                     + "vfio: group \(id) cannot become viable by detaching its devices",
                                                 hint: "unbind \(driver) from \(bridge.address) by hand if nothing needs it"))
                }
            }
            for f in endpoints {
                if case .vfio = Viability.state(of: f, facts: facts) {
                    plan.unchanged.append(f.address)
                    continue
                }
                moving.append(f)
                plan.findings += guardFindings(f, facts, force: request.force)
                if let sriov = f.sriov, sriov.numVFs > 0, f.driver != nil {
                    plan.findings.append(Finding("detach.pf-has-vfs", .error, f.address.description,
                                                 "\(f.address) is an SR-IOV PF with \(sriov.numVFs) VFs enabled: unbinding its driver "
                                                     + "removes them (" + sriov.vfs.map(\.description).joined(separator: ", ") + ")",
                                                 hint: "stop the guests using them and set the VFs to 0 first "
                                                     + "(echo 0 > /sys/bus/pci/devices/\(f.address)/sriov_numvfs)"))
                }
            }
        }
        guard !moving.isEmpty else { return plan }

        // Each function's vfio driver: the best variant, or what --driver (or its record) says.
        var picks: [PCIAddress: VFIODriverChoice.Pick] = [:]
        for f in moving {
            switch request.choice(f.address).pick(for: f) {
            case .success(let pick):
                picks[f.address] = pick
                let recorded = request.drivers[f.address] != nil
                if !pick.isVFIOPCI || (!recorded && request.driver != .best) {
                    plan.findings.append(Finding(VFIODriverChoice.chosenID, .info, f.address.description,
                                                 "\(f.address) goes to \(pick.driver): " + (recorded ? "as its record says" : pick.reason)))
                }
            case .failure(let finding): plan.findings.append(finding)
            }
        }
        if picks.values.contains(where: \.isVFIOPCI), let load = Recipe.loadVFIO(facts) {
            if facts.modules.isAvailable(StubDriver.vfioModule) || facts.pciDrivers == nil {
                plan.steps.append(load)
            } else {
                plan.findings.append(Finding("vfio.module-missing", .error, Finding.host,
                                             "vfio-pci is neither loaded, built in, nor installed for this kernel",
                                             hint: "install the kernel's modules package (vfio-pci ships with it)"))
            }
        }
        // A variant driver's module is in modules.alias, so installed; loaded unless its driver is there.
        for pick in picks.values.sorted(by: { $0.module < $1.module }) where !pick.isVFIOPCI {
            if let load = Recipe.load(pick, facts), !plan.steps.contains(load) { plan.steps.append(load) }
        }
        for f in detachOrder(moving) {
            plan.originals.bindings.append(FunctionBinding(f))
            plan.steps += Recipe.bind(f.address, to: picks[f.address]?.driver ?? StubDriver.vfioPCI, from: .init(f))
            plan.records.write.append(FunctionBinding(f))
        }
        for id in Set(moving.compactMap(\.iommuGroup)).sorted() { plan.steps.append(.awaitGroupNode(id)) }
        return plan
    }

    /// The host-critical guard for a function leaving its host driver; with --force its error
    /// becomes a warning that says it was forced.
    static func guardFindings(_ f: PCIFunction, _ facts: HostFacts, force: Bool) -> [Finding] {
        guard case .hostDriver = Viability.state(of: f, facts: facts) else { return [] }
        return DeviceChecks.guardFindings(f, facts).map { finding in
            guard force, finding.id == DeviceChecks.hostCritical else { return finding }
            var forced = finding
            forced.severity = .warning
            forced.message = "--force: detaching it anyway. " + finding.message
            forced.hint = "what the host used it for stops working now"
            return forced
        }
    }

    /// Functions other than 0 first (a GPU's audio before the GPU), VFs before PFs, then by address.
    public static func detachOrder(_ functions: [PCIFunction]) -> [PCIFunction] {
        functions.sorted { a, b in
            let ka = (a.physfn == nil ? 1 : 0, a.address.function == 0 ? 1 : 0)
            let kb = (b.physfn == nil ? 1 : 0, b.address.function == 0 ? 1 : 0)
            return ka != kb ? ka < kb : a.address < b.address
        }
    }

    // MARK: reattach

    public static func reattach(_ request: ReattachRequest, records: [FunctionBinding], _ snapshot: HostSnapshot,
                                _ facts: HostFacts) -> Plan {
        var plan = Plan(operation: .reattach)
        let recorded = Dictionary(records.map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
        var targets: [PCIAddress] = []
        func add(_ address: PCIAddress) { if !targets.contains(address) { targets.append(address) } }
        var groupIDs = Set(request.groups)
        for address in request.addresses {
            if let group = snapshot.function(address)?.iommuGroup { groupIDs.insert(group) } else { add(address) }
        }
        for id in groupIDs.sorted() { snapshot.endpoints(ofGroup: id).forEach(add) }
        if request.all { for record in records { add(record.address) } }
        plan.groups = groupIDs.union(targets.compactMap { snapshot.function($0)?.iommuGroup }).sorted()

        var moving: [(PCIFunction, FunctionBinding?)] = []
        for address in targets.sorted() {
            let record = recorded[address]
            guard let f = snapshot.function(address) else {
                if record != nil {
                    plan.findings.append(Finding("reattach.gone", .warning, address.description,
                                                 "vfioctl detached \(address), but there is no such function now: its record is dropped"))
                    plan.records.drop.append(address)
                }
                continue
            }
            let onVFIO: Bool
            switch Viability.state(of: f, facts: facts) {
            case .vfio: onVFIO = true
            case .unbound: onVFIO = StubDriver.isVFIO(f.driverOverride) || (record != nil && record?.driver != nil)
            default: onVFIO = false
            }
            guard onVFIO else {
                plan.unchanged.append(address)
                if let record {
                    plan.records.drop.append(address)
                    if record.driver != f.driver {
                        plan.findings.append(Finding("reattach.moved", .warning, address.description,
                                                     "\(address) is on \(f.driver ?? "no driver") now, not vfio: left as it is "
                                                         + "(vfioctl recorded \(record.driverName) before detaching it)"))
                    }
                }
                continue
            }
            if let group = f.iommuGroup {
                switch facts.holders(ofGroup: group) {
                case .known(let users) where !users.isEmpty:
                    plan.findings.append(Finding("device.in-use", .error, address.description,
                                                 "group \(group) is open by " + users.map(\.description).joined(separator: ", ")
                                                     + ": unbinding vfio-pci now would block until that guest stops",
                                                 hint: "shut the guest down first (virsh shutdown), then reattach"))
                case .known: break
                case .unknown:
                    plan.findings.append(Finding.holdersUnknown(group, address.description))
                }
            }
            if record == nil {
                plan.findings.append(Finding("reattach.no-record", .info, address.description,
                                             "vfioctl did not detach \(address) (no record of its driver before): the kernel picks its driver"))
            }
            moving.append((f, record))
        }
        for (f, record) in moving.sorted(by: { reattachOrder($0.0, $1.0) }) {
            plan.originals.bindings.append(FunctionBinding(f))
            if let record {
                plan.steps += Recipe.restore(record, pciDrivers: facts.pciDrivers)
                plan.records.drop.append(f.address)
            } else {
                plan.steps += Recipe.release(f.address, from: .init(f))
            }
        }
        return plan
    }

    /// The reverse of detachOrder: PFs and function 0 first.
    static func reattachOrder(_ a: PCIFunction, _ b: PCIFunction) -> Bool {
        let ka = (a.physfn == nil ? 0 : 1, a.address.function == 0 ? 0 : 1)
        let kb = (b.physfn == nil ? 0 : 1, b.address.function == 0 ? 0 : 1)
        return ka != kb ? ka < kb : a.address < b.address
    }

    // MARK: restore

    /// The order a rollback or recover puts functions back in (by address); what `recover
    /// --dry-run` shows is what the rollback then does.
    public static func restoreOrder(_ bindings: [FunctionBinding]) -> [FunctionBinding] {
        bindings.sorted { $0.address < $1.address }
    }
}
