/// The modprobe.d files passthrough and nested virtualization need. Pure renderers.
public enum ModprobeConfig {
    /// "10de:1b80" as modprobe and vfio-pci's ids= take it.
    public static func parseID(_ text: String) throws(VFIOError) -> String {
        let parts = text.lowercased().split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ $0.count == 4 && UInt16($0, radix: 16) != nil }) else {
            throw .usage("'\(text.printable)' is not a vendor:device ID", hint: "write VVVV:DDDD in hex, e.g. 10de:1b80 ('vfioctl list' shows them)")
        }
        return parts.joined(separator: ":")
    }

    /// A kernel module or driver name (what softdep takes).
    public static func validateModule(_ name: String) throws(VFIOError) {
        guard !name.isEmpty, name.count <= 64, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
            throw .usage("'\(name.printable)' is not a kernel module name", hint: "e.g. nouveau, amdgpu, snd_hda_intel (lsmod lists them)")
        }
    }

    public static let header = "# Written by vfioctl (vfioctl config modprobe --write). Takes effect when the modules load next:\n"
        + "# reboot (if the initramfs loads them, rebuild it first: update-initramfs -u, or dracut -f).\n"

    /// One of vfio-pci's own boolean options (drivers/vfio/pci/vfio_pci.c module_param), off by default.
    public struct VFIOPCIOption: Sendable, Equatable {
        /// The parameter ("disable_idle_d3"), and the command-line flag that sets it.
        public var name: String
        public var flag: String
        /// What it is for, and what it costs.
        public var about: String
        /// Mode 0644: it can be changed while vfio-pci is loaded (/sys/module/vfio_pci/parameters);
        /// otherwise (0444) only when the module loads.
        public var writableAtRuntime: Bool
    }

    /// vfio-pci's options, as vfio_pci.c declares them.
    public static let vfioPCIOptions: [VFIOPCIOption] = [
        VFIOPCIOption(name: "disable_vga", flag: "--disable-vga",
                      about: "keeps vfio-pci from routing legacy VGA I/O and memory to guests (the VGA arbiter then lets the host's "
                          + "own GPU keep them): for UEFI guests (OVMF) that need no VGA, when the host's console GPU shares the legacy "
                          + "ranges; exists only with CONFIG_VFIO_PCI_VGA (Debian has it)",
                      writableAtRuntime: false),
        VFIOPCIOption(name: "disable_idle_d3", flag: "--disable-idle-d3",
                      about: "keeps idle devices on vfio-pci out of the D3 low-power state: for devices that do not come back "
                          + "from D3 (a guest that fails to start or sees a dead device after the first run); costs their idle power",
                      writableAtRuntime: true),
        VFIOPCIOption(name: "nointxmask", flag: "--nointxmask",
                      about: "turns off PCI 2.3 INTx masking: for a device whose INTx masking is broken (interrupt storms, "
                          + "'nobody cared'); its INTx line then must not be shared with another device; the kernel asks for "
                          + "lspci -vvvxxx of such devices at linux-pci@vger.kernel.org so a quirk can fix them",
                      writableAtRuntime: true),
        VFIOPCIOption(name: "enable_sriov", flag: "--enable-sriov",
                      about: "lets a PF bound to vfio-pci create VFs (sriov_numvfs) for a userspace PF driver (DPDK): its VFs "
                          + "then open only with the VF token (a UUID) the PF's user set, given to QEMU as "
                          + "-device vfio-pci,host=VF,vf-token=UUID; without a PF driver that supports it VFs may not work",
                      writableAtRuntime: true),
        VFIOPCIOption(name: "disable_denylist", flag: "--disable-denylist",
                      about: "lets vfio-pci bind devices it refuses for known errata (Intel QAT C3xxx, C62x, DH895xCC and their "
                          + "VFs): those errata may be exploitable by an untrusted guest",
                      writableAtRuntime: false),
    ]

    public static func vfioPCIOption(named name: String) -> VFIOPCIOption? { vfioPCIOptions.first { $0.name == name } }

    /// /etc/modprobe.d/vfio.conf: vfio-pci claims these IDs, and loads before these drivers;
    /// `options`: vfio-pci's own options to turn on, each under a comment saying what it is for.
    public static func vfio(ids: [String], softdeps: [String], allowUnsafeInterrupts: Bool, options: [VFIOPCIOption] = []) -> String {
        var out = header
        if !ids.isEmpty { out += "options vfio-pci ids=" + ids.joined(separator: ",") + "\n" }
        for option in vfioPCIOptions where options.contains(option) {
            out += "# \(option.name): \(option.about).\n"
            out += "options vfio-pci \(option.name)=1\n"
        }
        for driver in softdeps { out += "softdep \(driver) pre: vfio-pci\n" }
        if allowUnsafeInterrupts {
            out += "# Without interrupt remapping a device can inject interrupts into the host: only for trusted guests.\n"
            out += "options vfio_iommu_type1 allow_unsafe_interrupts=1\n"
        }
        return out
    }

    /// /etc/modprobe.d/kvm-nested.conf for the CPU vendor.
    public static func nested(vendor: String?) -> String {
        header + (vendor == "AuthenticAMD" || vendor == "HygonGenuine"
                  ? "options kvm_amd nested=1\n" : "options kvm_intel nested=1 enable_shadow_vmcs=1\n")
    }
}
