/// What a function was bound to before vfioctl changed it. Journaled before the first write of a
/// run, and kept after a detach (the state directory's records) so that reattach restores exactly
/// this driver, not whatever the kernel would pick.
public struct FunctionBinding: Sendable, Equatable {
    public var address: PCIAddress
    public var group: Int?
    public var driver: String?
    /// The driver's module, to load it again if it is gone by reattach time (nil: built in).
    public var module: String?
    public var override: String?

    public init(address: PCIAddress, group: Int?, driver: String?, module: String?, override: String?) {
        self.address = address
        self.group = group
        self.driver = driver
        self.module = module
        self.override = override
    }

    public init(_ f: PCIFunction) {
        self.init(address: f.address, group: f.iommuGroup, driver: f.driver, module: f.driverModule, override: f.driverOverride)
    }

    /// "e1000e" or "no driver", for people.
    public var driverName: String { driver ?? "no driver" }
}

/// What a function's driver must be once a step is done.
public enum DriverExpectation: Sendable, Equatable {
    case driver(String)
    case unbound
    /// Off vfio: on whatever host driver the kernel picks, or none (reattach without a record).
    case notVFIO
    /// On a host driver, whichever the kernel picks by ID (a VF meant for the host: no driver,
    /// or vfio, is a failure).
    case hostDriver
    /// Not a driver: the function is a device that a `vfio_pci:` alias pattern matches (its
    /// modalias). Checked before a VF that did not exist when the run was planned is bound to
    /// the variant driver chosen for it; the driver is left as it is.
    case device(alias: String)
}

/// One write (or wait) of a plan. Every step converges: the applier reads the state first and
/// skips what is already so, which is what makes replaying a journal safe.
public enum Step: Sendable, Equatable {
    /// modprobe a module, unless its PCI driver is registered already.
    case loadModule(module: String, driver: String)
    /// Write driver_override (nil clears it).
    case setOverride(PCIAddress, String?)
    /// Unbind from the current driver, unless it is `keeping` (`current` is the driver when planned).
    case unbind(PCIAddress, current: String?, keeping: String?)
    /// Ask the kernel to bind a driver (drivers_probe), unless one is bound.
    case probe(PCIAddress)
    /// Wait until the function's driver is what it should be.
    case expect(PCIAddress, DriverExpectation)
    /// Wait until /dev/vfio/N exists.
    case awaitGroupNode(Int)
    /// Write a device attribute (sriov_numvfs, sriov_drivers_autoprobe), unless it reads so already.
    case setAttribute(PCIAddress, String, String)
    /// Wait until the PF has N VFs in sysfs (virtfn0 ... virtfnN-1, each a device).
    case awaitVFs(PCIAddress, Int)
    /// Bind every VF of the PF to a driver (nil: off vfio, to the kernel's pick), each converging
    /// as a detach or reattach step does; with `alias`, each VF is first checked to be a device
    /// that alias pattern matches (a variant driver chosen before the VFs existed).
    case bindVFs(PCIAddress, String?, alias: String? = nil)
    /// Set one netlink attribute of VF `vf` through the PF's netdev (RTM_SETLINK), unless it reads
    /// so already; read back after.
    case setVF(PCIAddress, interface: String, vf: Int, VFAttribute)
    /// Bring a netdev up (IFF_UP through /sys/class/net/NAME/flags), unless it is; a rollback
    /// takes it down again.
    case linkUp(String)
    /// Create an mdev: its UUID written to the parent type's `create`, unless it exists (of that type).
    case createMdev(parent: String, type: String, uuid: MdevUUID)
    /// Remove an mdev (`1` to its `remove`), unless it is gone.
    case removeMdev(parent: String, uuid: MdevUUID)
    /// Write mdevctl's definition file of an mdev, unless it says so already.
    case defineMdev(MdevDefinition)
    /// Delete mdevctl's definition file of an mdev, unless there is none.
    case undefineMdev(parent: String, uuid: MdevUUID)

    /// The function the step changes or waits for.
    public var address: PCIAddress? {
        switch self {
        case .setOverride(let a, _), .unbind(let a, _, _), .probe(let a), .expect(let a, _): a
        case .setAttribute(let a, _, _), .awaitVFs(let a, _), .bindVFs(let a, _, _), .setVF(let a, _, _, _): a
        case .loadModule, .awaitGroupNode, .linkUp, .createMdev, .removeMdev, .defineMdev, .undefineMdev: nil
        }
    }

