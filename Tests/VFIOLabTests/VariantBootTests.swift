import Foundation
import Glibc
import Testing
import VFIOCore
import VFIOTestSupport

/// Inside the 'modern' boot: Linux's own vfio-pci built as the variant driver e1000e_vfio_pci
/// (aliases `vfio_pci:v00008086d000010D3sv*sd*bc*sc*i*` and the same for 8086:10ca, igb's VFs;
/// scripts/lab-vfiovariant), installed in the running kernel's module directory and indexed by
/// depmod (lab/guest/vfiovariant.sh), two QEMU e1000e NICs (8086:10d3), each alone in its group,
/// and QEMU's igb (82576) whose VFs (8086:10ca) do not exist until vfioctl makes them. The kernel judges: the driver link,
/// vfio-dev/, /dev/vfio/N, /sys/module.
@Suite("Lab: a vfio-pci variant driver", .serialized, .enabled(if: Lab.inside("modern"), Lab.reason))
struct VariantBootTests {
    static let variant = "e1000e_vfio_pci"
    static let alias = "vfio_pci:v00008086d000010D3sv*sd*bc*sc*i*"
    static let vfAlias = "vfio_pci:v00008086d000010CAsv*sd*bc*sc*i*"
    static let state = "/tmp/vfioctl-variant-state"

    static func vfioctl(_ arguments: [String]) throws -> TestProcess.Result {
        try TestProcess.run(TestProcess.vfioctl, arguments, environment: ["VFIOCTL_STATE_DIR": state], timeout: 300)
    }

    /// The first e1000e NIC, on e1000e.
    static func nic() throws -> String {
        let address = try #require(Kernel.addresses().first { Kernel.hex(Kernel.device($0) + "/device") == "10d3" }, "no e1000e in this boot")
        if Kernel.driver(address) != "e1000e" { try Kernel.restore(address) }
        #expect(Kernel.driver(address) == "e1000e")
        return address
    }

    /// Back on e1000e with no override, whatever a test left.
    static func reset(_ address: String) {
        _ = try? vfioctl(["reattach", address])
        if Kernel.driver(address) != "e1000e" { try? Kernel.restore(address) }
    }

