import Testing
import VFIOCore

@Suite("Kernel command line")
struct KernelCommandLineTests {
    @Test("words, quotes, bare keys, the last value wins, -- ends the kernel's part")
    func parse() {
        let line = KernelCommandLine(#"BOOT_IMAGE=/vmlinuz root=UUID=abc ro quiet intel_iommu=on,sm_on iommu=pt "acpi_osi=Windows 2020" iommu=off -- single"#)
        #expect(line.value("root") == "UUID=abc")
        #expect(line.value("quiet") == "" && line.contains("ro"))
        #expect(line.options("intel_iommu") == ["on", "sm_on"])
        #expect(line.value("iommu") == "off")
        #expect(line.value("acpi_osi") == "Windows 2020")
        #expect(!line.contains("single"))
    }

    @Test("module parameters match with - and _ alike")
    func moduleParameters() {
        let line = KernelCommandLine("vfio-iommu-type1.allow_unsafe_interrupts=1 vfio_pci.ids=10de:1b80")
        #expect(line.value("vfio_iommu_type1.allow_unsafe_interrupts") == "1")
        #expect(line.value("vfio-pci.ids") == "10de:1b80")
    }
}

@Suite("/proc files")
struct ProcFilesTests {
    @Test("interrupt chips, remapped or not")
    func interrupts() {
        let text = """
                       CPU0       CPU1
              0:        165          0  IR-IO-APIC   2-edge      timer
              9:          0          0  IR-IO-APIC   9-fasteoi   acpi
             24:          0          0  DMAR-MSI    0-edge      dmar0
             25:         12          0  IR-PCI-MSI-0000:01:00.0    0-edge      eth0
            NMI:          0          0   Non-maskable interrupts
            LOC:       1234       1200   Local timer interrupts
            """
        #expect(ProcFiles.interruptChips(text) == ["IR-IO-APIC", "DMAR-MSI", "IR-PCI-MSI-0000:01:00.0"])
        #expect(ProcFiles.interruptChips("           CPU0\n  0:  5  IO-APIC  2-edge  timer\n") == ["IO-APIC"])
    }

    @Test("mountinfo: device numbers, mount points (escaped), filesystems")
    func mountinfo() {
        let mounts = ProcFiles.mounts("""
            29 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
            31 29 259:1 / /boot/efi rw,relatime shared:4 - vfat /dev/nvme0n1p1 rw
            40 29 254:0 / /srv/my\\040data rw - xfs /dev/mapper/vg-data rw
            """)
        #expect(mounts.map(\.device) == ["259:2", "259:1", "254:0"])
        #expect(mounts.map(\.mountPoint) == ["/", "/boot/efi", "/srv/my data"])
        #expect(mounts.last?.fileSystem == "xfs" && mounts.last?.source == "/dev/mapper/vg-data")
    }

    @Test("swaps, limits, modules")
    func smallFiles() {
        #expect(ProcFiles.swaps("Filename\tType\tSize\tUsed\tPriority\n/dev/nvme0n1p3  partition\t8388604\t0\t-2\n/swapfile file 1 0 -3\n")
                == ["/dev/nvme0n1p3", "/swapfile"])
        let limits = "Limit  Soft Limit  Hard Limit  Units\nMax locked memory         8388608              unlimited            bytes\n"
        #expect(ProcFiles.limit(limits, named: "Max locked memory") == ProcFiles.Limit(soft: 8388608, hard: nil))
        #expect(ProcFiles.loadedModules("vfio_pci 16384 0 - Live 0x0\nkvm 1 2 - Live 0x0\n") == ["vfio_pci", "kvm"])
        #expect(ProcFiles.builtinModules("kernel/drivers/vfio/vfio.ko\nkernel/drivers/vfio/pci/vfio-pci.ko\n") == ["vfio", "vfio_pci"])
        #expect(ProcFiles.modulesInDep("kernel/drivers/vfio/pci/vfio-pci.ko.xz: kernel/drivers/vfio/vfio.ko.xz\n") == ["vfio_pci"])
        #expect(ProcFiles.kernelVersion("6.1.0-56-amd64")! == (6, 1))
        #expect(ProcFiles.kernelVersion("5.15.0-91-generic")! == (5, 15))
        #expect(ProcFiles.cpuFlags("processor : 0\nflags\t\t: fpu vmx ept\n\nprocessor : 1\nflags : fpu\n") == ["fpu", "vmx", "ept"])
    }

    @Test("routes: default and others; IPv6 link-local, multicast and local routes do not count")
    func routes() {
        let v4 = ProcFiles.ipv4Routes("""
            Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
            eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
            eth1\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
            """)
        #expect(v4["eth0"]?.isDefault == true && v4["eth1"]?.isDefault == false && v4["eth1"]?.any == true)
        let v6 = ProcFiles.ipv6Routes("""
            fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth2
            ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth2
            fd000000000000000000000000000002 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000003 00000000 80200001     eth2
            00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000002 00000000 00000003     eth3
            """)
        #expect(v6["eth2"] == nil)
        #expect(v6["eth3"]?.isDefault == true)
    }

