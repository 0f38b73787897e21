import Glibc
import VFIOCore

/// Takes a plan's steps, journaling each before it is taken (the Transaction opens the journal and
/// commits). A step that fails rolls back every function a begun step touched (to its original
/// binding); if the rollback fails too, the journal stays for `vfioctl recover`.
public struct Applier {
    public var kernel: any HostKernel
    /// VF attributes over rtnetlink (nil: a plan with `set-vf` steps fails at its first one).
    public var netlink: (any VFNetlink)?
    /// How long a probe or modprobe may take to show its result.
    public var settleTimeout: Double
    public var pollInterval: Double
    /// How long a VF's netdev may take to show a MAC set through its PF before its driver is
    /// reloaded for it (a driver that applies it live may reset the VF first: iavf under ice).
    public var macGrace: Double
    /// Where a long wait says how far it got (stderr, for the command line).
    public var onProgress: (@Sendable (String) -> Void)?

    public init(kernel: any HostKernel, settleTimeout: Double = 10, pollInterval: Double = 0.02, macGrace: Double = 3) {
        self.kernel = kernel
        self.settleTimeout = settleTimeout
        self.pollInterval = pollInterval
        self.macGrace = min(macGrace, settleTimeout)
    }

    // MARK: a run

    /// Executes steps (all of them: each converges, so replaying done ones is safe), journaling
    /// begin/done around each; `begun` are steps an earlier, interrupted run began.
    public func execute(_ steps: [Step], originals: Plan.Originals, journal: JournalFile, begun: Set<Int>) throws(VFIOError) -> Outcome {
        var results = [RunReport.StepResult](repeating: .planned, count: steps.count)
        var reloads: [RunReport.Reload] = []
        var touched = begun
        for (index, step) in steps.enumerated() {
            do {
                try journal.append(.begin(index))
                touched.insert(index)
                results[index] = try perform(step, reloaded: { reloads.append($0) }) ? .done : .skipped
                try journal.append(.done(index))
            } catch {
                if case .interrupted = error.kind { throw error }
                let failed = "step \(index + 1) of \(steps.count) (\(step.summary)) failed: \(error.message)"
                try? journal.append(.failed(index, error.message))
                let undo = originals.undo(steps, begun: touched)
                let problems = rollback(undo, journal: journal)
                if problems.isEmpty {
                    try? journal.append(.rolledBack)
                    let restored = undo.vfCounts.map { "\($0.pf) has \($0.numVFs) VFs again" }
                        + undo.vfSettings.map { "\($0.interface) VF \($0.config.index) has its settings again" }
                        + undo.bindings.map { "\($0.address) is on \($0.driverName) again" } + undo.links.map { "\($0) is down again" }
                        + undo.mdevs.map { "mdev \($0.uuid) is " + ($0.active ? "there" : "gone") + " again" + ($0.definition == nil ? "" : " and defined") }
                    throw VFIOError(.failed, failed + ". Rolled back: "
                                        + (restored.isEmpty ? "nothing had changed" : restored.joined(separator: ", ")),
                                    hint: error.hint)
                }
                throw VFIOError(.failed, failed + ". The rollback failed too: " + problems.map(\.message).joined(separator: "; "),
                                hint: "the journal is kept: 'vfioctl recover' retries the rollback once the cause is fixed")
            }
        }
        try journal.append(.finished)
        return Outcome(results: results, reloads: reloads)
    }

    /// What a run did: each step's result, and the VF drivers reloaded so a new MAC took effect.
    public struct Outcome: Sendable {
        public var results: [RunReport.StepResult]
        public var reloads: [RunReport.Reload]
    }