    @Test("depmod put the variant's alias in the running kernel's modules.alias; modinfo agrees")
    func installed() throws {
        let release = try #require(Kernel.read("/proc/sys/kernel/osrelease"))
        let aliases = try String(contentsOfFile: "/lib/modules/\(release)/modules.alias", encoding: .utf8)
        #expect(aliases.contains("alias \(Self.alias) \(Self.variant)\n"))
        #expect(aliases.contains("alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci\n"))
        let modinfo = try TestProcess.run("modinfo", ["-F", "alias", Self.variant], timeout: 60)
        #expect(modinfo.status == 0 && Set(modinfo.out.split(separator: "\n").map(String.init)) == [Self.alias, Self.vfAlias],
                "\(modinfo.out)\(modinfo.err)")
    }

    @Test("show names the variant (libvirt's best vfio_pci match), beside vfio_pci's match-all alias left out")
    func show() throws {
        let address = try Self.nic()
        let document = try VfioctlJSON.run(["show", address])
        #expect(document.string("vfio_variant") == Self.variant, "\(document)")
        #expect(document["vfio_variant_modules"] as? [String] == [Self.variant], "\(document)")
        let text = try Self.vfioctl(["show", address])
        // Text pads keys to one column: the line, whatever the padding.
        let line = text.out.split(separator: "\n").first { $0.contains("vfio driver:") }.map(String.init) ?? ""
        #expect(line.hasSuffix(" \(Self.variant) (best vfio_pci alias match: \(Self.alias))"), "\(text.out)")
    }

    @Test("detach binds the variant (modprobe by name, driver_override): vfio-dev/ and /dev/vfio/N; reattach gives e1000e back")
    func detachReattach() throws {
        let address = try Self.nic()
        defer { Self.reset(address) }
        let group = try #require(Kernel.group(address))
        let dryRun = try Self.vfioctl(["detach", address, "--dry-run"])
        #expect(dryRun.status == 0, "\(dryRun.err)")
        #expect(dryRun.out.contains("goes to \(Self.variant): best vfio_pci alias match: \(Self.alias)"), "\(dryRun.out)")
        #expect(Kernel.driver(address) == "e1000e")

        let detached = try Self.vfioctl(["detach", address, "--format", "json"])
        #expect(detached.status == 0, "\(detached.out)\(detached.err)")
        let plan = try #require(try TestProcess.json(detached.out)["plan"] as? [[String: Any]])
        #expect(plan.contains { $0.string("action") == "load-module" && $0.string("value") == Self.variant }, "\(plan)")
        #expect(plan.contains { $0.string("action") == "set-override" && $0.string("value") == Self.variant }, "\(plan)")
        #expect(Kernel.driver(address) == Self.variant)
        #expect(Kernel.exists("/sys/module/\(Self.variant)"))
        #expect(Kernel.exists(Kernel.device(address) + "/vfio-dev"))
        #expect(Kernel.exists("/dev/vfio/\(group)"))
        #expect(Kernel.read(Kernel.device(address) + "/driver_override") == Self.variant)
        // What vfioctl reports and checks: on vfio (the variant counts), the group viable.
        let shown = try VfioctlJSON.function(address)
        #expect(shown["vfio_device"] as? Bool == true, "\(shown)")

        let reattached = try Self.vfioctl(["reattach", address])
        #expect(reattached.status == 0, "\(reattached.out)\(reattached.err)")
        #expect(Kernel.driver(address) == "e1000e")
        #expect(Kernel.read(Kernel.device(address) + "/driver_override") == "(null)")
        #expect(!Kernel.exists(Kernel.device(address) + "/vfio-dev"))
    }

    @Test("--driver vfio-pci: plain vfio-pci; --driver with a module that is no variant of it: refused, nothing changed")
    func driverOption() throws {
        let address = try Self.nic()
        defer { Self.reset(address) }
        let plain = try Self.vfioctl(["detach", address, "--driver", "vfio-pci"])
        #expect(plain.status == 0, "\(plain.out)\(plain.err)")
        #expect(Kernel.driver(address) == "vfio-pci")
        Self.reset(address)
        #expect(Kernel.driver(address) == "e1000e")

        let refused = try Self.vfioctl(["detach", address, "--driver", "igb"])
        #expect(refused.status == 2, "\(refused.out)\(refused.err)")
        #expect(refused.err.contains("error: ") && refused.err.contains("igb is not a vfio-pci variant driver of \(address)"), "\(refused.err)")
        #expect(refused.err.contains("hint: "))
        #expect(Kernel.driver(address) == "e1000e")
    }

    @Test("VFs not made yet: sriov create and apply bind igb's VFs to the variant their PF's sriov_vf_device matches, each checked once it exists")
    func virtualFunctions() throws {
        let pf = try IGBBootTests.PF.find()
        defer { pf.reset() }
        #expect(Kernel.read(pf.path + "/sriov_vf_device") == "10ca")
        let created = try Self.vfioctl(["sriov", "create", pf.address, "--count", "2", "--format", "json"])
        #expect(created.status == 0, "\(created.out)\(created.err)")
        let document = try TestProcess.json(created.out)
        let chosen = (document["findings"] as? [[String: Any]] ?? []).compactMap { $0["message"] as? String }
        #expect(chosen.contains { $0.contains("go to \(Self.variant): best vfio_pci alias match for its VFs") && $0.contains(Self.vfAlias) }, "\(chosen)")
        for index in 0..<2 {
            let vf = try #require(pf.vf(index))
            #expect(Kernel.driver(vf) == Self.variant, "VF \(index) \(vf)")
            #expect(Kernel.exists(Kernel.device(vf) + "/vfio-dev"), "VF \(index) \(vf)")
        }
        let again = try Self.vfioctl(["sriov", "create", pf.address, "--count", "2", "--format", "json"])
        let againPlan = try TestProcess.json(again.out)["plan"] as? [Any]
        #expect(again.status == 0 && againPlan?.isEmpty == true, "\(again.out)")
        let vf0 = try #require(pf.vf(0))
        let verdict = try QEMU.verdict(vf0)
        #expect(verdict.accepted, "\(verdict.output)")

        // A pool: the best for VFs 0-1, vfio-pci named for VF 2; the count changes, so all three are new.
        let file = "/tmp/vfioctl-variant-pool.toml"
        try "[[pf]]\ndevice = \"\(pf.address)\"\nvfs = 3\n\n[[pf.vf]]\nindex = 2\ndriver = \"vfio-pci\"\n".write(toFile: file, atomically: true, encoding: .utf8)
        let applied = try Self.vfioctl(["apply", file])
        #expect(applied.status == 0, "\(applied.out)\(applied.err)")
        #expect(pf.vfDrivers(3) == [Self.variant, Self.variant, "vfio-pci"], "\(applied.out)")
        let reapplied = try Self.vfioctl(["apply", file, "--format", "json"])
        let reappliedPlan = try TestProcess.json(reapplied.out)["plan"] as? [Any]
        #expect(reapplied.status == 0 && reappliedPlan?.isEmpty == true, "\(reapplied.out)")
    }
}
