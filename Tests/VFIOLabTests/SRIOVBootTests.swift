import Foundation
import Glibc
import Testing
import VFIOActuator
import VFIOCore
import VFIODeviceLayer
import VFIOTestSupport

/// Inside the 'sriov' boot (and the 'passthrough' boot, which carries this suite in CI): VF attributes over rtnetlink on a real kernel (netdevsim), judged by
/// vfioctl's own read-back and independently by iproute2; the recording fake's answers compared
/// with the kernel's; one socket throughout. (The benchmark is SRIOVBenchBootTests.)
@Suite("Lab: SR-IOV VF attributes over rtnetlink", .serialized, .enabled(if: Lab.inside("sriov", "passthrough"), Lab.reason))
struct SRIOVBootTests {
    /// 52:54:00:00:HH:LL for `n` = 0xHHLL.
    static func mac(_ n: Int) -> MACAddress {
        MACAddress(rawOctets: [0x52, 0x54, 0x00, 0x00, UInt8((n >> 8) & 0xff), UInt8(n & 0xff)])!
    }

    /// Every settable attribute, in an order that also changes values back.
    static let steps: [(vf: Int, attribute: VFAttribute)] = [
        (0, .mac(mac(0x10))),
        (1, .vlan(id: 10, qos: 0, proto: .dot1Q)),
        (1, .vlan(id: 4095, qos: 7, proto: .dot1AD)),
        (2, .vlan(id: 300, qos: 3, proto: .dot1Q)),
        (2, .spoofchk(true)),
        (2, .trust(true)),
        (3, .linkState(.enable)),
        (3, .linkState(.disable)),
        (0, .txRate(min: 10, max: 100)),
        (3, .mac(mac(0x13))),
        (1, .vlan(id: 0, qos: 0, proto: .dot1Q)),
        (2, .spoofchk(false)),
        (0, .txRate(min: 0, max: 0)),
        (3, .linkState(.auto)),
        (2, .trust(false)),
    ]

    @Test("every attribute, set through vfioctl's layer, reads back the same through it and through iproute2")
    func everyAttribute() throws {
        let pf = try NetdevsimPF.make(vfs: 4)
        let netlink = try LiveVFNetlink()
        var expected = try netlink.vfs(ofInterface: pf.name)
        // Fresh VFs are what the unit tests' fake starts from.
        #expect(expected == (0..<4).map(RecordingVFNetlink.freshVF))
        #expect(try pf.iproute2VFs() == expected)
        for (vf, attribute) in Self.steps {
            try attribute.validate(vf: vf)
            try netlink.set(attribute, vf: vf, interface: pf.name)
            expected[vf] = attribute.applied(to: expected[vf])
            let read = try netlink.vfs(ofInterface: pf.name)
            #expect(read == expected, "after \(attribute) on VF \(vf): \(read.map(\.description))")
            #expect(attribute.isSatisfied(by: read[vf]))
            let shown = try pf.iproute2VFs()
            #expect(shown == expected, "iproute2 after \(attribute) on VF \(vf): \(shown.map(\.description))")
        }
        #expect(netlink.reader.driver(ofInterface: pf.name) == "netdevsim")
        // By interface index too (what /sys/class/net/NAME/ifindex says).
        let ifindex = try #require(Kernel.read("/sys/class/net/\(pf.name)/ifindex").flatMap { Int($0) })
        let byIndex = try netlink.reader.link(ifindex: ifindex)
        #expect(byIndex.name == pf.name && byIndex.numVFs == 4 && byIndex.vfs == expected)
    }

