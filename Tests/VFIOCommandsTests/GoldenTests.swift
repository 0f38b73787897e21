import Foundation
import Testing
import VFIOActuator
import VFIOCommands
import VFIOCore
import VFIODeviceLayer
import VFIOTestSupport

/// Every command with JSON output, run in process on the command tests' fake hosts (changing
/// commands against the simulated driver core and the recording netlink seam), its stdout
/// compared byte for byte with Golden/<name>.json after `Golden.normalise`. A renamed, dropped
/// or added key fails here; docs/json.md is checked against the same files (GoldenDocTests).
@Suite("golden JSON documents")
struct GoldenTests {
    typealias Host = BindingCommandTests.Host

    /// One golden document: `command` as docs/json.md's table names it, the exit status it must
    /// have, and how to get it.
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var command: String
        var status: Int32
        var run: @Sendable () throws -> Golden.Run
        var testDescription: String { name }
    }

    /// A host of the command tests; `before` runs first (each must succeed), then `arguments`
    /// with `--format json`.
    static func run(_ host: BindingCommandTests.Host, before: [[String]] = [], crash: (arguments: [String], after: Int)? = nil,
                    _ arguments: [String]) -> Golden.Run {
        var host = host
        host.pciIDs = Golden.pciIDs
        defer { host.fake.remove() }
        for step in before {
            let result = host.run(step)
            if result.status != 0 { Issue.record("\(step) before the golden run: status \(result.status)\n\(result.err)") }
        }
        if let crash {
            let result = host.run(crash.arguments, crash: JournalCrash(after: crash.after, mode: .interrupt))
            if result.status == 0 { Issue.record("\(crash.arguments) was to be interrupted but finished") }
        }
        let result = host.run(arguments + ["--format", "json"])
        return Golden.Run(status: result.status, out: result.out, err: result.err, root: host.fake.root)
    }

    /// A command on a fake tree that needs no simulated kernel.
    static func run(_ fake: FakeSysfs, _ arguments: [String], cpuid: (any CPUIDReading)? = nil) -> Golden.Run {
        defer { fake.remove() }
        let result = Vfioctl.capture(arguments + ["--format", "json", "--root", fake.root], invocation: Invocation(pciIDs: Golden.pciIDs, cpuid: cpuid))
        return Golden.Run(status: result.status, out: result.out, err: result.err, root: fake.root)
    }

    static func pool(_ host: BindingCommandTests.Host, _ text: String) -> String {
        (try? ApplyCommandTests.write(text, in: host)) ?? "/nonexistent"
    }

    /// The persist records of group 3 with the second function's IDs changed: the set is refused.
    static func changedPersistRecord(_ host: BindingCommandTests.Host) -> BindingCommandTests.Host {
        _ = host.run(["persist", "0000:02:01.0", "--write"])
        let path = host.fake.root + "/etc/vfioctl/persist.conf"
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let lines = text.components(separatedBy: "\n").map {
            $0.contains("address=0000:02:02.0") ? $0.replacingOccurrences(of: "id=8086:100e", with: "id=8086:10d3") : $0
        }
        try? lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return host
    }

    static let set = ["sriov", "set", "enp5s0f0", "--vf", "0", "--trust", "on", "--mac", "52:54:00:aa:bb:01", "--vlan", "100", "--qos", "3"]

    static let cases: [Case] = [
        // Reading commands on the check host (every kind of function) or no IOMMU at all.
        Case(name: "list", command: "list", status: 0) { run(checkHost(), ["list"]) },
        Case(name: "groups", command: "groups", status: 0) { run(checkHost(), ["groups"]) },
        Case(name: "groups-no-iommu", command: "groups", status: 0) { run(GoldenHosts.noIOMMU(), ["groups"]) },
        // Mediated devices: mtty as Linux 6.1 lays it out, one mdev made by vfioctl and one defined by mdevctl.
        Case(name: "mdev-types", command: "mdev types", status: 0) { run(try GoldenHosts.mdev(), ["mdev", "types"]) },
        Case(name: "mdev-list", command: "mdev list", status: 0) {
            run(try GoldenHosts.mdev(holder: true), before: [["mdev", "create", "mtty", "--type", "mtty-2", "--uuid", GoldenHosts.mdevUUID]], ["mdev", "list"])
        },
        Case(name: "list-mdev", command: "list", status: 0) {
            run(try GoldenHosts.mdev(), before: [["mdev", "create", "mtty", "--type", "mtty-2", "--uuid", GoldenHosts.mdevUUID]], ["list", "--group", "61"])
        },
        Case(name: "groups-mdev", command: "groups", status: 0) {
            run(try GoldenHosts.mdev(), before: [["mdev", "create", "mtty", "--type", "mtty-2", "--uuid", GoldenHosts.mdevUUID]], ["groups"])
        },
        Case(name: "mdev-create", command: "mdev create", status: 0) {
            run(try GoldenHosts.mdev(), ["mdev", "create", "mtty", "--type", "mtty-1", "--uuid", GoldenHosts.mdevUUID, "--persist"])
        },
        Case(name: "mdev-create-refused", command: "mdev create", status: 2) {
            run(try GoldenHosts.mdev(), before: [["mdev", "create", "mtty", "--type", "mtty-2", "--uuid", GoldenHosts.mdevUUID]],
                ["mdev", "create", "mtty", "--type", "mtty-1", "--uuid", GoldenHosts.mdevUUID])
        },
        Case(name: "mdev-remove", command: "mdev remove", status: 0) {
            run(try GoldenHosts.mdev(), before: [["mdev", "create", "mtty", "--type", "mtty-1", "--uuid", GoldenHosts.mdevUUID, "--persist"]],
                ["mdev", "remove", GoldenHosts.mdevUUID])
        },
        Case(name: "show", command: "show", status: 0) { run(checkHost(), ["show", "0000:01:00.0"]) },
        Case(name: "show-pf", command: "show", status: 0) { run(checkHost(), ["show", "0000:05:00.0"]) },
        Case(name: "show-port", command: "show", status: 0) { run(checkHost(), ["show", "0000:00:1c.0"]) },
        Case(name: "show-gpu", command: "show", status: 0) { run(checkHost(), ["show", "0000:04:00.0"]) },
        // With a module index (made by depmod): the modules that could drive the NIC.
        Case(name: "show-modules", command: "show", status: 0) {
            run(checkHost { $0.moduleAliases = GoldenHosts.moduleAliases }, ["show", "0000:01:00.0"])
        },
        Case(name: "check-pass", command: "check", status: 0) { run(checkHost(), ["check", "0000:05:10.0"]) },
        Case(name: "check-fail", command: "check", status: 2) { run(checkHost(), ["check", "0000:03:00.0", "--group", "3"]) },
        Case(name: "config-status", command: "config status", status: 0) { run(GoldenHosts.config(), ["config", "status"]) },
        // The config edits: a diff, a write (its backup), a file already so; and with nothing to write.
        Case(name: "config-cmdline", command: "config cmdline", status: 0) { run(GoldenHosts.grubWithout(), ["config", "cmdline"]) },
        Case(name: "config-cmdline-write", command: "config cmdline", status: 0) {
            run(GoldenHosts.grubWithout(), ["config", "cmdline", "--write"])
        },
        Case(name: "config-modprobe", command: "config modprobe", status: 0) {
            run(GoldenHosts.config(), ["config", "modprobe", "--vfio-ids", "10de:1b80", "--nested"])
        },
        Case(name: "config-initramfs", command: "config initramfs", status: 0) { run(GoldenHosts.config(), ["config", "initramfs"]) },
        Case(name: "config-initramfs-none", command: "config initramfs", status: 0) { run(GoldenHosts.noIOMMU(), ["config", "initramfs"]) },

        // detach, reattach, recover against the simulated driver core.
        Case(name: "detach-dry-run", command: "detach", status: 0) { run(try Host(), ["detach", "--group", "3", "--dry-run"]) },
        Case(name: "detach", command: "detach", status: 0) { run(try Host(), ["detach", "--group", "3"]) },
        Case(name: "detach-refused", command: "detach", status: 2) { run(try Host(), ["detach", "0000:03:00.0"]) },
        Case(name: "reattach-dry-run", command: "reattach", status: 0) {
            run(try Host(), before: [["detach", "--group", "3"]], ["reattach", "--group", "3", "--dry-run"])
        },
        Case(name: "reattach", command: "reattach", status: 0) {
            run(try Host(), before: [["detach", "--group", "3"]], ["reattach", "--group", "3"])
        },
        Case(name: "reattach-refused", command: "reattach", status: 2) {
            run(try Host { $0.vfioUsers = GoldenHosts.guest(group: 8) }, ["reattach", "0000:05:10.0"])
        },
        Case(name: "recover-none", command: "recover", status: 0) { run(try Host(), ["recover"]) },
        Case(name: "recover-dry-run", command: "recover", status: 0) {
            run(try Host(), crash: (["detach", "--group", "3"], 19), ["recover", "--dry-run"])
        },
        Case(name: "recover", command: "recover", status: 0) { run(try Host(), crash: (["detach", "--group", "3"], 19), ["recover"]) },
        Case(name: "recover-finish", command: "recover", status: 0) {
            run(try Host(), crash: (["detach", "--group", "3"], 19), ["recover", "--finish"])
        },

        // persist: records of group 3, then status and apply.
        Case(name: "persist-add", command: "persist add", status: 0) { run(try Host(), ["persist", "0000:02:01.0"]) },
        Case(name: "persist-remove", command: "persist remove", status: 0) {
            run(try Host(), before: [["persist", "0000:02:01.0", "--write"]], ["persist", "remove", "0000:02:01.0", "--write"])
        },
        Case(name: "persist-status", command: "persist status", status: 0) {
            run(try Host(), before: [["persist", "0000:02:01.0", "--write"]], ["persist", "status"])
        },
        Case(name: "persist-status-refused", command: "persist status", status: 1) {
            run(changedPersistRecord(try Host()), ["persist", "status"])
        },
        Case(name: "persist-apply-dry-run", command: "persist apply", status: 0) {
            run(try Host(), before: [["persist", "0000:02:01.0", "--write"]], ["persist", "apply", "--dry-run"])
        },
        Case(name: "persist-apply", command: "persist apply", status: 0) {
            run(try Host(), before: [["persist", "0000:02:01.0", "--write"]], ["persist", "apply"])
        },
        Case(name: "persist-apply-mismatch", command: "persist apply", status: 1) {
            run(changedPersistRecord(try Host()), ["persist", "apply"])
        },
        Case(name: "persist-apply-refused", command: "persist apply", status: 2) {
            let host = try Host()
            host.fake.write("etc/vfioctl/persist.conf", """
                set=0000:03:00.0 address=0000:03:00.0 devpath=/devices/pci0000:00/0000:00:1d.0/0000:03:00.0 id=144d:a80a \
                subsystem=0000:0000 class=0x010802 driver=nvme

                """)
            return run(host, ["persist", "apply"])
        },

        // sriov on the ixgbe-like host, VF attributes over the recording netlink.
        Case(name: "sriov-status", command: "sriov status", status: 0) { run(try SRIOVSetTests.host(), ["sriov", "status"]) },
        Case(name: "sriov-create-dry-run", command: "sriov create", status: 0) {
            run(try SRIOVSetTests.host(), ["sriov", "create", "enp5s0f0", "--count", "2", "--dry-run"])
        },
        Case(name: "sriov-create", command: "sriov create", status: 0) {
            run(try SRIOVSetTests.host(), ["sriov", "create", "enp5s0f0", "--count", "2"])
        },
        Case(name: "sriov-create-refused", command: "sriov create", status: 2) {
            run(try SRIOVCommandTests.host(users: true), ["sriov", "create", "enp5s0f0", "--count", "2"])
        },
        Case(name: "sriov-destroy-dry-run", command: "sriov destroy", status: 0) {
            run(try SRIOVSetTests.host(), ["sriov", "destroy", "enp5s0f0", "--dry-run"])
        },
        Case(name: "sriov-destroy", command: "sriov destroy", status: 0) { run(try SRIOVSetTests.host(), ["sriov", "destroy", "enp5s0f0"]) },
        Case(name: "sriov-destroy-refused", command: "sriov destroy", status: 2) {
            run(try SRIOVCommandTests.host(users: true), ["sriov", "destroy", "enp5s0f0"])
        },
        Case(name: "sriov-set-dry-run", command: "sriov set", status: 0) { run(try SRIOVSetTests.host(), set + ["--dry-run"]) },
        Case(name: "sriov-set", command: "sriov set", status: 0) { run(try SRIOVSetTests.host(), set) },
        Case(name: "sriov-set-refused", command: "sriov set", status: 2) {
            run(try SRIOVSetTests.host(otherMAC: "52:54:00:aa:bb:01"), set)
        },
        Case(name: "sriov-restore-dry-run", command: "sriov restore", status: 0) {
            run(try SRIOVSetTests.host(), before: [set], ["sriov", "restore", "enp5s0f0", "--dry-run"])
        },
        Case(name: "sriov-restore", command: "sriov restore", status: 0) {
            run(try SRIOVSetTests.host(), before: [set], ["sriov", "restore", "enp5s0f0"])
        },
        Case(name: "sriov-restore-unrecorded", command: "sriov restore", status: 0) {
            run(try SRIOVSetTests.host(), before: [set], ["sriov", "restore", "enp5s0f0", "--vf", "3"])
        },

        // apply: ApplyCommandTests' pool file.
        Case(name: "apply-dry-run", command: "apply", status: 0) {
            let host = try ApplyCommandTests.host()
            return run(host, ["apply", pool(host, ApplyCommandTests.pool), "--dry-run"])
        },
        Case(name: "apply", command: "apply", status: 0) {
            let host = try ApplyCommandTests.host()
            return run(host, ["apply", pool(host, ApplyCommandTests.pool)])
        },
        Case(name: "apply-refused", command: "apply", status: 2) {
            let host = try ApplyCommandTests.host()
            return run(host, ["apply", pool(host, "[[pf]]\ndevice = \"enp5s0f0\"\nvfs = 9\n")])
        },

        // export on ExportTests' host: each engine, and --check with no drift and with drift.
        Case(name: "export-nova", command: "export", status: 0) { run(ExportHosts.host(), ["export", "nova", "--physnet", "physnet1"]) },
        Case(name: "export-neutron", command: "export", status: 0) {
            run(ExportHosts.host(), ["export", "neutron", "0000:05:10.0", "0000:05:10.2", "--physnet", "physnet1"])
        },
        Case(name: "export-kubevirt", command: "export", status: 0) { run(ExportKubeVirtDevicePluginTests.mdevHost(), ["export", "kubevirt"]) },
        Case(name: "export-sriov-device-plugin", command: "export", status: 0) { run(ExportHosts.host(), ["export", "sriov-device-plugin"]) },
        Case(name: "export-proxmox", command: "export", status: 0) { run(ExportHosts.host(), ["export", "proxmox"]) },
        Case(name: "export-check", command: "export", status: 0) {
            let fake = ExportHosts.host()
            let file = (try? ExportHosts.write("gpu\n\tmap id=10de:1eb8,iommugroup=2,node=pve1,path=0000:01:00,subsystem-id=10de:12a2\n",
                                               "pci.cfg", in: fake)) ?? "/nonexistent"
            return run(fake, ["export", "proxmox", "--check", file])
        },
        Case(name: "export-check-drift", command: "export", status: 2) {
            let fake = ExportHosts.host(change: .gpuReplaced)
            let file = (try? ExportHosts.write("""
                [pci]
                device_spec = {"vendor_id": "10de", "product_id": "1eb8", "address": "0000:01:00.0"}
                device_spec = {"vendor_id": "10de", "product_id": "10f8", "address": "0000:01:00.1"}
                alias = {"name": "t4", "vendor_id": "10de", "product_id": "1eb8", "device_type": "type-PCI", "numa_policy": "legacy"}

                """, "nova.conf", in: fake)) ?? "/nonexistent"
            return run(fake, ["export", "nova", "--check", file])
        },

        // cpu on a small CPU map of its own (GoldenHosts.cpuMap) and a Core 2's cpuinfo.
        Case(name: "cpu-host", command: "cpu host", status: 0) { run(try GoldenHosts.cpu(), ["cpu", "host"]) },
        Case(name: "cpu-compare", command: "cpu compare", status: 0) {
            let fake = try GoldenHosts.cpu()
            return run(fake, ["cpu", "compare", GoldenHosts.write(fake, "guest.xml", "<cpu><model>core</model></cpu>")])
        },
        Case(name: "cpu-compare-incompatible", command: "cpu compare", status: 2) {
            let fake = try GoldenHosts.cpu()
            return run(fake, ["cpu", "compare", GoldenHosts.write(fake, "guest.xml", "<cpu><model>server</model></cpu>")])
        },
        Case(name: "cpu-baseline", command: "cpu baseline", status: 0) {
            let fake = try GoldenHosts.cpu()
            let a = GoldenHosts.write(fake, "a.xml", "<cpu><arch>x86_64</arch><model>core</model><vendor>Intel</vendor><feature name='pae'/><feature name='lm'/></cpu>")
            let b = GoldenHosts.write(fake, "b.xml", "<cpu><arch>x86_64</arch><model>core</model><vendor>Intel</vendor><feature name='pae'/><feature name='ssse3'/></cpu>")
            return run(fake, ["cpu", "baseline", a, b])
        },
        Case(name: "cpu-models", command: "cpu models", status: 0) { run(try GoldenHosts.cpu(), ["cpu", "models"]) },
        // CPUID replayed from a Core 2's dump (GoldenHosts.cpuidDump): its MSR unreadable, then read.
        Case(name: "cpu-host-cpuid", command: "cpu host", status: 0) {
            run(try GoldenHosts.cpu(), ["cpu", "host"], cpuid: ReplayCPUID(try GoldenHosts.cpuidDump(msr: false), unreadable: GoldenHosts.unreadable))
        },
        Case(name: "cpu-host-dump", command: "cpu host", status: 0) {
            let fake = try GoldenHosts.cpu()
            return run(fake, ["cpu", "host", "--cpuid", GoldenHosts.write(fake, "core2.xml", try GoldenHosts.cpuidDump(msr: true).xml(comments: ["a Core 2"]))])
        },
        Case(name: "cpu-dump", command: "cpu dump", status: 0) {
            run(try GoldenHosts.cpu(), ["cpu", "dump"], cpuid: ReplayCPUID(try GoldenHosts.cpuidDump(msr: true)))
        },
        Case(name: "cpu-dump-unread", command: "cpu dump", status: 0) {
            run(try GoldenHosts.cpu(), ["cpu", "dump"], cpuid: ReplayCPUID(try GoldenHosts.cpuidDump(msr: false), unreadable: GoldenHosts.unreadable))
        },
    ]

    @Test("each command's JSON is its golden document, byte for byte", arguments: cases)
    func matches(_ golden: Case) throws {
        let run = try golden.run()
        #expect(run.status == golden.status, "exit status \(run.status), not \(golden.status)\n\(run.err)")
        #expect((try? JSONSerialization.jsonObject(with: Data(run.out.utf8))) is [String: Any], "not a JSON object:\n\(run.out)\n\(run.err)")
        Golden.compare(Golden.normalise(run.out, root: run.root), name: golden.name)
    }

    @Test("a run twice gives the same document: nothing varies that the normaliser leaves")
    func stable() throws {
        for golden in Self.cases where ["detach", "recover", "sriov-set", "apply", "cpu-compare", "persist-status"].contains(golden.name) {
            let first = try golden.run()
            let second = try golden.run()
            #expect(first.root != second.root)
            #expect(Golden.normalise(first.out, root: first.root) == Golden.normalise(second.out, root: second.root), "\(golden.name)")
        }
    }

    @Test("every file under Golden/ is some case's, and names are unique")
    func noStrayFiles() throws {
        let names = Self.cases.map(\.name)
        #expect(Set(names).count == names.count)
        let files = try FileManager.default.contentsOfDirectory(atPath: Golden.directory).filter { $0.hasSuffix(".json") }
        #expect(Set(files.map { String($0.dropLast(5)) }).subtracting(names).isEmpty, "stray golden files: \(files.sorted())")
    }

    @Test("the normaliser replaces the root, a journal's command, pid and start time, and nothing else")
    func normaliser() {
        let text = #"{"command": "vfioctl \"a b\" --root /tmp/fake-1", "message": "/tmp/fake-1/x", "pid": 4242, "started": 1700000000, "steps": 20}"#
        #expect(Golden.normalise(text, root: "/tmp/fake-1") ==
            #"{"command": "<command>", "message": "<root>/x", "pid": "<pid>", "started": "<started>", "steps": 20}"#)
    }

    @Test("key paths: nested objects and lists of objects; lists of values add nothing")
    func keyPaths() {
        let document: [String: Any] = ["a": [["b": 1, "c": ["d": NSNull()]]], "e": ["x", "y"], "f": NSNull()]
        #expect(Golden.keyPaths(document) == ["a", "a[].b", "a[].c", "a[].c.d", "e", "f"])
    }
}