    @Test("if_inet6: global addresses, not link-local")
    func ipv6Addresses() {
        let addresses = ProcFiles.ipv6Addresses("""
            fe8000000000000000fc00fffe000001 04 40 20 80     eth0
            fd000000000000000000000000000002 04 40 00 82     eth0
            00000000000000000000000000000001 01 80 10 80       lo
            """)
        #expect(addresses == ["eth0": ["fd00:0000:0000:0000:0000:0000:0000:0002/64"]])
    }
}

@Suite("IOMMU evidence: kinds, kernel config, kernel log, interrupt chips")
struct IOMMUEvidenceTests {
    @Test("the kind from /sys/class/iommu names and ACPI tables, units first")
    func kinds() {
        #expect(IOMMUKind(unit: "dmar0") == .intel && IOMMUKind(unit: "ivhd1") == .amd)
        #expect(IOMMUKind(unit: "0000:00:03.0") == .virtio && IOMMUKind(unit: "virtio-mmio") == .virtio)
        #expect(IOMMUKind(unit: "smmu3.0x0000000009050000") == nil)
        #expect(IOMMUState(units: [], groupsDirectoryExists: true, groupCount: 0, acpiTables: ["VIOT"]).kind == .virtio)
        #expect(IOMMUState(units: ["ivhd0"], groupsDirectoryExists: true, groupCount: 3, acpiTables: ["DMAR", "IVRS"]).kinds == [.amd, .intel])
        #expect(IOMMUState(units: [], groupsDirectoryExists: true, groupCount: 0).kind == nil)
    }

    @Test("kernel config: =y, =m, strings; '# ... is not set' and absent options are not set")
    func kernelConfig() {
        let config = KernelConfig.parse("CONFIG_VIRTIO_IOMMU=m\n# CONFIG_INTEL_IOMMU is not set\nCONFIG_IRQ_REMAP=y\nCONFIG_VFIO=m\n",
                                        path: "/boot/config-x")
        #expect(config.values == ["CONFIG_VIRTIO_IOMMU": "m", "CONFIG_IRQ_REMAP": "y"])
        #expect(config.builds("CONFIG_VIRTIO_IOMMU") && !config.builds("CONFIG_INTEL_IOMMU") && !config.builds("CONFIG_AMD_IOMMU"))
    }

    @Test("Debian's configs as /boot has them: 6.1 without virtio-iommu, 6.12 with it as a module; VT-d on by default in both")
    func debianConfigs() {
        let common = "CONFIG_AMD_IOMMU=y\nCONFIG_INTEL_IOMMU=y\nCONFIG_INTEL_IOMMU_SVM=y\n# CONFIG_INTEL_IOMMU_DEFAULT_ON is not set\n"
            + "CONFIG_INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF=y\n# CONFIG_INTEL_IOMMU_DEFAULT_OFF is not set\nCONFIG_IRQ_REMAP=y\n"
        let bookworm = KernelConfig.parse(common + "# CONFIG_VIRTIO_IOMMU is not set\n", path: "/boot/config-6.1.0-57-amd64")
        let backports = KernelConfig.parse(common + "CONFIG_VIRTIO_IOMMU=m\n", path: "/boot/config-6.12.117+deb12-amd64")
        #expect(!bookworm.builds("CONFIG_VIRTIO_IOMMU") && backports.value("CONFIG_VIRTIO_IOMMU") == "m")
        #expect(bookworm.intelIOMMUDefaultOff == nil && backports.intelIOMMUDefaultOff == nil)
        #expect(KernelConfig.parse("CONFIG_INTEL_IOMMU=y\n", path: "x").intelIOMMUDefaultOff == "CONFIG_INTEL_IOMMU_DEFAULT_ON is not set")
    }

    @Test("kernel log: /dev/kmsg records (continuations left out) and plain lines")
    func kernelLog() {
        let text = "6,312,80123,-;DMAR: IOMMU disabled\n SUBSYSTEM=acpi\n3,313,80200,-,caller=T1;AMD-Vi: [Firmware Bug]: IOAPIC[0] not in IVRS table\n"
            + "virtio_iommu virtio0: input address: 64 bits\n"
        #expect(KernelLog.messages(text) == ["DMAR: IOMMU disabled", "AMD-Vi: [Firmware Bug]: IOAPIC[0] not in IVRS table",
                                             "virtio_iommu virtio0: input address: 64 bits"])
        #expect(KernelLog.relevant(["e1000e 0000:01:00.0: eth0: link up", "pci 0000:00:02.0: Adding to iommu group 1",
                                    "DMAR: IOMMU disabled", "iommu: Default domain type: Translated"])
                    == ["DMAR: IOMMU disabled", "iommu: Default domain type: Translated"])
    }

    @Test("interrupt chips: 6.1 names and 6.12 per-device names, summarised by kind")
    func chips() {
        #expect(InterruptChips.split("IR-PCI-MSIX-0000:00:02.0") == ("IR-PCI-MSIX", PCIAddress("0000:00:02.0")))
        #expect(InterruptChips.split("IR-IO-APIC") == ("IR-IO-APIC", nil))
        #expect(InterruptChips.summary(["IR-PCI-MSI", "IR-IO-APIC"]) == "IR-IO-APIC, IR-PCI-MSI")
        #expect(InterruptChips.summary(["IR-PCI-MSIX-0000:00:02.0", "IR-PCI-MSIX-0000:00:03.0", "IR-IO-APIC"])
                    == "IR-IO-APIC, IR-PCI-MSIX on 2 devices")
    }
}
