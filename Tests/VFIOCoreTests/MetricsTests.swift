import Testing
@testable import VFIOCore

@Suite("metrics: the exposition format and the last apply's record")
struct MetricsTests {
    static func function(_ address: String, _ classCode: UInt32 = 0x020000, driver: String? = nil, group: Int? = nil) -> PCIFunction {
        var f = PCIFunction(address: PCIAddress(address)!, vendorID: 0x8086, deviceID: 0x10fb, classCode: classCode,
                            sysfsPath: "sys/bus/pci/devices/" + address)
        f.driver = driver
        f.iommuGroup = group
        return f
    }

    static func snapshot(_ functions: [PCIFunction]) -> HostSnapshot {
        HostSnapshot(functions: functions, groups: HostSnapshot.groups(of: functions),
                     iommu: IOMMUState(units: ["dmar0"], groupsDirectoryExists: true, groupCount: 2), cpuVendor: .intel)
    }

    @Test("label values escape backslash, double quote and newline; help text backslash and newline")
    func escaping() {
        var out = Exposition()
        out.family("x_info", "a \\ b\nc \"d\"")
        out.sample("x_info", [("type", "a\\b\"c\nd"), ("plain", "é ok")], 1)
        out.sample("x_seconds", [], value: "1795379200.123")
        #expect(out.text == """
            # HELP x_info a \\\\ b\\nc "d"
            # TYPE x_info gauge
            x_info{type="a\\\\b\\"c\\nd",plain="é ok"} 1
            x_seconds 1795379200.123

            """)
    }

    @Test("a recorded function is vfio, host, unbound or absent by where it is now")
    func recordedState() {
        #expect(HostMetrics.RecordedState(Self.function("0000:01:00.0", driver: "vfio-pci")) == .vfio)
        #expect(HostMetrics.RecordedState(Self.function("0000:01:00.0", driver: "mlx5_vfio_pci")) == .vfio)
        #expect(HostMetrics.RecordedState(Self.function("0000:01:00.0", driver: "e1000e")) == .host)
        #expect(HostMetrics.RecordedState(Self.function("0000:01:00.0")) == .unbound)
        #expect(HostMetrics.RecordedState(nil) == .absent)
    }

    @Test("counts by state always carry every state; VFs in use and mdev types only when they were read")
    func unreadIsLeftOut() {
        var pf = Self.function("0000:05:00.0", driver: "ixgbe", group: 7)
        pf.sriov = SRIOVInfo(totalVFs: 8, numVFs: 1, driversAutoprobe: nil, vfIndices: [0: PCIAddress("0000:05:10.0")!], vfDeviceID: nil,
                             offset: nil, stride: nil)
        var vf = Self.function("0000:05:10.0", driver: "vfio-pci", group: 8)
        vf.physfn = pf.address
        let detached = [FunctionBinding(address: vf.address, group: 8, driver: "ixgbevf", module: "ixgbevf", override: nil),
                        FunctionBinding(address: PCIAddress("0000:09:00.0")!, group: 9, driver: "e1000e", module: nil, override: nil)]
        var facts = HostFacts()
        let unread = HostMetrics.render(MetricsInput(snapshot: Self.snapshot([pf, vf]), facts: facts, detached: detached))
        #expect(unread.contains("vfioctl_sriov_vfio_vfs{pf=\"0000:05:00.0\"} 1\n"))
        #expect(!unread.contains("vfioctl_sriov_in_use_vfs") && !unread.contains("vfioctl_mdev_") && !unread.contains("vfioctl_last_apply"))
        #expect(unread.contains("""
            vfioctl_detached_functions{state="vfio"} 1
            vfioctl_detached_functions{state="host"} 0
            vfioctl_detached_functions{state="unbound"} 0
            vfioctl_detached_functions{state="absent"} 1

            """))
        facts.vfioUsers = [8: [VFIOUser(pid: 42, command: "qemu-system-x86", guest: "vm1")]]
        facts.mdevs = MdevState()
        let read = HostMetrics.render(MetricsInput(snapshot: Self.snapshot([pf, vf]), facts: facts,
                                                   lastApply: LastRun(operation: .apply, ended: 1_795_379_200_007, outcome: .failed, changes: 0)))
        #expect(read.contains("vfioctl_sriov_in_use_vfs{pf=\"0000:05:00.0\"} 1\n"))
        #expect(read.contains("# TYPE vfioctl_mdev_available_instances gauge\n"))
        #expect(read.contains("vfioctl_last_apply_timestamp_seconds 1795379200.007\n") && read.contains("vfioctl_last_apply_success 0\n"))
        // Every family has HELP and TYPE, once, before its samples.
        var declared: [String] = []
        for line in read.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") { declared.append(String(line.split(separator: " ")[2])) } else if !line.hasPrefix("#") {
                let name = String(line.prefix { $0 != "{" && $0 != " " })
                #expect(declared.last == name, "\(line)")
            }
        }
        #expect(Set(declared).count == declared.count)
    }

    @Test("the last apply's record reads back only what it writes")
    func lastRun() throws {
        let run = LastRun(operation: .apply, ended: 1_795_379_200_123, outcome: .ok, changes: 3)
        #expect(run.line == "apply ended=1795379200.123 outcome=ok changes=3")
        #expect(try LastRun.parse(run.fileText, path: "last-apply") == run)
        #expect(LastRun(operation: .apply, ended: 5, outcome: .refused, changes: 0).line == "apply ended=0.005 outcome=refused changes=0")
        for damaged in ["", "apply ended=1795379200.123 outcome=ok changes=3", "apply ended=1795379200 outcome=ok changes=3\n",
                        "apply ended=1795379200.12 outcome=ok changes=3\n", "apply ended=1795379200.123 outcome=maybe changes=3\n",
                        "apply ended=1795379200.123 outcome=ok changes=-1\n", "apply ended=1795379200.123 changes=3 outcome=ok\n",
                        "fly ended=1795379200.123 outcome=ok changes=3\n", "apply ended=1795379200.123 outcome=ok changes=3\nmore\n",
                        "apply  ended=1795379200.123 outcome=ok changes=3\n"] {
            #expect(throws: VFIOError.self, "\(damaged)") { try LastRun.parse(damaged, path: "last-apply") }
        }
    }
}

@Suite("Viability of every group at once")
struct ViabilityVerdictTests {
    @Test("verdicts agree with evaluate group by group, before and after 5.19")
    func agree() {
        var functions: [PCIFunction] = []
        for (address, driver, group, classCode) in [("0000:00:01.0", "pcieport", 1, UInt32(0x060400)), ("0000:01:00.0", "vfio-pci", 1, 0x030000),
                                                    ("0000:01:00.1", "snd_hda_intel", 1, 0x040300), ("0000:02:00.0", nil, 2, 0x020000),
                                                    ("0000:03:00.0", "pci-stub", 3, 0x020000), ("0000:04:00.0", "e1000e", 4, 0x020000),
                                                    ("0000:05:00.0", "mlx5_vfio_pci", 5, 0x020000)] as [(String, String?, Int, UInt32)] {
            functions.append(MetricsTests.function(address, classCode, driver: driver, group: group))
        }
        let snapshot = MetricsTests.snapshot(functions)
        for release in ["6.1.0-56-amd64", "5.10.0-32-amd64"] {
            var facts = HostFacts()
            facts.kernelRelease = release
            let verdicts = Viability.verdicts(snapshot, facts: facts)
            #expect(verdicts.count == snapshot.groups.count)
            for group in snapshot.groups {
                #expect(verdicts[group.id] == Viability.evaluate(group, in: snapshot, facts: facts).viable, "\(release) group \(group.id)")
            }
        }
        #expect(Viability.verdicts(snapshot, facts: HostFacts()) == [1: false, 2: true, 3: true, 4: false, 5: true])
    }
}

@Suite("StubDriver: is this vfio")
struct StubDriverNameTests {
    @Test("a driver is vfio when its name holds 'vfio' anywhere", arguments: [
        ("vfio-pci", true), ("vfio_pci", true), ("mlx5_vfio_pci", true), ("nvgrace_gpu_vfio_pci", true), ("vvfio", true), ("xvfio", true),
        ("vfi", false), ("vfi-o", false), ("VFIO", false), ("nvidia", false), ("", false), ("fio", false), ("vf_io", false),
    ])
    func names(driver: String, vfio: Bool) {
        #expect(StubDriver.isVFIO(driver) == vfio)
        #expect(StubDriver.isVFIO(driver) == driver.contains("vfio"))
    }
}
