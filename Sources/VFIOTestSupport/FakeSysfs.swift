import Glibc
import VFIOCore
import VFIODeviceLayer

/// One PCI function of a fake host.
public struct FakeFunction: Sendable {
    public var address: PCIAddress
    public var vendorID: UInt16
    public var deviceID: UInt16
    public var classCode: UInt32
    public var subsystemVendorID: UInt16? = nil
    public var subsystemDeviceID: UInt16? = nil
    public var revision: UInt8 = 1
    /// The upstream bridge or port; nil for a function on a root bus.
    public var parent: PCIAddress? = nil
    public var group: Int? = nil
    public var driver: String? = nil
    /// The driver's module (nil: builtin, no `module` link).
    public var driverModule: String? = nil
    /// What `driver_override` reads; nil writes "(null)" as the kernel does.
    public var driverOverride: String? = nil
    public var numaNode: Int = -1
    /// Contents of `reset_method`; nil omits it (kernels before 5.15).
    public var resetMethods: [String]? = ["flr", "bus"]
    /// Config space; nil omits the `config` file.
    public var config: ConfigSpace?
    /// Config space bytes written as they are (a real device's, from a dump), instead of `config`.
    public var rawConfig: [UInt8]? = nil
    /// SR-IOV PF attributes.
    public var sriov: (total: Int, autoprobe: Bool)? = nil
    /// For a VF: its PF and index.
    public var physfn: (pf: PCIAddress, index: Int)? = nil
    public var netInterfaces: [String] = []
    /// Block devices with their path below the function ("nvme/nvme0/nvme0n1").
    public var blockDevices: [(name: String, path: String)] = []
    public var bootVGA: Bool? = nil
    /// Attributes to leave out (to model older kernels or damaged trees).
    public var omitAttributes: Set<String> = []
    /// The driver registers a VFIO device (vfio-dev/) though its name says nothing of vfio
    /// (NVIDIA's vGPU VFs on `nvidia`).
    public var registersVFIODevice = false
    /// Extra attribute files.
    public var extraAttributes: [String: String] = [:]
    /// The `vpd` attribute's bytes (the kernel makes it only for a function with the VPD capability).
    public var vpd: [UInt8]? = nil
    /// The `irq` attribute (every PCI function has one; 0 when it has no legacy interrupt).
    public var irq = 16

    public init(_ address: String, vendor: UInt16, device: UInt16, class classCode: UInt32,
                parent: String? = nil, group: Int? = nil, driver: String? = nil) {
        guard let parsed = PCIAddress(address) else { preconditionFailure("bad test address \(address)") }
        self.address = parsed
        self.vendorID = vendor
        self.deviceID = device
        self.classCode = classCode
        self.parent = parent.flatMap { PCIAddress($0) }
        self.group = group
        self.driver = driver
        self.driverModule = driver
        var config = ConfigSpace(vendorID: vendor, deviceID: device, classCode: classCode)
        if classCode >> 8 == 0x0604 { config.headerType = 1 }
        self.config = config
    }

    public var isBridge: Bool { config?.headerType == 1 || classCode >> 8 == 0x0604 }
}

/// Builds a sysfs tree in the kernel's layout under a directory:
///   sys/devices/pciDDDD:BB/<bridge>/<function>/{vendor,device,class,...,config}
///   sys/bus/pci/devices/<address> -> ../../../devices/...           (relative links)
///   <function>/iommu_group -> ../../../kernel/iommu_groups/N, with devices/ back links
///   <function>/driver -> ../../../bus/pci/drivers/NAME, with the driver's back links and module
///   physfn / virtfnN, sys/class/net, sys/class/block, sys/class/iommu, proc/cpuinfo
public struct FakeSysfs {
    public let root: String
    public private(set) var functions: [FakeFunction] = []
    public var iommuUnits: [String] = []
    /// ACPI tables under sys/firmware/acpi/tables ("DMAR", "IVRS").
    public var acpiTables: [String] = []
    public var cpuVendor = "GenuineIntel"
    /// /boot/config-RELEASE; nil leaves it out (the build configuration is then unknown).
    public var kernelConfig: String? = nil
    /// Kernel log messages, written to dev/kmsg as /dev/kmsg records; nil leaves it out.
    public var kernelLog: [String]? = nil
    /// Each group's default domain type.
    public var groupType = "DMA"

