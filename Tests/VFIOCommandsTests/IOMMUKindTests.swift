import Foundation
import Testing
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// A host with no groups: what describes its IOMMU, what the kernel and its command line say,
/// and the finding check and groups must both give.
struct NoGroupsCase: Sendable, CustomTestStringConvertible {
    var name: String
    var tables: [String]
    var cpu = "GenuineIntel"
    var commandLine = "root=/dev/sda1"
    var kernelConfig: String? = nil
    var installed: [String] = []
    var log: [String]? = nil
    var id: String
    var kind: String?
    var message: [String]
    var hint: [String]
    /// What the hint must not say (the fix for another cause).
    var hintLacks: [String] = []
    var messageLacks: [String] = []
    var testDescription: String { name }
}

@Suite("IOMMU kind and the cause of no groups: check and groups agree")
struct IOMMUCauseTests {
    static let cases: [NoGroupsCase] = [
        NoGroupsCase(name: "AMD-Vi turned off by amd_iommu=off (not 'enable it in the firmware')", tables: ["IVRS"],
                     cpu: "AuthenticAMD", commandLine: "root=/dev/sda1 amd_iommu=off", id: "iommu.disabled", kind: "amd",
                     message: ["the firmware describes AMD-Vi (IVRS)", "amd_iommu=off"], hint: ["remove amd_iommu=off"],
                     hintLacks: ["firmware setup"]),
        NoGroupsCase(name: "virtio-iommu on a kernel built without it (Debian 6.1)", tables: ["VIOT"],
                     kernelConfig: "CONFIG_INTEL_IOMMU=y\nCONFIG_AMD_IOMMU=y\n# CONFIG_VIRTIO_IOMMU is not set\n",
                     id: "iommu.no-driver", kind: "virtio",
                     message: ["virtio-iommu (VIOT)", "CONFIG_VIRTIO_IOMMU is not set in /boot/config-6.1.0-56-amd64"],
                     hint: ["CONFIG_VIRTIO_IOMMU=y or =m"], hintLacks: ["firmware"]),
        NoGroupsCase(name: "virtio_iommu built as a module, installed, not loaded", tables: ["VIOT"],
                     kernelConfig: "CONFIG_VIRTIO_IOMMU=m\n", installed: ["virtio_iommu"], id: "iommu.driver-not-loaded",
                     kind: "virtio", message: ["virtio-iommu (VIOT)", "virtio_iommu module, is not loaded"],
                     hint: ["modprobe virtio_iommu", "initramfs"]),
        NoGroupsCase(name: "virtio_iommu built as a module, not installed", tables: ["VIOT"], kernelConfig: "CONFIG_VIRTIO_IOMMU=m\n",
                     id: "iommu.no-driver", kind: "virtio", message: ["virtio_iommu module, is not installed"],
                     hint: ["install the modules of kernel 6.1.0-56-amd64"]),
        NoGroupsCase(name: "virtio-iommu, kernel config unknown", tables: ["VIOT"], id: "iommu.disabled", kind: "virtio",
                     message: ["virtio-iommu (VIOT)"], hint: ["could not be read"]),
        NoGroupsCase(name: "intel_iommu=off, with the kernel's own log line", tables: ["DMAR"],
                     commandLine: "root=/dev/sda1 intel_iommu=off",
                     log: ["ACPI: DMAR 0x000000007FFE1F2A 000050 (v01 BOCHS  BXPC     00000001 BXPC 00000001)", "DMAR: IOMMU disabled"],
                     id: "iommu.disabled", kind: "intel",
                     message: ["Intel VT-d (DMAR)", "intel_iommu=off", "; the kernel logged \"DMAR: IOMMU disabled\""],
                     hint: ["remove intel_iommu=off", "intel_iommu=on"]),
        NoGroupsCase(name: "a kernel that leaves VT-d off by default", tables: ["DMAR"],
                     kernelConfig: "CONFIG_INTEL_IOMMU=y\n# CONFIG_INTEL_IOMMU_DEFAULT_ON is not set\n", id: "iommu.disabled",
                     kind: "intel", message: ["CONFIG_INTEL_IOMMU_DEFAULT_ON is not set"], hint: ["boot with intel_iommu=on"]),
        NoGroupsCase(name: "Debian's kernel turns VT-d on by itself (DEFAULT_ON_INTGPU_OFF): no claim it does not",
                     tables: ["DMAR"],
                     kernelConfig: "CONFIG_INTEL_IOMMU=y\n# CONFIG_INTEL_IOMMU_DEFAULT_ON is not set\n"
                         + "CONFIG_INTEL_IOMMU_DEFAULT_ON_INTGPU_OFF=y\n# CONFIG_INTEL_IOMMU_DEFAULT_OFF is not set\n",
                     id: "iommu.disabled", kind: "intel", message: ["the kernel did not turn it on"], hint: ["intel_iommu=on"],
                     messageLacks: ["DEFAULT_ON"]),
        NoGroupsCase(name: "a kernel built to leave VT-d off (DEFAULT_OFF)", tables: ["DMAR"],
                     kernelConfig: "CONFIG_INTEL_IOMMU=y\nCONFIG_INTEL_IOMMU_DEFAULT_OFF=y\n", id: "iommu.disabled", kind: "intel",
                     message: ["CONFIG_INTEL_IOMMU_DEFAULT_OFF=y in /boot/config-6.1.0-56-amd64"], hint: ["boot with intel_iommu=on"]),
        NoGroupsCase(name: "a kernel without the VT-d driver", tables: ["DMAR"], commandLine: "root=/dev/sda1 intel_iommu=on",
                     kernelConfig: "# CONFIG_INTEL_IOMMU is not set\n", id: "iommu.no-driver", kind: "intel",
                     message: ["CONFIG_INTEL_IOMMU is not set"], hint: ["boot a kernel built with CONFIG_INTEL_IOMMU=y"],
                     hintLacks: ["=m"]),
    ]