    /// The mdev the step changes.
    public var mdev: MdevUUID? {
        switch self {
        case .createMdev(_, _, let uuid), .removeMdev(_, let uuid), .undefineMdev(_, let uuid): uuid
        case .defineMdev(let definition): definition.uuid
        default: nil
        }
    }

    /// The contract's name for it (`"action"` in JSON).
    public var action: String {
        switch self {
        case .loadModule: "load-module"
        case .setOverride: "set-override"
        case .unbind: "unbind"
        case .probe: "probe"
        case .expect: "verify"
        case .awaitGroupNode: "await-node"
        case .setAttribute: "set-attribute"
        case .awaitVFs: "await-vfs"
        case .bindVFs: "bind-vfs"
        case .setVF: "set-vf"
        case .linkUp: "link-up"
        case .createMdev: "create-mdev"
        case .removeMdev: "remove-mdev"
        case .defineMdev: "define-mdev"
        case .undefineMdev: "undefine-mdev"
        }
    }

    /// The file it writes or watches, from the root ("/sys/bus/pci/drivers_probe").
    public var path: String {
        switch self {
        case .loadModule(_, let driver): "/sys/bus/pci/drivers/\(driver)"
        case .setOverride(let a, _): a.sysfs("driver_override")
        case .unbind(let a, let current, _):
            current.map { "/sys/bus/pci/drivers/\($0)/unbind" } ?? a.sysfs("driver/unbind")
        case .probe: "/sys/bus/pci/drivers_probe"
        case .expect(let a, .device): a.sysfs("modalias")
        case .expect(let a, _): a.sysfs("driver")
        case .awaitGroupNode(let group): "/dev/vfio/\(group)"
        case .setAttribute(let a, let name, _): a.sysfs(name)
        case .awaitVFs(let a, let count): "/sys/bus/pci/devices/\(a)/virtfn\(max(0, count - 1))"
        case .bindVFs(let a, _, _): a.sysfs("virtfn*")
        case .setVF(_, let interface, let vf, let attribute): "rtnetlink:\(interface)/vf/\(vf)/\(attribute.name)"
        case .linkUp(let interface): "/sys/class/net/\(interface)/flags"
        case .createMdev(let parent, let type, _): "/sys/class/mdev_bus/\(parent)/mdev_supported_types/\(type)/create"
        case .removeMdev(_, let uuid): "/sys/bus/mdev/devices/\(uuid)/remove"
        case .defineMdev(let definition): definition.path
        case .undefineMdev(let parent, let uuid): MdevDefinition.path(parent: parent, uuid: uuid)
        }
    }

    /// What it writes, or what it waits for.
    public var value: String {
        switch self {
        case .loadModule(let module, _): module
        case .setOverride(_, let value): value ?? ""
        case .unbind(let a, _, _), .probe(let a): a.description
        case .expect(_, .driver(let driver)): driver
        case .expect(_, .unbound): ""
        case .expect(_, .notVFIO): "any driver but vfio"
        case .expect(_, .hostDriver): "a host driver"
        case .expect(_, .device(let alias)): VFIOVariants.linePrefix + alias
        case .awaitGroupNode: "exists"
        case .setAttribute(_, _, let value): value
        case .awaitVFs(_, let count): "\(count) VFs"
        case .bindVFs(_, let driver, _): driver ?? "off vfio"
        case .setVF(_, _, _, let attribute): attribute.description
        case .linkUp: "up"
        case .createMdev(_, _, let uuid): uuid.description
        case .removeMdev: "1"
        case .defineMdev(let definition): "\(definition.type) start=\(definition.start.rawValue)"
        case .undefineMdev: ""
        }
    }

