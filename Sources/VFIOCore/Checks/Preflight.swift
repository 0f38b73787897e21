/// What `vfioctl check` was asked about.
public struct CheckRequest: Sendable, Equatable {
    public var addresses: [PCIAddress]
    public var groups: [Int]
    /// The devices a libvirt domain assigns (`--domain`).
    public var domain: DomainDevices?
    /// Report nested virtualization (`--nested`).
    public var nested: Bool

    public init(addresses: [PCIAddress] = [], groups: [Int] = [], domain: DomainDevices? = nil, nested: Bool = false) {
        self.addresses = addresses
        self.groups = groups
        self.domain = domain
        self.nested = nested
    }

    /// Every function the guest would get: addresses, the endpoints of the named groups, the domain's devices.
    public func targets(in snapshot: HostSnapshot) -> [PCIAddress] {
        var targets = Set(addresses)
        for id in groups {
            targets.formUnion(snapshot.endpoints(ofGroup: id))
        }
        for device in domain?.devices ?? [] { targets.insert(device.address) }
        return targets.sorted()
    }
}

/// The checks for a request: host readiness, then each target and its group. Pure.
public enum Preflight {
    /// What checking a function needs read besides it (and what completes it,
    /// `HostSnapshot.completing`): the bridges and ports above it (the upstream path, ACS), and,
    /// for a device that cannot be reset without its bus, the other functions on that bus (the
    /// reset check names them). Only then do those matter: the root bus of a big host holds
    /// hundreds. The device layer follows this from every function it reads for a check.
    public static func readScope(for f: PCIFunction) -> [ScopeLink] {
        var links: [ScopeLink] = []
        if let parent = f.parent { links.append(.function(parent)) }
        if !f.isBridge && !f.resetsAlone { links.append(.bus(f.address)) }
        return links
    }

    public static func run(_ snapshot: HostSnapshot, _ facts: HostFacts, _ request: CheckRequest) -> CheckReport {
        var findings = HostChecks.run(snapshot, facts)
        if request.nested { findings += NestedChecks.run(facts) }
        let targets = request.targets(in: snapshot)
        let managed = Set(request.domain?.devices.filter(\.managed).map(\.address) ?? [])
        var groups: [Int: GroupViability] = [:]
        for address in targets {
            guard let f = snapshot.function(address) else {
                findings.append(UnknownFunction.finding("device.unknown", address,
                                                        hint: UnknownFunction.listHint + "; a domain naming it cannot start here"))
                continue
            }
            findings += DeviceChecks.target(f, snapshot, facts, targets: Set(targets), managed: managed, domain: request.domain)
            guard let group = snapshot.group(of: address) else {
                // No group to go through: still say what the host would lose with it.
                if case .hostDriver = Viability.state(of: f, facts: facts) { findings += DeviceChecks.guardFindings(f, facts) }
                continue
            }
            guard groups[group.id] == nil else { continue }
            let viability = Viability.evaluate(group, in: snapshot, facts: facts, managedByLibvirt: managed)
            groups[group.id] = viability
            findings += DeviceChecks.group(viability, group, snapshot, facts, targets: Set(targets), domain: request.domain)
        }
        for network in request.domain?.networkInterfaces ?? [] {
            findings.append(Finding("domain.network-interface", .info, Finding.host,
                                    "an interface comes from network '\(network)': libvirt picks its device when the guest starts",
                                    hint: "if it is a hostdev pool, check its VFs: vfioctl check on their addresses"))
        }
        return CheckReport(findings: findings, groups: Array(groups.values), targets: targets)
    }
}

/// Checks of one function the guest would get, and of its group.
public enum DeviceChecks {
    static func describe(_ f: PCIFunction) -> String {
        "\(f.address) (\(f.ids)" + (f.driver.map { ", \($0)" } ?? "") + ")"
    }

