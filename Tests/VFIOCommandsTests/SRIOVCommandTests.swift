import Foundation
import Glibc
import Testing
import VFIOActuator
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// `vfioctl sriov` against the simulated driver core: VF counts through 0, autoprobe off for
/// vfio-pci, the in-use refusal, the kernel's errnos and the rollback (proven on Linux in the
/// lab with QEMU's NVMe SR-IOV controller).
@Suite("sriov: status, create, destroy")
struct SRIOVCommandTests {
    /// An ixgbe-like PF (offset 128, stride 2: VF i at 05:10.(2i)) with one VF on vfio-pci.
    /// `secondPF`: another ixgbe port, 0000:06:00.0 (enp6s0), with one VF on ixgbevf.
    /// `aliases`: a module index depmod made of them; `modules`: what modprobe can load (a variant driver).
    static func host(users: Bool = false, netStates: [String: String] = [:], secondPF: Bool = false,
                     aliases: [String: [String]]? = nil, modules: [String: String] = [:]) throws -> BindingCommandTests.Host {
        var fake = FakeSysfs()
        fake.withIOMMU()
        var nic = FakeFunction("0000:01:00.0", vendor: 0x8086, device: 0x10d3, class: 0x020000, group: 2, driver: "e1000e")
        nic.config?.flr = true
        fake.add(nic)
        let pf = FakeFunction.networkPF("0000:05:00.0", device: 0x10fb, group: 7, driver: "ixgbe", netdev: "enp5s0f0",
                                        total: 8, autoprobe: true, offset: 128, stride: 2)
        fake.add(pf)
        fake.add(.virtualFunction("0000:05:10.0", of: pf, index: 0, device: 0x10ed, group: 8, driver: "vfio-pci"))
        fake.vfioGroupNodes = [8]
        if secondPF {
            let port = FakeFunction.networkPF("0000:06:00.0", device: 0x10fb, group: 9, driver: "ixgbe", netdev: "enp6s0",
                                              total: 4, autoprobe: true, offset: 128, stride: 2)
            fake.add(port)
            fake.add(.virtualFunction("0000:06:10.0", of: port, index: 0, device: 0x10ed, group: 10, driver: "ixgbevf"))
        }
        fake.registeredDrivers.append("ixgbevf")
        fake.netStates = netStates
        fake.moduleAliases = aliases
        if users { fake.vfioUsers = [(pid: 4242, command: "qemu-system-x86", arguments: ["qemu-system-x86_64", "-name", "guest=web1"], groups: [8])] }
        fake.build()
        let host = try BindingCommandTests.Host(fake: fake, modules: modules)
        host.kernel.vfDrivers = [PCIAddress(bus: 5, device: 0, function: 0): "ixgbevf"]
        return host
    }

    func numVFs(_ host: BindingCommandTests.Host) -> String? {
        try? String(contentsOfFile: host.fake.root + "/sys/bus/pci/devices/0000:05:00.0/sriov_numvfs", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("create 4 for vfio-pci: through 0, autoprobe off first, each VF on vfio-pci; again: nothing written")
    func createForVFIO() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let created = host.run(["sriov", "create", "enp5s0f0", "--count", "4"])
        #expect(created.status == 0, "\(created.err)")
        let writes = host.kernel.writes.map(\.description)
        let pf = "/sys/bus/pci/devices/0000:05:00.0/"
        #expect(Array(writes.prefix(3)) == [pf + "sriov_numvfs <- 0", pf + "sriov_drivers_autoprobe <- 0", pf + "sriov_numvfs <- 4"], "\(writes)")
        #expect(numVFs(host) == "4")
        for vf in ["0000:05:10.0", "0000:05:10.2", "0000:05:10.4", "0000:05:10.6"] {
            #expect(host.driver(vf)?.hasSuffix("/vfio-pci") == true, "\(vf)")
        }
        #expect(created.out.contains("VFs 4 of 8  autoprobe off"), "\(created.out)")
        let again = host.rerun(["sriov", "create", "0000:05:00.0", "--count", "4"])
        #expect(again.unchanged, "\(again.out)")
        let status = try host.json(["sriov", "status", "enp5s0f0"])
        let pfs = status.1["pfs"] as? [[String: Any]]
        #expect((pfs?.first?["vfs"] as? [[String: Any]])?.map { $0["driver"] as? String } == ["vfio-pci", "vfio-pci", "vfio-pci", "vfio-pci"])
        #expect(pfs?.first?["num_vfs"] as? Int == 4 && pfs?.first?["autoprobe"] as? Bool == false)
    }

    @Test("--driver host: autoprobe on, the VFs get the VF driver; destroy removes them; destroy again: nothing")
    func hostDriverAndDestroy() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let created = host.run(["sriov", "create", "0000:05:00.0", "--count", "2", "--driver", "host"])
        #expect(created.status == 0, "\(created.err)")
        #expect(host.driver("0000:05:10.0")?.hasSuffix("/ixgbevf") == true && host.driver("0000:05:10.2")?.hasSuffix("/ixgbevf") == true)
        let destroyed = host.run(["sriov", "destroy", "enp5s0f0"])
        #expect(destroyed.status == 0 && numVFs(host) == "0", "\(destroyed.err)")
        #expect(!FileManager.default.fileExists(atPath: host.fake.root + "/sys/bus/pci/devices/0000:05:10.0"))
        let count = host.kernel.writes.count
        #expect(host.run(["sriov", "destroy", "enp5s0f0"]).status == 0 && host.kernel.writes.count == count)
    }

