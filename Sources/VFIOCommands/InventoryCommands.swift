import ArgumentParser
import VFIOCore
import VFIODeviceLayer

extension Vfioctl {
    struct List: VfioctlCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List every PCI function with its IOMMU group, driver and SR-IOV role.",
            discussion: """
                Each filter may be repeated: a function matches one of its values. Different filters \
                must all match. They apply to the text and the JSON alike, e.g. \
                'vfioctl list --class network --driver none' or 'vfioctl list --vendor 10de --group 17'.
                """)

        @Option(name: .customLong("class"), help: ArgumentHelp(
            "Only functions of this class (repeatable): \(ClassMatch.acceptedWords); or a hex class code as lspci -nn shows it (02, 0200).",
            valueName: "class"), completion: .list(ClassMatch.completions))
        var classes: [String] = []

        @Option(name: .customLong("driver"), help: ArgumentHelp(
            "Only functions bound to this driver (repeatable); none: functions without a driver.", valueName: "name"))
        var drivers: [String] = []

        @Option(name: .customLong("vendor"), help: ArgumentHelp(
            "Only functions with this hex vendor id, or vendor:device as lspci -d takes it (repeatable): 8086, 8086:10d3.",
            valueName: "id"))
        var vendors: [String] = []

        @Option(name: .customLong("group"), parsing: .unconditionalSingleValue, help: ArgumentHelp(
            "Only functions in this IOMMU group (repeatable).", valueName: "N"), completion: HostCompletion.groups.kind)
        var groups: [String] = []

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: FormatOptions

        func run(in invocation: Invocation) throws {
            let filter = try FunctionFilter(classes: classes, drivers: drivers, vendors: vendors, groups: groups)
            let layer = try global.deviceLayer(invocation)
            let snapshot = try layer.snapshot([.names])
            let mdevs = MdevReader(root: layer.root).read().devices
            Output.emit(output.format, json: { InventoryJSON.list(snapshot, mdevs: mdevs, filter: filter, mapper: Output.mapper) },
                        text: { InventoryText.list(snapshot, mdevs: mdevs, filter: filter) })
        }
    }

    struct Groups: VfioctlCommand {
        static let configuration = CommandConfiguration(
            commandName: "groups",
            abstract: "List every IOMMU group with its functions (the unit that is passed through).")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: FormatOptions

        func run(in invocation: Invocation) throws {
            let layer = try global.deviceLayer(invocation)
            let snapshot = try layer.snapshot(.all)
            // No groups: the cause as check finds it, from the same facts.
            let cause = snapshot.iommu.hasGroups ? nil : HostChecks.noGroups(snapshot, FactsReader(root: layer.root).read(for: []))
            let mdevs = MdevReader(root: layer.root).read().devices
            Output.emit(output.format, json: { InventoryJSON.groups(snapshot, mdevs: mdevs, cause: cause, mapper: Output.mapper) },
                        text: { InventoryText.groups(snapshot, mdevs: mdevs, cause: cause) })
            if let cause {
                if output.format == .json { Output.warning(InventoryText.noGroupsMessage(snapshot, cause: cause)) }
                if let hint = cause.hint { Output.hint(hint) }
            }
        }
    }

    struct Show: VfioctlCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show one PCI function in detail: group, capabilities, reset, SR-IOV, what sits on it.")

        @Argument(help: ArgumentHelp("The function: DDDD:BB:SS.F, BB:SS.F or libvirt's pci_DDDD_BB_SS_F.", valueName: "address"),
                  completion: HostCompletion.functions.kind)
        var address: String

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: FormatOptions

        func run(in invocation: Invocation) throws {
            let address = try PCIAddress.parse(address)
            // Only what show prints: the function, its group, slot, PF, and the bridges above it;
            // the modules that could drive it for it alone.
            let scope = ObservationScope(.around(addresses: [address], following: InventoryText.showScope(for:)),
                                         names: true, groupDetails: true, kernelModules: true, regions: true)
            let snapshot = try global.deviceLayer(invocation).observe(scope).snapshot
            guard let function = snapshot.function(address) else {
                throw UnknownFunction.error(address)
            }
            Output.emit(output.format, json: { InventoryJSON.show(function, in: snapshot) },
                        text: { InventoryText.show(function, in: snapshot) })
        }
    }

    struct Snapshot: VfioctlCommand {
        static let configuration = CommandConfiguration(
            commandName: "snapshot",
            abstract: "Copy what vfioctl reads (parts of /sys and /proc) into DIR; replay it with --root DIR.",
            discussion: """
                For bug reports and test fixtures. Links are kept relative, as the kernel writes them, \
                so the copy is self-contained. DIR must be new or empty.
                """)

        @Argument(help: ArgumentHelp("A new or empty directory.", valueName: "DIR"), completion: .directory)
        var directory: String

        @OptionGroup var global: GlobalOptions

        func run(in invocation: Invocation) throws {
            let summary = try SnapshotWriter(source: global.hostRoot(invocation)).write(to: directory)
            Output.write("snapshot of \(summary.functions) PCI functions in \(directory) "
                         + "(\(summary.files) files, \(summary.links) links); replay with --root \(directory)\n")
        }
    }
}
