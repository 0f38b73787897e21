import Foundation
import Testing
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// A host whose functions have no IOMMU group: the IOMMU the evidence names is off or missing.
private func groupless(_ adjust: (inout FakeSysfs) -> Void) -> FakeSysfs {
    checkHost { fake in
        fake.iommuUnits = []
        fake.acpiTables = []
        for position in fake.functions.indices { fake.setGroup(nil, at: position) }
        adjust(&fake)
    }
}

/// `groups` as text and JSON: what it says on stdout and stderr, and its JSON's iommu object.
private struct GroupsResult {
    var text: String
    var textErr: String
    var iommu: [String: Any]
    var jsonErr: String
    var finding: [String: Any]? { iommu["finding"] as? [String: Any] }

    init(_ fake: FakeSysfs) throws {
        let text = Vfioctl.capture(["groups", "--root", fake.root])
        let json = Vfioctl.capture(["groups", "--root", fake.root, "--format", "json"])
        self.text = text.out
        self.textErr = text.err
        self.jsonErr = json.err
        self.iommu = try #require(try VFIOCommandsTests.json(json.out)["iommu"] as? [String: Any])
    }
}

@Suite("IOMMU kind and the cause of no groups: check and groups agree")
struct IOMMUCauseTests {
    /// check's verdict, and groups saying the same in text, JSON and the hint.
    private func expectSameVerdict(_ fake: FakeSysfs, id: String) throws -> CheckResult {
        let result = try check(fake, [])
        let finding = try #require(result.finding(id), "\(result.findings)")
        let groups = try GroupsResult(fake)
        let message = try #require(finding["message"] as? String)
        let hint = try #require(finding["hint"] as? String)
        #expect(groups.text.contains("No IOMMU groups: " + message), "\(groups.text)")
        #expect(groups.textErr.contains("hint: " + hint), "\(groups.textErr)")
        #expect(groups.finding?["id"] as? String == id && groups.finding?["message"] as? String == message)
        #expect(groups.finding?["hint"] as? String == hint)
        #expect(groups.jsonErr.contains("warning: No IOMMU groups: " + message))
        return result
    }

    @Test("AMD-Vi turned off by amd_iommu=off: groups says so, as check does, not 'enable it in the firmware'")
    func amdOff() throws {
        let fake = groupless { fake in
            fake.acpiTables = ["IVRS"]
            fake.cpuVendor = "AuthenticAMD"
            fake.commandLine = "root=/dev/sda1 amd_iommu=off"
        }
        defer { fake.remove() }
        let result = try expectSameVerdict(fake, id: "iommu.disabled")
        #expect(result.message("iommu.disabled").contains("AMD-Vi (IVRS)") && result.message("iommu.disabled").contains("amd_iommu=off"))
        #expect(result.hint("iommu.disabled").hasPrefix("remove amd_iommu=off"))
        #expect(!result.hint("iommu.disabled").contains("firmware setup"))
        let groups = try GroupsResult(fake)
        #expect(groups.iommu["kind"] as? String == "amd")
        #expect(!groups.textErr.contains("firmware setup"), "\(groups.textErr)")
    }

    @Test("virtio-iommu on a kernel built without it (Debian 6.1): the kernel config is the cause")
    func virtioWithoutDriver() throws {
        let fake = groupless { fake in
            fake.acpiTables = ["VIOT"]
            fake.kernelConfig = "CONFIG_INTEL_IOMMU=y\nCONFIG_AMD_IOMMU=y\n# CONFIG_VIRTIO_IOMMU is not set\n"
        }
        defer { fake.remove() }
        let result = try expectSameVerdict(fake, id: "iommu.no-driver")
        let message = result.message("iommu.no-driver")
        #expect(message.contains("virtio-iommu (VIOT)") && message.contains("CONFIG_VIRTIO_IOMMU is not set in /boot/config-6.1.0-56-amd64"))
        #expect(result.hint("iommu.no-driver").contains("CONFIG_VIRTIO_IOMMU=y or =m"))
        #expect(result.finding("iommu.absent") == nil && !result.hint("iommu.no-driver").contains("firmware"))
        #expect(try GroupsResult(fake).iommu["kind"] as? String == "virtio")
    }

