import ArgumentParser
import VFIOActuator
import VFIOCore
import VFIODeviceLayer

extension Vfioctl {
    struct Apply: ChangingCommand {
        static let name = "apply"
        static let configuration = CommandConfiguration(
            commandName: "apply",
            abstract: "Make the host match a pool file: VF counts, VF drivers, MAC/VLAN/trust/spoofchk/state, devices to detach.",
            discussion: """
                FILE is TOML (.toml) or YAML (.yaml, .yml); docs/pools.md describes every key. The \
                difference from the host becomes one plan (printed; --dry-run stops there), run \
                through the journal like detach: a failure rolls back everything it changed. A \
                second run finds nothing to do and exits 0. PFs the file does not name are left \
                alone. At boot, systemd/vfioctl-pools.service runs it before the network comes up.
                """)

        @Argument(help: ArgumentHelp("The pool file.", valueName: "FILE"), completion: .file(extensions: ["toml", "yaml", "yml"]))
        var file: String

        @OptionGroup var actuation: ActuationOptions
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: FormatOptions

        // The file is read and checked before anything else: bad input changes nothing.
        func prepare() throws -> PoolSpec { try PoolFile.load(file) }

        func plan(_ spec: PoolSpec, _ transaction: Transaction) throws -> Plan {
            let (snapshot, facts) = try transaction.layer.observeForPlanning(.all, openGroups: true, vfioVariants: true)
            let links = spec.pfs.contains(where: \.setsVFAttributes) ? SRIOV.readLinks(try transaction.requireNetlink(), SRIOVOutput.pfs(snapshot)) : .init()
            return PoolPlanner.plan(spec, snapshot, facts, links, saved: try transaction.state.vfRecords())
        }
    }
}
