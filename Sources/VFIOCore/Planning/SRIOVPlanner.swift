/// A PF's SR-IOV state that a run may change, as it was before: restored on rollback (VF count
/// and driver autoprobe), journaled before the first write.
public struct SRIOVOriginal: Sendable, Equatable {
    public var pf: PCIAddress
    public var numVFs: Int
    public var autoprobe: Bool?

    public init(pf: PCIAddress, numVFs: Int, autoprobe: Bool?) {
        (self.pf, self.numVFs, self.autoprobe) = (pf, numVFs, autoprobe)
    }
}

/// `vfioctl sriov create` and `destroy` as plans: VF counts change through 0 (the kernel refuses
/// a non-zero to non-zero change with EBUSY), VFs meant for vfio-pci appear with driver
/// autoprobe off (no transient host netdevs), and VFs in use are never destroyed. Pure.
public enum SRIOVPlanner {
    /// Where the VFs go once created.
    public enum VFDriver: Sendable, Equatable {
        /// A vfio driver: the best vfio-pci variant for the VFs (else vfio-pci), or the one named.
        case vfio(VFIODriverChoice)
        /// The kernel's pick (the VF driver: iavf, ixgbevf, mlx5_core, nvme ...), by autoprobe.
        case host
        /// No driver: autoprobe off, VFs left unbound.
        case none

        /// As pool files and `--driver` write it: `vfio` (the best vfio driver), `vfio-pci`, a
        /// variant driver's name (`mlx5_vfio_pci`), `host` or `none`; nil for anything else.
        public init?(word: String) {
            switch word.lowercased() {
            case Self.vfioWord: self = .vfio(.best)
            case "host": self = .host
            case "none": self = .none
            default:
                guard let choice = VFIODriverChoice.parse(word) else { return nil }
                self = .vfio(choice)
            }
        }

        /// The word that gives it back.
        public var word: String {
            switch self {
            case .vfio(.best): Self.vfioWord
            case .vfio(.named(let name)): name
            case .host: "host"
            case .none: "none"
            }
        }

        public var isVFIO: Bool { if case .vfio = self { true } else { false } }

        public static let vfioWord = "vfio"
        /// The words, for help and hints.
        public static let words = "vfio (the best vfio driver: a vfio-pci variant when one matches, else vfio-pci), "
            + "vfio-pci, a variant driver's name (mlx5_vfio_pci), host (the kernel's VF driver) or none (left unbound)"
    }

    public struct CreateRequest: Sendable, Equatable {
        public var pf: PCIAddress
        public var count: Int
        public var driver: VFDriver

        public init(pf: PCIAddress, count: Int, driver: VFDriver) { (self.pf, self.count, self.driver) = (pf, count, driver) }
    }

