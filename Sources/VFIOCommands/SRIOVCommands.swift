import ArgumentParser
import VFIOActuator
import VFIOCore
import VFIODeviceLayer

extension Vfioctl {
    struct SRIOV: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sriov",
            abstract: "SR-IOV VFs: status, create (bound to vfio-pci, the host driver, or none), destroy.",
            subcommands: [Status.self, Create.self, Destroy.self])

        /// A PF named by address or by its network interface.
        static func resolve(_ text: String, in snapshot: HostSnapshot) throws(VFIOError) -> PCIAddress {
            if let address = PCIAddress(text) { return address }
            if let f = snapshot.functions.first(where: { $0.netInterfaces.contains(text) }) { return f.address }
            throw .usage("no PF '\(text.printable)': not a PCI address, nor a network interface of a PCI function",
                         hint: "'vfioctl sriov status' lists the SR-IOV PFs with their interfaces")
        }

        struct Status: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Each SR-IOV PF: driver, interface and link, VFs enabled of total, autoprobe; each VF: index, address, driver, group, NUMA node.")

            @Argument(help: ArgumentHelp("A PF (address or interface name); default: every PF.", valueName: "PF"))
            var pf: String?

            @OptionGroup var global: GlobalOptions
            @OptionGroup var output: FormatOptions

            func run() throws {
                let layer = try global.deviceLayer()
                let snapshot = try layer.snapshot([])
                let only = try pf.map { text throws(VFIOError) in try SRIOV.resolve(text, in: snapshot) }
                let pfs = SRIOVOutput.pfs(snapshot, only: only)
                if let only, pfs.isEmpty {
                    throw VFIOError.failed("\(only) is not an SR-IOV PF" + (snapshot.function(only) == nil ? " (no such function)" : ""),
                                           hint: "'vfioctl sriov status' lists the SR-IOV PFs")
                }
                let facts = FactsReader(root: layer.root).read(for: pfs + pfs.flatMap { $0.sriov?.vfs ?? [] }.compactMap { snapshot.function($0) })
                Output.emit(output.format, json: { SRIOVOutput.json(pfs, snapshot, facts) }, text: { SRIOVOutput.text(pfs, snapshot, facts) })
            }
        }

        struct Create: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Enable N VFs on a PF and bind them, journaled and rolled back on failure.",
                discussion: """
                    A different count goes through 0 (the kernel refuses non-zero to non-zero), which \
                    destroys every VF: refused while one is in use (its group open by a guest, or its \
                    interface up). With --driver vfio-pci (the default) or none, sriov_drivers_autoprobe \
                    is turned off first so no host netdev appears for a moment; vfio-pci VFs are bound by \
                    driver_override. The same count again only fixes the bindings; a second run changes \
                    nothing.
                    """)

            @Argument(help: ArgumentHelp("The PF: its address or its interface name.", valueName: "PF"))
            var pf: String

            @Option(name: .long, help: "How many VFs (1 to sriov_totalvfs).")
            var count: Int

            @Option(name: .long, help: ArgumentHelp("Where the VFs go: vfio-pci, host (the kernel's VF driver) or none.", valueName: "DRIVER"))
            var driver: String = SRIOVPlanner.VFDriver.vfio.rawValue

            @OptionGroup var actuation: ActuationOptions
            @OptionGroup var global: GlobalOptions
            @OptionGroup var output: FormatOptions

            func run() throws {
                guard let choice = SRIOVPlanner.VFDriver(rawValue: driver) else {
                    throw VFIOError.usage("--driver '\(driver.printable)' is not vfio-pci, host or none",
                                          hint: "vfio-pci for guests (<hostdev>, hostdev networks), host for VF netdevs on the host")
                }
                try SRIOV.carryOut("sriov create", actuation: actuation, global: global, format: output.format) { snapshot, facts throws(VFIOError) in
                    SRIOVPlanner.create(.init(pf: try SRIOV.resolve(pf, in: snapshot), count: count, driver: choice), snapshot, facts)
                }
            }
        }

        struct Destroy: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Remove a PF's VFs (sriov_numvfs = 0); refused while one is in use.")

            @Argument(help: ArgumentHelp("The PF: its address or its interface name.", valueName: "PF"))
            var pf: String

            @OptionGroup var actuation: ActuationOptions
            @OptionGroup var global: GlobalOptions
            @OptionGroup var output: FormatOptions

            func run() throws {
                try SRIOV.carryOut("sriov destroy", actuation: actuation, global: global, format: output.format) { snapshot, facts throws(VFIOError) in
                    SRIOVPlanner.destroy(try SRIOV.resolve(pf, in: snapshot), snapshot, facts)
                }
            }
        }

        /// Lock, journal check, a full read (VFs and their network state, open groups), the plan,
        /// and the journaled run; then the PF as it is now (text).
        static func carryOut(_ name: String, actuation: ActuationOptions, global: GlobalOptions, format: OutputFormat,
                             plan make: (HostSnapshot, HostFacts) throws(VFIOError) -> BindingPlan) throws {
            let session = try BindingSession(name, global: global, options: actuation, needsLock: true)
            try session.requireNoJournal()
            let snapshot = try session.layer.snapshot([])
            let reader = FactsReader(root: session.layer.root)
            var facts = reader.read(for: snapshot.functions.filter { $0.sriov != nil || $0.physfn != nil })
            facts.vfioUsers = reader.vfioUsers()
            let plan = try make(snapshot, facts)
            try session.carryOut(plan, dryRun: actuation.dryRun, format: format)
            if format == .text && !actuation.dryRun, let pf = plan.sriovOriginals.first?.pf ?? plan.unchanged.first {
                let after = try session.layer.snapshot([])
                let pfs = SRIOVOutput.pfs(after, only: pf)
                Output.write(SRIOVOutput.text(pfs, after, reader.read(for: pfs)))
            }
        }
    }
}