    /// What the kernel refuses, as errors that name the attribute; the VFs stay as they were.
    static func refusals(_ pf: String) throws -> [(vf: Int, attribute: VFAttribute, interface: String, says: String)] {
        let multicast = try #require(MACAddress(rawOctets: [0x01, 0x00, 0x5e, 0, 0, 1]))
        return [
            (1, .mac(multicast), pf, "\(pf) (driver netdevsim) refused 'mac' on VF 1: mac 01:00:5e:00:00:01 (EINVAL)"),
            (9, .mac(mac(0x99)), pf, "\(pf) (driver netdevsim) refused 'mac' on VF 9 (EINVAL): it has no VF 9, only 4 (0-3)"),
            (4, .trust(true), pf, "\(pf) (driver netdevsim) refused 'trust' on VF 4 (EINVAL): it has no VF 4, only 4 (0-3)"),
            (1, .vlan(id: 10, qos: 8, proto: .dot1Q), pf, "\(pf) (driver netdevsim) refused 'vlan' on VF 1: vlan 10 qos 8 (EINVAL)"),
            (1, .vlan(id: 4096, qos: 0, proto: .dot1AD), pf, "\(pf) (driver netdevsim) refused 'vlan' on VF 1: vlan 4096 proto 802.1ad (EINVAL)"),
            (0, .mac(mac(0x01)), "lo", "lo does not support 'mac' on VF 0 (EOPNOTSUPP)"),
            (0, .linkState(.enable), "lo", "lo does not support 'state' on VF 0 (EOPNOTSUPP)"),
            (0, .spoofchk(true), "vfioctl-none0", "there is no network interface named 'vfioctl-none0' (ENODEV)"),
        ]
    }

    @Test("the kernel's refusals come back as VFIOErrors naming the attribute, the VF and the errno; nothing changes")
    func refusals() throws {
        let pf = try NetdevsimPF.make(vfs: 4)
        let netlink = try LiveVFNetlink()
        let before = try netlink.vfs(ofInterface: pf.name)
        for (vf, attribute, interface, says) in try Self.refusals(pf.name) {
            do {
                try netlink.set(attribute, vf: vf, interface: interface)
                Issue.record("the kernel took \(attribute) on VF \(vf) of \(interface)")
            } catch {
                #expect(error.message == says)
                #expect(error.hint != nil)
                print("lab refusal: \(error.message) (hint: \(error.hint ?? ""))")
            }
        }
        #expect(try netlink.vfs(ofInterface: pf.name) == before)
        #expect(try pf.iproute2VFs() == before)
        // The kernel hands qos to the driver as a u8: 256 arrives as 0 and is taken, which is why
        // VFAttribute.validate refuses it before anything is sent.
        #expect(throws: VFIOError.self) { try VFAttribute.vlan(id: 7, qos: 256, proto: .dot1Q).validate(vf: 1) }
        try netlink.set(.vlan(id: 7, qos: 256, proto: .dot1Q), vf: 1, interface: pf.name)
        let vf1 = try netlink.vfs(ofInterface: pf.name)[1]
        #expect(vf1.vlan == 7 && vf1.qos == 0)
    }

    @Test("the unit tests' RecordingVFNetlink answers as this kernel does, request for request")
    func fakeMatchesKernel() throws {
        let pf = try NetdevsimPF.make(vfs: 4)
        let live = try LiveVFNetlink()
        let fake = RecordingVFNetlink([pf.name: .fresh(count: 4), "lo": .init(driver: nil, vfs: [], unsupported: ["mac", "vlan", "spoofchk", "trust", "state", "rate"])])
        var requests = Self.steps.map { (vf: $0.vf, attribute: $0.attribute, interface: pf.name) }
        for refusal in try Self.refusals(pf.name) { requests.append((refusal.vf, refusal.attribute, refusal.interface)) }
        requests.append((1, .vlan(id: 7, qos: 256, proto: .dot1Q), pf.name))
        for (vf, attribute, interface) in requests {
            func outcome(_ netlink: any VFNetlink) -> String {
                do {
                    try netlink.set(attribute, vf: vf, interface: interface)
                    return "ok"
                } catch {
                    return error.description
                }
            }
            #expect(outcome(live) == outcome(fake), "\(attribute) on VF \(vf) of \(interface)")
            #expect(try live.vfs(ofInterface: pf.name) == fake.vfs(ofInterface: pf.name), "after \(attribute) on VF \(vf)")
        }
    }

