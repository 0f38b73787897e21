import Glibc
import VFIOCore

extension FactsReader {
    /// How the system under the root boots: GRUB's defaults and drop-ins, /etc/kernel/cmdline,
    /// BLS entries, UEFI, the boot tools present, the distribution.
    public func bootFacts() -> BootFacts {
        var facts = BootFacts()
        facts.grubDefault = text("etc/default/grub")
        for name in root.entries("etc/default/grub.d") ?? [] where name.hasSuffix(".cfg") {
            facts.grubDropIns[name] = text("etc/default/grub.d/" + name) ?? ""
        }
        for tool in ["update-grub", "grub2-mkconfig", "grub-mkconfig", "grubby", "kernelstub", "bootctl",
                     "update-initramfs", "dracut", "mkinitcpio"] {
            if ["usr/sbin/", "usr/bin/", "sbin/", "bin/"].contains(where: { root.exists($0 + tool) }) { facts.tools.insert(tool) }
        }
        facts.kernelCmdline = text("etc/kernel/cmdline")
        facts.blsEntries = !(root.entries("boot/loader/entries") ?? []).isEmpty
        facts.efi = root.exists("sys/firmware/efi")
        var configs = ["/boot/grub/grub.cfg", "/boot/grub2/grub.cfg"].filter { root.exists(String($0.dropFirst())) }
        for vendor in (root.entries("boot/efi/EFI") ?? []).sorted() where root.exists("boot/efi/EFI/\(vendor)/grub.cfg") {
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
        for name in root.entries("etc/dracut.conf.d") ?? [] {
            facts.dracutDropIns[name] = text("etc/dracut.conf.d/" + name) ?? ""
        }
        facts.mkinitcpioConf = text("etc/mkinitcpio.conf")
        for name in root.entries("etc/mkinitcpio.conf.d") ?? [] {
            facts.mkinitcpioDropIns[name] = text("etc/mkinitcpio.conf.d/" + name) ?? ""
        }
        facts.kernelReleases = (root.entries("lib/modules") ?? []).sorted()
        facts.runningRelease = text("proc/sys/kernel/osrelease").map { String($0.filter { $0 != "\n" }) }
        facts.kernelsWithVirqfd = facts.kernelReleases.filter { release in
            ["", ".xz", ".zst", ".gz"].contains { root.exists("lib/modules/\(release)/kernel/drivers/vfio/vfio_virqfd.ko" + $0) }
        }
        let images = facts.runningRelease.map { ["boot/initrd.img-\($0)", "boot/initramfs-\($0).img"] } ?? []
        if let image = (images + ["boot/initramfs-linux.img"]).first(where: { root.exists($0) }) {
            facts.initramfsImage = "/" + image
            facts.initramfsBuilt = root.modified(image)
        }
        var inputs = ["etc/initramfs-tools/modules", "etc/mkinitcpio.conf", "etc/dracut.conf"]
        inputs += facts.dracutDropIns.keys.map { "etc/dracut.conf.d/" + $0 }
        inputs += (root.entries("etc/modprobe.d") ?? []).map { "etc/modprobe.d/" + $0 }
        for input in inputs { if let time = root.modified(input) { facts.initramfsInputs["/" + input] = time } }
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
