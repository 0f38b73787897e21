import ArgumentParser
import VFIOCore
import VFIODeviceLayer

extension ExportFormat: ExpressibleByArgument {}
extension NovaNUMAPolicy: ExpressibleByArgument {}

extension Vfioctl {
    struct Export: VfioctlCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: "Write this host's passthrough devices for a cluster engine: nova, neutron, kubevirt, sriov-device-plugin, proxmox.",
            discussion: """
                Prints the configuration the engine reads (docs/export.md); it never edits the engine's \
                files. What is exported: the functions named (ADDRESS, --group N), the VFs a pool file \
                gives to a vfio driver and its devices to detach (--pool FILE), or by default every \
                function on vfio-pci or a vfio-pci variant driver (for kubevirt also every mdev with \
                an IOMMU group; --mdev UUID names one). Only whole IOMMU groups are \
                exported: a named function brings its group's other endpoints; by default a group \
                only partly on vfio is left out with a warning. A function the host needs (its \
                filesystems, swap, a network interface in use, the console) is refused (exit 2), as \
                detach refuses it.

                Names: --name is nova's alias, KubeVirt's resourceName (DOMAIN/NAME), the device \
                plugin's resourceName, or Proxmox's mapping id; --physnet the physical network of a \
                PF's VFs (nova, neutron); a pool entry's network fills in for its VFs.

                --check FILE reads the engine's file instead and compares it with the host: an \
                address that no longer holds its device, ids or subsystem ids that changed, a group \
                that grew past what the file gives, a VF range past the VF count, a function off the \
                driver the engine needs, a PCI domain nova cannot match. Each is a finding with its \
                fix; exit 2 when one is an error, as 'vfioctl check'.
                """)

        @Argument(help: ArgumentHelp("The engine: nova ([pci] device_spec and alias), neutron (sriov_agent.ini [sriov_nic]), "
                                     + "kubevirt (permittedHostDevices), sriov-device-plugin (config.json), proxmox (pci.cfg mappings).",
                                     valueName: "format"))
        var engine: ExportFormat

        @OptionGroup var targets: GroupTargets

        @Option(name: .long, help: ArgumentHelp("A pool file (.toml, .yaml): its vfio VFs, named by their entry's network, and its devices to detach.",
                                                valueName: "FILE"), completion: .file(extensions: ["toml", "yaml", "yml"]))
        var pool: String?

        @Option(name: .long, help: ArgumentHelp("A mediated device to export, by UUID (repeatable; kubevirt's mediatedDevices).", valueName: "UUID"),
                completion: HostCompletion.activeMdevs.kind)
        var mdev: [String] = []

        @Option(name: .long, help: ArgumentHelp("The name the engine gives the devices (nova alias, resource name, mapping id).", valueName: "NAME"))
        var name: String?

        @Option(name: .long, help: ArgumentHelp("The physical network of a PF's VFs: NAME for every PF, or PF=NAME (repeatable; PF: interface or address).",
                                                valueName: "[PF=]NAME"), completion: HostCompletion.pfInterfaces.kind)
        var physnet: [String] = []

        @Flag(name: .long, help: "nova: tag the VFs remote_managed (a SmartNIC DPU's, for neutron's remote-managed ports); each needs a card serial number in its or its PF's VPD.")
        var remoteManaged = false

        @Option(name: .long, help: "nova's alias numa_policy.")
        var numaPolicy: NovaNUMAPolicy = .legacy

        @Option(name: .long, help: ArgumentHelp("Proxmox's node name (default: the root's etc/hostname).", valueName: "NAME"))
        var node: String?

        @Option(name: .long, help: ArgumentHelp("Compare this engine's file with the host instead (exit 2 on drift); - reads stdin.", valueName: "FILE"),
                completion: .file())
        var check: String?

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: FormatOptions

        func run(in invocation: Invocation) throws {
            let (addresses, groups) = try targets.parsed()
            var names = ExportNames(name: name, physnets: try physnet.map { text throws(VFIOError) in try ExportNames.Physnet.parse(text) },
                                    numaPolicy: numaPolicy)
            let spec = try pool.map { path throws(VFIOError) in try PoolFile.load(path) }
            let mdevs = try mdev.map { text throws(VFIOError) in try MdevUUID.parse(text) }
            if remoteManaged && engine != .nova {
                throw VFIOError.usage("--remote-managed is nova's device_spec tag: it goes with export nova", hint: "leave it out for \(engine)")
            }
            names.remoteManaged = remoteManaged
            if !mdevs.isEmpty && engine != .kubevirt {
                throw VFIOError.usage("--mdev exports a mediated device, which only KubeVirt's export takes (mediatedDevices)",
                                      hint: "vfioctl export kubevirt --mdev \(mdevs[0])")
            }
            let request = ExportRequest(addresses: addresses, groups: groups, pool: spec, mdevs: mdevs)
            let layer = try global.deviceLayer(invocation)
            if engine == .proxmox {
                if let node {
                    try ProxmoxExport.validateNode(node, from: "--node")
                    names.node = node
                } else if let hostname = FactsReader(root: layer.root).hostname() {
                    try ProxmoxExport.validateNode(hostname, from: "the host's name (\(layer.root.path("etc/hostname")))")
                    names.node = hostname
                }
            } else if node != nil {
                throw VFIOError.usage("--node is Proxmox's node name: it goes with export proxmox", hint: "leave it out for \(engine)")
            }
            if let check {
                guard addresses.isEmpty, groups.isEmpty, pool == nil, mdevs.isEmpty, name == nil, physnet.isEmpty, !remoteManaged else {
                    throw VFIOError.usage("--check compares the file with the host: it takes no selection or names",
                                          hint: "vfioctl export \(engine) --check FILE (and --node NAME for proxmox)")
                }
                try runCheck(check, names: names, layer: layer)
                return
            }
            let seen = try layer.observe(ObservationScope(.all, facts: true))
            guard let facts = seen.facts else { preconditionFailure("an observation with facts: true returned none") }
            let mdevState = engine == .kubevirt ? MdevReader(root: layer.root).read() : nil
            let selection = try ExportSelection.select(request, seen.snapshot, facts, mdevs: mdevState)
            let vpd = remoteManaged ? VPDReader(root: layer.root).read(selection.functions.map(\.function).filter { $0.physfn != nil }) : [:]
            let document = try VFIOCore.Export.render(engine, selection, seen.snapshot, names, mdevs: mdevState, vpd: vpd)
            Output.emit(output.format, json: { ExportOutput.json(document) }, text: { document.content })
            if output.format == .text {
                for warning in ExportOutput.warnings(document.findings) {
                    Output.warning(warning.message)
                    if let hint = warning.hint { Output.hint(hint) }
                }
            }
        }

        /// `--check FILE`: the file read and parsed first (a file that is not the engine's is a
        /// usage error), then the host, then the findings; exit 2 on drift.
        func runCheck(_ path: String, names: ExportNames, layer: DeviceLayer) throws {
            let text = try InputFile.read(path, what: "\(engine) configuration file")
            let file = path == "-" ? "stdin" : path
            var parsedTree: PoolValue?
            var parsedJSON: JSON?
            switch engine {
            case .kubevirt: parsedTree = try PoolFile.yamlTree(text, name: file)
            case .sriovDevicePlugin:
                do { parsedJSON = try JSONParser.parse(text) } catch {
                    throw VFIOError.usage("\(file) is not JSON: \(error.message)", hint: "give the plugin's config.json (one JSON object with resourceList)")
                }
            default: break
            }
            let snapshot = try layer.snapshot([])
            let findings: [Finding] = switch engine {
            case .nova: try ExportDrift.nova(text, file: file, snapshot, vpd: { functions in VPDReader(root: layer.root).read(functions) })
            case .neutron: try ExportDrift.neutron(text, file: file, snapshot)
            case .kubevirt: try ExportDrift.kubevirt(parsedTree ?? .table([]), file: file, snapshot, mdevs: MdevReader(root: layer.root).read())
            case .sriovDevicePlugin: try ExportDrift.devicePlugin(parsedJSON ?? .null, file: file, snapshot)
            case .proxmox: try ExportDrift.proxmox(text, file: file, node: names.node, snapshot)
            }
            let drift = DriftReport(format: engine, file: file, findings: findings)
            Output.emit(output.format, json: { ExportOutput.json(drift) }, text: { ExportOutput.text(drift) })
            if !drift.passed { throw ExitCode(2) }
        }
    }
}
