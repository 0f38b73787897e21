import ArgumentParser
import Glibc
import VFIOActuator
import VFIOCore
import VFIODeviceLayer

/// --write, and the root check every config write makes first.
struct WriteOptions: ParsableArguments {
    @Flag(name: .long, help: "Apply the change (atomically, keeping the old file as FILE.vfioctl.bak). Without it the change is shown as a diff.")
    var write = false

    func requireRoot(_ root: HostRoot, _ command: String) throws(VFIOError) {
        if write && root.isLive && geteuid() != 0 {
            throw .failed("\(command) --write changes files under /etc: it needs root", hint: "run it as root; without --write it only shows the diff")
        }
    }

    /// Shows one file's edit as a diff, or (--write) makes it; then what to run for it to take effect.
    func carryOut(_ edit: ConfigEdit, root: HostRoot, already: String, into report: inout EditReport) throws {
        for warning in edit.warnings { Output.warning(warning) }
        report.notes += edit.notes
        var out = edit.notes.map { "note: \($0)\n" }.joined()
        if let path = edit.path, let new = edit.new, let newBytes = edit.newBytes {
            var file = EditOutput.File(path: path, old: edit.old, new: new, changed: edit.changed)
            if !edit.changed {
                out += "\(path) \(already)\n"
            } else if write {
                let backup = try ConfigFile.write(newBytes, to: path, root: root, expected: .some(edit.old))
                (file.written, file.backup) = (true, backup)
                out += "wrote \(path)" + (backup.map { " (the old one is \($0))" } ?? "") + ": " + edit.changes.joined(separator: "; ") + "\n"
            } else {
                out += TextDiff.unified(edit.old ?? "", new, path: path)
                out += "(not written: add --write)\n"
            }
            report.files.append(file)
        }
        if let regenerate = edit.regenerate {
            report.regenerate = regenerate
            if edit.changed || edit.path == nil { out += "then: \(regenerate), and reboot\n" }
        }
        report.text += out
    }
}

/// What a config or persist command did to its files: the text for people, the files for JSON
/// (EditOutput).
struct EditReport {
    var text = ""
    var files: [EditOutput.File] = []
    var notes: [String] = []
    var regenerate: String?

    func emit(_ format: OutputFormat) {
        Output.emit(format, json: { EditOutput.json(files, notes: notes, regenerate: regenerate) }, text: { text })
    }
}

