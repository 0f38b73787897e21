import Foundation
import Glibc
import Testing
import VFIOActuator
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// `vfioctl sriov set` and `sriov restore` through the recording netlink seam (the same requests
/// are proven against Linux with netdevsim in the lab, SRIOVBootTests).
@Suite("sriov: set and restore VF attributes")
struct SRIOVSetTests {
    /// The ixgbe-like host of SRIOVCommandTests with its PF's netdev behind a recording netlink:
    /// 1 VF (fresh), permanent address 00:1b:21:3c:4d:50; a second PF (enp6s0) whose VF 0 has
    /// `otherMAC`.
    static func host(down: Bool = false, unsupported: Set<String> = [], otherMAC: String? = nil) throws -> BindingCommandTests.Host {
        var host = try SRIOVCommandTests.host(netStates: down ? ["enp5s0f0": "down"] : [:], secondPF: true)
        var other = RecordingVFNetlink.freshVF(0)
        other.mac = otherMAC.flatMap { try? MACAddress.parse($0) }
        let netlink = RecordingVFNetlink([
            "enp5s0f0": .fresh(driver: "ixgbe", count: 1, unsupported: unsupported),
            "enp6s0": RecordingVFNetlink.PF(driver: "ixgbe", vfs: [other]),
        ])
        host.netlink = netlink
        host.kernel.netlink = netlink
        return host
    }

    func vf(_ host: BindingCommandTests.Host, _ index: Int = 0) -> VFLinkConfig? { host.netlink?.pf("enp5s0f0")?.vfs.first { $0.index == index } }
    func records(_ host: BindingCommandTests.Host) -> String? {
        try? String(contentsOfFile: host.fake.root + "/var/lib/vfioctl/vf-originals", encoding: .utf8)
    }

