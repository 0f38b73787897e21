import Foundation
import Glibc
import Testing
import VFIOActuator
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// VFs meant for the host driver, on an igb-like PF (QEMU's 82576; lab.md): the simulated kernel
/// probes a VF only while its PF's autoprobe is on or its driver_override is set
/// (pci_device_can_probe), igbvf reads the VF's MAC from the PF only when it probes, and igb's
/// refusals come back as errnos only.
@Suite("host VFs: really bound, MACs that take effect, per-driver hints")
struct HostVFTests {
    static let pf = "/sys/bus/pci/devices/0000:01:00.0/"

    /// An igb PF 0000:01:00.0 (enp1s0, offset 128, stride 2: VF i at 01:10.(2i)), with a VF per
    /// entry of `vfs` (its driver; a netdev enp1s0vI with MAC 02:aa:00:00:00:0I when `netdevs`),
    /// igbvf registered unless `noVFDriver`.
    static func host(vfs: [String?] = [], autoprobe: Bool = true, netdevs: Bool = false, netdevUp: Bool = false,
                     noVFDriver: Bool = false) throws -> BindingCommandTests.Host {
        var fake = FakeSysfs()
        fake.withIOMMU()
        let pf = FakeFunction.networkPF("0000:01:00.0", device: 0x10c9, group: 3, driver: "igb", netdev: "enp1s0",
                                        total: 7, autoprobe: autoprobe, offset: 128, stride: 2)
        fake.add(pf)
        for (index, driver) in vfs.enumerated() {
            var vf = FakeFunction.virtualFunction("0000:01:10.\(2 * index)", of: pf, index: index, device: 0x10ca, group: 10 + index, driver: driver)
            if driver == StubDriver.vfioPCI { vf.driverOverride = StubDriver.vfioPCI }
            if netdevs && driver != nil && driver != StubDriver.vfioPCI { vf.netInterfaces = ["enp1s0v\(index)"] }
            fake.add(vf)
        }
        fake.vfioGroupNodes = vfs.enumerated().compactMap { $0.element == StubDriver.vfioPCI ? 10 + $0.offset : nil }
        if !noVFDriver { fake.registeredDrivers.append("igbvf") }
        if netdevs {
            for index in vfs.indices where vfs[index] != nil && vfs[index] != StubDriver.vfioPCI {
                fake.netStates["enp1s0v\(index)"] = netdevUp ? "up" : "down"
            }
        }
        fake.build()
        for index in vfs.indices where netdevs && vfs[index] != nil && vfs[index] != StubDriver.vfioPCI {
            let address = PCIAddress(bus: 1, device: 0x10, function: UInt8(2 * index))
            fake.write(fake.devicePath(address) + "/net/enp1s0v\(index)/address", "02:aa:00:00:00:0\(index)\n")
        }
        var host = try BindingCommandTests.Host(fake: fake)
        if !noVFDriver { host.kernel.vfDrivers = [PCIAddress(bus: 1, device: 0, function: 0): "igbvf"] }
        let netlink = RecordingVFNetlink(["enp1s0": .fresh(driver: "igb", count: vfs.count, unsupported: ["state"])])
        host.netlink = netlink
        host.kernel.netlink = netlink
        return host
    }

