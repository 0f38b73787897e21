import Foundation
import Testing
import VFIOCore
import VFIOTestSupport

/// Inside the 'passthrough' boot: every topology, Intel IOMMU with interrupt remapping,
/// intel_iommu=on. vfioctl against the kernel's own sysfs, and against QEMU's verdict.
@Suite("Lab: passthrough boot", .serialized, .enabled(if: Lab.inside("passthrough"), Lab.reason))
struct PassthroughBootTests {
    @Test("list agrees with sysfs on every function")
    func listMatchesSysfs() throws {
        let functions = try VfioctlJSON.functions()
        #expect(functions.map { $0.string("address") ?? "" } == Kernel.addresses())
        for f in functions {
            let address = try #require(f.string("address"))
            let path = Kernel.device(address)
            #expect(f.string("vendor_id") == Kernel.hex(path + "/vendor"), "\(address)")
            #expect(f.string("device_id") == Kernel.hex(path + "/device"), "\(address)")
            #expect(f.string("class") == Kernel.hex(path + "/class"), "\(address)")
            #expect(f.string("driver") == Kernel.driver(address), "\(address)")
            let override = Kernel.read(path + "/driver_override")
            #expect(f.string("driver_override") == (override == "(null)" ? nil : override), "\(address)")
            #expect(f.int("iommu_group") == Kernel.group(address), "\(address)")
            let numa = Kernel.read(path + "/numa_node").flatMap { Int($0) }
            #expect(f.int("numa_node") == ((numa ?? -1) < 0 ? nil : numa), "\(address)")
            #expect(f.string("physfn") == Kernel.linkName(path + "/physfn"), "\(address)")
            let methods = Kernel.read(path + "/reset_method")?.split(separator: " ").map(String.init) ?? []
            #expect(f["reset_methods"] as? [String] == methods, "\(address)")
            let isBridge = ["0604", "0607", "0609"].contains(String((Kernel.hex(path + "/class") ?? "").prefix(4)))
            #expect(f["is_bridge"] as? Bool == isBridge, "\(address)")
            let sriov = f["sriov"] as? [String: Any]
            #expect(sriov?["total_vfs"] as? Int == Kernel.read(path + "/sriov_totalvfs").flatMap { Int($0) }, "\(address)")
            // As root, the whole PCIe config space is readable.
            let capabilities = f["capabilities"] as? [String: Any]
            let configSize = (try? FileManager.default.attributesOfItem(atPath: path + "/config")[.size] as? Int) ?? nil
            #expect(capabilities?["config_bytes"] as? Int == configSize, "\(address)")
        }
    }

    @Test("groups agrees with /sys/kernel/iommu_groups")
    func groupsMatchKernel() throws {
        let document = try VfioctlJSON.run(["groups"])
        let groups = try #require(document["groups"] as? [[String: Any]])
        let kernel = Kernel.groups()
        #expect(groups.map { $0.int("id") ?? -1 } == kernel.keys.sorted())
        for group in groups {
            let id = try #require(group.int("id"))
            let members = (group["functions"] as? [[String: Any]])?.compactMap { $0.string("address") } ?? []
            #expect(members.sorted() == kernel[id], "group \(id)")
            #expect(group.string("type") == Kernel.read("/sys/kernel/iommu_groups/\(id)/type"), "group \(id)")
        }
        #expect((document["iommu"] as? [String: Any])?["enabled"] as? Bool == true)
    }

