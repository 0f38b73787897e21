import Glibc
import VFIOCore
import VFIODeviceLayer

/// One changing run, from start to end: privileges, the lock, the refusal to start on top of an
/// unfinished journal, then `run(plan)`: journal, apply, verify, roll back on failure, commit the
/// records and the history. `recover` carries out the pure decision `Recovery.decide` over the
/// journal. Commands observe, plan and render; every write happens here.
public final class Transaction {
    public let layer: DeviceLayer
    public let state: StateDirectory
    /// The command line, for the journal and the history.
    public let command: String
    public let dryRun: Bool
    let kernel: any HostKernel
    /// rtnetlink for VF attributes: nil off the live host (a --root tree has no kernel to ask).
    public let netlink: (any VFNetlink)?
    let applier: Applier
    let crash: JournalCrash?
    let lock: StateDirectory.Lock?
    /// Epoch seconds, for the journal; and when the lock was taken, for the history.
    let started: Int
    let since: Double

    /// Opens the run: refuses without root on the live host, refuses a --root tree unless a
    /// simulated kernel is given, takes the lock (not for a dry run) and, unless `recovering`,
    /// refuses while a journal is left.
    public init(_ name: String, layer: DeviceLayer, actuators: Actuators, stateDirectory: String?, command: String,
                dryRun: Bool, wait: Double, recovering: Bool = false, progress: @escaping @Sendable (String) -> Void) throws(VFIOError) {
        let root = layer.root
        if !dryRun && root.isLive && geteuid() != 0 {
            throw .failed("\(name) changes the host's devices (sysfs, netlink): it needs root",
                          hint: "run it as root (sudo vfioctl \(name) ...); --dry-run shows the plan without root")
        }
        if !dryRun && !root.isLive && actuators.kernel == nil {
            throw .usage("--root \(root) is a copy of a host's files, not a running kernel: \(name) can only plan there",
                         hint: "add --dry-run to see the plan, or run on the host itself without --root")
        }
        self.layer = layer
        self.command = command
        self.dryRun = dryRun
        state = actuators.state(stateDirectory, root: root)
        kernel = actuators.kernel?(root) ?? LiveKernel(root: root)
        netlink = actuators.vfNetlink(root: root)
        var applier = Applier(kernel: kernel, settleTimeout: actuators.settleTimeout)
        applier.netlink = netlink
        applier.onProgress = progress
        self.applier = applier
        crash = actuators.crash
        started = Int(time(nil))
        lock = dryRun ? nil : try state.lock(wait: wait, holder: "pid \(getpid()): \(command)", waiting: progress)
        since = StateDirectory.realtime()
        if !recovering { try requireNoJournal() }
    }

    /// The netlink seam, or why there is none.
    public func requireNetlink() throws(VFIOError) -> any VFNetlink {
        if let netlink { return netlink }
        if !layer.root.isLive {
            throw .usage("VF attributes come from the running kernel over netlink, not from the tree under \(layer.root)",
                         hint: "run on the host itself without --root")
        }
        // Opening it again says why it failed.
        return try LiveVFNetlink(root: layer.root)
    }

    /// Changing runs refuse to start on top of an unfinished one.
    func requireNoJournal() throws(VFIOError) {
        guard state.hasJournal else { return }
        let journal = try? state.readJournal()
        let what = journal.map { "\($0.operation.rawValue) (pid \($0.pid)" + ($0.command.map { ": \($0)" } ?? "") + ")" } ?? "a run"
        throw .failed("\(what) did not finish: its journal is at \(state.journalPath)",
                      hint: "run 'vfioctl recover' to undo it (or 'vfioctl recover --finish' to complete it)")
    }

    // MARK: a run

    /// Carries out `plan`: nothing for a refused plan or a dry run (the report says what would
    /// change); otherwise journal, apply, verify, commit. A failure rolls back and throws what
    /// failed; the journal stays only if the rollback failed too.
    public func run(_ plan: Plan) throws(VFIOError) -> RunReport {
        if plan.refused || dryRun {
            if !dryRun { recordEnd(plan, .refused) }
            return RunReport(plan: plan, dryRun: dryRun)
        }
        guard !plan.steps.isEmpty else {
            try commit(plan)
            recordEnd(plan, .ok)
            return RunReport(plan: plan, dryRun: false, after: [:])
        }
        let recounted = Set(plan.steps.compactMap { if case .setAttribute(let pf, SRIOVPlanner.numVFsAttribute, _) = $0 { pf } else { nil } })
        let vfsBefore = Dictionary(uniqueKeysWithValues: recounted.map { ($0, applier.virtualFunctions(of: $0)) })
        let journal = try state.createJournal(crash: crash)
        let outcome: Applier.Outcome
        do {
            try journal.start(plan, command: command, started: started)
            outcome = try applier.execute(plan.steps, originals: plan.originals, journal: journal, begun: [])
        } catch {
            if case .interrupted = error.kind { throw error }
            if (try? state.readJournal())??.rolledBack == true { try? state.removeJournal() }
            state.appendHistory(since: since, operation: plan.operation.rawValue, outcome: "failed", command: command)
            recordEnd(plan, .failed)
            throw error
        }
        try commit(plan)
        let now = after(plan, pfs: recounted)
        var replaced: [PCIAddress: RunReport.VFs] = [:]
        for (pf, vfs) in vfsBefore where zip(plan.steps, outcome.results).contains(where: { step, result in
            if case .setAttribute(pf, SRIOVPlanner.numVFsAttribute, _) = step { result == .done } else { false }
        }) {
            replaced[pf] = RunReport.VFs(before: vfs, after: now.vfs[pf] ?? [])
        }
        let report = RunReport(plan: plan, dryRun: false, results: outcome.results, after: now.functions, replaced: replaced,
                               reloads: outcome.reloads)
        recordEnd(plan, .ok, changes: report.changes.count)
        return report
    }

