/// The write-ahead journal of a changing run (detach, reattach, persist apply, the sriov
/// commands, apply), as text: one record per line, each line made
/// durable (fsync) before the write it announces. Pure encoding and decoding; the actuator owns
/// the file.
///
///     vfioctl-journal 1
///     run detach pid=4242 started=1795379200
///     command vfioctl detach --group 14
///     original 0000:01:00.0 group=14 driver=e1000e module=e1000e override=-
///     step 0 set-override 0000:01:00.0 vfio-pci
///     ...
///     begin 0
///     done 0
///     failed 2 EBUSY%20writing%20...
///     rollback
///     rolled-back            (or: finished)
///
/// Fields are separated by single spaces and escaped (%XX) so no value can split a line; "-"
/// stands for none. A torn last line (no newline: the process died mid-write) is ignored.
/// Reading back accepts only what the writer writes: numbers are unsigned decimals within the
/// range of what they count, step indices name recorded steps, and nothing is recorded twice.
public struct JournalRecord: Sendable, Equatable {
    public static let magic = "vfioctl-journal 1"

    public enum Kind: Sendable, Equatable {
        case run(operation: Plan.Operation, pid: Int, started: Int)
        case command(String)
        case original(FunctionBinding)
        case sriov(SRIOVOriginal)
        case vf(VFOriginal)
        case mdev(MdevOriginal)
        /// A function whose original binding the commit keeps in the records (detach's are all).
        case record(PCIAddress)
        case step(Int, Step)
        case begin(Int)
        case done(Int)
        case failed(Int, String)
        case rollback
        case rolledBack
        case finished
    }

    public var kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    // MARK: encoding

    public var line: String {
        switch kind {
        case .run(let operation, let pid, let started): "run \(operation.rawValue) pid=\(pid) started=\(started)"
        case .command(let text): "command " + Self.escape(text)
        case .original(let b):
            "original \(b.address) group=\(b.group.map(String.init) ?? "-") driver=\(Self.field(b.driver)) "
                + "module=\(Self.field(b.module)) override=\(Self.field(b.override))"
        case .sriov(let s): "sriov \(s.pf) numvfs=\(s.numVFs) autoprobe=" + (s.autoprobe.map { $0 ? "1" : "0" } ?? "-")
        case .vf(let v):
            "vf \(v.pf) \(Self.field(v.interface)) \(v.config.index) mac=\(Self.field(v.config.mac?.description)) vlan=\(v.config.vlan) "
                + "qos=\(v.config.qos) proto=\(HexDigits.padded(UInt64(v.config.proto.rawValue), width: 4)) spoofchk=\(Self.flag(v.config.spoofchk)) "
                + "trust=\(Self.flag(v.config.trust)) state=\(Self.field(v.config.linkState?.description)) rate=\(v.config.minTxRate),\(v.config.maxTxRate)"
        case .mdev(let m):
            "mdev \(m.uuid) parent=\(Self.field(m.parent)) type=\(Self.field(m.type)) active=\(m.active ? 1 : 0) "
                + "definition=\(Self.field(m.definition?.fileText))"
        case .record(let address): "record \(address)"
        case .step(let index, let step): "step \(index) " + Self.encode(step)
        case .begin(let index): "begin \(index)"
        case .done(let index): "done \(index)"
        case .failed(let index, let message): "failed \(index) " + Self.escape(message)
        case .rollback: "rollback"
        case .rolledBack: "rolled-back"
        case .finished: "finished"
        }
    }

