import ArgumentParser
import VFIOCore
import VFIODeviceLayer

/// `--format text|json|xml` for `cpu host`.
enum CPUHostFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json, xml
}

/// `--format xml|json` for `cpu baseline` and `cpu dump`.
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

/// CPU files given on the command line: every `<cpu>` in them, and every CPUID dump
/// (`<cpudata>`, decoded as libvirt decodes a host's), in order.
enum CPUInputs {
    /// How FILE is named in messages and sources: "stdin" for -.
    static func name(_ file: String) -> String { file == "-" ? "stdin" : file }

    static func read(_ files: [String], kind: CPUDefinition.Kind?, models: CPUModels) throws(VFIOError) -> [CPUDefinition] {
        var cpus: [CPUDefinition] = []
        for file in files {
            let text = try InputFile.read(file, what: "file with <cpu> elements, 'virsh capabilities' output or a CPUID dump")
            cpus += try CPUDefinition.parseAll(text, file: name(file), kind: kind, dumps: models)
        }
        return cpus
    }

    /// The one dump in FILE (`cpu host --cpuid FILE`).
    static func dump(_ file: String) throws(VFIOError) -> CPUIDDump {
        let shown = name(file)
        let dumps = try CPUIDDump.parseAll(InputFile.read(file, what: "CPUID dump (libvirt's cpudata XML)"), file: shown)
        guard dumps.count == 1, let dump = dumps.first else {
            throw VFIOError.usage("\(shown) holds \(dumps.count) CPUID dumps: --cpuid decodes one",
                                  hint: "give each host's dump in a file of its own ('vfioctl cpu baseline' takes several)")
        }
        return dump
    }
}

/// This host's CPU: asked with CPUID (and its MSRs) where that can be run for the root, as
/// libvirt does; otherwise decoded from /proc/cpuinfo, saying why.
enum ThisHostCPU {
    static func read(_ models: CPUModels, root: HostRoot, invocation: Invocation) throws(VFIOError) -> HostCPU {
        guard let reader = invocation.cpuid, reader.serves(root) else {
            let reason = !root.isLive ? "CPUID cannot be run for the host under \(root)"
                : "this machine has no CPUID instruction (not x86)"
            return try HostCPU.decode(CPUFiles(root: root).cpuinfo(), with: models, reason: reason)
        }
        let read = try reader.read { $0.msrsLibvirtReads(models.map) }
        // libvirt takes microcode, address sizes and topology from /proc and sysfs, not CPUID.
        let info = try? CPUFiles(root: root).cpuinfo()
        let host = try HostCPU.decode(dump: read.dump, with: models, source: .cpuid(cpu: read.cpu, msrs: read.msrSource),
                                      cpuinfo: info, unreadMSRs: read.unreadMSRs)
        warnUnread(host.unreadFeatures)
        return host
    }

    static func warnUnread(_ unread: [(name: String, reason: String)]) {
        guard let first = unread.first else { return }
        Output.warning("could not read " + unread.map(\.name).joined(separator: ", ") + " (\(first.reason)): "
                       + "the CPU may have them; libvirt cannot read them either")
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
            subcommands: [Host.self, Dump.self, Compare.self, Baseline.self, Models.self])

        struct Host: VfioctlCommand {
            static let configuration = CommandConfiguration(
                commandName: "host",
                abstract: "This host's CPU (or a CPUID dump's) as libvirt describes it: model, vendor, signature, extra features, topology.",
                discussion: """
                    The CPU is asked with the CPUID instruction on one CPU, and the MSR libvirt reads \
                    (IA32_ARCH_CAPABILITIES) through /dev/cpu/N/msr or /dev/kvm, and decoded as libvirt 9.0 decodes \
                    its host's: the answer is the <cpu> of 'virsh capabilities'. --cpuid FILE decodes another \
                    host's dump ('vfioctl cpu dump' there) instead. Under --root, where CPUID cannot be run, \
                    /proc/cpuinfo's flags are decoded; Linux hides a few CPUID bits from them, so --format json lists \
                    what was inferred and what has no libvirt name. Every format says which source was used. \
                    --format xml prints the <cpu> for 'vfioctl cpu compare' and 'vfioctl cpu baseline' on other hosts.
                    """)

            @Option(name: .long, help: "Output format: text, json (stable, see docs/json.md) or xml (libvirt's host <cpu>).")
            var format: CPUHostFormat = .text

            @Option(name: .long, help: ArgumentHelp("Decode the CPUID dump in FILE (libvirt's cpudata XML, as 'vfioctl cpu dump' writes it) instead of this host's CPU; - reads stdin.",
                                                    valueName: "FILE"))
            var cpuid: String?

            @OptionGroup var map: CPUMapOptions
            @OptionGroup var global: GlobalOptions

            func run(in invocation: Invocation) throws {
                let root = try global.hostRoot(invocation)
                let host: HostCPU
                if let cpuid {
                    // The dump is read before the map, so a bad FILE is told first.
                    let dump = try CPUInputs.dump(cpuid)
                    host = try HostCPU.decode(dump: dump, with: try map.models(root), source: .dump(file: CPUInputs.name(cpuid)))
                } else {
                    host = try ThisHostCPU.read(try map.models(root), root: root, invocation: invocation)
                }
                switch format {
                case .text: Output.write(CPUOutput.hostText(host))
                case .json: Output.emit(.json, json: { CPUOutput.hostJSON(host) }, text: { "" })
                case .xml: Output.write(CPUOutput.hostXML(host))
                }
            }
        }

