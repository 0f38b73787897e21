import ArgumentParser
import VFIOActuator
import VFIOCore
import VFIODeviceLayer

extension Vfioctl {
    /// What detach and reattach plan from: the groups the targets name and what the preflight's
    /// rules follow from them, with the host's facts; unknown addresses and groups refused up
    /// front. `recorded` are read too when they exist (a recorded function may be gone by now).
    static func observe(_ layer: DeviceLayer, addresses: [PCIAddress], groups: [Int], recorded: [PCIAddress] = [], openGroups: Bool,
                        vfioVariants: Bool = false) throws
        -> (snapshot: HostSnapshot, facts: HostFacts) {
        let seen = try layer.observeForPlanning(.around(addresses: addresses + recorded, groups: groups, following: Preflight.readScope(for:)),
                                                openGroups: openGroups, vfioVariants: vfioVariants)
        try Check.requireKnown(addresses, groups, in: seen.snapshot)
        return seen
    }
}

extension Vfioctl {
    struct Detach: ChangingCommand {
        static let name = "detach"
        static let configuration = CommandConfiguration(
            commandName: "detach",
            abstract: "Hand IOMMU groups to vfio-pci: every endpoint of each group, journaled, rolled back on failure.",
            discussion: """
                An address stands for its whole IOMMU group: a guest can use a group only when every \
                device in it is on vfio-pci (bridges stay on their drivers). For each endpoint: \
                driver_override=vfio-pci, unbind from its driver, drivers_probe, verify; then wait for \
                /dev/vfio/N. Only that function is touched: other devices with the same IDs stay. \
                The driver each had is recorded so 'vfioctl reattach' puts exactly it back.

                A function with a vfio-pci variant driver (an 'alias vfio_pci:...' in the running \
                kernel's modules.alias that matches it, as libvirt 10 looks them up) goes to the best \
                of them (fewest wildcards) instead of vfio-pci; --driver vfio-pci or --driver NAME \
                says otherwise. 'vfioctl show ADDRESS' names the choice.

                Refuses (exit 2, nothing changed) when a function carries the root filesystem, a \
                mount, swap, LVM/RAID, the console or a network interface in use (--force overrides \
                only that), when a PF has VFs enabled, or when the group cannot become viable.
                """)

        @OptionGroup var targets: GroupTargets

        @Flag(name: .long, help: "Detach even what the host-critical guard protects (root disk, NIC in use, console). Loud.")
        var force = false

        @OptionGroup var driver: DriverOption
        @OptionGroup var actuation: ActuationOptions
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: FormatOptions

        func prepare() throws -> BindingPlanner.DetachRequest {
            let (addresses, groups) = try targets.required(
                "detach", hint: "vfioctl detach 0000:01:00.0, or vfioctl detach --group 14 ('vfioctl groups' lists them)")
            return .init(addresses: addresses, groups: groups, force: force, driver: try driver.choice())
        }

        func plan(_ request: BindingPlanner.DetachRequest, _ transaction: Transaction) throws -> Plan {
            let (snapshot, facts) = try Vfioctl.observe(transaction.layer, addresses: request.addresses, groups: request.groups, openGroups: false,
                                                        vfioVariants: true)
            let plan = BindingPlanner.detach(request, snapshot, facts)
            if force && plan.findings.contains(where: { $0.id == DeviceChecks.hostCritical }) && !actuation.dryRun {
                Output.warning("--force: taking devices the host uses; what they carried stops working now")
            }
            return plan
        }
    }

    struct Reattach: ChangingCommand {
        static let name = "reattach"
        static let configuration = CommandConfiguration(
            commandName: "reattach",
            abstract: "Give detached functions back to the drivers they had before 'vfioctl detach'.",
            discussion: """
                Clears driver_override and binds each function to the driver recorded when it was \
                detached (not merely the kernel's default), then verifies it. A function vfioctl did not \
                detach goes to whatever driver the kernel picks. Refuses while a guest holds the group \
                open (unbinding vfio-pci would block until it stops).
                """)

        @OptionGroup var targets: GroupTargets

        @Flag(name: .long, help: "Every function vfioctl detached (its records).")
        var all = false

        @OptionGroup var actuation: ActuationOptions
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: FormatOptions

        func prepare() throws -> BindingPlanner.ReattachRequest {
            let (addresses, groups) = all ? try targets.parsed() : try targets.required(
                "reattach", or: "--all", hint: "vfioctl reattach 0000:01:00.0, --group 14, or --all for everything vfioctl detached")
            return .init(addresses: addresses, groups: groups, all: all)
        }

        func plan(_ request: BindingPlanner.ReattachRequest, _ transaction: Transaction) throws -> Plan {
            let records = try transaction.state.records()
            // A guest holding a group open blocks its reattach: who does is read.
            let (snapshot, facts) = try Vfioctl.observe(transaction.layer, addresses: request.addresses, groups: request.groups,
                                                        recorded: all ? records.map(\.address) : [], openGroups: true)
            return BindingPlanner.reattach(request, records: records, snapshot, facts)
        }
    }

    struct Recover: VfioctlCommand {
        static let configuration = CommandConfiguration(
            commandName: "recover",
            abstract: "Finish or undo a changing run (detach, reattach, persist apply, sriov, apply) that was interrupted (its journal is left).",
            discussion: """
                By default undoes the interrupted run: every function a begun step touched goes back \
                to the driver and driver_override it had before that run, so nothing is left unbound \
                or half-detached. --finish completes the run instead. A run that had finished only \
                needs its records written, which recover does either way.
                """)

        @Flag(name: .long, help: "Complete the interrupted run instead of undoing it.")
        var finish = false

        @OptionGroup var actuation: ActuationOptions
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: FormatOptions

        func run(in invocation: Invocation) throws {
            let transaction = try actuation.open("recover", global: global, invocation: invocation, recovering: true)
            let (journal, recovery) = try transaction.recovery(finish: finish)
            let after = try journal.map { journal throws(VFIOError) in try transaction.recover(journal, recovery) } ?? [:]
            let dryRun = actuation.dryRun
            Output.emit(output.format, json: { RecoverOutput.json(journal, recovery, dryRun: dryRun, after: after) },
                        text: { RecoverOutput.text(journal, recovery, dryRun: dryRun, after: after, stateDirectory: transaction.state.path) })
        }
    }
}
