/// How this system boots, as far as the kernel command line goes: read by the device layer.
public struct BootFacts: Sendable, Equatable {
    /// /etc/default/grub's text, when it exists.
    public var grubDefault: String?
    /// Files in /etc/default/grub.d (name → text); the directory is "in use" when it holds *.cfg.
    public var grubDropIns: [String: String] = [:]
    /// Programs present: update-grub, grub2-mkconfig, grub-mkconfig, grubby, kernelstub, bootctl.
    public var tools: Set<String> = []
    /// /etc/kernel/cmdline (systemd-boot / kernel-install), when it exists.
    public var kernelCmdline: String?
    /// BLS entries in /boot/loader/entries (RHEL 8+, Fedora: grubby manages them).
    public var blsEntries = false
    /// Booted through UEFI (/sys/firmware/efi).
    public var efi = false
    /// GRUB's generated config files that exist (/boot/grub/grub.cfg, /boot/grub2/grub.cfg, /boot/efi/EFI/X/grub.cfg).
    public var grubConfigs: [String] = []
    /// ID from /etc/os-release.
    public var osID: String?

    public init() {}
}

/// What `vfioctl config cmdline` will do on this system. Pure.
public struct CmdlinePlan: Sendable, Equatable {
    /// The file to write (nil: nothing vfioctl can write here), its current and new text.
    public var path: String?
    public var old: String?
    public var new: String?
    /// What changes, in words.
    public var changes: [String]
    /// The command that makes the boot loader pick the file up.
    public var regenerate: String?
    public var notes: [String]

    public var changed: Bool { path != nil && old != new }
}

public enum BootConfig {
    public static let dropInName = "60-vfioctl.cfg"

    public static func cmdline(_ options: [String], _ facts: BootFacts) -> CmdlinePlan {
        let joined = options.joined(separator: " ")
        // kernelstub (Pop!_OS) and systemd-boot keep the command line elsewhere; say what to run.
        if facts.tools.contains("kernelstub") {
            return CmdlinePlan(changes: [], regenerate: "kernelstub -a \"\(joined)\"",
                               notes: ["this system boots through kernelstub: it owns the command line, run the command below"])
        }
        if facts.grubDefault == nil, let current = facts.kernelCmdline {
            var changes: [String] = []
            let value = String(current.reversed().drop { $0 == "\n" }.reversed())
            let updated = GrubDefault.ensure(options, inValue: value, label: nil, changes: &changes)
            return CmdlinePlan(path: "/etc/kernel/cmdline", old: current, new: updated + "\n", changes: changes,
                               regenerate: "kernel-install add $(uname -r) /lib/modules/$(uname -r)/vmlinuz  # or: bootctl update",
                               notes: ["systemd-boot reads /etc/kernel/cmdline when kernel-install installs a kernel"])
        }
        guard let grub = facts.grubDefault else {
            return CmdlinePlan(changes: [], regenerate: nil,
                               notes: ["no /etc/default/grub, /etc/kernel/cmdline or kernelstub: add '\(joined)' to the boot loader's kernel command line by hand"])
        }
        let regenerate = regenerateCommand(facts, options: joined)
        let inUse = facts.grubDropIns.keys.contains { $0.hasSuffix(".cfg") && $0 != dropInName }
        if inUse || facts.grubDropIns[dropInName] != nil {
            // Drop-ins are sourced after /etc/default/grub: ours appends, and /etc/default/grub stays as it is.
            let present = Set(GrubDefault.configuredOptions(in: grub))
            let missing = options.filter { !present.contains($0) }
            let path = "/etc/default/grub.d/" + dropInName
            let old = facts.grubDropIns[dropInName]
            let new: String? = missing.isEmpty ? nil : GrubDefault.dropIn(missing)
            return CmdlinePlan(path: path, old: old, new: new ?? old, changes: missing.isEmpty ? [] : ["\(path): add " + missing.joined(separator: " ")],
                               regenerate: regenerate, notes: ["/etc/default/grub.d is in use here: vfioctl writes a drop-in there"])
        }
        let edit = GrubDefault.ensure(options, in: grub)
        return CmdlinePlan(path: "/etc/default/grub", old: grub, new: edit.text, changes: edit.changes, regenerate: regenerate, notes: [])
    }

    /// update-grub (Debian, Ubuntu), grubby (BLS: RHEL 8+, Fedora), or grub2-mkconfig with the
    /// file this system boots from.
    static func regenerateCommand(_ facts: BootFacts, options: String) -> String {
        if facts.tools.contains("update-grub") { return "update-grub" }
        if facts.blsEntries && facts.tools.contains("grubby") {
            return "grubby --update-kernel=ALL --args=\"\(options)\"  # BLS entries keep their own options"
        }
        let tool = facts.tools.contains("grub2-mkconfig") ? "grub2-mkconfig" : "grub-mkconfig"
        let efiConfig = facts.grubConfigs.first { $0.hasPrefix("/boot/efi/EFI/") }
        let output = facts.efi && efiConfig != nil ? efiConfig! : (facts.grubConfigs.first ?? (tool == "grub2-mkconfig" ? "/boot/grub2/grub.cfg" : "/boot/grub/grub.cfg"))
        return "\(tool) -o \(output)"
    }
}
