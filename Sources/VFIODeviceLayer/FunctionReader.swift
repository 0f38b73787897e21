import CSysShim
import Glibc
import VFIOCore

/// Reads one PCI function's directory. Pure reading: values become a PCIFunction as they are;
/// no judgement about what they mean for passthrough.
///
/// Cost matters (thousands of functions on SR-IOV hosts, and a syscall is dear in a VM): the
/// directory is opened once (O_PATH) and every attribute relative to it; optional attributes
/// are probed instead of listing the directory; values are parsed from a reused buffer without
/// a String per value; config space is read with one pread and decoded by libpci in memory.
struct FunctionReader: Sendable {
    let root: HostRoot
    /// sys/bus/pci/devices, open: each function's link there is read relative to it.
    let busDevices: RootDirectory?

    init(root: HostRoot) {
        self.root = root
        busDevices = root.pathDirectory(SysfsLayout.busDevices)
    }

    /// The function's real directory under sys/devices, from its sys/bus/pci/devices entry.
    func devicePath(ofBusEntry name: String) -> String {
        let entry = SysfsLayout.busDevices + "/" + name
        guard let target = root.link(entry) else { return entry } // a plain directory
        return SysfsPaths.resolve(link: target, in: SysfsLayout.busDevices)
    }

    /// The counts and positions in an SR-IOV capability are 16-bit registers (TotalVFs, NumVFs,
    /// First VF Offset, VF Stride: PCIe 6.0 9.3.3.5-9.3.3.10).
    static let sriovRegister = 0...0xffff
    /// A `%d` attribute of the kernel (numa_node) and an IOMMU group id (an ida id: a non-negative int).
    static let kernelInt = Int(Int32.min)...Int(Int32.max)
    static let groupID = 0...Int(Int32.max)