    // What FactsReader reads beyond PCI: a host ready for passthrough unless a test changes it.
    public var commandLine = "BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 root=/dev/nvme0n1p2 ro quiet intel_iommu=on iommu=pt"
    public var kernelRelease = "6.1.0-56-amd64"
    /// Chips in /proc/interrupts ("IR-" prefix: remapped).
    public var interruptChips = ["IR-IO-APIC", "IR-PCI-MSI", "DMAR-MSI"]
    public var loadedModules = ["vfio_pci", "vfio_pci_core", "vfio_iommu_type1", "vfio", "kvm_intel", "kvm"]
    public var builtinModules: [String] = []
    /// Installed for the kernel (modules.dep), in addition to loaded ones.
    public var installedModules = ["iommufd", "kvm_amd"]
    /// Module name → its aliases, indexed by the real depmod into lib/modules/RELEASE/modules.alias.bin
    /// (`FakeModules`); nil leaves the index out (the modules that could drive a function are then unknown).
    public var moduleAliases: [String: [String]]? = nil

    /// The `modalias` attribute as the kernel writes it (pci_uevent's MODALIAS).
    public static func modalias(vendor: UInt16, device: UInt16, subsystemVendor: UInt16, subsystemDevice: UInt16, classCode: UInt32) -> String {
        func hex(_ value: UInt64, _ width: Int) -> String { HexDigits.padded(value, width: width).uppercased() }
        return "pci:v" + hex(UInt64(vendor), 8) + "d" + hex(UInt64(device), 8) + "sv" + hex(UInt64(subsystemVendor), 8)
            + "sd" + hex(UInt64(subsystemDevice), 8) + "bc" + hex(UInt64(classCode >> 16), 2) + "sc" + hex(UInt64((classCode >> 8) & 0xff), 2)
            + "i" + hex(UInt64(classCode & 0xff), 2)
    }
    /// "module.parameter" → value under sys/module/MODULE/parameters.
    public var moduleParameters = ["vfio_iommu_type1.allow_unsafe_interrupts": "N", "kvm_intel.nested": "Y",
                                   "kvm_intel.enable_shadow_vmcs": "Y"]
    /// /dev/vfio/vfio's mode; nil for no node.
    public var vfioContainerMode: mode_t? = 0o666
    /// Group numbers with a /dev/vfio/N node.
    public var vfioGroupNodes: [Int] = []
    /// iommufd (Linux 6.2+): /dev/iommu's mode; nil for no node.
    public var iommuDeviceMode: mode_t? = nil
    /// The VFIO device cdev (Linux 6.6+, CONFIG_VFIO_DEVICE_CDEV): each vfio-dev/vfioN gets a
    /// `dev`, and /dev/vfio/devices/vfioN a node.
    public var vfioCdevs = false
    /// "Max locked memory" soft and hard ("unlimited" or bytes).
    public var memlock = ("unlimited", "unlimited")
    /// mountinfo rows: (major:minor, mount point, filesystem, source).
    public var mounts: [(device: String, mountPoint: String, fileSystem: String, source: String)] = []
    public var swaps: [String] = []
    /// IPv4 addresses as `vfioctl snapshot` records them (NAME ADDRESS/PREFIX).
    public var ipv4Addresses: [String: [String]] = [:]
    /// Interfaces with IPv4 routes; the Bool marks the default route.
    public var ipv4Routes: [(interface: String, isDefault: Bool)] = []
    /// Interface → the bond or bridge it is enslaved to.
    public var netMasters: [String: String] = [:]
    /// Interface → operstate (default "up").
    public var netStates: [String: String] = [:]
    /// Block devices stacked on others: (name, major:minor, the devices it holds).
    public var stackedBlockDevices: [(name: String, device: String, members: [String])] = []
    /// Framebuffer → the function that draws it.
    public var framebuffers: [String: String] = [:]
    public var cpuFlags = "fpu vme de pse msr pae mce cx8 apic sep mtrr vmx ept"
    /// Block device → major:minor (default 259:N in the order they are added).
    public var blockDeviceNumbers: [String: String] = [:]
    /// PCI drivers registered with no device bound (sys/bus/pci/drivers/NAME); vfio_pci is loaded.
    public var registeredDrivers = ["vfio-pci"]
    /// Processes holding VFIO groups open: /proc/PID/{comm,cmdline,fd/N -> /dev/vfio/GROUP}.
    public var vfioUsers: [(pid: Int, command: String, arguments: [String], groups: [Int])] = []

