/// What the checks need to know about the host beyond its PCI functions: the kernel's command
/// line and modules, interrupt remapping evidence, /dev/vfio, limits, and what sits on the
/// functions being checked (mounts, swap, stacked block devices, network state, consoles).
/// Plain values, read by the device layer; the checks in VFIOCore decide what they mean.
public struct HostFacts: Sendable, Equatable {
    /// /proc/cmdline.
    public var commandLine = KernelCommandLine("")
    /// /proc/sys/kernel/osrelease ("6.1.0-56-amd64").
    public var kernelRelease: String?
    /// Interrupt chips in /proc/interrupts ("IR-PCI-MSI", "IR-PCI-MSIX-0000:00:02.0", ...): "IR-" means remapped.
    public var interruptChips: Set<String> = []
    /// The running kernel's build options of interest (/boot/config-RELEASE), nil when that
    /// file cannot be read (unknown, not "not set") or was not (`wantsKernelConfig`).
    public var kernelConfig: KernelConfig?
    /// The kernel log's messages about IOMMUs and interrupt remapping (`KernelLog.relevant`),
    /// nil when the log cannot be read (/dev/kmsg needs root) or was not (`wantsKernelLog`).
    public var kernelLog: [String]?
    public var modules = ModuleFacts()
    /// Module parameters from /sys/module/M/parameters/P, as "M.P" (vfio_iommu_type1.allow_unsafe_interrupts).
    public var parameters: [String: String] = [:]
    /// /dev/vfio/vfio (the container device), and the group nodes /dev/vfio/N.
    public var vfioContainer: DeviceNode?
    public var vfioGroupNodes: Set<Int> = []
    /// /dev/iommu (iommufd's character device; in a recorded tree, the marker `vfioctl snapshot`
    /// wrote); nil when absent or something else is there (a FIFO is never opened).
    public var iommuDevice: DeviceNode?
    /// The VFIO device cdevs in /dev/vfio/devices ("vfio0", ...).
    public var vfioDeviceNodes: Set<String> = []
    /// Max locked memory of the process that ran vfioctl (/proc/self/limits).
    public var memlock: ProcFiles.Limit?
    /// First processor's flags in /proc/cpuinfo (vmx, svm, ...).
    public var cpuFlags: Set<String> = []
    public var iommuUnits: [IOMMUUnit] = []
    /// /proc/self/mountinfo and /proc/swaps.
    public var mounts: [ProcFiles.Mount] = []
    public var swaps: [String] = []
    /// Block devices that sit on the functions being checked, and what is stacked on them.
    public var blockDevices: [String: BlockDevice] = [:]
    /// Network interfaces that sit on the functions being checked.
    public var network: [String: NetInterface] = [:]
    /// Framebuffers (/sys/class/graphics/fbN) and the function each is drawn by.
    public var framebuffers: [String: PCIAddress] = [:]
    /// PCI drivers registered now (/sys/bus/pci/drivers), or nil when not read.
    public var pciDrivers: Set<String>?
    /// Processes holding a VFIO group open (/dev/vfio/N among /proc/PID/fd), by group, or nil
    /// when not read (it costs a readlink per open file on the host: only the commands that
    /// refuse on an open group read it, and their planners refuse when it is nil).
    public var vfioUsers: [Int: [VFIOUser]]?
    /// Mediated devices (parents, mdevs, mdevctl's definitions), when a check asks about mdevs.
    public var mdevs: MdevState?

    public init() {}

    /// The kernel's major and minor version, when known.
    public var kernelVersion: (major: Int, minor: Int)? { kernelRelease.flatMap(ProcFiles.kernelVersion) }

    /// Since Linux 5.19 drivers flagged driver_managed_dma (pcieport, pci-stub, vfio variants)
    /// do not break a group's viability. Unknown versions are taken as recent.
    public var driverManagedDMA: Bool {
        guard let (major, minor) = kernelVersion else { return true }
        return major > 5 || (major == 5 && minor >= 19)
    }