    /// Reads the function; nil when its directory cannot be opened or it has no usable identity.
    /// Throws when the directory holds what the kernel never writes: a number out of its range or
    /// not a number, a count beyond its capability register, a FIFO or device for an attribute.
    func read(_ address: PCIAddress, busEntry: String, pci: LibPCI, scratch: Scratch) throws(VFIOError) -> PCIFunction? {
        let entry = SysfsLayout.busDevices + "/" + busEntry
        let path = busDevices.flatMap { bus in
            scratch.link(at: bus.fd, busEntry) { SysfsPaths.resolve(link: $0, in: SysfsLayout.busDevices) }
        } ?? entry
        guard let directory = PathDirectory(path, scratch: scratch, shownAs: entry, root: root) else { return nil }
        let config = try readConfig(directory, address, pci)

        // Identity: `uevent` (one read for ids, class and subsystem, as the kernel derives them), else
        // the separate attributes, else config space for what a damaged tree lacks.
        let uevent = try directory.attribute("uevent", PCIUevent.init(bytes:)) ?? nil
        let vendor: UInt16
        let device: UInt16
        let classCode: UInt32
        var subsystem: (UInt16?, UInt16?) = (nil, nil)
        if let uevent {
            (vendor, device, classCode) = (uevent.vendorID, uevent.deviceID, uevent.classCode)
            subsystem = (uevent.subsystemVendorID, uevent.subsystemDeviceID)
        } else {
            guard let v = try directory.hex16("vendor") ?? config?.vendorID,
                  let d = try directory.hex16("device") ?? config?.deviceID,
                  let c = try directory.attribute("class", Bytes.hex).flatMap({ $0.flatMap { $0 <= 0xffffff ? UInt32($0) : nil } })
                    ?? config?.classCode
            else { return nil }
            (vendor, device, classCode) = (v, d, c)
        }

        var f = PCIFunction(address: address, vendorID: vendor, deviceID: device, classCode: classCode, sysfsPath: path)
        // Config space is the kernel's source for the revision and the subsystem ids.
        // It is genuine when its ids agree with the kernel's (a VF's read as ffff by design).
        let genuine = config.map { ($0.vendorID == vendor && $0.deviceID == device) || $0.vendorID == 0xffff } ?? false
        if let config, genuine {
            f.revision = config.revision
        } else {
            f.revision = try directory.attribute("revision", Bytes.hex).flatMap { $0.flatMap(UInt8.init(exactly:)) }
                ?? config?.revision
        }
        if uevent == nil || subsystem.0 == nil {
            // A type 0 header holds them at 0x2c, a CardBus bridge's at 0x40; a PCI bridge has none.
            let header = config.map { $0.headerType & 0x7f }
            if let config, genuine, config.vendorID != 0xffff, header == 0 || (header == 2 && config.capabilities.configLength >= 256) {
                subsystem = (config.subsystemVendorID, config.subsystemDeviceID)
            } else {
                subsystem = (try directory.hex16("subsystem_vendor"), try directory.hex16("subsystem_device"))
            }
        }
        (f.subsystemVendorID, f.subsystemDeviceID) = subsystem
        f.headerType = config?.headerType
        f.capabilities = config?.capabilities
        f.bars = config.map { BAR.from(registers: $0.barRegisters) }
        if let caps = config?.capabilities, caps.listReadable {
            f.link = caps.link
        } else {
            // Config space too short for the capability list (an unprivileged reader): the
            // kernel's own link attributes, which exist for PCIe functions only.
            f.link = try linkAttributes(directory)
        }
        f.driverOverride = try directory.attribute("driver_override") { bytes -> String? in
            let value = Bytes.trimmed(bytes)
            return value.isEmpty || Bytes.string(value) == "(null)" ? nil : Bytes.string(value)
        } ?? nil
        f.numaNode = try directory.integer("numa_node", in: Self.kernelInt).flatMap { $0 >= 0 ? $0 : nil }
        if let methods = try directory.attribute("reset_method", SysfsValues.words) {
            f.resetMethods = methods
            // The kernel creates `reset` exactly when some reset method exists.
            f.hasResetAttribute = !methods.isEmpty || directory.exists("reset")
        } else {
            f.hasResetAttribute = directory.exists("reset")
        }
        if f.baseClass == 0x03 {
            f.bootVGA = try directory.integer("boot_vga", in: 0...1).map { $0 != 0 }
        }

        if let driver = directory.link("driver", { Bytes.string(Bytes.lastComponent($0)) }) {
            f.driver = driver
            // vfio-pci and its variant drivers (mlx5_vfio_pci, pds_vfio_pci, ...) create vfio-dev/,
            // and so do drivers named otherwise that register a VFIO device (NVIDIA's vGPU VFs on
            // `nvidia`): the group is then usable by VFIO, whatever the driver's name.
            f.hasVFIODevice = directory.exists("vfio-dev")
            // Its character device (Linux 6.6, CONFIG_VFIO_DEVICE_CDEV): vfio-dev/vfioN/dev.
            if f.hasVFIODevice {
                f.vfioCdev = directory.entries("vfio-dev")?.sorted().first { name in
                    name.hasPrefix("vfio") && directory.exists(path: "vfio-dev/" + name + "/dev")
                }
            }
        }
        f.iommuGroup = try directory.group()
        f.physfn = directory.link("physfn") { PCIAddress(bytes: Bytes.lastComponent($0)) } ?? nil

        // A VF never has SR-IOV of its own.
        if f.physfn == nil, let (total, numVFs, vfs) = try virtualFunctions(directory, entry: entry) {
            f.sriov = SRIOVInfo(
                totalVFs: total,
                numVFs: numVFs,
                driversAutoprobe: try directory.integer("sriov_drivers_autoprobe", in: 0...1).map { $0 != 0 },
                vfIndices: vfs,
                vfDeviceID: try directory.hex16("sriov_vf_device"),
                offset: try directory.integer("sriov_offset", in: Self.sriovRegister),
                stride: try directory.integer("sriov_stride", in: Self.sriovRegister))
        }

        let ancestors = SysfsPaths.pciAncestors(in: path)
        if let position = ancestors.lastIndex(of: address), position > 0 { f.parent = ancestors[position - 1] }
        return f
    }