    static func read(_ host: BindingCommandTests.Host, _ path: String) -> String? {
        (try? String(contentsOfFile: host.fake.root + path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func write(_ text: String, in host: BindingCommandTests.Host) throws -> String {
        try ApplyCommandTests.write(text, in: host)
    }

    // MARK: host VFs bound

    @Test("a mixed pool: VF 2 goes to igbvf (autoprobe on around its probe only), the others to vfio-pci; again: nothing")
    func mixedPool() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let file = try Self.write("[[pf]]\ndevice = \"enp1s0\"\nvfs = 3\ndriver = \"vfio-pci\"\n\n[[pf.vf]]\nindex = 2\ndriver = \"host\"\n", in: host)
        let result = host.run(["apply", file])
        #expect(result.status == 0, "\(result.err)")
        #expect(host.driver("0000:01:10.0")?.hasSuffix("/vfio-pci") == true && host.driver("0000:01:10.2")?.hasSuffix("/vfio-pci") == true)
        #expect(host.driver("0000:01:10.4")?.hasSuffix("/igbvf") == true, "\(result.out)")
        #expect(Self.read(host, Self.pf + "sriov_drivers_autoprobe") == "0")
        #expect(Self.read(host, "/sys/bus/pci/devices/0000:01:10.4/driver_override") == "(null)")
        // Autoprobe is on only around VF 2's probe, after the vfio VFs are claimed.
        let writes = host.kernel.writes.map(\.description)
        let on = writes.firstIndex(of: Self.pf + "sriov_drivers_autoprobe <- 1")
        let probe = writes.firstIndex(of: "/sys/bus/pci/drivers_probe <- 0000:01:10.4")
        let lastVFIO = writes.lastIndex(of: "/sys/bus/pci/devices/0000:01:10.2/driver_override <- vfio-pci")
        #expect(on != nil && probe != nil && lastVFIO != nil && lastVFIO! < on! && on! < probe!, "\(writes)")
        #expect(writes.last == Self.pf + "sriov_drivers_autoprobe <- 0", "\(writes)")
        #expect(!result.out.contains("no driver"), "\(result.out)")
        let again = host.rerun(["apply", file])
        #expect(again.unchanged && again.out.contains("nothing to change"), "\(again.out)")
    }

    @Test("every VF for the host, the count kept: autoprobe on, a VF on vfio-pci and an unbound one both end on igbvf")
    func allHostKeepsCount() throws {
        let host = try Self.host(vfs: [StubDriver.vfioPCI, nil], autoprobe: false)
        defer { host.fake.remove() }
        let file = try Self.write("[[pf]]\ndevice = \"enp1s0\"\nvfs = 2\ndriver = \"host\"\n", in: host)
        let result = host.run(["apply", file])
        #expect(result.status == 0, "\(result.err)")
        #expect(Self.read(host, Self.pf + "sriov_drivers_autoprobe") == "1")
        #expect(host.driver("0000:01:10.0")?.hasSuffix("/igbvf") == true && host.driver("0000:01:10.2")?.hasSuffix("/igbvf") == true, "\(result.out)")
        #expect(result.out.contains("0000:01:10.0  vfio-pci   ->  igbvf") && result.out.contains("0000:01:10.2  no driver  ->  igbvf"), "\(result.out)")
        #expect(!result.out.contains("->  no driver"), "\(result.out)")
        let again = host.run(["apply", file])
        #expect(again.status == 0 && again.out.contains("nothing to change"), "\(again.out)")
    }

    @Test("new host VFs with MACs: created unbound, MACs set, then autoprobe on and each probed, so igbvf starts with its MAC")
    func newHostVFsGetMACsFirst() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let file = try Self.write("[[pf]]\ndevice = \"enp1s0\"\nvfs = 2\ndriver = \"host\"\nmac = \"auto\"\n", in: host)
        let result = host.run(["apply", file])
        #expect(result.status == 0, "\(result.err)")
        let writes = host.kernel.writes.map(\.description)
        #expect(Array(writes.prefix(2)) == [Self.pf + "sriov_drivers_autoprobe <- 0", Self.pf + "sriov_numvfs <- 2"], "\(writes)")
        #expect(writes.dropFirst(2).first == Self.pf + "sriov_drivers_autoprobe <- 1", "\(writes)")
        #expect(host.netlink?.sets.count == 2 && host.netlink?.pf("enp1s0")?.vfs.allSatisfy { $0.mac?.isZero == false } == true)
        #expect(host.driver("0000:01:10.0")?.hasSuffix("/igbvf") == true && host.driver("0000:01:10.2")?.hasSuffix("/igbvf") == true, "\(result.out)")
        #expect(Self.read(host, Self.pf + "sriov_drivers_autoprobe") == "1")
    }

    @Test("a host VF without a driver is never 'unchanged': the dry run plans its probe")
    func unboundHostVFIsPlanned() throws {
        let host = try Self.host(vfs: [nil], autoprobe: false)
        defer { host.fake.remove() }
        let file = try Self.write("[[pf]]\ndevice = \"enp1s0\"\nvfs = 1\ndriver = \"host\"\n", in: host)
        let (status, document, err) = try host.json(["apply", file, "--dry-run"])
        #expect(status == 0, "\(err)")
        #expect((document["unchanged"] as? [String]) == [], "\(document)")
        let plan = (document["plan"] as? [[String: Any]] ?? []).map { "\($0["action"] as? String ?? "") \($0["value"] as? String ?? "")" }
        #expect(plan.contains("set-attribute 1") && plan.contains("probe 0000:01:10.0") && plan.contains("verify a host driver"), "\(plan)")
    }

    @Test("sriov create --driver host with the count kept: autoprobe on, VFs from vfio-pci to igbvf")
    func createHostKeepsCount() throws {
        let host = try Self.host(vfs: [StubDriver.vfioPCI, StubDriver.vfioPCI], autoprobe: false)
        defer { host.fake.remove() }
        let result = host.run(["sriov", "create", "enp1s0", "--count", "2", "--driver", "host"])
        #expect(result.status == 0, "\(result.err)")
        #expect(Self.read(host, Self.pf + "sriov_drivers_autoprobe") == "1")
        #expect(host.driver("0000:01:10.0")?.hasSuffix("/igbvf") == true && host.driver("0000:01:10.2")?.hasSuffix("/igbvf") == true, "\(result.out)")
        let again = host.run(["sriov", "create", "enp1s0", "--count", "2", "--driver", "host"])
        #expect(again.status == 0 && again.out.contains("nothing to change"), "\(again.out)")
    }

    @Test("no driver takes a host VF: a failed step naming the VF's ID and the modprobe, everything rolled back")
    func noVFDriver() throws {
        let host = try Self.host(noVFDriver: true)
        defer { host.fake.remove() }
        let file = try Self.write("[[pf]]\ndevice = \"enp1s0\"\nvfs = 2\ndriver = \"vfio-pci\"\n\n[[pf.vf]]\nindex = 1\ndriver = \"host\"\n", in: host)
        let result = host.run(["apply", file])
        #expect(result.status == 1, "\(result.out)")
        #expect(result.err.contains("0000:01:10.2 (8086:10c9) is on no driver, not on its host driver: no loaded driver took its ID"), "\(result.err)")
        #expect(result.err.contains("modprobe $(cat /sys/bus/pci/devices/0000:01:10.2/modalias)") && result.err.contains("igb's VFs use igbvf"), "\(result.err)")
        #expect(result.err.contains("Rolled back"), "\(result.err)")
        #expect(Self.read(host, Self.pf + "sriov_numvfs") == "0" && Self.read(host, Self.pf + "sriov_drivers_autoprobe") == "1")
        #expect(!FileManager.default.fileExists(atPath: host.fake.root + "/var/lib/vfioctl/journal"))
    }

    // MARK: a MAC that takes effect

    @Test("a MAC on a VF igbvf holds: igbvf is reloaded, the VF's netdev shows the new MAC, and the report says so")
    func macReloadsIgbvf() throws {
        let host = try Self.host(vfs: ["igbvf"], netdevs: true)
        defer { host.fake.remove() }
        let result = host.run(["sriov", "set", "enp1s0", "--vf", "0", "--mac", "52:54:00:aa:bb:01"])
        #expect(result.status == 0, "\(result.err)")
        #expect(Self.read(host, "/sys/bus/pci/devices/0000:01:10.0/net/enp1s0v0/address") == "52:54:00:aa:bb:01")
        #expect(host.driver("0000:01:10.0")?.hasSuffix("/igbvf") == true)
        #expect(Self.read(host, "/sys/bus/pci/devices/0000:01:10.0/driver_override") == "(null)")
        #expect(result.out.contains("reloaded igbvf on 0000:01:10.0 so it takes the new MAC 52:54:00:aa:bb:01"), "\(result.out)")
        // The same MAC again: nothing sent, nothing reloaded.
        let writes = host.kernel.writes.count
        let again = host.run(["sriov", "set", "enp1s0", "--vf", "0", "--mac", "52:54:00:aa:bb:01"])
        #expect(again.status == 0 && host.kernel.writes.count == writes && !again.out.contains("reloaded"), "\(again.out)")
        let (_, document, _) = try host.json(["sriov", "set", "enp1s0", "--vf", "0", "--mac", "52:54:00:aa:bb:02"])
        let reload = (document["changes"] as? [[String: Any]])?.first { $0["change"] as? String == "driver-reload" }
        #expect(reload?["object"] as? String == "0000:01:10.0" && reload?["name"] as? String == "igbvf" && reload?["after"] as? String == "52:54:00:aa:bb:02",
                "\(document)")
        #expect(reload?["interface"] as? String == "enp1s0" && reload?["vf"] as? Int == 0)
    }

