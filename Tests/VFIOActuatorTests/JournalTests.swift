import Testing
import VFIOCore

@Suite("journal records")
struct JournalTests {
    static let a = PCIAddress("0000:01:00.0")!

    @Test("every record survives a round trip, odd values included", arguments: [
        JournalRecord.Kind.run(operation: .detach, pid: 42, started: 1_795_379_200),
        .command("vfioctl detach --group 3 --state-dir '/var/lib/my dir'"),
        .original(FunctionBinding(address: a, group: 14, driver: "e1000e", module: nil, override: nil)),
        .original(FunctionBinding(address: a, group: nil, driver: nil, module: "-", override: "with space%\n")),
        .original(FunctionBinding(address: a, group: 3, driver: "x", module: "y", override: "")),
        .step(0, .loadModule(module: "vfio-pci", driver: "vfio-pci")), .step(1, .setOverride(a, "vfio-pci")),
        .step(2, .setOverride(a, nil)), .step(3, .unbind(a, current: "e1000e", keeping: "vfio-pci")),
        .step(4, .unbind(a, current: nil, keeping: nil)), .step(5, .probe(a)), .step(6, .expect(a, .driver("vfio-pci"))),
        .step(7, .expect(a, .unbound)), .step(8, .expect(a, .notVFIO)), .step(9, .awaitGroupNode(14)),
        .run(operation: .sriovCreate, pid: 7, started: 1), .sriov(SRIOVOriginal(pf: a, numVFs: 2, autoprobe: true)),
        .sriov(SRIOVOriginal(pf: a, numVFs: 0, autoprobe: nil)), .step(10, .setAttribute(a, "sriov_numvfs", "4")),
        .step(11, .awaitVFs(a, 4)), .step(12, .bindVFs(a, "vfio-pci")), .step(13, .bindVFs(a, nil)),
        .begin(3), .done(3), .failed(4, "EBUSY: device busy"), .rollback, .rolledBack, .finished,
    ])
    func roundTrip(kind: JournalRecord.Kind) {
        let line = JournalRecord(kind).line
        #expect(!line.contains("\n"))
        #expect(JournalRecord(line: Substring(line))?.kind == kind, "\(line)")
    }

    @Test("a torn last line is ignored; a damaged one in the middle is an error")
    func tornAndDamaged() throws {
        let lines = [JournalRecord.magic, "run detach pid=7 started=1", "original 0000:01:00.0 group=2 driver=e1000e module=e1000e override=-",
                     "step 0 set-override 0000:01:00.0 vfio-pci", "step 1 probe 0000:01:00.0", "begin 0", "done 0", "begin 1"]
        let state = try JournalState.parse(lines.joined(separator: "\n") + "\n" + "do")
        #expect(state.operation == .detach && state.pid == 7 && state.steps.count == 2 && state.begun == [0, 1] && state.done == [0])
        #expect(state.touched.map(\.address) == [Self.a] && !state.finished)
        #expect(throws: VFIOError.self) { try JournalState.parse((lines + ["begin x"]).joined(separator: "\n") + "\n") }
        #expect(throws: VFIOError.self) { try JournalState.parse("something else\n") }
        #expect(try JournalState.parse(JournalRecord.magic + "\n").nothingBegan)
        #expect(try JournalState.parse("").nothingBegan)
    }
}