    public static func create(_ request: CreateRequest, _ snapshot: HostSnapshot, _ facts: HostFacts) -> Plan {
        var plan = Plan(operation: .sriovCreate)
        guard let (pf, sriov) = physicalFunction(request.pf, snapshot, &plan) else { return plan }
        if request.count < 1 || request.count > sriov.totalVFs {
            plan.findings.append(Finding("sriov.count", .error, pf.address.description,
                                         "\(pf.address) supports 1 to \(sriov.totalVFs) VFs (sriov_totalvfs), not \(request.count)",
                                         hint: request.count < 1 ? "vfioctl sriov destroy \(pf.address) removes its VFs" : "ask for at most \(sriov.totalVFs)"))
            return plan
        }
        let recount = sriov.numVFs != request.count
        if recount && sriov.numVFs > 0 {
            plan.findings += inUse(pf, sriov, snapshot, facts, action: "changing the VF count from \(sriov.numVFs) to \(request.count)")
        }
        // vfio and "none" want the VFs to appear unbound; host drivers bind by autoprobe.
        let autoprobe = request.driver == .host
        let vfs = sriov.vfs.compactMap { snapshot.function($0) }
        plan.originals.vfCounts = [SRIOVOriginal(pf: pf.address, numVFs: sriov.numVFs, autoprobe: sriov.driversAutoprobe)]
        plan.originals.bindings = vfs.map(FunctionBinding.init)
        if recount && sriov.numVFs > 0 { plan.steps.append(.setAttribute(pf.address, numVFsAttribute, "0")) }
        // Host VFs need autoprobe on even when the count stays: the kernel probes no VF while it
        // is off and its driver_override is empty (pci_device_can_probe).
        if (recount || autoprobe) && sriov.driversAutoprobe != autoprobe {
            plan.steps.append(.setAttribute(pf.address, autoprobeAttribute, autoprobe ? "1" : "0"))
        }
        if recount {
            addCount(request, pf, facts, to: &plan)
        } else {
            // Already that many: only bindings may change, VF by VF as a pool's do (a VF on a vfio
            // driver stays unless another is named; one a guest holds is not moved); nothing at all
            // when they are as asked.
            switch request.driver {
            case .vfio:
                var part = Plan(operation: .sriovCreate)
                PoolPlanner.addDrivers(Array(repeating: request.driver, count: sriov.numVFs), pf, sriov, recount: false,
                                       autoprobe: sriov.driversAutoprobe ?? true, snapshot, facts, to: &part)
                plan.steps += part.steps
                plan.findings += part.findings
            case .host:
                if vfs.allSatisfy(Self.onHostDriver) && sriov.driversAutoprobe != false { plan.steps = [] } else { plan.steps.append(.bindVFs(pf.address, nil)) }
            case .none: plan.steps = []
            }
            if plan.steps.isEmpty { plan.unchanged = [pf.address] }
        }
        if !plan.refused {
            plan.findings += pfNotes(pf, snapshot, facts)
        }
        return plan
    }

    /// A new count: the VFs' driver (chosen before they exist), the count, the wait, the bindings.
    static func addCount(_ request: CreateRequest, _ pf: PCIFunction, _ facts: HostFacts, to plan: inout Plan) {
        var bind: Step?
        if case .vfio(let choice) = request.driver {
            switch choice.pick(forVFsOf: pf) {
            case .success(let pick):
                if let load = Recipe.load(pick, facts) { plan.steps.append(load) }
                bind = .bindVFs(pf.address, pick.driver, alias: pick.alias)
                if !pick.isVFIOPCI {
                    plan.findings.append(Finding(VFIODriverChoice.chosenID, .info, pf.address.description,
                                                 "the VFs of \(pf.address) go to \(pick.driver): \(pick.reason)"))
                }
            case .failure(let finding): plan.findings.append(finding)
            }
        }
        plan.records.vfDropPFs = [pf.address]
        plan.steps.append(.setAttribute(pf.address, numVFsAttribute, String(request.count)))
        plan.steps.append(.awaitVFs(pf.address, request.count))
        switch request.driver {
        case .vfio: bind.map { plan.steps.append($0) }
        case .host: plan.steps.append(.bindVFs(pf.address, nil))
        case .none: break
        }
    }

    public static func destroy(_ address: PCIAddress, _ snapshot: HostSnapshot, _ facts: HostFacts) -> Plan {
        var plan = Plan(operation: .sriovDestroy)
        guard let (pf, sriov) = physicalFunction(address, snapshot, &plan) else { return plan }
        guard sriov.numVFs > 0 else {
            plan.unchanged = [pf.address]
            return plan
        }
        plan.findings += inUse(pf, sriov, snapshot, facts, action: "removing its \(sriov.numVFs) VFs")
        plan.originals.vfCounts = [SRIOVOriginal(pf: pf.address, numVFs: sriov.numVFs, autoprobe: sriov.driversAutoprobe)]
        plan.originals.bindings = sriov.vfs.compactMap { snapshot.function($0) }.map(FunctionBinding.init)
        plan.steps = [.setAttribute(pf.address, numVFsAttribute, "0")]
        plan.records.vfDropPFs = [pf.address]
        return plan
    }