    static func encode(_ step: Step) -> String {
        switch step {
        case .loadModule(let module, let driver): "load-module \(field(module)) \(field(driver))"
        case .setOverride(let a, let value): "set-override \(a) \(field(value))"
        case .unbind(let a, let current, let keeping): "unbind \(a) \(field(current)) \(field(keeping))"
        case .probe(let a): "probe \(a)"
        case .expect(let a, .driver(let driver)): "verify \(a) driver \(field(driver))"
        case .expect(let a, .unbound): "verify \(a) unbound"
        case .expect(let a, .notVFIO): "verify \(a) not-vfio"
        case .expect(let a, .hostDriver): "verify \(a) host-driver"
        case .expect(let a, .device(let alias)): "verify \(a) device \(field(alias))"
        case .awaitGroupNode(let group): "await-node \(group)"
        case .setAttribute(let a, let name, let value): "set-attribute \(a) \(field(name)) \(field(value))"
        case .awaitVFs(let a, let count): "await-vfs \(a) \(count)"
        case .bindVFs(let a, let driver, nil): "bind-vfs \(a) \(field(driver))"
        case .bindVFs(let a, let driver, let alias?): "bind-vfs \(a) \(field(driver)) \(field(alias))"
        case .setVF(let a, let interface, let vf, let attribute): "set-vf \(a) \(field(interface)) \(vf) " + encode(attribute)
        case .linkUp(let interface): "link-up \(field(interface))"
        case .createMdev(let parent, let type, let uuid): "create-mdev \(field(parent)) \(field(type)) \(uuid)"
        case .removeMdev(let parent, let uuid): "remove-mdev \(field(parent)) \(uuid)"
        case .defineMdev(let definition): "define-mdev \(field(definition.parent)) \(definition.uuid) \(field(definition.fileText))"
        case .undefineMdev(let parent, let uuid): "undefine-mdev \(field(parent)) \(uuid)"
        }
    }

    /// A definition's file text as journaled, read back as mdevctl's format.
    static func definition(_ text: String, parent: String, uuid: MdevUUID) -> MdevDefinition? {
        try? MdevDefinition.parse(text, parent: parent, uuid: uuid, path: "the journal")
    }

    static func encode(_ attribute: VFAttribute) -> String {
        switch attribute {
        case .mac(let mac): "mac \(mac)"
        case .vlan(let id, let qos, let proto): "vlan \(id) \(qos) " + HexDigits.padded(UInt64(proto.rawValue), width: 4)
        case .spoofchk(let on): "spoofchk \(on ? 1 : 0)"
        case .trust(let on): "trust \(on ? 1 : 0)"
        case .linkState(let state): "state \(state)"
        case .txRate(let min, let max): "rate \(min) \(max)"
        }
    }

    static func decodeAttribute(_ f: ArraySlice<Substring>) -> VFAttribute? {
        let f = Array(f)
        guard let kind = f.first else { return nil }
        func bit(_ i: Int) -> Bool? { i < f.count && (f[i] == "0" || f[i] == "1") ? f[i] == "1" : nil }
        switch kind {
        case "mac":
            guard f.count == 2, let mac = MACAddress(rawText: f[1]) else { return nil }
            return .mac(mac)
        case "vlan":
            guard f.count == 4, let id = number(f[1], in: vlanIDs), let qos = number(f[2], in: qosValues), let proto = Self.proto(f[3]) else { return nil }
            return .vlan(id: id, qos: qos, proto: VLANProtocol(rawValue: proto))
        case "spoofchk", "trust":
            guard f.count == 2, let on = bit(1) else { return nil }
            return kind == "trust" ? .trust(on) : .spoofchk(on)
        case "state":
            guard f.count == 2, let state = VFLinkState.allCases.first(where: { $0.description == f[1] }) else { return nil }
            return .linkState(state)
        case "rate":
            guard f.count == 3, let min = number(f[1], in: rates), let max = number(f[2], in: rates) else { return nil }
            return .txRate(min: min, max: max)
        default: return nil
        }
    }

    /// A VLAN protocol as written: four hex digits.
    static func proto(_ field: Substring) -> UInt16? {
        guard field.utf8.count == 4, field.utf8.allSatisfy({ $0 < 0x80 && Character(Unicode.Scalar($0)).isHexDigit }) else { return nil }
        return UInt16(field, radix: 16)
    }

    static func flag(_ value: Bool?) -> String { value.map { $0 ? "1" : "0" } ?? "-" }

    /// A value as one field: escaped, "-" for nil (a literal "-" is escaped).
    static func field(_ value: String?) -> String {
        guard let value else { return "-" }
        return value == "-" ? "%2D" : escape(value)
    }

