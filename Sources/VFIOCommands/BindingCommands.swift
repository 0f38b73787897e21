import ArgumentParser
import Glibc
import VFIOActuator
import VFIOCore
import VFIODeviceLayer

/// Seams the tests set for in-process runs: the kernel the actuator writes to (a simulation of the
/// PCI driver core over a fake tree), a crash after journal record N, and a short settle time.
public enum Actuation {
    @TaskLocal public static var kernel: (@Sendable (HostRoot) -> any BindingKernel)?
    @TaskLocal public static var crash: JournalCrash?
    @TaskLocal public static var settleTimeout: Double?
    /// VF attributes: read for plans and set by the actuator (a recording fake in tests).
    @TaskLocal public static var netlink: (any VFNetlink)?

    /// The test's fake, or a socket to the running kernel (nil with --root: no kernel to ask).
    static func vfNetlink(root: HostRoot) -> (any VFNetlink)? {
        netlink ?? (root.isLive ? try? LiveVFNetlink(root: root) : nil)
    }
}

/// Options every command that changes bindings takes.
struct ActuationOptions: ParsableArguments {
    @Flag(name: .long, help: "Print the exact plan (action, sysfs path, value) and change nothing.")
    var dryRun = false

    @Option(name: .long, help: ArgumentHelp("Where the journal, lock and records live (default /var/lib/vfioctl under the root; also VFIOCTL_STATE_DIR).",
                                            valueName: "DIR"))
    var stateDir: String?

    @Option(name: .long, help: ArgumentHelp("How long to wait for another vfioctl that holds the lock.", valueName: "SECONDS"))
    var wait: Double = 30

    func validate() throws {
        guard wait >= 0 && wait <= 3600 else { throw ValidationError("--wait takes 0 to 3600 seconds, not \(wait)") }
    }
}

/// What detach and reattach work on: addresses (each stands for its whole group) and groups.
struct GroupTargets: ParsableArguments {
    @Argument(help: ArgumentHelp("Functions, each standing for its whole IOMMU group: DDDD:BB:SS.F or BB:SS.F.", valueName: "address"))
    var addresses: [String] = []

    @Option(name: .long, help: ArgumentHelp("An IOMMU group (repeatable).", valueName: "N"))
    var group: [Int] = []

    func parsed() throws(VFIOError) -> (addresses: [PCIAddress], groups: [Int]) {
        try Self.validate(group)
        return (try addresses.map { text throws(VFIOError) in try PCIAddress.parse(text) }, group)
    }

    /// IOMMU group numbers are the kernel's: 0 and up (an int).
    static func validate(_ groups: [Int]) throws(VFIOError) {
        for group in groups where !(0...Int(Int32.max)).contains(group) {
            throw .usage("'\(group)' is not an IOMMU group number", hint: "groups are numbered from 0: 'vfioctl groups' lists them")
        }
    }
}

/// One invocation that may change bindings: root, state directory, privileges, the lock, and the
/// journal's state, checked in that order before anything is read for a plan.
struct BindingSession {
    let layer: DeviceLayer
    let state: StateDirectory
    let kernel: any BindingKernel
    /// rtnetlink for VF attributes: nil off the live host (a --root tree has no kernel to ask).
    let netlink: (any VFNetlink)?
    let applier: Applier
    let lock: StateDirectory.Lock?
    let command: String
    /// Epoch seconds, for the journal; and when the lock was taken, for the history.
    let started: Int
    let since: Double

