/// `vfioctl export`: the host's passthrough devices written in the configuration a cluster
/// engine reads (nova, neutron's SR-IOV agent, KubeVirt, the SR-IOV network device plugin,
/// Proxmox VE's PCI mappings), and a configuration of one checked against the host (drift).
/// Pure: the command observes, this selects, guards, renders and compares.

/// The engines export writes for.
public enum ExportFormat: String, Sendable, CaseIterable, CustomStringConvertible {
    case nova
    case neutron
    case kubevirt
    case sriovDevicePlugin = "sriov-device-plugin"
    case proxmox

    public var description: String { rawValue }

    /// Where the engine reads what export prints.
    public var target: String {
        switch self {
        case .nova: "nova.conf, section [pci] (nova-compute on this host)"
        case .neutron: "sriov_agent.ini, section [sriov_nic] (neutron-sriov-nic-agent on this host)"
        case .kubevirt: "the KubeVirt CR's spec.configuration.permittedHostDevices (kubectl patch kubevirt kubevirt -n kubevirt --type merge --patch-file FILE)"
        case .sriovDevicePlugin: "the device plugin's config.json (its ConfigMap's entry for this node)"
        case .proxmox: "/etc/pve/mapping/pci.cfg (the cluster's PCI resource mappings; each node's map line under one id)"
        }
    }
}

/// Which functions the user asked export for: by address, group, pool file, or by default every
/// function on a vfio driver.
public struct ExportRequest: Sendable, Equatable {
    public var addresses: [PCIAddress]
    public var groups: [Int]
    /// A pool file: its PFs' VFs that go to a vfio driver (named by the entry's `network`), and
    /// its devices and groups to detach.
    public var pool: PoolSpec?
    /// Mediated devices, by UUID (`--mdev`; KubeVirt only).
    public var mdevs: [MdevUUID]

    public init(addresses: [PCIAddress] = [], groups: [Int] = [], pool: PoolSpec? = nil, mdevs: [MdevUUID] = []) {
        self.addresses = addresses
        self.groups = groups
        self.pool = pool
        self.mdevs = mdevs
    }

    /// Nothing named: every function on a vfio driver (and, for an engine that takes them,
    /// every mdev).
    public var selectsDefault: Bool { addresses.isEmpty && groups.isEmpty && pool == nil && mdevs.isEmpty }
}

/// The names an engine's entries get, from the command line (the pool file's `network` fills
/// what these leave open, for its VFs).
public struct ExportNames: Sendable, Equatable {
    /// `--name`: nova's alias, KubeVirt's and the device plugin's resource name, Proxmox's mapping id.
    public var name: String?
    /// `--physnet [PF=]NAME`: the physical network of a PF's VFs (PF: its interface or address; nil: every PF).
    public var physnets: [Physnet]
    /// `--numa-policy`: nova's alias numa_policy.
    public var numaPolicy: NovaNUMAPolicy
    /// Proxmox's node (`--node`, else the root's etc/hostname).
    public var node: String?
    /// `--remote-managed`: nova's VFs tagged `remote_managed` (a SmartNIC DPU's, programmed
    /// from the DPU for neutron's remote-managed ports).
    public var remoteManaged = false

    public struct Physnet: Sendable, Equatable {
        public var pf: PFName?
        public var name: String

        public init(pf: PFName? = nil, name: String) {
            self.pf = pf
            self.name = name
        }

        /// `NAME` or `PF=NAME`.
        public static func parse(_ text: String) throws(VFIOError) -> Physnet {
            let hint = "--physnet NAME (every PF's VFs) or --physnet PF=NAME (PF: its interface or PCI address), e.g. --physnet enp5s0f0=physnet1"
            guard let equals = text.firstIndex(of: "=") else {
                try ExportNames.validatePhysnet(text, hint: hint)
                return Physnet(name: text)
            }
            let pf = String(text[..<equals]), name = String(text[text.index(after: equals)...])
            guard !pf.isEmpty else { throw .usage("--physnet '\(text.printable)' names no PF before '='", hint: hint) }
            try ExportNames.validatePhysnet(name, hint: hint)
            return Physnet(pf: try PFName.parse(pf), name: name)
        }
    }

    public init(name: String? = nil, physnets: [Physnet] = [], numaPolicy: NovaNUMAPolicy = .legacy, node: String? = nil) {
        self.name = name
        self.physnets = physnets
        self.numaPolicy = numaPolicy
        self.node = node
    }

    /// Neutron splits physical_device_mappings at ',' and ':', so a physnet holds neither; nor
    /// spaces, which oslo.config would strip.
    static func validatePhysnet(_ name: String, hint: String) throws(VFIOError) {
        guard !name.isEmpty, name.utf8.count <= 64,
              name.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f && !",:;=\"\\#".unicodeScalars.contains($0) })
        else {
            throw .usage("physical network '\(name.printable)' is not a name neutron can map (1-64 printable characters, none of , : ; = \" \\ # or space)",
                         hint: hint)
        }
    }

    /// The physnet of a PF's VFs: `--physnet PF=NAME` for it, else `--physnet NAME`, else the
    /// pool entry's network.
    func physnet(of pf: PCIFunction, pool: PFPool?) -> String? {
        for option in physnets {
            switch option.pf {
            case .address(let address)? where address == pf.address: return option.name
            case .interface(let name)? where pf.netInterfaces.contains(name): return option.name
            default: continue
            }
        }
        return physnets.first { $0.pf == nil }?.name ?? pool?.network
    }
}

