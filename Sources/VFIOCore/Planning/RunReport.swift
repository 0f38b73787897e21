/// What a changing run did, per step and per object: the plan, each step's result, each
/// function's binding afterwards, and from those the changes people and engines read ("created 2
/// VFs", "set mac on VF 0", "bound VF 1 to vfio-pci", "destroyed 3 VFs"). Pure: the transaction
/// reads the host after the run and hands the facts in.
public struct RunReport: Sendable, Equatable {
    public enum StepResult: String, Sendable {
        /// Not taken: a dry run, or a refused plan.
        case planned
        /// Taken: it changed the host.
        case done
        /// Already so: nothing was written.
        case skipped
    }

    /// A function after the run.
    public enum After: Sendable, Equatable {
        case bound(String?)
        /// The function is gone (its PF's VFs were removed or replaced).
        case gone
        /// On whichever host driver the kernel picks (a dry run's VF meant for the host).
        case hostDriver

        public var driver: String? { if case .bound(let driver) = self { driver } else { nil } }
    }

    /// One thing the run changed (or, in a dry run, would change).
    public enum Change: Sendable, Equatable {
        case loadedModule(String)
        case vfCount(pf: PCIAddress, from: Int, to: Int)
        case attribute(PCIAddress, name: String, value: String)
        /// A function's driver: before nil and `new` for a VF the run created.
        case binding(PCIAddress, before: String?, after: After, new: Bool)
        case vfSetting(pf: PCIAddress, interface: String, vf: Int, VFAttribute)
        case linkUp(String)
        /// A VF's host driver reloaded so that it takes the MAC set through its PF.
        case reloaded(Reload)
        /// An mdev created or removed, or its mdevctl definition written or removed.
        case mdev(Step)

        /// The contract's name for it (`"change"` in JSON).
        public var kind: String {
            switch self {
            case .loadedModule: "load-module"
            case .vfCount: "vf-count"
            case .attribute: "attribute"
            case .binding: "binding"
            case .vfSetting: "vf-setting"
            case .linkUp: "link-up"
            case .reloaded: "driver-reload"
            case .mdev(let step): step.action
            }
        }
    }

    /// A VF's host driver unbound and probed again after a MAC set through the PF, because the
    /// VF's netdev kept its old address (igb: "Reload the VF driver to make this change
    /// effective"); the netdev read the new MAC after it.
    public struct Reload: Sendable, Equatable {
        public var vf: PCIAddress
        public var driver: String
        /// The PF's netdev and the VF's index on it.
        public var interface: String
        public var index: Int
        public var mac: MACAddress

        public init(vf: PCIAddress, driver: String, interface: String, index: Int, mac: MACAddress) {
            (self.vf, self.driver, self.interface, self.index, self.mac) = (vf, driver, interface, index, mac)
        }
    }

    public var plan: Plan
    public var dryRun: Bool
    public var results: [StepResult]
    /// Each function the plan touched, and each VF of a PF whose VFs it changed, afterwards (a
    /// dry run: where the plan puts them).
    public var after: [PCIAddress: After]
    /// The VFs of each PF whose VF count the run changed, before and after: a new count replaces
    /// every VF, even those at the same address.
    public var replaced: [PCIAddress: VFs]
    /// VF drivers the run reloaded so that a new MAC took effect, in order.
    public var reloads: [Reload]

    public struct VFs: Sendable, Equatable {
        public var before: [PCIAddress]
        public var after: [PCIAddress]

        public init(before: [PCIAddress], after: [PCIAddress]) { (self.before, self.after) = (before, after) }
    }

    public init(plan: Plan, dryRun: Bool, results: [StepResult]? = nil, after: [PCIAddress: After]? = nil,
                replaced: [PCIAddress: VFs] = [:], reloads: [Reload] = []) {
        self.plan = plan
        self.dryRun = dryRun
        self.results = results ?? Array(repeating: .planned, count: plan.steps.count)
        self.after = after ?? Self.planned(plan)
        self.replaced = replaced
        self.reloads = reloads
    }


