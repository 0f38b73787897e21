import Foundation
import Testing
import VFIOActuator
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// detach, reattach and recover as an admin runs them, in process, against a simulation of the
/// kernel's driver core over a fake tree (the lab runs the same on Linux).
@Suite("detach, reattach, recover")
struct BindingCommandTests {
    struct Host {
        let fake: FakeSysfs
        let kernel: SimulatedKernel
        /// VF attributes over "netlink" (sriov set, restore, apply), when the test gives one.
        var netlink: RecordingVFNetlink?
        /// The pci.ids that names devices (nil: libpci's).
        var pciIDs: String?

        /// `modules`: modules modprobe can load besides vfio-pci (a variant driver), each with its driver.
        init(modules: [String: String] = [:], _ adjust: (inout FakeSysfs) -> Void = { _ in }) throws {
            fake = checkHost(adjust)
            kernel = try SimulatedKernel(fake, modules: modules)
        }

        func run(_ arguments: [String], crash: JournalCrash? = nil) -> (status: Int32, out: String, err: String) {
            let kernel = self.kernel
            return Vfioctl.capture(arguments + ["--root", fake.root],
                                   invocation: Invocation(pciIDs: pciIDs, actuators: .simulated(kernel, netlink: netlink, crash: crash)))
        }

        func json(_ arguments: [String], crash: JournalCrash? = nil) throws -> (Int32, [String: Any], String) {
            let result = run(arguments + ["--format", "json"], crash: crash)
            let document = try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as? [String: Any] ?? [:]
            return (result.status, document, result.err)
        }

        func driver(_ address: String) -> String? {
            try? FileManager.default.destinationOfSymbolicLink(atPath: fake.root + "/sys/bus/pci/devices/\(address)/driver")
        }
    }

    @Test("--dry-run prints the exact plan (action, path, value) and writes nothing")
    func dryRun() throws {
        let host = try Host()
        defer { host.fake.remove() }
        let (status, document, _) = try host.json(["detach", "0000:02:01.0", "--dry-run"])
        #expect(status == 0 && host.kernel.writes.isEmpty)
        let plan = document["plan"] as? [[String: Any]] ?? []
        #expect(plan.first?["action"] as? String == "set-override")
        #expect(plan.first?["path"] as? String == "/sys/bus/pci/devices/0000:02:01.0/driver_override")
        #expect(plan.first?["value"] as? String == "vfio-pci" && plan.first?["result"] as? String == "planned")
        #expect(plan.map { $0["action"] as? String ?? "" }.filter { $0 == "unbind" }.count == 2)
        #expect(document["dry_run"] as? Bool == true && document["schema_version"] as? Int == 1)
        let functions = document["functions"] as? [[String: Any]] ?? []
        #expect(functions.map { $0["driver_after"] as? String } == ["vfio-pci", "vfio-pci"])
        let text = host.run(["detach", "--group", "3", "--dry-run"])
        #expect(text.out.contains("plan (nothing is written with --dry-run)") && text.out.contains("/sys/bus/pci/drivers_probe"))
        #expect(!FileManager.default.fileExists(atPath: host.fake.root + "/var/lib/vfioctl/journal"))
    }

    @Test("detach, then reattach: the group goes to vfio-pci and comes back to its drivers")
    func roundTrip() throws {
        let host = try Host()
        defer { host.fake.remove() }
        let (status, document, err) = try host.json(["detach", "0000:02:01.0"])
        #expect(status == 0, "\(err)")
        #expect((document["functions"] as? [[String: Any]])?.map { $0["driver_after"] as? String } == ["vfio-pci", "vfio-pci"])
        #expect(host.driver("0000:02:02.0")?.hasSuffix("/vfio-pci") == true)
        let records = try String(contentsOfFile: host.fake.root + "/var/lib/vfioctl/detached", encoding: .utf8)
        #expect(records.contains("original 0000:02:01.0 group=3 driver=e1000"))
        let history = try String(contentsOfFile: host.fake.root + "/var/lib/vfioctl/history", encoding: .utf8)
        #expect(history.contains(" detach ok "))
        let back = host.run(["reattach", "--group", "3"])
        #expect(back.status == 0, "\(back.err)")
        #expect(back.out.contains("0000:02:01.0  vfio-pci  ->  e1000"), "\(back.out)")
        #expect(host.driver("0000:02:01.0")?.hasSuffix("/e1000") == true && host.driver("0000:02:02.0")?.hasSuffix("/e1000") == true)
        #expect(try String(contentsOfFile: host.fake.root + "/var/lib/vfioctl/detached", encoding: .utf8).isEmpty)
    }

