import Foundation
import Testing
import VFIOActuator
import VFIOCommands
import VFIOCore
import VFIODeviceLayer
import VFIOTestSupport

/// `vfioctl persist` on the check host (a conventional PCI bridge with two e1000 in group 3):
/// the files it writes, apply through the simulated driver core, and the refusals when the
/// recorded devices moved or changed.
@Suite("persist: boot-time assignments keyed by position and IDs")
struct PersistCommandTests {
    typealias Host = BindingCommandTests.Host

    func file(_ host: Host, _ path: String) -> String? { try? String(contentsOfFile: host.fake.root + path, encoding: .utf8) }

    func edit(_ host: Host, _ path: String, _ change: (String) -> String) throws {
        let text = file(host, path) ?? ""
        try change(text).write(toFile: host.fake.root + path, atomically: true, encoding: .utf8)
    }

    @Test("persist ADDRESS records its whole group: diffs without --write; --write writes records, udev rule and unit; again: nothing")
    func record() throws {
        let host = try Host()
        defer { host.fake.remove() }
        let shown = host.run(["persist", "0000:02:01.0"])
        #expect(shown.status == 0 && shown.out.contains("+++ /etc/vfioctl/persist.conf") && shown.out.contains("(not written: add --write)"), "\(shown.err)")
        #expect(file(host, "/etc/vfioctl/persist.conf") == nil && host.kernel.writes.isEmpty)

        let written = host.run(["persist", "0000:02:01.0", "--write"])
        #expect(written.status == 0, "\(written.err)")
        #expect(written.out.contains("group 3: 0000:02:01.0, 0000:02:02.0") && written.out.contains("systemctl enable vfioctl-persist.service"))
        let records = try #require(file(host, "/etc/vfioctl/persist.conf"))
        #expect(records.hasSuffix("""
            set=0000:02:01.0 address=0000:02:01.0 devpath=/devices/pci0000:00/0000:00:1e.0/0000:02:01.0 id=8086:100e subsystem=0000:0000 class=0x020000 driver=e1000
            set=0000:02:01.0 address=0000:02:02.0 devpath=/devices/pci0000:00/0000:00:1e.0/0000:02:02.0 id=8086:100e subsystem=0000:0000 class=0x020000 driver=e1000

            """), "\(records)")
        let rules = try #require(file(host, "/etc/udev/rules.d/60-vfioctl-persist.rules"))
        #expect(rules.contains("""
            ACTION=="add", SUBSYSTEM=="pci", KERNEL=="0000:02:02.0", DEVPATH=="/devices/pci0000:00/0000:00:1e.0/0000:02:02.0", \
            ATTR{vendor}=="0x8086", ATTR{device}=="0x100e", ATTR{subsystem_vendor}=="0x0000", ATTR{subsystem_device}=="0x0000", \
            ATTR{class}=="0x020000", ATTR{driver_override}="vfio-pci", \
            RUN{builtin}+="kmod load vfio-pci", RUN+="/bin/sh -c 'echo $kernel > /sys/bus/pci/drivers_probe'"
            """), "\(rules)")
        #expect(file(host, "/etc/systemd/system/vfioctl-persist.service")?.contains("ExecStart=/usr/sbin/vfioctl persist apply") == true)
        #expect(host.kernel.writes.isEmpty, "persist itself binds nothing")
        let again = host.run(["persist", "--group", "3", "--write"])
        #expect(again.status == 0 && again.out.components(separatedBy: "is already so").count == 4, "\(again.out)")
    }

    @Test("what detach refuses is not recorded: the boot disk's NVMe (exit 2, no file)")
    func refused() throws {
        let host = try Host()
        defer { host.fake.remove() }
        let result = host.run(["persist", "0000:03:00.0", "--write"])
        #expect(result.status == 2 && result.out.contains("device.host-critical") && result.err.contains("not recorded"), "\(result.out)\(result.err)")
        #expect(file(host, "/etc/vfioctl/persist.conf") == nil)
        // With --format json stdout stays empty; each error finding is an error: line with its hint:.
        let json = host.run(["persist", "0000:03:00.0", "--write", "--format", "json"])
        #expect(json.status == 2 && json.out.isEmpty, "\(json.out)")
        #expect(json.err.contains("error: 0000:03:00.0: 0000:03:00.0 is in use by the host") && json.err.contains("\nhint: "), "\(json.err)")
        #expect(host.run(["persist", "0000:99:00.0"]).err.contains("error: no PCI function 0000:99:00.0"))
        #expect(host.run(["persist"]).status == 64)
    }

    @Test("apply binds a matching set through the journal; status says bound; a second apply changes nothing")
    func apply() throws {
        let host = try Host()
        defer { host.fake.remove() }
        #expect(host.run(["persist", "0000:02:01.0", "--write"]).status == 0)
        let (_, pending, _) = try host.json(["persist", "status"])
        #expect((pending["sets"] as? [[String: Any]])?.first?["state"] as? String == "pending")
        let applied = host.run(["persist", "apply"])
        #expect(applied.status == 0, "\(applied.err)")
        #expect(host.driver("0000:02:01.0")?.hasSuffix("/vfio-pci") == true && host.driver("0000:02:02.0")?.hasSuffix("/vfio-pci") == true)
        #expect(file(host, "/var/lib/vfioctl/history")?.contains(" detach ok pid=") == true)
        #expect(file(host, "/var/lib/vfioctl/journal") == nil)
        let (status, bound, _) = try host.json(["persist", "status"])
        let set = (bound["sets"] as? [[String: Any]])?.first
        #expect(status == 0 && set?["state"] as? String == "bound" && set?["group"] as? Int == 3)
        let writes = host.kernel.writes.count
        #expect(host.run(["persist", "apply"]).status == 0 && host.kernel.writes.count == writes)
        // reattach gives them back to the recorded driver (detach's records were written by apply).
        #expect(host.run(["reattach", "--group", "3"]).status == 0 && host.driver("0000:02:01.0")?.hasSuffix("/e1000") == true)
    }

    @Test("a changed, moved or vanished device refuses its whole set: nothing bound, exit 1, the reason and where a twin is",
          arguments: [
            ("id=8086:100e subsystem=0000:0000", "id=8086:10d3 subsystem=0000:0000", "is now 8086:100e (subsystem 0000:0000), recorded as 8086:10d3 (subsystem 0000:0000): another device is in that slot"),
            ("/0000:00:1e.0/0000:02:02.0", "/0000:00:1c.0/0000:02:02.0", "the PCI hierarchy changed"),
            ("address=0000:02:02.0", "address=0000:07:00.0", "0000:07:00.0 (8086:100e) is not on this host any more; one like it is at 0000:02:01.0, 0000:02:02.0"),
          ])
    func mismatch(recorded: String, changed: String, reason: String) throws {
        let host = try Host()
        defer { host.fake.remove() }
        #expect(host.run(["persist", "0000:02:01.0", "--write"]).status == 0)
        try edit(host, "/etc/vfioctl/persist.conf") { text in
            // Only the second function's line changes.
            let lines = text.components(separatedBy: "\n").map { $0.contains("address=0000:02:02.0") ? $0.replacingOccurrences(of: recorded.trimmingCharacters(in: .newlines), with: changed.trimmingCharacters(in: .newlines)) : $0 }
            return lines.joined(separator: "\n")
        }
        let applied = host.run(["persist", "apply"])
        #expect(applied.status == 1 && applied.err.contains("error: set 0000:02:01.0 not bound: ") && applied.err.contains(reason), "\(applied.err)")
        #expect(host.kernel.writes.isEmpty && host.driver("0000:02:01.0")?.hasSuffix("/e1000") == true)
        let status = host.run(["persist", "status"])
        #expect(status.status == 1 && status.out.contains("refused") && status.out.contains(reason), "\(status.out)")
    }

    @Test("identical cards swapped between slots: same IDs and position, another serial number; the record names where its card went")
    func swappedCards() throws {
        var fake = FakeSysfs()
        defer { fake.remove() }
        fake.withIOMMU()
        let serials: [(String, UInt64)] = [("0000:01:00.0", 0x001b_21ff_ff4a_5c10), ("0000:02:00.0", 0x001b_21ff_ff4a_5c11)]
        for (position, (address, serial)) in serials.enumerated() {
            var nic = FakeFunction(address, vendor: 0x8086, device: 0x10fb, class: 0x020000, group: position + 1, driver: "ixgbe")
            nic.config?.serialNumber = serial
            fake.add(nic)
        }
        fake.build()
        let snapshot = try DeviceLayer(root: HostRoot(fake.root)).snapshot([])
        let card = try #require(snapshot.function(PCIAddress("0000:01:00.0")!))
        var record = try #require(Persist.Record(card, set: card.address, driver: "ixgbe"))
        #expect(record.serialNumber == 0x001b_21ff_ff4a_5c10)
        let text = Persist.render([record])
        #expect(text.contains(" serial=00-1b-21-ff-ff-4a-5c-10 "))
        #expect(try Persist.parse(text) == [record])
        #expect(Persist.verify([record], snapshot).first?.ready == true)
        // The card recorded here now sits in the other slot, its twin here.
        record.serialNumber = 0x001b_21ff_ff4a_5c11
        let problems = Persist.verify([record], snapshot).first?.problems ?? []
        #expect(problems.count == 1 && problems[0].contains("has serial number 00-1b-21-ff-ff-4a-5c-10, recorded as 00-1b-21-ff-ff-4a-5c-11"), "\(problems)")
        #expect(problems[0].contains("the recorded one is at 0000:02:00.0"))
        #expect(throws: VFIOError.self) { try Persist.parse(text.replacingOccurrences(of: "serial=00-1b", with: "serial=0-1b")) }
    }

    @Test("a group that grew is refused; remove forgets a set (rule gone); a broken records file is named with its line")
    func groupChangedAndRemove() throws {
        let host = try Host()
        defer { host.fake.remove() }
        #expect(host.run(["persist", "0000:02:01.0", "--write"]).status == 0)
        try edit(host, "/etc/vfioctl/persist.conf") { $0.components(separatedBy: "\n").filter { !$0.contains("address=0000:02:02.0") }.joined(separator: "\n") }
        let applied = host.run(["persist", "apply"])
        #expect(applied.status == 1 && applied.err.contains("group 3 now also holds 0000:02:02.0, which is not recorded"), "\(applied.err)")
        #expect(host.kernel.writes.isEmpty)

        let removed = host.run(["persist", "remove", "0000:02:01.0", "--write"])
        #expect(removed.status == 0 && removed.out.contains("vfioctl reattach 0000:02:01.0"), "\(removed.err)")
        #expect(file(host, "/etc/vfioctl/persist.conf") == Persist.header)
        #expect(file(host, "/etc/udev/rules.d/60-vfioctl-persist.rules")?.contains("ACTION==") == false)
        #expect(host.run(["persist", "status"]).out.contains("nothing recorded"))
        #expect(host.run(["persist", "remove", "0000:02:01.0"]).err.contains("error: 0000:02:01.0 is not recorded"))

        try "set=0000:02:01.0 address=0000:02:01.0 devpath=/devices/x id=8086:100e class=0x020000\nset=zz\n"
            .write(toFile: host.fake.root + "/etc/vfioctl/persist.conf", atomically: true, encoding: .utf8)
        let broken = host.run(["persist", "status"])
        #expect(broken.status == 1 && broken.err.contains("error: /etc/vfioctl/persist.conf line 2: set= and address= must be PCI addresses: 'set=zz'")
                && broken.err.contains("hint: fix or delete the line"), "\(broken.err)")
    }

    @Test("the unit runs vfioctl where it is installed; from a build directory, a test runner or unknown: the package's place (/usr/sbin)",
          arguments: [("/usr/bin/vfioctl", "/usr/bin/vfioctl"), ("/opt/tools/vfioctl", "/opt/tools/vfioctl"),
                      ("/src/vfioctl/.build/release/vfioctl", "/usr/sbin/vfioctl"),
                      ("/src/.build/debug/vfioctlPackageTests.xctest", "/usr/sbin/vfioctl"), (nil, "/usr/sbin/vfioctl")])
    func installedBinary(running: String?, expected: String) {
        #expect(Persist.installedBinary(running: running) == expected)
    }

    @Test("each unit is valid for systemd (systemd-analyze verify) and is the one shipped in systemd/",
          arguments: [("vfioctl-persist.service", Persist.unit), ("vfioctl-pools.service", PoolSpec.unit)])
    func unit(name: String, unit: @Sendable (String) -> String) throws {
        // One directory per case: the cases run in parallel, and each removes its own.
        let directory = FakeSysfs().root
        defer { FakeSysfs.removeTree(directory) }
        try unit("/bin/true").write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
        let verified = try TestProcess.run("systemd-analyze", ["verify", directory + "/" + name], timeout: 60)
        #expect(verified.status == 0 && verified.err.isEmpty && verified.out.isEmpty, "\(verified.out)\(verified.err)")
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../systemd/" + name).path
        #expect(try String(contentsOfFile: shipped, encoding: .utf8) == unit("/usr/sbin/vfioctl"))
    }
}