    @Test("MAC, VLAN, trust: one request each in sriov-cni's order, read back, originals recorded; again: nothing sent")
    func set() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let result = host.run(["sriov", "set", "enp5s0f0", "--vf", "0", "--trust", "on", "--mac", "52:54:00:aa:bb:01", "--vlan", "100", "--qos", "3"])
        #expect(result.status == 0, "\(result.err)")
        #expect(host.netlink?.sets.map(\.description) == [
            "set enp5s0f0 vf 0 vlan 100 qos 3", "set enp5s0f0 vf 0 mac 52:54:00:aa:bb:01", "set enp5s0f0 vf 0 trust on",
        ])
        #expect(vf(host)?.mac?.description == "52:54:00:aa:bb:01" && vf(host)?.vlan == 100 && vf(host)?.trust == true)
        #expect(records(host) == "vf 0000:05:00.0 enp5s0f0 0 mac=00:00:00:00:00:00 vlan=0 qos=0 proto=8100 spoofchk=0 trust=0 state=auto rate=0,0\n")
        #expect(result.out.contains("52:54:00:aa:bb:01") && result.out.contains("100 qos 3"), "\(result.out)")
        let sent = host.netlink?.sets.count
        let again = host.run(["sriov", "set", "0000:05:00.0", "--vf", "0", "--mac", "52:54:00:aa:bb:01", "--vlan", "100", "--qos", "3"])
        #expect(again.status == 0 && host.netlink?.sets.count == sent, "\(again.err)")
        #expect(again.out.contains("nothing to change"), "\(again.out)")
        // A second change keeps the first original.
        #expect(host.run(["sriov", "set", "enp5s0f0", "--vf", "0", "--vlan", "200"]).status == 0)
        #expect(records(host)?.contains("mac=00:00:00:00:00:00 vlan=0 ") == true)
    }

    @Test("--mac auto: 02 + the NIC half of the PF's permanent address + the VF index; the next candidate when another VF has it")
    func autoMAC() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        #expect(host.run(["sriov", "set", "enp5s0f0", "--vf", "0", "--mac", "auto"]).status == 0)
        #expect(vf(host)?.mac?.description == "02:3c:4d:50:00:00")
        let taken = try Self.host(otherMAC: "02:3c:4d:50:00:00")
        defer { taken.fake.remove() }
        let result = taken.run(["sriov", "set", "enp5s0f0", "--vf", "0", "--mac", "auto"])
        #expect(result.status == 0, "\(result.err)")
        #expect(vf(taken)?.mac?.description == "06:3c:4d:50:00:00")
    }

    @Test("a MAC another VF has is refused (exit 2), nothing sent")
    func duplicateMAC() throws {
        let host = try Self.host(otherMAC: "52:54:00:aa:bb:01")
        defer { host.fake.remove() }
        let result = host.run(["sriov", "set", "enp5s0f0", "--vf", "0", "--mac", "52:54:00:aa:bb:01"])
        #expect(result.status == 2 && result.out.contains("already the MAC of VF 0 of enp6s0"), "\(result.out)")
        #expect(host.netlink?.sets.isEmpty == true)
    }

    @Test("bad input gets an error naming the value and changes nothing",
          arguments: [
            (["--vf", "1", "--vlan", "10"], Int32(2), "enp5s0f0 has no VF 1: it has 1 VF (0-0)"),
            (["--vf=-1", "--vlan", "10"], 64, "--vf -1 is not a VF index"),
            (["--vf", "0", "--vlan", "0"], 64, "--vlan '0' is not a VLAN id from 1 to 4094"),
            (["--vf", "0", "--vlan", "4095"], 64, "--vlan '4095' is not a VLAN id from 1 to 4094"),
            (["--vf", "0", "--vlan", "10", "--qos", "8"], 64, "qos 8 is not a priority from 0 to 7"),
            (["--vf", "0", "--qos", "3"], 64, "--qos and --proto go with --vlan"),
            (["--vf", "0", "--vlan", "10", "--proto", "802.1x"], 64, "'802.1x' is not a VLAN protocol"),
            (["--vf", "0", "--mac", "01:00:5e:00:00:01"], 64, "is a multicast MAC address"),
            (["--vf", "0", "--mac", "52:54:00:zz:00:01"], 64, "'52:54:00:zz:00:01' is not a MAC address"),
            (["--vf", "0", "--mac", "00:00:00:00:00:00"], 64, "00:00:00:00:00:00 is not a usable MAC address"),
            (["--vf", "0", "--state", "up"], 64, "'up' is not a VF link state"),
            (["--vf", "0"], 64, "sriov set needs something to set"),
            (["--vf", "0", "--max-tx-rate", "100", "--min-tx-rate", "200"], 64, "min_tx_rate 200 is above max_tx_rate 100"),
          ])
    func badInput(arguments: [String], status: Int32, message: String) throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let result = host.run(["sriov", "set", "enp5s0f0"] + arguments)
        #expect(result.status == status && (result.out + result.err).contains(message), "\(result.out)\(result.err)")
        #expect(host.netlink?.sets.isEmpty == true && records(host) == nil)
    }

    @Test("an unknown PF and a PF without a netdev are refused with what to give instead")
    func unknownPF() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let unknown = host.run(["sriov", "set", "eth9", "--vf", "0", "--vlan", "5"])
        #expect(unknown.status == 64 && unknown.err.contains("no PF 'eth9'"), "\(unknown.err)")
        let nic = host.run(["sriov", "set", "0000:01:00.0", "--vf", "0", "--vlan", "5"])
        #expect(nic.status == 2 && nic.out.contains("has no SR-IOV capability"), "\(nic.out)")
        #expect(host.netlink?.sets.isEmpty == true)
    }

    @Test("the PF is down: refused (exit 2) with the command that brings it up")
    func pfDown() throws {
        let host = try Self.host(down: true)
        defer { host.fake.remove() }
        let result = host.run(["sriov", "set", "enp5s0f0", "--vf", "0", "--vlan", "5"])
        #expect(result.status == 2 && result.out.contains("enp5s0f0, the PF's interface, is down") && result.out.contains("ip link set enp5s0f0 up"), "\(result.out)")
        #expect(host.netlink?.sets.isEmpty == true)
    }

    @Test("the driver lacks trust: the error names attribute and driver, and the VLAN set before it is put back")
    func unsupportedRollsBack() throws {
        let host = try Self.host(unsupported: ["trust"])
        defer { host.fake.remove() }
        let result = host.run(["sriov", "set", "enp5s0f0", "--vf", "0", "--vlan", "7", "--trust", "on"])
        #expect(result.status == 1, "\(result.err)")
        #expect(result.err.contains("enp5s0f0 (driver ixgbe) does not support 'trust' on VF 0 (EOPNOTSUPP)"), "\(result.err)")
        #expect(result.err.contains("Rolled back") && result.err.contains("enp5s0f0 VF 0 has its settings again"), "\(result.err)")
        #expect(vf(host)?.vlan == 0)
        #expect(records(host) == nil && !FileManager.default.fileExists(atPath: host.fake.root + "/var/lib/vfioctl/journal"))
    }

    @Test("killed after each journal record of a set: recover puts the VF back as it was")
    func recoverAfterKill() throws {
        for record in 1...12 {
            let host = try Self.host()
            defer { host.fake.remove() }
            let killed = host.run(["sriov", "set", "enp5s0f0", "--vf", "0", "--vlan", "9", "--mac", "52:54:00:aa:bb:02"],
                                  crash: JournalCrash(after: record, mode: .interrupt))
            if killed.status == 0 { break }
            let recovered = host.run(["recover"])
            #expect(recovered.status == 0, "record \(record): \(recovered.err)")
            if recovered.out.contains("it had finished") {
                // Killed after its last record: the run had finished, recover only commits it.
                #expect(vf(host)?.vlan == 9 && records(host)?.isEmpty == false, "record \(record)")
            } else {
                #expect(vf(host) == RecordingVFNetlink.freshVF(0), Comment(rawValue: "record \(record): \(recovered.out) \(killed.err)"))
            }
        }
    }

    @Test("restore puts back what vfioctl changed and drops the records; again: nothing recorded")
    func restore() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        #expect(host.run(["sriov", "set", "enp5s0f0", "--vf", "0", "--vlan", "30", "--mac", "auto", "--spoofchk", "on"]).status == 0)
        let restored = host.run(["sriov", "restore", "enp5s0f0"])
        #expect(restored.status == 0, "\(restored.err)")
        #expect(vf(host) == RecordingVFNetlink.freshVF(0))
        #expect(records(host) == "")
        let again = host.run(["sriov", "restore", "enp5s0f0", "--vf", "0"])
        #expect(again.status == 0 && again.out.contains("vfioctl has no record of VF 0 of 0000:05:00.0"), "\(again.out)")
    }

    @Test("a new VF count drops the records of the VFs it replaced")
    func recountDropsRecords() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        #expect(host.run(["sriov", "set", "enp5s0f0", "--vf", "0", "--vlan", "30"]).status == 0)
        #expect(records(host)?.isEmpty == false)
        let created = host.run(["sriov", "create", "enp5s0f0", "--count", "2"])
        #expect(created.status == 0, "\(created.err)")
        #expect(records(host) == "" && host.netlink?.pf("enp5s0f0")?.vfs.count == 2)
    }

    @Test("status shows each VF's MAC, VLAN, spoof checking, trust and link state")
    func status() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        #expect(host.run(["sriov", "set", "enp5s0f0", "--vf", "0", "--vlan", "42", "--proto", "802.1ad", "--mac", "52:54:00:aa:bb:03"]).status == 0)
        let text = host.run(["sriov", "status", "enp5s0f0"])
        #expect(text.out.contains("MAC") && text.out.contains("52:54:00:aa:bb:03") && text.out.contains("42 802.1ad"), "\(text.out)")
        let (_, document, _) = try host.json(["sriov", "status", "enp5s0f0"])
        let vfs = (document["pfs"] as? [[String: Any]])?.first?["vfs"] as? [[String: Any]]
        let settings = vfs?.first?["settings"] as? [String: Any]
        #expect(settings?["mac"] as? String == "52:54:00:aa:bb:03" && settings?["vlan"] as? Int == 42)
        #expect(settings?["vlan_protocol"] as? String == "802.1ad" && settings?["trust"] as? Bool == false && settings?["link_state"] as? String == "auto")
    }
}
