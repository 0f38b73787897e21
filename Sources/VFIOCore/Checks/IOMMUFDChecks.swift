/// iommufd (/dev/iommu, Linux 6.2) and the VFIO device cdev (/dev/vfio/devices/vfioN, Linux 6.6):
/// what QEMU's `-object iommufd` backend needs, and why a host does not have it. Pure: facts in,
/// a status and findings out.
///
/// The kernel's rules (drivers/iommu/iommufd/Kconfig, drivers/vfio/Kconfig, device_cdev.c):
/// CONFIG_IOMMUFD (tristate, default n) makes the misc device /dev/iommu when the module loads
/// (vfio depends on it when both are built, so loading vfio loads it); CONFIG_VFIO_DEVICE_CDEV
/// (bool, needs IOMMUFD) gives every VFIO device a character device, vfio-dev/vfioN/dev in sysfs
/// and /dev/vfio/devices/vfioN; CONFIG_VFIO_CONTAINER (default y) is the legacy /dev/vfio/vfio,
/// which CONFIG_IOMMUFD_VFIO_CONTAINER (only without VFIO_CONTAINER) lets iommufd provide instead.
/// Without either there is no /dev/vfio/vfio at all and only iommufd can map DMA.
public enum IOMMUFD {
    public static let devicePath = "/dev/iommu"
    public static let cdevDirectory = "/dev/vfio/devices"
    public static let iommufdSince = (major: 6, minor: 2)
    public static let cdevSince = (major: 6, minor: 6)

    public enum Status: Sendable, Equatable {
        /// /dev/iommu is there and nothing says the kernel lacks the VFIO device cdev.
        case available
        case unavailable(Reason)

        public var isAvailable: Bool { self == .available }
    }

    /// Why QEMU's iommufd backend cannot be used, most fundamental first.
    public enum Reason: Sendable, Equatable {
        /// A kernel before 6.2 (release).
        case kernelTooOld(String)
        /// The build configuration says CONFIG_IOMMUFD is not set (how it says so).
        case notBuilt(String)
        /// CONFIG_IOMMUFD=m and the module is not loaded; `installed` whether modules.dep has it.
        case moduleNotLoaded(installed: Bool)
        /// Built in or loaded, but no /dev/iommu.
        case nodeMissing
        /// /dev/iommu is there, but no VFIO device cdev (why: the configuration's words or the version).
        case noCdev(String)
        /// No /dev/iommu, and nothing read says why.
        case unknown
    }

    static func older(_ version: (major: Int, minor: Int)?, than since: (major: Int, minor: Int)) -> Bool {
        guard let version else { return false }
        return version.major < since.major || (version.major == since.major && version.minor < since.minor)
    }

    public static func status(_ facts: HostFacts) -> Status {
        let config = facts.kernelConfig
        let release = facts.kernelRelease ?? "unknown"
        if facts.iommuDevice != nil {
            if let config, config.value("CONFIG_VFIO_DEVICE_CDEV") != "y" {
                return .unavailable(.noCdev(config.notSet("CONFIG_VFIO_DEVICE_CDEV")))
            }
            if config == nil, older(facts.kernelVersion, than: cdevSince) {
                return .unavailable(.noCdev("Linux \(release) is older than 6.6, which added it"))
            }
            return .available
        }
        if older(facts.kernelVersion, than: iommufdSince) { return .unavailable(.kernelTooOld(release)) }
        if let config {
            switch config.value("CONFIG_IOMMUFD") {
            case nil: return .unavailable(.notBuilt(config.notSet("CONFIG_IOMMUFD")))
            case "m" where !facts.modules.isLoaded("iommufd"):
                return .unavailable(.moduleNotLoaded(installed: facts.modules.installed.contains("iommufd")))
            default: return .unavailable(.nodeMissing)
            }
        }
        if facts.modules.isLoaded("iommufd") { return .unavailable(.nodeMissing) }
        if facts.modules.installed.contains("iommufd") { return .unavailable(.moduleNotLoaded(installed: true)) }
        return .unavailable(.unknown)
    }

    /// Whether the build configuration could explain what is missing: a kernel that may have
    /// iommufd (6.2 or later, or unknown) without /dev/iommu, without a cdev seen, or without
    /// /dev/vfio/vfio while vfio is loaded. Not on an older kernel (its version says it all) or a
    /// host that has everything.
    public static func wantsConfig(_ facts: HostFacts) -> Bool {
        guard !older(facts.kernelVersion, than: iommufdSince) else { return false }
        return facts.iommuDevice == nil || facts.vfioDeviceNodes.isEmpty || (facts.modules.isLoaded("vfio") && facts.vfioContainer == nil)
    }

    static let legacyWorks = "nothing to fix for passthrough: QEMU and libvirt use the VFIO group path (/dev/vfio/N with "
        + "/dev/vfio/vfio) here"
    static let newerKernel = "for iommufd, boot a kernel (6.6 or newer) built with CONFIG_IOMMUFD and CONFIG_VFIO_DEVICE_CDEV"