    /// Puts back what `undo` names; returns what could not be restored. Everything is tried,
    /// even after one fails.
    public func rollback(_ undo: Plan.Undo, journal: JournalFile?) -> [VFIOError] {
        try? journal?.append(.rollback)
        var problems: [VFIOError] = []
        // VF attributes while the VFs are still the ones they were recorded on.
        for original in undo.vfSettings {
            do {
                try restore(original)
            } catch {
                problems.append(VFIOError(.failed, "\(original.interface) VF \(original.config.index) (back to its settings): \(error.message)"))
            }
        }
        // VF counts first: changing one replaces every VF, whose bindings come after.
        for original in undo.vfCounts {
            do {
                try restore(original)
            } catch {
                problems.append(VFIOError(.failed, "\(original.pf) (back to \(original.numVFs) VFs): \(error.message)"))
            }
        }
        for binding in BindingPlanner.restoreOrder(undo.bindings) {
            do {
                for step in Recipe.restore(binding, pciDrivers: nil) { _ = try perform(step) }
            } catch {
                problems.append(VFIOError(.failed, "\(binding.address) (back to \(binding.driverName)): \(error.message)"))
            }
        }
        for name in undo.links {
            do {
                try setFlags(name, up: false)
            } catch {
                problems.append(VFIOError(.failed, "\(name) (back down): \(error.message)"))
            }
        }
        for original in undo.mdevs {
            do {
                try restore(original)
            } catch {
                problems.append(VFIOError(.failed, "mdev \(original.uuid) (back as it was): \(error.message)"))
            }
        }
        return problems
    }

    /// One VF's attributes as recorded, each only where it differs now.
    func restore(_ original: VFOriginal) throws(VFIOError) {
        let current = try vfConfig(interface: original.interface, vf: original.config.index)
        for attribute in original.restoring(from: current) {
            _ = try perform(.setVF(original.pf, interface: original.interface, vf: original.config.index, attribute))
        }
    }

    func vfNetlink() throws(VFIOError) -> any VFNetlink {
        guard let netlink else {
            throw .failed("VF attributes are set over rtnetlink, which this run has no socket for", hint: "run on the host itself, as root")
        }
        return netlink
    }

    /// VF `vf` of PF netdev `interface` as its driver reports it now.
    func vfConfig(interface: String, vf: Int) throws(VFIOError) -> VFLinkConfig {
        let vfs = try vfNetlink().vfs(ofInterface: interface)
        guard let config = vfs.first(where: { $0.index == vf }) else {
            throw .failed("\(interface) has no VF \(vf) now (it has \(vfs.count))", hint: "'vfioctl sriov status' shows its VFs")
        }
        return config
    }

    /// A netdev's IFF_* flags (/sys/class/net/NAME/flags), nil when there is no such netdev.
    func netFlags(_ name: String) -> UInt64? { kernel.read("/sys/class/net/\(name)/flags").flatMap(SysfsValues.hex) }

    /// IFF_UP on or off through /sys/class/net/NAME/flags (dev_change_flags, as `ip link set up`).
    func setFlags(_ name: String, up: Bool) throws(VFIOError) {
        let path = "/sys/class/net/\(name)/flags"
        guard let flags = netFlags(name) else {
            throw .failed("cannot read \(path): is there a network interface \(name)?", hint: "'ip link' lists interfaces")
        }
        let wanted = up ? flags | 1 : flags & ~1
        guard wanted != flags else { return }
        do {
            try kernel.write(path, "0x" + String(wanted, radix: 16))
        } catch {
            throw VFIOError(.failed, error.description, hint: error.code == EPERM || error.code == EACCES ? "run as root" : "dmesg may say why \(name) did not come up")
        }
    }

    /// An mdev as it was: there (created again with its type) or not (removed), and its
    /// definition file as it was, or none.
    func restore(_ original: MdevOriginal) throws(VFIOError) {
        let exists = kernel.exists(Self.mdevDevice(original.uuid))
        if original.active && !exists {
            _ = try perform(.createMdev(parent: original.parent, type: original.type, uuid: original.uuid))
        } else if !original.active && exists {
            _ = try perform(.removeMdev(parent: original.parent, uuid: original.uuid))
        }
        if let definition = original.definition {
            _ = try perform(.defineMdev(definition))
        } else if (try? kernel.readFile(MdevDefinition.path(parent: original.parent, uuid: original.uuid))) != nil {
            // A file the run wrote; what is there but is no file (a directory) the run did not make.
            _ = try perform(.undefineMdev(parent: original.parent, uuid: original.uuid))
        }
    }

