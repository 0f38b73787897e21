import Foundation
import Testing
import VFIOCore
import VFIODeviceLayer
import VFIOTestSupport

/// Inside the 'passthrough' boot: every topology, Intel IOMMU with interrupt remapping,
/// intel_iommu=on. vfioctl against the kernel's own sysfs, and against QEMU's verdict.
@Suite("Lab: passthrough boot", .serialized, .enabled(if: Lab.inside("passthrough", "passthrough-6.12", "passthrough-5.10"), Lab.reason))
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
        try Kernel.modprobe("vfio-pci")
        let touched = [isolated, switched] + bridged
        let original = Dictionary(uniqueKeysWithValues: touched.map { ($0, Kernel.driver($0)) })
        defer {
            for address in touched { try? Kernel.restore(address) }
        }

        /// vfioctl check's verdict must be QEMU's, whatever the state.
        func agree(_ address: String, accepted: Bool, _ state: String) throws -> (QEMU.Verdict, CheckVerdict) {
            let qemu = try QEMU.verdict(address)
            let check = try CheckVerdict.of([address])
            #expect(qemu.accepted == accepted, "QEMU, \(state): \(qemu.output)")
            #expect(check.passed == qemu.accepted, "check disagrees with QEMU, \(state): \(check.findings)")
            return (qemu, check)
        }

        // On its host driver: neither QEMU nor check will have it.
        let (_, hosted) = try agree(isolated, accepted: false, "isolated NIC on e1000e")
        #expect(hosted.ids.contains("group.not-viable"))

        // A singleton group bound to vfio-pci.
        try Kernel.bindToVFIO(isolated)
        _ = try agree(isolated, accepted: true, "isolated NIC on vfio-pci")

        // A switch endpoint on vfio-pci while its downstream port (same group) stays on pcieport.
        try Kernel.bindToVFIO(switched)
        let (_, switchCheck) = try agree(switched, accepted: true, "switch endpoint on vfio-pci, port on pcieport")
        #expect(switchCheck.message("group.viable").contains("pcieport"))

        // Half of the bridged group: not viable, and QEMU names the group vfioctl names.
        try Kernel.bindToVFIO(bridged[0])
        let (half, halfCheck) = try agree(bridged[0], accepted: false, "one bridged NIC on vfio-pci")
        let group = try VfioctlJSON.function(bridged[0]).int("iommu_group")
        #expect(QEMU.notViableGroup(half.output) == group, "\(half.output)")
        #expect(halfCheck.message("group.not-viable").contains("\(bridged[1]) (e1000)"))
        // The whole group (the bridge itself has no driver): viable.
        try Kernel.bindToVFIO(bridged[1])
        _ = try agree(bridged[0], accepted: true, "both bridged NICs on vfio-pci")

        // vfioctl sees the bindings as the kernel does.
        for address in touched {
            let f = try VfioctlJSON.function(address)
            #expect(f.string("driver") == "vfio-pci" && f.string("driver_override") == "vfio-pci")
            #expect(f["vfio_device"] as? Bool == true)
        }
        for address in touched { try Kernel.restore(address) }
        for address in touched { #expect(try VfioctlJSON.function(address).string("driver") == original[address] ?? nil) }
    }

    /// The e1000e (8086:10d3) behind a pcie-root-port of its own (1b36:000c): the isolated topology's NIC.
    static func isolatedNIC() throws -> String {
        let functions = try VfioctlJSON.functions()
        func ids(_ f: [String: Any]) -> String { "\(f.string("vendor_id") ?? ""):\(f.string("device_id") ?? "")" }
        guard let nic = functions.first(where: { f in
            ids(f) == "8086:10d3" && functions.contains { $0.string("address") == f.string("parent") && ids($0) == "1b36:000c" }
        })?.string("address") else { throw LabError("no e1000e behind a root port of its own in this boot") }
        return nic
    }

    @Test("export on this kernel: the isolated NIC on vfio-pci is exported with sysfs's ids, subsystem ids and group, and --check finds no drift until the NIC leaves vfio-pci")
    func exportFromKernel() throws {
        let nic = try Self.isolatedNIC()
        defer { try? Kernel.restore(nic) }
        try Kernel.bindToVFIO(nic)
        let group = try #require(Kernel.group(nic))
        let sysfsIDs = "\(Kernel.hex(Kernel.device(nic) + "/vendor") ?? ""):\(Kernel.hex(Kernel.device(nic) + "/device") ?? "")"
        let subsystem = "\(Kernel.hex(Kernel.device(nic) + "/subsystem_vendor") ?? ""):\(Kernel.hex(Kernel.device(nic) + "/subsystem_device") ?? "")"

        let proxmox = try VfioctlJSON.run(["export", "proxmox", nic, "--node", "lab"])
        let entry = try #require((proxmox["entries"] as? [[String: Any]])?.first)
        #expect(entry.string("vendor_device") == sysfsIDs && entry.string("subsystem_id") == subsystem && entry.int("iommu_group") == group, "\(entry)")
        #expect(entry.string("path") == nic, "\(entry)")
        let nova = try VfioctlJSON.run(["export", "nova", nic])
        #expect((nova["functions"] as? [[String: Any]])?.compactMap { $0.string("address") } == [nic], "\(nova)")
        let kubevirt = try VfioctlJSON.run(["export", "kubevirt", nic])
        #expect((kubevirt["entries"] as? [[String: Any]])?.first?.string("pci_vendor_selector") == sysfsIDs, "\(kubevirt)")

        // The text export, checked against the same kernel: no drift; with the NIC back on e1000e, KubeVirt's is drift.
        let directory = NSTemporaryDirectory() + "vfioctl-export-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for format in ["proxmox", "kubevirt", "nova"] {
            let text = try TestProcess.vfioctl(["export", format, nic] + (format == "proxmox" ? ["--node", "lab"] : []))
            #expect(text.status == 0, "\(format): \(text.err)")
            let file = directory + "/" + format
            try text.out.write(toFile: file, atomically: true, encoding: .utf8)
            let checked = try TestProcess.vfioctl(["export", format, "--check", file] + (format == "proxmox" ? ["--node", "lab"] : []))
            #expect(checked.status == 0, "\(format) --check on the kernel it came from: \(checked.out)\(checked.err)")
        }
        // The engines' own code on this kernel's /sys (fixtures/engines): Proxmox's rules find no
        // fault, KubeVirt's schema takes the patch and its discovery offers the NIC's group, nova's
        // parser matches the NIC alone. nova's judge imports nova's whole stack, about a minute
        // under emulation: it runs in the passthrough-6.12 and -5.10 boots (--all), not in CI's
        // passthrough boot (the unit tests run it on every export from fake hosts).
        if !Lab.inside("passthrough") {
            let novaVerdict = try Lab.judge("nova_judge.py", ["/", directory + "/nova"])
            #expect(novaVerdict["error"] == nil && novaVerdict["matched"] as? [String] == [nic], "\(novaVerdict)")
        }
        let proxmoxVerdict = try Lab.judge("proxmox_judge.py", ["/", "lab", directory + "/proxmox"])
        #expect(proxmoxVerdict["errors"] as? [String] == [] && (proxmoxVerdict["invalid"] as? [String: String])?.isEmpty == true, "\(proxmoxVerdict)")
        let schema = try Lab.judge("schema_judge.py", [Lab.repository + "/fixtures/engines/kubevirt/kubevirt-cr.openapi.yaml", directory + "/kubevirt"])
        #expect(schema["errors"] as? [String] == [] && schema["pruned"] as? [String] == [], "\(schema)")
        let offered = try Lab.judge("kubevirt_judge.py", ["/", directory + "/kubevirt"])
        #expect((offered["pci"] as? [String: [Int]])?.values.first == [group], "\(offered)")
        try Kernel.restore(nic)
        let drifted = try TestProcess.vfioctl(["export", "kubevirt", "--check", directory + "/kubevirt", "--format", "json"])
        #expect(drifted.status == 2 && drifted.out.contains("\"export.driver\""), "\(drifted.out)\(drifted.err)")
    }

    @Test("metrics on the running kernel: promtool accepts it; the summary kept in /run/vfioctl follows a bind and an unbind, which the kernel counts as uevents")
    func metricsFollowTheKernel() throws {
        let nic = try Self.isolatedNIC()
        defer { try? Kernel.restore(nic) }
        let cache = "/run/vfioctl/metrics-summary"
        try? FileManager.default.removeItem(atPath: cache)
        /// The driver label of the NIC's vfioctl_pci_function_info line, and the whole text.
        func metrics(_ extra: [String] = []) throws -> (driver: String?, text: String) {
            let result = try TestProcess.vfioctl(["metrics"] + extra)
            guard result.status == 0 else { throw LabError("vfioctl metrics exited \(result.status): \(result.err)") }
            let line = result.out.split(separator: "\n").first { $0.hasPrefix("vfioctl_pci_function_info{") && $0.contains("address=\"\(nic)\"") }
            let driver = line.flatMap { $0.range(of: "driver=\"") }.map { range in String(line![range.upperBound...].prefix { $0 != "\"" }) }
            return (driver, result.out)
        }
        let first = try metrics()
        #expect(first.driver == "e1000e" && Kernel.exists(cache), "\(first.text.prefix(2000))")
        let promtool = try TestProcess.run("promtool", ["check", "metrics"], input: first.text, timeout: 60)
        #expect(promtool.status == 0 && promtool.out.isEmpty && promtool.err.isEmpty, "\(promtool.out)\(promtool.err)")
        #expect(try metrics().driver == "e1000e")

        let before = Kernel.read("/sys/kernel/uevent_seqnum")
        try Kernel.bindToVFIO(nic)
        #expect(Kernel.read("/sys/kernel/uevent_seqnum") != before, "the kernel counts the unbind and the bind as uevents")
        #expect(try metrics().driver == "vfio-pci", "the summary is read again after the bind")
        #expect(try metrics(["--no-cache"]).driver == "vfio-pci")
        try Kernel.restore(nic)
        #expect(try metrics().driver == "e1000e", "and again after the unbind")
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

    @Test("sriov create/destroy on the NVMe PF: VFs on vfio-pci with autoprobe off; the same again changes nothing; in use: refused; the kernel's errnos as SimulatedKernel has them")
    func sriovCreateDestroy() throws {
        let pf = try #require(Kernel.addresses().first { Kernel.exists(Kernel.device($0) + "/sriov_totalvfs") })
        let path = Kernel.device(pf)
        let state = "/tmp/vfioctl-sriov-state"
        func vfioctl(_ arguments: [String]) throws -> TestProcess.Result {
            try TestProcess.run(TestProcess.vfioctl, arguments, environment: ["VFIOCTL_STATE_DIR": state], timeout: 300)
        }
        defer {
            try? Kernel.write("0", to: path + "/sriov_numvfs")
            try? Kernel.write("1", to: path + "/sriov_drivers_autoprobe")
        }
        var created = try vfioctl(["sriov", "create", pf, "--count", "1", "--driver", "none"])
        #expect(created.status == 0 && Kernel.linkName(path + "/virtfn0").flatMap(Kernel.driver) == nil, "\(created.err)")
        let took = try Lab.seconds { created = try vfioctl(["sriov", "create", pf, "--count", "2", "--driver", "none"]) }
        #expect(created.status == 0, "\(created.err)")
        created = try vfioctl(["sriov", "create", pf, "--count", "2"])
        #expect(created.status == 0, "\(created.err)")
        #expect(Kernel.read(path + "/sriov_numvfs") == "2" && Kernel.read(path + "/sriov_drivers_autoprobe") == "0")
        let vfs = (0..<2).compactMap { Kernel.linkName(path + "/virtfn\($0)") }
        #expect(vfs.count == 2 && vfs.allSatisfy { Kernel.driver($0) == "vfio-pci" }, "\(vfs.map { "\($0): \(Kernel.driver($0) ?? "-")" })")
        let again = try vfioctl(["sriov", "create", pf, "--count", "2", "--format", "json"])
        let plan = (try JSONSerialization.jsonObject(with: Data(again.out.utf8)) as? [String: Any])?["plan"] as? [Any]
        #expect(again.status == 0 && plan?.isEmpty == true, "\(again.out)")

        // A "guest" holds VF 0's group open: a new count would destroy it.
        let group = try #require(Kernel.group(vfs[0]))
        let fd = open("/dev/vfio/\(group)", O_RDWR)
        #expect(fd >= 0)
        let refused = try vfioctl(["sriov", "create", pf, "--count", "1"])
        close(fd)
        #expect(refused.status == 2 && refused.out.contains("sriov.vfs-in-use") && refused.out.contains("pid \(getpid())"), "\(refused.out)")
        #expect(Kernel.read(path + "/sriov_numvfs") == "2")

        // What SimulatedKernel stands for: non-zero to non-zero is EBUSY, above total ERANGE.
        #expect(throws: POSIXError(.EBUSY)) { try Kernel.write("1", to: path + "/sriov_numvfs") }
        #expect(throws: POSIXError(.ERANGE)) { try Kernel.write("3", to: path + "/sriov_numvfs") }
        let tooMany = try vfioctl(["sriov", "create", pf, "--count", "3"])
        #expect(tooMany.status == 2 && tooMany.out.contains("supports 1 to 2 VFs"), "\(tooMany.out)")

        let destroyed = try vfioctl(["sriov", "destroy", pf])
        #expect(destroyed.status == 0 && Kernel.read(path + "/sriov_numvfs") == "0" && !Kernel.exists(path + "/virtfn0"), "\(destroyed.err)")
        #expect(!Kernel.exists(state + "/journal"))
        print("lab sriov: 1 -> 2 VFs (through 0, driver none) \(String(format: "%.2f", took)) s")
    }

    @Test("apply a YAML pool on the NVMe PF: VF 0 on vfio-pci, VF 1 without a driver; a second run changes nothing; count above total refused")
    func applyPool() throws {
        let pf = try #require(Kernel.addresses().first { Kernel.exists(Kernel.device($0) + "/sriov_totalvfs") })
        let path = Kernel.device(pf)
        let state = "/tmp/vfioctl-apply-state"
        let file = NSTemporaryDirectory() + "pools-\(getpid()).yaml"
        func vfioctl(_ arguments: [String]) throws -> TestProcess.Result {
            try TestProcess.run(TestProcess.vfioctl, arguments, environment: ["VFIOCTL_STATE_DIR": state], timeout: 300)
        }
        defer {
            try? Kernel.write("0", to: path + "/sriov_numvfs")
            try? Kernel.write("1", to: path + "/sriov_drivers_autoprobe")
            try? FileManager.default.removeItem(atPath: file)
        }
        try "pf:\n  - device: \"\(pf)\"\n    vfs: 2\n    vf:\n      - index: 1\n        driver: none\n".write(toFile: file, atomically: true, encoding: .utf8)
        let dry = try vfioctl(["apply", file, "--dry-run"])
        #expect(dry.status == 0 && dry.out.contains("sriov_numvfs") && Kernel.read(path + "/sriov_numvfs") == "0", "\(dry.out)\(dry.err)")
        var applied = dry
        let took = try Lab.seconds { applied = try vfioctl(["apply", file]) }
        #expect(applied.status == 0, "\(applied.err)")
        #expect(Kernel.read(path + "/sriov_numvfs") == "2" && Kernel.read(path + "/sriov_drivers_autoprobe") == "0")
        let vfs = (0..<2).compactMap { Kernel.linkName(path + "/virtfn\($0)") }
        #expect(vfs.count == 2 && Kernel.driver(vfs[0]) == "vfio-pci" && Kernel.driver(vfs[1]) == nil, "\(vfs.map { "\($0): \(Kernel.driver($0) ?? "-")" })")
        let again = try vfioctl(["apply", file, "--format", "json"])
        let plan = (try JSONSerialization.jsonObject(with: Data(again.out.utf8)) as? [String: Any])?["plan"] as? [Any]
        #expect(again.status == 0 && plan?.isEmpty == true, "\(again.out)")
        try "pf:\n  - device: \"\(pf)\"\n    vfs: 3\n".write(toFile: file, atomically: true, encoding: .utf8)
        let tooMany = try vfioctl(["apply", file])
        #expect(tooMany.status == 2 && tooMany.out.contains("supports at most 2 VFs"), "\(tooMany.out)")
        #expect(Kernel.read(path + "/sriov_numvfs") == "2" && !Kernel.exists(state + "/journal"))
        print("lab apply: NVMe pool 0 -> 2 VFs (vfio-pci + none) \(String(format: "%.2f", took)) s")
    }

    @Test("a snapshot of this kernel's sysfs replays identically with --root")
    func snapshotReplays() throws {
        let directory = NSTemporaryDirectory() + "vfioctl-lab-snapshot-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let made = try TestProcess.vfioctl(["snapshot", directory])
        #expect(made.status == 0, "\(made.err)")
        let last = try #require(Kernel.addresses().last)
        for command in [["list"], ["groups"], ["show", last], ["check", last, "--nested"]] {
            let live = try TestProcess.vfioctl(command + ["--format", "json"])
            let replayed = try TestProcess.vfioctl(command + ["--format", "json", "--root", directory])
            #expect(live.status == replayed.status && replayed.out == live.out, "\(command)")
        }
    }

    @Test("the host-critical guard on this kernel: a mounted filesystem, swap, an interface with an address")
    func hostCriticalGuard() throws {
        let functions = try VfioctlJSON.functions()
        // The nvme-disk topology's namespace (the AHCI controller's CD-ROM has no medium).
        let disk = try #require(functions.first { ($0["block_devices"] as? [String])?.contains { $0.hasPrefix("nvme") } == true })
        let address = try #require(disk.string("address"))
        let name = try #require((disk["block_devices"] as? [String])?.first { $0.hasPrefix("nvme") })
        #expect(try CheckVerdict.of([address]).ids.contains("device.host-critical") == false, "an idle disk is not critical")

        let mkfs = try TestProcess.run("mkfs.ext4", ["-q", "-F", "/dev/\(name)"])
        try #require(mkfs.status == 0, "\(mkfs.err)")
        let mountPoint = NSTemporaryDirectory() + "vfioctl-lab-mount"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        try #require(try TestProcess.run("mount", ["/dev/\(name)", mountPoint]).status == 0)
        let mounted = try CheckVerdict.of([address])
        _ = try TestProcess.run("umount", [mountPoint])
        #expect(!mounted.passed)
        #expect(mounted.message("device.host-critical").contains("a mounted ext4 filesystem (\(mountPoint)) on \(name)"))

        try #require(try TestProcess.run("mkswap", ["/dev/\(name)"]).status == 0)
        try #require(try TestProcess.run("swapon", ["/dev/\(name)"]).status == 0)
        let swapping = try CheckVerdict.of([address])
        _ = try TestProcess.run("swapoff", ["/dev/\(name)"])
        #expect(swapping.message("device.host-critical").contains("swap on \(name)"))
        #expect(!(try CheckVerdict.of([address]).ids.contains("device.host-critical")))

        // A NIC with an address and the route that comes with it.
        let nic = try #require(functions.first { f in
            f.string("device_id") == "10d3" && (f["net_interfaces"] as? [String])?.isEmpty == false
        })
        let interface = try #require((nic["net_interfaces"] as? [String])?.first)
        let nicAddress = try #require(nic.string("address"))
        try #require(try TestProcess.run("ip", ["link", "set", interface, "up"]).status == 0)
        try #require(try TestProcess.run("ip", ["address", "add", "192.0.2.10/24", "dev", interface]).status == 0)
        let addressed = try CheckVerdict.of([nicAddress])
        _ = try TestProcess.run("ip", ["address", "flush", "dev", interface])
        _ = try TestProcess.run("ip", ["link", "set", interface, "down"])
        let message = addressed.message("device.host-critical")
        #expect(message.contains("\(interface) has addresses 192.0.2.10/24"), "\(addressed.findings)")
        #expect(message.contains("\(interface) carries routes"), "\(addressed.findings)")
    }

    @Test("iommufd: not available on Debian's kernels, and why (6.1, 5.10: too old; 6.12: built without it); no cdev; QEMU agrees")
    func iommufdUnavailable() throws {
        try Kernel.modprobe("vfio-pci")
        let release = try #require(Kernel.read("/proc/sys/kernel/osrelease")?.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(!Kernel.exists("/dev/iommu") && !Kernel.exists("/dev/vfio/devices"))
        let host = try CheckVerdict.of([])
        let finding = try #require(host.findings.first { $0["id"] as? String == "iommufd.unavailable" }, "\(host.findings)")
        #expect(finding["severity"] as? String == "info" && !host.ids.contains("iommufd.available"))
        let message = host.message("iommufd.unavailable")
        if release.hasPrefix("6.12.") {
            // Debian's 6.12 config: "# CONFIG_IOMMUFD is not set", read from /boot/config-RELEASE.
            #expect(Kernel.read("/boot/config-" + release)?.contains("# CONFIG_IOMMUFD is not set") == true)
            #expect(message.contains("built without it (# CONFIG_IOMMUFD is not set in /boot/config-\(release))"), "\(message)")
        } else {
            #expect(release.hasPrefix("6.1.") || release.hasPrefix("5.10."), "\(release)")
            #expect(message.contains("Linux \(release) predates it"), "\(message)")
        }

        // A function on vfio-pci has no cdev on these kernels (6.1 and 6.12: vfio-dev/vfioN without `dev`).
        let functions = try VfioctlJSON.functions()
        let nic = try #require(functions.first { f in
            f.string("vendor_id") == "8086" && f.string("device_id") == "10d3" && f.string("driver") == "e1000e"
        }?.string("address"))
        defer { try? Kernel.restore(nic) }
        try Kernel.bindToVFIO(nic)
        let vfioDev = Kernel.device(nic) + "/vfio-dev"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: vfioDev)) ?? [] {
            #expect(!Kernel.exists(vfioDev + "/" + name + "/dev"), "\(name) has a cdev on \(release)")
        }
        let f = try VfioctlJSON.function(nic)
        #expect(f["vfio_device"] as? Bool == true && f["vfio_cdev"] is NSNull, "\(f)")
        #expect(try !CheckVerdict.of([nic]).ids.contains("vfio.cdev"))

        // xml qemu-args --iommufd refuses with the same reason, and QEMU indeed fails: QEMU 10 opens
        // /dev/iommu lazily and stops first at the missing cdev ("failed to load
        // .../vfio-dev/vfio0/dev", seen on 6.1), the evidence vfio_cdev: null stands for.
        let refused = try TestProcess.vfioctl(["xml", "qemu-args", nic, "--iommufd"])
        #expect(refused.status == 2 && refused.err.contains("error: --iommufd: " + message), "\(refused.err)")
        let plain = try TestProcess.vfioctl(["xml", "qemu-args", nic])
        #expect(plain.status == 0 && plain.out == "-device vfio-pci,host=\(nic)\n")
        let qemu = try TestProcess.run("qemu-system-x86_64", [
            "-machine", "pc,accel=tcg", "-m", "64", "-nodefaults", "-display", "none", "-S", "-qmp", "stdio",
            "-object", "iommufd,id=iommufd0", "-device", "vfio-pci,host=\(nic),iommufd=iommufd0",
        ], input: #"{"execute":"qmp_capabilities"}{"execute":"quit"}"#, timeout: 180)
        let said = qemu.out + qemu.err
        #expect(qemu.status != 0 && (said.contains("/dev/iommu") || said.contains("vfio-dev")), "\(said)")
    }

    @Test("check on the host: IOMMU on, interrupt remapping active")
    func hostReady() throws {
        try Kernel.modprobe("vfio-pci")
        let host = try CheckVerdict.of([])
        #expect(host.passed, "\(host.findings)")
        #expect(host.ids.contains("iommu.enabled") && host.ids.contains("irq-remap.active"))
        #expect(host.message("irq-remap.active").contains("IR-"))
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

    /// The facts of issue 18 read from the kernel's own files: every function's BARs (with sizes,
    /// from `resource`), link, MSI/MSI-X, ACS, SR-IOV, serial number and Resizable BAR equal
    /// what `lspci -vvv` prints for it, and `show`'s JSON carries the same link and BARs.
    @Test("the capability facts and BARs equal lspci -vvv's on every function")
    func agreesWithLspci() throws {
        let observed = try DeviceLayer(root: .live).observe(ObservationScope(regions: true)).snapshot
        let lspci = try TestProcess.run("lspci", ["-D", "-vvv"])
        #expect(lspci.status == 0, "\(lspci.err)")
        let theirs = LspciFacts.parse(lspci.out)
        #expect(Set(theirs.keys) == Set(observed.functions.map(\.address)))
        for f in observed.functions {
            #expect(LspciFacts.of(f) == theirs[f.address], "\(f.address) \(f.ids)")
            #expect(f.capabilities?.listReadable == true, "\(f.address): as root the capability list is readable")
        }
        let endpoint = try #require(observed.functions.first { $0.link != nil && !$0.isBridge && !($0.bars ?? []).isEmpty })
        let shown = try #require(try VfioctlJSON.run(["show", endpoint.address.description])["function"] as? [String: Any])
        let link = try #require(shown["link"] as? [String: Any])
        #expect(link.int("max_width") == endpoint.link?.maxWidth && link.int("width") == endpoint.link?.width)
        let bars = try #require(shown["bars"] as? [[String: Any]])
        #expect(bars.map { $0.int("size") } == (endpoint.bars ?? []).map { $0.size.map(Int.init) })
    }

    /// Resets as this kernel does them, whatever its age: where it lists reset_method (5.15 and
    /// later) an FLR-capable function resets on its own; where it has only a `reset` attribute
    /// (5.10) vfioctl reads the methods from config space and says so; nothing with a `reset`
    /// attribute is called unresettable, and no finding lists an empty method list.
    @Test("check's reset findings follow the kernel's reset_method or, before 5.15, its reset attribute")
    func resetsAsTheKernelDoesThem() throws {
        let endpoints = try VfioctlJSON.functions().filter { $0["is_bridge"] as? Bool == false && $0.string("physfn") == nil }
            .compactMap { $0.string("address") }
        let verdict = try CheckVerdict.of(endpoints)
        for address in endpoints {
            let path = Kernel.device(address)
            let resets = verdict.findings.filter { ($0["id"] as? String)?.hasPrefix("reset.") == true && $0["subject"] as? String == address }
            let ids = resets.compactMap { $0["id"] as? String }.filter { $0 != "reset.amd-reset-bug" }
            #expect(ids.count == 1, "\(address): \(ids)")
            for finding in resets {
                let message = finding["message"] as? String ?? ""
                #expect(!message.contains("only by  ") && !message.hasSuffix("only by ") && !message.contains("()"), "\(address): \(message)")
            }
            if Kernel.exists(path + "/reset") { #expect(!ids.contains("reset.none"), "\(address) has a reset attribute") }
            if let listed = Kernel.read(path + "/reset_method") {
                if listed.split(separator: " ").contains("flr") { #expect(ids == ["reset.function-level"], "\(address): \(listed)") }
            } else if Kernel.exists(path + "/reset"), ids == ["reset.function-level"] {
                let message = resets.first { $0["id"] as? String == "reset.function-level" }?["message"] as? String ?? ""
                #expect(message.contains("this kernel lists no reset_method"), "\(address): \(message)")
            }
        }
        // The lab's NVMe controllers and e1000e NICs have FLR in config space: on every kernel age
        // at least one function resets on its own.
        #expect(verdict.ids.contains("reset.function-level"), "\(verdict.ids)")
    }
}