    /// netdevsim's PF is not a PCI function, so `vfioctl sriov set` (which names PFs by PCI
    /// address or a PCI function's interface) cannot reach it from the command line; this drives
    /// the same planner, journal, actuator and records the command uses, against the real kernel.
    static func netdevsimHost(_ pf: NetdevsimPF, count: Int) -> (HostSnapshot, HostFacts) {
        let address = PCIAddress(domain: 0x10, bus: 0, device: 0, function: 0)
        var function = PCIFunction(address: address, vendorID: 0x1af4, deviceID: 0x0000, classCode: 0x020000, sysfsPath: pf.device)
        function.driver = "netdevsim"
        function.netInterfaces = [pf.name]
        function.sriov = SRIOVInfo(totalVFs: NetdevsimPF.maxVFs, numVFs: count, driversAutoprobe: true, vfIndices: [:])
        let snapshot = HostSnapshot(functions: [function], groups: [], iommu: IOMMUState(units: [], groupsDirectoryExists: true, groupCount: 0),
                                    cpuVendor: .other)
        var facts = HostFacts()
        let flags = Kernel.read("/sys/class/net/\(pf.name)/flags").flatMap { UInt32($0.dropFirst(2), radix: 16) } ?? 0
        var net = NetInterface(name: pf.name, operstate: Kernel.read("/sys/class/net/\(pf.name)/operstate"))
        net.adminUp = flags & 1 == 1
        facts.network[pf.name] = net
        return (snapshot, facts)
    }

