import ArgumentParser
import VFIOActuator
import VFIOCore
import VFIODeviceLayer

extension Vfioctl {
    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the host match a pool file: VF counts, VF drivers, MAC/VLAN/trust/spoofchk/state, devices to detach.",
            discussion: """
                FILE is TOML (.toml) or YAML (.yaml, .yml); docs/pools.md describes every key. The \
                difference from the host becomes one plan (printed; --dry-run stops there), run \
                through the journal like detach: a failure rolls back everything it changed. A \
                second run finds nothing to do and exits 0. PFs the file does not name are left \
                alone. At boot, systemd/vfioctl-pools.service runs it before the network comes up.
                """)

        @Argument(help: ArgumentHelp("The pool file.", valueName: "FILE"))
        var file: String

        @OptionGroup var actuation: ActuationOptions
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: FormatOptions

        func run() throws {
            // The file is read and checked before anything else: bad input changes nothing.
            let spec = try PoolFile.load(file)
            let session = try BindingSession("apply", global: global, options: actuation, needsLock: true)
            try session.requireNoJournal()
            let snapshot = try session.layer.snapshot([])
            let reader = FactsReader(root: session.layer.root)
            var facts = reader.read(for: snapshot.functions)
            facts.vfioUsers = reader.vfioUsers()
            let links = spec.pfs.contains(where: \.setsVFAttributes) ? SRIOV.readLinks(try session.requireNetlink(), SRIOVOutput.pfs(snapshot)) : .init()
            let plan = PoolPlanner.plan(spec, snapshot, facts, links, saved: try session.state.vfRecords())
            try session.carryOut(plan, dryRun: actuation.dryRun, format: output.format)
        }
    }
}
