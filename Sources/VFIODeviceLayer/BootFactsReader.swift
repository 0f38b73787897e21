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
        for tool in ["update-grub", "grub2-mkconfig", "grub-mkconfig", "grubby", "kernelstub", "bootctl",
                     "update-initramfs", "dracut", "mkinitcpio"] {
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
        readInitramfs(into: &facts)
        return facts
    }

    /// The initramfs generators' files, the installed kernels and what they build as modules.
    func readInitramfs(into facts: inout BootFacts) {
        facts.initramfsToolsModules = text("etc/initramfs-tools/modules")
        facts.dracutConf = text("etc/dracut.conf")
        for name in FileRead.entries(root.path("etc/dracut.conf.d")) ?? [] {
            facts.dracutDropIns[name] = text("etc/dracut.conf.d/" + name) ?? ""
        }
        facts.mkinitcpioConf = text("etc/mkinitcpio.conf")
        for name in FileRead.entries(root.path("etc/mkinitcpio.conf.d")) ?? [] {
            facts.mkinitcpioDropIns[name] = text("etc/mkinitcpio.conf.d/" + name) ?? ""
        }
        facts.kernelReleases = (FileRead.entries(root.path("lib/modules")) ?? []).sorted()
        facts.runningRelease = text("proc/sys/kernel/osrelease").map { String($0.filter { $0 != "\n" }) }
        facts.kernelsWithVirqfd = facts.kernelReleases.filter { release in
            ["", ".xz", ".zst", ".gz"].contains { FileRead.exists(root.path("lib/modules/\(release)/kernel/drivers/vfio/vfio_virqfd.ko" + $0)) }
        }
        let images = facts.runningRelease.map { ["boot/initrd.img-\($0)", "boot/initramfs-\($0).img"] } ?? []
        if let image = (images + ["boot/initramfs-linux.img"]).first(where: { FileRead.exists(root.path($0)) }) {
            facts.initramfsImage = "/" + image
            facts.initramfsBuilt = FileRead.modified(root.path(image))
        }
        var inputs = ["etc/initramfs-tools/modules", "etc/mkinitcpio.conf", "etc/dracut.conf"]
        inputs += facts.dracutDropIns.keys.map { "etc/dracut.conf.d/" + $0 }
        inputs += (FileRead.entries(root.path("etc/modprobe.d")) ?? []).map { "etc/modprobe.d/" + $0 }
        for input in inputs { if let time = FileRead.modified(root.path(input)) { facts.initramfsInputs["/" + input] = time } }
        if let release = facts.runningRelease, let builtin = text("lib/modules/\(release)/modules.builtin", limit: 4 << 20) {
            facts.vfioPCIBuiltin = builtin.split(separator: "\n").contains { $0.hasSuffix("/vfio-pci.ko") }
        }
    }

    /// The modprobe.d files vfioctl writes, as they are now (name → text).
    public func modprobeFiles(_ names: [String]) -> [String: String] {
        var files: [String: String] = [:]
        for name in names { if let text = text("etc/modprobe.d/" + name) { files[name] = text } }
        return files
    }
}