    /// The summary of a function (`ObservationScope.Depth.summary`): its identity and where it is
    /// bound, nothing else. ids and class from `uevent` (else the separate attributes), the
    /// NUMA node, the driver (and its vfio-dev/), the IOMMU group, the PF of a VF, and a PF's
    /// VF counts and `virtfnN` links. The directory is opened through its sys/bus/pci/devices
    /// entry inside the root (the kernel resolves the link, `HostRoot.open`), so `sysfsPath` is
    /// that entry and `parent` is not known. Damage is refused as `read` refuses it. About half
    /// the syscalls of `read` and no config space: `metrics` reads thousands of functions a minute.
    func summary(_ address: PCIAddress, busEntry: String, scratch: Scratch) throws(VFIOError) -> PCIFunction? {
        let entry = SysfsLayout.busDevices + "/" + busEntry
        guard let directory = PathDirectory(entry, scratch: scratch, shownAs: entry, root: root) else { return nil }
        let vendor: UInt16, device: UInt16, classCode: UInt32
        var subsystem: (UInt16?, UInt16?) = (nil, nil)
        if let uevent = try directory.attribute("uevent", PCIUevent.init(bytes:)) ?? nil {
            (vendor, device, classCode) = (uevent.vendorID, uevent.deviceID, uevent.classCode)
            subsystem = (uevent.subsystemVendorID, uevent.subsystemDeviceID)
        } else {
            guard let v = try directory.hex16("vendor"), let d = try directory.hex16("device"),
                  let c = try directory.attribute("class", Bytes.hex).flatMap({ $0.flatMap { $0 <= 0xffffff ? UInt32($0) : nil } })
            else { return nil }
            (vendor, device, classCode) = (v, d, c)
        }
        var f = PCIFunction(address: address, vendorID: vendor, deviceID: device, classCode: classCode, sysfsPath: entry)
        (f.subsystemVendorID, f.subsystemDeviceID) = subsystem
        f.numaNode = try directory.integer("numa_node", in: Self.kernelInt).flatMap { $0 >= 0 ? $0 : nil }
        if let driver = directory.link("driver", { Bytes.string(Bytes.lastComponent($0)) }) {
            f.driver = driver
            f.hasVFIODevice = directory.exists("vfio-dev")
        }
        f.iommuGroup = try directory.group()
        f.physfn = directory.link("physfn") { PCIAddress(bytes: Bytes.lastComponent($0)) } ?? nil
        if f.physfn == nil, let (total, numVFs, vfs) = try virtualFunctions(directory, entry: entry) {
            f.sriov = SRIOVInfo(totalVFs: total, numVFs: numVFs, driversAutoprobe: nil, vfIndices: vfs, vfDeviceID: nil, offset: nil, stride: nil)
        }
        return f
    }

    /// A PF's VF counts and its `virtfnN` links (nil when the function has no `sriov_totalvfs`):
    /// what the full read and the summary both read of SR-IOV. More enabled VFs than the total
    /// allows is damage. At most 65535 links: the count is bounded by its register.
    private func virtualFunctions(_ directory: borrowing PathDirectory, entry: String) throws(VFIOError)
        -> (total: Int, numVFs: Int, vfs: [Int: PCIAddress])? {
        guard let total = try directory.integer("sriov_totalvfs", in: Self.sriovRegister) else { return nil }
        let numVFs = try directory.integer("sriov_numvfs", in: Self.sriovRegister) ?? 0
        guard numVFs <= total else {
            throw .failed("\(entry)/sriov_numvfs holds '\(numVFs)', more than the \(total) VFs its sriov_totalvfs allows",
                          hint: TreeDamage.hint(root))
        }
        var vfs: [Int: PCIAddress] = [:]
        for index in 0..<numVFs {
            if let vf = directory.link("virtfn\(index)", { PCIAddress(bytes: Bytes.lastComponent($0)) }) ?? nil { vfs[index] = vf }
        }
        return (total, numVFs, vfs)
    }

    /// max_link_speed / max_link_width / current_link_speed / current_link_width (drivers/pci/pci-sysfs.c:
    /// "8.0 GT/s PCIe", "Unknown"; widths in decimal); nil when the function has none (not PCIe).
    private func linkAttributes(_ directory: borrowing PathDirectory) throws(VFIOError) -> PCIeLink? {
        func speed(_ name: StaticString) throws(VFIOError) -> PCIeLinkSpeed?? {
            try directory.attribute(name) { PCIeLinkSpeed(kernelText: Bytes.string(Bytes.trimmed($0))) }
        }
        let maxSpeed = try speed("max_link_speed"), currentSpeed = try speed("current_link_speed")
        let maxWidth = try directory.integer("max_link_width", in: 0...255)
        let width = try directory.integer("current_link_width", in: 0...255)
        guard maxSpeed != nil || currentSpeed != nil || maxWidth != nil || width != nil else { return nil }
        return PCIeLink(maxSpeed: maxSpeed ?? nil, maxWidth: maxWidth, speed: currentSpeed ?? nil, width: width)
    }

    /// The kernel's `resource` file: every BAR with its flags, address and size (VFs' included).
    /// Nil when there is none or it is not what the kernel writes.
    func resources(of f: PCIFunction) -> [BAR]? {
        root.text(f.sysfsPath + "/resource", limit: 4096).flatMap { BAR.from(resourceFile: $0) }
    }