    public static func target(_ f: PCIFunction, _ snapshot: HostSnapshot, _ facts: HostFacts, targets: Set<PCIAddress>,
                              managed: Set<PCIAddress>, domain: DomainDevices?) -> [Finding] {
        let subject = f.address.description
        var findings: [Finding] = []
        if f.isBridge {
            findings.append(Finding("device.bridge", .error, subject,
                                    "\(f.address) is a bridge: bridges stay with the host; only the devices behind them are assigned",
                                    hint: "assign the endpoints behind it instead ('vfioctl groups' lists them)"))
            return findings
        }
        if f.iommuGroup == nil {
            findings.append(Finding("device.no-group", .error, subject, "\(f.address) is in no IOMMU group: it cannot be assigned",
                                    hint: "turn the IOMMU on first (see the host findings)"))
        }
        if managed.contains(f.address), case .hostDriver(let driver) = Viability.state(of: f, facts: facts) {
            findings.append(Finding("device.libvirt-detaches", .info, subject,
                                    "on \(driver) now; libvirt detaches it when the guest starts (managed='yes')"))
        }
        findings += reset(f, snapshot, targets: targets)
        findings += sriov(f, snapshot, facts, domain: domain)
        return findings
    }

    static func group(_ viability: GroupViability, _ group: IOMMUGroup, _ snapshot: HostSnapshot, _ facts: HostFacts,
                      targets: Set<PCIAddress>, domain: DomainDevices?) -> [Finding] {
        var findings: [Finding] = []
        let subject = "group \(group.id)"
        func state(_ member: GroupViability.Member) -> String {
            switch member.state {
            case .unbound: "unbound"
            case .vfio(let driver): "on \(driver)"
            case .allowed(let driver): "on \(driver) (allowed beside vfio)"
            case .hostDriver(let driver): member.detachedByLibvirt ? "on \(driver), detached by libvirt at start" : "on \(driver)"
            }
        }
        let listing = viability.members.map { "\($0.address) \(state($0))" + ($0.isBridge ? " [bridge]" : "") }
        if viability.viable {
            findings.append(Finding("group.viable", .info, subject,
                                    "group \(group.id) is viable: " + listing.joined(separator: "; ")))
        } else {
            let blocking = viability.blocking
            let names = blocking.map { "\($0.address) (\($0.driver ?? "?"))" }.joined(separator: ", ")
            let outsiders = blocking.filter { !targets.contains($0.address) }
            var hint = "vfioctl detach --group \(group.id) moves every member to vfio-pci (bridges stay as they are)"
            if domain != nil && !outsiders.isEmpty {
                hint = "add " + outsiders.map(\.address.description).joined(separator: ", ")
                    + " to the guest with managed='yes', or " + hint
            }
            findings.append(Finding("group.not-viable", .error, subject,
                                    "group \(group.id) is not viable: \(names) \(blocking.count == 1 ? "is" : "are") on a host "
                                        + "driver, and every member must be unbound or on vfio-pci (QEMU: \"group \(group.id) is not "
                                        + "viable\"). Members: " + listing.joined(separator: "; "),
                                    hint: hint))
        }
        // What the host would lose: members that leave their host drivers (blocking or detached by libvirt).
        for member in viability.members {
            guard case .hostDriver = member.state, let f = snapshot.function(member.address) else { continue }
            findings += guardFindings(f, facts)
        }
        // Every member on vfio: the group's device node must be there.
        if viability.viable && viability.members.contains(where: { if case .vfio = $0.state { return true } else { return false } })
            && facts.modules.isLoaded("vfio") && !facts.vfioGroupNodes.contains(group.id) && facts.vfioContainer != nil {
            findings.append(Finding("vfio.group-node-missing", .error, subject,
                                    "group \(group.id) has members on vfio-pci but /dev/vfio/\(group.id) does not exist",
                                    hint: "check udev and devtmpfs; rebinding the members (vfioctl detach --group \(group.id)) recreates it"))
        }
        findings += acs(group, snapshot, targets: targets)
        return findings
    }

    /// The host-critical guard's finding: the only one `detach --force` overrides.
    public static let hostCritical = "device.host-critical"