    static func mdevDevice(_ uuid: MdevUUID) -> String { "/sys/bus/mdev/devices/\(uuid)" }

    /// A PF's VF count (through 0) and autoprobe as they were.
    func restore(_ original: SRIOVOriginal) throws(VFIOError) {
        let pf = original.pf
        let count = pf.sysfs(SRIOVPlanner.numVFsAttribute)
        let now = kernel.read(count).flatMap { Int($0.trimmingWhitespace()) }
        if let autoprobe = original.autoprobe {
            _ = try perform(.setAttribute(pf, SRIOVPlanner.autoprobeAttribute, autoprobe ? "1" : "0"))
        }
        guard now != original.numVFs else { return }
        if now != 0 { _ = try perform(.setAttribute(pf, SRIOVPlanner.numVFsAttribute, "0")) }
        if original.numVFs > 0 {
            _ = try perform(.setAttribute(pf, SRIOVPlanner.numVFsAttribute, String(original.numVFs)))
            _ = try perform(.awaitVFs(pf, original.numVFs))
        }
    }

    /// The PF's VFs now, by index (its virtfnN links).
    func virtualFunctions(of pf: PCIAddress) -> [PCIAddress] {
        var vfs: [PCIAddress] = []
        while let link = kernel.link("/sys/bus/pci/devices/\(pf)/virtfn\(vfs.count)"), let vf = PCIAddress(SysfsPaths.lastComponent(of: link)) {
            vfs.append(vf)
        }
        return vfs
    }

    // MARK: one step

