import Glibc
import Testing
import VFIOActuator
import VFIOCore
import VFIODeviceLayer
import VFIOTestSupport

/// The applier against a simulation of the PCI driver core over a fake tree (SimulatedKernel):
/// what it writes, in what order, and what it leaves behind when a write fails or the process
/// dies after any journal record.
@Suite("applying plans")
struct ApplierTests {
    struct Rig {
        let fake: FakeSysfs
        let kernel: SimulatedKernel
        let state: StateDirectory
        var applier: Applier { Applier(kernel: kernel, settleTimeout: 0.1, pollInterval: 0.02) }

        init(_ adjust: (inout FakeSysfs) -> Void = { _ in }) throws {
            fake = bindingHost(adjust)
            kernel = try SimulatedKernel(fake)
            state = StateDirectory(root: try HostRoot(fake.root))
        }

        func detachPlan(_ addresses: [String]) throws -> Plan {
            BindingPlanner.detach(.init(addresses: addresses.map(pci)), try fake.snapshot(), try fake.facts())
        }

        func reattachPlan(_ addresses: [String]) throws -> Plan {
            BindingPlanner.reattach(.init(addresses: addresses.map(pci)), records: try state.records(), try fake.snapshot(), try fake.facts())
        }

        /// Runs a plan in a transaction, as the commands do.
        @discardableResult
        func run(_ plan: Plan, crash: JournalCrash? = nil) throws -> RunReport {
            try Transaction.simulated(root: fake.root, kernel, crash: crash).run(plan)
        }

        func bindings(_ addresses: [String]) throws -> [String: String] {
            var out: [String: String] = [:]
            for address in addresses {
                let (driver, override) = try fake.binding(address)
                out[address] = (driver ?? "-") + "/" + (override ?? "-")
            }
            return out
        }
    }

    static let bridged = ["0000:02:01.0", "0000:02:02.0"]