    public static func escape(_ text: String) -> String {
        if text.isEmpty { return "%" }
        var out = ""
        for byte in text.utf8 {
            if byte <= 0x20 || byte == 0x25 || byte >= 0x7f {
                out += "%" + HexDigits.padded(UInt64(byte), width: 2)
            } else {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
        return out
    }

    static func unescape(_ field: Substring) -> String? {
        if field == "%" { return "" }
        var bytes: [UInt8] = []
        var index = field.utf8.startIndex
        let utf8 = field.utf8
        while index < utf8.endIndex {
            let byte = utf8[index]
            if byte == 0x25 {
                let high = utf8.index(after: index)
                guard high < utf8.endIndex else { return nil }
                let low = utf8.index(after: high)
                guard low < utf8.endIndex, let value = UInt8(String(field[high...low]), radix: 16) else { return nil }
                bytes.append(value)
                index = utf8.index(after: low)
            } else {
                bytes.append(byte)
                index = utf8.index(after: index)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func optional(_ field: Substring) -> String?? {
        field == "-" ? .some(nil) : unescape(field).map { .some($0) }
    }

    // MARK: decoding

    /// Ranges of the numbers a record holds: what the kernel and netlink carry. A VLAN id and
    /// its qos travel as u32 in IFLA_VF_VLAN(_INFO) and the kernel itself refuses what is past
    /// 4095 and 7; the journal must read back a plan that sent such a value (the lab does, to see
    /// the kernel's refusal rolled back), so it holds them to the wire's range, not the kernel's.
    static let indices = 0...Int(Int32.max)
    static let vfCounts = 0...0xffff
    static let vlanIDs = 0...Int(UInt32.max)
    static let qosValues = 0...Int(UInt32.max)
    static let rates = 0...Int(UInt32.max)

    /// An unsigned decimal within `range`, as the writer writes it (no sign, no spaces).
    static func number(_ field: Substring, in range: ClosedRange<Int>) -> Int? {
        guard !field.isEmpty, field.utf8.count <= 19, field.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let value = Int(field), range.contains(value) else { return nil }
        return value
    }

    public init?(line: Substring) {
        let fields = line.split(separator: " ", omittingEmptySubsequences: false)
        guard let head = fields.first else { return nil }
        let rest = Array(fields.dropFirst())
        func value(_ field: Substring, _ key: String) -> Substring? {
            field.hasPrefix(key + "=") ? field.dropFirst(key.count + 1) : nil
        }
        switch head {
        case "run":
            guard rest.count == 3, let operation = Plan.Operation(rawValue: String(rest[0])),
                  let pid = value(rest[1], "pid").flatMap({ Self.number($0, in: Self.indices) }),
                  let started = value(rest[2], "started").flatMap({ Self.number($0, in: 0...Int.max) })
            else { return nil }
            kind = .run(operation: operation, pid: pid, started: started)
        case "command":
            guard rest.count == 1, let text = Self.unescape(rest[0]) else { return nil }
            kind = .command(text)
        case "original":
            guard rest.count == 5, let address = PCIAddress(String(rest[0])),
                  let group = value(rest[1], "group"), let driver = value(rest[2], "driver").flatMap(Self.optional),
                  let module = value(rest[3], "module").flatMap(Self.optional), let override = value(rest[4], "override").flatMap(Self.optional)
            else { return nil }
            let groupNumber: Int?
            if group == "-" { groupNumber = nil } else if let n = Self.number(group, in: Self.indices) { groupNumber = n } else { return nil }
            kind = .original(FunctionBinding(address: address, group: groupNumber, driver: driver, module: module, override: override))
        case "sriov":
            guard rest.count == 3, let pf = PCIAddress(String(rest[0])), let count = value(rest[1], "numvfs").flatMap({ Self.number($0, in: Self.vfCounts) }),
                  let probe = value(rest[2], "autoprobe"), ["0", "1", "-"].contains(probe) else { return nil }
            kind = .sriov(SRIOVOriginal(pf: pf, numVFs: count, autoprobe: probe == "-" ? nil : probe == "1"))
        case "vf":
            guard rest.count == 11, let pf = PCIAddress(String(rest[0])), let interface = Self.optional(rest[1]) ?? nil,
                  let index = Self.number(rest[2], in: Self.vfCounts),
                  let macField = value(rest[3], "mac"), let vlan = value(rest[4], "vlan").flatMap({ Self.number($0, in: Self.vlanIDs) }),
                  let qos = value(rest[5], "qos").flatMap({ Self.number($0, in: Self.qosValues) }),
                  let proto = value(rest[6], "proto").flatMap(Self.proto),
                  let spoof = value(rest[7], "spoofchk"), let trust = value(rest[8], "trust"), let state = value(rest[9], "state"),
                  let rate = value(rest[10], "rate")?.split(separator: ","), rate.count == 2,
                  let minRate = Self.number(rate[0], in: Self.rates), let maxRate = Self.number(rate[1], in: Self.rates)
            else { return nil }
            func flag(_ f: Substring) -> Bool?? { f == "-" ? .some(nil) : f == "1" ? true : f == "0" ? false : nil }
            guard let spoofchk = flag(spoof), let trusted = flag(trust) else { return nil }
            let mac = macField == "-" ? nil : MACAddress(rawText: macField)
            guard macField == "-" || mac != nil else { return nil }
            let linkState = VFLinkState.allCases.first { $0.description == state }
            guard state == "-" || linkState != nil else { return nil }
            kind = .vf(VFOriginal(pf: pf, interface: interface, config: VFLinkConfig(
                index: index, mac: mac, vlan: vlan, qos: qos, proto: VLANProtocol(rawValue: proto), spoofchk: spoofchk, trust: trusted,
                linkState: linkState, minTxRate: minRate, maxTxRate: maxRate)))
        case "mdev":
            guard rest.count == 5, let uuid = MdevUUID(rest[0]), let parent = value(rest[1], "parent").flatMap(Self.optional) ?? nil,
                  let type = value(rest[2], "type").flatMap(Self.optional) ?? nil, let active = value(rest[3], "active"), active == "0" || active == "1",
                  let text = value(rest[4], "definition").flatMap(Self.optional) else { return nil }
            let definition = text.flatMap { Self.definition($0, parent: parent, uuid: uuid) }
            guard text == nil || definition != nil else { return nil }
            kind = .mdev(MdevOriginal(uuid: uuid, parent: parent, type: type, active: active == "1", definition: definition))
        case "record":
            guard rest.count == 1, let address = PCIAddress(String(rest[0])) else { return nil }
            kind = .record(address)
        case "step":
            guard rest.count >= 2, let index = Self.number(rest[0], in: Self.indices), let step = Self.decodeStep(Array(rest.dropFirst()))
            else { return nil }
            kind = .step(index, step)
        case "begin", "done":
            guard rest.count == 1, let index = Self.number(rest[0], in: Self.indices) else { return nil }
            kind = head == "begin" ? .begin(index) : .done(index)
        case "failed":
            guard rest.count == 2, let index = Self.number(rest[0], in: Self.indices), let message = Self.unescape(rest[1]) else { return nil }
            kind = .failed(index, message)
        case "rollback" where rest.isEmpty: kind = .rollback
        case "rolled-back" where rest.isEmpty: kind = .rolledBack
        case "finished" where rest.isEmpty: kind = .finished
        default: return nil
        }
    }

    static func decodeStep(_ f: [Substring]) -> Step? {
        func address(_ i: Int) -> PCIAddress? { i < f.count ? PCIAddress(String(f[i])) : nil }
        func optional(_ i: Int) -> String?? { i < f.count ? Self.optional(f[i]) : nil }
        switch f[0] {
        case "load-module":
            guard f.count == 3, let module = optional(1) ?? nil, let driver = optional(2) ?? nil else { return nil }
            return .loadModule(module: module, driver: driver)
        case "set-override":
            guard f.count == 3, let a = address(1), let value = optional(2) else { return nil }
            return .setOverride(a, value)
        case "unbind":
            guard f.count == 4, let a = address(1), let current = optional(2), let keeping = optional(3) else { return nil }
            return .unbind(a, current: current, keeping: keeping)
        case "probe":
            guard f.count == 2, let a = address(1) else { return nil }
            return .probe(a)
        case "verify":
            guard f.count >= 3, let a = address(1) else { return nil }
            switch f[2] {
            case "driver":
                guard f.count == 4, let driver = optional(3) ?? nil else { return nil }
                return .expect(a, .driver(driver))
            case "unbound" where f.count == 3: return .expect(a, .unbound)
            case "not-vfio" where f.count == 3: return .expect(a, .notVFIO)
            case "host-driver" where f.count == 3: return .expect(a, .hostDriver)
            case "device":
                guard f.count == 4, let alias = optional(3) ?? nil else { return nil }
                return .expect(a, .device(alias: alias))
            default: return nil
            }
        case "await-node":
            guard f.count == 2, let group = number(f[1], in: indices) else { return nil }
            return .awaitGroupNode(group)
        case "set-attribute":
            guard f.count == 4, let a = address(1), let name = optional(2) ?? nil, let value = optional(3) ?? nil else { return nil }
            return .setAttribute(a, name, value)
        case "await-vfs":
            guard f.count == 3, let a = address(1), let count = number(f[2], in: vfCounts) else { return nil }
            return .awaitVFs(a, count)
        case "bind-vfs":
            guard f.count == 3 || f.count == 4, let a = address(1), let driver = optional(2) else { return nil }
            guard f.count == 4 else { return .bindVFs(a, driver) }
            guard let alias = optional(3) ?? nil else { return nil }
            return .bindVFs(a, driver, alias: alias)
        case "set-vf":
            guard f.count >= 5, let a = address(1), let interface = optional(2) ?? nil, let vf = number(f[3], in: vfCounts),
                  let attribute = decodeAttribute(f[4...]) else { return nil }
            return .setVF(a, interface: interface, vf: vf, attribute)
        case "link-up":
            guard f.count == 2, let interface = optional(1) ?? nil else { return nil }
            return .linkUp(interface)
        case "create-mdev":
            guard f.count == 4, let parent = optional(1) ?? nil, let type = optional(2) ?? nil, let uuid = MdevUUID(f[3]) else { return nil }
            return .createMdev(parent: parent, type: type, uuid: uuid)
        case "remove-mdev", "undefine-mdev":
            guard f.count == 3, let parent = optional(1) ?? nil, let uuid = MdevUUID(f[2]) else { return nil }
            return f[0] == "remove-mdev" ? .removeMdev(parent: parent, uuid: uuid) : .undefineMdev(parent: parent, uuid: uuid)
        case "define-mdev":
            guard f.count == 4, let parent = optional(1) ?? nil, let uuid = MdevUUID(f[2]), let text = optional(3) ?? nil,
                  let definition = definition(text, parent: parent, uuid: uuid) else { return nil }
            return .defineMdev(definition)
        default: return nil
        }
    }
}

/// A journal read back: what the run was, how far it got.
public struct JournalState: Sendable, Equatable {
    public var operation: Plan.Operation
    public var pid: Int
    public var started: Int
    public var command: String?
    public var originals = Plan.Originals()
    public var records: [PCIAddress] = []
    public var steps: [Step] = []
    public var begun: Set<Int> = []
    public var done: Set<Int> = []
    /// The step that failed, and why (a failed run then rolls back).
    public var failedStep: Int?
    public var failure: String?
    public var rollingBack = false
    public var rolledBack = false
    public var finished = false

    /// No step began: the run died while writing its header, before touching the host.
    public var nothingBegan: Bool { begun.isEmpty && !finished }

    /// What some begun step may have changed: what undoing the run puts back.
    public var undo: Plan.Undo { originals.undo(steps, begun: begun) }

    /// The journal's text read back; `path` names it in errors. A torn last line is ignored (the
    /// process died writing it, so what it announces never started). Anything else the writer
    /// would not have written is an error naming the line: recovering from a journal that was
    /// altered or corrupted could put the wrong drivers back.
    public static func parse(_ text: String, path: String = "the journal") throws(VFIOError) -> JournalState {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        // The last element is "" when the text ends with a newline; anything else is a torn line.
        lines.removeLast()
        // Killed before the run record was durable: nothing was written to the host.
        if lines.isEmpty || lines == [Substring(JournalRecord.magic)] { return JournalState(operation: .detach, pid: 0, started: 0) }
        func damaged(_ number: Int, _ why: String? = nil) -> VFIOError {
            .failed("\(path) line \(number + 1) is damaged: '\(String(lines[number]).printable)'" + (why.map { " (\($0))" } ?? ""),
                    hint: "check the functions it names on the host ('vfioctl show ADDRESS'), put back by hand what the run left "
                        + "half done, then move \(path) aside; vfioctl recover cannot use it")
        }
        guard lines[0] == Substring(JournalRecord.magic) else {
            throw damaged(0, "a vfioctl journal starts with '\(JournalRecord.magic)'")
        }
        guard let head = JournalRecord(line: lines[1]), case .run(let operation, let pid, let started) = head.kind else {
            throw damaged(1, "the second line is the run record")
        }
        var state = JournalState(operation: operation, pid: pid, started: started)
        var seen: Set<String> = []
        for (number, line) in lines.enumerated().dropFirst(2) {
            guard let record = JournalRecord(line: line) else { throw damaged(number) }
            /// Records of one thing appear once.
            func once(_ key: String, _ what: String) throws(VFIOError) {
                guard seen.insert(key).inserted else { throw damaged(number, "a second \(what)") }
            }
            /// A begin, done or failed names a step recorded before it.
            func recorded(_ index: Int) throws(VFIOError) {
                guard index < state.steps.count else {
                    throw damaged(number, "the journal records \(state.steps.count) step\(state.steps.count == 1 ? "" : "s")")
                }
            }
            switch record.kind {
            case .run: throw damaged(number, "a second run record")
            case .command(let text):
                try once("command", "command record")
                state.command = text
            case .original(let binding):
                try once("original \(binding.address)", "original binding of \(binding.address)")
                state.originals.bindings.append(binding)
            case .sriov(let original):
                try once("sriov \(original.pf)", "SR-IOV record of \(original.pf)")
                state.originals.vfCounts.append(original)
            case .vf(let original):
                try once("vf \(original.pf) \(original.config.index)", "record of VF \(original.config.index) of \(original.pf)")
                state.originals.vfSettings.append(original)
            case .mdev(let original):
                try once("mdev \(original.uuid) \(original.parent)", "record of mdev \(original.uuid)")
                state.originals.mdevs.append(original)
            case .record(let address):
                try once("record \(address)", "record line for \(address)")
                state.records.append(address)
            case .step(let index, let step):
                guard index == state.steps.count else { throw damaged(number, "step \(state.steps.count) comes next") }
                state.steps.append(step)
            case .begin(let index):
                try recorded(index)
                state.begun.insert(index)
            case .done(let index):
                try recorded(index)
                guard state.begun.contains(index) else { throw damaged(number, "step \(index) did not begin") }
                state.done.insert(index)
            case .failed(let index, let message):
                try recorded(index)
                guard state.begun.contains(index) else { throw damaged(number, "step \(index) did not begin") }
                state.failedStep = index
                state.failure = message
            case .rollback: state.rollingBack = true
            case .rolledBack: state.rolledBack = true
            case .finished: state.finished = true
            }
        }
        return state
    }
}

extension Plan {
    /// The plan a journal recorded, with the records its commit writes (detach) or drops (reattach).
    public init(resuming journal: JournalState) {
        self.init(operation: journal.operation, groups: Set(journal.originals.bindings.compactMap(\.group)).sorted(),
                  steps: journal.steps)
        originals = journal.originals
        records.vfDropPFs = journal.steps.compactMap { if case .setAttribute(let pf, SRIOVPlanner.numVFsAttribute, _) = $0 { pf } else { nil } }
        switch journal.operation {
        case .detach: records.write = journal.originals.bindings
        case .reattach: records.drop = journal.originals.bindings.map(\.address)
        case .sriovRestore: records.vfDrop = journal.originals.vfSettings.map(\.key)
        case .sriovSet, .apply:
            records.vfWrite = journal.originals.vfSettings
            records.write = journal.originals.bindings.filter { journal.records.contains($0.address) }
        case .sriovCreate, .sriovDestroy, .mdevCreate, .mdevRemove: break
        }
    }
}
