import ArgumentParser
import VFIOCore
import VFIODeviceLayer

/// `--format text|json|xml` for `cpu host`.
enum CPUHostFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, xml
}

/// `--format xml|json` for `cpu baseline`.
enum CPUBaselineFormat: String, ExpressibleByArgument, CaseIterable {
    case xml, json
}

/// Where libvirt's CPU map is read: under the root, or --cpu-map DIR.
struct CPUMapOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Read libvirt's CPU map from DIR instead of ROOT/usr/share/libvirt/cpu_map.", valueName: "DIR"))
    var cpuMap: String?

    func models(_ root: HostRoot) throws(VFIOError) -> CPUModels {
        // --cpu-map is a path as given (relative to the current directory), not under the root.
        CPUModels(map: try CPUFiles(root: root).map(directory: cpuMap))
    }
}

/// CPU files given on the command line: every `<cpu>` in them, in order.
enum CPUInputs {
    static func read(_ files: [String], kind: CPUDefinition.Kind?) throws(VFIOError) -> [CPUDefinition] {
        var cpus: [CPUDefinition] = []
        for file in files {
            let text = try InputFile.read(file, what: "file with <cpu> elements or 'virsh capabilities' output")
            cpus += try CPUDefinition.parseAll(text, file: file == "-" ? "stdin" : file, kind: kind)
        }
        return cpus
    }
}

