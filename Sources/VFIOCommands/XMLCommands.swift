import ArgumentParser
import VFIOCore
import VFIODeviceLayer

enum YesNo: String, ExpressibleByArgument, CaseIterable {
    case yes, no
}

enum DriverName: String, ExpressibleByArgument, CaseIterable {
    case vfio
}

enum BarSetting: String, ExpressibleByArgument, CaseIterable {
    case off
}

/// Options shared by `xml hostdev` and `xml qemu-args`: what surrounds each assigned function.
struct HostdevOptionGroup: ParsableArguments {
    @Option(name: .long, help: "libvirt detaches and reattaches the devices itself (yes) or expects them detached (no).")
    var managed: YesNo = .yes

    @Option(name: .long, help: ArgumentHelp("A ROM image for the device (GPUs whose own ROM is unusable).", valueName: "PATH"))
    var romFile: String?

    @Option(name: .long, help: "off: do not expose the device's ROM BAR to the guest.")
    var romBar: BarSetting?

    @Option(name: .long, help: ArgumentHelp("Put the devices at this guest PCI slot (and the next ones), functions kept, multifunction='on' on function 0.",
                                            valueName: "BB:SS"))
    var guestAddress: String?

    @Option(name: .long, help: "vfio: add <driver name='vfio'/> (libvirt's default on current hosts).")
    var driver: DriverName?

    func validate() throws {
        if romFile != nil && romBar != nil { throw ValidationError("give --rom-file or --rom-bar off, not both") }
        if let romFile, romFile.isEmpty || romFile.contains("\n") { throw ValidationError("--rom-file '\(romFile.printable)' is not a usable path") }
    }

    func options() throws(VFIOError) -> LibvirtXML.HostdevOptions {
        LibvirtXML.HostdevOptions(managed: managed == .yes, vfioDriver: driver == .vfio,
                                  rom: romFile.map(LibvirtXML.ROM.file) ?? (romBar == .off ? .barOff : nil),
                                  guestSlot: try guestAddress.map(LibvirtXML.GuestSlot.parse))
    }
}

/// `xml hostdev` and `xml qemu-args`: the same assignment, written for libvirt or for QEMU.
protocol AssignmentCommand: VfioctlCommand {
    static var name: String { get }
    var targets: GroupTargets { get }
    var hostdev: HostdevOptionGroup { get }
    var mdevs: MdevTargets { get }
    var global: GlobalOptions { get }
    static func render(_ assigned: AssignedFunctions, _ options: LibvirtXML.HostdevOptions) -> String
    static func render(_ mdevs: [(uuid: MdevUUID, model: String)]) -> String
}

extension AssignmentCommand {
    func run(in invocation: Invocation) throws { try assign(try hostdev.options(), invocation) }

    /// The PCI functions the targets name and the mdevs `--mdev` names, rendered.
    func assign(_ options: LibvirtXML.HostdevOptions, _ invocation: Invocation) throws {
        let layer = try global.deviceLayer(invocation)
        let mdevs = try self.mdevs.resolved(layer, options: options)
        if !mdevs.isEmpty && targets.addresses.isEmpty && targets.group.isEmpty {
            Output.write(Self.render(mdevs))
            return
        }
        let assigned = try AssignedFunctions(targets, options, layer: layer, command: Self.name)
        Output.write(Self.render(assigned, options) + (mdevs.isEmpty ? "" : Self.render(mdevs)))
    }
}

/// `--mdev UUID` of `xml hostdev` and `xml qemu-args`: active mdevs, each with the model its
/// type's device_api gives (vfio-pci, vfio-ccw, vfio-ap).
struct MdevTargets: ParsableArguments {
    @Option(name: .customLong("mdev"), help: ArgumentHelp("An active mdev to assign, by UUID (repeatable; 'vfioctl mdev list').", valueName: "uuid"),
            completion: HostCompletion.activeMdevs.kind)
    var uuids: [String] = []

