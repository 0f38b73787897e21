/// One PCI function as the device layer read it. Plain values; no decisions.
public struct PCIFunction: Sendable, Equatable {
    public var address: PCIAddress
    public var vendorID: UInt16
    public var deviceID: UInt16
    public var subsystemVendorID: UInt16?
    public var subsystemDeviceID: UInt16?
    public var revision: UInt8?
    /// 24-bit class code: base class, subclass, programming interface (`0x020000`).
    public var classCode: UInt32

    public var vendorName: String?
    public var deviceName: String?
    public var subsystemName: String?
    public var className: String?

    public var driver: String?
    public var driverOverride: String?
    /// The kernel module behind `driver` (from the driver's `module` link), when known.
    public var driverModule: String?
    public var iommuGroup: Int?
    public var numaNode: Int?
    /// `boot_vga` attribute: the firmware's boot display device.
    public var bootVGA: Bool?
    /// A `vfio-dev/` directory exists: its driver registered a VFIO device (Linux 6.1 and later;
    /// `StubDriver.isVFIO(_:)` is the rule that also holds on older kernels).
    public var hasVFIODevice: Bool
    /// The VFIO device's character device ("vfio0": /dev/vfio/devices/vfio0): its vfio-dev/vfioN
    /// has a `dev` (CONFIG_VFIO_DEVICE_CDEV, Linux 6.6 and later); nil otherwise.
    public var vfioCdev: String?
    /// "/dev/vfio/devices/vfio0", when it has one.
    public var vfioCdevPath: String? { vfioCdev.map { IOMMUFD.cdevDirectory + "/" + $0 } }

    /// The PF of an SR-IOV virtual function, and this VF's index on it.
    public var physfn: PCIAddress?
    public var vfIndex: Int?
    public var sriov: SRIOVInfo?

    /// `reset_method` (kernel 5.15+): the enabled reset methods in the kernel's order.
    public var resetMethods: [String]
    /// A `reset` attribute exists: the kernel has at least one way to reset the function.
    public var hasResetAttribute: Bool

    /// From config space (nil when config space could not be read).
    public var headerType: UInt8?
    public var capabilities: ConfigCapabilities?
    /// The PCIe link: from config space when its capability list was readable, else from the
    /// kernel's max_link_* / current_link_* attributes (there for every PCIe function); nil for
    /// conventional PCI, a function without a link, or when neither could be read.
    public var link: PCIeLink?
    /// The BARs: the kernel's `resource` file when it was read (`show`), else the header's
    /// registers (no sizes); nil when neither was read.
    public var bars: [BAR]?

    /// The upstream PCI function (bridge or port) this function sits behind; nil on a root bus.
    public var parent: PCIAddress?
    /// Where the function lives under sys/devices, relative to the root (`sys/devices/pci0000:00/...`).
    public var sysfsPath: String

    public var netInterfaces: [String]
    public var blockDevices: [String]

    /// The kernel modules whose aliases match the function's modalias, in libkmod's order without
    /// repeats: what `lspci -k` lists as "Kernel modules". nil when not read (only `show` reads
    /// them) or unknown (no module index for the running kernel under the root).
    public var kernelModules: [String]?
    /// The vfio-pci variant drivers for the function (mlx5_vfio_pci, pds_vfio_pci, ...): modules
    /// with a `vfio_pci:` alias in modules.alias that matches it, best first (`VFIOVariants`).
    /// vfio_pci itself, whose alias matches every function, is not a variant and is left out.
    /// nil when not read (`show`, and the commands that bind to vfio, read them) or unknown (no
    /// readable modules.alias for the running kernel under the root).
    public var vfioVariantModules: [String]?
    /// The variant driver libvirt would bind it to (virPCIDeviceFindBestVFIOVariant): the match
    /// with the fewest wildcards, unless that is vfio_pci. nil when there is none, or not known
    /// (then `vfioVariantModules` is nil too).
    public var vfioVariant: VFIOVariants.Match?

    public init(address: PCIAddress, vendorID: UInt16, deviceID: UInt16, classCode: UInt32, sysfsPath: String) {
        self.address = address
        self.vendorID = vendorID
        self.deviceID = deviceID
        self.classCode = classCode
        self.sysfsPath = sysfsPath
        self.hasVFIODevice = false
        self.resetMethods = []
        self.hasResetAttribute = false
        self.netInterfaces = []
        self.blockDevices = []
    }

    public var baseClass: UInt8 { UInt8(truncatingIfNeeded: classCode >> 16) }
    public var subClass: UInt8 { UInt8(truncatingIfNeeded: classCode >> 8) }

    /// A PCI-to-PCI, CardBus or semi-transparent bridge: by class code (0604, 0607, 0609), or by
    /// header type 1 or 2 in config space. Host bridges (0600) are not bridges in this sense: they
    /// have no secondary bus, and vfio treats them like any other function.
    public var isBridge: Bool {
        if baseClass == 0x06 && (subClass == 0x04 || subClass == 0x07 || subClass == 0x09) { return true }
        guard let headerType else { return false }
        return headerType & 0x7f == 1 || headerType & 0x7f == 2
    }

