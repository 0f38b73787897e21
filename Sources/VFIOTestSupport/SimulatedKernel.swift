import Glibc
import Synchronization
import VFIOActuator
import VFIOCore
import VFIODeviceLayer

/// Linux's PCI driver core, simulated over a fake sysfs tree, for unit tests of the actuator.
/// driver_override, unbind, drivers_probe and modprobe change the tree the way the kernel changes
/// sysfs (driver links both ways, vfio-dev/, /dev/vfio/N while a group member is on vfio-pci);
/// every write is recorded; any write can be made to fail with an errno. Reads are LiveKernel's,
/// so the actuator sees the tree exactly as on a host. What it stands for is proven against
/// Linux in the lab (Tests/VFIOLabTests/ActuatorBootTests.swift).
// @unchecked: its mutable state is behind a Mutex; `tree` is only used for file writes.
public final class SimulatedKernel: HostKernel, @unchecked Sendable {
    public struct Write: Sendable, Equatable, CustomStringConvertible {
        public var path: String
        public var value: String
        public var description: String { "\(path) <- \(value == "\n" ? "\\n" : value)" }
    }

    struct State {
        var writes: [Write] = []
        var modules: [String] = []
        var failures: [Int: Int32] = [:]
        var failingPaths: [(suffix: String, code: Int32)] = []
        /// The netdevs of functions unbound from a host driver (name, address), made again when a
        /// host driver binds them.
        var parked: [PCIAddress: [(name: String, address: String)]] = [:]
    }

    public let root: String
    let tree: FakeSysfs
    let reader: LiveKernel
    /// The driver the kernel picks for a function when no override is set (its ID table match).
    public let defaultDrivers: [PCIAddress: String]
    /// Modules modprobe can load, and the PCI driver each registers.
    public let loadableModules: [String: String]
    /// Functions a driver's probe rejects (vfio-pci without an IOMMU group, say): drivers_probe
    /// succeeds but nothing binds.
    public let rejecting: Set<PCIAddress>
    /// The driver the kernel picks for a PF's VFs (iavf for an i40e PF, say), by PF.
    public var vfDrivers: [PCIAddress: String] = [:]
    /// The subsystem device every VF made here reads (nil: its PF's), as a VF's own config space
    /// may tell another than its PF's: its modalias says so too.
    public var vfSubsystemDevice: UInt16?
    /// The PFs' VF attributes as rtnetlink shows them: VFs created or removed here are created or
    /// removed there too (fresh), as a PF driver's sriov_configure does.
    public var netlink: RecordingVFNetlink?
    private let state = Mutex(State())

    public init(root: String, defaultDrivers: [PCIAddress: String], loadableModules: [String: String] = ["vfio-pci": "vfio-pci"],
                rejecting: Set<PCIAddress> = []) throws {
        self.root = root
        self.tree = FakeSysfs(root: root)
        self.reader = LiveKernel(root: try HostRoot(root))
        self.defaultDrivers = defaultDrivers
        self.loadableModules = loadableModules
        self.rejecting = rejecting
    }

    /// A simulation of `fake`'s host, where each function's current driver is also the one the
    /// kernel would pick for it.
    /// `modules`: more modules modprobe can load (a vfio-pci variant driver), each with its driver.
    public convenience init(_ fake: FakeSysfs, defaultDrivers: [String: String] = [:], rejecting: [String] = [],
                            modules: [String: String] = [:]) throws {
        var defaults: [PCIAddress: String] = [:]
        for f in fake.functions { if let driver = f.driver, !StubDriver.isVFIO(driver) { defaults[f.address] = driver } }
        for (address, driver) in defaultDrivers { if let a = PCIAddress(address) { defaults[a] = driver } }
        try self.init(root: fake.root, defaultDrivers: defaults, loadableModules: modules.merging(["vfio-pci": "vfio-pci"]) { mine, _ in mine },
                      rejecting: Set(rejecting.compactMap { PCIAddress($0) }))
    }