/// The fake hosts only golden documents use.
enum GoldenHosts {
    /// Modules for checkHost's devices as their drivers declare them; vfio_pci's alias matches
    /// every device and is no variant.
    static let moduleAliases = ["e1000e": ["pci:v00008086d000010D3sv*sd*bc*sc*i*"],
                                "e1000": ["pci:v00008086d0000100Esv*sd*bc*sc*i*"],
                                "vfio_pci": ["vfio_pci:v*d*sv*sd*bc*sc*i*"],
                                // A vfio-pci variant driver for the 82574L (PCI_DRIVER_OVERRIDE_DEVICE_VFIO), and one
                                // for any Intel Ethernet device: the first has fewer wildcards and wins.
                                "e1000e_vfio_pci": ["vfio_pci:v00008086d000010D3sv*sd*bc*sc*i*"],
                                "intel_vfio_pci": ["vfio_pci:v00008086d*sv*sd*bc*sc*i*"]]

    static let mdevUUID = "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001"

    /// The command tests' host with mtty's parent, and a definition mdevctl wrote (start auto, not started).
    /// An NVIDIA SR-IOV vGPU VF is on it too; `holder`: a guest holds group 61 (the first mdev's: the VF's group 60 is the highest before it) open.
    static func mdev(holder: Bool = false) throws -> BindingCommandTests.Host {
        let host = try BindingCommandTests.Host { fake in
            var vgpu = FakeFunction("0000:41:00.4", vendor: 0x10de, device: 0x20b5, class: 0x030200, group: 60)
            vgpu.extraAttributes = ["nvidia/current_vgpu_type": "0", "nvidia/creatable_vgpu_types": "ID    : vGPU Name\n557   : NVIDIA A100-4C"]
            fake.add(vgpu)
            if holder { fake.vfioUsers = guest(group: 61) }
        }
        host.fake.addMdevParent(.mtty)
        host.fake.addMdevDefinition(parent: "mtty", uuid: "5d1c6f3a-8b2e-4c7d-9e0f-1a2b3c4d5e6f",
                                    text: "{\n  \"mdev_type\": \"mtty-1\",\n  \"start\": \"auto\",\n  \"attrs\": []\n}")
        return host
    }