    /// Takes one step; false when it was already so (skipped). `reloaded` hears of a VF driver
    /// reloaded so that a MAC set through the PF takes effect.
    public func perform(_ step: Step, reloaded: ((RunReport.Reload) -> Void)? = nil) throws(VFIOError) -> Bool {
        switch step {
        case .loadModule(let module, let driver):
            let registered = "/sys/bus/pci/drivers/\(driver)"
            guard !kernel.exists(registered) else { return false }
            try kernel.loadModule(module)
            try wait(for: "the \(driver) driver to register after modprobe \(module)") { kernel.exists(registered) }
            return true
        case .setOverride(let address, let value):
            let path = step.path
            let current = kernel.read(path).flatMap(SysfsValues.driverOverride)
            guard current != value else { return false }
            try write(path, value ?? "\n", address)
            return true
        case .unbind(let address, _, let keeping):
            guard let current = try kernel.driver(of: address), current != keeping else { return false }
            try write("/sys/bus/pci/drivers/\(current)/unbind", address.description, address)
            return true
        case .probe(let address):
            guard try kernel.driver(of: address) == nil else { return false }
            try write(step.path, address.description, address)
            return true
        case .expect(let address, .device(let alias)):
            let modalias = kernel.read(step.path)?.trimmingWhitespace()
            guard let modalias, VFIOVariants.matches(pattern: alias, modalias: modalias) else {
                throw .failed("\(address)\(identity(address)) is \(modalias.map { "a device of modalias \($0)" } ?? "a device without a readable modalias"), "
                                  + "which \(VFIOVariants.linePrefix + alias) does not match: its vfio driver was chosen for the device its PF's "
                                  + "sriov_vf_device announced",
                              hint: "name the VFs' driver: vfio-pci, or the variant 'vfioctl show \(address)' lists")
            }
            return false
        case .expect(let address, let expectation):
            var seen: String?
            do {
                try wait(for: "\(address) to be " + describe(expectation)) {
                    seen = try? kernel.driver(of: address)
                    return Self.satisfies(seen, expectation)
                }
            } catch {
                throw VFIOError(.failed, "\(address)\(identity(address)) is on \(seen ?? "no driver"), not " + describe(expectation)
                                    + (expectation == .hostDriver && seen == nil ? ": no loaded driver took its ID" : ""),
                                hint: hint(address, expectation, seen: seen))
            }
            return false
        case .awaitGroupNode(let group):
            try wait(for: "/dev/vfio/\(group) to appear") { kernel.exists("/dev/vfio/\(group)") }
            return false
        case .setAttribute(let address, let name, let value):
            guard kernel.read(step.path)?.trimmingWhitespace() != value else { return false }
            do {
                try kernel.write(step.path, value)
            } catch {
                throw VFIOError(.failed, error.description + SRIOVErrors.explain(name, error.code, value: value),
                                hint: SRIOVErrors.hint(name, error.code, pf: address) ?? (error.code == EPERM || error.code == EACCES ? "run as root" : nil))
            }
            return true
        case .awaitVFs(let pf, let count):
            try wait(for: "\(count) VFs of \(pf) to appear in sysfs", progress: { "\(virtualFunctions(of: pf).count) of \(count) VFs" }) {
                let vfs = virtualFunctions(of: pf)
                return vfs.count >= count && vfs.allSatisfy { kernel.exists($0.sysfsDevice) }
            }
            return false
        case .bindVFs(let pf, let driver, let alias):
            var changed = false
            let autoprobe = kernel.read(pf.sysfs(SRIOVPlanner.autoprobeAttribute))?.trimmingWhitespace() != "0"
            for vf in virtualFunctions(of: pf) {
                let now = Recipe.Now.bound(driver: try kernel.driver(of: vf), override: kernel.read(vf.sysfs("driver_override")).flatMap(SysfsValues.driverOverride))
                for step in Recipe.bindVF(vf, to: driver, alias: alias, pf: pf, autoprobe: autoprobe, from: now) { changed = try perform(step) || changed }
            }
            return changed
        case .setVF(let pf, let interface, let vf, let attribute):
            let before = try vfConfig(interface: interface, vf: vf)
            guard !attribute.isSatisfied(by: before) else { return false }
            try vfNetlink().set(attribute, vf: vf, interface: interface)
            let after = try vfConfig(interface: interface, vf: vf)
            guard attribute.isSatisfied(by: after) else {
                throw .failed("\(interface) accepted '\(attribute)' for VF \(vf) but reads back: \(after)",
                              hint: "the driver ignored it; some drivers only apply VF settings while the PF is up ('ip link set \(interface) up')")
            }
            if case .mac(let mac) = attribute, let reload = try takeMAC(mac, pf: pf, interface: interface, index: vf) { reloaded?(reload) }
            return true
        case .linkUp(let name):
            guard netFlags(name).map({ $0 & 1 == 0 }) ?? true else { return false }
            try setFlags(name, up: true)
            return true
        case .createMdev(let parent, let type, let uuid):
            let device = Self.mdevDevice(uuid)
            if kernel.exists(device) {
                let now = kernel.link(device + "/mdev_type").map(SysfsPaths.lastComponent(of:))
                guard now == type else {
                    throw .failed("mdev \(uuid) exists already, of type \(now ?? "unknown"), not \(type)",
                                  hint: "choose another UUID, or remove it first (vfioctl mdev remove \(uuid))")
                }
                return false
            }
            do {
                try kernel.write(step.path, uuid.description)
            } catch {
                let available = kernel.read("/sys/class/mdev_bus/\(parent)/mdev_supported_types/\(type)/available_instances")?.trimmingWhitespace()
                throw VFIOError(.failed, error.description + (available.map { "; \(type) has \($0) available instance\($0 == "1" ? "" : "s") now" } ?? ""),
                                hint: error.code == EPERM || error.code == EACCES ? "run as root"
                                    : "dmesg says why \(parent) refused; 'vfioctl mdev types \(parent)' shows what it offers now")
            }
            try wait(for: "mdev \(uuid) to appear in /sys/bus/mdev/devices") { kernel.exists(device) }
            return true
        case .removeMdev(_, let uuid):
            let device = Self.mdevDevice(uuid)
            guard kernel.exists(device) else { return false }
            do {
                try kernel.write(step.path, "1")
            } catch {
                throw VFIOError(.failed, error.description, hint: error.code == EPERM || error.code == EACCES ? "run as root" : "dmesg says why it was refused")
            }
            try wait(for: "mdev \(uuid) to go from /sys/bus/mdev/devices") { !kernel.exists(device) }
            return true
        case .defineMdev(let definition):
            let current = try kernel.readFile(definition.path)
            if let current, (try? MdevDefinition.parse(current, parent: definition.parent, uuid: definition.uuid, path: definition.path)) == definition {
                return false
            }
            try kernel.writeFile(definition.path, definition.fileText)
            return true
        case .undefineMdev:
            guard try kernel.readFile(step.path) != nil else { return false }
            try kernel.writeFile(step.path, nil)
            return true
        }
    }

