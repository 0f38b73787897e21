import Testing
import VFIOTestSupport
import VFIOCore

/// `vfioctl config initramfs`'s edits, per generator, on the files real systems have.
@Suite("config initramfs: edits per generator")
struct InitramfsConfigTests {
    static func facts(_ tools: Set<String>, virqfd: Bool = false, _ change: (inout BootFacts) -> Void = { _ in }) -> BootFacts {
        var facts = BootFacts()
        facts.tools = tools
        facts.kernelReleases = ["6.1.0-56-amd64", "6.12.9-amd64"]
        facts.kernelsWithVirqfd = virqfd ? ["6.1.0-56-amd64"] : []
        change(&facts)
        return facts
    }

    static let debianModules = DebianFiles.initramfsToolsModules

    @Test("initramfs-tools: the modules appended after the comments, once; vfio_virqfd while a kernel before 6.2 has it")
    func initramfsTools() {
        let edit = InitramfsConfig.plan(Self.facts(["update-initramfs"], virqfd: true) { $0.initramfsToolsModules = Self.debianModules })
        #expect(edit.path == "/etc/initramfs-tools/modules" && edit.regenerate == "update-initramfs -u -k all")
        #expect(edit.new == Self.debianModules + "# vfio first, so vfio-pci can claim devices before their host drivers (vfioctl config initramfs)\n"
                + "vfio_pci\nvfio\nvfio_iommu_type1\nvfio_virqfd\n")
        let again = InitramfsConfig.plan(Self.facts(["update-initramfs"], virqfd: true) { $0.initramfsToolsModules = edit.new })
        #expect(!again.changed && again.new == edit.new)
    }

    @Test("initramfs-tools: listed ones (vfio-pci with arguments, dashes) are not repeated; a commented one does not count")
    func initramfsToolsPartial() {
        let text = "vfio-pci ids=10de:1b80\n#vfio\nvfio_iommu_type1"
        let edit = InitramfsConfig.plan(Self.facts(["update-initramfs"]) { $0.initramfsToolsModules = text })
        #expect(edit.new == text + "\n# vfio first, so vfio-pci can claim devices before their host drivers (vfioctl config initramfs)\nvfio\n")
        #expect(edit.changes == ["/etc/initramfs-tools/modules: add vfio"])
    }

    @Test("dracut: force_drivers in a .conf drop-in; a file without .conf is named as ignored; already forced elsewhere: nothing")
    func dracut() {
        let edit = InitramfsConfig.plan(Self.facts(["dracut"]) { $0.dracutDropIns = ["vfio": "add_drivers+=\" vfio-pci \"\n"] })
        #expect(edit.path == "/etc/dracut.conf.d/10-vfioctl.conf" && edit.regenerate == "dracut -f --regenerate-all")
        #expect(edit.new?.hasSuffix("force_drivers+=\" vfio_pci vfio vfio_iommu_type1 \"\n") == true)
        #expect(edit.warnings == ["/etc/dracut.conf.d/vfio mentions vfio but dracut ignores it: only files ending in .conf are read"])
        let elsewhere = InitramfsConfig.plan(Self.facts(["dracut"]) {
            $0.dracutDropIns = ["20-gpu.conf": "force_drivers+=\"vfio vfio_iommu_type1 vfio-pci\" # early\n"]
        })
        #expect(!elsewhere.changed && elsewhere.notes.contains { $0.contains("already forces") })
        let ours = InitramfsConfig.plan(Self.facts(["dracut"]) { $0.dracutDropIns = [InitramfsConfig.dracutDropIn: edit.new ?? ""] })
        #expect(!ours.changed)
    }

    @Test("mkinitcpio: MODULES array and old string form get vfio first, others kept; no line: one appended; modconf missing noted",
          arguments: [
            ("MODULES=()\nHOOKS=(base udev modconf)\n", "MODULES=(vfio_pci vfio vfio_iommu_type1)\nHOOKS=(base udev modconf)\n"),
            ("MODULES=(amdgpu)  # gpu\n", "MODULES=(vfio_pci vfio vfio_iommu_type1 amdgpu)  # gpu\n"),
            ("MODULES=\"vfio nvme\"\n", "MODULES=\"vfio_pci vfio_iommu_type1 vfio nvme\"\n"),
            ("# nothing\n", "# nothing\nMODULES=(vfio_pci vfio vfio_iommu_type1)\n"),
          ])
    func mkinitcpio(old: String, new: String) {
        let edit = InitramfsConfig.plan(Self.facts(["mkinitcpio"]) { $0.mkinitcpioConf = old })
        #expect(edit.new == new && edit.regenerate == "mkinitcpio -P")
        #expect(InitramfsConfig.plan(Self.facts(["mkinitcpio"]) { $0.mkinitcpioConf = new }).changed == false)
    }

    @Test("mkinitcpio: HOOKS without modconf, a drop-in overriding MODULES, an array over several lines")
    func mkinitcpioCaveats() {
        let edit = InitramfsConfig.plan(Self.facts(["mkinitcpio"]) {
            $0.mkinitcpioConf = "MODULES=()\nHOOKS=(base udev block)\n"
            $0.mkinitcpioDropIns = ["gpu.conf": "MODULES=(nvidia)\n"]
        })
        #expect(edit.notes.contains { $0.hasPrefix("HOOKS has no modconf") })
        #expect(edit.warnings == ["/etc/mkinitcpio.conf.d/gpu.conf sets MODULES after /etc/mkinitcpio.conf: add vfio_pci vfio vfio_iommu_type1 there too"])
        let multiline = InitramfsConfig.plan(Self.facts(["mkinitcpio"]) { $0.mkinitcpioConf = "MODULES=(\n  amdgpu\n)\n" })
        #expect(multiline.path == nil && multiline.notes.contains { $0.contains("spans several lines") })
    }

    @Test("no generator: nothing written, the reason said; built-in vfio-pci is noted; the configured generator wins over a stray tool")
    func detection() {
        let none = InitramfsConfig.plan(Self.facts([]))
        #expect(none.path == nil && none.regenerate == nil && none.notes.first?.hasPrefix("no initramfs generator here") == true)
        let builtin = InitramfsConfig.plan(Self.facts(["dracut"]) { $0.vfioPCIBuiltin = true; $0.runningRelease = "6.11.4-301.fc41.x86_64" })
        #expect(builtin.notes.first?.contains("built into kernel 6.11.4-301.fc41.x86_64") == true)
        let both = InitramfsConfig.plan(Self.facts(["dracut", "update-initramfs"]) { $0.initramfsToolsModules = "" })
        #expect(both.path == "/etc/initramfs-tools/modules" && both.notes.contains { $0.contains("several initramfs generators") })
    }
}
