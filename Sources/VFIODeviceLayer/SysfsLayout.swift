import VFIOCore

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
    /// ACPI tables that describe an IOMMU (Intel VT-d, AMD-Vi, virtio-iommu).
    static let iommuTables = IOMMUKind.allCases.map(\.table)

    /// Text attributes of a PCI function directory.
    static let functionAttributes = [
        "uevent", "vendor", "device", "class", "subsystem_vendor", "subsystem_device", "revision",
        "driver_override", "numa_node", "reset_method", "boot_vga",
        "sriov_totalvfs", "sriov_numvfs", "sriov_drivers_autoprobe", "sriov_offset", "sriov_stride",
        "sriov_vf_device", "modalias", "resource",
        "max_link_speed", "max_link_width", "current_link_speed", "current_link_width",
    ]
    /// Links of a PCI function directory (plus every `virtfnN`).
    static let functionLinks = ["driver", "iommu_group", "physfn"]
    /// Config space, read through libpci.
    static let config = "config"

    /// Per IOMMU group.
    static let groupAttributes = ["type", "reserved_regions"]
    /// Per IOMMU unit (/sys/class/iommu/X/...), for the interrupt-remapping and capability checks.
    static let iommuUnitAttributes = ["intel-iommu/cap", "intel-iommu/ecap", "intel-iommu/version",
                                      "amd-iommu/cap", "amd-iommu/features"]

    // The host's facts (FactsReader, BootFactsReader).
    static let cmdline = "proc/cmdline"
    static let osrelease = "proc/sys/kernel/osrelease"
    static let interrupts = "proc/interrupts"
    static let modules = "proc/modules"
    static let limits = "proc/self/limits"
    static let mountinfo = "proc/self/mountinfo"
    static let swaps = "proc/swaps"
    static let route = "proc/net/route"
    static let ipv6Route = "proc/net/ipv6_route"
    static let ifInet6 = "proc/net/if_inet6"
    /// The host's name (Proxmox VE's node name, for `export proxmox`).
    static let hostname = "etc/hostname"
    /// Mediated devices: parents (a class of links to them), the mdev bus, mdevctl's definitions.
    static let mdevParents = "sys/class/mdev_bus"
    static let mdevDevices = "sys/bus/mdev/devices"
    static let mdevTypes = "mdev_supported_types"
    static let mdevTypeAttributes = ["name", "description", "device_api", "available_instances"]
    static let mdevDefinitions = "etc/mdevctl.d"
    /// NVIDIA's SR-IOV vGPU, under a VF of the GPU.
    static let nvidiaVGPU = ["nvidia/current_vgpu_type", "nvidia/creatable_vgpu_types"]
    static let devVFIO = "dev/vfio"
    static let vfioContainer = "dev/vfio/vfio"
    /// iommufd's device (Linux 6.2) and the VFIO device cdevs (6.6).
    static let iommuDevice = "dev/iommu"
    static let vfioDevices = "dev/vfio/devices"
    static let classGraphics = "sys/class/graphics"
    static let sysModule = "sys/module"
    /// The kernel log: the live host's ring buffer, or a recorded log (a regular file) in a tree.
    static let kmsg = "dev/kmsg"
    /// The kernel log read is bounded: the ring buffer is rarely over 1 MiB.
    static let kmsgLimit = 8 << 20
    /// What cannot be copied as a file is recorded here by `vfioctl snapshot` (IPv4 addresses
    /// come from netlink, not from /proc).
    static let recordedAddresses = ".vfioctl/addresses"
    static func libModules(_ release: String) -> String { "lib/modules/" + release }
    /// depmod's text list of aliases: where libvirt (and `VFIOVariants`) find `vfio_pci:` aliases.
    static func modulesAlias(_ release: String) -> String { libModules(release) + "/modules.alias" }
    /// The module indexes libkmod reads there (depmod writes them), for `show`'s kernel modules.
    static let moduleIndexes = ["modules.alias.bin", "modules.dep.bin", "modules.symbols.bin", "modules.builtin.bin",
                                "modules.builtin.alias.bin"]
    /// The running kernel's build configuration, as Debian, Fedora and Ubuntu install it.
    static func bootConfig(_ release: String) -> String { "boot/config-" + release }
    /// The configuration built into the kernel (CONFIG_IKCONFIG_PROC), gzip-compressed.
    static let procConfig = "proc/config.gz"
    /// A kernel's configuration is about 250 KB; read and inflated no further than this.
    static let kernelConfigLimit = 4 << 20
}