    // MARK: a MAC on a VF's host driver

    /// After VF `index`'s MAC was set through its PF: when the VF is on a host driver whose netdev
    /// does not show the new address (igbvf reads it from the PF only at probe; igb logs "Reload
    /// the VF driver to make this change effective"), that driver is reloaded (Recipe.reload) and
    /// the netdev must then show it. Evidence, not a driver list: a driver that applies the MAC
    /// live (mlx5_core; iavf after ice resets the VF) shows it within `macGrace` and is left
    /// alone. A VF on vfio (a guest's driver reads it at its next reset), without a driver or
    /// without a netdev is left alone too, and so is an all-zero MAC (it lets the VF pick its
    /// own). A netdev that is up is not taken down for it: refused.
    func takeMAC(_ mac: MACAddress, pf: PCIAddress, interface: String, index: Int) throws(VFIOError) -> RunReport.Reload? {
        // All zero clears the PF's MAC: the VF's driver picks its own, nothing to show.
        guard !mac.isZero, let link = kernel.link(pf.sysfs("virtfn\(index)")), let vf = PCIAddress(SysfsPaths.lastComponent(of: link)),
              let driver = try kernel.driver(of: vf), !StubDriver.isVFIO(driver),
              let name = netdevs(of: vf).first else { return nil }
        if (try? wait(for: "\(name) to show \(mac)", timeout: macGrace, { netdevAddress(vf, name) == mac })) != nil { return nil }
        let old = netdevAddress(vf, name).map { "\($0)" } ?? "no address"
        if let flags = netFlags(name), flags & 1 == 1 {
            throw .failed("\(driver) on \(vf) (\(interface) VF \(index)) did not take the new MAC \(mac): its netdev \(name) still has \(old), "
                              + "and \(driver) takes a new MAC only when it is reloaded, which would take \(name), which is up, away",
                          hint: "bring \(name) down (ip link set \(name) down) and run it again, or reload \(driver) for \(vf) yourself")
        }
        let override = kernel.read(vf.sysfs("driver_override")).flatMap(SysfsValues.driverOverride)
        do {
            for step in Recipe.reload(vf, driver: driver, override: override) { _ = try perform(step) }
        } catch {
            // Back on its driver as before if it can be, then say what failed.
            for step in Recipe.restore(FunctionBinding(address: vf, group: nil, driver: driver, module: nil, override: override), pciDrivers: nil) {
                _ = try? perform(step)
            }
            throw VFIOError(.failed, "reloading \(driver) on \(vf) so it takes the new MAC \(mac) failed: \(error.message)", hint: error.hint)
        }
        do {
            try wait(for: "the netdev of \(vf) to show \(mac) after reloading \(driver)") { netdevs(of: vf).contains { netdevAddress(vf, $0) == mac } }
        } catch {
            let now = netdevs(of: vf).map { "\($0) has " + (netdevAddress(vf, $0).map { "\($0)" } ?? "no address") }
            throw .failed("reloaded \(driver) on \(vf), but its netdev did not take the new MAC \(mac): "
                              + (now.isEmpty ? "it has no netdev now" : now.joined(separator: ", ")),
                          hint: "dmesg shows what \(driver) and the PF's driver said; 'ip link show \(interface)' shows the MAC the PF holds for VF \(index)")
        }
        return RunReport.Reload(vf: vf, driver: driver, interface: interface, index: index, mac: mac)
    }

