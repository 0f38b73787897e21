import Foundation
import Glibc
import Testing
import VFIOTestSupport

/// The isolated e1000e (behind a root port) of the 'isolated' topology.
func isolatedNIC() throws -> String {
    let functions = try VfioctlJSON.functions()
    return try #require(functions.first { f in
        f.string("device_id") == "10d3" && functions.filter { $0.int("iommu_group") == f.int("iommu_group") }.count == 1
    }?.string("address"))
}

/// Groups exist, the isolated NIC on vfio-pci is refused by QEMU for want of interrupt
/// remapping, and `check` refuses it for that reason, quoting `evidence` (the kernel's words, or
/// what is missing) and hinting `hint`, never the firmware advice of another IOMMU.
func expectNoInterruptRemapping(evidence: String, hint: String, notHint: [String]) throws {
    #expect(!Kernel.groups().isEmpty)
    #expect(!(Kernel.read("/proc/interrupts") ?? "").contains("IR-"), "no interrupt chip is remapped")
    let isolated = try isolatedNIC()
    defer { try? Kernel.restore(isolated) }
    try Kernel.bindToVFIO(isolated)
    let verdict = try QEMU.verdict(isolated)
    #expect(!verdict.accepted, "\(verdict.output)")
    let check = try CheckVerdict.of([isolated])
    #expect(!check.passed && check.ids.contains("irq-remap.inactive"), "\(check.findings)")
    let finding = try #require(check.findings.first { $0["id"] as? String == "irq-remap.inactive" })
    let message = finding["message"] as? String ?? ""
    let fix = finding["hint"] as? String ?? ""
    #expect(message.contains(evidence), "\(message)")
    #expect(fix.contains(hint), "\(fix)")
    for wrong in notHint { #expect(!fix.contains(wrong) && !message.contains(wrong), "\(message) / \(fix)") }
}

/// Inside the 'amd-iommu' boot: an AMD CPU model and AMD-Vi (IVRS) with interrupt remapping.
@Suite("Lab: AMD-Vi", .serialized, .enabled(if: Lab.inside("amd-iommu"), Lab.reason))
struct AMDIOMMUBootTests {
    @Test("AMD-Vi is on without any command-line switch: groups, IVRS, interrupt remapping, named as AMD-Vi")
    func enabled() throws {
        #expect((Kernel.read("/proc/cpuinfo") ?? "").contains("AuthenticAMD"))
        #expect(Kernel.exists("/sys/firmware/acpi/tables/IVRS") && !Kernel.exists("/sys/firmware/acpi/tables/DMAR"))
        #expect(!Kernel.groups().isEmpty)
        let document = try VfioctlJSON.run(["groups"])
        let iommu = try #require(document["iommu"] as? [String: Any])
        #expect(iommu["enabled"] as? Bool == true && iommu["acpi_tables"] as? [String] == ["IVRS"], "\(iommu)")
        try Kernel.modprobe("vfio-pci")
        let host = try CheckVerdict.of([])
        #expect(host.passed, "\(host.findings)")
        #expect(host.message("iommu.enabled").contains("AMD-Vi"), "\(host.findings)")
        #expect(host.message("irq-remap.active").contains("IR-"), "\(host.findings)")
    }

    @Test("config cmdline on an AMD host asks for iommu=pt alone (never amd_iommu=on, never intel_iommu=on)")
    func cmdline() throws {
        let result = try Kernel.cmdlineProposal()
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out.contains("+GRUB_CMDLINE_LINUX=\"iommu=pt\""), "\(result.out)")
    }

    @Test("detach gives QEMU the isolated NIC; the bridged group goes whole; reattach gives e1000 and e1000e back")
    func detachReattach() throws {
        let isolated = try isolatedNIC()
        let state = "/tmp/vfioctl-amd-state"
        func vfioctl(_ arguments: [String]) throws -> TestProcess.Result {
            try TestProcess.run(TestProcess.vfioctl, arguments, environment: ["VFIOCTL_STATE_DIR": state], timeout: 300)
        }
        defer { _ = try? vfioctl(["reattach", "--all"]) }
        let detached = try vfioctl(["detach", isolated])
        #expect(detached.status == 0 && Kernel.driver(isolated) == "vfio-pci", "\(detached.out)\(detached.err)")
        let verdict = try QEMU.verdict(isolated)
        #expect(verdict.accepted, "\(verdict.output)")
        let reattached = try vfioctl(["reattach", isolated])
        #expect(reattached.status == 0 && Kernel.driver(isolated) == "e1000e", "\(reattached.out)\(reattached.err)")
    }
}