    @Test("a driver that applies the MAC live is not reloaded")
    func macLive() throws {
        let host = try Self.host(vfs: ["igbvf"], netdevs: true)
        defer { host.fake.remove() }
        if let netlink = host.netlink { host.kernel.appliesMACLive(netlink) }
        let result = host.run(["sriov", "set", "enp1s0", "--vf", "0", "--mac", "52:54:00:aa:bb:01"])
        #expect(result.status == 0, "\(result.err)")
        #expect(Self.read(host, "/sys/bus/pci/devices/0000:01:10.0/net/enp1s0v0/address") == "52:54:00:aa:bb:01")
        #expect(host.kernel.writes.isEmpty && !result.out.contains("reloaded"), "\(host.kernel.writes) \(result.out)")
    }

    @Test("a VF on vfio-pci: the MAC is set, nothing is reloaded (the guest's driver reads it at its next reset)")
    func macOnVFIO() throws {
        let host = try Self.host(vfs: [StubDriver.vfioPCI])
        defer { host.fake.remove() }
        let result = host.run(["sriov", "set", "enp1s0", "--vf", "0", "--mac", "52:54:00:aa:bb:01"])
        #expect(result.status == 0, "\(result.err)")
        #expect(host.kernel.writes.isEmpty && !result.out.contains("reloaded"), "\(result.out)")
        #expect(host.netlink?.pf("enp1s0")?.vfs.first?.mac?.description == "52:54:00:aa:bb:01")
    }

