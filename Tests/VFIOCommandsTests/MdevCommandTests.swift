import Foundation
import Glibc
import Testing
import VFIOActuator
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// Mediated devices on a fake tree laid out as Linux 6.1 lays out mtty's (the lab's MdevBootTests
/// prove the layout, the shared instances and mdevctl's agreement on a real kernel), created and
/// removed through the simulated mdev core.
@Suite("mdev: types, list, create, remove, mdevctl's definitions, hostdev XML, check --domain")
struct MdevCommandTests {
    static let uuid = "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001"
    static let other = "2f3e5b7a-0c1d-4e8f-9a6b-1c2d3e4f5a6b"

    /// `adjust` changes the tree once mtty is in it; `tree` before it is built.
    static func host(_ adjust: (FakeSysfs) -> Void = { _ in }, tree: (inout FakeSysfs) -> Void = { _ in }) throws -> BindingCommandTests.Host {
        let host = try BindingCommandTests.Host(tree)
        host.fake.addMdevParent(.mtty)
        adjust(host.fake)
        return host
    }

    static func file(_ host: BindingCommandTests.Host, _ path: String) -> String? {
        try? String(contentsOfFile: host.fake.root + path, encoding: .utf8)
    }

    static func exists(_ host: BindingCommandTests.Host, _ path: String) -> Bool {
        var info = stat()
        return lstat(host.fake.root + path, &info) == 0
    }