    /// The checks quote the kernel log only when no IOMMU unit is registered (no groups) or no
    /// interrupt is remapped, and read the build configuration only in the first case or when
    /// it explains a missing /dev/iommu, cdev or /dev/vfio/vfio (`IOMMUFD.wantsConfig`): the
    /// device layer reads them only then (a whole ring buffer, a 250 KB file), after the
    /// units, /proc/interrupts and /dev.
    public var wantsKernelLog: Bool { iommuUnits.isEmpty || !interruptRemappingActive }
    public var wantsKernelConfig: Bool { iommuUnits.isEmpty || IOMMUFD.wantsConfig(self) }

    /// Some interrupt is delivered through interrupt remapping.
    public var interruptRemappingActive: Bool { interruptChips.contains { $0.hasPrefix("IR-") } }

    public func parameter(_ module: String, _ name: String) -> String? { parameters[module + "." + name] }

    /// A boolean module parameter ("Y"/"N", "1"/"0").
    public func flag(_ module: String, _ name: String) -> Bool? {
        parameter(module, name).flatMap { SysfsValues.flag($0) }
    }

    /// Who holds /dev/vfio/`group` open: `.known([])` for nobody, `.unknown` when the open
    /// groups were not read.
    public func holders(ofGroup group: Int) -> GroupHolders {
        guard let vfioUsers else { return .unknown }
        return .known(vfioUsers[group] ?? [])
    }
}

public struct ModuleFacts: Sendable, Equatable {
    /// Loaded loadable modules (/proc/modules), names with '_'.
    public var loaded: Set<String> = []
    /// Built into the kernel (modules.builtin).
    public var builtin: Set<String> = []
    /// Installed for the running kernel (modules.dep), among those asked about.
    public var installed: Set<String> = []

    public init(loaded: Set<String> = [], builtin: Set<String> = [], installed: Set<String> = []) {
        self.loaded = loaded
        self.builtin = builtin
        self.installed = installed
    }

    public func isLoaded(_ module: String) -> Bool { loaded.contains(module) || builtin.contains(module) }
    public func isAvailable(_ module: String) -> Bool { isLoaded(module) || installed.contains(module) }
}

public struct DeviceNode: Sendable, Equatable {
    /// Permission bits (0o666 for /dev/vfio/vfio as vfio.rst asks).
    public var mode: UInt32

    public init(mode: UInt32) { self.mode = mode }
}

public struct IOMMUUnit: Sendable, Equatable {
    public var name: String
    /// Intel: the extended capability register (ecap); bit 3 is interrupt-remapping support.
    public var intelECAP: UInt64?
    /// AMD: the extended feature register.
    public var amdFeatures: UInt64?

    public init(name: String, intelECAP: UInt64? = nil, amdFeatures: UInt64? = nil) {
        self.name = name
        self.intelECAP = intelECAP
        self.amdFeatures = amdFeatures
    }

    /// The hardware can remap interrupts (Intel ecap bit 3); nil when unknown (AMD reports it
    /// through the IVRS table, not here).
    public var supportsInterruptRemapping: Bool? { intelECAP.map { $0 & 0x8 != 0 } }
}

public struct BlockDevice: Sendable, Equatable {
    public var name: String
    /// "major:minor" from /sys/class/block/NAME/dev.
    public var device: String?
    /// What is stacked on it (/sys/class/block/NAME/holders: dm-0, md0).
    public var holders: [String]

    public init(name: String, device: String?, holders: [String]) {
        self.name = name
        self.device = device
        self.holders = holders
    }

    /// The disk a hidden NVMe multipath path stands for: "nvme1c2n3" (subsystem 1, controller 2,
    /// namespace head 3) is a path of "nvme1n3", the disk users format and mount. The kernel names
    /// them so (drivers/nvme/host/multipath.c, nvme_mpath_set_disk_name and nvme_mpath_alloc_disk);
    /// the path sits under the controller's PCI function and has no /dev node, the head under the
    /// nvme-subsystem. Nil for any other name.
    public static func multipathHead(ofPath name: String) -> String? {
        guard name.hasPrefix("nvme") else { return nil }
        let rest = name.dropFirst(4)
        guard let c = rest.firstIndex(of: "c"), let n = rest[c...].firstIndex(of: "n") else { return nil }
        let subsystem = rest[..<c], controller = rest[rest.index(after: c)..<n], head = rest[rest.index(after: n)...]
        guard isNumber(subsystem), isNumber(controller), isNumber(head) else { return nil }
        return "nvme\(subsystem)n\(head)"
    }