    /// Every write so far, in order.
    public var writes: [Write] { state.withLock { $0.writes } }
    public var loadedModules: [String] { state.withLock { $0.modules } }

    /// Makes write number `index` (0-based, counting every write) fail with `code`.
    public func failWrite(_ index: Int, with code: Int32) { state.withLock { $0.failures[index] = code } }
    /// Makes every write to a path ending in `suffix` fail with `code`.
    public func failWrites(endingIn suffix: String, with code: Int32) { state.withLock { $0.failingPaths.append((suffix, code)) } }
    public func clearFailures() { state.withLock { $0.failures = [:]; $0.failingPaths = [] } }

    // MARK: HostKernel

    public func driver(of address: PCIAddress) throws(VFIOError) -> String? { try reader.driver(of: address) }
    public func read(_ path: String) -> String? { reader.read(path) }
    public func exists(_ path: String) -> Bool { reader.exists(path) }
    public func link(_ path: String) -> String? { reader.link(path) }
    public func entries(_ path: String) -> [String]? { reader.entries(path) }
    public func pause(seconds: Double) {}
    public var files: HostRoot { reader.root }

    public func loadModule(_ module: String) throws(VFIOError) {
        guard let driver = loadableModules[module] else { throw .failed("modprobe: FATAL: Module \(module) not found") }
        state.withLock { $0.modules.append(module) }
        register(driver)
    }

