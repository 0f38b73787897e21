/// The one list of what vfioctl reads from sysfs and /proc. The reader reads these and the
/// snapshot copies these, so a snapshot replays everything the reader looks at.
enum SysfsLayout {
    static let busDevices = "sys/bus/pci/devices"
    static let drivers = "sys/bus/pci/drivers"
    static let iommuGroups = "sys/kernel/iommu_groups"
    static let classIOMMU = "sys/class/iommu"
    static let classNet = "sys/class/net"
    static let classBlock = "sys/class/block"
    static let cpuinfo = "proc/cpuinfo"
    static let acpiTables = "sys/firmware/acpi/tables"
    /// ACPI tables that describe an IOMMU (Intel VT-d, AMD-Vi).
    static let iommuTables = ["DMAR", "IVRS"]

    /// Text attributes of a PCI function directory.
    static let functionAttributes = [
        "uevent", "vendor", "device", "class", "subsystem_vendor", "subsystem_device", "revision",
        "driver_override", "numa_node", "reset_method", "boot_vga",
        "sriov_totalvfs", "sriov_numvfs", "sriov_drivers_autoprobe", "sriov_offset", "sriov_stride",
        "sriov_vf_device",
    ]
    /// Links of a PCI function directory (plus every `virtfnN`).
    static let functionLinks = ["driver", "iommu_group", "physfn"]
    /// Entries whose presence alone matters: `reset` (write-only), `vfio-dev` (a directory).
    static let functionMarkers = ["reset", "vfio-dev"]
    /// Config space, read through libpci.
    static let config = "config"

    /// Per IOMMU group.
    static let groupAttributes = ["type", "reserved_regions"]
    /// Per IOMMU unit (/sys/class/iommu/X/...), for the interrupt-remapping and capability checks.
    static let iommuUnitAttributes = ["intel-iommu/cap", "intel-iommu/ecap", "intel-iommu/version",
                                      "amd-iommu/cap", "amd-iommu/features"]
}