    /// A VF where a host VF should be: on a driver that is not vfio, no driver_override.
    static func onHostDriver(_ vf: PCIFunction) -> Bool {
        vf.driver != nil && !StubDriver.isVFIO(vf) && vf.driverOverride == nil
    }

    public static let numVFsAttribute = "sriov_numvfs"
    public static let autoprobeAttribute = "sriov_drivers_autoprobe"

    /// The PF and its SR-IOV state, or an error finding saying why it is not one.
    static func physicalFunction(_ address: PCIAddress, _ snapshot: HostSnapshot, _ plan: inout Plan) -> (PCIFunction, SRIOVInfo)? {
        guard let pf = snapshot.function(address) else {
            plan.findings.append(UnknownFunction.finding("sriov.no-device", address, hint: UnknownFunction.pfHint))
            return nil
        }
        if let parent = pf.physfn {
            plan.findings.append(Finding("sriov.not-pf", .error, address.description, "\(address) is a VF of \(parent), not a PF",
                                         hint: "name the PF: vfioctl sriov create \(parent) --count N"))
            return nil
        }
        guard let sriov = pf.sriov else {
            plan.findings.append(Finding("sriov.not-capable", .error, address.description,
                                         "\(address) (\(pf.displayName)) has no SR-IOV capability (no sriov_totalvfs)",
                                         hint: "some cards need SR-IOV enabled in the firmware or BIOS first; 'vfioctl sriov status' lists the PFs"))
            return nil
        }
        guard pf.driver != nil else {
            plan.findings.append(Finding("sriov.pf-unbound", .error, address.description,
                                         "\(address) has no driver: VFs are created by the PF's driver",
                                         hint: "bind its driver first (vfioctl reattach \(address), or modprobe the driver)"))
            return nil
        }
        return (pf, sriov)
    }

    /// VFs that must not disappear: a guest holds their group open, or their netdev is up or
    /// carries addresses.
    static func inUse(_ pf: PCIFunction, _ sriov: SRIOVInfo, _ snapshot: HostSnapshot, _ facts: HostFacts, action: String) -> [Finding] {
        var busy: [String] = []
        var unknown: [Finding] = []
        for address in sriov.vfs {
            guard let vf = snapshot.function(address) else { continue }
            if let group = vf.iommuGroup, StubDriver.isVFIO(vf) {
                switch facts.holders(ofGroup: group) {
                case .known(let users) where !users.isEmpty:
                    busy.append("\(address) (group \(group) open by " + users.map { "pid \($0.pid) \($0.command)" }.joined(separator: ", ") + ")")
                    continue
                case .known: break
                case .unknown:
                    unknown.append(Finding.holdersUnknown(group, address.description))
                    continue
                }
            }
            for name in vf.netInterfaces {
                guard let net = facts.network[name] else { continue }
                if net.isUp || !net.addresses.isEmpty {
                    busy.append("\(address) (\(name) is " + (net.isUp ? "up" : "configured") + ")")
                }
            }
        }
        guard !busy.isEmpty else { return unknown }
        return unknown + [Finding("sriov.vfs-in-use", .error, pf.address.description,
                        "\(action) on \(pf.address) destroys every VF, and these are in use: " + busy.joined(separator: ", "),
                        hint: "stop the guests using them and bring their interfaces down, then run it again")]
    }

    /// What to know before VFs are handed out: the PF's link is down.
    static func pfNotes(_ pf: PCIFunction, _ snapshot: HostSnapshot, _ facts: HostFacts) -> [Finding] {
        pf.netInterfaces.compactMap { name in
            guard let net = facts.network[name], !net.isUp else { return nil }
            return Finding("sriov.pf-down", .warning, pf.address.description,
                           "\(name), the PF's interface, is down: its VFs have no link until it is up",
                           hint: "ip link set \(name) up")
        }
    }
}
