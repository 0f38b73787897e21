/// How this system boots, as far as the kernel command line goes: read by the device layer.
public struct BootFacts: Sendable, Equatable {
    /// /etc/default/grub's bytes, when it exists (edited byte for byte).
    public var grubDefaultBytes: [UInt8]?
    /// Files in /etc/default/grub.d (name → text); the directory is "in use" when it holds *.cfg.
    public var grubDropIns: [String: String] = [:]
    /// Programs present: update-grub, grub2-mkconfig, grub-mkconfig, grubby, kernelstub, bootctl.
    public var tools: Set<String> = []
    /// /etc/kernel/cmdline (systemd-boot / kernel-install), when it exists.
    public var kernelCmdlineBytes: [UInt8]?
    public var kernelCmdline: String? {
        get { kernelCmdlineBytes.map { String(decoding: $0, as: UTF8.self) } }
        set { kernelCmdlineBytes = newValue.map { Array($0.utf8) } }
    }
    /// BLS entries in /boot/loader/entries (RHEL 8+, Fedora: grubby manages them).
    public var blsEntries = false
    /// Booted through UEFI (/sys/firmware/efi).
    public var efi = false
    /// GRUB's generated config files that exist (/boot/grub/grub.cfg, /boot/grub2/grub.cfg, /boot/efi/EFI/X/grub.cfg).
    public var grubConfigs: [String] = []
    /// ID from /etc/os-release.
    public var osID: String?

    // The initramfs generator's configuration (vfioctl config initramfs).
    /// /etc/initramfs-tools/modules (initramfs-tools: Debian, Ubuntu).
    public var initramfsToolsModulesBytes: [UInt8]?
    public var initramfsToolsModules: String? {
        get { initramfsToolsModulesBytes.map { String(decoding: $0, as: UTF8.self) } }
        set { initramfsToolsModulesBytes = newValue.map { Array($0.utf8) } }
    }
    /// /etc/dracut.conf and every file in /etc/dracut.conf.d (name → text; dracut reads only *.conf).
    public var dracutConf: String?
    public var dracutDropIns: [String: String] = [:]
    /// /etc/mkinitcpio.conf and /etc/mkinitcpio.conf.d/* (Arch).
    public var mkinitcpioConfBytes: [UInt8]?
    public var mkinitcpioConf: String? {
        get { mkinitcpioConfBytes.map { String(decoding: $0, as: UTF8.self) } }
        set { mkinitcpioConfBytes = newValue.map { Array($0.utf8) } }
    }
    public var mkinitcpioDropIns: [String: String] = [:]
    /// Kernel releases installed (/lib/modules) and the running one.
    public var kernelReleases: [String] = []
    public var runningRelease: String?
    /// Installed kernels that still have a separate vfio_virqfd module (before 6.2).
    public var kernelsWithVirqfd: [String] = []
    /// vfio-pci is built into the running kernel (modules.builtin).
    public var vfioPCIBuiltin = false
    /// The running kernel's initramfs image (/boot/initrd.img-R, /boot/initramfs-R.img, Arch's
    /// /boot/initramfs-linux.img) and when it was built; and when each file that goes into an
    /// initramfs was last changed (path → seconds since the epoch).
    public var initramfsImage: String?
    public var initramfsBuilt: Double?
    public var initramfsInputs: [String: Double] = [:]

    public init() {}
}

/// What a `vfioctl config` command will do to one file on this system. Pure.
public struct ConfigEdit: Sendable, Equatable {
    /// The file to write (nil: nothing vfioctl can write here), its current and new bytes
    /// (what is written), and the same as text (for diffs; bytes that are not UTF-8 show as U+FFFD).
    public var path: String?
    public var oldBytes: [UInt8]?
    public var newBytes: [UInt8]?
    public var old: String? {
        get { oldBytes.map { String(decoding: $0, as: UTF8.self) } }
        set { oldBytes = newValue.map { Array($0.utf8) } }
    }
    public var new: String? {
        get { newBytes.map { String(decoding: $0, as: UTF8.self) } }
        set { newBytes = newValue.map { Array($0.utf8) } }
    }
    /// What changes, in words.
    public var changes: [String]
    /// The command that makes the boot loader or initramfs pick the file up.
    public var regenerate: String?
    public var notes: [String]
    /// Said on stderr: something on this system that defeats the configuration.
    public var warnings: [String] = []

    public init(path: String? = nil, old: String? = nil, new: String? = nil, changes: [String], regenerate: String?, notes: [String],
                warnings: [String] = []) {
        self.init(path: path, oldBytes: old.map { Array($0.utf8) }, newBytes: new.map { Array($0.utf8) }, changes: changes,
                  regenerate: regenerate, notes: notes, warnings: warnings)
    }

    public init(path: String?, oldBytes: [UInt8]?, newBytes: [UInt8]?, changes: [String], regenerate: String?, notes: [String],
                warnings: [String] = []) {
        (self.path, self.oldBytes, self.newBytes, self.changes, self.regenerate, self.notes, self.warnings)
            = (path, oldBytes, newBytes, changes, regenerate, notes, warnings)
    }

    public var changed: Bool { path != nil && oldBytes != newBytes }
}

public enum BootConfig {
    public static let dropInName = "60-vfioctl.cfg"

    /// Throws when /etc/default/grub cannot be edited safely (GrubDefault.ensure says why).
    public static func cmdline(_ options: [String], _ facts: BootFacts) throws(VFIOError) -> ConfigEdit {
        let joined = options.joined(separator: " ")
        // kernelstub (Pop!_OS) and systemd-boot keep the command line elsewhere; say what to run.
        if facts.tools.contains("kernelstub") {
            return ConfigEdit(changes: [], regenerate: "kernelstub -a \"\(joined)\"",
                               notes: ["this system boots through kernelstub: it owns the command line, run the command below"])
        }
        if facts.grubDefaultBytes == nil, let current = facts.kernelCmdlineBytes {
            var changes: [String] = []
            let updated = GrubDefault.ensure(options, inCommandLine: current, label: nil, changes: &changes)
            return ConfigEdit(path: "/etc/kernel/cmdline", oldBytes: current, newBytes: updated, changes: changes,
                               regenerate: "kernel-install add $(uname -r) /lib/modules/$(uname -r)/vmlinuz  # or: bootctl update",
                               notes: ["systemd-boot reads /etc/kernel/cmdline when kernel-install installs a kernel"])
        }
        guard let grub = facts.grubDefaultBytes else {
            return ConfigEdit(changes: [], regenerate: nil,
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
            return ConfigEdit(path: path, old: old, new: new ?? old, changes: missing.isEmpty ? [] : ["\(path): add " + missing.joined(separator: " ")],
                               regenerate: regenerate, notes: ["/etc/default/grub.d is in use here: vfioctl writes a drop-in there"])
        }
        let edit = try GrubDefault.ensure(options, in: grub)
        return ConfigEdit(path: GrubDefault.path, oldBytes: grub, newBytes: edit.bytes, changes: edit.changes, regenerate: regenerate, notes: [])
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