    public func write(_ path: String, _ value: String) throws(KernelWriteError) {
        let injected: Int32? = state.withLock { state in
            let index = state.writes.count
            state.writes.append(Write(path: path, value: value))
            return state.failures[index] ?? state.failingPaths.first { path.hasSuffix($0.suffix) }?.code
        }
        if let injected { throw KernelWriteError(path: path, value: value, code: injected) }
        let parts = path.split(separator: "/").map(String.init)
        let trimmed = value.hasSuffix("\n") ? String(value.dropLast()) : value
        switch (parts.count, parts.last) {
        case (6, "driver_override") where parts.starts(with: ["sys", "bus", "pci", "devices"]):
            guard let address = PCIAddress(parts[4]), exists(path) else { throw KernelWriteError(path: path, value: value, code: ENOENT) }
            tree.write(devicePath(address) + "/driver_override", (trimmed.isEmpty ? "(null)" : trimmed) + "\n")
        case (6, "unbind") where parts.starts(with: ["sys", "bus", "pci", "drivers"]):
            guard exists("/sys/bus/pci/drivers/\(parts[4])") else { throw KernelWriteError(path: path, value: value, code: ENOENT) }
            guard let address = PCIAddress(trimmed), (try? driver(of: address)) == parts[4] else {
                throw KernelWriteError(path: path, value: value, code: ENODEV)
            }
            unbind(address, from: parts[4])
        case (6, "sriov_numvfs") where parts.starts(with: ["sys", "bus", "pci", "devices"]):
            guard let pf = PCIAddress(parts[4]), let total = read(String(path.dropLast("sriov_numvfs".count)) + "sriov_totalvfs").flatMap({ Int($0.trimmingWhitespace()) }),
                  let count = Int(trimmed) else { throw KernelWriteError(path: path, value: value, code: ENOENT) }
            guard (try? driver(of: pf)) ?? nil != nil else { throw KernelWriteError(path: path, value: value, code: ENOENT) }
            guard count <= total else { throw KernelWriteError(path: path, value: value, code: ERANGE) }
            let current = read(path).flatMap { Int($0.trimmingWhitespace()) } ?? 0
            if count == current { return }
            guard current == 0 || count == 0 else { throw KernelWriteError(path: path, value: value, code: EBUSY) }
            if count == 0 {
                removeVFs(of: pf, count: current)
            } else if !createVFs(of: pf, count: count) {
                throw KernelWriteError(path: path, value: value, code: ENOMEM)
            }
            tree.write(devicePath(pf) + "/sriov_numvfs", "\(count)\n")
            let netdevs = FileRead.entries(root + "/" + devicePath(pf) + "/net") ?? []
            for name in netdevs { netlink?.resize(name, count: count) }
        case (5, "flags") where parts.starts(with: ["sys", "class", "net"]):
            guard exists(path), let flags = SysfsValues.hex(trimmed) else {
                throw KernelWriteError(path: path, value: value, code: exists(path) ? EINVAL : ENOENT)
            }
            tree.write("sys/class/net/\(parts[3])/flags", "0x" + String(flags, radix: 16) + "\n")
            tree.write("sys/class/net/\(parts[3])/operstate", flags & 1 == 1 ? "up\n" : "down\n")
        case (6, "sriov_drivers_autoprobe") where parts.starts(with: ["sys", "bus", "pci", "devices"]):
            guard let pf = PCIAddress(parts[4]), exists(path), trimmed == "0" || trimmed == "1" else { throw KernelWriteError(path: path, value: value, code: EINVAL) }
            tree.write(devicePath(pf) + "/sriov_drivers_autoprobe", trimmed + "\n")
        case (7, "create") where parts.starts(with: ["sys", "class", "mdev_bus"]) && parts[4] == "mdev_supported_types":
            // mdev_device_create: a UUID, not taken, and an instance left (-EUSERS otherwise).
            let available = read(String(path.dropLast("create".count)) + "available_instances").flatMap { Int($0.trimmingWhitespace()) }
            guard exists(path), let uuid = MdevUUID(trimmed) else { throw KernelWriteError(path: path, value: value, code: EINVAL) }
            guard !exists("/sys/bus/mdev/devices/\(uuid)") else { throw KernelWriteError(path: path, value: value, code: EEXIST) }
            guard let available, available > 0 else { throw KernelWriteError(path: path, value: value, code: EUSERS) }
            tree.write("sys/class/mdev_bus/\(parts[3])/mdev_supported_types/\(parts[5])/available_instances", "\(available - 1)\n", mode: 0o444)
            tree.addMdev(uuid.description, parent: parts[3], type: parts[5])
        case (6, "remove") where parts.starts(with: ["sys", "bus", "mdev", "devices"]):
            guard exists(path), trimmed == "1" else { throw KernelWriteError(path: path, value: value, code: exists(path) ? EINVAL : ENOENT) }
            if let type = link("/sys/bus/mdev/devices/\(parts[4])/mdev_type") {
                let typeDir = SysfsPaths.resolve(link: type, in: SysfsPaths.resolve(link: link("/sys/bus/mdev/devices/\(parts[4])") ?? "", in: "sys/bus/mdev/devices"))
                let count = read("/" + typeDir + "/available_instances").flatMap { Int($0.trimmingWhitespace()) } ?? 0
                tree.write(typeDir + "/available_instances", "\(count + 1)\n", mode: 0o444)
            }
            tree.removeMdev(parts[4])
        case (4, "drivers_probe"):
            guard let address = PCIAddress(trimmed), exists(address.sysfsDevice) else {
                throw KernelWriteError(path: path, value: value, code: ENODEV)
            }
            probe(address)
        default:
            throw KernelWriteError(path: path, value: value, code: ENOENT)
        }
    }

    // MARK: the driver core

    /// The function's directory relative to the root (where its bus link points).
    func devicePath(_ address: PCIAddress) -> String {
        let link = "sys/bus/pci/devices/\(address)"
        guard let target = FileRead.link(root + "/" + link) else { return link }
        return SysfsPaths.resolve(link: target, in: "sys/bus/pci/devices")
    }

    func register(_ driver: String) {
        let directory = "sys/bus/pci/drivers/" + driver
        tree.makeDirectory(directory)
        for file in ["bind", "unbind", "new_id", "remove_id"] { tree.write(directory + "/" + file, "", mode: 0o200) }
    }