    @Test("check's finding; groups says the same in text, JSON and its hint", arguments: cases)
    func sameVerdict(_ host: NoGroupsCase) throws {
        let fake = checkHost { fake in
            fake.iommuUnits = []
            for position in fake.functions.indices { fake.setGroup(nil, at: position) }
            fake.acpiTables = host.tables
            fake.cpuVendor = host.cpu
            fake.commandLine = host.commandLine
            fake.kernelConfig = host.kernelConfig
            fake.installedModules += host.installed
            fake.kernelLog = host.log
        }
        defer { fake.remove() }
        let result = try check(fake, [])
        #expect(result.status == 2 && result.severity(host.id) == "error", "\(result.findings)")
        let message = result.message(host.id)
        let hint = result.hint(host.id)
        for part in host.message { #expect(message.contains(part), "\(message)") }
        for part in host.hint { #expect(hint.contains(part), "\(hint)") }
        for part in host.hintLacks { #expect(!hint.contains(part), "\(hint)") }
        for part in host.messageLacks { #expect(!message.contains(part), "\(message)") }

        let text = Vfioctl.capture(["groups", "--root", fake.root])
        let json = Vfioctl.capture(["groups", "--root", fake.root, "--format", "json"])
        let iommu = try #require(try VFIOCommandsTests.json(json.out)["iommu"] as? [String: Any])
        let finding = try #require(iommu["finding"] as? [String: Any])
        #expect(text.out.contains("No IOMMU groups: " + message), "\(text.out)")
        #expect(text.err.contains("hint: " + hint), "\(text.err)")
        #expect(finding["id"] as? String == host.id && finding["message"] as? String == message && finding["hint"] as? String == hint)
        #expect(iommu["kind"] as? String == host.kind)
        #expect(json.err.contains("warning: No IOMMU groups: " + message))

        let checkText = Vfioctl.capture(["check", "--root", fake.root])
        #expect(checkText.status == 2 && checkText.out.contains(host.id), "\(checkText.out)")
    }
}

@Suite("interrupt remapping: the IOMMU's kind, the kernel's reason, chips summarised")
struct InterruptRemappingCauseTests {
    @Test("virtio-iommu (6.12): no remapping exists; no x2APIC or firmware advice; named as such")
    func virtio() throws {
        let fake = checkHost { fake in
            fake.acpiTables = ["VIOT"]
            fake.withIOMMU(["0000:00:03.0"])
            fake.kernelRelease = "6.12.95+deb12-amd64"
            fake.kernelConfig = "CONFIG_VIRTIO_IOMMU=m\n"
            fake.interruptChips = ["IO-APIC", "PCI-MSIX-0000:00:02.0", "PCI-MSIX-0000:00:03.0"]
        }
        defer { fake.remove() }
        let result = try check(fake, [])
        #expect(result.message("iommu.enabled").hasPrefix("virtio-iommu (VIOT) is on (0000:00:03.0)"))
        let message = result.message("irq-remap.inactive")
        let hint = result.hint("irq-remap.inactive")
        #expect(message.contains("virtio-iommu (VIOT) has no interrupt remapping at all"), "\(message)")
        #expect(!hint.contains("x2APIC") && !hint.contains("intremap=off") && !hint.contains("firmware setup"), "\(hint)")
        #expect(hint.contains("--allow-unsafe-interrupts") && hint.contains("forge MSIs") && hint.contains("intel-iommu"))

        let unsafe = checkHost { fake in
            fake.acpiTables = ["VIOT"]
            fake.withIOMMU(["0000:00:03.0"])
            fake.interruptChips = ["IO-APIC", "PCI-MSIX-0000:00:02.0"]
            fake.moduleParameters["vfio_iommu_type1.allow_unsafe_interrupts"] = "Y"
        }
        defer { unsafe.remove() }
        let allowed = try check(unsafe, [])
        #expect(allowed.severity("irq-remap.unsafe") == "warning" && !allowed.hint("irq-remap.unsafe").contains("x2APIC"))
    }

    @Test("AMD with the IOAPIC missing from IVRS: the kernel's line quoted, the fix for it", arguments: [
        (["IO-APIC", "PCI-MSI", "AMD-Vi"], "ivhd0", "IVRS",
         ["AMD-Vi: [Firmware Bug]: IOAPIC[0] not in IVRS table", "AMD-Vi: [Firmware Bug]: No southbridge IOAPIC found",
          "AMD-Vi: Disabling interrupt remapping"], "IOAPIC[0] not in IVRS table", "ivrs_ioapic"),
        (["IO-APIC", "PCI-MSI", "DMAR-MSI"], "dmar0", "DMAR",
         ["DMAR-IR: [Firmware Bug]: ioapic 2 has no mapping iommu, interrupt remapping will be disabled",
          "DMAR-IR: Not enabling interrupt remapping"], "ioapic 2 has no mapping iommu", "DMAR table leaves out an IOAPIC"),
    ] as [([String], String, String, [String], String, String)])
    func firmwareBug(chips: [String], unit: String, table: String, log: [String], quoted: String, fix: String) throws {
        let fake = checkHost { fake in
            fake.acpiTables = [table]
            fake.withIOMMU([unit])
            fake.interruptChips = chips
            fake.kernelLog = ["Linux version 6.1.0-56-amd64"] + log
        }
        defer { fake.remove() }
        let result = try check(fake, [])
        #expect(result.message("irq-remap.inactive").contains(quoted), "\(result.message("irq-remap.inactive"))")
        #expect(result.hint("irq-remap.inactive").contains(fix), "\(result.hint("irq-remap.inactive"))")
        #expect(!result.message("irq-remap.inactive").contains("Linux version"))
    }

    @Test("6.12's per-device chips are summarised by kind with device counts")
    func perDeviceChips() throws {
        let fake = checkHost { fake in
            fake.interruptChips = ["IR-IO-APIC", "DMAR-MSI", "IR-PCI-MSIX-0000:00:02.0", "IR-PCI-MSIX-0000:00:03.0",
                                   "IR-PCI-MSIX-0000:01:00.0", "IR-PCI-MSI-0000:00:1f.2"]
        }
        defer { fake.remove() }
        let result = try check(fake, [])
        #expect(result.message("irq-remap.active")
                    == "interrupt remapping is active (IR-IO-APIC, IR-PCI-MSI on 1 device, IR-PCI-MSIX on 3 devices in /proc/interrupts)")
    }
}