    /// Where each function should end by the plan: its last verify step (nil: the kernel picks).
    public static func planned(_ plan: Plan) -> [PCIAddress: After] {
        var after: [PCIAddress: After] = [:]
        for step in plan.steps {
            guard case .expect(let address, let expectation) = step else { continue }
            switch expectation {
            case .driver(let name): after[address] = .bound(name)
            case .unbound, .notVFIO: after[address] = .bound(nil)
            case .hostDriver: after[address] = .hostDriver
            case .device: break
            }
        }
        return after
    }

    /// The steps that changed the host (all of them, planned, in a dry run that is not refused).
    public var taken: [Step] {
        guard !plan.refused else { return [] }
        return zip(plan.steps, results).compactMap { step, result in result == .done || (dryRun && result == .planned) ? step : nil }
    }

    /// What changed, in the order it happened: modules, VF counts and attributes, bindings, VF
    /// settings, links.
    public var changes: [Change] {
        let taken = taken
        var changes: [Change] = []
        var counts: [PCIAddress: Int] = [:]
        var countOrder: [PCIAddress] = []
        // An attribute written more than once (autoprobe on around a host VF's probe, then off)
        // is one change, to the value it ends with, and none when that is what it was.
        var attributeChange: [String: Int] = [:]
        for step in taken {
            switch step {
            case .loadModule(let module, _): changes.append(.loadedModule(module))
            case .setAttribute(let pf, SRIOVPlanner.numVFsAttribute, let value):
                if counts[pf] == nil { countOrder.append(pf) }
                counts[pf] = Int(value) ?? 0
            case .setAttribute(let a, let name, let value):
                let key = "\(a) \(name)"
                if let first = attributeChange[key] {
                    changes[first] = .attribute(a, name: name, value: value)
                } else {
                    attributeChange[key] = changes.count
                    changes.append(.attribute(a, name: name, value: value))
                }
            default: break
            }
        }
        changes = changes.filter { change in
            guard case .attribute(let pf, SRIOVPlanner.autoprobeAttribute, let value) = change,
                  let was = plan.originals.vfCounts.first(where: { $0.pf == pf })?.autoprobe else { return true }
            return value != (was ? "1" : "0")
        }
        for pf in countOrder {
            let from = plan.originals.vfCounts.first { $0.pf == pf }?.numVFs ?? 0
            if let to = counts[pf], to != from { changes.append(.vfCount(pf: pf, from: from, to: to)) }
        }
        changes += bindingChanges(taken)
        for step in taken {
            switch step {
            case .setVF(let pf, let interface, let vf, let attribute): changes.append(.vfSetting(pf: pf, interface: interface, vf: vf, attribute))
            case .linkUp(let name): changes.append(.linkUp(name))
            case .createMdev, .removeMdev, .defineMdev, .undefineMdev: changes.append(.mdev(step))
            default: break
            }
        }
        changes += reloads.map(Change.reloaded)
        return changes
    }

    /// Functions whose driver differs from before the run, VFs the run created, and VFs it removed.
    func bindingChanges(_ taken: [Step]) -> [Change] {
        guard !taken.isEmpty else { return [] }
        let before = Dictionary(plan.originals.bindings.map { ($0.address, $0.driver) }, uniquingKeysWith: { a, _ in a })
        var changes: [Change] = []
        var seen: Set<PCIAddress> = []
        for (_, vfs) in replaced.sorted(by: { $0.key < $1.key }) {
            for vf in vfs.before { changes.append(.binding(vf, before: before[vf] ?? nil, after: .gone, new: false)) }
            for vf in vfs.after { changes.append(.binding(vf, before: nil, after: after[vf] ?? .bound(nil), new: true)) }
            seen.formUnion(vfs.before + vfs.after)
        }
        for address in Set(before.keys).union(after.keys).subtracting(seen).sorted() {
            let now = after[address]
            guard let was = before[address] else {
                if let now, now != .gone { changes.append(.binding(address, before: nil, after: now, new: true)) }
                continue
            }
            guard let now, now != .bound(was) else { continue }
            changes.append(.binding(address, before: was, after: now, new: false))
        }
        return changes
    }

    /// Nothing was (or would be) changed.
    public var nothingChanged: Bool { changes.isEmpty }
}
