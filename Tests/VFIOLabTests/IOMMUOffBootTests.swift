import Foundation
import Testing
import VFIOTestSupport

/// No IOMMU groups: say so plainly, list every function anyway, and hint at the right switch.
func expectNoGroups(hint: String) throws {
    #expect(Kernel.groups().isEmpty)
    let json = try TestProcess.vfioctl(["groups", "--format", "json"])
    #expect(json.status == 0)
    let document = try TestProcess.json(json.out)
    #expect((document["groups"] as? [Any])?.isEmpty == true)
    #expect((document["iommu"] as? [String: Any])?["enabled"] as? Bool == false)
    let text = try TestProcess.vfioctl(["groups"])
    #expect(text.status == 0)
    #expect(text.out.contains("No IOMMU groups"))
    #expect(text.err.contains(hint), "\(text.err)")
    let functions = try VfioctlJSON.functions()
    #expect(functions.map { $0.string("address") ?? "" } == Kernel.addresses())
    #expect(functions.allSatisfy { $0["iommu_group"] is NSNull })
}

/// Inside the 'iommu-off' boot: VT-d in the firmware (DMAR), intel_iommu=off on the command line.
@Suite("Lab: VT-d present, intel_iommu=off", .serialized, .enabled(if: Lab.inside("iommu-off"), Lab.reason))
struct IOMMUOffBootTests {
    @Test("no groups; the firmware's DMAR table is seen; the hint is intel_iommu=on")
    func noGroups() throws {
        #expect(Kernel.exists("/sys/firmware/acpi/tables/DMAR"))
        try expectNoGroups(hint: "intel_iommu=on")
        let document = try VfioctlJSON.run(["groups"])
        #expect((document["iommu"] as? [String: Any])?["acpi_tables"] as? [String] == ["DMAR"])
        let check = try CheckVerdict.of([])
        #expect(!check.passed && check.ids.contains("iommu.disabled"))
        #expect(check.message("iommu.disabled").contains("intel_iommu=off"))
    }
}

/// Inside the 'no-vtd' boot: no IOMMU in the firmware at all.
@Suite("Lab: no IOMMU in the firmware", .serialized, .enabled(if: Lab.inside("no-vtd"), Lab.reason))
struct NoVTdBootTests {
    @Test("no groups and no DMAR/IVRS table")
    func noGroups() throws {
        #expect(!Kernel.exists("/sys/firmware/acpi/tables/DMAR") && !Kernel.exists("/sys/firmware/acpi/tables/IVRS"))
        try expectNoGroups(hint: "firmware")
        let document = try VfioctlJSON.run(["groups"])
        #expect((document["iommu"] as? [String: Any])?["acpi_tables"] as? [String] == [])
        let check = try CheckVerdict.of([])
        #expect(!check.passed && check.ids.contains("iommu.absent"))
    }
}