    /// Whether `name` is a partition of the disk `disk` ("nvme1n1p2" of "nvme1n1", "sda2" of "sda").
    public static func isPartition(_ name: String, of disk: String) -> Bool {
        guard name.hasPrefix(disk) else { return false }
        let rest = name.dropFirst(disk.count)
        let number = disk.last?.isNumber == true ? (rest.first == "p" ? rest.dropFirst() : "") : rest
        return isNumber(number)
    }

    private static func isNumber(_ text: Substring) -> Bool { !text.isEmpty && text.allSatisfy { $0.isASCII && $0.isNumber } }
}


public struct NetInterface: Sendable, Equatable {
    public var name: String
    public var operstate: String?
    /// The bond or bridge it is enslaved to (/sys/class/net/NAME/master).
    public var master: String?
    /// Addresses other than IPv6 link-local ("192.0.2.2/24", "fd00::2/64").
    public var addresses: [String]
    public var hasRoutes: Bool
    public var carriesDefaultRoute: Bool
    /// IFF_UP in /sys/class/net/NAME/flags: set up by an admin, carrier or not.
    public var adminUp: Bool?

    /// Up: administratively (or, when the flags are unknown, by its operstate).
    public var isUp: Bool { adminUp ?? (operstate == "up") }

    public init(name: String, operstate: String? = nil, master: String? = nil, addresses: [String] = [],
                hasRoutes: Bool = false, carriesDefaultRoute: Bool = false) {
        self.name = name
        self.operstate = operstate
        self.master = master
        self.addresses = addresses
        self.hasRoutes = hasRoutes
        self.carriesDefaultRoute = carriesDefaultRoute
    }
}

/// Who holds a VFIO group open, as far as the facts tell.
public enum GroupHolders: Sendable, Equatable {
    case known([VFIOUser])
    /// The open groups were not read (`HostFacts.vfioUsers` is nil).
    case unknown
}

/// A process holding /dev/vfio/N open: a guest's QEMU, usually.
public struct VFIOUser: Sendable, Equatable {
    public var pid: Int
    /// /proc/PID/comm.
    public var command: String
    /// The guest's name, from QEMU's "-name guest=NAME,..." or "-name NAME".
    public var guest: String?

    public init(pid: Int, command: String, guest: String? = nil) {
        self.pid = pid
        self.command = command
        self.guest = guest
    }

    /// "qemu-system-x86 (pid 4242, guest 'win11')".
    public var description: String { "\(command) (pid \(pid)" + (guest.map { ", guest '\($0)'" } ?? "") + ")" }

    /// The guest name in QEMU's argument vector (/proc/PID/cmdline, split at NULs).
    public static func guestName(_ arguments: [String]) -> String? {
        guard let index = arguments.firstIndex(of: "-name"), index + 1 < arguments.count else { return nil }
        let value = arguments[index + 1]
        // "-name guest=win11,debug-threads=on" or "-name win11"; ",," escapes a comma.
        let options = value.replacingDoubledCommas().split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        for option in options where option.hasPrefix("guest=") { return String(option.dropFirst(6)).restoringCommas() }
        guard let first = options.first, !first.contains("=") else { return nil }
        return first.restoringCommas()
    }
}

extension String {
    fileprivate func replacingDoubledCommas() -> String { split(separator: ",,", omittingEmptySubsequences: false).joined(separator: "\u{1}") }
    fileprivate func restoringCommas() -> String { split(separator: "\u{1}", omittingEmptySubsequences: false).joined(separator: ",") }
}