    func resolved(_ layer: DeviceLayer, options: LibvirtXML.HostdevOptions) throws(VFIOError) -> [(uuid: MdevUUID, model: String)] {
        guard !uuids.isEmpty else { return [] }
        let wanted = try uuids.map { text throws(VFIOError) in try MdevUUID.parse(text) }
        if options.rom != nil || options.guestSlot != nil || options.driverModel != nil {
            throw .usage("--rom-file, --rom-bar, --guest-address and --driver-model apply to PCI functions, not to --mdev",
                         hint: "give the mdevs in a command of their own")
        }
        let state = MdevReader(root: layer.root).read()
        return try wanted.map { uuid throws(VFIOError) in
            guard let device = state.device(uuid) else {
                let defined = state.definitions(uuid).first
                throw .failed("mdev \(uuid) is not active (not in /sys/bus/mdev/devices)" + (defined.map { ": mdevctl defines it on \($0.parent)" } ?? ""),
                              hint: defined != nil ? "start it first: mdevctl start -u \(uuid)"
                                : "create it first: vfioctl mdev create PARENT --type TYPE --uuid \(uuid) ('vfioctl mdev list' shows the mdevs)")
            }
            let api = state.type(of: device)?.deviceAPI
            guard let model = LibvirtXML.mdevModel(deviceAPI: api) else {
                throw .failed("mdev \(uuid)'s type \(device.type ?? "?") has device_api '\(api ?? "unknown")': libvirt and QEMU assign vfio-pci, vfio-ccw and vfio-ap mdevs",
                              hint: "'vfioctl mdev types \(device.parent)' shows the types' device APIs")
            }
            return (uuid, model)
        }
    }
}

/// The endpoints of the groups the targets name, as `xml hostdev` and `xml qemu-args` assign them.
struct AssignedFunctions {
    let functions: [PCIAddress]
    let guest: [PCIAddress: (address: PCIAddress, multifunction: Bool)]?

    init(_ targets: GroupTargets, _ options: LibvirtXML.HostdevOptions, layer: DeviceLayer, command: String) throws {
        let (addresses, groups) = try targets.required(command, or: "--mdev UUID", hint: "vfioctl \(command) 0000:01:00.0 (its whole group is assigned)")
        // A driver model must be a variant of each function: their vfio_pci aliases are read for it.
        let snapshot = try layer.observe(ObservationScope(.around(addresses: addresses, groups: groups, following: Preflight.readScope(for:)),
                                                          vfioVariants: options.driverModel != nil)).snapshot
        try Vfioctl.Check.requireKnown(addresses, groups, in: snapshot)
        var chosen = Set<PCIAddress>()
        for address in addresses {
            guard let f = snapshot.function(address), !f.isBridge else {
                throw VFIOError.usage("\(address) is a bridge: bridges stay with the host", hint: "give the devices behind it")
            }
            if let group = f.iommuGroup {
                chosen.formUnion(snapshot.endpoints(ofGroup: group))
            } else {
                Output.warning("\(address) is in no IOMMU group (the IOMMU is off): QEMU cannot take it until it is on")
                chosen.insert(address)
            }
        }
        for id in groups { chosen.formUnion(snapshot.endpoints(ofGroup: id)) }
        functions = chosen.sorted()
        if let model = options.driverModel {
            for f in functions.compactMap({ snapshot.function($0) }) {
                if case .failure(let finding) = VFIODriverChoice.named(model).pick(for: f) {
                    throw VFIOError.failed(finding.message, hint: finding.hint.map { $0.replacingOccurrences(of: "--driver", with: "--driver-model") })
                }
            }
        }
        guest = try LibvirtXML.guestAddresses(functions, from: options.guestSlot)
    }
}