extension Vfioctl {
    struct Config: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "config",
            abstract: "The kernel command line and module options passthrough and nested virtualization need.",
            subcommands: [Cmdline.self, Modprobe.self, Initramfs.self, Status.self])
    }

    struct Cmdline: VfioctlCommand {
        static let configuration = CommandConfiguration(
            commandName: "cmdline",
            abstract: "Put the IOMMU options for this CPU's vendor on the kernel command line (GRUB, systemd-boot, kernelstub).",
            discussion: """
                Intel: intel_iommu=on iommu=pt. AMD: iommu=pt (the AMD IOMMU is on by default; amd_iommu=on is \
                not a valid value). Added once to GRUB_CMDLINE_LINUX in /etc/default/grub, read as /bin/sh \
                reads it, at the assignment that takes effect, every other byte kept; a conflicting value \
                (intel_iommu=off) is replaced where it stands. A value vfioctl cannot know (set conditionally, \
                built by a command) is refused, with what to do by hand. Where /etc/default/grub.d is in use, \
                a drop-in goes there instead.
                """)

        @OptionGroup var writing: WriteOptions
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: FormatOptions

        func run(in invocation: Invocation) throws {
            let layer = try global.deviceLayer(invocation)
            try writing.requireRoot(layer.root, "config cmdline")
            let vendor = layer.cpuVendor()
            let options = GrubDefault.iommuOptions(vendor: vendor.rawValue)
            let plan = try BootConfig.cmdline(options, FactsReader(root: layer.root).bootFacts())
            var report = EditReport()
            try writing.carryOut(plan, root: layer.root, already: "already has " + options.joined(separator: " "), into: &report)
            report.emit(output.format)
        }
    }

    struct Modprobe: VfioctlCommand {
        static let configuration = CommandConfiguration(
            commandName: "modprobe",
            abstract: "modprobe.d files: vfio-pci ids=, softdeps and options, nested virtualization, unsafe interrupts.",
            discussion: "vfio-pci's own options, each off by default:\n"
                + ModprobeConfig.vfioPCIOptions.map { "  \($0.flag): \($0.about)." }.joined(separator: "\n"))

        @Option(name: .long, help: ArgumentHelp("Device IDs vfio-pci claims at boot (VVVV:DDDD, comma separated; repeatable).", valueName: "IDS"))
        var vfioIds: [String] = []

        @Option(name: .long, help: ArgumentHelp("A host driver vfio-pci must load before (softdep DRIVER pre: vfio-pci; repeatable).", valueName: "DRIVER"))
        var softdep: [String] = []

        @Flag(name: .long, help: "Nested virtualization: kvm_intel nested=1 enable_shadow_vmcs=1, or kvm_amd nested=1.")
        var nested = false

        @Flag(name: .long, help: "vfio_iommu_type1 allow_unsafe_interrupts=1: only without interrupt remapping, and only for trusted guests.")
        var allowUnsafeInterrupts = false

        @Flag(name: .long, help: "vfio-pci disable_vga=1: no legacy VGA ranges for guests (see below).")
        var disableVga = false

        @Flag(name: .long, help: "vfio-pci disable_idle_d3=1: idle devices stay out of D3 (for devices that do not come back from it).")
        var disableIdleD3 = false

        @Flag(name: .long, help: "vfio-pci nointxmask=1: no INTx masking (for devices whose masking is broken).")
        var nointxmask = false

        @Flag(name: .long, help: "vfio-pci enable_sriov=1: a PF on vfio-pci may create VFs (they then need its VF token).")
        var enableSriov = false

        @Flag(name: .long, help: "vfio-pci disable_denylist=1: bind devices vfio-pci refuses for known errata (a risk with untrusted guests).")
        var disableDenylist = false

        /// The vfio-pci options the flags ask for.
        var vfioPCIOptions: [ModprobeConfig.VFIOPCIOption] {
            let wanted = [("disable_vga", disableVga), ("disable_idle_d3", disableIdleD3), ("nointxmask", nointxmask),
                          ("enable_sriov", enableSriov), ("disable_denylist", disableDenylist)]
            return wanted.filter(\.1).compactMap { ModprobeConfig.vfioPCIOption(named: $0.0) }
        }

        @OptionGroup var writing: WriteOptions
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: FormatOptions

        func run(in invocation: Invocation) throws {
            let ids = try vfioIds.flatMap { $0.split(separator: ",").map(String.init) }.map { text throws(VFIOError) in try ModprobeConfig.parseID(text) }
            for driver in softdep { try ModprobeConfig.validateModule(driver) }
            let options = vfioPCIOptions
            guard !ids.isEmpty || !softdep.isEmpty || nested || allowUnsafeInterrupts || !options.isEmpty else {
                throw VFIOError.usage("config modprobe needs --vfio-ids, --softdep, --nested, --allow-unsafe-interrupts or a vfio-pci option",
                                      hint: "e.g. vfioctl config modprobe --vfio-ids 10de:1b80,10de:10f0 --softdep nouveau "
                                          + "('vfioctl config modprobe --help' lists vfio-pci's options)")
            }
            let layer = try global.deviceLayer(invocation)
            try writing.requireRoot(layer.root, "config modprobe")
            var files: [(String, String)] = []
            if !ids.isEmpty || !softdep.isEmpty || allowUnsafeInterrupts || !options.isEmpty {
                files.append(("vfio.conf", ModprobeConfig.vfio(ids: ids, softdeps: softdep, allowUnsafeInterrupts: allowUnsafeInterrupts,
                                                               options: options)))
            }
            if options.contains(where: { $0.name == "disable_denylist" }) {
                Output.warning("disable_denylist lets vfio-pci bind devices with known errata that an untrusted guest may exploit")
            }
            if nested { files.append(("kvm-nested.conf", ModprobeConfig.nested(vendor: layer.cpuVendor().rawValue))) }
            if allowUnsafeInterrupts {
                Output.warning("allow_unsafe_interrupts lets a guest's device inject interrupts into the host; prefer turning interrupt remapping on")
            }
            if !ids.isEmpty {
                // ids= claims every function with the ID: say which, when there is more than one.
                let snapshot = try layer.snapshot([])
                for id in ids {
                    let claimed = snapshot.functions.filter { $0.ids == id }
                    if claimed.count > 1 {
                        Output.warning("ids=\(id) claims all \(claimed.count) functions with it: " + claimed.map(\.address.description).joined(separator: ", ")
                                       + "; to give one of identical devices to a guest, detach it by address (vfioctl detach) instead")
                    }
                }
            }
            let current = try FactsReader(root: layer.root).modprobeFiles(files.map(\.0))
            var report = EditReport()
            var out = ""
            for (name, text) in files {
                let path = "/etc/modprobe.d/" + name
                var file = EditOutput.File(path: path, old: current[name], new: text, changed: current[name] != text)
                if !file.changed {
                    out += "\(path) is already so\n"
                } else if writing.write {
                    let backup = try ConfigFile.write(Array(text.utf8), to: path, root: layer.root, expected: .some(current[name]))
                    (file.written, file.backup) = (true, backup)
                    out += "wrote \(path)" + (backup.map { " (the old one is \($0))" } ?? "") + "\n"
                } else {
                    out += TextDiff.unified(current[name] ?? "", text, path: path)
                }
                report.files.append(file)
            }
            if !writing.write && files.contains(where: { current[$0.0] != $0.1 }) { out += "(not written: add --write)\n" }
            out += "then: modules read these when they load; for vfio-pci at boot, rebuild the initramfs if it loads there, and reboot\n"
            for option in options where option.writableAtRuntime {
                out += "now, while vfio-pci is loaded: echo 1 > /sys/module/vfio_pci/parameters/\(option.name)\n"
            }
            report.text = out
            report.emit(output.format)
        }
    }

    struct Initramfs: VfioctlCommand {
        static let configuration = CommandConfiguration(
            commandName: "initramfs",
            abstract: "Load the vfio modules from the initramfs (initramfs-tools, dracut or mkinitcpio, as this system has).",
            discussion: """
                So vfio-pci is there before a host driver the initramfs loads (a GPU driver, typically) \
                takes the device. initramfs-tools: /etc/initramfs-tools/modules. dracut: force_drivers in \
                /etc/dracut.conf.d/10-vfioctl.conf (dracut reads only *.conf files there). mkinitcpio: \
                the MODULES array of /etc/mkinitcpio.conf, vfio first. vfio_virqfd is added while an \
                installed kernel still has it (before 6.2). Then rebuild the initramfs as printed.
                """)

        @OptionGroup var writing: WriteOptions
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: FormatOptions

        func run(in invocation: Invocation) throws {
            let root = try global.deviceLayer(invocation).root
            try writing.requireRoot(root, "config initramfs")
            let facts = try FactsReader(root: root).bootFacts()
            var report = EditReport()
            try writing.carryOut(InitramfsConfig.plan(facts), root: root, already: "already loads " + InitramfsConfig.modules(facts).joined(separator: " "),
                                 into: &report)
            report.emit(output.format)
        }
    }

    struct Status: VfioctlCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "What the running kernel has against what the files configure, and what needs a reboot.")

        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: FormatOptions

        func run(in invocation: Invocation) throws {
            let layer = try global.deviceLayer(invocation)
            let reader = FactsReader(root: layer.root)
            let facts = reader.read(for: [])
            let options = GrubDefault.iommuOptions(vendor: layer.cpuVendor().rawValue)
            let running = facts.commandLine.parameters.map { parameter in parameter.value.map { "\(parameter.key)=\($0)" } ?? parameter.key }
            let boot = try reader.bootFacts()
            let configured = (boot.grubDefaultBytes.map { GrubDefault.configuredOptions(in: $0) } ?? [])
                + boot.grubDropIns.values.flatMap(GrubDefault.configuredOptions)
                + (boot.kernelCmdline?.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init) ?? [])
            let rows = ConfigStatus.rows(options: options, running: running, configured: configured, facts: facts,
                                         modprobe: try reader.modprobeFiles(["vfio.conf", "kvm-nested.conf"]))
                + [ConfigStatus.initramfsRow(boot)].compactMap { $0 }
            Output.emit(output.format, json: { ConfigStatus.json(rows) }, text: { ConfigStatus.text(rows) })
        }
    }
}