extension Vfioctl {
    struct CPU: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cpu",
            abstract: "CPU models as libvirt computes them: this host's CPU, compare, baseline (virsh cpu-compare, cpu-baseline).",
            discussion: """
                The answers come from libvirt's own CPU map (/usr/share/libvirt/cpu_map, package libvirt0) and \
                libvirt 9.0's x86 rules: 'cpu baseline' prints what 'virsh cpu-baseline' prints for the same files.
                """,
            subcommands: [Host.self, Compare.self, Baseline.self, Models.self])

        struct Host: VfioctlCommand {
            static let configuration = CommandConfiguration(
                commandName: "host",
                abstract: "This host's CPU as libvirt describes it: model, vendor, extra features, topology (from /proc/cpuinfo).",
                discussion: """
                    --format xml prints the <cpu> of 'virsh capabilities', for 'vfioctl cpu compare' and \
                    'vfioctl cpu baseline' on other hosts. Linux hides a few CPUID bits from /proc/cpuinfo and shows \
                    others only as its own flags; --format json lists what was inferred and what has no libvirt name.
                    """)

            @Option(name: .long, help: "Output format: text, json (stable, see docs/json.md) or xml (libvirt's host <cpu>).")
            var format: CPUHostFormat = .text

            @OptionGroup var map: CPUMapOptions
            @OptionGroup var global: GlobalOptions

            func run(in invocation: Invocation) throws {
                let models = try map.models(global.hostRoot(invocation))
                let host = try HostCPU.decode(try CPUFiles(root: try global.hostRoot(invocation)).cpuinfo(), with: models)
                switch format {
                case .text: Output.write(CPUOutput.hostText(host))
                case .json: Output.emit(.json, json: { CPUOutput.hostJSON(host) }, text: { "" })
                case .xml: Output.write(CPUOutput.hostElement(host).rendered())
                }
            }
        }

        struct Compare: VfioctlCommand {
            static let configuration = CommandConfiguration(
                commandName: "compare",
                abstract: "Can this host run a CPU: identical, superset, or incompatible (with the missing features).",
                discussion: """
                    FILE holds a <cpu> (a host CPU with <arch>, or a guest CPU from a domain) or a capabilities \
                    document; the first CPU in it is compared, as 'virsh cpu-compare' does. --host FILE compares \
                    against another host's CPU instead of this one. Exit status: 0 identical or superset, \
                    2 incompatible.
                    """)

            @Argument(help: ArgumentHelp("The CPU to compare: a file with a <cpu> or 'virsh capabilities' output; - reads stdin.",
                                         valueName: "FILE"))
            var file: String

            @Option(name: .long, help: ArgumentHelp("Compare against the host CPU in FILE instead of this host's.", valueName: "FILE"))
            var host: String?

            @OptionGroup var output: FormatOptions
            @OptionGroup var map: CPUMapOptions
            @OptionGroup var global: GlobalOptions

            func run(in invocation: Invocation) throws {
                let models = try map.models(global.hostRoot(invocation))
                let given = try CPUInputs.read([file], kind: nil)
                guard let cpu = given.first else { return }
                if given.count > 1 {
                    Output.warning("\(file == "-" ? "stdin" : file) holds \(given.count) CPUs: comparing the first, as virsh cpu-compare does")
                }
                if cpu.kind == .guest && cpu.mode != .custom {
                    throw VFIOError.usage("\(cpu.source): <cpu mode='\(cpu.mode.rawValue)'> names no CPU model to compare",
                                          hint: "compare the hosts' own CPUs: 'vfioctl cpu host --format xml' on one, 'vfioctl cpu compare FILE' on the other")
                }
                let hostCPU: CPUDefinition
                var hostName = "this host's CPU"
                if let host {
                    guard let first = try CPUInputs.read([host], kind: .host).first else { return }
                    guard first.isX86 else {
                        throw VFIOError.usage("\(first.source): <arch> is '\((first.arch ?? "").printable)': vfioctl compares x86 CPUs only",
                                              hint: "give the <cpu> of an x86 host (i686 or x86_64)")
                    }
                    hostCPU = first
                    hostName = "the host CPU in \(first.source)"
                } else {
                    hostCPU = try HostCPU.decode(try CPUFiles(root: try global.hostRoot(invocation)).cpuinfo(), with: models).definition
                }
                let comparison = try models.compare(host: hostCPU, cpu)
                Output.emit(output.format, json: { CPUOutput.comparisonJSON(comparison, host: hostCPU, cpu: cpu) },
                            text: { CPUOutput.comparisonText(comparison, host: hostName, cpu: cpu.source) })
                if comparison.relation == .incompatible { throw ExitCode(2) }
            }
        }

        struct Baseline: VfioctlCommand {
            static let configuration = CommandConfiguration(
                commandName: "baseline",
                abstract: "The CPU every given CPU can run: <cpu mode='custom' match='exact'>, as 'virsh cpu-baseline' computes it.",
                discussion: """
                    Each FILE holds <cpu> elements (host CPUs, with <arch>) and/or capabilities documents, one or \
                    several; all of them are baselined together. Collect each host's with 'virsh capabilities' or \
                    'vfioctl cpu host --format xml'.
                    """)

            @Argument(help: ArgumentHelp("Files with host CPUs; - reads stdin.", valueName: "FILE"))
            var files: [String] = []

            @Flag(name: .long, help: "List every feature of the model too, by name (virsh cpu-baseline --features).")
            var features = false

            @Flag(name: .long, help: "Leave out features that block migration (invtsc, xsaves), as --migratable does for hypervisor-cpu-baseline.")
            var migratable = false

            @Option(name: .long, help: "Output format: xml (what virsh prints) or json (stable, see docs/json.md).")
            var format: CPUBaselineFormat = .xml

            @OptionGroup var map: CPUMapOptions
            @OptionGroup var global: GlobalOptions

            func run(in invocation: Invocation) throws {
                guard !files.isEmpty else {
                    throw VFIOError.usage("cpu baseline needs at least one FILE",
                                          hint: "vfioctl cpu baseline host1.xml host2.xml (each from 'virsh capabilities' or 'vfioctl cpu host --format xml')")
                }
                let models = try map.models(global.hostRoot(invocation))
                let cpus = try CPUInputs.read(files, kind: .host)
                var cpu = try models.baseline(cpus, migratable: migratable)
                if features { cpu = try models.expand(cpu) }
                switch format {
                case .xml: Output.write(CPUOutput.guestElement(cpu).rendered())
                case .json: Output.emit(.json, json: { CPUOutput.baselineJSON(cpu, inputs: cpus) }, text: { "" })
                }
            }
        }

        struct Models: VfioctlCommand {
            static let configuration = CommandConfiguration(
                commandName: "models",
                abstract: "The x86 models (or, with --features, the features) of libvirt's CPU map, in the map's order.")

            @Flag(name: .long, help: "List the features: their CPUID/MSR bits and whether they migrate.")
            var features = false

            @OptionGroup var output: FormatOptions
            @OptionGroup var map: CPUMapOptions
            @OptionGroup var global: GlobalOptions

            func run(in invocation: Invocation) throws {
                let models = try map.models(global.hostRoot(invocation))
                Output.emit(output.format, json: { CPUOutput.modelsJSON(models.map) },
                            text: { CPUOutput.modelsText(models.map, features: features) })
            }
        }
    }

    /// `xml cpu`: the domain's <cpu>.
    struct XMLCPU: VfioctlCommand {
        static let configuration = CommandConfiguration(
            commandName: "cpu",
            abstract: "The domain <cpu>: host-passthrough, or the baseline of a pool's CPUs, with what it means for migration.",
            discussion: """
                --host-passthrough gives the guest this CPU as it is (nested virtualization needs it); it migrates \
                only between identical CPUs. --baseline FILE... gives the custom model every listed host can run, \
                so guests migrate freely among them.
                """)

        @Flag(name: .long, help: "<cpu mode='host-passthrough'>.")
        var hostPassthrough = false

        @Option(name: .long, parsing: .upToNextOption,
                help: ArgumentHelp("The pool's host CPUs (files with <cpu> elements or 'virsh capabilities' output).", valueName: "FILE"))
        var baseline: [String] = []

        @Flag(name: .long, help: "With --baseline: leave out features that block migration (invtsc, xsaves).")
        var migratable = false

        @OptionGroup var map: CPUMapOptions
        @OptionGroup var global: GlobalOptions

        func run(in invocation: Invocation) throws {
            guard hostPassthrough != !baseline.isEmpty else {
                throw VFIOError.usage(hostPassthrough ? "give --host-passthrough or --baseline FILE..., not both"
                                          : "xml cpu needs --host-passthrough or --baseline FILE...",
                                      hint: "vfioctl xml cpu --baseline host1.xml host2.xml (from 'vfioctl cpu host --format xml' on each host)")
            }
            if hostPassthrough {
                Output.write(CPUOutput.hostPassthrough())
                return
            }
            let models = try map.models(global.hostRoot(invocation))
            let cpus = try CPUInputs.read(baseline, kind: .host)
            let cpu = try models.baseline(cpus, migratable: migratable)
            Output.write(CPUOutput.baselineNote(cpu, hosts: cpus.count) + CPUOutput.guestElement(cpu).rendered())
        }
    }
}