extension Vfioctl {
    struct XML: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "xml",
            abstract: "libvirt XML for what this host has: <hostdev>, <interface type='hostdev'>, hostdev <network> pools, QEMU arguments, <cpu>.",
            discussion: """
                Paste the elements into 'virsh edit' (inside <devices>), or save one per file for \
                'virsh attach-device GUEST FILE'; a <network> goes to 'virsh net-define FILE'.
                """,
            subcommands: [Hostdev.self, Interface.self, Network.self, QemuArgs.self, XMLCPU.self])
    }

    struct Hostdev: AssignmentCommand {
        static let name = "xml hostdev"
        static let configuration = CommandConfiguration(
            commandName: "hostdev",
            abstract: "<hostdev> elements for every endpoint of the groups given (bridges stay with the host).")

        @OptionGroup var targets: GroupTargets
        @OptionGroup var hostdev: HostdevOptionGroup
        @OptionGroup var mdevs: MdevTargets

        @Option(name: .long, help: ArgumentHelp("libvirt 10's <driver model='NAME'/>: the vfio-pci variant driver libvirt binds each "
                                                + "device to (one of its 'vfio variant drivers' in 'vfioctl show', or vfio-pci).",
                                                valueName: "NAME"))
        var driverModel: String?

        @OptionGroup var global: GlobalOptions

        func run(in invocation: Invocation) throws {
            var options = try hostdev.options()
            if let driverModel {
                guard case .named(let name) = VFIODriverChoice.parse(driverModel) else {
                    throw VFIOError.usage("--driver-model '\(driverModel.printable)' is not a driver name (letters, digits, '_' and '-', at most 55)",
                                          hint: "a variant driver 'vfioctl show ADDRESS' lists under 'vfio variant drivers'")
                }
                options.driverModel = name
            }
            try assign(options, invocation)
        }

        static func render(_ assigned: AssignedFunctions, _ options: LibvirtXML.HostdevOptions) -> String {
            LibvirtXML.render(assigned.functions.map { LibvirtXML.hostdev($0, options, guest: assigned.guest?[$0]) })
        }

        static func render(_ mdevs: [(uuid: MdevUUID, model: String)]) -> String {
            LibvirtXML.render(mdevs.map { LibvirtXML.mdevHostdev($0.uuid, model: $0.model) })
        }
    }

    struct QemuArgs: AssignmentCommand {
        static let name = "xml qemu-args"
        static let configuration = CommandConfiguration(
            commandName: "qemu-args",
            abstract: "The -device vfio-pci arguments for the same assignment, for QEMU without libvirt.",
            discussion: """
                --iommufd gives QEMU's iommufd backend (QEMU 8.2 or newer): -object iommufd,id=iommufd0 \
                first, and iommufd=iommufd0 on each device, which QEMU opens through /dev/iommu and the \
                function's /dev/vfio/devices/vfioN rather than /dev/vfio/N and /dev/vfio/vfio. It needs a \
                kernel with iommufd and the VFIO device cdev (6.6 or newer, CONFIG_IOMMUFD and \
                CONFIG_VFIO_DEVICE_CDEV; Debian's kernels have neither): on a host without them it is \
                refused (exit 2) with the reason 'vfioctl check' gives, since QEMU would fail there. For \
                another host, run it there or on its snapshot (--root DIR).
                """)

        @OptionGroup var targets: GroupTargets
        @OptionGroup var hostdev: HostdevOptionGroup
        @OptionGroup var mdevs: MdevTargets

        @Flag(name: .long, help: "QEMU's iommufd backend (-object iommufd); refused on a host without iommufd and the VFIO cdev.")
        var iommufd = false

        @OptionGroup var global: GlobalOptions

        func run(in invocation: Invocation) throws {
            let options = try hostdev.options()
            let layer = try global.deviceLayer(invocation)
            let mdevs = try self.mdevs.resolved(layer, options: options)
            let onlyMdevs = !mdevs.isEmpty && targets.addresses.isEmpty && targets.group.isEmpty
            let assigned = onlyMdevs ? nil : try AssignedFunctions(targets, options, layer: layer, command: Self.name)
            if iommufd, let refusal = IOMMUFD.refusal(FactsReader(root: layer.root).read(for: [])) {
                throw VFIOError(.refused, "--iommufd: " + refusal.message,
                                hint: (refusal.hint.map { $0 + "; " } ?? "") + "without --iommufd the arguments use the group path")
            }
            let functions = LibvirtXML.qemuArguments(assigned?.functions ?? [], options, guest: assigned?.guest, iommufd: iommufd)
            let devices = mdevs.flatMap { LibvirtXML.mdevQemuArguments($0.uuid, model: $0.model, iommufd: iommufd) }
            Output.write((functions + devices).joined(separator: " ") + "\n")
        }

        static func render(_ assigned: AssignedFunctions, _ options: LibvirtXML.HostdevOptions) -> String {
            LibvirtXML.qemuArguments(assigned.functions, options, guest: assigned.guest).joined(separator: " ") + "\n"
        }

        static func render(_ mdevs: [(uuid: MdevUUID, model: String)]) -> String {
            mdevs.flatMap { LibvirtXML.mdevQemuArguments($0.uuid, model: $0.model) }.joined(separator: " ") + "\n"
        }
    }

    struct Interface: VfioctlCommand {
        static let configuration = CommandConfiguration(
            commandName: "interface",
            abstract: "<interface type='hostdev'> for an SR-IOV VF, with its MAC, VLAN and 802.1Qbh port profile.")

        @Argument(help: ArgumentHelp("The VF: DDDD:BB:SS.F, BB:SS.F or libvirt's pci_DDDD_BB_SS_F.", valueName: "address"),
                  completion: HostCompletion.vfs.kind)
        var address: String

        @Option(name: .long, help: ArgumentHelp("The guest NIC's MAC (unicast, not zero); libvirt makes one up without it.", valueName: "MAC"))
        var mac: String?

        @Option(name: .long, help: ArgumentHelp("The VLAN tag the VF adds (1-4094); ID:native marks it untagged for the guest.", valueName: "ID[:native]"))
        var vlan: String?

        @Option(name: .long, help: ArgumentHelp("An 802.1Qbh port profile for the switch.", valueName: "NAME"))
        var virtualportProfile: String?

        @Option(name: .long, help: "libvirt detaches the VF itself (yes) or expects it detached (no).")
        var managed: YesNo = .yes

        @Option(name: .long, help: "vfio: add <driver name='vfio'/>.")
        var driver: DriverName?

        @OptionGroup var global: GlobalOptions

        func run(in invocation: Invocation) throws {
            let address = try PCIAddress.parse(address)
            let mac = try mac.map(LibvirtXML.MAC.parse)
            let vlan = try vlan.map(LibvirtXML.VLAN.parse)
            if let profile = virtualportProfile { try LibvirtXML.validateName(profile, what: "port profile") }
            let snapshot = try global.deviceLayer(invocation).scopedSnapshot(addresses: [address], groups: [])
            try Vfioctl.Check.requireKnown([address], [], in: snapshot)
            guard let f = snapshot.function(address), !f.isBridge else {
                throw VFIOError.usage("\(address) is a bridge, not a network device", hint: "give an SR-IOV VF ('vfioctl list' shows them)")
            }
            if f.physfn == nil {
                Output.warning("\(address) is not an SR-IOV VF: a MAC or VLAN set this way does not survive the device's reset "
                               + "(libvirt documents <interface type='hostdev'> for VFs; use 'vfioctl xml hostdev' for a whole NIC)")
            }
            Output.write(LibvirtXML.interface(address, mac: mac, vlan: vlan, profile: virtualportProfile, managed: managed == .yes,
                                              vfioDriver: driver == .vfio).rendered())
        }
    }

    struct Network: VfioctlCommand {
        static let configuration = CommandConfiguration(
            commandName: "network",
            abstract: "A hostdev <network>: a VF pool guests draw from with <interface type='network'>.",
            discussion: """
                One --pf gives <pf dev=.../> (libvirt takes one PF). Several PFs, or --vf, list the VFs \
                one by one, which is how a pool spanning several PFs is written.
                With --pool FILE, the networks a pool file names (docs/pools.md): NAME, or every one \
                in turn. A network takes the vfio-pci VFs of each pf entry naming it; VFs not created \
                yet are placed by the PF's SR-IOV offset and stride; one VLAN shared by all of them \
                becomes the network's <vlan>.
                """)

        @Argument(help: ArgumentHelp("The network's name (with --pool: one of the file's; all of them without it).", valueName: "name"))
        var name: String?

        @Option(name: .long, help: ArgumentHelp("A PF's network interface (repeatable).", valueName: "DEV"), completion: HostCompletion.pfInterfaces.kind)
        var pf: [String] = []

        @Option(name: .long, help: ArgumentHelp("A VF's PCI address or libvirt name (repeatable).", valueName: "ADDRESS"), completion: HostCompletion.vfs.kind)
        var vf: [String] = []

        @Option(name: .long, help: ArgumentHelp("A pool file (.toml, .yaml): its networks, laid out on this host.", valueName: "FILE"),
                completion: .file(extensions: ["toml", "yaml", "yml"]))
        var pool: String?

        @OptionGroup var global: GlobalOptions

        func run(in invocation: Invocation) throws {
            if let pool {
                try runPool(pool, invocation)
                return
            }
            guard let name else {
                throw VFIOError.usage("xml network needs the network's name", hint: "vfioctl xml network vf-pool --pf enp5s0f0, or --pool FILE")
            }
            try LibvirtXML.validateName(name, what: "network")
            let vfAddresses = try vf.map { text throws(VFIOError) in try PCIAddress.parse(text) }
            guard !pf.isEmpty || !vfAddresses.isEmpty else {
                throw VFIOError.usage("xml network needs --pf DEV or --vf ADDRESS", hint: "vfioctl xml network vf-pool --pf enp5s0f0")
            }
            let snapshot = try global.deviceLayer(invocation).snapshot([])
            var vfs = vfAddresses
            for address in vfAddresses {
                guard let f = snapshot.function(address) else { throw UnknownFunction.error(address) }
                guard f.physfn != nil else {
                    throw VFIOError.usage("\(address) is not an SR-IOV VF: a hostdev network hands out VFs",
                                          hint: "'vfioctl list' marks VFs; create them with sriov_numvfs on their PF")
                }
            }
            for dev in pf {
                guard let function = snapshot.function(interface: dev) else {
                    throw VFIOError.failed("no network interface '\(dev.printable)' on a PCI function of this host",
                                           hint: "'ip link' lists the interfaces; give the PF's name")
                }
                guard let sriov = function.sriov else {
                    throw VFIOError.usage("\(dev) (\(function.address)) is not an SR-IOV PF", hint: "give the interface of a PF with sriov_totalvfs")
                }
                if sriov.numVFs == 0 {
                    Output.warning("\(dev) has no VFs enabled now: the pool is empty until sriov_numvfs is set")
                }
                if pf.count > 1 { vfs += sriov.vfs }
            }
            let element = LibvirtXML.network(name: name, pf: pf.count == 1 && vfAddresses.isEmpty ? pf[0] : nil,
                                             vfs: Array(Set(vfs)))
            Output.write(element.rendered())
        }

        /// The file's networks (or the one named), one <network> after another.
        func runPool(_ path: String, _ invocation: Invocation) throws {
            guard pf.isEmpty && vf.isEmpty else {
                throw VFIOError.usage("give --pool FILE or --pf/--vf, not both", hint: "the pool file says which VFs each network takes")
            }
            let spec = try PoolFile.load(path)
            let names = spec.networkNames
            guard !names.isEmpty else {
                throw VFIOError.usage("\(path.printable) names no network", hint: "give a pf entry network = \"NAME\" (docs/pools.md)")
            }
            if let name, !names.contains(name) {
                throw VFIOError.usage("\(path.printable) names no network '\(name.printable)'",
                                      hint: "its networks: " + names.joined(separator: ", "))
            }
            let snapshot = try global.deviceLayer(invocation).snapshot([])
            var out = ""
            for network in name.map({ [$0] }) ?? names {
                let layout = try PoolNetworks.layout(network, spec, snapshot)
                for warning in layout.warnings { Output.warning(warning) }
                out += layout.element.rendered()
            }
            Output.write(out)
        }
    }
}
