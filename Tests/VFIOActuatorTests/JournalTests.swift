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
        .step(16, .bindVFs(a, "mlx5_vfio_pci", alias: "v000015B3d0000101Esv*sd*bc*sc*i*")),
        .step(17, .expect(a, .device(alias: "v000015B3d0000101Esv*sd00001234bc*sc*i*"))),
        .begin(3), .done(3), .failed(4, "EBUSY: device busy"), .rollback, .rolledBack, .finished,
        // Values the kernel refuses but a plan may send (the lab does, to see the refusal rolled back).
        .step(14, .setVF(a, interface: "eth0", vf: 1, .vlan(id: 10, qos: 8, proto: .dot1Q))),
        .step(15, .setVF(a, interface: "eth0", vf: 1, .vlan(id: 4096, qos: 0, proto: .dot1AD))),
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
        #expect(state.undo.bindings.map(\.address) == [Self.a] && !state.finished)
        #expect(throws: VFIOError.self) { try JournalState.parse((lines + ["begin x"]).joined(separator: "\n") + "\n") }
        #expect(throws: VFIOError.self) { try JournalState.parse("something else\n") }
        #expect(try JournalState.parse(JournalRecord.magic + "\n").nothingBegan)
        #expect(try JournalState.parse("").nothingBegan)
    }
}

@Suite("damaged journals")
struct DamagedJournalTests {
    static let header = [JournalRecord.magic, "run detach pid=7 started=1", "command vfioctl%20detach",
                         "original 0000:01:00.0 group=2 driver=e1000e module=e1000e override=-",
                         "step 0 set-override 0000:01:00.0 vfio-pci", "step 1 probe 0000:01:00.0"]

    static func damage(_ lines: [String]) -> VFIOError? {
        do {
            _ = try JournalState.parse(lines.joined(separator: "\n") + "\n", path: "/var/lib/vfioctl/journal")
            return nil
        } catch {
            return error
        }
    }

    @Test("a record the writer never writes is an error naming the journal, the line and the reason, with a hint; never a trap",
          arguments: [
              ("begin -1", nil), ("begin 2", "the journal records 2 steps"), ("begin 99999999999999999999", nil), ("begin +1", nil),
              ("done 1", "step 1 did not begin"), ("failed 5 EBUSY", "the journal records 2 steps"), ("failed 1 EBUSY", "step 1 did not begin"),
              ("done -0", nil), ("begin 0x1", nil), ("step 2 await-node -1", nil), ("step 2 await-vfs 0000:01:00.0 -4", nil),
              ("step 2 set-vf 0000:01:00.0 eth0 -1 trust 1", nil), ("step 2 set-vf 0000:01:00.0 eth0 0 vlan 4294967296 0 8100", nil),
              ("step 2 set-vf 0000:01:00.0 eth0 0 vlan 5 4294967296 8100", nil), ("step 2 set-vf 0000:01:00.0 eth0 0 rate -1 0", nil),
              ("step 2 set-vf 0000:01:00.0 eth0 0 vlan 5 0 +100", nil), ("step 5 probe 0000:01:00.0", "step 2 comes next"),
              ("step 1 probe 0000:01:00.0", "step 2 comes next"),
              ("sriov 0000:01:00.0 numvfs=-1 autoprobe=1", nil), ("sriov 0000:01:00.0 numvfs=70000 autoprobe=1", nil),
              ("vf 0000:01:00.0 eth0 -1 mac=- vlan=0 qos=0 proto=8100 spoofchk=- trust=- state=- rate=0,0", nil),
              ("vf 0000:01:00.0 eth0 0 mac=- vlan=-3 qos=0 proto=8100 spoofchk=- trust=- state=- rate=0,0", nil),
              ("vf 0000:01:00.0 eth0 0 mac=- vlan=0 qos=0 proto=8100 spoofchk=- trust=- state=- rate=0,-1", nil),
              ("original 0000:01:00.0 group=2 driver=igb module=igb override=-", "a second original binding of 0000:01:00.0"),
              ("original 0000:02:00.0 group=-2 driver=igb module=igb override=-", nil),
              ("command again", "a second command record"), ("run detach pid=8 started=1", "a second run record"),
              ("", nil), ("teleport 0", nil), ("begin\u{7}0", nil),
          ] as [(String, String?)])
    func damaged(line: String, reason: String?) {
        let error = Self.damage(Self.header + [line, "begin 0"])
        #expect(error?.kind == .failed)
        let expected = "/var/lib/vfioctl/journal line 7 is damaged: '\(line.printable)'" + (reason.map { " (\($0))" } ?? "")
        #expect(error?.message == expected, "\(error?.message ?? "accepted")")
        #expect(error?.hint?.contains("move /var/lib/vfioctl/journal aside") == true, "\(error?.hint ?? "")")
    }

    @Test("the first two lines: the magic and the run record, named when damaged")
    func head() {
        #expect(Self.damage(["vfioctl-journal 2", "run detach pid=7 started=1"])?.message
                == "/var/lib/vfioctl/journal line 1 is damaged: 'vfioctl-journal 2' (a vfioctl journal starts with 'vfioctl-journal 1')")
        #expect(Self.damage([JournalRecord.magic, "run detach pid=-7 started=1"])?.message
                == "/var/lib/vfioctl/journal line 2 is damaged: 'run detach pid=-7 started=1' (the second line is the run record)")
        #expect(Self.damage([JournalRecord.magic, "begin 0"])?.message.hasPrefix("/var/lib/vfioctl/journal line 2 is damaged: 'begin 0'") == true)
    }

    @Test("what a replay writes is accepted: a step begun and done twice; a torn last line is still ignored")
    func replay() throws {
        let lines = Self.header + ["begin 0", "done 0", "begin 1", "failed 1 EBUSY", "rollback", "begin 0", "done 0", "begin 1", "done 1", "finished"]
        let state = try JournalState.parse(lines.joined(separator: "\n") + "\nbegin -", path: "j")
        #expect(state.begun == [0, 1] && state.done == [0, 1] && state.finished && state.failedStep == 1 && state.failure == "EBUSY")
    }
}