    @Test("sriov set's plan on the real kernel: journaled, each attribute read back, a refusal rolled back, restore puts the VF back")
    func setThroughActuator() throws {
        let pf = try NetdevsimPF.make(vfs: 4)
        _ = try TestProcess.run("ip", ["link", "set", pf.name, "up"], timeout: 30)
        let netlink = try LiveVFNetlink()
        let state = StateDirectory(path: NSTemporaryDirectory() + "vfioctl-lab-set-\(getpid())")
        var applier = Applier(kernel: LiveKernel(root: .live))
        applier.netlink = netlink
        /// A transaction on this kernel, as a command opens one.
        func transaction() throws -> Transaction {
            try Transaction("lab", layer: DeviceLayer(root: .live), actuators: Actuators(netlink: netlink), stateDirectory: state.path,
                            command: "lab", dryRun: false, wait: 0, progress: { _ in })
        }
        let before = try netlink.vfs(ofInterface: pf.name)
        func plan(_ request: VFPlanner.SetRequest) throws -> Plan {
            let (snapshot, facts) = Self.netdevsimHost(pf, count: 4)
            let links = VFPlanner.Links(vfs: [pf.name: try netlink.vfs(ofInterface: pf.name)],
                                        addresses: [pf.name: try netlink.addresses(ofInterface: pf.name)])
            return VFPlanner.set(request, snapshot, facts, links, saved: try state.vfRecords())
        }
        let address = PCIAddress(domain: 0x10, bus: 0, device: 0, function: 0)
        // A refusal midway: the kernel takes the VLAN, netdevsim refuses qos 8 as the planner's
        // input was not validated here on purpose; the VLAN goes back.
        var refused = try plan(.init(pf: address, vf: 2, mac: .auto, attributes: [.vlan(id: 30, qos: 0, proto: .dot1Q), .spoofchk(true)]))
        refused.steps.insert(.setVF(address, interface: pf.name, vf: 2, .vlan(id: 31, qos: 8, proto: .dot1Q)), at: 2)
        #expect(refused.originals.vfSettings.map(\.config) == [before[2]])
        #expect(throws: VFIOError.self) { _ = try transaction().run(refused) }
        // Rolled back: the journal is closed, the VF is as it was.
        #expect(!state.hasJournal)
        #expect(try netlink.vfs(ofInterface: pf.name) == before && pf.iproute2VFs() == before)

        // The whole plan: auto MAC from the PF's address, VLAN 802.1ad, spoofchk, trust, state.
        let set = try plan(.init(pf: address, vf: 2, mac: .auto,
                                 attributes: [.vlan(id: 30, qos: 5, proto: .dot1AD), .spoofchk(true), .trust(true), .linkState(.disable)]))
        #expect(set.steps.map(\.action) == Array(repeating: "set-vf", count: 5) && !set.refused, "\(set.findings)")
        let outcome = try transaction().run(set)
        #expect(outcome.results.allSatisfy { $0 == .done } && outcome.changes.count == 5)
        let source = try #require(VFPlanner.macSource(pf.name, VFPlanner.Links(addresses: [pf.name: try netlink.addresses(ofInterface: pf.name)])))
        let vf2 = try pf.iproute2VFs()[2]
        #expect(vf2.mac == VFPlanner.autoMAC(source: source.mac, vf: 2) { _ in false })
        #expect(vf2.mac?.octets.first == 0x02 && vf2.vlan == 30 && vf2.qos == 5 && vf2.proto == .dot1AD)
        #expect(vf2.spoofchk == true && vf2.trust == true && vf2.linkState == .disable)
        print("lab sriov set: \(pf.name) VF 2 now \(vf2) (auto MAC from the \(source.permanent ? "permanent" : "current") address \(source.mac))")
        // The same again: nothing to send.
        #expect(try plan(.init(pf: address, vf: 2, mac: .auto, attributes: [.vlan(id: 30, qos: 5, proto: .dot1AD)])).steps.isEmpty)

        // restore, from the record kept in the state directory.
        let (snapshot, facts) = Self.netdevsimHost(pf, count: 4)
        let links = VFPlanner.Links(vfs: [pf.name: try netlink.vfs(ofInterface: pf.name)])
        let restore = VFPlanner.restore(address, vf: nil, snapshot, facts, links, saved: try state.vfRecords())
        _ = try transaction().run(restore)
        #expect(try pf.iproute2VFs() == before && netlink.vfs(ofInterface: pf.name) == before)

        // link-up: a down PF comes up, and a rollback takes it down again.
        _ = try TestProcess.run("ip", ["link", "set", pf.name, "down"], timeout: 30)
        #expect(try applier.perform(.linkUp(pf.name)))
        #expect(Kernel.read("/sys/class/net/\(pf.name)/flags").flatMap { UInt32($0.dropFirst(2), radix: 16) }.map { $0 & 1 } == 1)
        #expect(applier.rollback(Plan.Undo(links: [pf.name]), journal: nil).isEmpty)
        #expect(Kernel.read("/sys/class/net/\(pf.name)/flags").flatMap { UInt32($0.dropFirst(2), radix: 16) }.map { $0 & 1 } == 0)
    }

    /// The socket descriptors this process has open.
    static func sockets() -> Int {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.filter { (Kernel.linkName("/proc/self/fd/\($0)") ?? "").hasPrefix("socket:") }.count
    }

    @Test("one socket for every request: 64 VFs read and configured, no socket opened on the way")
    func oneSocket() throws {
        let pf = try NetdevsimPF.make(vfs: 64)
        let netlink = try LiveVFNetlink()
        let fd = netlink.socketDescriptor
        let sockets = Self.sockets()
        for vf in 0..<64 {
            try netlink.set(.mac(Self.mac(vf)), vf: vf, interface: pf.name)
            try netlink.set(.spoofchk(vf % 2 == 0), vf: vf, interface: pf.name)
        }
        let read = try netlink.vfs(ofInterface: pf.name)
        #expect(read.count == 64)
        #expect(read.map(\.mac) == (0..<64).map { Self.mac($0) })
        #expect(netlink.requestCount == 129 && netlink.socketDescriptor == fd)
        #expect(Self.sockets() == sockets)
    }