    /// The function's network interfaces (its net/ directory), sorted.
    func netdevs(of address: PCIAddress) -> [String] { (kernel.entries(address.sysfs("net")) ?? []).sorted() }

    /// A function's netdev's MAC (net/NAME/address).
    func netdevAddress(_ address: PCIAddress, _ name: String) -> MACAddress? {
        kernel.read(address.sysfs("net/\(name)/address")).flatMap { try? MACAddress.parse($0.trimmingWhitespace()) }
    }

    static func satisfies(_ driver: String?, _ expectation: DriverExpectation) -> Bool {
        switch expectation {
        case .driver(let name): driver == name
        case .unbound: driver == nil
        case .notVFIO: !StubDriver.isVFIO(driver)
        case .hostDriver: driver != nil && !StubDriver.isVFIO(driver)
        case .device: true
        }
    }

    func describe(_ expectation: DriverExpectation) -> String {
        switch expectation {
        case .driver(let name): "on \(name)"
        case .unbound: "without a driver"
        case .notVFIO: "off vfio"
        case .hostDriver: "on its host driver"
        case .device(let alias): "a device \(VFIOVariants.linePrefix + alias) matches"
        }
    }

    /// " (8086:10ca)": the function's vendor and device ID, as the kernel matches drivers by them.
    func identity(_ address: PCIAddress) -> String {
        let vendor = kernel.read(address.sysfs("vendor")).flatMap(SysfsValues.hex)
        let device = kernel.read(address.sysfs("device")).flatMap(SysfsValues.hex)
        guard let vendor, let device else { return "" }
        return " (" + HexDigits.padded(vendor, width: 4) + ":" + HexDigits.padded(device, width: 4) + ")"
    }

    func hint(_ address: PCIAddress, _ expectation: DriverExpectation, seen: String? = nil) -> String {
        switch expectation {
        case .driver(StubDriver.vfioPCI):
            "dmesg shows why vfio-pci refused \(address) (e.g. no IOMMU group: boot with the IOMMU on)"
        case .driver(let name): "dmesg shows why \(name) did not take \(address); modprobe \(name) if it is not loaded"
        case .hostDriver where seen == nil:
            "load the VF driver for its ID: modprobe $(cat /sys/bus/pci/devices/\(address)/modalias)"
                + (vfDriverHint(address).map { " (\($0))" } ?? "") + "; dmesg shows a probe that failed"
        default: "dmesg shows what bound \(address)"
        }
    }

    /// "igb's VFs use igbvf": the usual VF driver of the VF's PF driver, when it is a known one.
    func vfDriverHint(_ vf: PCIAddress) -> String? {
        guard let physfn = kernel.link(vf.sysfs("physfn")), let pf = PCIAddress(SysfsPaths.lastComponent(of: physfn)),
              let pfDriver = try? kernel.driver(of: pf), let vfDriver = VFDriverLimits.vfDriver(ofPF: pfDriver) else { return nil }
        return "\(pfDriver)'s VFs use \(vfDriver)"
    }

    func write(_ path: String, _ value: String, _ address: PCIAddress) throws(VFIOError) {
        do {
            try kernel.write(path, value)
        } catch {
            throw VFIOError(.failed, error.description,
                            hint: error.code == EPERM || error.code == EACCES ? "run as root" : "dmesg may say more about \(address)")
        }
    }

    /// Polls `condition` until it holds or `timeout` (the settle timeout) passes.
    func wait(for what: String, timeout: Double? = nil, progress: (() -> String)? = nil, _ condition: () throws(VFIOError) -> Bool) throws(VFIOError) {
        let timeout = timeout ?? settleTimeout
        var waited = 0.0
        var reported = 0.0
        while try !condition() {
            guard waited < timeout else {
                throw .failed("gave up after \(timeout) s waiting for \(what)" + (progress.map { " (\($0()))" } ?? ""))
            }
            if let progress, waited - reported >= 1 {
                reported = waited
                onProgress?("waiting for \(what): \(progress())")
            }
            kernel.pause(seconds: pollInterval)
            waited += pollInterval
        }
    }
}
