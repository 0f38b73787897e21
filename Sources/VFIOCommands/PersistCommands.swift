import ArgumentParser
import VFIOActuator
import VFIOCore
import VFIODeviceLayer

extension Vfioctl {
    struct Persist: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "persist",
            abstract: "Assignments to vfio-pci that survive a reboot, per function and per IOMMU group (not by device ID).",
            discussion: """
                'vfioctl persist ADDRESS|--group N --write' records the group's functions in \
                /etc/vfioctl/persist.conf with their address, position in the PCI hierarchy and IDs, \
                writes a udev rule that sets driver_override before the host driver's module loads, and \
                the unit vfioctl-persist.service that runs 'vfioctl persist apply' at boot for what a host \
                driver took first. Unlike vfio-pci ids=, one of two identical cards can go to a guest. \
                A set whose devices moved (bus renumbering), changed or whose group grew is refused at \
                boot: nothing of it is bound, and 'vfioctl persist status' says why.
                """,
            subcommands: [Add.self, Remove.self, Status.self, Apply.self],
            defaultSubcommand: Add.self)

        /// What the detach planner needs to know (mounts, network, block devices) about the groups
        /// of `addresses` and `groups` only: persist reads every function (to find moved ones),
        /// but the guard looks at these.
        static func facts(_ addresses: [PCIAddress], groups: [Int], _ snapshot: HostSnapshot, root: HostRoot) -> HostFacts {
            let wanted = Set(groups + addresses.compactMap { snapshot.function($0)?.iommuGroup })
            return FactsReader(root: root).read(for: snapshot.functions.filter { f in
                addresses.contains(f.address) || f.iommuGroup.map(wanted.contains) == true
            })
        }

        /// The records file, the udev rule and the unit for `records`: shown as diffs, or written.
        static func writeFiles(_ records: [VFIOCore.Persist.Record], old: String?, root: HostRoot, writing: WriteOptions,
                               into report: inout EditReport) throws {
            func edit(_ path: String, _ new: String, old: String?) -> ConfigEdit {
                ConfigEdit(path: path, old: old, new: new, changes: [path], regenerate: nil, notes: [])
            }
            let files = PersistFiles(root: root)
            let rules = VFIOCore.Persist.udevRules(records)
            let unit = VFIOCore.Persist.unit(binary: VFIOCore.Persist.installedBinary(running: PersistFiles.runningExecutable()))
            let edits = [edit(VFIOCore.Persist.recordsPath, VFIOCore.Persist.render(records), old: old),
                         edit(VFIOCore.Persist.udevRulesPath, rules, old: try files.current(VFIOCore.Persist.udevRulesPath)),
                         edit(VFIOCore.Persist.unitPath, unit, old: try files.current(VFIOCore.Persist.unitPath))]
            for edit in edits { try writing.carryOut(edit, root: root, already: "is already so", into: &report) }
            report.regenerate = "systemctl daemon-reload && systemctl enable \(VFIOCore.Persist.unitName); udevadm control --reload"
            if writing.write && edits.contains(where: { $0.changed }) { report.text += "then: \(report.regenerate ?? "")\n" }
        }

        struct Add: VfioctlCommand {
            static let configuration = CommandConfiguration(
                commandName: "add",
                abstract: "Record IOMMU groups for vfio-pci at boot (the default: 'vfioctl persist ADDRESS').",
                discussion: """
                    Refuses (exit 2, nothing written) what 'vfioctl detach' would refuse: host-critical \
                    devices, groups that cannot become viable, PFs with VFs. Without --write the files \
                    are shown as diffs. Does not detach now: run 'vfioctl detach' for that, or reboot.
                    """)

            @OptionGroup var targets: GroupTargets

            @Flag(name: .long, help: "Record even what the host-critical guard protects (root disk, NIC in use, console).")
            var force = false

            @Option(name: .long, help: ArgumentHelp(
                "The reset methods the udev rule writes to reset_method at boot (Linux 5.15+), in order: e.g. bus, or flr,pm; "
                    + "default forgets the choice. For the addresses given (with only --group: every function of the group).",
                valueName: "METHOD"))
            var resetMethod: String?
            @OptionGroup var driver: DriverOption

            @Option(name: .long, help: ArgumentHelp("Where vfioctl detach's records are (to know the host driver of functions already on vfio-pci).",
                                                    valueName: "DIR"))
            var stateDir: String?

            @OptionGroup var writing: WriteOptions
            @OptionGroup var global: GlobalOptions
            @OptionGroup var output: FormatOptions

            func run(in invocation: Invocation) throws {
                let (addresses, groups) = try targets.required("persist", hint: "vfioctl persist 0000:01:00.0 --write ('vfioctl groups' lists the groups)")
                let methods = try resetMethod.map { text throws(VFIOError) in try ResetMethod.parse(text) }
                let layer = try global.deviceLayer(invocation)
                try writing.requireRoot(layer.root, "persist")
                let choice = try driver.choice()
                let existing = try PersistFiles(root: layer.root).records()
                let snapshot = try layer.observe(ObservationScope(.all, vfioVariants: true)).snapshot
                try Check.requireKnown(addresses, groups, in: snapshot)
                let facts = Persist.facts(addresses, groups: groups, snapshot, root: layer.root)
                let plan = BindingPlanner.detach(.init(addresses: addresses, groups: groups, force: force, driver: choice), snapshot, facts)
                if plan.refused {
                    if output.format == .json {
                        // stdout holds JSON or nothing: each error finding is an error: line (and its hint:).
                        for finding in plan.findings where finding.severity == .error {
                            Output.diagnostic("error", "\(finding.subject): \(finding.message)")
                            if let hint = finding.hint { Output.hint(hint) }
                        }
                    } else {
                        Output.write(CheckOutput.findingsText(plan.findings, verbose: false))
                    }
                    Output.diagnostic("error", "not recorded: what 'vfioctl detach' refuses cannot be bound at boot either")
                    throw ExitCode(2)
                }
                let detached = Dictionary((try? invocation.actuators.state(stateDir, root: layer.root).records())?.map { ($0.address, $0.driver) } ?? [],
                                          uniquingKeysWith: { first, _ in first })
                var added: [VFIOCore.Persist.Record] = []
                var report = EditReport()
                for group in plan.groups {
                    let endpoints = snapshot.endpoints(ofGroup: group)
                    guard let set = endpoints.min() else { continue }
                    for address in endpoints {
                        guard let f = snapshot.function(address) else { continue }
                        let driver = StubDriver.isVFIO(f) ? (detached[address] ?? nil) : f.driver
                        // What detach would bind it to (for a function on vfio already too).
                        let pick: VFIODriverChoice.Pick
                        switch choice.pick(for: f) {
                        case .success(let chosen): pick = chosen
                        case .failure(let finding): throw VFIOError.failed(finding.message, hint: finding.hint)
                        }
                        guard let record = VFIOCore.Persist.Record(f, set: set, driver: driver, vfioDriver: pick.driver) else {
                            throw VFIOError.failed("\(address) has no place under /sys/devices (\(f.sysfsPath)): vfioctl cannot tell if it moves",
                                                   hint: "run on the host itself, or on a snapshot taken with 'vfioctl snapshot'")
                        }
                        added.append(record)
                    }
                    report.text += ("group \(group): " + endpoints.map { address in
                        address.description + (added.first { $0.address == address }?.vfioDriver.map { " (\($0))" } ?? "")
                    }.joined(separator: ", ") + "\n")
                }
                var chosen: [PCIAddress: [String]?] = [:]
                // --reset-method: a list to write at boot, or (default) nil: the kernel's own.
                if let choice = methods {
                    for address in addresses.isEmpty ? added.map(\.address) : addresses {
                        guard let f = snapshot.function(address) else { continue }
                        if let list = choice { try ResetMethod.validate(list, for: f, kernelRelease: facts.kernelRelease) }
                        chosen[address] = .some(choice)
                    }
                }
                added = VFIOCore.Persist.withResetMethods(added, existing: existing.records, chosen: chosen)
                try writeFiles(VFIOCore.Persist.merge(existing.records, adding: added), old: existing.text, root: layer.root, writing: writing,
                               into: &report)
                if writing.write {
                    report.text += "for now: vfioctl detach " + plan.groups.map { "--group \($0)" }.joined(separator: " ") + " (or reboot)\n"
                    for (address, choice) in chosen.sorted(by: { $0.key < $1.key }) {
                        report.text += "reset method, for now: echo '" + (choice?.joined(separator: " ") ?? "default")
                            + "' > /sys/bus/pci/devices/\(address)/reset_method\n"
                    }
                }
                report.emit(output.format)
            }
        }

        struct Remove: VfioctlCommand {
            static let configuration = CommandConfiguration(
                commandName: "remove",
                abstract: "Forget recorded sets (each address stands for its whole set); --all forgets every one.",
                discussion: "Does not reattach: 'vfioctl reattach' gives the functions back now.")

            @Argument(help: ArgumentHelp("A recorded function (its whole set is forgotten).", valueName: "address"),
                      completion: HostCompletion.functions.kind)
            var addresses: [String] = []

            @Flag(name: .long, help: "Every recorded set.")
            var all = false

            @OptionGroup var writing: WriteOptions
            @OptionGroup var global: GlobalOptions
            @OptionGroup var output: FormatOptions

            func run(in invocation: Invocation) throws {
                let wanted = Set(try addresses.map { text throws(VFIOError) in try PCIAddress.parse(text) })
                guard !wanted.isEmpty || all else {
                    throw VFIOError.usage("persist remove needs a recorded address or --all", hint: "'vfioctl persist status' lists what is recorded")
                }
                let root = try global.deviceLayer(invocation).root
                try writing.requireRoot(root, "persist remove")
                let existing = try PersistFiles(root: root).records()
                for address in wanted.sorted() where !existing.records.contains(where: { $0.address == address || $0.set == address }) {
                    throw VFIOError.failed("\(address) is not recorded in \(VFIOCore.Persist.recordsPath)",
                                           hint: "'vfioctl persist status' lists what is recorded")
                }
                let kept = all ? [] : VFIOCore.Persist.removing(wanted, from: existing.records)
                var report = EditReport()
                try writeFiles(kept, old: existing.text, root: root, writing: writing, into: &report)
                let gone = existing.records.filter { !kept.contains($0) }.map(\.address.description)
                if writing.write && !gone.isEmpty { report.text += "to give them back now: vfioctl reattach " + gone.joined(separator: " ") + "\n" }
                report.emit(output.format)
            }
        }

        struct Status: VfioctlCommand {
            static let configuration = CommandConfiguration(
                commandName: "status",
                abstract: "Each recorded set against this host: bound, pending (applies at boot or with 'persist apply'), or refused and why.")

            @OptionGroup var global: GlobalOptions
            @OptionGroup var output: FormatOptions

            func run(in invocation: Invocation) throws {
                let layer = try global.deviceLayer(invocation)
                let records = try PersistFiles(root: layer.root).records().records
                let states = VFIOCore.Persist.verify(records, try layer.snapshot([]))
                Output.emit(output.format, json: { PersistOutput.json(states) }, text: { PersistOutput.text(states) })
                let refused = states.filter { !$0.ready }
                if !refused.isEmpty {
                    // Exit 1 comes with its reason on stderr, as every failure does.
                    for state in refused.dropLast() {
                        for problem in state.problems { Output.diagnostic("error", "set \(state.set) is refused: \(problem)") }
                    }
                    let last = refused[refused.count - 1]
                    for problem in last.problems.dropLast() { Output.diagnostic("error", "set \(last.set) is refused: \(problem)") }
                    throw VFIOError.failed("set \(last.set) is refused: \(last.problems.last ?? "it does not match this host")",
                                           hint: "'vfioctl persist ADDRESS --write' records a moved device again; "
                                               + "'vfioctl persist remove ADDRESS' forgets one that is gone")
                }
            }
        }

        struct Apply: ChangingCommand {
            static let name = "persist apply"
            static let configuration = CommandConfiguration(
                commandName: "apply",
                abstract: "Bind every recorded set that still matches to vfio-pci (what vfioctl-persist.service runs at boot).",
                discussion: """
                    Sets whose functions all match (address, position, IDs, group) are detached as \
                    'vfioctl detach' does, under its lock and journal; a set that does not match is left \
                    alone and named on stderr, and the exit status is then 1. A second run changes nothing.
                    """)

            @OptionGroup var actuation: ActuationOptions
            @OptionGroup var global: GlobalOptions
            @OptionGroup var output: FormatOptions

            func plan(_: Void, _ transaction: Transaction) throws -> Plan {
                let root = transaction.layer.root
                let (snapshot, facts) = try transaction.layer.observeForPlanning(.all, openGroups: false, vfioVariants: true)
                let states = VFIOCore.Persist.verify(try PersistFiles(root: root).records().records, snapshot)
                for state in states where !state.ready {
                    for problem in state.problems { Output.diagnostic("error", "set \(state.set) not bound: \(problem)") }
                }
                let ready = states.filter(\.ready).flatMap { $0.records.map(\.address) }
                // Each function to the driver its record names (vfio-pci when it names none).
                let drivers = Dictionary(states.filter(\.ready).flatMap(\.records).map { ($0.address, VFIODriverChoice.named($0.boundDriver)) },
                                         uniquingKeysWith: { first, _ in first })
                var plan = BindingPlanner.detach(.init(addresses: ready, drivers: drivers), snapshot, facts)
                for state in states where !state.ready {
                    plan.findings.append(Finding(Self.setRefused, .warning, state.set.description,
                                                 "set \(state.set) is not bound: " + state.problems.joined(separator: "; ")))
                }
                return plan
            }

            static let setRefused = "persist.set-refused"

            /// The report; then exit 1 if a set did not match (each was named on stderr).
            func render(_ report: RunReport, _ transaction: Transaction) throws {
                Output.emit(output.format, json: { RunOutput.json(report) }, text: { RunOutput.text(report) })
                if report.plan.findings.contains(where: { $0.id == Self.setRefused }) {
                    Output.hint("'vfioctl persist status' shows each set; record a moved device again with 'vfioctl persist ADDRESS --write'")
                    throw ExitCode(1)
                }
            }
        }
    }
}