    /// `iommufd.available` or `iommufd.unavailable` with the reason: information (the group path
    /// works without it), a warning only when the kernel has it and the node is missing.
    public static func findings(_ facts: HostFacts) -> [Finding] {
        let release = facts.kernelRelease ?? "unknown"
        func unavailable(_ message: String, _ severity: Finding.Severity = .info, hint: String) -> [Finding] {
            [Finding("iommufd.unavailable", severity, Finding.host, message, hint: hint)]
        }
        switch status(facts) {
        case .available:
            let seen = facts.vfioDeviceNodes.isEmpty ? "" : " (\(facts.vfioDeviceNodes.count) in \(cdevDirectory))"
            return [Finding("iommufd.available", .info, Finding.host,
                            "iommufd is available (\(devicePath)) with VFIO device cdevs\(seen): QEMU can use its iommufd backend",
                            hint: "vfioctl xml qemu-args --iommufd ADDRESS gives QEMU's -object iommufd arguments; "
                                + "the group path (/dev/vfio/N) works as well")]
        case .unavailable(.kernelTooOld(let release)):
            return unavailable("iommufd is not available: Linux \(release) predates it (iommufd came in 6.2, the VFIO device cdev in 6.6)",
                               hint: legacyWorks + "; " + newerKernel)
        case .unavailable(.notBuilt(let words)):
            return unavailable("iommufd is not available: this kernel (\(release)) is built without it (\(words))",
                               hint: legacyWorks + "; " + newerKernel + " (Debian's kernels are built without them)")
        case .unavailable(.moduleNotLoaded(let installed)):
            guard installed else {
                return unavailable("iommufd is not available: this kernel builds it as a module, but the iommufd module "
                                       + "is not installed for it (lib/modules/\(release))",
                                   hint: "install the modules of kernel \(release); " + legacyWorks)
            }
            return unavailable("iommufd is not available now: the iommufd module is not loaded (\(devicePath) does not exist)",
                               hint: "modprobe iommufd (loading vfio loads it too); " + legacyWorks)
        case .unavailable(.nodeMissing):
            return unavailable("iommufd is in the kernel (built in or loaded), but \(devicePath) does not exist", .warning,
                               hint: "check devtmpfs is mounted on /dev and udev is running")
        case .unavailable(.noCdev(let why)):
            return unavailable("iommufd is there (\(devicePath)), but this kernel has no VFIO device cdev (\(why)): "
                                   + "QEMU's iommufd backend opens \(cdevDirectory)/vfioN",
                               hint: legacyWorks + "; " + newerKernel)
        case .unavailable(.unknown):
            return unavailable("iommufd is not available: \(devicePath) does not exist, and this kernel's build configuration "
                                   + "(/boot/config-\(release), /proc/config.gz) could not be read to tell why",
                               hint: legacyWorks + "; " + newerKernel)
        }
    }

    /// One line for a refusal: why this host has no iommufd backend (the finding's message).
    public static func refusal(_ facts: HostFacts) -> Finding? {
        status(facts).isAvailable ? nil : findings(facts).first
    }

    /// `vfio.cdev` for a function on a VFIO driver: its cdev, or that /dev lacks the node the
    /// kernel made. Nothing when the kernel made none (before 6.6, or built without it).
    public static func cdevFindings(_ f: PCIFunction, _ facts: HostFacts) -> [Finding] {
        guard StubDriver.isVFIO(f), let name = f.vfioCdev else { return [] }
        let path = cdevDirectory + "/" + name
        guard facts.vfioDeviceNodes.contains(name) else {
            return [Finding("vfio.cdev", .warning, f.address.description,
                            "the kernel made a VFIO device cdev for \(f.address) (\(name)), but \(path) does not exist",
                            hint: "check devtmpfs is mounted on /dev and udev is running")]
        }
        return [Finding("vfio.cdev", .info, f.address.description,
                        "\(f.address)'s VFIO device cdev is \(path)"
                            + (status(facts).isAvailable ? ": QEMU's iommufd backend opens it (vfioctl xml qemu-args --iommufd)" : ""))]
    }

    /// /dev/vfio/vfio when vfio is loaded and it is missing, as the configuration explains it:
    /// iommufd provides it (and is not loaded), or the kernel has no container at all.
    public static func containerFinding(_ facts: HostFacts) -> Finding? {
        guard facts.modules.isLoaded("vfio"), facts.vfioContainer == nil, let config = facts.kernelConfig,
              config.value("CONFIG_VFIO_CONTAINER") == nil, !older(facts.kernelVersion, than: iommufdSince) else { return nil }
        if config.value("CONFIG_IOMMUFD_VFIO_CONTAINER") == "y" {
            guard !facts.modules.isLoaded("iommufd") else { return nil }
            return Finding("vfio.container-missing", .warning, Finding.host,
                           "/dev/vfio/vfio does not exist: on this kernel iommufd provides it (CONFIG_IOMMUFD_VFIO_CONTAINER=y), "
                               + "and the iommufd module is not loaded",
                           hint: "modprobe iommufd")
        }
        return Finding("vfio.no-container", .warning, Finding.host,
                       "this kernel has no /dev/vfio/vfio (\(config.notSet("CONFIG_VFIO_CONTAINER")), and CONFIG_IOMMUFD_VFIO_CONTAINER "
                           + "is not set either): only iommufd can map a device's DMA, and QEMU's default vfio-pci path fails",
                       hint: "use QEMU's iommufd backend (vfioctl xml qemu-args --iommufd), or boot a kernel with CONFIG_VFIO_CONTAINER=y")
    }
}
