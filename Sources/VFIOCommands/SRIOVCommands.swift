import ArgumentParser
import VFIOActuator
import VFIOCore
import VFIODeviceLayer

enum OnOff: String, ExpressibleByArgument, CaseIterable {
    case on, off
}

extension Vfioctl {
    struct SRIOV: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sriov",
            abstract: "SR-IOV VFs: status, create (bound to vfio-pci, the host driver, or none), destroy, set MAC/VLAN/trust/spoofchk/state, restore.",
            subcommands: [Status.self, Create.self, Destroy.self, Set.self, Restore.self])

        /// A PF named by address (or libvirt's node-device name) or by its network interface.
        static func resolve(_ text: String, in snapshot: HostSnapshot) throws(VFIOError) -> PCIAddress {
            if let address = PCIAddress(argument: text) { return address }
            if let f = snapshot.function(interface: text) { return f.address }
            throw .usage("no PF '\(text.printable)': not a PCI address nor libvirt's name of one, nor a network interface of a PCI function",
                         hint: "name a PF by its address (0000:01:00.0), libvirt's node-device name (pci_0000_01_00_0) or its interface; "
                            + "'vfioctl sriov status' lists the SR-IOV PFs with their interfaces")
        }

        struct Status: VfioctlCommand {
            static let configuration = CommandConfiguration(
                commandName: "status",
                abstract: "Each SR-IOV PF: driver, interface and link, VFs enabled of total, autoprobe; each VF: index, address, driver, group, NUMA node.")

            @Argument(help: ArgumentHelp("A PF (address, libvirt's pci_DDDD_BB_SS_F or interface name); default: every PF.", valueName: "PF"),
                      completion: HostCompletion.pfs.kind)
            var pf: String?

            @OptionGroup var global: GlobalOptions
            @OptionGroup var output: FormatOptions

            func run(in invocation: Invocation) throws {
                let layer = try global.deviceLayer(invocation)
                let snapshot = try layer.snapshot([])
                let only = try pf.map { text throws(VFIOError) in try SRIOV.resolve(text, in: snapshot) }
                let pfs = SRIOVOutput.pfs(snapshot, only: only)
                if let only, pfs.isEmpty {
                    throw VFIOError.failed("\(only) is not an SR-IOV PF" + (snapshot.function(only) == nil ? " (no such function)" : ""),
                                           hint: "'vfioctl sriov status' lists the SR-IOV PFs")
                }
                let facts = FactsReader(root: layer.root).read(for: pfs + pfs.flatMap { $0.sriov?.vfs ?? [] }.compactMap { snapshot.function($0) })
                let links = invocation.actuators.vfNetlink(root: layer.root).map { SRIOV.readLinks($0, pfs) } ?? .init()
                Output.emit(output.format, json: { SRIOVOutput.json(pfs, snapshot, facts, links) }, text: { SRIOVOutput.text(pfs, snapshot, facts, links) })
            }
        }

        struct Create: PFChangingCommand {
            static let name = "sriov create"
            static let configuration = CommandConfiguration(
                commandName: "create",
                abstract: "Enable N VFs on a PF and bind them, journaled and rolled back on failure.",
                discussion: """
                    A different count goes through 0 (the kernel refuses non-zero to non-zero), which \
                    destroys every VF: refused while one is in use (its group open by a guest, or its \
                    interface up). With --driver vfio (the default), vfio-pci, a variant or none, \
                    sriov_drivers_autoprobe is turned off first so no host netdev appears for a moment; \
                    vfio VFs are bound by driver_override, to the best vfio-pci variant driver for them \
                    (from the PF's sriov_vf_device and modules.alias, as libvirt picks; each VF checked \
                    against it once it exists) unless --driver names one. The same count again only \
                    fixes the bindings (a VF on a vfio driver stays there unless another is named); a \
                    second run changes nothing.
                    """)

            @Argument(help: ArgumentHelp("The PF: its address, libvirt's pci_DDDD_BB_SS_F or its interface name.", valueName: "PF"),
                      completion: HostCompletion.pfs.kind)
            var pf: String

            @Option(name: .long, help: "How many VFs (1 to sriov_totalvfs).")
            var count: Int

            @Option(name: .long, help: ArgumentHelp("Where the VFs go: " + SRIOVPlanner.VFDriver.words + ".", valueName: "DRIVER"))
            var driver: String = SRIOVPlanner.VFDriver.vfioWord

            @OptionGroup var actuation: ActuationOptions
            @OptionGroup var global: GlobalOptions
            @OptionGroup var output: FormatOptions

            func prepare() throws(VFIOError) -> SRIOVPlanner.VFDriver {
                guard count >= 1 else {
                    throw .usage("--count \(count) is not a number of VFs to create",
                                 hint: "give 1 to the PF's sriov_totalvfs; 'vfioctl sriov destroy PF' removes its VFs")
                }
                guard let choice = SRIOVPlanner.VFDriver(word: driver) else {
                    throw .usage("--driver '\(driver.printable)' is not a VF driver",
                                 hint: "give " + SRIOVPlanner.VFDriver.words)
                }
                return choice
            }

            func plan(_ driver: SRIOVPlanner.VFDriver, _ pf: PCIAddress, _ seen: SRIOV.Seen, _ transaction: Transaction) throws -> Plan {
                SRIOVPlanner.create(.init(pf: pf, count: count, driver: driver), seen.snapshot, seen.facts)
            }
        }

        struct Destroy: PFChangingCommand {
            static let name = "sriov destroy"
            static let configuration = CommandConfiguration(
                commandName: "destroy",
                abstract: "Remove a PF's VFs (sriov_numvfs = 0); refused while one is in use.")

            @Argument(help: ArgumentHelp("The PF: its address, libvirt's pci_DDDD_BB_SS_F or its interface name.", valueName: "PF"),
                      completion: HostCompletion.pfs.kind)
            var pf: String

            @OptionGroup var actuation: ActuationOptions
            @OptionGroup var global: GlobalOptions
            @OptionGroup var output: FormatOptions

            func plan(_: Void, _ pf: PCIAddress, _ seen: SRIOV.Seen, _ transaction: Transaction) throws -> Plan {
                SRIOVPlanner.destroy(pf, seen.snapshot, seen.facts)
            }
        }

        struct Set: PFChangingCommand {
            static let name = "sriov set"
            static let configuration = CommandConfiguration(
                commandName: "set",
                abstract: "Set a VF's MAC, VLAN, spoof checking, trust, link state or rate through its PF (rtnetlink), each read back.",
                discussion: """
                    One netlink request per attribute (the kernel stops at the first one a driver \
                    refuses, so each is sent and read back on its own); an attribute already so is not \
                    sent. The VF's settings before vfioctl first changed it are kept in the state \
                    directory until 'vfioctl sriov restore' puts them back. The PF must be up: drivers \
                    may drop VF settings made while it is down without an error. --mac auto derives \
                    02:PP:PP:PP:VV:VV from the PF's permanent address and the VF index, checked against \
                    every VF on the host.
                    """)

            @Argument(help: ArgumentHelp("The PF: its address, libvirt's pci_DDDD_BB_SS_F or its interface name.", valueName: "PF"),
                      completion: HostCompletion.pfs.kind)
            var pf: String

            @Option(name: .long, help: ArgumentHelp("The VF's index (0 to sriov_numvfs - 1).", valueName: "I"))
            var vf: Int

            @Option(name: .long, help: ArgumentHelp("The VF's admin MAC, or auto.", valueName: "MAC|auto"))
            var mac: String?

            @Option(name: .long, help: ArgumentHelp("Port VLAN 1-4094 the VF tags with, or none to clear it.", valueName: "ID|none"))
            var vlan: String?

            @Option(name: .long, help: ArgumentHelp("802.1p priority 0-7 for the VLAN.", valueName: "Q"))
            var qos: Int?

            @Option(name: .long, help: ArgumentHelp("VLAN protocol: 802.1Q (default) or 802.1ad.", valueName: "PROTO"))
            var proto: String?

            @Option(name: .long, help: ArgumentHelp("Drop frames whose source MAC is not the VF's.", valueName: "on|off"))
            var spoofchk: OnOff?

            @Option(name: .long, help: ArgumentHelp("Let the guest change its MAC, go promiscuous, join more multicast.", valueName: "on|off"))
            var trust: OnOff?

            @Option(name: .long, help: ArgumentHelp("Link: auto (follow the PF), enable, disable.", valueName: "STATE"))
            var state: String?

            @Option(name: .long, help: ArgumentHelp("Guaranteed transmit rate, Mbit/s (0: none).", valueName: "MBPS"))
            var minTxRate: Int?

            @Option(name: .long, help: ArgumentHelp("Transmit rate limit, Mbit/s (0: none).", valueName: "MBPS"))
            var maxTxRate: Int?

            @OptionGroup var actuation: ActuationOptions
            @OptionGroup var global: GlobalOptions
            @OptionGroup var output: FormatOptions

            /// What to set, validated: nothing is read or written before this passes.
            func prepare() throws(VFIOError) -> Settings {
                guard vf >= 0 else {
                    throw .usage("--vf \(vf) is not a VF index", hint: "VFs are numbered from 0 ('vfioctl sriov status' lists them)")
                }
                var attributes: [VFAttribute] = []
                if let vlan {
                    attributes.append(try SRIOV.vlanAttribute(vlan, qos: qos, proto: proto))
                } else if qos != nil || proto != nil {
                    throw .usage("--qos and --proto go with --vlan", hint: "e.g. --vlan 100 --qos 3 --proto 802.1ad")
                }
                if let spoofchk { attributes.append(.spoofchk(spoofchk == .on)) }
                if let trust { attributes.append(.trust(trust == .on)) }
                if let state { attributes.append(.linkState(try VFLinkState.parse(state))) }
                if minTxRate != nil || maxTxRate != nil { attributes.append(.txRate(min: minTxRate ?? 0, max: maxTxRate ?? 0)) }
                let choice: VFPlanner.MACChoice? = try mac.map { text throws(VFIOError) in
                    text.lowercased() == "auto" ? .auto : .address(try MACAddress.parse(text))
                }
                guard choice != nil || !attributes.isEmpty else {
                    throw .usage("sriov set needs something to set", hint: "give --mac, --vlan, --spoofchk, --trust, --state or --max-tx-rate")
                }
                for attribute in attributes { try attribute.validate(vf: vf) }
                return Settings(mac: choice, attributes: attributes)
            }

            struct Settings {
                var mac: VFPlanner.MACChoice?
                var attributes: [VFAttribute]
            }

            func plan(_ settings: Settings, _ pf: PCIAddress, _ seen: SRIOV.Seen, _ transaction: Transaction) throws -> Plan {
                let request = VFPlanner.SetRequest(pf: pf, vf: vf, mac: settings.mac, attributes: settings.attributes)
                let links = SRIOV.readLinks(try transaction.requireNetlink(), SRIOVOutput.pfs(seen.snapshot))
                return VFPlanner.set(request, seen.snapshot, seen.facts, links, saved: try transaction.state.vfRecords())
            }
        }

        struct Restore: PFChangingCommand {
            static let name = "sriov restore"
            static let configuration = CommandConfiguration(
                commandName: "restore",
                abstract: "Put a PF's VFs (or one) back to the settings they had before vfioctl first changed them.",
                discussion: """
                    Uses the records 'vfioctl sriov set' and 'vfioctl apply' keep in the state directory \
                    (not /run: they survive a reboot), sets each attribute that differs, reads it back, \
                    and drops the records. Records of VFs that no longer exist are dropped with a warning.
                    """)

            @Argument(help: ArgumentHelp("The PF: its address, libvirt's pci_DDDD_BB_SS_F or its interface name.", valueName: "PF"),
                      completion: HostCompletion.pfs.kind)
            var pf: String

            @Option(name: .long, help: ArgumentHelp("Only this VF.", valueName: "I"))
            var vf: Int?

            @OptionGroup var actuation: ActuationOptions
            @OptionGroup var global: GlobalOptions
            @OptionGroup var output: FormatOptions

            func prepare() throws {
                if let vf, vf < 0 { throw VFIOError.usage("--vf \(vf) is not a VF index", hint: "VFs are numbered from 0") }
            }

            func plan(_: Void, _ pf: PCIAddress, _ seen: SRIOV.Seen, _ transaction: Transaction) throws -> Plan {
                let saved = try transaction.state.vfRecords()
                let links = saved.contains { $0.pf == pf } ? SRIOV.readLinks(try transaction.requireNetlink(), SRIOVOutput.pfs(seen.snapshot)) : .init()
                return VFPlanner.restore(pf, vf: vf, seen.snapshot, seen.facts, links, saved: saved)
            }
        }

        /// `--vlan ID|none [--qos Q] [--proto P]` as one attribute: 1-4094 tags, none clears.
        static func vlanAttribute(_ text: String, qos: Int?, proto: String?) throws(VFIOError) -> VFAttribute {
            if text.lowercased() == "none" {
                guard qos == nil, proto == nil else {
                    throw .usage("--qos and --proto need a VLAN id, not none", hint: "give --vlan 1-4094 with them, or leave them out to clear the VLAN")
                }
                return .vlan(id: 0, qos: 0, proto: .dot1Q)
            }
            guard let id = Int(text), (1...4094).contains(id) else {
                throw .usage("--vlan '\(text.printable)' is not a VLAN id from 1 to 4094", hint: "0 and 4095 are reserved; write --vlan none to clear the VF's VLAN")
            }
            return .vlan(id: id, qos: qos ?? 0, proto: try proto.map(VLANProtocol.parse) ?? .dot1Q)
        }

        /// Every PF netdev's VFs and addresses, read over netlink. A PF that cannot be read (no
        /// netdev, a driver without VF reporting) is left out; its plans then say so.
        static func readLinks(_ netlink: any VFNetlink, _ pfs: [PCIFunction]) -> VFPlanner.Links {
            var links = VFPlanner.Links()
            for name in pfs.flatMap(\.netInterfaces) {
                guard let vfs = try? netlink.vfs(ofInterface: name) else { continue }
                links.vfs[name] = vfs
                links.addresses[name] = try? netlink.addresses(ofInterface: name)
            }
            return links
        }

        /// What the sriov commands plan from: every function (VFs and PFs) and the host's facts
        /// (their network state, and who holds their groups open).
        struct Seen {
            var snapshot: HostSnapshot
            var facts: HostFacts

            static func observe(_ layer: DeviceLayer) throws -> Seen {
                let (snapshot, facts) = try layer.observeForPlanning(.all, openGroups: true, vfioVariants: true)
                return Seen(snapshot: snapshot, facts: facts)
            }
        }
    }
}