    func unbind(_ address: PCIAddress, from driver: String) {
        let device = devicePath(address)
        // A network driver's netdevs go with it (unregister_netdev in its remove).
        if !StubDriver.isVFIO(driver) {
            let names = (FileRead.entries(root + "/" + device + "/net") ?? []).sorted()
            let netdevs = names.map { (name: $0, address: read("/" + device + "/net/\($0)/address")?.trimmingWhitespace() ?? "") }
            if !netdevs.isEmpty { state.withLock { $0.parked[address] = netdevs } }
            for name in names {
                FakeSysfs.removeTree(root + "/" + device + "/net/" + name)
                unlink(root + "/sys/class/net/" + name)
            }
        }
        unlink(root + "/" + device + "/driver")
        unlink(root + "/sys/bus/pci/drivers/\(driver)/\(address)")
        for cdev in FileRead.entries(root + "/" + device + "/vfio-dev") ?? [] { unlink(root + "/dev/vfio/devices/" + cdev) }
        FakeSysfs.removeTree(root + "/" + device + "/vfio-dev")
        // The group's node goes with the last member vfio-pci let go of.
        if StubDriver.isVFIO(driver), let group = group(of: address) {
            let stillOnVFIO = members(of: group).contains { $0 != address && StubDriver.isVFIO((try? self.driver(of: $0)) ?? nil) }
            if !stillOnVFIO { unlink(root + "/dev/vfio/\(group)") }
        }
    }

    func probe(_ address: PCIAddress) {
        guard (try? driver(of: address)) ?? nil == nil else { return }
        let override = read(address.sysfs("driver_override")).flatMap(SysfsValues.driverOverride)
        let physfn = FileRead.link(root + address.sysfs("physfn")).flatMap { PCIAddress(SysfsPaths.lastComponent(of: $0)) }
        // pci_device_can_probe (drivers/pci/pci-driver.c): a VF is probed only while its PF's
        // sriov_drivers_autoprobe is 1 or its driver_override is set; else nothing binds, silently.
        if let physfn, override == nil, read(physfn.sysfs("sriov_drivers_autoprobe"))?.trimmingWhitespace() == "0" { return }
        guard let chosen = override ?? defaultDrivers[address] ?? physfn.flatMap({ vfDrivers[$0] }), exists("/sys/bus/pci/drivers/\(chosen)"),
              !(StubDriver.isVFIO(chosen) && rejecting.contains(address)) else { return }
        let device = devicePath(address)
        tree.link(device + "/driver", to: "sys/bus/pci/drivers/" + chosen)
        tree.link("sys/bus/pci/drivers/\(chosen)/\(address)", to: device)
        if StubDriver.isVFIO(chosen), let group = group(of: address) {
            tree.makeDirectory(device + "/vfio-dev/vfio\(group)")
            tree.write("dev/vfio/\(group)", "", mode: 0o600)
            // A kernel with the VFIO device cdev (the tree has /dev/vfio/devices): vfio-dev/vfioN/dev and its node.
            if exists("/dev/vfio/devices") {
                tree.write(device + "/vfio-dev/vfio\(group)/dev", "239:\(group)\n")
                tree.write("dev/vfio/devices/vfio\(group)", "", mode: 0o600)
            }
        }
        if !StubDriver.isVFIO(chosen), let netdevs = state.withLock({ $0.parked.removeValue(forKey: address) }) {
            // The VF driver's probe asks the PF for the MAC it holds for the VF (igbvf: the reset
            // mailbox message); an all-zero one leaves the address it had.
            let admin = physfn.flatMap { pf in vfIndex(address, of: pf).flatMap { adminMAC(pf, vf: $0) } }
            for netdev in netdevs {
                let path = device + "/net/" + netdev.name
                tree.makeDirectory(path)
                tree.write(path + "/operstate", "down\n")
                tree.write(path + "/flags", "0x1002\n")
                tree.write(path + "/address", (admin.map { "\($0)" } ?? netdev.address) + "\n")
                tree.link("sys/class/net/" + netdev.name, to: path)
            }
        }
    }