    init(_ name: String, global: GlobalOptions, options: ActuationOptions, needsLock: Bool) throws {
        layer = try global.deviceLayer()
        let root = layer.root
        state = Self.stateDirectory(options.stateDir, root: root)
        command = (["vfioctl"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
        if !options.dryRun && root.isLive && geteuid() != 0 {
            throw VFIOError.failed("\(name) changes driver bindings under /sys: it needs root",
                                   hint: "run it as root (sudo vfioctl \(name) ...); --dry-run shows the plan without root")
        }
        if !options.dryRun && !root.isLive && Actuation.kernel == nil {
            throw VFIOError.usage("--root \(root) is a copy of a host's files, not a running kernel: \(name) can only plan there",
                                  hint: "add --dry-run to see the plan, or run on the host itself without --root")
        }
        kernel = Actuation.kernel?(root) ?? LiveKernel(root: root)
        netlink = Actuation.vfNetlink(root: root)
        var applier = Applier(kernel: kernel, settleTimeout: Actuation.settleTimeout ?? 10)
        applier.netlink = netlink
        applier.onProgress = { Output.diagnostic("vfioctl", $0) }
        self.applier = applier
        started = Int(time(nil))
        if needsLock && !options.dryRun {
            let holder = "pid \(getpid()): \(command)"
            lock = try state.lock(wait: options.wait, holder: holder) { Output.diagnostic("vfioctl", $0) }
        } else {
            lock = nil
        }
        since = StateDirectory.realtime()
    }

    /// --state-dir, VFIOCTL_STATE_DIR, or /var/lib/vfioctl under the root.
    static func stateDirectory(_ option: String?, root: HostRoot) -> StateDirectory {
        if let directory = option ?? getenv("VFIOCTL_STATE_DIR").map({ String(cString: $0) }), !directory.isEmpty {
            return StateDirectory(path: directory)
        }
        return StateDirectory(root: root)
    }

    /// The netlink seam, or why there is none.
    func requireNetlink() throws(VFIOError) -> any VFNetlink {
        if let netlink { return netlink }
        if !layer.root.isLive {
            throw .usage("VF attributes come from the running kernel over netlink, not from the tree under \(layer.root)",
                         hint: "run on the host itself without --root")
        }
        // Opening it again says why it failed.
        return try LiveVFNetlink(root: layer.root)
    }

    /// Changing commands refuse to start on top of an unfinished run.
    func requireNoJournal() throws {
        guard state.hasJournal else { return }
        let journal = try? state.readJournal()
        let what = journal.map { "\($0.operation.rawValue) (pid \($0.pid)" + ($0.command.map { ": \($0)" } ?? "") + ")" } ?? "a run"
        throw VFIOError.failed("\(what) did not finish: its journal is at \(state.journalPath)",
                               hint: "run 'vfioctl recover' to undo it (or 'vfioctl recover --finish' to complete it)")
    }

    /// Refused plans exit 2; dry runs print the plan; otherwise the plan runs under a journal,
    /// then the records are updated and the journal goes.
    func carryOut(_ plan: BindingPlan, dryRun: Bool, format: OutputFormat) throws {
        func emit(_ report: BindingOutput.Report) {
            Output.emit(format, json: { BindingOutput.json(report) }, text: { BindingOutput.text(report) })
        }
        if plan.refused || dryRun || plan.steps.isEmpty {
            emit(BindingOutput.Report(plan: plan, dryRun: dryRun))
            if plan.refused { throw Self.refusal(plan) }
            if !dryRun { try commit(plan) }
            return
        }
        let crash = Actuation.crash ?? getenv("VFIOCTL_JOURNAL_KILL_AFTER").flatMap { Int(String(cString: $0)) }.map {
            JournalCrash(after: $0, mode: .kill)
        }
        let journal = try state.createJournal(crash: crash)
        let outcome: Applier.Outcome
        do {
            outcome = try applier.run(plan, journal: journal, command: command, started: started)
        } catch {
            if (try? state.readJournal())??.rolledBack == true { try? state.removeJournal() }
            state.appendHistory(since: since, operation: plan.operation.rawValue, outcome: "failed", command: command)
            throw error
        }
        try commit(plan)
        var after: [PCIAddress: String?] = [:]
        for original in plan.originals { after[original.address] = .some(try? kernel.driver(of: original.address)) }
        emit(BindingOutput.Report(plan: plan, dryRun: false, results: outcome.results.map(\.rawValue), driversAfter: after))
    }

    /// Exit 2 with its first reason on stderr (the report on stdout lists them all).
    static func refusal(_ plan: BindingPlan) -> VFIOError {
        let errors = Finding.ordered(plan.findings).filter { $0.severity == .error }
        guard let first = errors.first else { return VFIOError(.refused, "\(plan.operation.rawValue) refused: nothing was changed") }
        let more = errors.count > 1 ? " (and \(errors.count - 1) more reason\(errors.count > 2 ? "s" : ""), listed with the plan)" : ""
        return VFIOError(.refused, "\(plan.operation.rawValue) refused, nothing was changed: \(first.subject): \(first.message)\(more)",
                         hint: first.hint)
    }

    /// The run is done: records, then the journal goes, then history.
    func commit(_ plan: BindingPlan) throws {
        try state.updateRecords(write: plan.recordsToWrite, drop: plan.recordsToDrop)
        try state.updateVFRecords(write: plan.vfRecordsToWrite, drop: plan.vfRecordsToDrop, dropPFs: plan.vfRecordsDropPFs)
        try state.removeJournal()
        if !plan.steps.isEmpty {
            state.appendHistory(since: since, operation: plan.operation.rawValue, outcome: "ok", command: command)
        }
    }

    /// A snapshot of what the plan needs, with unknown addresses and groups refused up front.
    /// `recorded` are read too when they exist (a recorded function may be gone by now).
    func snapshot(addresses: [PCIAddress], groups: [Int], recorded: [PCIAddress] = []) throws -> HostSnapshot {
        let snapshot = try layer.scopedSnapshot(addresses: addresses + recorded, groups: groups)
        try Vfioctl.Check.requireKnown(addresses, groups, in: snapshot)
        return snapshot
    }
}

extension Vfioctl {
    struct Detach: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Hand IOMMU groups to vfio-pci: every endpoint of each group, journaled, rolled back on failure.",
            discussion: """
                An address stands for its whole IOMMU group: a guest can use a group only when every \
                device in it is on vfio-pci (bridges stay on their drivers). For each endpoint: \
                driver_override=vfio-pci, unbind from its driver, drivers_probe, verify; then wait for \
                /dev/vfio/N. Only that function is touched: other devices with the same IDs stay. \
                The driver each had is recorded so 'vfioctl reattach' puts exactly it back.

                Refuses (exit 2, nothing changed) when a function carries the root filesystem, a \
                mount, swap, LVM/RAID, the console or a network interface in use (--force overrides \
                only that), when a PF has VFs enabled, or when the group cannot become viable.
                """)

        @OptionGroup var targets: GroupTargets

        @Flag(name: .long, help: "Detach even what the host-critical guard protects (root disk, NIC in use, console). Loud.")
        var force = false

        @OptionGroup var actuation: ActuationOptions
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: FormatOptions

        func run() throws {
            let (addresses, group) = try targets.parsed()
            guard !addresses.isEmpty || !group.isEmpty else {
                throw VFIOError.usage("detach needs a PCI address or --group N",
                                      hint: "vfioctl detach 0000:01:00.0, or vfioctl detach --group 14 ('vfioctl groups' lists them)")
            }
            let session = try BindingSession("detach", global: global, options: actuation, needsLock: true)
            try session.requireNoJournal()
            let snapshot = try session.snapshot(addresses: addresses, groups: group)
            let facts = FactsReader(root: session.layer.root).read(for: snapshot.functions)
            let plan = BindingPlanner.detach(.init(addresses: addresses, groups: group, force: force), snapshot, facts)
            if force && plan.findings.contains(where: { $0.id == "device.host-critical" }) && !actuation.dryRun {
                Output.warning("--force: taking devices the host uses; what they carried stops working now")
            }
            try session.carryOut(plan, dryRun: actuation.dryRun, format: output.format)
        }
    }