/// nova's alias `numa_policy` (nova.objects.fields.PCINUMAAffinityPolicy).
public enum NovaNUMAPolicy: String, Sendable, CaseIterable {
    case required, legacy, preferred, socket
}

/// One function export writes, with what the selection learned about it.
public struct ExportedFunction: Sendable, Equatable {
    public var function: PCIFunction
    /// The pool entry's network, for a VF a pool file selected.
    public var poolNetwork: String?
    /// The pool entry that selected it (a VF), for its PF's physnet.
    public var pool: PFPool?

    public var address: PCIAddress { function.address }
}

/// One mdev export writes (KubeVirt's mediatedDevices), with its type as its parent offers it.
public struct ExportedMdev: Sendable, Equatable {
    public var device: MediatedDevice
    /// The type's `name` attribute (nil when the type has none, or none could be read).
    public var typeName: String?
    /// mdevctl's definition of it with start `auto`: it is made again at boot.
    public var startsAtBoot: Bool

    public var uuid: MdevUUID { device.uuid }
}

/// The functions export writes: whole IOMMU groups, none the host needs, sorted by address;
/// the mdevs it writes, sorted by UUID; and what was left out of a default selection, as warnings.
public struct ExportSelection: Sendable, Equatable {
    public var functions: [ExportedFunction]
    public var groups: [Int]
    public var mdevs: [ExportedMdev] = []
    public var findings: [Finding]
    /// Nothing was named: every function on vfio. What an engine cannot take is then left out
    /// with a warning, where a named function would be refused.
    public var isDefault = false

    public var addresses: [PCIAddress] { functions.map(\.address) }

    /// The selection without the groups `drop` names a function of, and a warning saying why.
    func leavingOut(_ drop: [PCIAddress], id: String, because reason: String, hint: String) -> ExportSelection {
        let groups = Set(drop.compactMap { address in functions.first { $0.address == address }?.function.iommuGroup })
        var copy = self
        copy.functions = functions.filter { !drop.contains($0.address) && !($0.function.iommuGroup.map(groups.contains) ?? false) }
        copy.groups = self.groups.filter { !groups.contains($0) }
        copy.findings.append(Finding(id, .warning, drop.map(\.description).joined(separator: ", "),
                                     "left out: " + reason, hint: hint))
        return copy
    }