    /// Milliseconds `body` took.
    static func milliseconds(_ body: () throws -> Void) rethrows -> Double { try Lab.seconds(body) * 1000 }

    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

}

/// Inside the 'sriov-bench' boot (`scripts/bench netlink`, not CI): the issue's benchmark, MAC and
/// VLAN on 64 VFs through vfioctl's netlink layer and through 64 `ip link set`. What each wrote
/// is read back and checked; the figures are printed, never asserted.
@Suite("Lab: SR-IOV netlink benchmark", .serialized, .enabled(if: Lab.inside("sriov-bench"), Lab.reason))
struct SRIOVBenchBootTests {
    static func mac(_ n: Int) -> MACAddress { SRIOVBootTests.mac(n) }
    static func milliseconds(_ body: () throws -> Void) rethrows -> Double { try SRIOVBootTests.milliseconds(body) }
    static func median(_ values: [Double]) -> Double { SRIOVBootTests.median(values) }

    @Test("benchmark: MAC + VLAN on 64 VFs, vfioctl's layer vs 64 'ip link set DEV vf I mac M vlan V'")
    func benchmark() throws {
        let count = 64
        let pf = try NetdevsimPF.make(vfs: count)
        let rounds = 3
        var layer: [Double] = []
        var iproute2: [Double] = []
        for round in 0..<rounds {
            // Different values each time, so every request really changes the VF.
            let layerVLAN = { (vf: Int) in 100 + vf + round * 2 * count }
            let ipVLAN = { (vf: Int) in 100 + vf + (round * 2 + 1) * count }
            layer.append(try Self.milliseconds {
                let netlink = try LiveVFNetlink()
                for vf in 0..<count {
                    try netlink.set(.mac(Self.mac(vf + round * 0x100)), vf: vf, interface: pf.name)
                    try netlink.set(.vlan(id: layerVLAN(vf), qos: 0, proto: .dot1Q), vf: vf, interface: pf.name)
                }
            })
            let read = try LiveVFNetlink().vfs(ofInterface: pf.name)
            #expect(read.map(\.vlan) == (0..<count).map(layerVLAN))
            #expect(read.map(\.mac) == (0..<count).map { Self.mac($0 + round * 0x100) })

            // The same in a shell loop of ip invocations (one shell, 64 ip processes).
            let script = (0..<count).map { vf in
                "ip link set \(pf.name) vf \(vf) mac \(Self.mac(vf + round * 0x100 + 0x80)) vlan \(ipVLAN(vf)) || exit 1"
            }.joined(separator: "\n")
            var result: TestProcess.Result?
            iproute2.append(try Self.milliseconds { result = try TestProcess.run("sh", ["-c", script], timeout: 600) })
            #expect(result?.status == 0, "\(result?.err ?? "")")
            let afterIP = try LiveVFNetlink().vfs(ofInterface: pf.name)
            #expect(afterIP.map(\.vlan) == (0..<count).map(ipVLAN))
            #expect(afterIP.map(\.mac) == (0..<count).map { Self.mac($0 + round * 0x100 + 0x80) })
        }
        // A shell that runs nothing, to show how much of the ip figure is the shell's start.
        let shell = try Self.milliseconds { _ = try TestProcess.run("sh", ["-c", "true"], timeout: 60) }
        let ratio = Self.median(iproute2) / Self.median(layer)
        func ms(_ v: Double) -> String { String(format: "%.1f ms", v) }
        print("lab bench: MAC+VLAN on \(count) netdevsim VFs (TCG guest, \(rounds) rounds): vfioctl layer (one socket, \(2 * count) requests) "
              + "median \(ms(Self.median(layer))) [\(layer.map(ms).joined(separator: ", "))]; \(count) x ip link set median \(ms(Self.median(iproute2))) "
              + "[\(iproute2.map(ms).joined(separator: ", "))]; empty sh \(ms(shell)); ratio \(String(format: "%.1f", ratio))x "
              + "(goal: at least 10x, \(ratio >= 10 ? "met" : "MISSED"))")
    }
}