    /// The host-critical guard's verdict on a function that would leave its host driver.
    public static func guardFindings(_ f: PCIFunction, _ facts: HostFacts) -> [Finding] {
        let reasons = HostCriticalGuard.reasons(f, facts: facts)
        if !reasons.isEmpty {
            return [Finding(hostCritical, .error, f.address.description,
                            "\(f.address) is in use by the host: " + reasons.joined(separator: "; ")
                                + ". Taking it from \(f.driver ?? "its driver") would break that",
                            hint: "choose another device, or move what the host uses off it first "
                                + "(vfioctl detach refuses; --force overrides only this guard)")]
        }
        if f.bootVGA == true {
            return [Finding("device.boot-vga", .warning, f.address.description,
                            "\(f.address) is the firmware's boot display: the host may lose its console output",
                            hint: "use another GPU for the host console, or accept a headless host")]
        }
        return []
    }

    /// How the function can be reset between guests, and what a bus reset takes with it.
    static func reset(_ f: PCIFunction, _ snapshot: HostSnapshot, targets: Set<PCIAddress>) -> [Finding] {
        let subject = f.address.description
        var findings: [Finding] = []
        if let family = KnownDevices.amdResetBugFamily(f) {
            findings.append(Finding("reset.amd-reset-bug", .warning, subject,
                                    "\(f.address) is an AMD \(family) GPU: it does not reset cleanly when a guest stops, so a "
                                        + "second start can hang it (the \"AMD reset bug\")",
                                    hint: "install the vendor-reset module (github.com/gnif/vendor-reset) and set reset_method to device_specific"))
        }
        let methods = f.effectiveResetMethods
        if f.resetsAlone {
            findings.append(Finding("reset.function-level", .info, subject,
                                    "\(f.address) resets on its own (" + methods.joined(separator: ", ") + ")"))
            return findings
        }
        if methods.isEmpty && !f.hasResetAttribute {
            findings.append(Finding("reset.none", .warning, subject,
                                    "\(f.address) cannot be reset: its state carries over from one guest (or the host) to the next",
                                    hint: "expect it to need a host reboot after a guest crash; prefer devices with FLR"))
            return findings
        }
        // Only pm / bus: a bus reset resets every function on the bus.
        let others = snapshot.functions.filter { $0.address != f.address && $0.address.isOnSameBus(as: f.address) && $0.parent == f.parent }
        let affected = others.filter { !targets.contains($0.address) }
        if methods.contains("bus") && !affected.isEmpty {
            findings.append(Finding("reset.bus", .warning, subject,
                                    "\(f.address) has no function-level reset (" + methods.joined(separator: ", ") + "): a bus "
                                        + "reset also resets " + affected.map { describe($0) }.joined(separator: ", "),
                                    hint: "assign all of them to the same guest, or expect the kernel to refuse the reset while they are in use"))
        } else {
            findings.append(Finding("reset.limited", .info, subject,
                                    "\(f.address) resets only by " + methods.joined(separator: ", ")
                                        + (methods == ["bus"] ? (others.isEmpty ? " (nothing else is on its bus)"
                                                                 : " (everything else on its bus goes to the same guest)") : "")))
        }
        return findings
    }

    /// Why a group holds more than the device: the bridge or port above that cannot isolate.
    static func acs(_ group: IOMMUGroup, _ snapshot: HostSnapshot, targets: Set<PCIAddress>) -> [Finding] {
        let endpoints = group.members.compactMap { snapshot.function($0) }.filter { !$0.isBridge }
        let slots = Set(endpoints.map(\.address.slot))
        guard endpoints.count > 1 else { return [] }
        let subject = "group \(group.id)"
        var reasons: [String] = []
        if slots.count == 1 {
            reasons.append("the functions of multifunction device \(slots.first!) are not isolated from each other (no ACS between them)")
        }
        for member in group.members {
            guard let bridge = snapshot.function(member), bridge.isBridge else { continue }
            guard let caps = bridge.capabilities else { continue }
            if !caps.isPCIe {
                reasons.append("\(bridge.address) is a conventional PCI bridge: devices behind it can always reach each other")
            } else if let acs = caps.acs {
                let needed: [ACSCapability.Bit] = [.sourceValidation, .requestRedirect, .completionRedirect, .upstreamForwarding]
                let off = needed.filter { !acs.enables($0) }
                if !off.isEmpty {
                    reasons.append("\(bridge.address) has ACS but not " + off.map(\.name).joined(separator: ", ") + " enabled")
                }
            } else if caps.extendedConfigReadable {
                reasons.append("\(bridge.address) (\(caps.pcieType?.name.replacingUnderscores ?? "PCIe port")) has no ACS capability")
            }
        }
        guard !reasons.isEmpty else { return [] }
        return [Finding("acs.group-shared", .info, subject,
                        "group \(group.id) holds \(endpoints.count) devices because " + reasons.joined(separator: "; "),
                        hint: "all of them go to the guest together; a slot below a port with ACS gets a group of its own")]
    }