    @Test("virtio-iommu with its module built but not loaded; with the kernel config unknown")
    func virtioModule() throws {
        let unloaded = groupless { fake in
            fake.acpiTables = ["VIOT"]
            fake.kernelConfig = "CONFIG_VIRTIO_IOMMU=m\n"
            fake.installedModules.append("virtio_iommu")
        }
        defer { unloaded.remove() }
        let result = try expectSameVerdict(unloaded, id: "iommu.driver-not-loaded")
        #expect(result.hint("iommu.driver-not-loaded").hasPrefix("modprobe virtio_iommu"))

        let missing = groupless { fake in
            fake.acpiTables = ["VIOT"]
            fake.kernelConfig = "CONFIG_VIRTIO_IOMMU=m\n"
        }
        defer { missing.remove() }
        #expect(try check(missing, []).message("iommu.no-driver").contains("virtio_iommu module, is not installed"))

        let unknown = groupless { $0.acpiTables = ["VIOT"] }
        defer { unknown.remove() }
        let guess = try expectSameVerdict(unknown, id: "iommu.disabled")
        #expect(guess.message("iommu.disabled").contains("virtio-iommu (VIOT)"))
        #expect(guess.hint("iommu.disabled").contains("could not be read"))
    }

    @Test("Intel: the command line's switch with the kernel's own log line; a kernel that leaves VT-d off by default")
    func intelCauses() throws {
        let off = groupless { fake in
            fake.acpiTables = ["DMAR"]
            fake.commandLine = "root=/dev/sda1 intel_iommu=off"
            fake.kernelLog = ["ACPI: DMAR 0x000000007FFE1F2A 000050 (v01 BOCHS  BXPC     00000001 BXPC 00000001)", "DMAR: IOMMU disabled"]
        }
        defer { off.remove() }
        let logged = try expectSameVerdict(off, id: "iommu.disabled")
        #expect(logged.message("iommu.disabled").contains("the kernel logged \"DMAR: IOMMU disabled\""))
        #expect(logged.hint("iommu.disabled").contains("remove intel_iommu=off") && logged.hint("iommu.disabled").contains("intel_iommu=on"))

        let defaultOff = groupless { fake in
            fake.acpiTables = ["DMAR"]
            fake.commandLine = "root=/dev/sda1"
            fake.kernelConfig = "CONFIG_INTEL_IOMMU=y\n# CONFIG_INTEL_IOMMU_DEFAULT_ON is not set\n"
        }
        defer { defaultOff.remove() }
        let result = try expectSameVerdict(defaultOff, id: "iommu.disabled")
        #expect(result.message("iommu.disabled").contains("CONFIG_INTEL_IOMMU_DEFAULT_ON is not set"))

        let noDriver = groupless { fake in
            fake.acpiTables = ["DMAR"]
            fake.commandLine = "root=/dev/sda1 intel_iommu=on"
            fake.kernelConfig = "# CONFIG_INTEL_IOMMU is not set\n"
        }
        defer { noDriver.remove() }
        let missing = try expectSameVerdict(noDriver, id: "iommu.no-driver")
        #expect(missing.hint("iommu.no-driver") == "boot a kernel built with CONFIG_INTEL_IOMMU=y")
    }

    @Test("check text names the cause as JSON does")
    func checkText() throws {
        let fake = groupless { fake in
            fake.acpiTables = ["VIOT"]
            fake.kernelConfig = "# CONFIG_VIRTIO_IOMMU is not set\n"
        }
        defer { fake.remove() }
        let text = Vfioctl.capture(["check", "--root", fake.root])
        #expect(text.status == 2 && text.out.contains("iommu.no-driver") && text.out.contains("virtio-iommu (VIOT)"), "\(text.out)")
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