    struct Reattach: ParsableCommand {
        static let configuration = CommandConfiguration(
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

        func run() throws {
            let (addresses, group) = try targets.parsed()
            guard !addresses.isEmpty || !group.isEmpty || all else {
                throw VFIOError.usage("reattach needs a PCI address, --group N or --all",
                                      hint: "vfioctl reattach 0000:01:00.0, --group 14, or --all for everything vfioctl detached")
            }
            let session = try BindingSession("reattach", global: global, options: actuation, needsLock: true)
            try session.requireNoJournal()
            let records = try session.state.records()
            let snapshot = try session.snapshot(addresses: addresses, groups: group, recorded: all ? records.map(\.address) : [])
            let reader = FactsReader(root: session.layer.root)
            var facts = reader.read(for: snapshot.functions)
            facts.vfioUsers = reader.vfioUsers()
            let plan = BindingPlanner.reattach(.init(addresses: addresses, groups: group, all: all), records: records, snapshot, facts)
            try session.carryOut(plan, dryRun: actuation.dryRun, format: output.format)
        }
    }

    struct Recover: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Finish or undo a detach or reattach that was interrupted (its journal is left).",
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

        func run() throws {
            let session = try BindingSession("recover", global: global, options: actuation, needsLock: true)
            guard let journal = try session.state.readJournal() else {
                Output.emit(output.format, json: { RecoverOutput.json(nil, action: "none", steps: [], dryRun: actuation.dryRun) },
                            text: { "nothing to recover: no unfinished journal in \(session.state.path)\n" })
                return
            }
            let plan = BindingPlan(resuming: journal)
            let action: String
            var steps: [BindingStep] = []
            if journal.finished {
                action = "committed"
            } else if journal.rolledBack || journal.nothingBegan {
                action = "closed"
            } else if finish {
                action = "finished"
                steps = journal.steps
            } else {
                action = "undone"
                steps = BindingPlanner.restoreOrder(journal.touched).flatMap { BindingPlanner.restoreSteps($0, pciDrivers: nil) }
            }
            if !actuation.dryRun {
                switch action {
                case "finished":
                    let file = try session.state.openJournal(crash: Actuation.crash)
                    _ = try session.applier.execute(journal.steps, originals: journal.originals, sriov: journal.sriovOriginals,
                                                    vfs: journal.vfOriginals, journal: file, begun: journal.begun)
                    try session.commit(plan)
                case "undone":
                    let file = try session.state.openJournal(crash: Actuation.crash)
                    let problems = session.applier.rollback(journal.touched, sriov: journal.touchedSRIOV, vfs: journal.touchedVFs,
                                                            links: journal.touchedLinks, journal: file)
                    guard problems.isEmpty else {
                        throw VFIOError.failed("could not undo the interrupted \(journal.operation.rawValue): "
                                                   + problems.map(\.message).joined(separator: "; "),
                                               hint: "fix the cause (dmesg), then run 'vfioctl recover' again; the journal is kept")
                    }
                    try file.append(.rolledBack)
                    try session.state.removeJournal()
                    session.state.appendHistory(since: session.since, operation: "recover", outcome: "undone", command: session.command)
                case "committed":
                    try session.commit(plan)
                default:
                    try session.state.removeJournal()
                }
            }
            var after: [PCIAddress: String?] = [:]
            for original in journal.originals { after[original.address] = .some(try? session.kernel.driver(of: original.address)) }
            Output.emit(output.format, json: { RecoverOutput.json(journal, action: action, steps: steps, dryRun: actuation.dryRun, after: after) },
                        text: { RecoverOutput.text(journal, action: action, steps: steps, dryRun: actuation.dryRun, after: after) })
        }
    }
}