    /// Part of a multifunction device, as the kernel decides it (pci_scan_slot): function 0 of
    /// the slot has header-type bit 7, or the slot holds other functions. Set when the snapshot
    /// is assembled (it depends on the slot's other functions); nil when nothing is known.
    public var isMultifunction: Bool?

    /// Header type bit 7 of this function's own config space.
    public var headerSaysMultifunction: Bool? { headerType.map { $0 & 0x80 != 0 } }

    public var isVirtualFunction: Bool { physfn != nil }

    /// PCI Express (nil: unknown): the capability when the list was readable, else the kernel's
    /// link attributes, which it creates only for PCIe functions.
    public var isPCIe: Bool? {
        if let known = capabilities?.isPCIe { return known }
        return link != nil ? true : nil
    }

    /// The kernel lists no reset methods but has a `reset` attribute: a kernel before 5.15,
    /// which resets through the first method that works and does not say which.
    public var resetMethodsUnlisted: Bool { resetMethods.isEmpty && hasResetAttribute }

    /// The reset methods the kernel lists (reset_method), or on older kernels that list none,
    /// those config space offers, in the kernel's order (flr, af_flr, pm); empty when config
    /// space was not readable either.
    public var effectiveResetMethods: [String] {
        guard resetMethodsUnlisted, let caps = capabilities else { return resetMethods }
        var methods: [String] = []
        if caps.flr == true { methods.append("flr") }
        if caps.afFLR == true { methods.append("af_flr") }
        if caps.hasPowerManagement == true && !caps.pmNoSoftReset { methods.append("pm") }
        return methods
    }

    /// The function-level resets: they reset the function and nothing else.
    public static let functionLevelResets: Set<String> = ["flr", "af_flr", "device_specific", "acpi"]

    /// It can be reset without touching anything else (FLR, AF FLR, a device-specific or ACPI reset).
    public var resetsAlone: Bool {
        effectiveResetMethods.contains { Self.functionLevelResets.contains($0) }
    }

    /// `8086:10d3`
    public var ids: String {
        HexDigits.padded(UInt64(vendorID), width: 4) + ":" + HexDigits.padded(UInt64(deviceID), width: 4)
    }

    /// "Intel Corporation 82574L Gigabit Network Connection", with numeric ids for what pci.ids lacks.
    public var displayName: String {
        let vendor = vendorName ?? "Vendor " + HexDigits.padded(UInt64(vendorID), width: 4)
        let device = deviceName ?? "Device " + HexDigits.padded(UInt64(deviceID), width: 4)
        return vendor + " " + device
    }

    /// "Ethernet controller", or the numeric class when pci.ids has no name.
    public var classDisplayName: String {
        className ?? "Class " + HexDigits.padded(UInt64(classCode >> 8), width: 4)
    }

    /// "Ethernet controller [0200]" as lspci -nn shows a class; the code once when pci.ids has no
    /// name ("Class 2a00", not "Class 2a00 [2a00]").
    public var classWithCode: String {
        className.map { $0 + " [" + HexDigits.padded(UInt64(classCode >> 8), width: 4) + "]" } ?? classDisplayName
    }

    /// " (rev 01)" after the device's name, as lspci prints it: only for a revision other than 00
    /// (lspci.c show_terse: `if (c = get_conf_byte(d, PCI_REVISION_ID))`).
    public var revisionSuffix: String {
        guard let revision, revision != 0 else { return "" }
        return " (rev " + HexDigits.padded(UInt64(revision), width: 2) + ")"
    }
}

public struct SRIOVInfo: Sendable, Equatable {
    public var totalVFs: Int
    public var numVFs: Int
    public var driversAutoprobe: Bool?
    public var vfs: [PCIAddress]
    /// VF index → address, from the PF's `virtfnN` links.
    public var vfIndices: [Int: PCIAddress]
    public var vfDeviceID: UInt16?
    public var offset: Int?
    public var stride: Int?
    /// The vfio_pci aliases the VFs it makes will match, known before they exist (from
    /// `vfDeviceID`): nil when not read (the commands that bind VFs read it) or unknown (no
    /// readable modules.alias, or no sriov_vf_device).
    public var vfVariants: VFIOVariants.VFMatches?

    public init(totalVFs: Int, numVFs: Int, driversAutoprobe: Bool?, vfIndices: [Int: PCIAddress],
                vfDeviceID: UInt16? = nil, offset: Int? = nil, stride: Int? = nil) {
        self.totalVFs = totalVFs
        self.numVFs = numVFs
        self.driversAutoprobe = driversAutoprobe
        self.vfIndices = vfIndices
        self.vfs = vfIndices.values.sorted()
        self.vfDeviceID = vfDeviceID
        self.offset = offset
        self.stride = stride
    }
}