    @Test("VFs in use (a guest holds the group) are not destroyed: exit 2, the guest named, nothing written")
    func inUse() throws {
        let host = try Self.host(users: true)
        defer { host.fake.remove() }
        for arguments in [["sriov", "create", "enp5s0f0", "--count", "2"], ["sriov", "destroy", "enp5s0f0"]] {
            let refused = host.run(arguments)
            #expect(refused.status == 2 && refused.out.contains("sriov.vfs-in-use") && refused.out.contains("pid 4242"), "\(refused.out)")
        }
        #expect(host.kernel.writes.isEmpty)
    }

    @Test("bad input: a count above total, a VF for a PF, an unknown name, a bad driver; nothing written",
          arguments: [
            (["sriov", "create", "enp5s0f0", "--count", "9"], Int32(2), "supports 1 to 8 VFs (sriov_totalvfs), not 9"),
            (["sriov", "create", "0000:05:10.0", "--count", "1"], 2, "0000:05:10.0 is a VF of 0000:05:00.0, not a PF"),
            (["sriov", "create", "0000:01:00.0", "--count", "1"], 2, "has no SR-IOV capability"),
            (["sriov", "create", "eth9", "--count", "1"], 64, "no PF 'eth9'"),
            (["sriov", "create", "enp5s0f0", "--count", "2", "--driver", "igb/vf"], 64, "--driver 'igb/vf' is not a VF driver"),
            (["sriov", "create", "enp5s0f0", "--count", "2", "--driver", "igb"], 2, "cannot tell whether igb is a vfio-pci variant driver of the VFs of 0000:05:00.0"),
            (["sriov", "status", "0000:01:00.0"], 1, "0000:01:00.0 is not an SR-IOV PF"),
          ])
    func badInput(arguments: [String], status: Int32, message: String) throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let result = host.run(arguments)
        #expect(result.status == status && (result.out + result.err).contains(message), "\(result.out)\(result.err)")
        #expect(host.kernel.writes.isEmpty)
    }

    @Test("the kernel refuses the new count (ENOMEM): exit 1 with pci=realloc, and the PF is back to 1 VF on vfio-pci")
    func rollback() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        host.kernel.failWrite(2, with: ENOMEM)
        let failed = host.run(["sriov", "create", "enp5s0f0", "--count", "4"])
        #expect(failed.status == 1 && failed.err.contains("ENOMEM") && failed.err.contains("pci=realloc"), "\(failed.err)")
        #expect(failed.err.contains("Rolled back: 0000:05:00.0 has 1 VFs again"), "\(failed.err)")
        #expect(numVFs(host) == "1" && host.driver("0000:05:10.0")?.hasSuffix("/vfio-pci") == true)
        #expect(!FileManager.default.fileExists(atPath: host.fake.root + "/var/lib/vfioctl/journal"))
    }

    @Test("killed after each journal record of a create: recover leaves the PF as it was")
    func recoverAfterKill() throws {
        for record in 1...12 {
            let host = try Self.host()
            defer { host.fake.remove() }
            let killed = host.run(["sriov", "create", "enp5s0f0", "--count", "3"], crash: JournalCrash(after: record, mode: .interrupt))
            if killed.status == 0 { break }
            let recovered = host.run(["recover"])
            #expect(recovered.status == 0, "record \(record): \(recovered.err)")
            #expect(numVFs(host) == "1" && host.driver("0000:05:10.0")?.hasSuffix("/vfio-pci") == true, "record \(record): \(numVFs(host) ?? "?")")
        }
    }
}

extension BindingCommandTests.Host {
    init(fake: FakeSysfs, modules: [String: String] = [:]) throws {
        self.fake = fake
        kernel = try SimulatedKernel(fake, modules: modules)
    }

    /// `arguments` run again, as a second run of a converged plan must be: exit 0 and not one
    /// write more (`unchanged`); `out` is what it printed, for the message.
    func rerun(_ arguments: [String]) -> (unchanged: Bool, out: String) {
        let count = kernel.writes.count
        let result = run(arguments)
        return (result.status == 0 && kernel.writes.count == count, result.out + result.err)
    }
}
