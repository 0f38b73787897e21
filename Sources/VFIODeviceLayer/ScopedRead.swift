import VFIOCore

extension DeviceLayer {
    /// A snapshot of only what checking `addresses` and `groups` needs (`observe` with
    /// `.around`, following `Preflight.readScope`). Names from pci.ids are not read.
    public func scopedSnapshot(addresses: [PCIAddress], groups: [Int]) throws(VFIOError) -> HostSnapshot {
        try observe(ObservationScope(.around(addresses: addresses, groups: groups, following: Preflight.readScope(for:)))).snapshot
    }

    /// Reads `addresses`, the members of `groups`, and what `HostSnapshot.completing` and
    /// `following` name from each function read, breadth first, until nothing new is named;
    /// and the network interfaces and block devices in each one's own subtree. An address
    /// named but absent (a slot's unused function) is passed over.
    func readAround(_ addresses: [PCIAddress], groups: [Int], following: (PCIFunction) -> [ScopeLink])
        throws(VFIOError) -> (functions: [PCIFunction], devices: AttachedDeviceNames) {
        let reader = FunctionReader(root: root)
        guard reader.busDevices != nil else { throw busDevicesUnreadable() }
        let pci = try LibPCI(root: root, idsPath: idsPath)
        let scratch = Scratch()
        var functions: [PCIAddress: PCIFunction] = [:]
        var tried: Set<PCIAddress> = []
        var followed: Set<ScopeLink> = []
        var next: [ScopeLink] = addresses.map { .function($0) } + groups.map { .group($0) }
        while !next.isEmpty {
            let links = next
            next = []
            for link in links where followed.insert(link).inserted {
                for address in self.addresses(link, read: functions) where tried.insert(address).inserted {
                    guard let f = try reader.read(address, busEntry: address.description, pci: pci, scratch: scratch) else { continue }
                    functions[address] = f
                    next += HostSnapshot.completing(f) + following(f)
                }
            }
        }
        let list = functions.values.sorted { $0.address < $1.address }
        var devices = AttachedDeviceNames()
        for f in list {
            let attached = AttachedDevices.find(under: f.sysfsPath, in: root)
            if !attached.net.isEmpty { devices.net[f.address] = attached.net }
            if !attached.block.isEmpty { devices.block[f.address] = attached.block }
        }
        return (list, devices)
    }

    /// The functions a link names. `.bus` lists the directory its function sits in under
    /// sys/devices (the function is read before its links are followed).
    private func addresses(_ link: ScopeLink, read functions: [PCIAddress: PCIFunction]) -> [PCIAddress] {
        switch link {
        case .function(let address):
            return [address]
        case .group(let id):
            return groupMembers(id)
        case .slot(let address):
            return (UInt8(0)...7).map { PCIAddress(domain: address.domain, bus: address.bus, device: address.device, function: $0) }
        case .bus(let address):
            guard let f = functions[address] else { return [] }
            return (root.entries(SysfsPaths.directory(of: f.sysfsPath)) ?? []).compactMap { entry in
                PCIAddress(entry).flatMap { $0.isOnSameBus(as: address) && $0 != address ? $0 : nil }
            }
        }
    }

    func groupMembers(_ id: Int) -> [PCIAddress] {
        (root.entries(SysfsLayout.iommuGroups + "/\(id)/devices") ?? []).compactMap { PCIAddress($0) }
    }
}

/// Network interfaces and block devices found in a PCI function's own sysfs subtree, where the
/// kernel puts them: net/NAME (also behind virtioN/), block/NAME (SCSI/SATA targets, virtio-blk),
/// nvme/nvmeX/nvmeXnY, and partitions inside their disk's directory.
enum AttachedDevices {
    /// Directories that never lead to a net or block device.
    static let skipped: Set<String> = ["power", "msi_irqs", "driver", "subsystem", "firmware_node", "iommu", "iommu_group",
                                       "physfn", "ptp", "hwmon", "drm", "sound", "queues", "mq", "holders", "slaves",
                                       "queue", "trace", "integrity", "statistics", "vfio-dev", "infiniband", "mdio_bus"]

    /// `path` is relative to `root`.
    static func find(under path: String, in root: HostRoot) -> (net: [String], block: [String]) {
        var net: [String] = []
        var block: [String] = []
        walk(path, root, depth: 0, parentName: "", net: &net, block: &block)
        return (net.sorted(), block.sorted())
    }

    private static func walk(_ path: String, _ root: HostRoot, depth: Int, parentName: String, net: inout [String], block: inout [String]) {
        guard depth <= 6 else { return }
        for (name, isDirectory) in directories(path, root) where isDirectory {
            if skipped.contains(name) || name.hasPrefix("virtfn") || name.hasPrefix("consumer:") || name.hasPrefix("supplier:") {
                continue
            }
            // Another PCI function (behind a bridge) or host bridge (VMD) has its own devices.
            if PCIAddress(name) != nil || (name.hasPrefix("pci") && name.contains(":")) { continue }
            let child = path + "/" + name
            if parentName == "net" {
                net.append(name)
            } else if parentName == "block" || isNVMeNamespace(name, in: path) {
                block.append(name)
                block += partitions(of: child, disk: name, root)
            } else {
                walk(child, root, depth: depth + 1, parentName: name, net: &net, block: &block)
            }
        }
    }

    /// nvme/nvme0/nvme0n1: a namespace of the controller the parent directory names; with native
    /// multipath, its hidden path nvme/nvme1/nvme0c1n1 (named by subsystem, not controller).
    static func isNVMeNamespace(_ name: String, in path: String) -> Bool {
        let controller = SysfsPaths.lastComponent(of: path)
        guard controller.hasPrefix("nvme"), SysfsPaths.lastComponent(of: SysfsPaths.directory(of: path)) == "nvme" else { return false }
        if BlockDevice.multipathHead(ofPath: name) != nil { return true }
        return name.hasPrefix(controller + "n") && name.dropFirst(controller.count + 1).allSatisfy(\.isNumber)
    }

    static func partitions(of path: String, disk: String, _ root: HostRoot) -> [String] {
        directories(path, root).filter { $0.isDirectory && BlockDevice.isPartition($0.name, of: disk) }.map(\.name)
    }

    /// The entries of directory `path` (relative to `root`), links not followed.
    static func directories(_ path: String, _ root: HostRoot) -> [(name: String, isDirectory: Bool)] {
        root.openDirectory(path)?.entriesAndKinds() ?? []
    }
}
