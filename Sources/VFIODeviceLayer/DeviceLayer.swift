import Dispatch
import Glibc
import VFIOCore

/// The device layer: reads a host (live, or a tree under `--root`) into a HostSnapshot.
/// It reads and never decides; it changes nothing.
public struct DeviceLayer: Sendable {
    public let root: HostRoot
    /// pci.ids to name devices from; nil for libpci's default.
    public let idsPath: String?
    /// Worker threads for reading function directories (sysfs reads are syscall-bound).
    public let workers: Int

    public init(root: HostRoot, idsPath: String? = nil, workers: Int? = nil) {
        self.root = root
        self.idsPath = idsPath
        self.workers = max(1, workers ?? min(4, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))
    }

    public struct Options: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// Names from pci.ids.
        public static let names = Options(rawValue: 1)
        /// Each group's `type` and `reserved_regions`.
        public static let groupDetails = Options(rawValue: 2)
        public static let all: Options = [.names, .groupDetails]
    }

    /// Reads every PCI function and IOMMU group (`observe` with `.all`).
    public func snapshot(_ options: Options = .all) throws(VFIOError) -> HostSnapshot {
        try observe(ObservationScope(.all, names: options.contains(.names), groupDetails: options.contains(.groupDetails))).snapshot
    }

    func iommuState() -> IOMMUState {
        let groupCount = root.count(SysfsLayout.iommuGroups)
        // An mdev has a group of its own even without an IOMMU (vfio's emulated IOMMU): those
        // are not the IOMMU's groups, and are counted apart.
        let mdevGroups = (root.entries(SysfsLayout.mdevDevices) ?? []).filter { root.link(SysfsLayout.mdevDevices + "/" + $0 + "/iommu_group") != nil }.count
        var state = IOMMUState(units: (root.entries(SysfsLayout.classIOMMU) ?? []).sorted(),
                          groupsDirectoryExists: groupCount != nil,
                          groupCount: max(0, (groupCount ?? 0) - mdevGroups),
                          acpiTables: SysfsLayout.iommuTables.filter {
                              root.exists(SysfsLayout.acpiTables + "/" + $0)
                          })
        state.mdevGroupCount = mdevGroups
        return state
    }

    public func cpuVendor() -> CPUVendor {
        let cpuinfo = root.text(SysfsLayout.cpuinfo, limit: 16384) ?? ""
        return CPUVendor(vendorID: SysfsValues.cpuVendorID(cpuinfo: cpuinfo))
    }

    /// The entries of sys/bus/pci/devices that name PCI functions, by address.
    public func busEntries() throws(VFIOError) -> [(PCIAddress, String)] {
        guard let names = root.entries(SysfsLayout.busDevices) else { throw busDevicesUnreadable() }
        return names.compactMap { name in PCIAddress(name).map { ($0, name) } }.sorted { $0.0 < $1.0 }
    }

    /// sys/bus/pci/devices cannot be read (errno says why): nothing can be.
    func busDevicesUnreadable() -> VFIOError {
        let reason = Errno.describe(errno)
        return .failed("cannot read \(root.path(SysfsLayout.busDevices)): \(reason)",
                       hint: root.isLive ? "is sysfs mounted on /sys?"
                           : "--root must hold a sys/ tree in the kernel's layout (make one with 'vfioctl snapshot DIR')")
    }

    /// Every function, on `workers` threads, and the network interfaces and block devices on
    /// them from the kernel's index of both (the /sys/class/net and /sys/class/block links).
    /// At `.summary` depth only the functions' summaries, and no net or block device.
    /// With `reuse` (at `.summary`), the last summary while SummaryCache's key holds.
    func readEverything(_ depth: ObservationScope.Depth = .full, reuse: Bool = false) throws(VFIOError) -> (functions: [PCIFunction], devices: AttachedDeviceNames) {
        if depth == .summary && reuse {
            let cache = SummaryCache(root: root)
            // The key is read before the functions: a change while they are read makes the next run read again.
            let generation = cache.generation()
            if let generation, let functions = cache.load(generation) { return (functions, AttachedDeviceNames()) }
            let read = try readEverything(depth)
            if let generation { cache.store(read.functions, generation) }
            return read
        }
        let entries = try busEntries()
        guard depth == .full else { return (try readAll(entries, net: [], block: [], depth: depth).functions, AttachedDeviceNames()) }
        let net = root.entries(SysfsLayout.classNet)?.sorted() ?? []
        let block = root.entries(SysfsLayout.classBlock)?.sorted() ?? []
        let read = try readAll(entries, net: net, block: block, depth: depth)
        var devices = AttachedDeviceNames()
        for (name, owner) in zip(net, read.netOwners) {
            if let owner { devices.net[owner, default: []].append(name) }
        }
        for (name, owner) in zip(block, read.blockOwners) {
            if let owner { devices.block[owner, default: []].append(name) }
        }
        return (read.functions, devices)
    }

    /// What the workers read: the functions, and the owner of each /sys/class net and block entry.
    private struct Read {
        var functions: [PCIFunction] = []
        var netOwners: [PCIAddress?] = []
        var blockOwners: [PCIAddress?] = []
    }

    private enum Item {
        case function(PCIFunction?)
        case owner(PCIAddress?)
        case damaged(VFIOError)
    }

    /// Reads function directories and /sys/class links in one pass on `workers` threads, each
    /// with its own buffers and (for a full read) libpci handle.
    private func readAll(_ entries: [(PCIAddress, String)], net: [String], block: [String], depth: ObservationScope.Depth) throws(VFIOError) -> Read {
        let reader = FunctionReader(root: root)
        let total = entries.count + net.count + block.count
        var handles: [LibPCI?] = []
        for _ in 0..<workerCount(for: total) { handles.append(depth == .full ? try LibPCI(root: root, idsPath: idsPath) : nil) }
        let classNet = net.isEmpty ? nil : root.pathDirectory(SysfsLayout.classNet)
        let classBlock = block.isEmpty ? nil : root.pathDirectory(SysfsLayout.classBlock)
        let perWorker = SendableBox(handles.map { pci -> (LibPCI?, Scratch) in (pci, Scratch()) })
        var items = parallelMap(total) { worker, position -> Item in
            let (pci, scratch) = perWorker.value[worker]
            if position < entries.count {
                let (address, name) = entries[position]
                do throws(VFIOError) {
                    guard let pci else { return .function(try reader.summary(address, busEntry: name, scratch: scratch)) }
                    return .function(try reader.read(address, busEntry: name, pci: pci, scratch: scratch))
                } catch {
                    return .damaged(error)
                }
            }
            // The link text names the PCI path itself ("../../devices/pci0000:00/0000:00:03.0/net/eth0").
            let isNet = position < entries.count + net.count
            let name = isNet ? net[position - entries.count] : block[position - entries.count - net.count]
            guard let directory = isNet ? classNet : classBlock else { return .owner(nil) }
            return .owner(scratch.link(at: directory.fd, name, SysfsPaths.owningFunction(bytes:)) ?? nil)
        }
        var read = Read()
        read.functions.reserveCapacity(entries.count)
        var damage: VFIOError?
        // Each item is moved out, nil left in its place: a function copied is some twenty retains.
        items.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            for position in buffer.indices {
                let item = (base + position).move()
                (base + position).initialize(to: nil)
                switch item {
                case .function(let function): if let function { read.functions.append(function) }
                case .owner(let owner):
                    if position < entries.count + net.count { read.netOwners.append(owner) } else { read.blockOwners.append(owner) }
                // The first in address order, whichever worker met it first.
                case .damaged(let error): damage = error
                case nil: continue
                }
                if damage != nil { return }
            }
        }
        if let damage { throw damage }
        return read
    }

    private func workerCount(for items: Int) -> Int { min(workers, max(1, items / 64)) }

    /// `body(worker, index)` for every index, on up to `workers` threads; results in index order.
    private func parallelMap<T>(_ count: Int, _ body: @escaping @Sendable (Int, Int) -> T) -> [T?] {
        let results = UnsafeMutableBufferPointer<T?>.allocate(capacity: count)
        results.initialize(repeating: nil)
        defer { results.deallocate() }
        let shared = SendableBuffer(results)
        let workerCount = workerCount(for: count)
        DispatchQueue.concurrentPerform(iterations: workerCount) { worker in
            var position = worker
            while position < count {
                shared.buffer[position] = body(worker, position)
                position += workerCount
            }
        }
        // Moved out, not copied (and none left behind in the buffer).
        return Array(unsafeUninitializedCapacity: count) { buffer, initialized in
            _ = buffer.moveInitialize(fromContentsOf: results)
            initialized = count
        }
    }

    /// Names from pci.ids through libpci, each distinct id looked up once.
    func name(_ functions: inout [PCIFunction], with pci: LibPCI) {
        var vendors: [UInt16: String?] = [:]
        var devices: [UInt32: String?] = [:]
        var classes: [UInt32: String?] = [:]
        var subsystems: [UInt64: String?] = [:]
        for position in functions.indices {
            let f = functions[position]
            if vendors[f.vendorID] == nil { vendors[f.vendorID] = .some(pci.vendorName(f.vendorID)) }
            let deviceKey = UInt32(f.vendorID) << 16 | UInt32(f.deviceID)
            if devices[deviceKey] == nil { devices[deviceKey] = .some(pci.deviceName(f.vendorID, f.deviceID)) }
            let classKey = f.classCode >> 8
            if classes[classKey] == nil { classes[classKey] = .some(pci.className(f.classCode)) }
            functions[position].vendorName = vendors[f.vendorID] ?? nil
            functions[position].deviceName = devices[deviceKey] ?? nil
            functions[position].className = classes[classKey] ?? nil
            if let sv = f.subsystemVendorID, let sd = f.subsystemDeviceID, sv != 0, sv != 0xffff {
                let key = UInt64(deviceKey) << 32 | UInt64(sv) << 16 | UInt64(sd)
                if subsystems[key] == nil {
                    // As lspci prints it: the subsystem vendor, then the subsystem device when pci.ids has it.
                    let parts = [pci.subsystemVendorName(sv), pci.subsystemName(f.vendorID, f.deviceID, sv, sd)]
                    let name = parts.compactMap { $0 }.joined(separator: " ")
                    subsystems[key] = .some(name.isEmpty ? nil : name)
                }
                functions[position].subsystemName = subsystems[key] ?? nil
            }
        }
    }

    /// A VF's index comes from its PF's `virtfnN` link.
    func attachVFIndices(_ functions: inout [PCIFunction]) {
        var indices: [PCIAddress: Int] = [:]
        for position in functions.indices {
            guard let vfs = functions[position].sriov?.vfIndices else { continue }
            for (index, vf) in vfs { indices[vf] = index }
        }
        guard !indices.isEmpty else { return }
        for position in functions.indices {
            if let index = indices[functions[position].address] { functions[position].vfIndex = index }
        }
    }

    /// The module behind each driver (sys/bus/pci/drivers/NAME/module), read once per driver.
    func attachDriverModules(_ functions: inout [PCIFunction]) {
        var modules: [String: String?] = [:]
        for position in functions.indices {
            guard let driver = functions[position].driver else { continue }
            if modules[driver] == nil {
                let link = root.link(SysfsLayout.drivers + "/" + driver + "/module")
                modules[driver] = .some(link.map(SysfsPaths.lastComponent))
            }
            functions[position].driverModule = modules[driver] ?? nil
        }
    }

    func readGroupDetails(_ group: inout IOMMUGroup) throws(VFIOError) {
        let path = SysfsLayout.iommuGroups + "/\(group.id)"
        group.type = try attribute(path + "/type")?.trimmingWhitespace()
        group.reservedRegions = try attribute(path + "/reserved_regions").map(SysfsValues.reservedRegions) ?? []
    }

    /// A sysfs attribute outside a function's directory: nil when absent or unreadable, an error
    /// naming it when something other than a regular file is there.
    func attribute(_ relative: String) throws(VFIOError) -> String? {
        switch root.read(relative, limit: 65536) {
        case .success(let bytes): return String(decoding: bytes, as: UTF8.self)
        case .failure(.notRegular(let kind)): throw TreeDamage.notAFile(relative, kind, root)
        case .failure: return nil
        }
    }
}

/// Hands a buffer to worker threads that write disjoint positions.
private struct SendableBuffer<Element>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<Element>
    init(_ buffer: UnsafeMutableBufferPointer<Element>) { self.buffer = buffer }
}

/// Hands per-worker libpci handles to the workers (worker N only touches handle N), and the
/// pci.ids handle to the thread that loads it.
struct SendableBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
