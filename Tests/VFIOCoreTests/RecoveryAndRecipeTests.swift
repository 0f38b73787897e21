import Testing
import VFIOCore

/// The pure parts of a run: how recover decides from a journal alone, the one recipe per driver
/// change, and what a report says changed.
@Suite("recovery, recipes, reports")
struct RecoveryAndRecipeTests {
    static let nic = PCIAddress(domain: 0, bus: 1, device: 0, function: 0)
    static let original = FunctionBinding(address: nic, group: 2, driver: "e1000e", module: "e1000e", override: nil)
    static let steps = Recipe.bind(nic, to: StubDriver.vfioPCI, from: .bound(driver: "e1000e", override: nil))

    func journal(begun: Set<Int> = [], done: Set<Int> = [], rolledBack: Bool = false, finished: Bool = false) throws -> JournalState {
        var text = JournalRecord.magic + "\n" + JournalRecord(.run(operation: .detach, pid: 7, started: 0)).line + "\n"
        text += JournalRecord(.original(Self.original)).line + "\n"
        for (index, step) in Self.steps.enumerated() { text += JournalRecord(.step(index, step)).line + "\n" }
        var journal = try JournalState.parse(text)
        journal.begun = begun
        journal.done = done
        journal.rolledBack = rolledBack
        journal.finished = finished
        return journal
    }

    @Test("recover: none without a journal; committed once finished; closed after a rollback or before any step; else finish or undo")
    func decide() throws {
        #expect(Recovery.decide(nil, finish: false).action == .none && Recovery.decide(nil, finish: false).steps.isEmpty)
        #expect(Recovery.decide(try journal(begun: [0, 1, 2, 3], done: [0, 1, 2, 3], finished: true), finish: false).action == .committed)
        #expect(Recovery.decide(try journal(begun: [0], rolledBack: true), finish: true).action == .closed)
        #expect(Recovery.decide(try journal(), finish: true).action == .closed)
        let finish = Recovery.decide(try journal(begun: [0, 1]), finish: true)
        #expect(finish.action == .finished && finish.steps == Self.steps)
        let undo = Recovery.decide(try journal(begun: [0, 1]), finish: false)
        #expect(undo.action == .undone && undo.steps == Recipe.restore(Self.original, pciDrivers: nil))
        #expect(undo.steps.first == .loadModule(module: "e1000e", driver: "e1000e") && undo.steps.last == .setOverride(Self.nic, nil))
    }

    @Test("one recipe: bind skips what is so; release unbinds only from vfio; a VF to be created gets every step")
    func recipes() {
        let a = Self.nic
        #expect(Self.steps == [.setOverride(a, "vfio-pci"), .unbind(a, current: "e1000e", keeping: "vfio-pci"), .probe(a), .expect(a, .driver("vfio-pci"))])
        #expect(Recipe.bind(a, to: "vfio-pci", from: .bound(driver: nil, override: "vfio-pci")) == [.probe(a), .expect(a, .driver("vfio-pci"))])
        #expect(Recipe.bind(a, to: "vfio-pci", from: .unknown).count == 4)
        #expect(Recipe.release(a, from: .bound(driver: "vfio-pci", override: "vfio-pci"))
                    == [.setOverride(a, nil), .unbind(a, current: "vfio-pci", keeping: nil), .probe(a), .expect(a, .notVFIO)])
        // An unbind step takes any driver: none is planned for a function on a host driver or not yet there.
        #expect(Recipe.release(a, from: .bound(driver: "ixgbevf", override: nil)) == [.setOverride(a, nil), .probe(a), .expect(a, .notVFIO)])
        #expect(Recipe.release(a, from: .unknown) == [.setOverride(a, nil), .probe(a), .expect(a, .notVFIO)])
        #expect(StubDriver.isVFIO("mlx5_vfio_pci") && StubDriver.isVFIO("vfio-pci") && !StubDriver.isVFIO("ixgbevf") && !StubDriver.isVFIO(nil))
    }

    @Test("a report lists only what changed: a binding that ended where it was is no change; nothing taken, nothing changed")
    func changes() {
        var plan = Plan(operation: .detach, groups: [2], bindings: [Self.original], steps: Self.steps)
        let done = RunReport(plan: plan, dryRun: false, results: [.done, .done, .done, .skipped], after: [Self.nic: .bound("vfio-pci")])
        #expect(done.changes == [.binding(Self.nic, before: "e1000e", after: .bound("vfio-pci"), new: false)])
        let skipped = RunReport(plan: plan, dryRun: false, results: [.skipped, .skipped, .skipped, .skipped], after: [Self.nic: .bound("e1000e")])
        #expect(skipped.nothingChanged)
        // A dry run: what the plan would change.
        #expect(RunReport(plan: plan, dryRun: true).changes == done.changes)
        // A refused plan changes nothing, dry run or not.
        plan.findings = [Finding("device.host-critical", .error, "x", "no")]
        #expect(RunReport(plan: plan, dryRun: true).nothingChanged)
    }
}
