import Foundation
import Testing
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// `persist --reset-method`: a reset method chosen for boot, written by the udev rule to the
/// function's reset_method, kept in the records; refused where the kernel cannot take it.
@Suite("persist --reset-method: a persistent reset_method choice")
struct PersistResetMethodTests {
    typealias Host = BindingCommandTests.Host

    func file(_ host: Host, _ path: String) -> String? { try? String(contentsOfFile: host.fake.root + path, encoding: .utf8) }

    @Test("recorded for the address given, written by the udev rule, shown by status, kept when recorded again, forgotten with default")
    func record() throws {
        let host = try Host()
        defer { host.fake.remove() }
        let written = host.run(["persist", "0000:02:01.0", "--reset-method", "bus", "--write"])
        #expect(written.status == 0, "\(written.err)")
        #expect(written.out.contains("echo 'bus' > /sys/bus/pci/devices/0000:02:01.0/reset_method"), "\(written.out)")
        let records = try #require(file(host, "/etc/vfioctl/persist.conf"))
        #expect(records.contains("address=0000:02:01.0 devpath=/devices/pci0000:00/0000:00:1e.0/0000:02:01.0 id=8086:100e subsystem=0000:0000 class=0x020000 reset_method=bus driver=e1000"), "\(records)")
        #expect(!records.contains("address=0000:02:02.0 devpath=/devices/pci0000:00/0000:00:1e.0/0000:02:02.0 id=8086:100e subsystem=0000:0000 class=0x020000 reset_method"))
        let rules = try #require(file(host, "/etc/udev/rules.d/60-vfioctl-persist.rules"))
        #expect(rules.contains("KERNEL==\"0000:02:01.0\"") && rules.contains("ATTR{class}==\"0x020000\", ATTR{reset_method}=\"bus\", ATTR{driver_override}=\"vfio-pci\""),
                "\(rules)")
        #expect(rules.components(separatedBy: "ATTR{reset_method}").count == 2)

        let (status, document, _) = try host.json(["persist", "status"])
        let functions = ((document["sets"] as? [[String: Any]])?.first?["functions"] as? [[String: Any]]) ?? []
        #expect(status == 0 && functions.first?["reset_method"] as? [String] == ["bus"] && functions.last?["reset_method"] is NSNull, "\(functions)")
        #expect(host.run(["persist", "status"]).out.contains("0000:02:01.0: reset_method set to 'bus' at boot"))

        #expect(host.run(["persist", "--group", "3", "--write"]).status == 0)
        #expect(file(host, "/etc/vfioctl/persist.conf")?.contains("reset_method=bus") == true, "recording again keeps the choice")
        #expect(host.run(["persist", "0000:02:01.0", "--reset-method", "default", "--write"]).status == 0)
        #expect(file(host, "/etc/vfioctl/persist.conf")?.contains("reset_method") == false)
        #expect(file(host, "/etc/udev/rules.d/60-vfioctl-persist.rules")?.contains("ATTR{reset_method}") == false)

        // Only --group: every function of the group (both list only bus, the bridged e1000s).
        #expect(host.run(["persist", "--group", "3", "--reset-method", "bus", "--write"]).status == 0)
        #expect(file(host, "/etc/vfioctl/persist.conf")?.components(separatedBy: "reset_method=bus").count == 3)
        #expect(file(host, "/etc/udev/rules.d/60-vfioctl-persist.rules")?.components(separatedBy: "ATTR{reset_method}=\"bus\"").count == 3)
    }

    @Test("refused, nothing written: an unknown name (64), a method the function does not list, a kernel before 5.15, none listed (1)",
          arguments: [
              (["--reset-method", "warm"], nil as String?, Int32(64), "'warm' is not a reset method the kernel knows"),
              (["--reset-method", "bus,bus"], nil, Int32(64), "names a method twice"),
              (["--reset-method", ""], nil, Int32(64), "needs a reset method"),
              (["--reset-method", "flr,bus"], nil, Int32(1), "cannot reset by 'flr': its reset_method lists bus"),
              (["--reset-method", "bus"], "5.10.0-32-amd64", Int32(1), "no reset_method on this kernel (5.10.0-32-amd64)"),
          ] as [([String], String?, Int32, String)])
    func refused(_ arguments: [String], release: String?, status: Int32, message: String) throws {
        let host = try Host { fake in if let release { fake.kernelRelease = release } }
        defer { host.fake.remove() }
        let result = host.run(["persist", "0000:02:01.0", "--write"] + arguments)
        #expect(result.status == status && result.err.contains("error: ") && result.err.contains(message), "\(result.err)")
        #expect(result.err.contains("hint: "))
        #expect(file(host, "/etc/vfioctl/persist.conf") == nil && file(host, "/etc/udev/rules.d/60-vfioctl-persist.rules") == nil)
    }

    @Test("records: reset_method= round-trips; a damaged one is an error naming the line")
    func records() throws {
        let record = Persist.Record(set: PCIAddress("0000:01:00.0")!, address: PCIAddress("0000:01:00.0")!,
                                    devpath: "/devices/pci0000:00/0000:00:01.0/0000:01:00.0", vendorID: 0x10de, deviceID: 0x1b80,
                                    subsystemVendorID: nil, subsystemDeviceID: nil, classCode: 0x030000, driver: "nouveau",
                                    resetMethod: ["bus", "flr"])
        #expect(try Persist.parse(Persist.render([record])) == [record])
        for bad in ["reset_method=warm", "reset_method=", "reset_method=bus,bus", "reset_method=bus,,flr"] {
            let line = "set=0000:01:00.0 address=0000:01:00.0 devpath=/devices/x id=10de:1b80 class=0x030000 " + bad + "\n"
            #expect(throws: VFIOError.self) { try Persist.parse(line) }
        }
        #expect(try ResetMethod.parse("default") == nil)
        #expect(try ResetMethod.parse("flr pm") == ["flr", "pm"])
    }
}