    @Test("guards: the root disk is refused (exit 2, nothing written); --force takes it, loudly")
    func guardRefuses() throws {
        let host = try Host()
        defer { host.fake.remove() }
        let refused = host.run(["detach", "0000:03:00.0"])
        #expect(refused.status == 2 && host.kernel.writes.isEmpty)
        #expect(refused.out.contains("device.host-critical") && refused.out.contains("refused: nothing was changed"))
        let forced = host.run(["detach", "0000:03:00.0", "--force"])
        #expect(forced.status == 0 && forced.err.contains("warning: --force"), "\(forced.err)")
        #expect(host.driver("0000:03:00.0")?.hasSuffix("/vfio-pci") == true)
    }

    @Test("a failed write rolls back and exits 1 with the errno; an interrupted run blocks the next until recover")
    func failureAndRecover() throws {
        let host = try Host()
        defer { host.fake.remove() }
        host.kernel.failWrite(2, with: EBUSY)  // the first drivers_probe
        let failed = host.run(["detach", "--group", "3"])
        #expect(failed.status == 1 && failed.err.contains("EBUSY") && failed.err.contains("Rolled back"), "\(failed.err)")
        #expect(host.driver("0000:02:01.0")?.hasSuffix("/e1000") == true)
        #expect(!FileManager.default.fileExists(atPath: host.fake.root + "/var/lib/vfioctl/journal"))
        host.kernel.clearFailures()

        let interrupted = host.run(["detach", "--group", "3"], crash: JournalCrash(after: 19, mode: .interrupt))
        #expect(interrupted.status == 1)
        let blocked = host.run(["detach", "0000:01:00.0"])
        #expect(blocked.status == 1 && blocked.err.contains("did not finish") && blocked.err.contains("vfioctl recover"), "\(blocked.err)")
        let recovered = host.run(["recover"])
        #expect(recovered.status == 0 && recovered.out.contains("undo it"), "\(recovered.err)")
        #expect(host.driver("0000:02:01.0")?.hasSuffix("/e1000") == true && host.driver("0000:02:02.0")?.hasSuffix("/e1000") == true)
        let nothing = host.run(["recover"])
        #expect(nothing.status == 0 && nothing.out.contains("nothing to recover"))
    }

    @Test("recover --finish completes an interrupted detach and writes its records")
    func recoverFinish() throws {
        let host = try Host()
        defer { host.fake.remove() }
        _ = host.run(["detach", "--group", "3"], crash: JournalCrash(after: 19, mode: .interrupt))
        let (status, document, err) = try host.json(["recover", "--finish"])
        #expect(status == 0 && document["action"] as? String == "finished", "\(err)")
        #expect(host.driver("0000:02:02.0")?.hasSuffix("/vfio-pci") == true)
        #expect(try String(contentsOfFile: host.fake.root + "/var/lib/vfioctl/detached", encoding: .utf8).contains("0000:02:02.0"))
    }

    @Test("bad input: no target, a malformed or unknown address, an unknown group; the lock held elsewhere")
    func badInput() throws {
        let host = try Host()
        defer { host.fake.remove() }
        #expect(host.run(["detach"]).status == 64)
        #expect(host.run(["reattach"]).err.contains("--all"))
        #expect(host.run(["detach", "02:01.9"]).status == 64)
        let unknown = host.run(["detach", "0000:0f:00.0"])
        #expect(unknown.status == 1 && unknown.err.contains("no PCI function 0000:0f:00.0"))
        #expect(host.run(["detach", "--group", "99"]).status == 1)
        #expect(host.run(["detach", "--group", "3", "--wait", "-1"]).status == 64)
        let state = StateDirectory(path: host.fake.root + "/var/lib/vfioctl")
        let held = try state.lock(wait: 0, holder: "pid 99: vfioctl detach --group 8") { _ in }
        defer { held.release() }
        let busy = host.run(["detach", "--group", "3", "--wait", "0.2"])
        #expect(busy.status == 1 && busy.err.contains("pid 99: vfioctl detach --group 8 holds"), "\(busy.err)")
        #expect(host.kernel.writes.isEmpty)
    }

    @Test("reattach --all: every recorded function; without records, nothing to do")
    func reattachAll() throws {
        let host = try Host()
        defer { host.fake.remove() }
        #expect(host.run(["reattach", "--all"]).out.contains("nothing to change"))
        #expect(host.run(["detach", "0000:01:00.0"]).status == 0)
        #expect(host.run(["detach", "--group", "3"]).status == 0)
        let all = host.run(["reattach", "--all"])
        #expect(all.status == 0, "\(all.err)")
        for (address, driver) in [("0000:01:00.0", "e1000e"), ("0000:02:01.0", "e1000"), ("0000:02:02.0", "e1000")] {
            #expect(host.driver(address)?.hasSuffix("/" + driver) == true, "\(address)")
        }
    }
}
