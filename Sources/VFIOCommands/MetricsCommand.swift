import ArgumentParser
import Glibc
import VFIOActuator
import VFIOCore
import VFIODeviceLayer

extension Vfioctl {
    struct Metrics: VfioctlCommand {
        static let configuration = CommandConfiguration(
            commandName: "metrics",
            abstract: "Print the host's passthrough state as Prometheus metrics, for node_exporter's textfile collector.",
            discussion: """
                Per PCI function (ids, class, driver, IOMMU group, NUMA node, vfio, persisted), per IOMMU \
                group (viable, functions), per SR-IOV PF (VFs possible, enabled, on vfio, in use by a \
                guest), the functions detach and persist recorded and where they are now, the host's \
                check findings by id and severity, IOMMU and interrupt remapping, the last apply, and \
                what each mdev type can still create. docs/metrics.md lists every metric.

                The functions' summary is read again only when the kernel reports a device change \
                (its uevent count in /sys/kernel/uevent_seqnum, the boot, the taint flags): it is \
                kept in /run/vfioctl/metrics-summary between runs (--no-cache reads every time).

                --output FILE replaces FILE atomically (mode 0644, through a temporary name that does \
                not end in .prom), so the collector never reads half a file; \
                systemd/vfioctl-metrics.timer runs it every minute into \
                /var/lib/prometheus/node-exporter/vfioctl.prom.
                """)

        @Option(name: .long, help: ArgumentHelp("Write the metrics to FILE (a name ending in .prom) instead of stdout, atomically.",
                                                valueName: "FILE"), completion: .file(extensions: ["prom"]))
        var output: String?

        @Option(name: .long, help: ArgumentHelp("Where detach's records and the last apply are kept (default /var/lib/vfioctl under "
                                                + "the root; also VFIOCTL_STATE_DIR).", valueName: "DIR"), completion: .directory)
        var stateDir: String?

        @Flag(name: .long, help: "Read every function again, even when the kernel reports no device change since the last run.")
        var noCache = false

        @OptionGroup var global: GlobalOptions

        static let example = "/var/lib/prometheus/node-exporter/vfioctl.prom"

        func run(in invocation: Invocation) throws {
            // A bad --output is refused before anything is read, and nothing is written.
            let file = try output.map { path throws(VFIOError) in try OutputFile.prepare(path, suffix: ".prom", option: "--output", example: Self.example) }
            let layer = try global.deviceLayer(invocation)
            // Only root sees every process's open files (a guest's QEMU runs as another user):
            // otherwise the VFs in use are left out, not counted short.
            let openGroups = !layer.root.isLive || geteuid() == 0
            if !openGroups {
                Output.warning("not root: which processes hold /dev/vfio/N open cannot be read; vfioctl_sriov_in_use_vfs is left out")
            }
            var scope = ObservationScope(.all, facts: true, openGroups: openGroups, depth: .summary)
            scope.reuseSummary = !noCache
            let seen = try layer.observe(scope)
            var facts = seen.facts ?? FactsReader(root: layer.root).read(for: [])
            facts.mdevs = MdevReader(root: layer.root).read()
            let state = invocation.actuators.state(stateDir, root: layer.root)
            let input = MetricsInput(snapshot: seen.snapshot, facts: facts, detached: try state.records(),
                                     persisted: try PersistFiles(root: layer.root).records().records, lastApply: try state.lastApply())
            let text = HostMetrics.render(input)
            if let file { try file.write(text) } else { Output.write(text) }
        }
    }
}
