import Glibc
import VFIOCore

extension FactsReader {
    /// How the system under the root boots: GRUB's defaults and drop-ins, /etc/kernel/cmdline,
    /// BLS entries, UEFI, the boot tools present, the distribution.
    public func bootFacts() -> BootFacts {
        var facts = BootFacts()
        facts.grubDefault = text("etc/default/grub")
        for name in FileRead.entries(root.path("etc/default/grub.d")) ?? [] where name.hasSuffix(".cfg") {
            facts.grubDropIns[name] = text("etc/default/grub.d/" + name) ?? ""
        }
        for tool in ["update-grub", "grub2-mkconfig", "grub-mkconfig", "grubby", "kernelstub", "bootctl"] {
            if ["usr/sbin/", "usr/bin/", "sbin/", "bin/"].contains(where: { FileRead.exists(root.path($0 + tool)) }) { facts.tools.insert(tool) }
        }
        facts.kernelCmdline = text("etc/kernel/cmdline")
        facts.blsEntries = !(FileRead.entries(root.path("boot/loader/entries")) ?? []).isEmpty
        facts.efi = FileRead.exists(root.path("sys/firmware/efi"))
        var configs = ["/boot/grub/grub.cfg", "/boot/grub2/grub.cfg"].filter { FileRead.exists(root.path(String($0.dropFirst()))) }
        for vendor in (FileRead.entries(root.path("boot/efi/EFI")) ?? []).sorted() where FileRead.exists(root.path("boot/efi/EFI/\(vendor)/grub.cfg")) {
            configs.append("/boot/efi/EFI/\(vendor)/grub.cfg")
        }
        facts.grubConfigs = configs
        facts.osID = text("etc/os-release").flatMap(ProcFiles.osReleaseID)
        return facts
    }

    /// The modprobe.d files vfioctl writes, as they are now (name → text).
    public func modprobeFiles(_ names: [String]) -> [String: String] {
        var files: [String: String] = [:]
        for name in names { if let text = text("etc/modprobe.d/" + name) { files[name] = text } }
        return files
    }
}
