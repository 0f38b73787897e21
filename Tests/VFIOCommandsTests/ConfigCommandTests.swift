import Foundation
import Testing
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// `vfioctl config` on fake roots laid out as Debian, Ubuntu (grub.d), RHEL (BLS) and
/// systemd-boot hosts: the diff it shows, what --write leaves, and that a second run changes nothing.
@Suite("config: command line and modprobe.d")
struct ConfigCommandTests {
    static func host(_ files: [String: String], vendor: String = "GenuineIntel") -> FakeSysfs {
        var fake = FakeSysfs()
        fake.cpuVendor = vendor
        fake.withIOMMU()
        fake.build()
        for (path, text) in files { fake.write(path, text, mode: path.hasPrefix("usr/") ? 0o755 : 0o644) }
        return fake
    }

    func run(_ fake: FakeSysfs, _ arguments: [String]) -> (status: Int32, out: String, err: String) {
        Vfioctl.capture(["config"] + arguments + ["--root", fake.root])
    }

    func read(_ fake: FakeSysfs, _ path: String) -> String? { try? String(contentsOfFile: fake.root + path, encoding: .utf8) }

    static let debianGrub = "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"\"\n"

    @Test("Debian: the diff without --write; --write edits /etc/default/grub, keeps a backup, says update-grub; again: nothing")
    func debian() throws {
        let fake = Self.host(["etc/default/grub": Self.debianGrub, "usr/sbin/update-grub": "#!/bin/sh\n"])
        defer { fake.remove() }
        let shown = run(fake, ["cmdline"])
        #expect(shown.status == 0 && shown.out == """
            --- /etc/default/grub
            +++ /etc/default/grub
            @@ -1,3 +1,3 @@
             GRUB_DEFAULT=0
             GRUB_CMDLINE_LINUX_DEFAULT="quiet"
            -GRUB_CMDLINE_LINUX=""
            +GRUB_CMDLINE_LINUX="intel_iommu=on iommu=pt"
            (not written: add --write)
            then: update-grub, and reboot

            """, "\(shown.out)")
        #expect(read(fake, "/etc/default/grub") == Self.debianGrub)
        let written = run(fake, ["cmdline", "--write"])
        #expect(written.status == 0 && written.out.contains("wrote /etc/default/grub (the old one is /etc/default/grub.vfioctl.bak)"))
        #expect(read(fake, "/etc/default/grub")?.contains("GRUB_CMDLINE_LINUX=\"intel_iommu=on iommu=pt\"") == true)
        #expect(read(fake, "/etc/default/grub.vfioctl.bak") == Self.debianGrub)
        let again = run(fake, ["cmdline", "--write"])
        #expect(again.out.contains("already has intel_iommu=on iommu=pt") && !again.out.contains("update-grub"))
    }

    @Test("Ubuntu with grub.d in use: a drop-in; AMD gets iommu=pt only")
    func ubuntuDropIn() throws {
        let fake = Self.host(["etc/default/grub": Self.debianGrub, "etc/default/grub.d/50-cloudimg-settings.cfg": "GRUB_TIMEOUT=0\n",
                              "usr/sbin/update-grub": "#!/bin/sh\n"], vendor: "AuthenticAMD")
        defer { fake.remove() }
        let written = run(fake, ["cmdline", "--write"])
        #expect(written.status == 0, "\(written.err)")
        #expect(read(fake, "/etc/default/grub.d/60-vfioctl.cfg")?.contains("GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX iommu=pt\"") == true)
        #expect(read(fake, "/etc/default/grub") == Self.debianGrub)
        #expect(!(read(fake, "/etc/default/grub.d/60-vfioctl.cfg") ?? "").contains("amd_iommu"))
        #expect(run(fake, ["cmdline"]).out.contains("already has iommu=pt"))
    }

    @Test("RHEL with BLS: grubby for the entries; systemd-boot: /etc/kernel/cmdline; kernelstub: its command")
    func otherBootLoaders() throws {
        let rhel = Self.host(["etc/default/grub": "GRUB_CMDLINE_LINUX=\"rhgb quiet\"\nGRUB_ENABLE_BLSCFG=true\n",
                              "usr/sbin/grub2-mkconfig": "", "usr/sbin/grubby": "", "boot/loader/entries/a.conf": "title x\n"])
        defer { rhel.remove() }
        #expect(run(rhel, ["cmdline"]).out.contains("then: grubby --update-kernel=ALL --args=\"intel_iommu=on iommu=pt\""))
        let boot = Self.host(["etc/kernel/cmdline": "root=UUID=1 rw quiet\n", "usr/bin/bootctl": ""])
        defer { boot.remove() }
        #expect(run(boot, ["cmdline", "--write"]).status == 0)
        #expect(read(boot, "/etc/kernel/cmdline") == "root=UUID=1 rw quiet intel_iommu=on iommu=pt\n")
        let pop = Self.host(["usr/bin/kernelstub": "", "etc/default/grub": Self.debianGrub])
        defer { pop.remove() }
        #expect(run(pop, ["cmdline"]).out.contains("kernelstub -a \"intel_iommu=on iommu=pt\""))
    }

    @Test("modprobe.d: what it writes is what the real modprobe reads (modprobe -C DIR --showconfig)")
    func modprobeShowconfig() throws {
        let fake = Self.host([:])
        defer { fake.remove() }
        let written = run(fake, ["modprobe", "--vfio-ids", "10de:1B80,10de:10f0", "--softdep", "nouveau", "--softdep", "snd_hda_intel",
                                 "--nested", "--allow-unsafe-interrupts", "--write"])
        #expect(written.status == 0 && written.err.contains("warning: allow_unsafe_interrupts"), "\(written.err)")
        let shown = try TestProcess.run("modprobe", ["-C", fake.root + "/etc/modprobe.d", "--showconfig"], timeout: 60)
        #expect(shown.status == 0, "\(shown.err)")
        for line in ["options vfio_pci ids=10de:1b80,10de:10f0", "softdep nouveau pre: vfio-pci", "softdep snd_hda_intel pre: vfio-pci",
                     "options kvm_intel nested=1 enable_shadow_vmcs=1", "options vfio_iommu_type1 allow_unsafe_interrupts=1"] {
            #expect(shown.out.contains(line), "\(line) not in modprobe's view:\n\(shown.out)")
        }
        let again = run(fake, ["modprobe", "--vfio-ids", "10de:1b80,10de:10f0", "--softdep", "nouveau", "--softdep", "snd_hda_intel",
                               "--nested", "--allow-unsafe-interrupts", "--write"])
        #expect(again.out.contains("/etc/modprobe.d/vfio.conf is already so") && again.out.contains("kvm-nested.conf is already so"))
    }


    @Test("initramfs: --write appends the vfio modules to /etc/initramfs-tools/modules, comments kept; vfio_virqfd while an installed kernel ships it")
    func initramfsTools() throws {
        // A fixed kernel under the root, not this machine's /lib/modules: the real mkinitramfs on
        // the booted kernel is the lab's (ActuatorBootTests, "config initramfs --write").
        let fake = Self.host(["usr/sbin/update-initramfs": "#!/bin/sh\n", "etc/initramfs-tools/modules": DebianFiles.initramfsToolsModules,
                              "lib/modules/6.1.0-99-amd64/kernel/drivers/vfio/vfio_virqfd.ko": ""])
        defer { fake.remove() }
        let shown = run(fake, ["initramfs"])
        #expect(shown.status == 0 && shown.out.contains("+vfio_pci\n+vfio\n+vfio_iommu_type1\n+vfio_virqfd\n")
                && shown.out.contains("then: update-initramfs -u -k all, and reboot"), "\(shown.out)\(shown.err)")
        #expect(read(fake, "/etc/initramfs-tools/modules") == DebianFiles.initramfsToolsModules)
        let written = run(fake, ["initramfs", "--write"])
        #expect(written.status == 0 && written.out.contains("wrote /etc/initramfs-tools/modules"), "\(written.err)")
        let after = read(fake, "/etc/initramfs-tools/modules") ?? ""
        #expect(after.hasPrefix(DebianFiles.initramfsToolsModules) && after.hasSuffix("\nvfio_pci\nvfio\nvfio_iommu_type1\nvfio_virqfd\n"), "\(after)")
        #expect(run(fake, ["initramfs", "--write"]).out.contains("/etc/initramfs-tools/modules already loads vfio_pci vfio vfio_iommu_type1 vfio_virqfd"))
        let newer = Self.host(["usr/sbin/update-initramfs": "#!/bin/sh\n", "etc/initramfs-tools/modules": DebianFiles.initramfsToolsModules,
                               "lib/modules/6.12.0-99-amd64/kernel/drivers/vfio/vfio.ko": ""])
        defer { newer.remove() }
        let noVirqfd = run(newer, ["initramfs"])
        #expect(noVirqfd.out.contains("+vfio_iommu_type1\n") && !noVirqfd.out.contains("vfio_virqfd"), "\(noVirqfd.out)")
    }

    @Test("initramfs: dracut gets a .conf drop-in; bad setups warn; no generator says so")
    func initramfsDracut() throws {
        let fake = Self.host(["usr/bin/dracut": "#!/bin/sh\n", "etc/dracut.conf.d/vfio": "force_drivers+=\"vfio-pci\"\n"])
        defer { fake.remove() }
        let written = run(fake, ["initramfs", "--write"])
        #expect(written.status == 0 && written.err.contains("warning: /etc/dracut.conf.d/vfio mentions vfio but dracut ignores it"), "\(written.err)")
        #expect(read(fake, "/etc/dracut.conf.d/10-vfioctl.conf")?.contains("force_drivers+=\" vfio_pci vfio vfio_iommu_type1 \"") == true)
        #expect(written.out.contains("then: dracut -f --regenerate-all, and reboot"))
        let bare = Self.host([:])
        defer { bare.remove() }
        let none = run(bare, ["initramfs", "--write"])
        #expect(none.status == 0 && none.out.contains("no initramfs generator here"))
    }

    @Test("status: an initramfs older than modprobe.d or its module list is 'rebuild', with the command; rebuilt: ok")
    func initramfsStatus() throws {
        let fake = Self.host(["usr/sbin/update-initramfs": "#!/bin/sh\n", "proc/sys/kernel/osrelease": "6.1.0-56-amd64\n",
                              "etc/initramfs-tools/modules": "vfio_pci\nvfio\nvfio_iommu_type1\n", "boot/initrd.img-6.1.0-56-amd64": "",
                              "etc/modprobe.d/vfio.conf": "options vfio-pci ids=10de:1b80\n"])
        defer { fake.remove() }
        func state() -> (String?, String) {
            let result = Vfioctl.capture(["config", "status", "--format", "json", "--root", fake.root])
            let document = (try? JSONSerialization.jsonObject(with: Data(result.out.utf8))) as? [String: Any] ?? [:]
            let row = (document["settings"] as? [[String: Any]] ?? []).first { $0["setting"] as? String == "initramfs" }
            return (row?["state"] as? String, row?["hint"] as? String ?? "")
        }
        let old = Date(timeIntervalSinceNow: -3600)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: fake.root + "/boot/initrd.img-6.1.0-56-amd64")
        let stale = state()
        #expect(stale.0 == "rebuild" && stale.1.contains("/etc/modprobe.d/vfio.conf") && stale.1.contains("update-initramfs -u -k all"), "\(stale)")
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: 60)], ofItemAtPath: fake.root + "/boot/initrd.img-6.1.0-56-amd64")
        #expect(state().0 == "ok")
        fake.write("etc/initramfs-tools/modules", "# nothing\n")
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: fake.root + "/etc/initramfs-tools/modules")
        #expect(state().0 == "missing")
    }

    @Test("status: configured but not running is 'reboot'; running nested matches the file")
    func status() throws {
        var fake = FakeSysfs()
        fake.commandLine = "BOOT_IMAGE=/vmlinuz root=/dev/sda1 iommu=pt"
        fake.moduleParameters["kvm_intel.nested"] = "Y"
        fake.moduleParameters["kvm_intel.enable_shadow_vmcs"] = "N"
        fake.build()
        defer { fake.remove() }
        fake.write("etc/default/grub", "GRUB_CMDLINE_LINUX=\"intel_iommu=on iommu=pt\"\n")
        fake.write("etc/modprobe.d/kvm-nested.conf", "options kvm_intel nested=1 enable_shadow_vmcs=1\n")
        let result = Vfioctl.capture(["config", "status", "--format", "json", "--root", fake.root])
        let document = try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as? [String: Any] ?? [:]
        let settings = Dictionary(uniqueKeysWithValues: (document["settings"] as? [[String: Any]] ?? []).map {
            ($0["setting"] as? String ?? "", $0["state"] as? String ?? "")
        })
        #expect(settings == ["cmdline intel_iommu": "reboot", "cmdline iommu": "ok", "kvm_intel.nested": "ok",
                             "kvm_intel.enable_shadow_vmcs": "reboot"], "\(result.out)")
    }

    @Test("bad input", arguments: [
        (["modprobe", "--vfio-ids", "10de"], "is not a vendor:device ID"),
        (["modprobe", "--vfio-ids", "10de:xyz1"], "is not a vendor:device ID"),
        (["modprobe", "--softdep", "nouveau; rm -rf /"], "is not a kernel module name"),
        (["modprobe"], "needs --vfio-ids"),
    ] as [([String], String)])
    func badInput(arguments: [String], message: String) {
        let fake = Self.host([:])
        defer { fake.remove() }
        let result = run(fake, arguments)
        #expect(result.status == 64 && result.err.contains(message) && result.out.isEmpty, "\(result.err)")
    }
}