    @Test("detach writes exactly the plan; the group ends on vfio-pci with /dev/vfio/N; a second run writes nothing")
    func detach() throws {
        let rig = try Rig()
        defer { rig.fake.remove() }
        let plan = try rig.detachPlan(["0000:02:01.0"])
        let outcome = try rig.run(plan)
        #expect(rig.kernel.writes.map(\.description) == [
            "/sys/bus/pci/devices/0000:02:01.0/driver_override <- vfio-pci", "/sys/bus/pci/drivers/e1000/unbind <- 0000:02:01.0",
            "/sys/bus/pci/drivers_probe <- 0000:02:01.0",
            "/sys/bus/pci/devices/0000:02:02.0/driver_override <- vfio-pci", "/sys/bus/pci/drivers/e1000/unbind <- 0000:02:02.0",
            "/sys/bus/pci/drivers_probe <- 0000:02:02.0",
        ])
        #expect(outcome.results.filter { $0 == .done }.count == 6)
        #expect(outcome.changes == [.binding(pci("0000:02:01.0"), before: "e1000", after: .bound("vfio-pci"), new: false),
                                    .binding(pci("0000:02:02.0"), before: "e1000", after: .bound("vfio-pci"), new: false)])
        #expect(try rig.bindings(Self.bridged) == ["0000:02:01.0": "vfio-pci/vfio-pci", "0000:02:02.0": "vfio-pci/vfio-pci"])
        #expect(FileRead.exists(rig.fake.root + "/dev/vfio/3") && !rig.state.hasJournal)
        #expect(try rig.state.records().map(\.driver) == ["e1000", "e1000"])
        // The identical NIC elsewhere and the bridge: untouched.
        #expect(try rig.bindings(["0000:07:00.0"]) == ["0000:07:00.0": "e1000e/-"])
        // Converged: the same steps again write nothing.
        let before = rig.kernel.writes.count
        #expect(try rig.detachPlan(["0000:02:01.0"]).steps.isEmpty)
        for step in plan.steps { #expect(try rig.applier.perform(step) == false, "\(step)") }
        #expect(rig.kernel.writes.count == before)
    }

    @Test("the simulated kernel places VFs as PCIAddress.virtfn does, and refuses (ENOMEM, nothing made) VFs past bus 0xff")
    func simulatedVFPlacement() throws {
        let fake = bindingHost { fake in
            var pf = FakeFunction.networkPF("0000:ff:1e.0", device: 0x1572, group: 20, driver: "i40e", netdev: "enp255s30",
                                            total: 8, autoprobe: false, offset: 14, stride: 1)
            pf.driverModule = nil
            fake.add(pf)
        }
        defer { fake.remove() }
        let kernel = try SimulatedKernel(fake)
        let numVFs = "/sys/bus/pci/devices/0000:ff:1e.0/sriov_numvfs"
        // 0xff:1e.0 is routing ID 0xfff0: offset 14 puts VF 0 at ff:1f.6, VF 1 at ff:1f.7, VF 2 past the last bus.
        #expect(throws: KernelWriteError(path: numVFs, value: "3", code: ENOMEM)) { try kernel.write(numVFs, "3") }
        #expect(kernel.link("/sys/bus/pci/devices/0000:ff:1e.0/virtfn0") == nil && !kernel.exists("/sys/bus/pci/devices/0000:ff:1f.6"))
        try kernel.write(numVFs, "2")
        let placed = (0..<2).compactMap { kernel.link("/sys/bus/pci/devices/0000:ff:1e.0/virtfn\($0)").map { SysfsPaths.lastComponent(of: $0) } }
        #expect(placed == (0..<2).compactMap { pci("0000:ff:1e.0").virtfn($0, offset: 14, stride: 1)?.description })
        #expect(placed == ["0000:ff:1f.6", "0000:ff:1f.7"])
    }

    @Test("reattach brings back the recorded driver even where the kernel would pick another")
    func reattachExact() throws {
        let fake = bindingHost()
        defer { fake.remove() }
        // The kernel's ID match for 0000:01:00.0 would be "igb"; it was on e1000e before the detach.
        let kernel = try SimulatedKernel(fake, defaultDrivers: ["0000:01:00.0": "igb"])
        let state = StateDirectory(root: try HostRoot(fake.root))
        fake.makeDirectory("sys/bus/pci/drivers/igb")
        let detach = BindingPlanner.detach(.init(addresses: [pci("0000:01:00.0")]), try fake.snapshot(), try fake.facts())
        _ = try Transaction.simulated(root: fake.root, kernel).run(detach)
        let reattach = BindingPlanner.reattach(.init(addresses: [pci("0000:01:00.0")]), records: try state.records(),
                                               try fake.snapshot(), try fake.facts())
        _ = try Transaction.simulated(root: fake.root, kernel).run(reattach)
        #expect(try fake.binding("0000:01:00.0") == ("e1000e", nil))
        #expect(!FileRead.exists(fake.root + "/dev/vfio/2"))
    }

    @Test("a write that fails at any step rolls every touched function back, and says which errno", arguments: 0..<6)
    func failureAtEveryWrite(index: Int) throws {
        let rig = try Rig()
        defer { rig.fake.remove() }
        let original = try rig.bindings(Self.bridged)
        let code = index % 2 == 0 ? EBUSY : ENODEV
        rig.kernel.failWrite(index, with: code)
        let plan = try rig.detachPlan(["0000:02:01.0"])
        var message = ""
        do {
            _ = try rig.run(plan)
        } catch {
            message = (error as? VFIOError)?.message ?? "\(error)"
        }
        #expect(message.contains(code == EBUSY ? "EBUSY" : "ENODEV") && message.contains("Rolled back"), "\(message)")
        #expect(try rig.bindings(Self.bridged) == original, "write \(index): \(rig.kernel.writes)")
        // Rolled back: the journal is closed, and the history says the run failed.
        #expect(!rig.state.hasJournal)
        #expect(FileRead.text(rig.state.path + "/history")?.contains(" detach failed ") == true)
        #expect(!FileRead.exists(rig.fake.root + "/dev/vfio/3"))
    }

    @Test("vfio-pci takes nothing (probe rejected): verify fails, and the function goes back")
    func probeRejected() throws {
        let fake = bindingHost()
        defer { fake.remove() }
        let kernel = try SimulatedKernel(fake, rejecting: ["0000:01:00.0"])
        let plan = BindingPlanner.detach(.init(addresses: [pci("0000:01:00.0")]), try fake.snapshot(), try fake.facts())
        #expect(throws: VFIOError.self) { _ = try Transaction.simulated(root: fake.root, kernel).run(plan) }
        #expect(try fake.binding("0000:01:00.0") == ("e1000e", nil))
    }

    @Test("a failing rollback keeps the journal and says recover")
    func rollbackFails() throws {
        let rig = try Rig()
        defer { rig.fake.remove() }
        rig.kernel.failWrites(endingIn: "drivers_probe", with: EIO)
        let plan = try rig.detachPlan(["0000:01:00.0"])
        var message = ""
        do { try rig.run(plan) } catch { message = "\(error)" }
        #expect(message.contains("The rollback failed too"), "\(message)")
        let journal = try #require(try rig.state.readJournal())
        #expect(!journal.rolledBack && journal.rollingBack)
    }

    /// Every journal record of a run is a point the process may die after. At each: the journal
    /// is left, and undoing it (recover) or finishing it (recover --finish) leaves every function
    /// on its original driver or fully on vfio-pci, never unbound.
    @Test("killed after each journal record: undo restores, finish completes", arguments: [false, true])
    func crashAtEveryRecord(finish: Bool) throws {
        let rig = try Rig()
        defer { rig.fake.remove() }
        let original = try rig.bindings(Self.bridged)
        let plan = try rig.detachPlan(["0000:02:01.0"])
        let total = countRecords(plan)
        #expect(total == 3 + 2 + 9 * 3 + 1)
        for record in 1...total {
            do {
                try rig.run(plan, crash: JournalCrash(after: record, mode: .interrupt))
                Issue.record("record \(record): the run was not interrupted")
            } catch {
                #expect((error as? VFIOError)?.kind == .interrupted, "\(error)")
            }
            let journal = try #require(try rig.state.readJournal(), "record \(record)")
            let recovery = Recovery.decide(journal, finish: finish)
            _ = try Transaction.simulated(root: rig.fake.root, rig.kernel, recovering: true).recover(journal, recovery)
            #expect(!rig.state.hasJournal, "record \(record)")
            if journal.nothingBegan {
                #expect(recovery.action == .closed)
                #expect(try rig.bindings(Self.bridged) == original, "record \(record)")
            } else if journal.finished {
                #expect(recovery.action == .committed)
                #expect(try rig.state.records().count == 2, "record \(record)")
            } else if finish {
                #expect(recovery.action == .finished)
                #expect(try rig.bindings(Self.bridged) == ["0000:02:01.0": "vfio-pci/vfio-pci", "0000:02:02.0": "vfio-pci/vfio-pci"],
                        "record \(record)")
            } else {
                #expect(recovery.action == .undone)
                #expect(try rig.bindings(Self.bridged) == original, "record \(record)")
            }
            for (_, value) in try rig.bindings(Self.bridged) { #expect(!value.hasPrefix("-/"), "record \(record): unbound") }
            // Back to the start for the next record.
            #expect(rig.applier.rollback(Plan.Undo(bindings: plan.originals.bindings), journal: nil).isEmpty)
            try rig.state.updateRecords(write: [], drop: plan.originals.bindings.map(\.address))
        }
        #expect(try rig.bindings(Self.bridged) == original)
    }

    /// Journal records a full run writes: magic, run, command, originals, steps, begin+done per step, finished.
    func countRecords(_ plan: Plan) -> Int { 3 + plan.originals.bindings.count + plan.steps.count * 3 + 1 }

    @Test("records: written atomically, replaced per function, dropped on reattach; damage is reported")
    func records() throws {
        let fake = FakeSysfs()
        defer { fake.remove() }
        let state = StateDirectory(path: fake.root + "/state")
        let a = FunctionBinding(address: pci("0000:01:00.0"), group: 2, driver: "e1000e", module: "e1000e", override: nil)
        var b = FunctionBinding(address: pci("0000:02:00.0"), group: 3, driver: "nvme", module: nil, override: "nvme")
        try state.updateRecords(write: [b, a], drop: [])
        #expect(try state.records() == [a, b])
        b.driver = "igb"
        try state.updateRecords(write: [b], drop: [a.address])
        #expect(try state.records() == [b])
        fake.write("state/detached", "original nonsense\n")
        #expect(throws: VFIOError.self) { try state.records() }
    }

    @Test("the lock: a second holder waits, then names the first")
    func lock() throws {
        let fake = FakeSysfs()
        defer { fake.remove() }
        let state = StateDirectory(path: fake.root + "/state")
        let first = try state.lock(wait: 0, holder: "pid 1: vfioctl detach --group 3") { _ in }
        var told: [String] = []
        var message = ""
        do {
            _ = try state.lock(wait: 0.2, holder: "pid 2") { told.append($0) }
        } catch {
            message = error.message
        }
        #expect(message.contains("pid 1: vfioctl detach --group 3 holds") && told == ["waiting for pid 1: vfioctl detach --group 3 to finish"])
        first.release()
        let second = try state.lock(wait: 0, holder: "pid 2") { _ in }
        second.release()
    }
}