    /// One line for people: "unbind 0000:01:00.0 from e1000e".
    public var summary: String {
        switch self {
        case .loadModule(let module, _): "load \(module)"
        case .setOverride(let a, let value): value.map { "\(a): driver_override = \($0)" } ?? "\(a): clear driver_override"
        case .unbind(let a, let current, let keeping):
            "\(a): unbind" + (current.map { " from \($0)" } ?? "") + (keeping.map { " (unless on \($0))" } ?? "")
        case .probe(let a): "\(a): probe drivers"
        case .expect(let a, .driver(let driver)): "\(a): verify it is on \(driver)"
        case .expect(let a, .unbound): "\(a): verify it has no driver"
        case .expect(let a, .notVFIO): "\(a): verify it left vfio"
        case .expect(let a, .hostDriver): "\(a): verify it is on its host driver"
        case .expect(let a, .device(let alias)): "\(a): verify it is a device \(VFIOVariants.linePrefix + alias) matches"
        case .awaitGroupNode(let group): "wait for /dev/vfio/\(group)"
        case .setAttribute(let a, let name, let value): "\(a): \(name) = \(value)"
        case .awaitVFs(let a, let count): "\(a): wait for \(count) VFs"
        case .bindVFs(let a, let driver, let alias): "\(a): VFs to " + (driver ?? "their host driver")
            + (alias.map { " (each checked to be a device \(VFIOVariants.linePrefix + $0) matches)" } ?? "")
        case .setVF(_, let interface, let vf, let attribute): "\(interface) VF \(vf): \(attribute)"
        case .linkUp(let interface): "\(interface): link up"
        case .createMdev(let parent, let type, let uuid): "create mdev \(uuid) of type \(type) on \(parent)"
        case .removeMdev(let parent, let uuid): "remove mdev \(uuid) from \(parent)"
        case .defineMdev(let definition): "define mdev \(definition.uuid) (\(definition.type), start \(definition.start.rawValue)) for mdevctl"
        case .undefineMdev(_, let uuid): "remove mdevctl's definition of \(uuid)"
        }
    }
}

/// What a changing run will do (detach, reattach, persist apply, the sriov commands, apply):
/// the steps in order, what they may change as it is now (bindings, VF counts, VF settings),
/// what the state directory keeps once done, and the findings (a guard's refusal is an error
/// finding). Made by the planners (BindingPlanner, SRIOVPlanner, VFPlanner, PoolPlanner), pure;
/// carried out by the actuator's Transaction.
public struct Plan: Sendable, Equatable {
    public enum Operation: String, Sendable, Equatable {
        case detach, reattach
        case sriovCreate = "sriov-create"
        case sriovDestroy = "sriov-destroy"
        case sriovSet = "sriov-set"
        case sriovRestore = "sriov-restore"
        case apply
        case mdevCreate = "mdev-create"
        case mdevRemove = "mdev-remove"
    }

    /// What the steps may change, as it is before the run, by kind: journaled before the first
    /// write; a rollback (or `recover`) puts back what a begun step touched.
    public struct Originals: Sendable, Equatable {
        /// Every function a step touches: its driver, module and driver_override.
        public var bindings: [FunctionBinding] = []
        /// Each PF whose VF count or autoprobe a step changes (restored first on rollback: a new
        /// count replaces every VF).
        public var vfCounts: [SRIOVOriginal] = []
        /// Each VF whose settings (MAC, VLAN, trust...) a step changes.
        public var vfSettings: [VFOriginal] = []
        /// Each mdev a step creates, removes, defines or undefines: whether it existed, and its definition.
        public var mdevs: [MdevOriginal] = []

        public init(bindings: [FunctionBinding] = [], vfCounts: [SRIOVOriginal] = [], vfSettings: [VFOriginal] = [], mdevs: [MdevOriginal] = []) {
            (self.bindings, self.vfCounts, self.vfSettings, self.mdevs) = (bindings, vfCounts, vfSettings, mdevs)
        }
    }

    /// What the state directory keeps once the run is done (its commit).
    public struct Records: Sendable, Equatable {
        /// Detached functions and the driver each had, for reattach.
        public var write: [FunctionBinding] = []
        /// Functions given back: their records go.
        public var drop: [PCIAddress] = []
        /// VF settings as they were before vfioctl first changed them (kept until `sriov restore`).
        public var vfWrite: [VFOriginal] = []
        public var vfDrop: [VFKey] = []
        /// PFs whose VF count the run changes: their VF records describe VFs that are gone.
        public var vfDropPFs: [PCIAddress] = []

        public init() {}
    }

