import Foundation
import Glibc
import Testing
import VFIOTestSupport

/// Inside the 'actuator' boot: detach, reattach and recover on Linux, judged by sysfs and QEMU.
@Suite("Lab: detach, reattach, recover", .serialized, .enabled(if: Lab.inside("actuator", "actuator-6.12"), Lab.reason))
struct ActuatorBootTests {
    static let stateDir = "/tmp/vfioctl-state"

    static func vfioctl(_ arguments: [String], environment: [String: String] = [:]) throws -> TestProcess.Result {
        try TestProcess.run(TestProcess.vfioctl, arguments, environment: ["VFIOCTL_STATE_DIR": stateDir].merging(environment) { $1 },
                            timeout: 300)
    }

    static func json(_ arguments: [String]) throws -> [String: Any] {
        let result = try vfioctl(arguments + ["--format", "json"])
        guard result.status == 0 else { throw LabError("vfioctl \(arguments) exited \(result.status): \(result.err)") }
        return try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as? [String: Any] ?? [:]
    }

    /// The lab's devices: the isolated NIC behind a root port, the two behind the PCI bridge.
    static func devices() throws -> (isolated: String, bridge: String, bridged: [String]) {
        let functions = try VfioctlJSON.functions()
        func ids(_ f: [String: Any]) -> String { "\(f.string("vendor_id") ?? ""):\(f.string("device_id") ?? "")" }
        let bridge = try #require(functions.first { ids($0) == "1b36:0001" }?.string("address"))
        let bridged = functions.filter { $0.string("parent") == bridge }.compactMap { $0.string("address") }.sorted()
        let isolated = try #require(functions.first { f in
            ids(f) == "8086:10d3" && functions.contains { $0.string("address") == f.string("parent") && ids($0) == "1b36:000c" }
        }?.string("address"))
        return (isolated, bridge, bridged)
    }

    /// driver/driver_override as sysfs has them ("e1000e/(null)").
    static func binding(_ address: String) -> String {
        (Kernel.driver(address) ?? "-") + "/" + (Kernel.read(Kernel.device(address) + "/driver_override") ?? "?")
    }

    @Test("the driver core does what the unit tests' SimulatedKernel assumes")
    func driverCoreSemantics() throws {
        let (isolated, _, _) = try Self.devices()
        try Kernel.modprobe("vfio-pci")
        let group = try #require(Kernel.group(isolated))
        // unbind from a driver the device is not on: ENODEV.
        #expect(throws: (any Error).self) { try Kernel.write(isolated, to: "/sys/bus/pci/drivers/vfio-pci/unbind") }
        // An override naming a driver that is not registered: drivers_probe binds nothing.
        try Kernel.write("no-such-driver", to: Kernel.device(isolated) + "/driver_override")
        try Kernel.write(isolated, to: Kernel.device(isolated) + "/driver/unbind")
        try Kernel.write(isolated, to: "/sys/bus/pci/drivers_probe")
        #expect(Kernel.driver(isolated) == nil)
        // driver_override reads "(null)" once cleared with a newline; /dev/vfio/N comes and goes with vfio-pci.
        try Kernel.write("\n", to: Kernel.device(isolated) + "/driver_override")
        #expect(Kernel.read(Kernel.device(isolated) + "/driver_override") == "(null)")
        try Kernel.bindToVFIO(isolated)
        #expect(Kernel.exists("/dev/vfio/\(group)") && Kernel.exists(Kernel.device(isolated) + "/vfio-dev"))
        try Kernel.restore(isolated)
        #expect(Kernel.driver(isolated) == "e1000e" && !Kernel.exists("/dev/vfio/\(group)"))
    }

    @Test("an isolated NIC: detach puts it on vfio-pci and QEMU takes it; reattach gives e1000e back")
    func isolatedRoundTrip() throws {
        let (isolated, _, _) = try Self.devices()
        try? Kernel.restore(isolated)
        let group = try #require(Kernel.group(isolated))
        let before = Self.binding(isolated)
        var document: [String: Any] = [:]
        let detachTime = try Lab.seconds { document = try Self.json(["detach", isolated]) }
        #expect(Self.binding(isolated) == "vfio-pci/vfio-pci" && Kernel.exists("/dev/vfio/\(group)"))
        #expect((document["functions"] as? [[String: Any]])?.first?["driver_after"] as? String == "vfio-pci")
        #expect(try QEMU.verdict(isolated).accepted)
        let reattachTime = try Lab.seconds { _ = try Self.json(["reattach", isolated]) }
        #expect(Self.binding(isolated) == before && before == "e1000e/(null)")
        #expect(!Kernel.exists("/dev/vfio/\(group)"))
        print("lab timing: detach of 1 function \(String(format: "%.2f", detachTime)) s, reattach \(String(format: "%.2f", reattachTime)) s")
    }

    @Test("the bridged group through one address: both NICs go, the bridge stays; QEMU takes it; reattach restores both")
    func sharedGroup() throws {
        let (_, bridge, bridged) = try Self.devices()
        #expect(bridged.count == 2)
        let detachTime = try Lab.seconds { _ = try Self.json(["detach", bridged[0]]) }
        for address in bridged { #expect(Self.binding(address) == "vfio-pci/vfio-pci", "\(address)") }
        #expect(Kernel.driver(bridge) == nil)
        #expect(try QEMU.verdict(bridged[1]).accepted)
        let reattachTime = try Lab.seconds { _ = try Self.json(["reattach", "--all"]) }
        for address in bridged { #expect(Self.binding(address) == "e1000/(null)", "\(address)") }
        print("lab timing: detach of a 2-function group \(String(format: "%.2f", detachTime)) s, reattach \(String(format: "%.2f", reattachTime)) s")
    }

    /// SIGKILL after journal records in turn; recover must leave each function on its original
    /// driver (undo) or fully on vfio-pci (--finish), never unbound. The kill points are every
    /// state the host can be in: before anything (the header's first and last record), just
    /// before each step's write (its `begin` record), and after the last step (its `done`, and
    /// `finished`). A step's `done` leaves the host as the next step's `begin` does; the unit
    /// tests kill after every record of the same plan on the simulated kernel
    /// (ApplierTests.crashAtEveryRecord). Undo and --finish alternate.
    @Test("killed after each journal record: recover leaves nothing unbound or half-detached")
    func killedAtEveryRecord() throws {
        let (_, _, bridged) = try Self.devices()
        let plan = try Self.json(["detach", bridged[0], "--dry-run"])
        let steps = (plan["plan"] as? [Any])?.count ?? 0
        #expect(steps == 9)
        // Records: magic, run, command, 2 originals, 9 steps (the header: the host is untouched
        // until it is complete, so its first and last record stand for all of it), then begin and
        // done for each step, then finished: every point that leaves a different host or journal.
        let header = 3 + 2 + steps
        let records = header + steps * 2 + 1
        var outcomes: [String] = []
        let begins = (1...steps).map { header + 2 * $0 - 1 }
        for (index, record) in ([1, header] + begins + [records - 1, records]).enumerated() {
            let finish = index % 2 == 1
            let killed = try Self.vfioctl(["detach", bridged[0]], environment: ["VFIOCTL_JOURNAL_KILL_AFTER": "\(record)"])
            #expect(killed.status == SIGKILL || record == records + 1, "record \(record): status \(killed.status) \(killed.err)")
            let recover = try Self.vfioctl(["recover", "--format", "json"] + (finish ? ["--finish"] : []))
            #expect(recover.status == 0, "record \(record): \(recover.err)")
            let action = ((try? JSONSerialization.jsonObject(with: Data(recover.out.utf8))) as? [String: Any])?["action"] as? String ?? "?"
            let states = bridged.map(Self.binding)
            for state in states { #expect(!state.hasPrefix("-/"), "record \(record): \(bridged) \(states): unbound") }
            let allVFIO = states.allSatisfy { $0 == "vfio-pci/vfio-pci" }
            let allHost = states.allSatisfy { $0 == "e1000/(null)" }
            #expect(allVFIO || allHost, "record \(record): half-detached \(states)")
            if !finish && action == "undone" { #expect(allHost, "record \(record): undo left \(states)") }
            #expect(!Kernel.exists(Self.stateDir + "/journal"), "record \(record)")
            outcomes.append("\(record):\(action):\(allVFIO ? "vfio" : "host")")
            // Back to e1000 by hand (faster than another vfioctl under emulation).
            if allVFIO { for address in bridged { try Kernel.restore(address) } }
        }
        print("lab recover outcomes: " + outcomes.joined(separator: " "))
    }

    @Test("reattach refuses while QEMU holds the group, naming it; works once QEMU is gone")
    func inUse() throws {
        let (isolated, _, _) = try Self.devices()
        _ = try Self.json(["detach", isolated])
        let group = try #require(Kernel.group(isolated))
        var unlimited = rlimit(rlim_cur: rlim_t.max, rlim_max: rlim_t.max)
        _ = setrlimit(__rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue), &unlimited)
        let qemu = Process()
        qemu.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-system-x86_64")
        qemu.arguments = ["-name", "guest=labguest", "-machine", "pc,accel=tcg", "-m", "64", "-nodefaults", "-display", "none", "-S",
                          "-device", "vfio-pci,host=\(isolated)"]
        qemu.standardInput = FileHandle.nullDevice
        qemu.standardOutput = FileHandle.nullDevice
        qemu.standardError = FileHandle.nullDevice
        try qemu.run()
        // SIGKILL: QEMU started by Foundation's Process inherits a signal mask that blocks SIGTERM.
        let stop = { if qemu.isRunning { kill(qemu.processIdentifier, SIGKILL); qemu.waitUntilExit() } }
        defer { stop() }
        // Wait until QEMU has the group open.
        var held = false
        for _ in 0..<600 where !held {
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(qemu.processIdentifier)/fd")) ?? []
            held = fds.contains { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(qemu.processIdentifier)/fd/\($0)")) == "/dev/vfio/\(group)" }
            if !held { usleep(100_000) }
        }
        // Without QEMU holding the group, a reattach would not be refused: it would block.
        try #require(held, "QEMU did not open /dev/vfio/\(group) (running: \(qemu.isRunning))")
        let refused = try Self.vfioctl(["reattach", isolated])
        #expect(refused.status == 2, "\(refused.out)\(refused.err)")
        #expect(refused.out.contains("device.in-use") && refused.out.contains("guest 'labguest'"), "\(refused.out)")
        #expect(Self.binding(isolated) == "vfio-pci/vfio-pci")
        stop()
        _ = try Self.json(["reattach", isolated])
        #expect(Self.binding(isolated) == "e1000e/(null)")
    }

    @Test("two detaches at once take turns on the lock")
    func serialized() throws {
        let (isolated, _, bridged) = try Self.devices()
        try? FileManager.default.removeItem(atPath: Self.stateDir + "/history")
        let launch = { (address: String) -> (Process, Pipe) in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: TestProcess.vfioctl)
            process.arguments = ["detach", address]
            process.environment = ProcessInfo.processInfo.environment.merging(["VFIOCTL_STATE_DIR": Self.stateDir]) { $1 }
            let err = Pipe()
            process.standardError = err
            process.standardOutput = FileHandle.nullDevice
            return (process, err)
        }
        let runs = [launch(isolated), launch(bridged[0])]
        for (process, _) in runs { try process.run() }
        var errors: [String] = []
        for (process, err) in runs {
            errors.append(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(errors.last ?? "")")
        }
        let history = (Kernel.read(Self.stateDir + "/history") ?? "").split(separator: "\n").map { $0.split(separator: " ") }
        #expect(history.count == 2, "\(history)")
        if history.count == 2, let s0 = Double(history[0][0]), let e0 = Double(history[0][1]), let s1 = Double(history[1][0]) {
            #expect(s0 <= e0 && e0 <= s1, "runs overlapped: \(history)")
        }
        for address in [isolated] + bridged { #expect(Self.binding(address) == "vfio-pci/vfio-pci") }
        _ = try Self.json(["reattach", "--all"])
        print("lab lock: " + errors.joined(separator: " | ").replacingOccurrences(of: "\n", with: " "))
    }

    @Test("config modprobe --write: vfio-pci claims the IDs (before e1000e, by softdep) when the modules load again")
    func modprobeClaims() throws {
        let (isolated, _, _) = try Self.devices()
        let nics = Kernel.addresses().filter { Kernel.hex(Kernel.device($0) + "/vendor") == "8086" && Kernel.hex(Kernel.device($0) + "/device") == "10d3" }
        #expect(nics.count == 2 && nics.contains(isolated))
        // /etc is an overlay in the guest: the write stays inside it.
        let written = try Self.vfioctl(["config", "modprobe", "--vfio-ids", "8086:10d3", "--softdep", "e1000e", "--write"])
        #expect(written.status == 0, "\(written.err)")
        defer {
            try? FileManager.default.removeItem(atPath: "/etc/modprobe.d/vfio.conf")
            _ = try? TestProcess.run("modprobe", ["-r", "vfio_pci"])
            _ = try? TestProcess.run("modprobe", ["-r", "e1000e"])
            _ = try? TestProcess.run("modprobe", ["e1000e"])
        }
        for module in ["e1000e", "vfio_pci"] { _ = try TestProcess.run("modprobe", ["-r", module]) }
        let loaded = try TestProcess.run("modprobe", ["e1000e"])
        #expect(loaded.status == 0, "\(loaded.err)")
        for nic in nics { #expect(Kernel.driver(nic) == "vfio-pci", "\(nic): \(Kernel.driver(nic) ?? "no driver")") }
    }

    @Test("config initramfs --write: the real mkinitramfs, for the booted kernel, puts the vfio modules into the image's load list")
    func initramfsImage() throws {
        let release = try #require(Kernel.read("/proc/sys/kernel/osrelease"))
        let modules = "/etc/initramfs-tools/modules"
        let before = try #require(Kernel.read(modules), "initramfs-tools is not installed (linux-image-amd64 brings it)")
        // /etc is an overlay in the guest: the write stays inside it, and is put back for the other tests.
        let written = try Self.vfioctl(["config", "initramfs", "--write"])
        #expect(written.status == 0 && written.out.contains("wrote /etc/initramfs-tools/modules"), "\(written.out)\(written.err)")
        defer { try? (before + "\n").write(toFile: modules, atomically: true, encoding: .utf8) }
        let virqfd = (try FileManager.default.contentsOfDirectory(atPath: "/lib/modules")).contains { installed in
            ["", ".xz", ".zst", ".gz"].contains { Kernel.exists("/lib/modules/\(installed)/kernel/drivers/vfio/vfio_virqfd.ko" + $0) }
        }
        let expected = ["vfio_pci", "vfio", "vfio_iommu_type1"] + (virqfd ? ["vfio_virqfd"] : [])
        // A quick image: only the listed modules, gzip.
        let work = "/tmp/vfioctl-initramfs"
        try? FileManager.default.removeItem(atPath: work)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        #expect(try TestProcess.run("cp", ["-r", "/etc/initramfs-tools", work + "/conf"]).status == 0)
        let conf = work + "/conf/initramfs.conf"
        let quick = try String(contentsOfFile: conf, encoding: .utf8).replacingOccurrences(of: "MODULES=most", with: "MODULES=list")
            .replacingOccurrences(of: "COMPRESS=zstd", with: "COMPRESS=gzip")
        try quick.write(toFile: conf, atomically: true, encoding: .utf8)
        let image = work + "/initrd.img"
        let built = try TestProcess.run("mkinitramfs", ["-d", work + "/conf", "-o", image, release], timeout: 600)
        #expect(built.status == 0, "\(built.err)")
        #expect(try TestProcess.run("unmkinitramfs", [image, work + "/unpacked"], timeout: 300).status == 0)
        let loads = try String(contentsOfFile: work + "/unpacked/conf/modules", encoding: .utf8)
        #expect(loads.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) } == expected, "\(loads)")
        let listed = try TestProcess.run("lsinitramfs", [image], timeout: 300).out
        for module in ["vfio-pci.ko", "vfio.ko", "vfio_iommu_type1.ko"] {
            #expect(listed.contains("/kernel/drivers/vfio/") && listed.contains(module), "\(module) not in the image")
        }
    }

    /// udevd as the boot has it; started here when the guest's init did not.
    static func udev() throws {
        if try TestProcess.run("udevadm", ["control", "--ping"]).status != 0 {
            let started = try TestProcess.run("/lib/systemd/systemd-udevd", ["--daemon"])
            guard started.status == 0 else { throw LabError("systemd-udevd --daemon: \(started.err)") }
        }
        _ = try TestProcess.run("udevadm", ["control", "--reload"])
    }

    /// The two NICs (identical IDs) leave and come back with no driver module loaded: what a boot
    /// looks like to udev.
    static func replug(_ nics: [String]) throws {
        for module in ["e1000e", "vfio_pci"] { _ = try TestProcess.run("modprobe", ["-r", module]) }
        for nic in nics { try Kernel.write("1", to: Kernel.device(nic) + "/remove") }
        try Kernel.write("1", to: "/sys/bus/pci/rescan")
        _ = try TestProcess.run("udevadm", ["settle", "--timeout=60"], timeout: 90)
    }

    @Test("persist: of two identical NICs only the recorded one goes to vfio-pci at 'boot' (real udev), and persist apply binds it; a changed record is refused")
    func persist() throws {
        let nics = Kernel.addresses().filter { Kernel.hex(Kernel.device($0) + "/vendor") == "8086" && Kernel.hex(Kernel.device($0) + "/device") == "10d3" }
        #expect(nics.count == 2)
        let (target, other) = (nics[0], nics[1])
        let rules = "/etc/udev/rules.d/60-vfioctl-persist.rules"
        defer {
            _ = try? Self.vfioctl(["persist", "remove", "--all", "--write"])
            for path in [rules, "/etc/vfioctl/persist.conf", "/etc/systemd/system/vfioctl-persist.service"] { try? FileManager.default.removeItem(atPath: path) }
            _ = try? TestProcess.run("udevadm", ["control", "--reload"])
            _ = try? Self.vfioctl(["reattach", target])
        }
        let written = try Self.vfioctl(["persist", target, "--write"])
        #expect(written.status == 0 && written.out.contains("wrote /etc/vfioctl/persist.conf"), "\(written.out)\(written.err)")
        let pending = try Self.vfioctl(["persist", "status"])
        #expect(pending.status == 0 && pending.out.contains("pending"), "\(pending.out)")

        // udev at "boot": the rule sets driver_override before e1000e loads; ids= could not tell these two apart.
        try Self.udev()
        try Self.replug(nics)
        #expect(Self.binding(target) == "vfio-pci/vfio-pci", "\(target): \(Self.binding(target))")
        #expect(Self.binding(other) == "e1000e/(null)", "\(other): \(Self.binding(other))")

        // What a host driver took before udev ran: persist apply moves it, through the journal.
        let back = try Self.vfioctl(["reattach", target])
        #expect(back.status == 0 && Kernel.driver(target) == "e1000e", "\(back.err)")
        var applied = try Self.vfioctl(["persist", "apply"])
        let took = try Lab.seconds { applied = try Self.vfioctl(["persist", "apply"]) }
        #expect(applied.status == 0 && Kernel.driver(target) == "vfio-pci" && Kernel.driver(other) == "e1000e", "\(applied.err)")
        #expect(!Kernel.exists(Self.stateDir + "/journal"))
        let sets = try Self.json(["persist", "status"])["sets"] as? [[String: Any]]
        #expect(sets?.count == 1 && sets?.first?["state"] as? String == "bound", "\(sets ?? [])")
        print("lab persist: second apply (nothing to do) \(String(format: "%.2f", took)) s")

        // Another card in the slot (a different subsystem ID): the rule does not match, apply refuses.
        _ = try Self.vfioctl(["reattach", target])
        let vendor = try #require(Kernel.hex(Kernel.device(target) + "/subsystem_vendor"))
        let device = try #require(Kernel.hex(Kernel.device(target) + "/subsystem_device"))
        for path in ["/etc/vfioctl/persist.conf", rules] {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let changed = text.replacingOccurrences(of: "subsystem=\(vendor):\(device)", with: "subsystem=\(vendor):fffe")
                .replacingOccurrences(of: "ATTR{subsystem_device}==\"0x\(device)\"", with: "ATTR{subsystem_device}==\"0xfffe\"")
            #expect(changed != text, "\(path) did not name subsystem \(vendor):\(device): \(text)")
            try changed.write(toFile: path, atomically: true, encoding: .utf8)
        }
        _ = try TestProcess.run("udevadm", ["control", "--reload"])
        try Self.replug(nics)
        #expect(Kernel.driver(target) == "e1000e" && Kernel.driver(other) == "e1000e", "\(Self.binding(target)) \(Self.binding(other))")
        let refused = try Self.vfioctl(["persist", "apply"])
        #expect(refused.status == 1 && refused.err.contains("another device is in that slot") && Kernel.driver(target) == "e1000e", "\(refused.err)")
    }
}