    /// One pread of up to 4096 bytes; the length read says how much config space is visible
    /// (64 bytes to unprivileged readers, 256 for conventional PCI, 4096 for PCIe).
    private func readConfig(_ directory: borrowing PathDirectory, _ address: PCIAddress, _ pci: LibPCI) throws(VFIOError) -> LibPCI.ConfigRead? {
        let fd: Int32
        switch FileRead.openRegular(at: directory.fd, "config", following: false) {
        case .success(let opened): fd = opened
        case .failure(.notRegular(let kind)): throw TreeDamage.notAFile(directory.shownAs + "/config", kind, root)
        case .failure: return nil
        }
        defer { close(fd) }
        let buffer = directory.scratch.config
        var count = 0
        while count < buffer.count {
            let got = pread(fd, buffer.baseAddress! + count, buffer.count - count, off_t(count))
            if got < 0 && errno == EINTR { continue }
            if got <= 0 { break }
            count += got
        }
        return pci.decodeConfig(address, UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
    }
}

/// Errors for a tree that holds what the kernel never writes: the file (relative to the root)
/// and what is in it, and how to get a sound tree.
enum TreeDamage {
    static func hint(_ root: HostRoot) -> String {
        root.isLive ? "the kernel wrote what vfioctl does not expect: report it with a copy made by 'vfioctl snapshot DIR'"
            : "the tree under \(root) is damaged or was not written by the kernel: take a fresh 'vfioctl snapshot DIR' of the host"
    }

    /// An attribute whose text is not a number, or a number outside `range`.
    static func value(_ path: String, _ text: String, range: ClosedRange<Int>? = nil, _ root: HostRoot) -> VFIOError {
        let bounds = range.map { " (\($0.lowerBound) to \($0.upperBound))" } ?? ""
        return .failed("\(path) holds '\(text.printable)', not a number the kernel writes\(bounds)", hint: hint(root))
    }

    static func notAFile(_ path: String, _ kind: FileRead.Kind, _ root: HostRoot) -> VFIOError {
        .failed("\(path) is \(kind), not a file the kernel writes", hint: hint(root))
    }
}

/// Per-worker buffers, reused for every attribute, link and config read.
final class Scratch: @unchecked Sendable {
    let text = UnsafeMutableRawBufferPointer.allocate(byteCount: 4097, alignment: 8)
    let config = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 8)

    deinit {
        text.deallocate()
        config.deallocate()
    }

    /// Parses the text of link `name` in directory `fd` (valid only inside `parse`); nil when it is not a link.
    func link<T>(at fd: Int32, _ name: String, _ parse: (UnsafeRawBufferPointer) -> T) -> T? {
        let count = readlinkat(fd, name, text.baseAddress!.assumingMemoryBound(to: CChar.self), text.count)
        guard count > 0 else { return nil }
        return parse(UnsafeRawBufferPointer(rebasing: text[0..<count]))
    }
}

/// A directory opened with O_PATH: enough for openat/readlinkat/fstatat relative to it, and
/// the cheapest open there is. Opened inside the root (HostRoot.open), and its attributes
/// with O_NOFOLLOW: sysfs attributes are never links, so none leads out of the tree. Not
/// copyable: it owns the descriptor.
struct PathDirectory: ~Copyable {
    let fd: Int32
    let scratch: Scratch
    /// The directory as messages name it, relative to the root (a function's sys/bus/pci/devices entry).
    let shownAs: String
    let root: HostRoot