/// The sriov commands that change one PF: the PF named by address or interface, a full read, the
/// plan; after the report, the PF as it is now (text).
protocol PFChangingCommand: ChangingCommand {
    var pf: String { get }
    func plan(_ request: Request, _ pf: PCIAddress, _ seen: Vfioctl.SRIOV.Seen, _ transaction: Transaction) throws -> Plan
}

extension PFChangingCommand {
    func plan(_ request: Request, _ transaction: Transaction) throws -> Plan {
        let seen = try Vfioctl.SRIOV.Seen.observe(transaction.layer)
        return try plan(request, try Vfioctl.SRIOV.resolve(pf, in: seen.snapshot), seen, transaction)
    }

    func render(_ report: RunReport, _ transaction: Transaction) throws {
        Output.emit(output.format, json: { RunOutput.json(report) }, text: { RunOutput.text(report) })
        let plan = report.plan
        guard output.format == .text && !report.dryRun && !plan.refused,
              let pf = plan.originals.vfCounts.first?.pf ?? plan.changed.first ?? plan.unchanged.first else { return }
        let layer = transaction.layer
        let after = try layer.snapshot([])
        let pfs = SRIOVOutput.pfs(after, only: pf)
        let links = transaction.netlink.map { Vfioctl.SRIOV.readLinks($0, pfs) } ?? .init()
        Output.write("\n" + SRIOVOutput.text(pfs, after, FactsReader(root: layer.root).read(for: pfs), links))
    }
}
