import Foundation
import Testing
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// What every changing command reports: each change per object, in text and JSON; "nothing to
/// change" only when nothing changed. Each case was wrong before the one-transaction redesign
/// ("nothing to do: nothing is on vfio" after real changes, "-> ?", removed VFs "-> no driver").
@Suite("reports of changing commands")
struct RunReportTests {
    func changes(_ document: [String: Any]) -> [[String: Any]] { document["changes"] as? [[String: Any]] ?? [] }

    @Test("sriov create --driver host: 'created 2 VFs', each new VF with its driver, in text and JSON")
    func createHost() throws {
        let host = try SRIOVCommandTests.host()
        defer { host.fake.remove() }
        #expect(host.run(["sriov", "destroy", "enp5s0f0"]).status == 0)
        let created = host.run(["sriov", "create", "enp5s0f0", "--count", "2", "--driver", "host"])
        #expect(created.status == 0, "\(created.err)")
        #expect(!created.out.contains("nothing to"), "\(created.out)")
        #expect(created.out.contains("created 2 VFs on 0000:05:00.0"), "\(created.out)")
        #expect(created.out.contains("0000:05:10.0  new VF, on ixgbevf") && created.out.contains("0000:05:10.2  new VF, on ixgbevf"),
                "\(created.out)")
        #expect(!created.out.contains("?"), "\(created.out)")
        let (_, again, _) = try host.json(["sriov", "create", "enp5s0f0", "--count", "2", "--driver", "host"])
        #expect(changes(again).isEmpty && (again["unchanged"] as? [String]) == ["0000:05:00.0"])
    }

    @Test("sriov create --dry-run: what would change above the plan, never 'nothing to change'")
    func createDryRun() throws {
        let host = try SRIOVCommandTests.host()
        defer { host.fake.remove() }
        let planned = host.run(["sriov", "create", "enp5s0f0", "--count", "3", "--dry-run"])
        #expect(planned.status == 0 && host.kernel.writes.isEmpty, "\(planned.err)")
        #expect(!planned.out.contains("nothing to"), "\(planned.out)")
        #expect(planned.out.contains("sriov-create would change:") && planned.out.contains("0000:05:00.0: 1 -> 3 VFs"), "\(planned.out)")
        #expect(planned.out.contains("plan (nothing is written with --dry-run):"), "\(planned.out)")
        let (_, document, _) = try host.json(["sriov", "create", "enp5s0f0", "--count", "3", "--dry-run"])
        let count = try #require(changes(document).first { $0["change"] as? String == "vf-count" })
        #expect(count["before"] as? String == "1" && count["after"] as? String == "3" && count["object"] as? String == "0000:05:00.0")
    }

    @Test("a repeated create that only fixes a binding names the VF and both drivers (no '-> ?')")
    func repeatedCreate() throws {
        let host = try SRIOVCommandTests.host()
        defer { host.fake.remove() }
        // VF 0 is on vfio-pci; the same count for the host driver moves only it.
        let moved = host.run(["sriov", "create", "enp5s0f0", "--count", "1", "--driver", "host"])
        #expect(moved.status == 0, "\(moved.err)")
        #expect(moved.out.contains("0000:05:10.0  vfio-pci  ->  ixgbevf"), "\(moved.out)")
        #expect(!moved.out.contains("?") && !moved.out.contains("nothing to"), "\(moved.out)")
    }

    @Test("sriov destroy: 'destroyed N VFs', each VF removed (not 'no driver'), in text and JSON")
    func destroy() throws {
        let host = try SRIOVCommandTests.host()
        defer { host.fake.remove() }
        #expect(host.run(["sriov", "create", "enp5s0f0", "--count", "3", "--driver", "host"]).status == 0)
        let (status, document, err) = try host.json(["sriov", "destroy", "enp5s0f0"])
        #expect(status == 0, "\(err)")
        let all = changes(document)
        let count = try #require(all.first { $0["change"] as? String == "vf-count" })
        #expect(count["before"] as? String == "3" && count["after"] as? String == "0")
        let bindings = all.filter { $0["change"] as? String == "binding" }
        #expect(bindings.count == 3 && bindings.allSatisfy { $0["removed"] as? Bool == true && $0["after"] is NSNull })
        let functions = document["functions"] as? [[String: Any]] ?? []
        #expect(functions.count == 3 && functions.allSatisfy { $0["removed"] as? Bool == true })
        #expect(host.run(["sriov", "create", "enp5s0f0", "--count", "2", "--driver", "host"]).status == 0)
        let text = host.run(["sriov", "destroy", "enp5s0f0"]).out
        #expect(text.contains("destroyed 2 VFs on 0000:05:00.0") && text.contains("0000:05:10.0  ixgbevf  ->  removed"), "\(text)")
        #expect(!text.contains("no driver"), "\(text)")
    }

    @Test("sriov set and restore: each attribute set on which VF; again: nothing to change")
    func setAndRestore() throws {
        let host = try SRIOVSetTests.host()
        defer { host.fake.remove() }
        let set = host.run(["sriov", "set", "enp5s0f0", "--vf", "0", "--mac", "52:54:00:6d:90:02", "--vlan", "100"])
        #expect(set.status == 0, "\(set.err)")
        #expect(set.out.contains("enp5s0f0 VF 0: mac 52:54:00:6d:90:02") && set.out.contains("enp5s0f0 VF 0: vlan 100"), "\(set.out)")
        #expect(!set.out.contains("nothing to"), "\(set.out)")
        let (_, again, _) = try host.json(["sriov", "set", "enp5s0f0", "--vf", "0", "--mac", "52:54:00:6d:90:02"])
        #expect(changes(again).isEmpty)
        let (_, restored, _) = try host.json(["sriov", "restore", "enp5s0f0"])
        let settings = changes(restored).filter { $0["change"] as? String == "vf-setting" }
        #expect(Set(settings.compactMap { $0["name"] as? String }) == ["mac", "vlan"] && settings.allSatisfy { $0["vf"] as? Int == 0 })
        #expect(host.run(["sriov", "restore", "enp5s0f0"]).out.contains("nothing to change"))
    }

    @Test("apply: every change listed (VF count, settings, bindings, the detached NIC); again: nothing to change")
    func apply() throws {
        let host = try ApplyCommandTests.host()
        defer { host.fake.remove() }
        let file = host.fake.root + "/pool.toml"
        try ApplyCommandTests.pool.write(toFile: file, atomically: true, encoding: .utf8)
        let (status, document, err) = try host.json(["apply", file])
        #expect(status == 0, "\(err)")
        let all = changes(document)
        #expect(all.contains { $0["change"] as? String == "vf-count" && $0["after"] as? String == "4" })
        #expect(all.filter { $0["change"] as? String == "vf-setting" }.count >= 8, "\(all)")
        #expect(all.contains { $0["object"] as? String == "0000:01:00.0" && $0["after"] as? String == "vfio-pci" })
        // VF 0 existed: the new count replaced it too.
        #expect(all.filter { $0["change"] as? String == "binding" && $0["new"] as? Bool == true }.count == 4, "\(all)")
        #expect(all.filter { $0["change"] as? String == "binding" && $0["removed"] as? Bool == true }.map { $0["object"] as? String } == ["0000:05:10.0"])
        let again = host.run(["apply", file])
        #expect(again.status == 0 && again.out.contains("nothing to change"), "\(again.out)")
    }
}
