import Foundation
import Testing
import VFIOTestSupport

/// Inside the 'no-intremap' boot: an IOMMU without interrupt remapping, booted without
/// intel_iommu=on.
@Suite("Lab: IOMMU without interrupt remapping", .serialized, .enabled(if: Lab.inside("no-intremap"), Lab.reason))
struct NoIntremapBootTests {
    @Test("Debian's kernel turns VT-d on without intel_iommu=on: groups exist")
    func defaultOn() throws {
        let cmdline = Kernel.read("/proc/cmdline") ?? ""
        #expect(!cmdline.contains("intel_iommu="))
        #expect(!Kernel.groups().isEmpty)
        let document = try VfioctlJSON.run(["groups"])
        #expect((document["iommu"] as? [String: Any])?["enabled"] as? Bool == true)
        #expect((document["groups"] as? [Any])?.count == Kernel.groups().count)
    }

    @Test("groups exist, yet QEMU refuses even a whole group on vfio-pci: no interrupt remapping")
    func qemuRefuses() throws {
        #expect(!Kernel.groups().isEmpty)
        let interrupts = Kernel.read("/proc/interrupts") ?? ""
        #expect(!interrupts.contains("IR-"), "no interrupt chip is remapped")
        let functions = try VfioctlJSON.functions()
        let isolated = try #require(functions.first { f in
            f.string("device_id") == "10d3" && functions.filter { $0.int("iommu_group") == f.int("iommu_group") }.count == 1
        }?.string("address"))
        defer { try? Kernel.restore(isolated) }
        try Kernel.bindToVFIO(isolated)
        let verdict = try QEMU.verdict(isolated)
        #expect(!verdict.accepted)
        #expect(verdict.output.contains("Operation not permitted") || verdict.output.contains("interrupt"), "\(verdict.output)")
        #expect(QEMU.notViableGroup(verdict.output) == nil, "the group is viable; the refusal is about interrupts")
        // check refuses too, for the same reason.
        let check = try CheckVerdict.of([isolated])
        #expect(!check.passed && check.ids.contains("irq-remap.inactive") && !check.ids.contains("group.not-viable"),
                "\(check.findings)")
    }
}