        struct Dump: VfioctlCommand {
            static let configuration = CommandConfiguration(
                commandName: "dump",
                abstract: "This host's CPUID leaves and MSRs, as libvirt reads them, for 'vfioctl cpu host --cpuid FILE' elsewhere.",
                discussion: """
                    --format xml (the default) writes libvirt's cpudata XML, the format of libvirt's CPU test data: \
                    'vfioctl cpu host --cpuid', 'cpu compare' and 'cpu baseline' on any host decode it as libvirt \
                    decodes this host's CPU. Run it as root so the MSR can be read (or with /dev/kvm readable).
                    """)

            @Option(name: .long, help: "Output format: xml (libvirt's cpudata) or json (stable, see docs/json.md).")
            var format: CPUBaselineFormat = .xml

            @OptionGroup var map: CPUMapOptions
            @OptionGroup var global: GlobalOptions

            func run(in invocation: Invocation) throws {
                let root = try global.hostRoot(invocation)
                guard let reader = invocation.cpuid, reader.serves(root) else {
                    throw VFIOError.usage(root.isLive ? "this machine has no CPUID instruction (not x86): nothing to dump"
                                              : "cpu dump runs CPUID on this machine's CPU, not on --root \(root)",
                                          hint: root.isLive ? "run 'vfioctl cpu dump' on the x86 hosts themselves"
                                              : "run it on the host itself, without --root, and copy the file")
                }
                let models = try map.models(root)
                let read = try reader.read { $0.msrsLibvirtReads(models.map) }
                let source = "vfioctl cpu dump: CPUID on CPU \(read.cpu); \(read.msrSource)"
                for (index, reason) in read.unreadMSRs {
                    Output.warning("MSR 0x\(HexDigits.padded(UInt64(index), width: 1)) could not be read (\(reason)): the dump lacks it, as libvirt would")
                }
                switch format {
                case .xml: Output.write(read.dump.xml(comments: [read.dump.brandString ?? "unknown CPU", source]))
                case .json: Output.emit(.json, json: { CPUOutput.dumpJSON(read.dump, source: source, unreadMSRs: read.unreadMSRs) }, text: { "" })
                }
            }
        }

        struct Compare: VfioctlCommand {
            static let configuration = CommandConfiguration(
                commandName: "compare",
                abstract: "Can this host run a CPU: identical, superset, or incompatible (with the missing features).",
                discussion: """
                    FILE holds a <cpu> (a host CPU with <arch>, or a guest CPU from a domain), a capabilities \
                    document or a CPUID dump ('vfioctl cpu dump'); the first CPU in it is compared, as 'virsh \
                    cpu-compare' does. --host FILE compares against another host's CPU (or dump) instead of this \
                    one. Exit status: 0 identical or superset, 2 incompatible.
                    """)

            @Argument(help: ArgumentHelp("The CPU to compare: a file with a <cpu>, 'virsh capabilities' output or a CPUID dump; - reads stdin.",
                                         valueName: "FILE"))
            var file: String

            @Option(name: .long, help: ArgumentHelp("Compare against the host CPU (or CPUID dump) in FILE instead of this host's.", valueName: "FILE"))
            var host: String?

            @OptionGroup var output: FormatOptions
            @OptionGroup var map: CPUMapOptions
            @OptionGroup var global: GlobalOptions

            func run(in invocation: Invocation) throws {
                let models = try map.models(global.hostRoot(invocation))
                let given = try CPUInputs.read([file], kind: nil, models: models)
                guard let cpu = given.first else { return }
                if given.count > 1 {
                    Output.warning("\(CPUInputs.name(file)) holds \(given.count) CPUs: comparing the first, as virsh cpu-compare does")
                }
                if cpu.kind == .guest && cpu.mode != .custom {
                    throw VFIOError.usage("\(cpu.source): <cpu mode='\(cpu.mode.rawValue)'> names no CPU model to compare",
                                          hint: "compare the hosts' own CPUs: 'vfioctl cpu host --format xml' on one, 'vfioctl cpu compare FILE' on the other")
                }
                let hostCPU: CPUDefinition
                var hostName = "this host's CPU"
                if let host {
                    guard let first = try CPUInputs.read([host], kind: .host, models: models).first else { return }
                    guard first.isX86 else {
                        throw VFIOError.usage("\(first.source): <arch> is '\((first.arch ?? "").printable)': vfioctl compares x86 CPUs only",
                                              hint: "give the <cpu> of an x86 host (i686 or x86_64)")
                    }
                    hostCPU = first
                    hostName = "the host CPU in \(first.source)"
                } else {
                    hostCPU = try ThisHostCPU.read(models, root: try global.hostRoot(invocation), invocation: invocation).definition
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
                    Each FILE holds <cpu> elements (host CPUs, with <arch>), capabilities documents and/or CPUID \
                    dumps, one or several; all of them are baselined together. Collect each host's with 'virsh \
                    capabilities', 'vfioctl cpu host --format xml' or 'vfioctl cpu dump' (a dump is decoded as \
                    libvirt decodes that host's CPU).
                    """)

            @Argument(help: ArgumentHelp("Files with host CPUs or CPUID dumps; - reads stdin.", valueName: "FILE"))
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
                let cpus = try CPUInputs.read(files, kind: .host, models: models)
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
                help: ArgumentHelp("The pool's host CPUs (files with <cpu> elements, 'virsh capabilities' output or CPUID dumps).", valueName: "FILE"))
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
            let cpus = try CPUInputs.read(baseline, kind: .host, models: models)
            let cpu = try models.baseline(cpus, migratable: migratable)
            Output.write(CPUOutput.baselineNote(cpu, hosts: cpus.count) + CPUOutput.guestElement(cpu).rendered())
        }
    }
}