    /// VF `address`'s index on `pf` (its virtfnN link), nil when it is not one of its VFs.
    func vfIndex(_ address: PCIAddress, of pf: PCIAddress) -> Int? {
        var index = 0
        while let link = FileRead.link(root + pf.sysfs("virtfn\(index)")) {
            if PCIAddress(SysfsPaths.lastComponent(of: link)) == address { return index }
            index += 1
        }
        return nil
    }

    /// The MAC the PF's driver holds for VF `vf` (netlink), unless all zero.
    func adminMAC(_ pf: PCIAddress, vf: Int) -> MACAddress? {
        for name in FileRead.entries(root + "/" + devicePath(pf) + "/net") ?? [] {
            if let mac = netlink?.pf(name)?.vfs.first(where: { $0.index == vf })?.mac, !mac.isZero { return mac }
        }
        return nil
    }

    /// Makes `netlink`'s PFs behave like a driver that applies a VF's new MAC live (mlx5_core):
    /// the VF's netdev shows it as soon as the PF takes it. Without this, a VF's netdev keeps its
    /// MAC until its driver is bound again, as igbvf does.
    public func appliesMACLive(_ netlink: RecordingVFNetlink) {
        netlink.afterSet { [self] attribute, vf, interface in
            // The PF is the function above its netdev (/sys/class/net/NAME -> .../PF/net/NAME).
            guard case .mac(let mac) = attribute, let netdev = FileRead.link(root + "/sys/class/net/\(interface)"),
                  let pf = PCIAddress(SysfsPaths.lastComponent(of: SysfsPaths.directory(of: SysfsPaths.directory(of: netdev)))),
                  let link = FileRead.link(root + pf.sysfs("virtfn\(vf)")), let address = PCIAddress(SysfsPaths.lastComponent(of: link)) else { return }
            for name in FileRead.entries(root + address.sysfs("net")) ?? [] {
                tree.write(devicePath(address) + "/net/\(name)/address", "\(mac)\n")
            }
        }
    }

    // MARK: SR-IOV

    /// VF i where the kernel places it (`PCIAddress.virtfn`), beside the PF, in a group of its own,
    /// probed when autoprobe is on (by the driver `vfDrivers` names for its PF). false, with nothing
    /// created, when the last VF would fall past bus 0xff (the kernel's sriov_enable: ENOMEM).
    func createVFs(of pf: PCIAddress, count: Int) -> Bool {
        let pfPath = devicePath(pf)
        let parent = SysfsPaths.directory(of: pfPath)
        func attribute(_ name: String) -> String { read(pf.sysfs(name))?.trimmingWhitespace() ?? "" }
        let offset = Int(attribute("sriov_offset")) ?? 1
        let stride = Int(attribute("sriov_stride")) ?? 1
        let autoprobe = attribute("sriov_drivers_autoprobe") != "0"
        var nextGroup = ((FileRead.entries(root + "/sys/kernel/iommu_groups") ?? []).compactMap { Int($0) }.max() ?? 0) + 1
        let placed = (0..<count).compactMap { pf.virtfn($0, offset: offset, stride: stride) }
        guard placed.count == count else { return false }
        for (index, vf) in placed.enumerated() {
            let path = parent + "/" + vf.description
            tree.makeDirectory(path)
            let attributes = ["vendor": attribute("vendor"), "device": "0x" + attribute("sriov_vf_device"),
                              "class": attribute("class"), "subsystem_vendor": attribute("subsystem_vendor"),
                              "subsystem_device": attribute("subsystem_device"), "driver_override": "(null)", "numa_node": attribute("numa_node"),
                              "revision": attribute("revision"), "enable": "0"]
            for (name, text) in attributes { tree.write(path + "/" + name, text + "\n") }
            func number(_ text: String?) -> UInt32? { text.flatMap { UInt32($0.hasPrefix("0x") ? String($0.dropFirst(2)) : $0, radix: 16) } }
            if let vendor = number(attributes["vendor"]), let device = number(attributes["device"]), let classCode = number(attributes["class"]) {
                let subsystemDevice = vfSubsystemDevice ?? number(attributes["subsystem_device"]).map(UInt16.init(truncatingIfNeeded:)) ?? 0
                if vfSubsystemDevice != nil { tree.write(path + "/subsystem_device", "0x" + HexDigits.padded(UInt64(subsystemDevice), width: 4) + "\n") }
                tree.write(path + "/modalias", FakeSysfs.modalias(vendor: UInt16(truncatingIfNeeded: vendor), device: UInt16(truncatingIfNeeded: device),
                                                                  subsystemVendor: UInt16(truncatingIfNeeded: number(attributes["subsystem_vendor"]) ?? 0),
                                                                  subsystemDevice: subsystemDevice, classCode: classCode) + "\n")
            }
            tree.link(path + "/physfn", to: pfPath)
            tree.link(pfPath + "/virtfn\(index)", to: path)
            tree.link("sys/bus/pci/devices/\(vf)", to: path)
            let group = "sys/kernel/iommu_groups/\(nextGroup)"
            tree.makeDirectory(group + "/devices")
            tree.write(group + "/type", "DMA\n")
            tree.link(path + "/iommu_group", to: group)
            tree.link(group + "/devices/\(vf)", to: path)
            nextGroup += 1
            if autoprobe { probe(vf) }
        }
        return true
    }