    init?(_ path: String, scratch: Scratch, shownAs: String, root: HostRoot) {
        let fd = root.open(path, PathDirectory.oPath | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        self.fd = fd
        self.scratch = scratch
        self.shownAs = shownAs
        self.root = root
    }

    deinit { close(fd) }

    static let oPath = vfioctl_o_path()

    /// Parses an attribute's bytes (valid only inside `parse`); nil when the attribute is absent
    /// or unreadable. Something other than a regular file there (a FIFO, a device, a directory)
    /// is an error naming it: it is never opened for a read that could block.
    /// A sysfs attribute is at most a page and comes back in one read.
    func attribute<T>(_ name: StaticString, _ parse: (UnsafeRawBufferPointer) -> T) throws(VFIOError) -> T? {
        let path = UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)
        let file: Int32
        switch FileRead.openRegular(at: fd, path, following: false) {
        case .success(let opened): file = opened
        case .failure(.notRegular(let kind)): throw TreeDamage.notAFile(shownAs + "/" + name.description, kind, root)
        case .failure: return nil
        }
        defer { close(file) }
        let buffer = scratch.text
        var count = 0
        while count < buffer.count {
            let got = Glibc.read(file, buffer.baseAddress! + count, buffer.count - count)
            if got < 0 && errno == EINTR { continue }
            if got < 0 { return nil }
            count += got
            if got == 0 || count < 4096 { break }
        }
        return parse(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
    }

    /// What an attribute or link holds that should be a number.
    private enum Number {
        case value(Int)
        case out(of: ClosedRange<Int>, text: String)
        case notANumber(String)
    }

    /// A decimal attribute the kernel writes as a number in `range`: nil when absent; an error
    /// naming the file and its text when it holds anything else (junk, a number beyond Int or
    /// outside the range, nothing).
    func integer(_ name: StaticString, in range: ClosedRange<Int>) throws(VFIOError) -> Int? {
        let number = try attribute(name) { bytes -> Number in
            switch Bytes.integer(bytes) {
            case .value(let value) where range.contains(value): .value(value)
            case .value: .out(of: range, text: Bytes.string(Bytes.trimmed(bytes)))
            case .empty, .malformed, .overflow: .notANumber(Bytes.string(Bytes.trimmed(bytes)))
            }
        }
        switch number {
        case nil: return nil
        case .value(let value)?: return value
        case .out(let range, let text)?: throw TreeDamage.value(shownAs + "/" + name.description, text, range: range, root)
        case .notANumber(let text)?: throw TreeDamage.value(shownAs + "/" + name.description, text, root)
        }
    }

    /// The IOMMU group the `iommu_group` link names ("../../../kernel/iommu_groups/14" → 14); nil
    /// without the link; an error when its last component is not a group number.
    func group() throws(VFIOError) -> Int? {
        let number = link("iommu_group") { target -> Number in
            if case .value(let id) = Bytes.integer(Bytes.lastComponent(target), .name), FunctionReader.groupID.contains(id) {
                return .value(id)
            }
            return .notANumber(Bytes.string(target))
        }
        switch number {
        case nil: return nil
        case .value(let id)?: return id
        case .out(_, let target)?, .notANumber(let target)?:
            throw .failed("\(shownAs)/iommu_group links to '\(target.printable)', not an IOMMU group the kernel makes "
                          + "(sys/kernel/iommu_groups/N, N from 0 to \(Int32.max))", hint: TreeDamage.hint(root))
        }
    }

    func hex16(_ name: StaticString) throws(VFIOError) -> UInt16? {
        try attribute(name, Bytes.hex).flatMap { $0.flatMap(UInt16.init(exactly:)) }
    }

    /// Parses a link's text (valid only inside `parse`); nil when there is no such link.
    func link<T>(_ name: StaticString, _ parse: (UnsafeRawBufferPointer) -> T) -> T? {
        link(path: UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self), parse)
    }

    func link<T>(_ name: String, _ parse: (UnsafeRawBufferPointer) -> T) -> T? {
        name.withCString { link(path: $0, parse) }
    }

    private func link<T>(path name: UnsafePointer<CChar>, _ parse: (UnsafeRawBufferPointer) -> T) -> T? {
        let buffer = scratch.text
        let count = readlinkat(fd, name, buffer.baseAddress!.assumingMemoryBound(to: CChar.self), buffer.count)
        guard count > 0 else { return nil }
        return parse(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
    }

    func exists(_ name: StaticString) -> Bool {
        var info = stat()
        return fstatat(fd, UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self), &info, AT_SYMLINK_NOFOLLOW) == 0
    }

    /// Whether anything is at `path` below the directory, no link followed on the way: a link
    /// component fails the lookup (O_PATH | O_NOFOLLOW on each part), so it stays in the tree.
    func exists(path: String) -> Bool {
        var base = fd
        var opened: [Int32] = []
        defer { for descriptor in opened { close(descriptor) } }
        let parts = path.split(separator: "/").map(String.init)
        for part in parts.dropLast() {
            let next = openat(base, part, PathDirectory.oPath | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard next >= 0 else { return false }
            opened.append(next)
            base = next
        }
        guard let last = parts.last else { return false }
        var info = stat()
        return fstatat(base, last, &info, AT_SYMLINK_NOFOLLOW) == 0
    }

    /// The entry names of a subdirectory (not a link to one); nil when there is none.
    func entries(_ name: StaticString) -> [String]? {
        let path = UnsafeRawPointer(name.utf8Start).assumingMemoryBound(to: CChar.self)
        return Directory(descriptor: openat(fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC))?.entries()
    }
}