/// Inside the 'amd-iommu-off' boot: the firmware has AMD-Vi, amd_iommu=off turned it off.
@Suite("Lab: AMD-Vi present, amd_iommu=off", .serialized, .enabled(if: Lab.inside("amd-iommu-off"), Lab.reason))
struct AMDIOMMUOffBootTests {
    @Test("no groups; the cause is amd_iommu=off on the command line, in groups and in check alike")
    func commandLineOff() throws {
        #expect(Kernel.exists("/sys/firmware/acpi/tables/IVRS"))
        #expect((Kernel.read("/proc/cmdline") ?? "").contains("amd_iommu=off"))
        try expectNoGroups(hint: "amd_iommu=off")
        let text = try TestProcess.vfioctl(["groups"])
        #expect(!text.err.contains("firmware setup"), "the firmware has AMD-Vi: \(text.err)")
        let check = try CheckVerdict.of([])
        #expect(!check.passed && check.ids.contains("iommu.disabled"), "\(check.findings)")
        #expect(check.message("iommu.disabled").contains("amd_iommu=off"))
        #expect(check.message("iommu.disabled").contains("AMD-Vi"), "\(check.findings)")
    }
}

/// Inside the 'amd-no-intremap' boot: AMD-Vi whose IVRS table describes no IOAPIC.
@Suite("Lab: AMD-Vi without interrupt remapping", .serialized, .enabled(if: Lab.inside("amd-no-intremap"), Lab.reason))
struct AMDNoIntremapBootTests {
    @Test("QEMU refuses the isolated NIC; check says why in the kernel's own words and does not blame intremap=off")
    func refused() throws {
        try expectNoInterruptRemapping(evidence: "IVRS", hint: "firmware", notHint: ["intremap=off"])
    }
}

/// Inside the 'virtio-iommu-6.1' and 'virtio-iommu-6.12' boots: a virtio-iommu (VIOT table).
@Suite("Lab: virtio-iommu", .serialized, .enabled(if: Lab.inside("virtio-iommu-6.1", "virtio-iommu-6.12"), Lab.reason))
struct VirtioIOMMUBootTests {
    static var hasDriver: Bool { (Lab.kernel.map { $0.major > 6 || ($0.major == 6 && $0.minor >= 12) }) ?? false }

    @Test("6.1 (no CONFIG_VIRTIO_IOMMU): no groups, and the cause is the kernel, not the firmware")
    func kernelWithoutDriver() throws {
        guard !Self.hasDriver else { return }
        #expect(Kernel.exists("/sys/firmware/acpi/tables/VIOT"))
        #expect(Kernel.groups().isEmpty)
        let text = try TestProcess.vfioctl(["groups"])
        #expect(text.out.contains("No IOMMU groups"))
        #expect(text.err.contains("CONFIG_VIRTIO_IOMMU") && !text.err.contains("firmware setup"), "\(text.err)")
        let check = try CheckVerdict.of([])
        #expect(!check.passed && !check.ids.contains("iommu.absent"), "\(check.findings)")
        let messages = check.findings.compactMap { $0["message"] as? String }.joined(separator: "\n")
        #expect(messages.contains("virtio-iommu") && messages.contains("CONFIG_VIRTIO_IOMMU"), "\(messages)")
    }

    @Test("6.12: groups behind the virtio-iommu, named as such; no interrupt remapping, and the fix says what a virtio-iommu can do")
    func groupsWithoutRemapping() throws {
        guard Self.hasDriver else { return }
        #expect(Kernel.exists("/sys/firmware/acpi/tables/VIOT"))
        let host = try CheckVerdict.of([])
        #expect(host.message("iommu.enabled").contains("virtio-iommu"), "\(host.findings)")
        try expectNoInterruptRemapping(evidence: "virtio-iommu", hint: "allow_unsafe_interrupts", notHint: ["x2APIC", "intremap=off"])
    }
}