    /// A new fake host in a fresh temporary directory.
    public init() {
        self.root = ScratchDirectory.make("vfioctl-fake")
    }

    /// A fake host in `root`, created if missing.
    public init(root: String) {
        self.root = root
        var current = root.hasPrefix("/") ? "" : "."
        for component in root.split(separator: "/") {
            current += "/" + component
            mkdir(current, 0o755)
        }
    }

    public mutating func add(_ function: FakeFunction) { functions.append(function) }

    /// Changes a function before the tree is built.
    public mutating func update(_ address: String, _ change: (inout FakeFunction) -> Void) {
        guard let position = functions.firstIndex(where: { $0.address.description == address }) else { return }
        change(&functions[position])
    }

    /// Changes a function's driver before the tree is built (nil: unbound).
    public mutating func setDriver(_ driver: String?, for address: String) {
        update(address) { f in
            f.driver = driver
            f.driverModule = driver
            if driver?.hasPrefix("vfio") == true { f.driverOverride = driver }
        }
    }

    /// Replaces a function's block devices (name, path below the function) before the tree is built.
    public mutating func setBlockDevices(_ devices: [(name: String, path: String)], for address: String) {
        update(address) { $0.blockDevices = devices }
    }

    public mutating func setGroup(_ group: Int?, for address: String) {
        guard let position = functions.firstIndex(where: { $0.address.description == address }) else { return }
        functions[position].group = group
    }

    public mutating func setGroup(_ group: Int?, at position: Int) { functions[position].group = group }

    /// A host with an IOMMU: groups exist, /sys/class/iommu has a unit, the firmware has a DMAR.
    public mutating func withIOMMU(_ units: [String] = ["dmar0"]) {
        iommuUnits = units
        if acpiTables.isEmpty { acpiTables = ["DMAR"] }
    }

    /// Deletes the tree.
    public func remove() { FakeSysfs.removeTree(root) }

