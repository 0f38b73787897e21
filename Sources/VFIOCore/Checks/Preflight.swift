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
            findings += IOMMUFD.cdevFindings(f, facts)
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
        if let state = facts.mdevs { findings += MdevChecks.host(state) }
        if let mdevs = request.domain?.mdevs, !mdevs.isEmpty { findings += MdevChecks.domain(mdevs, facts) }
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
        findings += link(f, snapshot)
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

    /// How the function can be reset between guests, as the kernel and vfio-pci do it: a
    /// function-level method from reset_method (or, before Linux 5.15, from config space); else
    /// a reset of the bus below its bridge, which the kernel leaves out of reset_method when the
    /// bus is shared (pci_parent_bus_reset) but vfio-pci's hot reset performs when every function
    /// on it is assigned to the same user (VFIO_DEVICE_PCI_HOT_RESET). Only a function on a root
    /// bus with no method cannot be reset at all.
    static func reset(_ f: PCIFunction, _ snapshot: HostSnapshot, targets: Set<PCIAddress>) -> [Finding] {
        let subject = f.address.description
        var findings: [Finding] = []
        if let family = KnownDevices.amdResetBugFamily(f) {
            findings.append(Finding("reset.amd-reset-bug", .warning, subject,
                                    "\(f.address) is an AMD \(family) GPU: it does not reset cleanly when a guest stops, so a "
                                        + "second start can hang it (the \"AMD reset bug\")",
                                    hint: "install the vendor-reset module (github.com/gnif/vendor-reset) and set reset_method to device_specific"))
        }
        var methods = f.effectiveResetMethods
        // Before 5.15 the kernel's list is not shown: from config space, in its order.
        let unlisted = f.resetMethodsUnlisted ? " (read from config space: this kernel lists no reset_method)" : ""
        if f.resetsAlone {
            findings.append(Finding("reset.function-level", .info, subject,
                                    "\(f.address) resets on its own (" + methods.joined(separator: ", ") + ")" + unlisted))
            return findings
        }
        // The bus below the bridge above: what a bus (hot) reset resets. VFs are reset by FLR only.
        let bridge = f.isVirtualFunction ? nil : f.parent.flatMap(snapshot.function)
        let onBus = bridge.map { bridge in snapshot.functions.filter { $0.parent == bridge.address && $0.address != f.address } } ?? []
        if f.resetMethodsUnlisted && bridge != nil && onBus.isEmpty { methods.append("bus") }
        if let bridge, !onBus.isEmpty || methods.contains("bus") {
            let bus = "the bus below \(bridge.address)"
            let affected = onBus.filter { !targets.contains($0.address) }
            let others = methods.filter { $0 != "bus" }
            let besides = others.isEmpty ? "" : " (besides " + others.joined(separator: ", ") + ")"
            if affected.isEmpty {
                findings.append(Finding("reset.limited", .info, subject,
                                        "\(f.address) has no function-level reset\(besides): it is reset by resetting \(bus)"
                                            + (onBus.isEmpty ? ", where nothing else is" : ", whose other functions all go to the same guest "
                                               + "(vfio-pci resets it when every one of them is assigned)")))
            } else {
                findings.append(Finding("reset.bus", .warning, subject,
                                        "\(f.address) has no function-level reset\(besides): vfio-pci resets it only by resetting \(bus), "
                                            + "which also resets " + affected.map { describe($0) }.joined(separator: ", ")
                                            + ", and does so only when all of them are assigned to the same guest",
                                        hint: "assign " + affected.map(\.address.description).joined(separator: ", ")
                                            + " to the same guest, or expect no reset between guests"))
            }
            return findings
        }
        if !methods.isEmpty {
            findings.append(Finding("reset.limited", .info, subject,
                                    "\(f.address) resets only by " + methods.joined(separator: ", ")
                                        + (methods == ["pm"] ? " (a D3hot to D0 power cycle, which not every device honours)" : "") + unlisted))
        } else if f.hasResetAttribute {
            // A `reset` attribute and nothing more to go on: the kernel can reset it, by a
            // method it does not name (a device-specific or ACPI reset, before 5.15).
            let why = f.capabilities?.listReadable == true ? "" : "; config space was not readable (run as root)"
            findings.append(Finding("reset.unlisted", .info, subject,
                                    "the kernel can reset \(f.address) (it has a reset attribute) but does not say how: "
                                        + "this kernel lists no reset_method (before Linux 5.15)\(why)",
                                    hint: "on Linux 5.15 or later, cat /sys/bus/pci/devices/\(f.address)/reset_method shows the method"))
        } else {
            findings.append(Finding("reset.none", .warning, subject,
                                    "\(f.address) cannot be reset: it has no reset method and sits on a root bus, so no bus reset "
                                        + "reaches it; its state carries over from one guest (or the host) to the next",
                                    hint: "expect it to need a host reboot after a guest crash; prefer devices with FLR"))
        }
        return findings
    }

    /// Why a group holds more than the device, as the kernel groups (KernelACS): a shared
    /// requester ID behind a PCI(-X) bridge, a bridge above without ACS, or the functions of a
    /// multifunction device without ACS between them; each with the fix that can work.
    static func acs(_ group: IOMMUGroup, _ snapshot: HostSnapshot, targets: Set<PCIAddress>) -> [Finding] {
        let endpoints = group.members.compactMap { snapshot.function($0) }.filter { !$0.isBridge }
        guard endpoints.count > 1 else { return [] }
        let subject = "group \(group.id)"
        var reasons: [String] = []
        var hints: [String] = []
        func add(_ reason: String, hint: String) {
            if !reasons.contains(reason) { reasons.append(reason) }
            if !hints.contains(hint) { hints.append(hint) }
        }
        let host = KernelACS.Host(snapshot)
        let aliased = Dictionary(grouping: endpoints.compactMap { endpoint in
            KernelACS.aliasingBridge(of: endpoint.address, in: snapshot).map { (bridge: $0, endpoint: endpoint.address) }
        }, by: \.bridge.address)
        for (_, behind) in aliased.sorted(by: { $0.key < $1.key }) {
            let bridge = behind[0].bridge
            let names = behind.map(\.endpoint.description).joined(separator: ", ")
            add(names + (behind.count == 1 ? " sits" : " sit") + " behind \(bridge.address), a "
                    + (bridge.isPCIe == false ? "conventional PCI bridge" : "PCIe-to-PCI bridge")
                    + ": every device below it shares its requester ID, which no ACS can separate",
                hint: "no setting splits this group: a device needs a PCIe slot of its own (not behind \(bridge.address)) to be assigned alone")
        }
        for endpoint in endpoints where KernelACS.aliasingBridge(of: endpoint.address, in: snapshot) == nil {
            let slotmates = endpoints.filter { $0.address.slot == endpoint.address.slot && $0.address != endpoint.address }
            if !slotmates.isEmpty, case .doesNotIsolate(let why) = KernelACS.verdict(endpoint, host) {
                add("the functions of multifunction device \(endpoint.address.slot) are not isolated from each other (\(endpoint.address): \(why))",
                    hint: "the functions of \(endpoint.address.slot) go to the guest together")
            }
            for bridge in snapshot.upstreamPath(of: endpoint.address) {
                switch KernelACS.verdict(bridge, host) {
                case .isolates, .unknown: continue
                case .doesNotIsolate(let why):
                    let kind = bridge.capabilities?.pcieType?.name.replacingUnderscores ?? "bridge"
                    add("\(bridge.address) (\(kind)) above \(endpoint.address) does not isolate the devices below it: \(why)",
                        hint: "a slot whose root port (and every switch port above it) has ACS enabled gets a group of its own; "
                            + "check the firmware setup for an ACS option, or use another slot")
                }
                break
            }
        }
        guard !reasons.isEmpty else { return [] }
        return [Finding("acs.group-shared", .info, subject,
                        "group \(group.id) holds \(endpoints.count) devices because " + reasons.joined(separator: "; "),
                        hint: (hints + ["all of them go to the guest together"]).joined(separator: "; "))]
    }

    /// A GPU, NVMe drive, NIC or accelerator whose link trained below what it can do (lspci's
    /// "downgraded"), and whether the slot is the limit. A GPU lowers its link speed when idle,
    /// so its speed alone is said, not warned about.
    static func link(_ f: PCIFunction, _ snapshot: HostSnapshot) -> [Finding] {
        guard let link = f.link, !f.isVirtualFunction, [0x01, 0x02, 0x03, 0x12].contains(f.baseClass),
              link.widthDowngraded || link.speedDowngraded else { return [] }
        let subject = f.address.description
        let port = f.parent.flatMap(snapshot.function)
        let text = InventoryText.widthAndSpeed
        let trained = "\(f.address) (\(f.classDisplayName)) trained its link to \(text(link.width, link.speed)); "
            + "it can do \(text(link.maxWidth, link.maxSpeed))"
        // The port above bounds the link: a slot wired x4, or a PCIe 3 root port under a PCIe 4 card.
        let portWidth = port?.link?.maxWidth, portSpeed = port?.link?.maxSpeed
        let slotLimitsWidth = link.widthDowngraded && portWidth.map { $0 <= (link.width ?? 0) } == true
        let slotLimitsSpeed = link.speedDowngraded && portSpeed.map { $0 <= (link.speed ?? $0) } == true
        if (!link.widthDowngraded || slotLimitsWidth) && (!link.speedDowngraded || slotLimitsSpeed), let port {
            return [Finding("link.slot-limited", .info, subject,
                            trained + ": the slot is the limit (\(port.address) can do at most \(text(portWidth, portSpeed)))")]
        }
        if link.widthDowngraded && !slotLimitsWidth {
            return [Finding("link.degraded", .warning, subject,
                            trained + ": fewer lanes than both ends support, so the guest gets less bandwidth than the card can give",
                            hint: "reseat the card or try another slot; check the slot's lane sharing (bifurcation, M.2) in the firmware setup")]
        }
        if f.baseClass == 0x03 {
            return [Finding("link.speed-below-max", .info, subject,
                            trained + " (GPUs lower their link speed when idle; under load it should return to the maximum)")]
        }
        return [Finding("link.degraded", .warning, subject, trained + ": a slower link than both ends support",
                        hint: "check the firmware's PCIe speed setting for the slot, the riser or cable, and reseat the card")]
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