    /// An apply that ended (not a dry run, not cut short) leaves how in the state directory
    /// (`LastRun`, for `metrics`). A record that cannot be written is said; the run stands.
    func recordEnd(_ plan: Plan, _ outcome: LastRun.Outcome, changes: Int = 0) {
        guard plan.operation == .apply else { return }
        let run = LastRun(operation: .apply, ended: Int((StateDirectory.realtime() * 1000).rounded()), outcome: outcome, changes: changes)
        do {
            try state.recordLastApply(run)
        } catch {
            applier.onProgress?("could not record how this apply ended in \(state.path)/\(LastRun.fileName): \(error.message)")
        }
    }

    /// The run is done: records, then the journal goes, then history.
    func commit(_ plan: Plan) throws(VFIOError) {
        try state.updateRecords(write: plan.records.write, drop: plan.records.drop)
        try state.updateVFRecords(write: plan.records.vfWrite, drop: plan.records.vfDrop, dropPFs: plan.records.vfDropPFs)
        try state.removeJournal()
        if !plan.steps.isEmpty {
            state.appendHistory(since: since, operation: plan.operation.rawValue, outcome: "ok", command: command)
        }
    }

    /// Every function the plan touched, and every VF of a PF whose VFs it (or `pfs`) changed, as
    /// it is now; and those PFs' VFs, each PF's read once.
    func after(_ plan: Plan, pfs more: Set<PCIAddress> = []) -> (functions: [PCIAddress: RunReport.After], vfs: [PCIAddress: [PCIAddress]]) {
        var after: [PCIAddress: RunReport.After] = [:]
        for original in plan.originals.bindings {
            after[original.address] = kernel.exists(original.address.sysfsDevice) ? .bound(try? kernel.driver(of: original.address)) : .gone
        }
        let pfs = more.union(plan.originals.vfCounts.map(\.pf) + plan.steps.compactMap { if case .bindVFs(let pf, _, _) = $0 { pf } else { nil } })
        var vfs: [PCIAddress: [PCIAddress]] = [:]
        for pf in pfs {
            vfs[pf] = applier.virtualFunctions(of: pf)
            for vf in vfs[pf] ?? [] { after[vf] = .bound(try? kernel.driver(of: vf)) }
        }
        return (after, vfs)
    }

    // MARK: recover

    /// The journal left by an interrupted run, and what recover does with it.
    public func recovery(finish: Bool) throws(VFIOError) -> (JournalState?, Recovery) {
        let journal = try state.readJournal()
        return (journal, Recovery.decide(journal, finish: finish))
    }

    /// Carries out `recovery` over `journal` (nothing in a dry run), then reports where each
    /// function the run recorded is now.
    public func recover(_ journal: JournalState, _ recovery: Recovery) throws(VFIOError) -> [PCIAddress: RunReport.After] {
        guard !dryRun else { return [:] }
        let plan = Plan(resuming: journal)
        switch recovery.action {
        case .none: break
        case .finished:
            let file = try state.openJournal(crash: crash)
            _ = try applier.execute(journal.steps, originals: journal.originals, journal: file, begun: journal.begun)
            try commit(plan)
        case .undone:
            let file = try state.openJournal(crash: crash)
            let problems = applier.rollback(journal.undo, journal: file)
            guard problems.isEmpty else {
                throw .failed("could not undo the interrupted \(journal.operation.rawValue): " + problems.map(\.message).joined(separator: "; "),
                              hint: "fix the cause (dmesg), then run 'vfioctl recover' again; the journal is kept")
            }
            try file.append(.rolledBack)
            try state.removeJournal()
            state.appendHistory(since: since, operation: "recover", outcome: "undone", command: command)
        case .committed: try commit(plan)
        case .closed: try state.removeJournal()
        }
        return after(plan).functions
    }
}
