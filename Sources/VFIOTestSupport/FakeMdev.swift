import Glibc
import VFIOCore
import VFIODeviceLayer

/// An mdev parent for a fake tree, laid out as Linux 6.1 lays out mtty's and a GPU's: the parent
/// device's directory with mdev_supported_types/TYPE/{name,description,device_api,
/// available_instances,create,devices/}, and its link in /sys/class/mdev_bus.
public struct FakeMdevParent: Sendable {
    public struct TypeSpec: Sendable {
        public var id: String
        public var name: String?
        public var description: String?
        public var deviceAPI: String
        public var available: Int

        public init(_ id: String, name: String? = nil, description: String? = nil, deviceAPI: String = "vfio-pci", available: Int) {
            (self.id, self.name, self.description, self.deviceAPI, self.available) = (id, name, description, deviceAPI, available)
        }
    }

    public var name: String
    /// The parent device's directory, from the root ("sys/devices/virtual/mtty/mtty").
    public var path: String
    /// Its driver (nil: a class device such as mtty's has none); also the driver of its mdevs.
    public var driver: String?
    public var mdevDriver: String
    public var types: [TypeSpec]

    public init(name: String, path: String, driver: String? = nil, mdevDriver: String, types: [TypeSpec]) {
        (self.name, self.path, self.driver, self.mdevDriver, self.types) = (name, path, driver, mdevDriver, types)
    }

    /// mtty as the lab's 6.1 kernel shows it: 24 ports shared by mtty-1 (one port) and mtty-2 (two).
    public static let mtty = FakeMdevParent(name: "mtty", path: "sys/devices/virtual/mtty/mtty", mdevDriver: "mtty", types: [
        TypeSpec("mtty-1", name: "Single port serial", available: 24), TypeSpec("mtty-2", name: "Dual port serial", available: 12),
    ])
}

extension FakeSysfs {
    public func addMdevParent(_ parent: FakeMdevParent) {
        makeDirectory(parent.path)
        if let driver = parent.driver { link(parent.path + "/driver", to: "sys/bus/pci/drivers/" + driver) }
        for type in parent.types {
            let dir = parent.path + "/mdev_supported_types/" + type.id
            makeDirectory(dir + "/devices")
            if let name = type.name { write(dir + "/name", name + "\n", mode: 0o444) }
            if let description = type.description { write(dir + "/description", description + "\n", mode: 0o444) }
            write(dir + "/device_api", type.deviceAPI + "\n", mode: 0o444)
            write(dir + "/available_instances", "\(type.available)\n", mode: 0o444)
            write(dir + "/create", "", mode: 0o200)
        }
        makeDirectory("sys/bus/mdev/devices")
        makeDirectory("sys/bus/mdev/drivers/" + parent.mdevDriver)
        link("sys/class/mdev_bus/" + parent.name, to: parent.path)
    }

    /// The parent's directory, from its /sys/class/mdev_bus link.
    func mdevParentPath(_ name: String) -> String? {
        FileRead.link(root + "/sys/class/mdev_bus/" + name).map { SysfsPaths.resolve(link: $0, in: "sys/class/mdev_bus") }
    }

    /// An active mdev of `type` on `parent`, in IOMMU group `group` (nil: the next free number), as
    /// the mdev core creates one: its directory under the parent, the bus link, the type's
    /// devices/ link, its group (/sys/kernel/iommu_groups/N/devices/UUID and /dev/vfio/N), its driver.
    @discardableResult
    public func addMdev(_ uuid: String, parent: String, type: String, group: Int? = nil) -> Int? {
        guard let parentPath = mdevParentPath(parent) else { return nil }
        let number = group ?? ((FileRead.entries(root + "/sys/kernel/iommu_groups") ?? []).compactMap { Int($0) }.max() ?? -1) + 1
        let dir = parentPath + "/" + uuid
        makeDirectory(dir)
        write(dir + "/remove", "", mode: 0o200)
        link(dir + "/mdev_type", to: parentPath + "/mdev_supported_types/" + type)
        link(dir + "/iommu_group", to: "sys/kernel/iommu_groups/\(number)")
        link("sys/kernel/iommu_groups/\(number)/devices/" + uuid, to: dir)
        let driver = (FileRead.entries(root + "/sys/bus/mdev/drivers") ?? []).sorted().first { parentDriverMatches($0, parent: parent) }
        if let driver {
            link(dir + "/driver", to: "sys/bus/mdev/drivers/" + driver)
            link("sys/bus/mdev/drivers/\(driver)/" + uuid, to: dir)
        }
        link("sys/bus/mdev/devices/" + uuid, to: dir)
        link(parentPath + "/mdev_supported_types/\(type)/devices/" + uuid, to: dir)
        write("dev/vfio/\(number)", "", mode: 0o600)
        return number
    }

    private func parentDriverMatches(_ driver: String, parent: String) -> Bool {
        // mtty's mdev driver is "mtty"; a GPU's is registered by its vendor driver: the tests name one per parent.
        FileRead.exists(root + "/sys/bus/mdev/drivers/\(driver)") && (driver == parent || (FileRead.entries(root + "/sys/bus/mdev/drivers") ?? []).count == 1)
    }

    /// An mdev whose vfio mdev driver let go of it (unbound, or never loaded): no driver, and no
    /// IOMMU group (vfio registers the group when its driver probes the mdev).
    public func removeMdevGroup(_ uuid: String) {
        guard let target = FileRead.link(root + "/sys/bus/mdev/devices/" + uuid) else { return }
        let dir = SysfsPaths.resolve(link: target, in: "sys/bus/mdev/devices")
        if let group = FileRead.link(root + "/" + dir + "/iommu_group").map(SysfsPaths.lastComponent(of:)) {
            FakeSysfs.removeTree(root + "/sys/kernel/iommu_groups/" + group)
            unlink(root + "/dev/vfio/" + group)
            unlink(root + "/" + dir + "/iommu_group")
        }
        if let driver = FileRead.link(root + "/" + dir + "/driver").map(SysfsPaths.lastComponent(of:)) {
            unlink(root + "/sys/bus/mdev/drivers/\(driver)/" + uuid)
            unlink(root + "/" + dir + "/driver")
        }
    }

    /// Removes an mdev as the mdev core does: every link and its group.
    public func removeMdev(_ uuid: String) {
        guard let target = FileRead.link(root + "/sys/bus/mdev/devices/" + uuid) else { return }
        let dir = SysfsPaths.resolve(link: target, in: "sys/bus/mdev/devices")
        if let type = FileRead.link(root + "/" + dir + "/mdev_type") {
            unlink(root + "/" + SysfsPaths.resolve(link: type, in: dir) + "/devices/" + uuid)
        }
        if let group = FileRead.link(root + "/" + dir + "/iommu_group").map(SysfsPaths.lastComponent(of:)) {
            FakeSysfs.removeTree(root + "/sys/kernel/iommu_groups/" + group)
            unlink(root + "/dev/vfio/" + group)
        }
        if let driver = FileRead.link(root + "/" + dir + "/driver").map(SysfsPaths.lastComponent(of:)) {
            unlink(root + "/sys/bus/mdev/drivers/\(driver)/" + uuid)
        }
        unlink(root + "/sys/bus/mdev/devices/" + uuid)
        FakeSysfs.removeTree(root + "/" + dir)
    }

    /// mdevctl's definition file, as mdevctl writes it (or any text, for hostile tests).
    public func addMdevDefinition(parent: String, uuid: String, text: String) {
        write("etc/mdevctl.d/\(parent)/\(uuid)", text)
    }
}
