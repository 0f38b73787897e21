import Glibc
import VFIOCore

extension DeviceLayer {
    /// A snapshot of only what checking `addresses` and `groups` needs: those functions, every
    /// member of their groups, their upstream bridges and ports, a VF's PF, and for a device that
    /// can only be reset with its bus, the other functions on that bus. On a host with thousands of VFs this is
    /// a few dozen directories instead of all of them. Names from pci.ids are not read.
    public func scopedSnapshot(addresses: [PCIAddress], groups: [Int]) throws(VFIOError) -> HostSnapshot {
        let reader = FunctionReader(root: root)
        let pci = try LibPCI(root: root, idsPath: idsPath)
        let scratch = Scratch()
        var functions: [PCIAddress: PCIFunction] = [:]
        var wanted = Set(addresses)
        for id in groups { wanted.formUnion(groupMembers(id)) }
        var expandedBuses: Set<String> = []
        // Read, then add what the functions read so far point at, until nothing new appears.
        while !wanted.isEmpty {
            let batch = wanted
            wanted = []
            for address in batch where functions[address] == nil {
                guard let f = try reader.read(address, busEntry: address.description, pci: pci, scratch: scratch) else { continue }
                functions[address] = f
                if let group = f.iommuGroup { wanted.formUnion(groupMembers(group)) }
                if let parent = f.parent { wanted.insert(parent) }
                if let pf = f.physfn { wanted.insert(pf) }
                // Only a device without a reset of its own is reset with its whole bus: only then do
                // the other functions there matter (the root bus of a big host holds hundreds).
                let busDirectory = SysfsPaths.directory(of: f.sysfsPath)
                if !f.isBridge && !f.resetsAlone && expandedBuses.insert(busDirectory).inserted {
                    for entry in root.entries(busDirectory) ?? [] {
                        if let sibling = PCIAddress(entry), sibling.isOnSameBus(as: address) { wanted.insert(sibling) }
                    }
                }
            }
            wanted.subtract(functions.keys)
        }
        var list = functions.values.sorted { $0.address < $1.address }
        attachDriverModules(&list)
        for position in list.indices {
            let attached = AttachedDevices.find(under: list[position].sysfsPath, in: root)
            list[position].netInterfaces = attached.net
            list[position].blockDevices = attached.block
        }
        var indices: [PCIAddress: Int] = [:]
        for f in list { for (index, vf) in f.sriov?.vfIndices ?? [:] { indices[vf] = index } }
        for position in list.indices { list[position].vfIndex = indices[list[position].address] ?? list[position].vfIndex }
        return HostSnapshot(functions: list, groups: HostSnapshot.groups(of: list), iommu: iommuState(), cpuVendor: cpuVendor())
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

    /// nvme/nvme0/nvme0n1: a namespace of the controller the parent directory names.
    static func isNVMeNamespace(_ name: String, in path: String) -> Bool {
        let controller = SysfsPaths.lastComponent(of: path)
        guard controller.hasPrefix("nvme"), SysfsPaths.lastComponent(of: SysfsPaths.directory(of: path)) == "nvme",
              name.hasPrefix(controller + "n") else { return false }
        return name.dropFirst(controller.count + 1).allSatisfy(\.isNumber)
    }

    static func partitions(of path: String, disk: String, _ root: HostRoot) -> [String] {
        directories(path, root).filter { $0.isDirectory && $0.name.hasPrefix(disk) && $0.name != disk }.map(\.name)
    }

    /// The entries of directory `path` (relative to `root`), links not followed.
    static func directories(_ path: String, _ root: HostRoot) -> [(name: String, isDirectory: Bool)] {
        root.openDirectory(path)?.entriesAndKinds() ?? []
    }
}
