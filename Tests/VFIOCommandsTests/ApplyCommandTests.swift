import Foundation
import Glibc
import Testing
import VFIOActuator
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// `vfioctl apply FILE` against the simulated driver core and the recording netlink seam: a pool
/// file provisions VF counts, drivers and attributes, detaches devices, and a second run changes
/// nothing.
@Suite("apply: declarative VF pools")
struct ApplyCommandTests {
    static let pool = """
        # two VFs for guests, two for the host, every VF tagged
        [[pf]]
        device = "enp5s0f0"
        vfs = 4
        mac = "auto"
        vlan = 100
        spoofchk = true

        [[pf.vf]]
        index = "2-3"
        driver = "host"
        vlan = 200

        [detach]
        devices = ["0000:01:00.0"]

        """

    static func host() throws -> BindingCommandTests.Host {
        var host = try SRIOVCommandTests.host(secondPF: true)
        let netlink = RecordingVFNetlink([
            "enp5s0f0": .fresh(driver: "ixgbe", count: 1),
            "enp6s0": RecordingVFNetlink.PF(driver: "ixgbe", vfs: [RecordingVFNetlink.freshVF(0)]),
        ])
        host.netlink = netlink
        host.kernel.netlink = netlink
        return host
    }

    static func write(_ text: String, in host: BindingCommandTests.Host, name: String = "pools.toml") throws -> String {
        let path = host.fake.root + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("a pool file: VFs created through 0 with autoprobe off, attributes set, drivers bound, a NIC detached; again: nothing")
    func apply() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let file = try Self.write(Self.pool, in: host)
        let result = host.run(["apply", file])
        #expect(result.status == 0, "\(result.err)")
        let pf = "/sys/bus/pci/devices/0000:05:00.0/"
        let writes = host.kernel.writes.map(\.description)
        #expect(Array(writes.prefix(3)) == [pf + "sriov_numvfs <- 0", pf + "sriov_drivers_autoprobe <- 0", pf + "sriov_numvfs <- 4"], "\(writes)")
        for vf in ["0000:05:10.0", "0000:05:10.2"] { #expect(host.driver(vf)?.hasSuffix("/vfio-pci") == true, "\(vf)") }
        for vf in ["0000:05:10.4", "0000:05:10.6"] { #expect(host.driver(vf)?.hasSuffix("/ixgbevf") == true, "\(vf)") }
        #expect(host.driver("0000:01:00.0")?.hasSuffix("/vfio-pci") == true)
        let vfs = host.netlink?.pf("enp5s0f0")?.vfs ?? []
        #expect(vfs.map(\.vlan) == [100, 100, 200, 200] && vfs.allSatisfy { $0.spoofchk == true })
        #expect(vfs.map { $0.mac?.description ?? "" } == (0..<4).map { "02:3c:4d:50:00:0\($0)" })
        let records = try String(contentsOfFile: host.fake.root + "/var/lib/vfioctl/detached", encoding: .utf8)
        #expect(records.contains("original 0000:01:00.0 group=2 driver=e1000e"))
        let writes1 = host.kernel.writes.count
        let sets1 = host.netlink?.sets.count
        let again = host.run(["apply", file])
        #expect(again.status == 0, "\(again.err)")
        #expect(host.kernel.writes.count == writes1 && host.netlink?.sets.count == sets1, "\(again.out)")
        #expect(again.out.contains("nothing to change"), "\(again.out)")
    }

    @Test("the same pool in YAML plans the same")
    func yaml() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let toml = try Self.write(Self.pool, in: host)
        let yaml = try Self.write("""
            pf:
              - device: enp5s0f0
                vfs: 4
                mac: auto
                vlan: 100
                spoofchk: true
                vf:
                  - index: 2-3
                    driver: host
                    vlan: 200
            detach:
              devices: ["0000:01:00.0"]

            """, in: host, name: "pools.yaml")
        let a = try host.json(["apply", toml, "--dry-run"])
        let b = try host.json(["apply", yaml, "--dry-run"])
        #expect(a.0 == 0 && b.0 == 0, "\(a.2)\(b.2)")
        #expect((a.1["plan"] as? [[String: Any]])?.count == (b.1["plan"] as? [[String: Any]])?.count)
        #expect(((a.1["plan"] as? [[String: Any]])?.count ?? 0) > 20)
        #expect(host.kernel.writes.isEmpty && host.netlink?.sets.isEmpty == true)
    }

    @Test("bad input changes nothing",
          arguments: [
            ("[[pf]]\ndevice = \"enp5s0f0\"\nvfs = 4\nvlan = 0\n", Int32(64), "vlan"),
            ("[[pf]]\ndevice = \"enp5s0f0\"\nvfs = 9\n", 2, "supports at most 8 VFs (sriov_totalvfs), not 9"),
            ("[[pf]]\ndevice = \"eth9\"\nvfs = 2\n", 2, "there is no network interface 'eth9'"),
            ("[[pf]]\ndevice = \"enp5s0f0\"\nvfs = 2\nmac = \"01:00:5e:00:00:01\"\n", 64, "mac"),
            ("[[pf]]\ndevice = \"enp5s0f0\"\nvfs = 2\n[[pf.vf]]\nindex = 2\nvlan = 5\n", 64, "index"),
            ("[[pf]]\ndevice = \"0000:01:00.0\"\nvfs = 2\n", 2, "has no SR-IOV capability"),
          ])
    func badInput(text: String, status: Int32, message: String) throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let file = try Self.write(text, in: host)
        let result = host.run(["apply", file])
        #expect(result.status == status && (result.out + result.err).contains(message), "\(result.out)\(result.err)")
        #expect(host.kernel.writes.isEmpty && host.netlink?.sets.isEmpty == true)
    }