    /// A VF needs its PF's driver, and for network VFs the PF link up.
    static func sriov(_ f: PCIFunction, _ snapshot: HostSnapshot, _ facts: HostFacts, domain: DomainDevices?) -> [Finding] {
        guard let physfn = f.physfn else { return [] }
        let subject = f.address.description
        guard let pf = snapshot.function(physfn) else { return [] }
        var findings: [Finding] = []
        if pf.driver == nil {
            findings.append(Finding("sriov.pf-no-driver", .error, subject,
                                    "the PF \(physfn) of VF \(f.address) has no driver: the VF exists only while the PF driver keeps SR-IOV on",
                                    hint: "bind the PF to its driver again"))
        }
        let configured = domain?.devices.first { $0.address == f.address }?.setsVFConfig ?? false
        for name in pf.netInterfaces {
            guard let interface = facts.network[name], interface.operstate != "up" else { continue }
            findings.append(Finding("sriov.pf-down", configured ? .error : .warning, subject,
                                    "the PF's interface \(name) is \(interface.operstate ?? "not up"): MAC and VLAN set on the "
                                        + "VF through it do not take effect" + (configured ? ", and libvirt refuses to start the guest" : ""),
                                    hint: "ip link set \(name) up"))
        }
        return findings
    }
}

/// Nested virtualization: can guests run their own guests, and with VMCS shadowing.
public enum NestedChecks {
    public static func run(_ facts: HostFacts) -> [Finding] {
        let intel = facts.cpuFlags.contains("vmx")
        let amd = facts.cpuFlags.contains("svm")
        guard intel || amd else {
            return [Finding("nested.no-hardware-virtualization", .error, Finding.host,
                            "the CPU advertises neither vmx nor svm: hardware virtualization is off or absent",
                            hint: "enable VT-x (Intel) or SVM / AMD-V (AMD) in the firmware setup")]
        }
        let module = intel ? "kvm_intel" : "kvm_amd"
        let fix = intel ? "options kvm_intel nested=1 enable_shadow_vmcs=1" : "options kvm_amd nested=1"
        let apply = "write it with 'vfioctl config modprobe --nested --write', then reload \(module) with no guest running "
            + "(modprobe -r \(module); modprobe \(module)) or reboot"
        guard let nested = facts.flag(module, "nested") else {
            return [Finding("nested.kvm-not-loaded", .info, Finding.host, "\(module) is not loaded: nested virtualization is not known yet",
                            hint: "modprobe \(module); for nested guests the module needs \(fix)")]
        }
        guard nested else {
            return [Finding("nested.disabled", .error, Finding.host,
                            "nested virtualization is off (\(module) nested=N): guests cannot run their own guests",
                            hint: "\(fix) in /etc/modprobe.d: \(apply)")]
        }
        var findings = [Finding("nested.enabled", .info, Finding.host, "nested virtualization is on (\(module) nested=Y)")]
        if intel {
            if facts.flag("kvm_intel", "enable_shadow_vmcs") == false {
                findings.append(Finding("nested.shadow-vmcs-off", .warning, Finding.host,
                                        "VMCS shadowing is off (kvm_intel enable_shadow_vmcs=N): every VMREAD/VMWRITE of a nested "
                                            + "hypervisor exits to the host, which slows nested guests",
                                        hint: "\(fix) in /etc/modprobe.d: \(apply); the CPU must support it (\"shadow_vmcs\" in the vmx flags)"))
            }
        }
        findings.append(Finding("nested.cpu-mode", .info, Finding.host,
                                "give the L1 guest <cpu mode='host-passthrough'/> so it sees \(intel ? "vmx" : "svm") "
                                    + "(in the domain XML); it then migrates only between identical CPUs"))
        return findings
    }
}