    /// Selects from what the host has. Explicit targets (addresses, groups, a pool file) take
    /// their whole groups; the default takes every group all of whose endpoints are on a vfio
    /// driver and warns about groups only partly on one. Refuses (exit 2) a function the host
    /// needs (the host-critical guard: filesystems, swap, routes, the console ...) and a
    /// function in no IOMMU group. `mdevs` is the host's mdev state when the engine takes mdevs
    /// (KubeVirt): named ones are taken as they are, and the default takes every mdev that has
    /// an IOMMU group (a vfio mdev driver bound), warning about the others.
    public static func select(_ request: ExportRequest, _ snapshot: HostSnapshot, _ facts: HostFacts,
                              mdevs: MdevState? = nil) throws(VFIOError) -> ExportSelection {
        var seeds: [PCIAddress: (network: String?, pool: PFPool?)] = [:]
        var groups = Set(request.groups)
        var findings: [Finding] = []
        for address in request.addresses {
            guard let f = snapshot.function(address) else { throw UnknownFunction.error(address) }
            guard !f.isBridge else {
                throw .usage("\(address) is a bridge: bridges stay with the host", hint: "name the devices behind it")
            }
            seeds[address] = (nil, nil)
        }
        for id in request.groups where snapshot.group(id) == nil {
            throw .failed("no IOMMU group \(id) on this host", hint: "'vfioctl groups' shows the groups there are")
        }
        if let pool = request.pool {
            for entry in pool.pfs {
                let (pf, sriov) = try PoolNetworks.physicalFunction(entry, snapshot)
                for index in 0..<entry.count where entry.settings(forVF: index).driver?.isVFIO == true {
                    guard let vf = sriov.vfIndices[index] else {
                        throw .failed("\(entry.location): \(pf.address) has no VF \(index) yet (sriov_numvfs is \(sriov.numVFs))",
                                      hint: "make the host as the pool file says first: vfioctl apply FILE")
                    }
                    seeds[vf] = (entry.network, entry)
                }
            }
            for address in pool.detach {
                guard snapshot.function(address) != nil else { throw UnknownFunction.error(address) }
                seeds[address] = seeds[address] ?? (nil, nil)
            }
            for id in pool.detachGroups {
                guard snapshot.group(id) != nil else {
                    throw .failed("the pool file's detach names IOMMU group \(id), which this host does not have",
                                  hint: "'vfioctl groups' shows the groups there are")
                }
                groups.insert(id)
            }
        }
        if request.selectsDefault {
            for f in snapshot.functions where !f.isBridge && StubDriver.isVFIO(f) { seeds[f.address] = (nil, nil) }
        }

        // Whole groups.
        var chosen: [PCIAddress: (network: String?, pool: PFPool?)] = [:]
        for (address, origin) in seeds {
            guard let f = snapshot.function(address) else { continue }
            guard let group = f.iommuGroup else {
                throw VFIOError(.refused, "\(address) is in no IOMMU group (the IOMMU is off): no engine can assign it",
                                hint: "turn the IOMMU on (vfioctl check says how), then export again")
            }
            groups.insert(group)
            chosen[address] = origin
        }
        var exportedGroups: [Int] = []
        for id in groups.sorted() {
            let endpoints = snapshot.endpoints(ofGroup: id)
            if request.selectsDefault {
                let off = endpoints.filter { snapshot.function($0).map { !StubDriver.isVFIO($0) } ?? true }
                if !off.isEmpty {
                    findings.append(Finding("export.group-partly-vfio", .warning, "group \(id)",
                                            "IOMMU group \(id) is left out: " + off.map { "\($0) is on \(snapshot.function($0)?.driver ?? "no driver")" }
                                                .joined(separator: ", ") + ", and a guest can only take the whole group",
                                            hint: "vfioctl detach --group \(id) puts all of it on vfio-pci; or name the devices to export"))
                    for address in endpoints { chosen[address] = nil }
                    continue
                }
            }
            guard !endpoints.isEmpty else { continue }
            exportedGroups.append(id)
            for address in endpoints where chosen[address] == nil { chosen[address] = (nil, nil) }
        }

        // The host-critical guard, on every function of every group.
        var refusals: [String] = []
        for address in chosen.keys.sorted() {
            guard let f = snapshot.function(address) else { continue }
            let reasons = HostCriticalGuard.reasons(f, facts: facts)
            if !reasons.isEmpty { refusals.append("\(address) is in use by the host: " + reasons.joined(separator: "; ")) }
        }
        if !refusals.isEmpty {
            throw VFIOError(.refused, refusals.joined(separator: "; ") + ". An engine given it would take it from the host",
                            hint: "export other devices, or move what the host uses off it first ('vfioctl check ADDRESS' says what)")
        }
        let functions = chosen.keys.sorted().compactMap { address -> ExportedFunction? in
            guard let f = snapshot.function(address) else { return nil }
            let origin = chosen[address] ?? (nil, nil)
            return ExportedFunction(function: f, poolNetwork: origin.network, pool: origin.pool)
        }
        let exportedMdevs = try selectMdevs(request, mdevs, findings: &findings)
        if functions.isEmpty && exportedMdevs.isEmpty {
            throw .failed(request.selectsDefault ? "no function on this host is on vfio-pci or a vfio variant driver, in a whole IOMMU group"
                                                    + (mdevs == nil ? "" : ", and no mdev has an IOMMU group")
                                                 : "nothing to export: the selection holds no device (a pool file's VFs count when its entry gives them to a vfio driver)",
                          hint: "name the devices to export (ADDRESS, --group N, --pool FILE), or detach them first: vfioctl detach ADDRESS")
        }
        return ExportSelection(functions: functions, groups: exportedGroups, mdevs: exportedMdevs, findings: findings, isDefault: request.selectsDefault)
    }

    /// The mdevs named (each must exist), or by default every mdev with an IOMMU group.
    static func selectMdevs(_ request: ExportRequest, _ state: MdevState?, findings: inout [Finding]) throws(VFIOError) -> [ExportedMdev] {
        guard let state else { return [] }
        func exported(_ device: MediatedDevice) -> ExportedMdev {
            ExportedMdev(device: device, typeName: state.type(of: device)?.name,
                         startsAtBoot: state.definitions(device.uuid).contains { $0.parent == device.parent && $0.start == .auto })
        }
        if request.selectsDefault {
            let without = state.devices.filter { $0.iommuGroup == nil }
            if !without.isEmpty {
                findings.append(Finding("export.mdev-no-group", .warning, without.map(\.uuid.description).joined(separator: ", "),
                                        "left out: no IOMMU group, so no vfio mdev driver is bound to \(without.count == 1 ? "it" : "them") and no guest can open \(without.count == 1 ? "it" : "them")",
                                        hint: "load the parent's vfio mdev driver, or name the mdev (--mdev UUID) to export it anyway"))
            }
            return state.devices.filter { $0.iommuGroup != nil }.map(exported)
        }
        var chosen: [ExportedMdev] = []
        for uuid in Set(request.mdevs).sorted() {
            guard let device = state.device(uuid) else {
                throw .failed("no mdev \(uuid) on this host" + (state.definitions(uuid).isEmpty ? "" : " (mdevctl defines it, but it is not started)"),
                              hint: state.definitions(uuid).isEmpty ? "'vfioctl mdev list' shows the mdevs there are" : "start it first: mdevctl start -u \(uuid)")
            }
            chosen.append(exported(device))
        }
        return chosen
    }
}
