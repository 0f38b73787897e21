import Foundation
import Testing
import VFIOCommands
import VFIOCore
import VFIOTestSupport

func json(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
}

@Suite("Inventory commands")
struct InventoryCommandTests {
    @Test("list --format json follows the contract")
    func listJSON() throws {
        let fake = commandFixture()
        defer { fake.remove() }
        let result = Vfioctl.capture(["list", "--root", fake.root, "--format", "json"])
        #expect(result.status == 0)
        #expect(result.err.isEmpty)
        let document = try json(result.out)
        #expect(document["schema_version"] as? Int == 1)
        let functions = try #require(document["functions"] as? [[String: Any]])
        #expect(functions.map { $0["address"] as? String } == [
            "0000:00:1c.0", "0000:01:00.0", "0000:02:00.0", "0000:02:00.1", "10000:e1:00.0", "10000:e1:10.0",
        ])
        let required = ["address", "vendor_id", "device_id", "class", "vendor_name", "device_name", "driver",
                        "driver_override", "iommu_group", "numa_node", "physfn", "sriov", "reset_methods", "is_bridge"]
        for function in functions {
            for key in required { #expect(function.keys.contains(key), "missing \(key)") }
            #expect((function["vendor_id"] as? String)?.count == 4)
            #expect((function["class"] as? String)?.count == 6)
        }
        let nic = functions[1]
        #expect(nic["vendor_id"] as? String == "8086" && nic["device_id"] as? String == "10d3")
        #expect(nic["class"] as? String == "020000" && nic["driver"] as? String == "e1000e")
        #expect(nic["driver_override"] is NSNull && nic["physfn"] is NSNull && nic["sriov"] is NSNull)
        #expect(nic["iommu_group"] as? Int == 14 && nic["numa_node"] as? Int == 1)
        #expect(nic["reset_methods"] as? [String] == ["flr", "bus"])
        #expect(functions[0]["is_bridge"] as? Bool == true && nic["is_bridge"] as? Bool == false)
        let sriov = try #require(functions[4]["sriov"] as? [String: Any])
        #expect(sriov["total_vfs"] as? Int == 8 && sriov["num_vfs"] as? Int == 1)
        #expect(sriov["drivers_autoprobe"] as? Bool == true && sriov["vfs"] as? [String] == ["10000:e1:10.0"])
        #expect(functions[5]["physfn"] as? String == "10000:e1:00.0")
    }

    @Test("JSON keys are sorted and snake_case at every level")
    func sortedKeys() throws {
        let fake = commandFixture()
        defer { fake.remove() }
        let text = Vfioctl.capture(["show", "0000:01:00.0", "--root", fake.root, "--format", "json"]).out
        var keysByIndent: [Int: [String]] = [:]
        for line in text.split(separator: "\n") {
            let indent = line.prefix { $0 == " " }.count
            guard let quote = line.firstIndex(of: "\""), line.contains("\": ") else {
                keysByIndent[indent + 2] = nil   // a nested object or array closes or opens: restart
                continue
            }
            let key = String(line[line.index(after: quote)...].prefix { $0 != "\"" })
            #expect(key == key.lowercased() && !key.contains("-") && !key.contains(" "), "key \(key)")
            if let previous = keysByIndent[indent]?.last { #expect(previous < key, "\(previous) before \(key)") }
            keysByIndent[indent, default: []].append(key)
            keysByIndent[indent + 2] = nil
        }
    }

    @Test("groups --format json: every group, sorted by id, with its functions")
    func groupsJSON() throws {
        let fake = commandFixture()
        defer { fake.remove() }
        let result = Vfioctl.capture(["groups", "--root", fake.root, "--format", "json"])
        #expect(result.status == 0)
        let groups = try #require(try json(result.out)["groups"] as? [[String: Any]])
        #expect(groups.map { $0["id"] as? Int } == [3, 7, 14, 17, 40])
        let shared = try #require(groups.first { $0["id"] as? Int == 17 })
        #expect((shared["functions"] as? [[String: Any]])?.map { $0["address"] as? String } == ["0000:02:00.0", "0000:02:00.1"])
    }

    @Test("groups text: one heading per group, members aligned across groups")
    func groupsText() throws {
        let fake = commandFixture()
        defer { fake.remove() }
        let out = Vfioctl.capture(["groups", "--root", fake.root]).out
        #expect(out.contains("IOMMU group 17  (2 functions)\n"))
        #expect(out.contains("IOMMU group 7  (1 function, 1 bridge)\n"))
        let rows = out.split(separator: "\n").filter { $0.hasPrefix("  ") }
        let driverColumns = Set(rows.compactMap { row in row.range(of: "8086:").map { row.distance(from: row.startIndex, to: $0.lowerBound) } })
        #expect(driverColumns.count == 1)
    }

    @Test("without an IOMMU, groups says so plainly and hints at the vendor's switch")
    func noIOMMU() throws {
        var fake = FakeSysfs()
        defer { fake.remove() }
        fake.cpuVendor = "AuthenticAMD"
        fake.add(FakeFunction("0000:00:02.0", vendor: 0x8086, device: 0x10d3, class: 0x020000))
        fake.build()
        let text = Vfioctl.capture(["groups", "--root", fake.root])
        #expect(text.status == 0)
        #expect(text.out.contains("No IOMMU groups"))
        // What check says (iommu.absent): nothing describes an IOMMU, so the AMD host's firmware setup.
        #expect(text.out.contains("no DMAR, IVRS or VIOT ACPI table"))
        #expect(text.err.contains("hint: enable the IOMMU (AMD-Vi"))
        let json = Vfioctl.capture(["groups", "--root", fake.root, "--format", "json"])
        #expect(try #require(try VFIOCommandsTests.json(json.out)["groups"] as? [Any]).isEmpty)
        #expect(json.err.contains("warning: No IOMMU groups"))
    }

    @Test("the hint follows the firmware's IOMMU (DMAR: Intel) over the CPU vendor string")
    func hintFromFirmware() throws {
        var fake = FakeSysfs()
        defer { fake.remove() }
        fake.cpuVendor = "AuthenticAMD"
        fake.acpiTables = ["DMAR"]
        fake.add(FakeFunction("0000:00:02.0", vendor: 0x8086, device: 0x10d3, class: 0x020000))
        fake.build()
        let result = Vfioctl.capture(["groups", "--root", fake.root, "--format", "json"])
        #expect(result.err.contains("intel_iommu=on"))
        let iommu = try #require(try VFIOCommandsTests.json(result.out)["iommu"] as? [String: Any])
        #expect(iommu["acpi_tables"] as? [String] == ["DMAR"])
    }

    @Test("list and show text are aligned and name the VF's PF")
    func text() throws {
        let fake = commandFixture()
        defer { fake.remove() }
        let list = Vfioctl.capture(["list", "--root", fake.root]).out
        #expect(list.hasPrefix("ADDRESS        GROUP  IDS"))
        #expect(list.contains("[VF 0 of 10000:e1:00.0]"))
        #expect(list.contains("[SR-IOV PF: 1/8 VFs]"))
        let show = Vfioctl.capture(["show", "01:00.0", "--root", fake.root]).out
        #expect(show.contains("iommu group:"))
        #expect(show.contains("network interfaces: enp1s0"))
        #expect(show.contains("upstream:           0000:00:1c.0"))
    }

    @Test("bad input: error line with the value and a hint, usage status, nothing printed on stdout", arguments: [
        (["show", "0000:01:00.9"], Int32(64), "'0000:01:00.9' is not a PCI address"),
        (["show", "../../../etc/passwd"], 64, "'../../../etc/passwd' is not a PCI address"),
        (["show", "0000:0f:00.0"], 1, "no PCI function 0000:0f:00.0"),
        (["list", "--format", "yaml"], 64, "'yaml' is invalid for '--format"),
        (["lst"], 64, "unknown command 'lst'"),
        (["show"], 64, "Missing expected argument"),
    ] as [([String], Int32, String)])
    func badInput(arguments: [String], status: Int32, message: String) throws {
        let fake = commandFixture()
        defer { fake.remove() }
        let result = Vfioctl.capture(arguments + ["--root", fake.root])
        #expect(result.status == status)
        #expect(result.out.isEmpty)
        #expect(result.err.hasPrefix("error: "))
        #expect(result.err.contains(message), "stderr: \(result.err)")
    }

    @Test("--root may also come before the command")
    func leadingRoot() throws {
        let fake = commandFixture()
        defer { fake.remove() }
        let before = Vfioctl.capture(["--root", fake.root, "list", "--format", "json"])
        let equals = Vfioctl.capture(["--root=\(fake.root)", "list", "--format", "json"])
        let after = Vfioctl.capture(["list", "--format", "json", "--root", fake.root])
        #expect(before.status == 0 && before.out == after.out && equals.out == after.out)
        // Two levels deep (config status, sriov status) as well.
        let nested = Vfioctl.capture(["--root", fake.root, "config", "status", "--format", "json"])
        #expect(nested.status == 0 && nested.out == Vfioctl.capture(["config", "status", "--format", "json", "--root", fake.root]).out, "\(nested.err)")
    }

    @Test("a --root that is not a directory is a usage error")
    func badRoot() {
        let result = Vfioctl.capture(["list", "--root", "/nonexistent/tree"])
        #expect(result.status == 64)
        #expect(result.err.contains("error: root '/nonexistent/tree' does not exist"))
        #expect(result.err.contains("hint: "))
    }

    @Test("every command answers --help")
    func helpTree() {
        for command in [[], ["list"], ["groups"], ["show"], ["snapshot"]] {
            let result = Vfioctl.capture(command + ["--help"])
            #expect(result.status == 0, "\(command)")
            #expect(result.out.contains("USAGE:"))
        }
    }

    @Test("snapshot DIR then --root DIR lists the same functions")
    func snapshotReplay() throws {
        let fake = commandFixture()
        defer { fake.remove() }
        let directory = FakeSysfs().root + "/snap"
        defer { FakeSysfs.removeTree(SysfsPaths.directory(of: directory)) }
        let made = Vfioctl.capture(["snapshot", directory, "--root", fake.root])
        #expect(made.status == 0)
        #expect(made.out.contains("snapshot of 6 PCI functions"))
        let original = Vfioctl.capture(["list", "--root", fake.root, "--format", "json"]).out
        let replayed = Vfioctl.capture(["list", "--root", directory, "--format", "json"]).out
        #expect(original == replayed)
        let again = Vfioctl.capture(["snapshot", directory, "--root", fake.root])
        #expect(again.status == 64 && again.err.contains("not empty"))
    }
}
