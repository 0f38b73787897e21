import Glibc
import VFIOCore

extension FactsReader {
    /// A configuration file vfioctl may edit, as bytes (nil when absent): read through
    /// `SafeFiles` (never through a link out of the root; too large is an error, not a cut).
    func config(_ relative: String) throws(VFIOError) -> [UInt8]? { try SafeFiles.read(relative, root: root) }

    func configText(_ relative: String) throws(VFIOError) -> String? { try config(relative).map { String(decoding: $0, as: UTF8.self) } }

    /// The files of a drop-in directory (name → text); subdirectories are not files.
    func dropIns(_ relative: String) throws(VFIOError) -> [String: String] {
        var files: [String: String] = [:]
        for name in root.entries(relative) ?? [] {
            if let info = root.status(relative + "/" + name), info.st_mode & S_IFMT == S_IFDIR { continue }
            files[name] = try configText(relative + "/" + name) ?? ""
        }
        return files
    }

    /// How the system under the root boots: GRUB's defaults and drop-ins, /etc/kernel/cmdline,
    /// BLS entries, UEFI, the boot tools present, the distribution.
    public func bootFacts() throws(VFIOError) -> BootFacts {
        var facts = BootFacts()
        facts.grubDefaultBytes = try config("etc/default/grub")
        facts.grubDropIns = try dropIns("etc/default/grub.d").filter { $0.key.hasSuffix(".cfg") }
        for tool in ["update-grub", "grub2-mkconfig", "grub-mkconfig", "grubby", "kernelstub", "bootctl",
                     "update-initramfs", "dracut", "mkinitcpio"] {
            if ["usr/sbin/", "usr/bin/", "sbin/", "bin/"].contains(where: { root.exists($0 + tool) }) { facts.tools.insert(tool) }
        }
        facts.kernelCmdlineBytes = try config("etc/kernel/cmdline")
        facts.blsEntries = !(root.entries("boot/loader/entries") ?? []).isEmpty
        facts.efi = root.exists("sys/firmware/efi")
        var configs = ["/boot/grub/grub.cfg", "/boot/grub2/grub.cfg"].filter { root.exists(String($0.dropFirst())) }
        for vendor in (root.entries("boot/efi/EFI") ?? []).sorted() where root.exists("boot/efi/EFI/\(vendor)/grub.cfg") {
            configs.append("/boot/efi/EFI/\(vendor)/grub.cfg")
        }
        facts.grubConfigs = configs
        facts.osID = text("etc/os-release").flatMap(ProcFiles.osReleaseID)
        try readInitramfs(into: &facts)
        return facts
    }

    /// The initramfs generators' files, the installed kernels and what they build as modules.
    func readInitramfs(into facts: inout BootFacts) throws(VFIOError) {
        facts.initramfsToolsModulesBytes = try config("etc/initramfs-tools/modules")
        facts.dracutConf = try configText("etc/dracut.conf")
        facts.dracutDropIns = try dropIns("etc/dracut.conf.d")
        facts.mkinitcpioConfBytes = try config("etc/mkinitcpio.conf")
        facts.mkinitcpioDropIns = try dropIns("etc/mkinitcpio.conf.d")
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
    public func modprobeFiles(_ names: [String]) throws(VFIOError) -> [String: String] {
        var files: [String: String] = [:]
        for name in names { if let text = try configText("etc/modprobe.d/" + name) { files[name] = text } }
        return files
    }
}