    /// A guest holding `group` open, as /proc shows it.
    static func guest(group: Int) -> [(pid: Int, command: String, arguments: [String], groups: [Int])] {
        [(pid: 4242, command: "qemu-system-x86", arguments: ["qemu-system-x86_64", "-name", "guest=web1"], groups: [group])]
    }

    /// /etc/default/grub without the IOMMU options.
    static func grubWithout() -> FakeSysfs {
        var fake = FakeSysfs()
        fake.build()
        fake.write("etc/default/grub", "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX=\"quiet\"\n")
        fake.write("usr/sbin/update-grub", "#!/bin/sh\n", mode: 0o755)
        return fake
    }

    /// No IOMMU: functions, no groups.
    static func noIOMMU() -> FakeSysfs {
        var fake = FakeSysfs()
        fake.cpuVendor = "GenuineIntel"
        fake.add(FakeFunction("0000:00:02.0", vendor: 0x8086, device: 0x10d3, class: 0x020000, driver: "e1000e"))
        fake.build()
        return fake
    }

    /// Configured but not running (reboot), running as configured (ok), and an initramfs older
    /// than the modprobe.d file it should carry (rebuild).
    static func config() -> FakeSysfs {
        var fake = FakeSysfs()
        fake.commandLine = "BOOT_IMAGE=/vmlinuz root=/dev/sda1 iommu=pt"
        fake.moduleParameters["kvm_intel.nested"] = "Y"
        fake.build()
        fake.write("etc/default/grub", "GRUB_CMDLINE_LINUX=\"intel_iommu=on iommu=pt\"\n")
        fake.write("etc/modprobe.d/kvm-nested.conf", "options kvm_intel nested=1\n")
        fake.write("etc/modprobe.d/vfio.conf", "options vfio-pci ids=10de:1b80\n")
        fake.write("usr/sbin/update-initramfs", "#!/bin/sh\n", mode: 0o755)
        fake.write("proc/sys/kernel/osrelease", "6.1.0-56-amd64\n")
        fake.write("etc/initramfs-tools/modules", "vfio_pci\nvfio\nvfio_iommu_type1\n")
        fake.write("boot/initrd.img-6.1.0-56-amd64", "")
        try? FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_600_000_000)],
                                               ofItemAtPath: fake.root + "/boot/initrd.img-6.1.0-56-amd64")
        return fake
    }

    /// A CPU map of three models over a few features (libvirt's layout and CPUID bits), so
    /// the documents do not follow this machine's libvirt: `core` (no vendor), `workstation`
    /// (Intel, a Core 2's signature, one removed feature) and `server` (AMD, beyond a Core 2).
    static let cpuMap: [String: String] = [
        "index.xml": """
            <cpus>
              <arch name='x86'>
                <include filename='x86_vendors.xml'/>
                <include filename='x86_features.xml'/>
                <include filename='x86_core.xml'/>
                <include filename='x86_workstation.xml'/>
                <include filename='x86_server.xml'/>
              </arch>
            </cpus>

            """,
        "x86_vendors.xml": """
            <cpus>
              <vendor name='Intel' string='GenuineIntel'/>
              <vendor name='AMD' string='AuthenticAMD'/>
            </cpus>

            """,
        "x86_features.xml": """
            <cpus>
              <feature name='fpu'><cpuid eax_in='0x01' edx='0x00000001'/></feature>
              <feature name='vme'><cpuid eax_in='0x01' edx='0x00000002'/></feature>
              <feature name='de'><cpuid eax_in='0x01' edx='0x00000004'/></feature>
              <feature name='tsc'><cpuid eax_in='0x01' edx='0x00000010'/></feature>
              <feature name='msr'><cpuid eax_in='0x01' edx='0x00000020'/></feature>
              <feature name='pae'><cpuid eax_in='0x01' edx='0x00000040'/></feature>
              <feature name='cx8'><cpuid eax_in='0x01' edx='0x00000100'/></feature>
              <feature name='sse'><cpuid eax_in='0x01' edx='0x02000000'/></feature>
              <feature name='sse2'><cpuid eax_in='0x01' edx='0x04000000'/></feature>
              <feature name='pni'><cpuid eax_in='0x01' ecx='0x00000001'/></feature>
              <feature name='ssse3'><cpuid eax_in='0x01' ecx='0x00000200'/></feature>
              <feature name='sse4.1'>
                <cpuid eax_in='0x01' ecx='0x00080000'/>
                <alias name='sse4_1' source='linux'/>
              </feature>
              <feature name='lm'><cpuid eax_in='0x80000001' edx='0x20000000'/></feature>
              <feature name='invtsc' migratable='no'><cpuid eax_in='0x80000007' edx='0x00000100'/></feature>
              <feature name='arch-capabilities'><cpuid eax_in='0x07' ecx_in='0x00' edx='0x20000000'/></feature>
              <feature name='rdctl-no'><msr index='0x10a' edx='0x00000000' eax='0x00000001'/></feature>
            </cpus>

            """,
        "x86_core.xml": """
            <cpus>
              <model name='core'>
                <decode host='on' guest='on'/>
                <feature name='de'/>
                <feature name='fpu'/>
                <feature name='msr'/>
                <feature name='tsc'/>
              </model>
            </cpus>

            """,
        "x86_workstation.xml": """
            <cpus>
              <model name='workstation'>
                <decode host='on' guest='on'/>
                <signature family='6' model='15'/>
                <vendor name='Intel'/>
                <feature name='cx8'/>
                <feature name='de'/>
                <feature name='fpu'/>
                <feature name='msr'/>
                <feature name='pae'/>
                <feature name='pni'/>
                <feature name='sse'/>
                <feature name='sse2'/>
                <feature name='tsc'/>
                <feature name='vme' removed='yes'/>
              </model>
            </cpus>

            """,
        "x86_server.xml": """
            <cpus>
              <model name='server'>
                <decode host='on' guest='on'/>
                <vendor name='AMD'/>
                <feature name='cx8'/>
                <feature name='fpu'/>
                <feature name='lm'/>
                <feature name='sse2'/>
                <feature name='sse4.1'/>
              </model>
            </cpus>

            """,
    ]

    /// A root with the small CPU map and the Core 2 workstation's /proc/cpuinfo (fixtures/cpuinfo)
    /// with nonstop_tsc added, so that invtsc is inferred.
    static func cpu() throws -> FakeSysfs {
        let fake = FakeSysfs(root: FakeSysfs().root)
        let cpuinfo = try String(contentsOfFile: Golden.repository + "/fixtures/cpuinfo/core2-workstation.txt", encoding: .utf8)
        fake.write("proc/cpuinfo", cpuinfo.replacingOccurrences(of: " constant_tsc ", with: " constant_tsc nonstop_tsc "))
        for (name, text) in cpuMap { fake.write("usr/share/libvirt/cpu_map/" + name, text) }
        return fake
    }

    /// A Core 2 workstation's CPUID (family 6 model 15 stepping 6; fpu vme de tsc msr pae cx8 sse
    /// sse2, pni ssse3, lm) with arch-capabilities, and with `msr` its MSR 0x10a (rdctl-no).
    static func cpuidDump(msr: Bool) throws -> CPUIDDump {
        let text = """
            <cpudata arch='x86'>
              <cpuid eax_in='0x00000000' ecx_in='0x00' eax='0x00000007' ebx='0x756e6547' ecx='0x6c65746e' edx='0x49656e69'/>
              <cpuid eax_in='0x00000001' ecx_in='0x00' eax='0x000006f6' ebx='0x00020800' ecx='0x00000201' edx='0x0600017f'/>
              <cpuid eax_in='0x00000007' ecx_in='0x00' eax='0x00000000' ebx='0x00000000' ecx='0x00000000' edx='0x20000000'/>
              <cpuid eax_in='0x80000000' ecx_in='0x00' eax='0x80000004' ebx='0x00000000' ecx='0x00000000' edx='0x00000000'/>
              <cpuid eax_in='0x80000001' ecx_in='0x00' eax='0x00000000' ebx='0x00000000' ecx='0x00000001' edx='0x20100800'/>
              <cpuid eax_in='0x80000002' ecx_in='0x00' eax='0x65746e49' ebx='0x2952286c' ecx='0x726f4320' edx='0x4d542865'/>
              <cpuid eax_in='0x80000003' ecx_in='0x00' eax='0x43203229' ebx='0x20205550' ecx='0x20202020' edx='0x00000000'/>
              <cpuid eax_in='0x80000004' ecx_in='0x00' eax='0x00000000' ebx='0x00000000' ecx='0x00000000' edx='0x00000000'/>
            \(msr ? "  <msr index='0x10a' edx='0x00000000' eax='0x00000001'/>\n" : "")</cpudata>
            """
        return try CPUIDDump.parseAll(text, file: "core2.xml")[0]
    }

    static let unreadable = "/dev/cpu/0/msr: no such device: load the msr module (modprobe msr, as root); /dev/kvm: No such file or directory (ENOENT)"

    static func write(_ fake: FakeSysfs, _ name: String, _ text: String) -> String {
        fake.write(name, text)
        return fake.root + "/" + name
    }
}
