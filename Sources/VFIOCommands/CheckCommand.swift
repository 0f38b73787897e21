import ArgumentParser
import VFIOCore
import VFIODeviceLayer

extension Vfioctl {
    struct Check: VfioctlCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Prove a device, a group or a guest definition can be assigned, and say how to fix what stops it.",
            discussion: """
                With no target, checks the host: IOMMU on, interrupt remapping active, VFIO modules and \
                /dev/vfio, locked-memory limit. With targets, also each function and its IOMMU group: \
                viability (every member unbound or on vfio-pci; pcieport and pci-stub do not block since \
                Linux 5.19), what the host would lose (filesystems, swap, LVM/MD, the console, network \
                interfaces in use), reset, ACS, SR-IOV.

                Exit status: 0 when no finding is an error, 2 when one is.

                As a libvirt hook (/etc/libvirt/hooks/qemu.d/vfioctl, see scripts/libvirt-hook): \
                --libvirt-hook reads the domain XML libvirt passes on stdin for 'prepare begin', prints \
                the reasons on stderr and exits 2 to stop the guest from starting (also when the domain \
                XML cannot be read: malformed, nested too deep, too large).
                """)

        @Argument(help: ArgumentHelp("Functions to check: DDDD:BB:SS.F, BB:SS.F or libvirt's pci_DDDD_BB_SS_F.", valueName: "address"),
                  completion: HostCompletion.functions.kind)
        var addresses: [String] = []

        @Option(name: .long, help: ArgumentHelp("An IOMMU group to check (repeatable).", valueName: "N"), completion: HostCompletion.groups.kind)
        var group: [Int] = []

        @Option(name: .long, help: ArgumentHelp("A libvirt domain XML whose <hostdev> and <interface type='hostdev'> to check; - reads stdin.",
                                                valueName: "FILE"), completion: .file(extensions: ["xml"]))
        var domain: String?

        @Flag(name: .long, help: "Run as libvirt's qemu hook: domain XML on stdin, reasons on stderr, exit 2 to stop the start.")
        var libvirtHook = false

        @Flag(name: .long, help: "Also report nested virtualization (vmx/svm, kvm_intel/kvm_amd nested, VMCS shadowing).")
        var nested = false

        @Flag(name: .long, help: "Leave out the informational findings in text output.")
        var brief = false

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: FormatOptions

        func validate() throws {
            if libvirtHook && domain != nil && domain != "-" {
                throw ValidationError("--libvirt-hook reads the domain from stdin; leave out --domain")
            }
        }

        func run(in invocation: Invocation) throws {
            try GroupTargets.validate(group)
            let addresses = try addresses.map { text throws(VFIOError) in try PCIAddress.parse(text) }
            var request = CheckRequest(addresses: addresses, groups: group, nested: nested)
            if libvirtHook || domain != nil {
                let source = libvirtHook || domain == "-" ? "stdin" : domain!
                request.domain = try Self.readDomain(domain ?? "-", source: source, hook: libvirtHook)
            }
            let layer = try global.deviceLayer(invocation)
            let snapshot = try layer.scopedSnapshot(addresses: addresses + (request.domain?.devices.map(\.address) ?? []),
                                                    groups: group)
            try Self.requireKnown(addresses, group, in: snapshot)
            var facts = FactsReader(root: layer.root).read(for: snapshot.functions)
            facts.mdevs = MdevReader(root: layer.root).read()
            if let mdevs = request.domain?.mdevs, !mdevs.isEmpty { facts.vfioUsers = FactsReader(root: layer.root).vfioUsers() }
            let report = Preflight.run(snapshot, facts, request)
            if libvirtHook {
                let name = request.domain?.name.map { "guest '\($0)'" } ?? "the guest"
                for line in CheckOutput.hookLines(report) { Output.diagnostic("vfioctl", "\(name): \(line)") }
            } else {
                Output.emit(output.format, json: { CheckOutput.json(report) }, text: { CheckOutput.text(report, verbose: !brief) })
            }
            if !report.passed { throw ExitCode(2) }
        }

        /// The domain to check. As the hook, one that cannot be read is refused (exit 2): the hook
        /// lets the guest start on any other exit (vfioctl's own trouble), and a definition that
        /// cannot be checked must not be how the check is skipped.
        static func readDomain(_ path: String, source: String, hook: Bool) throws(VFIOError) -> DomainDevices {
            do {
                return try DomainDevices.parse(try InputFile.read(path, what: "domain XML file"), source: source)
            } catch {
                guard hook else { throw error }
                throw VFIOError(.refused, error.message, hint: error.hint)
            }
        }

        /// Addresses and groups given on the command line must exist (exit 1 otherwise).
        static func requireKnown(_ addresses: [PCIAddress], _ groups: [Int], in snapshot: HostSnapshot) throws(VFIOError) {
            for address in addresses where snapshot.function(address) == nil { throw UnknownFunction.error(address) }
            for id in groups where snapshot.group(id) == nil {
                throw .failed("no IOMMU group \(id) on this host", hint: "'vfioctl groups' shows the groups there are")
            }
        }
    }
}