    @Test("the VF's netdev is up: not taken away for a reload; the step fails with the reason and the MAC is put back")
    func macNetdevUp() throws {
        let host = try Self.host(vfs: ["igbvf"], netdevs: true, netdevUp: true)
        defer { host.fake.remove() }
        let result = host.run(["sriov", "set", "enp1s0", "--vf", "0", "--mac", "52:54:00:aa:bb:01"])
        #expect(result.status == 1, "\(result.out)")
        #expect(result.err.contains("igbvf on 0000:01:10.0 (enp1s0 VF 0) did not take the new MAC 52:54:00:aa:bb:01: its netdev enp1s0v0 still has 02:aa:00:00:00:00"),
                "\(result.err)")
        #expect(result.err.contains("ip link set enp1s0v0 down") && result.err.contains("Rolled back"), "\(result.err)")
        #expect(host.netlink?.pf("enp1s0")?.vfs.first?.mac?.isZero == true)
        #expect(host.driver("0000:01:10.0")?.hasSuffix("/igbvf") == true && host.kernel.writes.isEmpty)
    }

    // MARK: per-driver hints

    @Test("an errno from the PF's driver is explained in that driver's terms, with what it takes instead",
          arguments: [
            ("igb", ["--min-tx-rate", "10"], "rate", EINVAL, "igb has no minimum VF rate: any min_tx_rate is refused; give max_tx_rate alone"),
            ("igb", ["--max-tx-rate", "5000"], "rate", EINVAL, "igb takes max_tx_rate up to the link speed (100 or 1000 Mbit/s)"),
            ("igb", ["--vlan", "5", "--proto", "802.1ad"], "vlan", EPROTONOSUPPORT, "igb takes only 802.1Q port VLANs"),
            ("igb", ["--state", "disable"], "state", EOPNOTSUPP, "igb has no VF link-state control"),
            ("ixgbe", ["--min-tx-rate", "10"], "rate", EINVAL, "ixgbe has no minimum VF rate"),
            ("i40e", ["--vlan", "5", "--proto", "802.1ad"], "vlan", EPROTONOSUPPORT, "i40e takes only 802.1Q port VLANs"),
          ])
    func driverHints(driver: String, arguments: [String], attribute: String, code: Int32, hint: String) throws {
        let host = try Self.host(vfs: [StubDriver.vfioPCI])
        defer { host.fake.remove() }
        let netlink = RecordingVFNetlink(["enp1s0": .fresh(driver: driver, count: 1)])
        netlink.fail(interface: "enp1s0", attribute: attribute, code: code)
        var withDriver = host
        withDriver.netlink = netlink
        let result = withDriver.run(["sriov", "set", "enp1s0", "--vf", "0"] + arguments)
        #expect(result.status == 1, "\(result.out)")
        #expect(result.err.contains("enp1s0 (driver \(driver))") && result.err.contains("'\(attribute)'"), "\(result.err)")
        #expect(result.err.contains("hint: " + hint) && result.err.contains("\(driver) takes "), "\(result.err)")
    }
}