    /// Removes a directory tree without following links.
    public static func removeTree(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFDIR, let names = FileRead.entries(path) {
            for name in names { removeTree(path + "/" + name) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// The function's directory relative to the root.
    public func devicePath(_ address: PCIAddress) -> String {
        guard let f = functions.first(where: { $0.address == address }) else {
            preconditionFailure("no fake function \(address)")
        }
        let hostBridge = "pci" + HexDigits.padded(UInt64(address.domain), width: 4) + ":"
            + HexDigits.padded(UInt64(address.bus), width: 2)
        guard let parent = f.parent else { return "sys/devices/\(hostBridgeName(of: f))/\(address)" }
        let parentPath = devicePath(parent)
        // A function in another domain than its parent sits behind a host bridge of its own (VMD).
        if parent.domain != address.domain { return parentPath + "/" + hostBridge + "/" + address.description }
        return parentPath + "/" + address.description
    }

    private func hostBridgeName(of f: FakeFunction) -> String {
        // The root bus a function sits on: its own bus when it has no parent.
        "pci" + HexDigits.padded(UInt64(f.address.domain), width: 4) + ":" + HexDigits.padded(UInt64(f.address.bus), width: 2)
    }

    /// Writes the tree.
    public func build() {
        for unit in iommuUnits {
            let unitPath = "sys/devices/virtual/iommu/\(unit)"
            makeDirectory(unitPath)
            if unit.hasPrefix("dmar") {
                write(unitPath + "/intel-iommu/ecap", "f00f4a\n")
                write(unitPath + "/intel-iommu/cap", "d2008c40660462\n")
            } else if unit.hasPrefix("ivhd") {
                write(unitPath + "/amd-iommu/features", "0x0000000000000000\n")
            }
            link("sys/class/iommu/\(unit)", to: unitPath)
        }
        for table in acpiTables { write("sys/firmware/acpi/tables/" + table, table, mode: 0o400) }
        makeDirectory("sys/bus/pci/devices")
        makeDirectory("sys/bus/pci/drivers")
        makeDirectory("sys/kernel/iommu_groups")
        write("sys/bus/pci/drivers_probe", "", mode: 0o200)
        for driver in registeredDrivers {
            makeDirectory("sys/bus/pci/drivers/" + driver)
            for file in ["bind", "unbind", "new_id", "remove_id"] { write("sys/bus/pci/drivers/\(driver)/\(file)", "", mode: 0o200) }
        }
        for user in vfioUsers {
            write("proc/\(user.pid)/comm", user.command + "\n")
            write("proc/\(user.pid)/cmdline", user.arguments.map { $0 + "\u{0}" }.joined())
            for (index, group) in user.groups.enumerated() {
                makeDirectory("proc/\(user.pid)/fd")
                symlink("/dev/vfio/\(group)", root + "/proc/\(user.pid)/fd/\(index + 20)")
            }
        }
        write("proc/cpuinfo", "processor\t: 0\nvendor_id\t: \(cpuVendor)\nflags\t\t: \(cpuFlags)\n\n")
        for f in functions { buildFunction(f) }
        buildHostFacts()
    }

    private func buildFunction(_ f: FakeFunction) {
        let address = f.address.description
        let path = devicePath(f.address)
        makeDirectory(path)
        var attributes: [String: String] = [
            "vendor": "0x" + HexDigits.padded(UInt64(f.vendorID), width: 4),
            "device": "0x" + HexDigits.padded(UInt64(f.deviceID), width: 4),
            "class": "0x" + HexDigits.padded(UInt64(f.classCode), width: 6),
            "revision": "0x" + HexDigits.padded(UInt64(f.revision), width: 2),
            "subsystem_vendor": "0x" + HexDigits.padded(UInt64(f.subsystemVendorID ?? 0), width: 4),
            "subsystem_device": "0x" + HexDigits.padded(UInt64(f.subsystemDeviceID ?? 0), width: 4),
            "driver_override": f.driverOverride ?? "(null)",
            "numa_node": String(f.numaNode),
            "enable": f.driver == nil ? "0" : "1",
        ]
        if let methods = f.resetMethods { attributes["reset_method"] = methods.joined(separator: " ") }
        // As pci_uevent writes it: upper-case ids, class without leading zeros; its MODALIAS is
        // the `modalias` attribute.
        let hex4: (UInt16) -> String = { HexDigits.padded(UInt64($0), width: 4).uppercased() }
        let modalias = Self.modalias(vendor: f.vendorID, device: f.deviceID, subsystemVendor: f.subsystemVendorID ?? 0,
                                     subsystemDevice: f.subsystemDeviceID ?? 0, classCode: f.classCode)
        attributes["uevent"] = (f.driver.map { "DRIVER=\($0)\n" } ?? "")
            + "PCI_CLASS=" + HexDigits.padded(UInt64(f.classCode), width: 1).uppercased() + "\n"
            + "PCI_ID=\(hex4(f.vendorID)):\(hex4(f.deviceID))\n"
            + "PCI_SUBSYS_ID=\(hex4(f.subsystemVendorID ?? 0)):\(hex4(f.subsystemDeviceID ?? 0))\n"
            + "PCI_SLOT_NAME=\(address)\n"
            + "MODALIAS=" + modalias
        attributes["modalias"] = modalias
        if let bootVGA = f.bootVGA { attributes["boot_vga"] = bootVGA ? "1" : "0" }
        if let sriov = f.sriov {
            let vfs = functions.filter { $0.physfn?.pf == f.address }
            attributes["sriov_totalvfs"] = String(sriov.total)
            attributes["sriov_numvfs"] = String(vfs.count)
            attributes["sriov_drivers_autoprobe"] = sriov.autoprobe ? "1" : "0"
            attributes["sriov_offset"] = "1"
            attributes["sriov_stride"] = "1"
            attributes["sriov_vf_device"] = HexDigits.padded(UInt64(vfs.first?.deviceID ?? f.deviceID), width: 4)
            for vf in vfs {
                guard let index = vf.physfn?.index else { continue }
                link(path + "/virtfn\(index)", to: devicePath(vf.address))
            }
        }
        for (name, value) in f.extraAttributes { attributes[name] = value }
        for (name, value) in attributes where !f.omitAttributes.contains(name) { write(path + "/" + name, value + "\n") }
        if let methods = f.resetMethods, !methods.isEmpty, !f.omitAttributes.contains("reset") {
            write(path + "/reset", "", mode: 0o200)
        }
        if let raw = f.rawConfig, !f.omitAttributes.contains("config") {
            writeBytes(path + "/config", raw)
        } else if let config = f.config, !f.omitAttributes.contains("config") {
            // Config space agrees with the attributes, as on a real host.
            var config = config
            if f.isBridge { config.headerType = 1 }
            config.revision = f.revision
            config.subsystemVendorID = f.subsystemVendorID ?? 0
            config.subsystemDeviceID = f.subsystemDeviceID ?? 0
            writeBytes(path + "/config", config.bytes)
        }
        link("sys/bus/pci/devices/" + address, to: path)
        if let group = f.group {
            let groupPath = "sys/kernel/iommu_groups/\(group)"
            makeDirectory(groupPath + "/devices")
            write(groupPath + "/type", groupType + "\n")
            write(groupPath + "/reserved_regions", "0x00000000fee00000 0x00000000feefffff msi\n")
            link(path + "/iommu_group", to: groupPath)
            link(groupPath + "/devices/" + address, to: path)
        }
        if let driver = f.driver {
            let driverPath = "sys/bus/pci/drivers/" + driver
            makeDirectory(driverPath)
            for file in ["bind", "unbind", "new_id", "remove_id"] { write(driverPath + "/" + file, "", mode: 0o200) }
            link(path + "/driver", to: driverPath)
            link(driverPath + "/" + address, to: path)
            if let module = f.driverModule {
                makeDirectory("sys/module/" + module)
                link(driverPath + "/module", to: "sys/module/" + module)
            }
            // vfio-pci makes vfio-dev/ from Linux 6.1 on (omitAttributes "vfio-dev": an older kernel).
            let vfioDevice = driver.hasPrefix("vfio") && !f.omitAttributes.contains("vfio-dev")
            if vfioDevice || f.registersVFIODevice {
                makeDirectory(path + "/vfio-dev/vfio\(f.group ?? 0)")
                if vfioCdevs {
                    write(path + "/vfio-dev/vfio\(f.group ?? 0)/dev", "239:\(f.group ?? 0)\n")
                    write("dev/vfio/devices/vfio\(f.group ?? 0)", "", mode: 0o600)
                }
            }
        }
        if let (pf, _) = f.physfn { link(path + "/physfn", to: devicePath(pf)) }
        if let vpd = f.vpd { writeBytes(path + "/vpd", vpd, mode: 0o600) }
        if !f.omitAttributes.contains("irq") { write(path + "/irq", "\(f.irq)\n", mode: 0o444) }
        for name in f.netInterfaces {
            makeDirectory(path + "/net/" + name)
            // The interface's link back to its device, as the kernel has it (neutron's agent follows it).
            link(path + "/net/\(name)/device", to: path)
            write(path + "/net/\(name)/operstate", "up\n")
            write(path + "/net/\(name)/flags", "0x1003\n")
            link("sys/class/net/" + name, to: path + "/net/" + name)
        }
        for (name, below) in f.blockDevices {
            makeDirectory(path + "/" + below)
            link("sys/class/block/" + name, to: path + "/" + below)
            write(path + "/" + below + "/dev", (blockDeviceNumbers[name] ?? "259:\(Array(name.utf8).reduce(0) { ($0 &* 31 &+ Int($1)) % 100_000 })") + "\n")
            makeDirectory(path + "/" + below + "/holders")
            if name.last?.isNumber == true && name.contains("p") { write(path + "/" + below + "/partition", "1\n") }
        }
    }

    private func buildHostFacts() {
        write("proc/cmdline", commandLine + "\n")
        write("proc/sys/kernel/osrelease", kernelRelease + "\n")
        if let kernelConfig { write("boot/config-" + kernelRelease, kernelConfig) }
        if let kernelLog {
            write("dev/kmsg", kernelLog.enumerated().map { index, message in
                "6,\(index),\(index * 1000),-;\(message)\n SUBSYSTEM=acpi\n"
            }.joined())
        }
        var interrupts = "           CPU0       CPU1\n"
        for (index, chip) in interruptChips.enumerated() {
            interrupts += String(repeating: " ", count: 2) + "\(index):         12          0  \(chip)  \(index)-edge      timer\n"
        }
        interrupts += " NMI:          0          0   Non-maskable interrupts\n"
        write("proc/interrupts", interrupts)
        write("proc/modules", loadedModules.map { "\($0) 16384 0 - Live 0x0000000000000000\n" }.joined())
        for module in loadedModules { write("sys/module/\(module)/initstate", "live\n") }
        for (key, value) in moduleParameters {
            let parts = key.split(separator: ".", maxSplits: 1)
            write("sys/module/\(parts[0])/parameters/\(parts[1])", value + "\n")
        }
        let base = "lib/modules/\(kernelRelease)"
        func path(_ module: String) -> String {
            let directory = module.hasPrefix("kvm") ? "arch/x86/kvm" : module.hasPrefix("vfio_pci") ? "drivers/vfio/pci" : "drivers/vfio"
            return "kernel/\(directory)/\(module.replacingOccurrences(of: "_", with: "-")).ko"
        }
        write(base + "/modules.builtin", builtinModules.map { path($0) + "\n" }.joined())
        write(base + "/modules.dep", Set(loadedModules + installedModules).sorted().map { path($0) + ":\n" }.joined())
        if let moduleAliases { FakeModules.index(moduleAliases, root: root, release: kernelRelease) }
        makeDirectory("dev/vfio")
        if let mode = vfioContainerMode { write("dev/vfio/vfio", "", mode: mode) }
        if let mode = iommuDeviceMode { write("dev/iommu", "", mode: mode) }
        if vfioCdevs { makeDirectory("dev/vfio/devices") }
        for group in vfioGroupNodes { write("dev/vfio/\(group)", "", mode: 0o600) }
        write("proc/self/limits", "Limit                     Soft Limit           Hard Limit           Units     \n"
              + "Max locked memory         \(memlock.0)             \(memlock.1)             bytes     \n")
        write("proc/self/mountinfo", mounts.enumerated().map { index, mount in
            "\(20 + index) 1 \(mount.device) / \(mount.mountPoint) rw,relatime shared:1 - \(mount.fileSystem) \(mount.source) rw\n"
        }.joined())
        write("proc/swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
              + swaps.map { "\($0)                               partition\t8388604\t\t0\t\t-2\n" }.joined())
        write("proc/net/route", "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
              + ipv4Routes.map { route in
                  route.isDefault ? "\(route.interface)\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
                      : "\(route.interface)\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
              }.joined())
        write("proc/net/ipv6_route", "")
        write("proc/net/if_inet6", "")
        write(".vfioctl/addresses", ipv4Addresses.keys.sorted().flatMap { name in ipv4Addresses[name]!.map { "\(name) \($0)\n" } }.joined())
        for (name, master) in netMasters {
            makeDirectory("sys/devices/virtual/net/\(master)")
            if let target = netDevicePath(name) { link(target + "/master", to: "sys/devices/virtual/net/\(master)") }
        }
        for (name, state) in netStates {
            guard let target = netDevicePath(name) else { continue }
            write(target + "/operstate", state + "\n")
            write(target + "/flags", state == "up" ? "0x1003\n" : "0x1002\n")
        }
        for stacked in stackedBlockDevices {
            let path = "sys/devices/virtual/block/" + stacked.name
            write(path + "/dev", stacked.device + "\n")
            link("sys/class/block/" + stacked.name, to: path)
            for member in stacked.members {
                guard let memberPath = blockDevicePath(member) else { continue }
                link(memberPath + "/holders/" + stacked.name, to: path)
            }
        }
        for (framebuffer, owner) in framebuffers {
            guard let address = PCIAddress(owner) else { continue }
            let path = devicePath(address) + "/graphics/" + framebuffer
            makeDirectory(path)
            link("sys/class/graphics/" + framebuffer, to: path)
        }
    }

    func netDevicePath(_ name: String) -> String? {
        functions.first { $0.netInterfaces.contains(name) }.map { devicePath($0.address) + "/net/" + name }
    }

    func blockDevicePath(_ name: String) -> String? {
        for f in functions {
            if let entry = f.blockDevices.first(where: { $0.name == name }) { return devicePath(f.address) + "/" + entry.path }
        }
        return nil
    }

    // MARK: file primitives (relative to root)

    /// mkdir -p under the root, as vfioctl makes directories (links inside the tree followed).
    public func makeDirectory(_ relative: String) {
        _ = try? FileWrite.makeDirectories(relative, under: root)
    }

    public func write(_ relative: String, _ text: String, mode: mode_t = 0o644) {
        writeBytes(relative, Array(text.utf8), mode: mode)
    }

    public func writeBytes(_ relative: String, _ bytes: [UInt8], mode: mode_t = 0o644) {
        makeDirectory(SysfsPaths.directory(of: relative))
        let path = root + "/" + relative
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode)
        precondition(fd >= 0, "cannot write \(path)")
        let written = FileWrite.all(fd, bytes)
        precondition(written, "cannot write \(path)")
        close(fd)
        chmod(path, mode)
    }

    /// A link at `relative` to `target` (both relative to the root), written relative as sysfs does.
    public func link(_ relative: String, to target: String) {
        makeDirectory(SysfsPaths.directory(of: relative))
        let from = SysfsPaths.directory(of: relative).split(separator: "/")
        let to = target.split(separator: "/")
        var common = 0
        while common < from.count, common < to.count, from[common] == to[common] { common += 1 }
        let text = (Array(repeating: "..", count: from.count - common) + to[common...].map(String.init))
            .joined(separator: "/")
        unlink(root + "/" + relative)
        symlink(text, root + "/" + relative)
    }
}

extension FakeFunction {
    /// An SR-IOV network PF (class 0x020000) as its driver shows it: sriov_totalvfs, autoprobe,
    /// First VF Offset and VF Stride (nil: not written), and its netdev.
    public static func networkPF(_ address: String, vendor: UInt16 = 0x8086, device: UInt16, group: Int, driver: String, netdev: String,
                                 total: Int, autoprobe: Bool, offset: Int? = nil, stride: Int? = nil) -> FakeFunction {
        var pf = FakeFunction(address, vendor: vendor, device: device, class: 0x020000, group: group, driver: driver)
        pf.sriov = (total: total, autoprobe: autoprobe)
        if let offset, let stride { pf.extraAttributes = ["sriov_offset": String(offset), "sriov_stride": String(stride)] }
        pf.netInterfaces = [netdev]
        return pf
    }

    /// VF `index` of `pf`.
    public static func virtualFunction(_ address: String, of pf: FakeFunction, index: Int, device: UInt16, group: Int, driver: String?) -> FakeFunction {
        var vf = FakeFunction(address, vendor: pf.vendorID, device: device, class: pf.classCode, group: group, driver: driver)
        vf.physfn = (pf.address, index)
        return vf
    }
}