    @Test("the topologies form the groups the kernel is known to form")
    func topologyGroups() throws {
        let functions = try VfioctlJSON.functions()
        func ids(_ f: [String: Any]) -> String { "\(f.string("vendor_id") ?? ""):\(f.string("device_id") ?? "")" }
        func byParentIDs(_ parentIDs: String) -> [[String: Any]] {
            functions.filter { f in functions.contains { $0.string("address") == f.string("parent") && ids($0) == parentIDs } }
        }
        func members(_ group: Int?) -> Set<String> {
            Set(functions.filter { $0.int("iommu_group") == group }.compactMap { $0.string("address") })
        }
        // Conventional PCI bridge: the bridge and both NICs behind it, one group.
        let bridge = try #require(functions.first { ids($0) == "1b36:0001" })
        let bridged = byParentIDs("1b36:0001")
        #expect(bridged.count == 2)
        #expect(members(bridge.int("iommu_group")) == Set([bridge.string("address")!] + bridged.compactMap { $0.string("address") }))
        // Root-bus multifunction device: both functions, one group, no one else.
        let multifunction = functions.filter { ids($0) == "8086:100e" && $0.string("parent") == nil }
        #expect(multifunction.count == 2)
        #expect(Set(multifunction.compactMap { $0.int("iommu_group") }).count == 1)
        #expect(members(multifunction.first?.int("iommu_group")) == Set(multifunction.compactMap { $0.string("address") }))
        #expect(multifunction.allSatisfy { $0["multifunction"] as? Bool == true })
        // Endpoints behind root ports: alone in their groups.
        let isolated = byParentIDs("1b36:000c").filter { ids($0) == "8086:10d3" }
        #expect(isolated.count == 2)
        for f in isolated { #expect(members(f.int("iommu_group")) == [f.string("address")!]) }
        // Behind a switch downstream port without ACS: the port and its endpoint.
        let switched = byParentIDs("104c:8233")
        #expect(switched.count == 2)
        for f in switched {
            #expect(members(f.int("iommu_group")) == Set([f.string("address")!, f.string("parent")!]))
            #expect(functions.first { $0.string("address") == f.string("parent") }?.string("pcie_type") == "downstream_port")
        }
        // The NVMe controller with SR-IOV: alone, 2 VFs possible, none yet.
        let nvme = try #require(functions.first { ids($0) == "1b36:0010" })
        #expect(members(nvme.int("iommu_group")) == [nvme.string("address")!])
        #expect((nvme["sriov"] as? [String: Any])?["total_vfs"] as? Int == 2)
    }

    @Test("QEMU accepts what is viable, and refuses a half-bound group with the number vfioctl reports")
    func qemuVerdicts() throws {
        let functions = try VfioctlJSON.functions()
        func ids(_ f: [String: Any]) -> String { "\(f.string("vendor_id") ?? ""):\(f.string("device_id") ?? "")" }
        let bridgeAddress = try #require(functions.first { ids($0) == "1b36:0001" }?.string("address"))
        let bridged = functions.filter { $0.string("parent") == bridgeAddress }.compactMap { $0.string("address") }
        let isolated = try #require(functions.first { f in
            ids(f) == "8086:10d3" && functions.contains { $0.string("address") == f.string("parent") && ids($0) == "1b36:000c" }
        }?.string("address"))
        let switched = try #require(functions.first { f in
            functions.contains { $0.string("address") == f.string("parent") && ids($0) == "104c:8233" }
        }?.string("address"))
        let touched = [isolated, switched] + bridged
        let original = Dictionary(uniqueKeysWithValues: touched.map { ($0, Kernel.driver($0)) })
        defer {
            for address in touched { try? Kernel.restore(address) }
        }

        // A singleton group bound to vfio-pci.
        try Kernel.bindToVFIO(isolated)
        #expect(try QEMU.verdict(isolated).accepted)

        // A switch endpoint on vfio-pci while its downstream port (same group) stays on pcieport.
        try Kernel.bindToVFIO(switched)
        let switchVerdict = try QEMU.verdict(switched)
        #expect(switchVerdict.accepted, "\(switchVerdict.output)")

        // Half of the bridged group: not viable, and QEMU names the group vfioctl names.
        try Kernel.bindToVFIO(bridged[0])
        let half = try QEMU.verdict(bridged[0])
        #expect(!half.accepted)
        let group = try VfioctlJSON.function(bridged[0]).int("iommu_group")
        #expect(QEMU.notViableGroup(half.output) == group, "\(half.output)")
        // The whole group (the bridge itself has no driver): viable.
        try Kernel.bindToVFIO(bridged[1])
        let whole = try QEMU.verdict(bridged[0])
        #expect(whole.accepted, "\(whole.output)")

        // vfioctl sees the bindings as the kernel does.
        for address in touched {
            let f = try VfioctlJSON.function(address)
            #expect(f.string("driver") == "vfio-pci" && f.string("driver_override") == "vfio-pci")
            #expect(f["vfio_device"] as? Bool == true)
        }
        for address in touched { try Kernel.restore(address) }
        for address in touched { #expect(try VfioctlJSON.function(address).string("driver") == original[address] ?? nil) }
    }

    @Test("SR-IOV: VFs the kernel creates appear with their PF links, indices and groups")
    func sriovVirtualFunctions() throws {
        let pf = try #require(Kernel.addresses().first { Kernel.exists(Kernel.device($0) + "/sriov_totalvfs") })
        let path = Kernel.device(pf)
        defer { try? Kernel.write("0", to: path + "/sriov_numvfs") }
        try Kernel.write("0", to: path + "/sriov_drivers_autoprobe")
        try Kernel.write("2", to: path + "/sriov_numvfs")
        let vfs = (0..<2).compactMap { Kernel.linkName(path + "/virtfn\($0)") }
        #expect(vfs.count == 2)
        let document = try VfioctlJSON.function(pf)
        let sriov = try #require(document["sriov"] as? [String: Any])
        #expect(sriov["num_vfs"] as? Int == 2 && sriov["total_vfs"] as? Int == 2)
        #expect(sriov["drivers_autoprobe"] as? Bool == false)
        #expect(sriov["vfs"] as? [String] == vfs.sorted())
        for (index, vf) in vfs.enumerated() {
            let f = try VfioctlJSON.function(vf)
            #expect(f.string("physfn") == pf && f.int("vf_index") == index)
            #expect(f.string("driver") == nil, "autoprobe is off: no driver binds")
            #expect(f.int("iommu_group") == Kernel.group(vf) && f.int("iommu_group") != nil)
            #expect(f.string("vendor_id") == "1b36")
        }
        try Kernel.write("0", to: path + "/sriov_numvfs")
        try Kernel.write("1", to: path + "/sriov_drivers_autoprobe")
        #expect((try VfioctlJSON.function(pf)["sriov"] as? [String: Any])?["num_vfs"] as? Int == 0)
    }

    @Test("a snapshot of this kernel's sysfs replays identically with --root")
    func snapshotReplays() throws {
        let directory = NSTemporaryDirectory() + "vfioctl-lab-snapshot-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let made = try TestProcess.vfioctl(["snapshot", directory])
        #expect(made.status == 0, "\(made.err)")
        for command in [["list"], ["groups"], ["show", try #require(Kernel.addresses().last)]] {
            let live = try TestProcess.vfioctl(command + ["--format", "json"])
            let replayed = try TestProcess.vfioctl(command + ["--format", "json", "--root", directory])
            #expect(live.status == 0 && replayed.out == live.out, "\(command)")
        }
    }

    @Test("show: the upstream path is the chain of bridges the kernel's device path names")
    func upstreamPath() throws {
        // One function per kind of place: root bus, behind a root port, a PCI bridge, a switch.
        let functions = try VfioctlJSON.functions()
        var picked: [String] = []
        for parentIDs in [nil, "1b36:000c", "1b36:0001", "104c:8233"] as [String?] {
            let f = functions.first { f in
                guard let parent = f.string("parent") else { return parentIDs == nil }
                return functions.contains { $0.string("address") == parent
                    && "\($0.string("vendor_id") ?? ""):\($0.string("device_id") ?? "")" == parentIDs }
            }
            picked.append(try #require(f?.string("address"), "no function below \(parentIDs ?? "the root bus")"))
        }
        for address in picked {
            let real = try FileManager.default.destinationOfSymbolicLink(atPath: Kernel.device(address))
            let chain = real.split(separator: "/").map(String.init).filter { PCIAddress($0) != nil && !$0.hasPrefix("pci") }
            let expected = Array(chain.dropLast().reversed())
            let shown = try VfioctlJSON.run(["show", address])
            #expect(shown["upstream_path"] as? [String] == expected, "\(address)")
        }
    }
}