    @Test("a VF attribute the driver refuses midway: everything rolls back (count, drivers, attributes, the detach)")
    func rollback() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        host.netlink?.fail(interface: "enp5s0f0", attribute: "spoofchk", vf: 3, code: EOPNOTSUPP)
        let file = try Self.write(Self.pool, in: host)
        let result = host.run(["apply", file])
        #expect(result.status == 1 && result.err.contains("does not support 'spoofchk' on VF 3"), "\(result.err)")
        #expect(result.err.contains("Rolled back"), "\(result.err)")
        let count = try String(contentsOfFile: host.fake.root + "/sys/bus/pci/devices/0000:05:00.0/sriov_numvfs", encoding: .utf8)
        #expect(count.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        #expect(host.driver("0000:05:10.0")?.hasSuffix("/vfio-pci") == true && host.driver("0000:01:00.0")?.hasSuffix("/e1000e") == true)
        #expect(!FileManager.default.fileExists(atPath: host.fake.root + "/var/lib/vfioctl/journal"))
    }

    @Test("only what differs is planned: one VF's VLAN changed by hand is put back, its original kept for sriov restore")
    func drift() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let file = try Self.write(Self.pool, in: host)
        #expect(host.run(["apply", file]).status == 0)
        try host.netlink?.set(.vlan(id: 999, qos: 0, proto: .dot1Q), vf: 1, interface: "enp5s0f0")
        let before = host.netlink?.sets.count ?? 0
        let fixed = host.run(["apply", file])
        #expect(fixed.status == 0, "\(fixed.err)")
        #expect(host.netlink?.sets.dropFirst(before).map(\.description) == ["set enp5s0f0 vf 1 vlan 100"])
        let records = try String(contentsOfFile: host.fake.root + "/var/lib/vfioctl/vf-originals", encoding: .utf8)
        #expect(records.contains("vf 0000:05:00.0 enp5s0f0 1 mac=02:3c:4d:50:00:01 vlan=999"), "\(records)")
    }
}