    @Test("types: each parent's types with name, device API and the available instances read live")
    func types() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let text = host.run(["mdev", "types"])
        #expect(text.status == 0, "\(text.err)")
        #expect(text.out.contains("mtty\n") && text.out.contains("mtty-1  24         vfio-pci  0      Single port serial"), "\(text.out)")
        let (status, document, _) = try host.json(["mdev", "types", "mtty"])
        #expect(status == 0)
        let parents = document["parents"] as? [[String: Any]] ?? []
        let types = parents.first?["types"] as? [[String: Any]] ?? []
        #expect(parents.first?["name"] as? String == "mtty" && parents.first?["address"] is NSNull)
        #expect(types.map { $0["id"] as? String } == ["mtty-1", "mtty-2"])
        #expect(types.map { $0["available_instances"] as? Int } == [24, 12])
        #expect(types.first?["device_api"] as? String == "vfio-pci" && types.first?["description"] is NSNull)
        let unknown = host.run(["mdev", "types", "0000:09:00.0"])
        #expect(unknown.status == 64 && unknown.err.contains("no mdev parent '0000:09:00.0'") && unknown.err.contains("parents here: mtty"))
    }

    @Test("create: the UUID written to the type's create, the mdev in its own group; a second run changes nothing")
    func create() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let (status, document, err) = try host.json(["mdev", "create", "mtty", "--type", "mtty-2", "--uuid", Self.uuid.uppercased()])
        #expect(status == 0, "\(err)")
        #expect(host.kernel.writes.map(\.description) == ["/sys/class/mdev_bus/mtty/mdev_supported_types/mtty-2/create <- \(Self.uuid)"])
        let changes = document["changes"] as? [[String: Any]] ?? []
        #expect(changes.map { $0["change"] as? String } == ["create-mdev"])
        #expect(changes.first?["object"] as? String == Self.uuid && changes.first?["name"] as? String == "mtty-2")
        #expect(Self.exists(host, "/sys/bus/mdev/devices/\(Self.uuid)"))
        let (_, list, _) = try host.json(["mdev", "list"])
        let mdev = (list["mdevs"] as? [[String: Any]] ?? []).first
        #expect(mdev?["uuid"] as? String == Self.uuid && mdev?["active"] as? Bool == true && mdev?["defined"] as? Bool == false)
        let group = mdev?["group"] as? Int
        #expect(group != nil && Self.exists(host, "/dev/vfio/\(group ?? -1)"))
        // groups shows the mdev's group, apart from the IOMMU's; list shows the mdev.
        let (_, groups, _) = try host.json(["groups"])
        let mdevGroups = groups["mdev_groups"] as? [[String: Any]] ?? []
        #expect(mdevGroups.map { $0["group"] as? Int } == [group] && mdevGroups.first?["uuid"] as? String == Self.uuid)
        #expect((groups["iommu"] as? [String: Any])?["group_count"] as? Int == (groups["groups"] as? [Any])?.count)
        #expect(host.run(["groups"]).out.contains("IOMMU group \(group ?? -1)  (mediated device)\n  \(Self.uuid)  mtty-2 on mtty  driver mtty"))
        #expect(host.run(["list"]).out.contains("Mediated devices\nUUID"))
        let again = host.run(["mdev", "create", "mtty", "--type", "mtty-2", "--uuid", Self.uuid])
        #expect(again.status == 0 && again.out.contains("nothing to change") && host.kernel.writes.count == 1, "\(again.out)")
    }

    @Test("create --persist writes mdevctl's file byte for byte as mdevctl 1.2 does; --auto starts it at boot")
    func persist() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let result = host.run(["mdev", "create", "mtty", "--type", "mtty-1", "--uuid", Self.uuid, "--persist"])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out.contains("defined mdev \(Self.uuid) for mdevctl (/etc/mdevctl.d/mtty/\(Self.uuid), start manual)"), "\(result.out)")
        // What mdevctl 1.2.0 wrote for 'mdevctl define -u UUID' in the lab (docs/lab.md).
        #expect(Self.file(host, "/etc/mdevctl.d/mtty/\(Self.uuid)") == "{\n  \"mdev_type\": \"mtty-1\",\n  \"start\": \"manual\",\n  \"attrs\": []\n}")
        let auto = host.run(["mdev", "create", "mtty", "--type", "mtty-1", "--uuid", Self.uuid, "--persist", "--auto"])
        #expect(auto.status == 0 && Self.file(host, "/etc/mdevctl.d/mtty/\(Self.uuid)")?.contains("\"start\": \"auto\"") == true, "\(auto.err)")
        let (_, list, _) = try host.json(["mdev", "list"])
        #expect((list["mdevs"] as? [[String: Any]])?.first?["start"] as? String == "auto")
        #expect(!Self.exists(host, "/etc/mdevctl.d/mtty/\(Self.uuid).vfioctl.bak"))
    }

    @Test("bad input: unknown parent or type, a UUID that is not one, --auto alone: an error line, nothing written")
    func badInput() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let cases: [([String], String)] = [
            (["mdev", "create", "nvidia0", "--type", "mtty-1"], "no mdev parent 'nvidia0'"),
            (["mdev", "create", "mtty", "--type", "mtty-3"], "mtty offers no mdev type 'mtty-3'"),
            (["mdev", "create", "mtty", "--type", "mtty-1", "--uuid", "not-a-uuid"], "'not-a-uuid' is not a UUID"),
            (["mdev", "create", "mtty", "--type", "mtty-1", "--auto"], "--auto needs --persist"),
            (["mdev", "remove", "zzz"], "'zzz' is not a UUID"),
            (["mdev", "remove", Self.uuid], "no mdev \(Self.uuid)"),
        ]
        for (arguments, message) in cases {
            let result = host.run(arguments)
            #expect(result.status == 64 && result.err.contains("error: \(message)") && result.err.contains("hint:"), "\(arguments): \(result.err)")
        }
        #expect(host.kernel.writes.isEmpty && !Self.exists(host, "/etc/mdevctl.d/mtty"))
    }

    @Test("no instance left: refused (exit 2), naming the type and the types that still have some")
    func noInstances() throws {
        let host = try Self.host { fake in fake.write("sys/devices/virtual/mtty/mtty/mdev_supported_types/mtty-2/available_instances", "0\n") }
        defer { host.fake.remove() }
        let result = host.run(["mdev", "create", "mtty", "--type", "mtty-2"])
        #expect(result.status == 2 && result.err.contains("mtty has no available instance of mtty-2"), "\(result.status) \(result.out) \(result.err)")
        #expect(result.err.contains("choose a type with instances left: mtty-1") && host.kernel.writes.isEmpty)
    }

    @Test("remove: refused while a guest holds the mdev's group (pid and guest named); else removed, the definition kept or gone")
    func remove() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        #expect(host.run(["mdev", "create", "mtty", "--type", "mtty-2", "--uuid", Self.uuid, "--persist"]).status == 0)
        let group = try #require(Int(SysfsPaths.lastComponent(of: FileManager.default.destinationOfSymbolicLink(
            atPath: host.fake.root + "/sys/bus/mdev/devices/\(Self.uuid)/iommu_group"))))
        // A QEMU holding /dev/vfio/N: the kernel's remove would block until it exits.
        host.fake.write("proc/4242/comm", "qemu-system-x86\n")
        host.fake.write("proc/4242/cmdline", ["qemu-system-x86_64", "-name", "guest=vgpu1,debug-threads=on"].map { $0 + "\u{0}" }.joined())
        host.fake.makeDirectory("proc/4242/fd")
        symlink("/dev/vfio/\(group)", host.fake.root + "/proc/4242/fd/20")
        let busy = host.run(["mdev", "remove", Self.uuid])
        #expect(busy.status == 2 && busy.err.contains("open by qemu-system-x86 (pid 4242, guest 'vgpu1')"), "\(busy.err)")
        #expect(Self.exists(host, "/sys/bus/mdev/devices/\(Self.uuid)"))
        FakeSysfs.removeTree(host.fake.root + "/proc/4242")
        let kept = host.run(["mdev", "remove", Self.uuid])
        #expect(kept.status == 0 && kept.out.contains("removed mdev \(Self.uuid) from mtty"), "\(kept.err)")
        #expect(!Self.exists(host, "/sys/bus/mdev/devices/\(Self.uuid)") && !Self.exists(host, "/dev/vfio/\(group)"))
        #expect(kept.out.contains("mdevctl's definition stays") && Self.file(host, "/etc/mdevctl.d/mtty/\(Self.uuid)") != nil)
        let gone = host.run(["mdev", "remove", Self.uuid, "--persist"])
        #expect(gone.status == 0 && Self.file(host, "/etc/mdevctl.d/mtty/\(Self.uuid)") == nil, "\(gone.err)")
        #expect(host.run(["mdev", "list"]).out.hasPrefix("no mdevs"))
    }

    @Test("a failed step rolls back: the mdev created is removed again and the instance given back")
    func rollback() throws {
        // The definition's name is taken by a directory: writing the file fails after the create.
        let host = try Self.host { fake in fake.makeDirectory("etc/mdevctl.d/mtty/\(Self.uuid)") }
        defer { host.fake.remove() }
        let result = host.run(["mdev", "create", "mtty", "--type", "mtty-1", "--uuid", Self.uuid, "--persist"])
        #expect(result.status == 1 && result.err.contains("step 2 of 2") && result.err.contains("Rolled back: mdev \(Self.uuid) is gone again"), "\(result.err)")
        #expect(!Self.exists(host, "/sys/bus/mdev/devices/\(Self.uuid)"))
        #expect(Self.file(host, "/sys/class/mdev_bus/mtty/mdev_supported_types/mtty-1/available_instances") == "24\n")
        #expect(host.kernel.writes.last?.path == "/sys/bus/mdev/devices/\(Self.uuid)/remove")
    }

    @Test("interrupted after the create: recover undoes it from the journal (the mdev removed, no definition left)")
    func recover() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        // Header: magic, run, command, mdev original, 2 steps; then begin 0, done 0 (record 8).
        let interrupted = host.run(["mdev", "create", "mtty", "--type", "mtty-1", "--uuid", Self.uuid, "--persist"],
                                   crash: JournalCrash(after: 8, mode: .interrupt))
        #expect(interrupted.status != 0 && Self.exists(host, "/sys/bus/mdev/devices/\(Self.uuid)"), "\(interrupted.err)")
        let blocked = host.run(["mdev", "create", "mtty", "--type", "mtty-1"])
        #expect(blocked.status == 1 && blocked.err.contains("did not finish"))
        let recovered = host.run(["recover"])
        #expect(recovered.status == 0, "\(recovered.err)")
        #expect(!Self.exists(host, "/sys/bus/mdev/devices/\(Self.uuid)") && Self.file(host, "/etc/mdevctl.d/mtty/\(Self.uuid)") == nil)
    }

    @Test("mdevctl's definitions are read: started or not, and hostile files reported without stopping the rest")
    func definitions() throws {
        let host = try Self.host { fake in
            fake.addMdevDefinition(parent: "mtty", uuid: Self.other,
                                   text: "{\"mdev_type\":\"mtty-2\",\"start\":\"auto\",\"attrs\":[{\"ports\":\"2\"}],\"comment\":1}")
            fake.addMdevDefinition(parent: "mtty", uuid: Self.uuid, text: "{\"mdev_type\": [[[[")
            fake.addMdevDefinition(parent: "gone0", uuid: "11111111-2222-3333-4444-555555555555", text: "{\"mdev_type\":\"x-1\",\"start\":\"manual\"}")
            fake.makeDirectory("etc/mdevctl.d/scripts.d/callouts")
            fake.addMdevDefinition(parent: "mtty", uuid: "README", text: "not a uuid: ignored")
            mkfifo(fake.root + "/etc/mdevctl.d/mtty/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", 0o644)
        }
        defer { host.fake.remove() }
        let (status, list, _) = try host.json(["mdev", "list"])
        #expect(status == 0)
        let mdevs = list["mdevs"] as? [[String: Any]] ?? []
        #expect(mdevs.map { $0["uuid"] as? String } == ["11111111-2222-3333-4444-555555555555", Self.other])
        #expect(mdevs.last?["start"] as? String == "auto" && mdevs.last?["active"] as? Bool == false)
        let unreadable = list["unreadable"] as? [String] ?? []
        #expect(unreadable.count == 2 && unreadable.contains { $0.contains("/etc/mdevctl.d/mtty/\(Self.uuid) is not an mdevctl definition") })
        #expect(unreadable.contains { $0.contains("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee cannot be read") })
        // check names the auto one that did not start and the file mdevctl cannot read.
        let check = host.run(["check"])
        #expect(check.out.contains("mdev.not-started") && check.out.contains("mdev.definition-unreadable"), "\(check.out)")
        // The same definition is left as it is (mdevctl reads it the same); another start rewrites it
        // in mdevctl's form, its attributes kept.
        let same = host.run(["mdev", "create", "mtty", "--type", "mtty-2", "--uuid", Self.other, "--persist", "--auto"])
        #expect(same.status == 0 && same.out.contains("created mdev \(Self.other)") && !same.out.contains("defined"), "\(same.out)")
        #expect(Self.file(host, "/etc/mdevctl.d/mtty/\(Self.other)")?.contains("\"comment\":1") == true)
        #expect(host.run(["mdev", "create", "mtty", "--type", "mtty-2", "--uuid", Self.other, "--persist"]).status == 0)
        #expect(Self.file(host, "/etc/mdevctl.d/mtty/\(Self.other)")
                    == "{\n  \"mdev_type\": \"mtty-2\",\n  \"start\": \"manual\",\n  \"attrs\": [\n    {\n      \"ports\": \"2\"\n    }\n  ]\n}")
    }

    @Test("xml hostdev --mdev: libvirt's <hostdev type='mdev'>, model from the type's device API; schema and test driver accept it")
    func hostdevXML() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        #expect(host.run(["mdev", "create", "mtty", "--type", "mtty-1", "--uuid", Self.uuid]).status == 0)
        let result = host.run(["xml", "hostdev", "--mdev", Self.uuid])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out == """
            <hostdev mode='subsystem' type='mdev' model='vfio-pci'>
              <source>
                <address uuid='\(Self.uuid)'/>
              </source>
            </hostdev>

            """)
        let dumped = try Libvirt.defineDomain(result.out)
        #expect(try DomainDevices.parse(dumped, source: "virsh dumpxml").mdevs.map(\.uuid.description) == [Self.uuid])
        let qemu = host.run(["xml", "qemu-args", "--mdev", Self.uuid])
        #expect(qemu.out == "-device vfio-pci,sysfsdev=/sys/bus/mdev/devices/\(Self.uuid)\n", "\(qemu.err)")
        let inactive = host.run(["xml", "hostdev", "--mdev", Self.other])
        #expect(inactive.status == 1 && inactive.err.contains("mdev \(Self.other) is not active"))
    }

    @Test("check --domain with an mdev hostdev: ready when active; inactive, missing or of another model blocks the start")
    func checkDomain() throws {
        let host = try Self.host { fake in
            fake.addMdevDefinition(parent: "mtty", uuid: Self.other, text: "{\"mdev_type\":\"mtty-2\",\"start\":\"manual\",\"attrs\":[]}")
        }
        defer { host.fake.remove() }
        #expect(host.run(["mdev", "create", "mtty", "--type", "mtty-1", "--uuid", Self.uuid]).status == 0)
        func domain(_ uuid: String, model: String = "vfio-pci") throws -> String {
            try Libvirt.temporary("""
                <domain type='kvm'><name>g</name><devices>
                  <hostdev mode='subsystem' type='mdev' model='\(model)'><source><address uuid='\(uuid)'/></source></hostdev>
                </devices></domain>
                """)
        }
        let ready = host.run(["check", "--domain", try domain(Self.uuid)])
        #expect(ready.status == 0 && ready.out.contains("mdev.ready"), "\(ready.out)\(ready.err)")
        let inactive = host.run(["check", "--domain", try domain(Self.other)])
        #expect(inactive.status == 2 && inactive.out.contains("mdev.inactive") && inactive.out.contains("mdevctl start -u \(Self.other)"), "\(inactive.out)")
        let missing = host.run(["check", "--domain", try domain("11111111-2222-3333-4444-555555555555")])
        #expect(missing.status == 2 && missing.out.contains("mdev.missing"))
        let model = host.run(["check", "--domain", try domain(Self.uuid, model: "vfio-ccw")])
        #expect(model.status == 2 && model.out.contains("mdev.model"))
        let bad = host.run(["check", "--domain", try domain("nope")])
        #expect(bad.status == 64 && bad.err.contains("uuid='nope' is not a UUID"))
    }

    @Test("NVIDIA SR-IOV vGPU: a VF's current_vgpu_type and creatable types are shown, never written")
    func nvidiaVGPU() throws {
        let host = try Self.host(tree: { fake in
            var gpu = FakeFunction("0000:41:00.4", vendor: 0x10de, device: 0x20b5, class: 0x030200, group: 60)
            gpu.extraAttributes = ["nvidia/current_vgpu_type": "557", "nvidia/creatable_vgpu_types": "ID    : vGPU Name\n557   : NVIDIA A100-4C\n558   : NVIDIA A100-5C"]
            fake.add(gpu)
        })
        defer { host.fake.remove() }
        let text = host.run(["mdev", "types"])
        #expect(text.out.contains("0000:41:00.4 (NVIDIA SR-IOV vGPU): current type 557 (NVIDIA A100-4C); creatable: 557 NVIDIA A100-4C, 558 NVIDIA A100-5C"), "\(text.out)")
        let (_, document, _) = try host.json(["mdev", "types"])
        let vgpu = (document["vgpus"] as? [[String: Any]])?.first
        #expect(vgpu?["current_type"] as? Int == 557 && (vgpu?["creatable_types"] as? [Any])?.count == 2)
    }
}