    public var operation: Operation
    /// The groups the plan works on.
    public var groups: [Int]
    public var originals: Originals
    public var steps: [Step]
    public var findings: [Finding]
    /// Functions already where the plan would put them.
    public var unchanged: [PCIAddress]
    public var records = Records()

    public init(operation: Operation, groups: [Int] = [], bindings: [FunctionBinding] = [], steps: [Step] = [],
                findings: [Finding] = [], unchanged: [PCIAddress] = []) {
        self.operation = operation
        self.groups = groups
        self.originals = Originals(bindings: bindings)
        self.steps = steps
        self.findings = findings
        self.unchanged = unchanged
    }

    /// A guard said no: nothing may be written.
    public var refused: Bool { findings.contains { $0.severity == .error } }

    /// Functions the steps change, in the order they are first touched.
    public var changed: [PCIAddress] {
        var seen: Set<PCIAddress> = []
        return steps.compactMap(\.address).filter { seen.insert($0).inserted }
    }

    public func original(_ address: PCIAddress) -> FunctionBinding? { originals.bindings.first { $0.address == address } }

    /// What a rollback puts back once `begun` steps ran: every binding, VF count, VF setting
    /// and link a begun step may have changed.
    public struct Undo: Sendable, Equatable {
        public var bindings: [FunctionBinding] = []
        public var vfCounts: [SRIOVOriginal] = []
        public var vfSettings: [VFOriginal] = []
        /// Netdevs a begun `link-up` brought up: a rollback takes them down.
        public var links: [String] = []
        /// Mdevs a begun step created, removed or (un)defined: put back as they were.
        public var mdevs: [MdevOriginal] = []

        public init(bindings: [FunctionBinding] = [], vfCounts: [SRIOVOriginal] = [], vfSettings: [VFOriginal] = [], links: [String] = [],
                    mdevs: [MdevOriginal] = []) {
            (self.bindings, self.vfCounts, self.vfSettings, self.links, self.mdevs) = (bindings, vfCounts, vfSettings, links, mdevs)
        }
    }
}

extension Plan.Originals {
    /// What to put back once `begun` of `steps` ran. A PF's VF count changing replaces all its
    /// VFs, so then every original binding is put back, and no VF's settings (those VFs are gone).
    public func undo(_ steps: [Step], begun: Set<Int>) -> Plan.Undo {
        let addresses = Set(begun.compactMap { $0 < steps.count ? steps[$0].address : nil })
        var changedVFs: Set<VFKey> = []
        var recounted: Set<PCIAddress> = []
        var links: [String] = []
        var mdevsTouched: Set<MdevUUID> = []
        for index in begun.sorted() where index < steps.count {
            if let uuid = steps[index].mdev { mdevsTouched.insert(uuid) }
            switch steps[index] {
            case .setVF(let pf, _, let vf, _): changedVFs.insert(VFKey(pf: pf, index: vf))
            case .setAttribute(let pf, SRIOVPlanner.numVFsAttribute, _): recounted.insert(pf)
            case .linkUp(let name): links.append(name)
            default: break
            }
        }
        let counts = vfCounts.filter { addresses.contains($0.pf) }
        return Plan.Undo(bindings: counts.isEmpty ? bindings.filter { addresses.contains($0.address) } : bindings,
                         vfCounts: counts,
                         vfSettings: vfSettings.filter { changedVFs.contains($0.key) && !recounted.contains($0.pf) },
                         links: links, mdevs: mdevs.filter { mdevsTouched.contains($0.uuid) })
    }
}

/// An mdev as it was before a run that creates, removes or (un)defines it: journaled before the
/// first write, put back by a rollback or `recover` (removed again if it was created, created
/// again with its type if it was removed; its definition file as it was, or none).
public struct MdevOriginal: Sendable, Equatable {
    public var uuid: MdevUUID
    public var parent: String
    /// Its type: what it had, or what the run creates (to remove or recreate it by).
    public var type: String
    /// It existed.
    public var active: Bool
    /// mdevctl's definition of it on `parent` (nil: none).
    public var definition: MdevDefinition?

    public init(uuid: MdevUUID, parent: String, type: String, active: Bool, definition: MdevDefinition?) {
        (self.uuid, self.parent, self.type, self.active, self.definition) = (uuid, parent, type, active, definition)
    }
}
