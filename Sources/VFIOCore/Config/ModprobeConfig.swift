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

    /// /etc/modprobe.d/vfio.conf: vfio-pci claims these IDs, and loads before these drivers.
    public static func vfio(ids: [String], softdeps: [String], allowUnsafeInterrupts: Bool) -> String {
        var out = header
        if !ids.isEmpty { out += "options vfio-pci ids=" + ids.joined(separator: ",") + "\n" }
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