    func removeVFs(of pf: PCIAddress, count: Int) {
        let pfPath = devicePath(pf)
        for index in 0..<count {
            let link = pfPath + "/virtfn\(index)"
            guard let target = FileRead.link(root + "/" + link), let vf = PCIAddress(SysfsPaths.lastComponent(of: target)) else { continue }
            if let driver = (try? driver(of: vf)) ?? nil { unbind(vf, from: driver) }
            if let group = group(of: vf) { FakeSysfs.removeTree(root + "/sys/kernel/iommu_groups/\(group)") }
            FakeSysfs.removeTree(root + "/" + devicePath(vf))
            unlink(root + vf.sysfsDevice)
            unlink(root + "/" + link)
        }
    }

    func group(of address: PCIAddress) -> Int? {
        FileRead.link(root + address.sysfs("iommu_group")).flatMap(SysfsValues.groupNumber(fromLink:))
    }

    func members(of group: Int) -> [PCIAddress] {
        (FileRead.entries(root + "/sys/kernel/iommu_groups/\(group)/devices") ?? []).compactMap { PCIAddress($0) }
    }
}

extension Actuators {
    /// A simulated kernel (and VF netlink) for a fake tree, with a short settle time.
    public static func simulated(_ kernel: SimulatedKernel, netlink: (any VFNetlink)? = nil, crash: JournalCrash? = nil) -> Actuators {
        Actuators(kernel: { _ in kernel }, netlink: netlink, crash: crash, settleTimeout: 0.1)
    }
}

extension Transaction {
    /// A transaction on the fake tree at `root` through a simulated kernel, as a command opens one.
    /// It waits up to 5 s for the state directory's lock: a test that reopens it right after an
    /// interrupted run in the same process can find the lock still held for a moment by a child
    /// another test was spawning (forked, not yet exec'd: it shares the run's lock file
    /// description until its exec closes it). Seen once under load in the parallel unit suite.
    public static func simulated(root: String, _ kernel: SimulatedKernel, netlink: (any VFNetlink)? = nil, crash: JournalCrash? = nil,
                                 recovering: Bool = false, dryRun: Bool = false) throws -> Transaction {
        try Transaction("test", layer: DeviceLayer(root: try HostRoot(root)), actuators: .simulated(kernel, netlink: netlink, crash: crash),
                        stateDirectory: nil, command: "test", dryRun: dryRun, wait: 5, recovering: recovering, progress: { _ in })
    }
}
