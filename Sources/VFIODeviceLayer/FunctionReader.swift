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
struct FunctionReader {
    let root: HostRoot

    /// The function's real directory under sys/devices, from its sys/bus/pci/devices entry.
    func devicePath(ofBusEntry name: String) -> String {
        let entry = SysfsLayout.busDevices + "/" + name
        guard let target = FileRead.link(root.path(entry)) else { return entry } // a plain directory
        return SysfsPaths.resolve(link: target, in: SysfsLayout.busDevices)
    }

    /// Reads the function; nil when its directory cannot be opened or it has no usable identity.
    func read(_ address: PCIAddress, busEntry: String, pci: LibPCI, scratch: Scratch) -> PCIFunction? {
        let entry = SysfsLayout.busDevices + "/" + busEntry
        let path = scratch.link(root.path(entry)) { SysfsPaths.resolve(link: $0, in: SysfsLayout.busDevices) } ?? entry
        guard let directory = PathDirectory(root.path(path), scratch: scratch) else { return nil }
        let config = readConfig(directory, address, pci)

        // Identity: `uevent` (one read for ids, class and subsystem, as the kernel derives them), else
        // the separate attributes, else config space for what a damaged tree lacks.
        let uevent = directory.attribute("uevent", PCIUevent.init(bytes:)) ?? nil
        let vendor: UInt16
        let device: UInt16
        let classCode: UInt32
        var subsystem: (UInt16?, UInt16?) = (nil, nil)
        if let uevent {
            (vendor, device, classCode) = (uevent.vendorID, uevent.deviceID, uevent.classCode)
            subsystem = (uevent.subsystemVendorID, uevent.subsystemDeviceID)
        } else {
            guard let v = directory.hex16("vendor") ?? config?.vendorID,
                  let d = directory.hex16("device") ?? config?.deviceID,
                  let c = directory.attribute("class", Bytes.hex).flatMap({ $0.flatMap { $0 <= 0xffffff ? UInt32($0) : nil } })
                    ?? config?.classCode
            else { return nil }
            (vendor, device, classCode) = (v, d, c)
        }

        var f = PCIFunction(address: address, vendorID: vendor, deviceID: device, classCode: classCode, sysfsPath: path)
        // Config space is the kernel's source for the revision and a type-0 header's subsystem ids.
        // It is genuine when its ids agree with the kernel's (a VF's read as ffff by design).
        let genuine = config.map { ($0.vendorID == vendor && $0.deviceID == device) || $0.vendorID == 0xffff } ?? false
        if let config, genuine {
            f.revision = config.revision
        } else {
            f.revision = directory.attribute("revision", Bytes.hex).flatMap { $0.flatMap(UInt8.init(exactly:)) }
                ?? config?.revision
        }
        if uevent == nil || subsystem.0 == nil {
            if let config, genuine, config.vendorID != 0xffff, config.headerType & 0x7f == 0 {
                subsystem = (config.subsystemVendorID, config.subsystemDeviceID)
            } else {
                subsystem = (directory.hex16("subsystem_vendor"), directory.hex16("subsystem_device"))
            }
        }
        (f.subsystemVendorID, f.subsystemDeviceID) = subsystem
        f.headerType = config?.headerType
        f.capabilities = config?.capabilities
        f.driverOverride = directory.attribute("driver_override") { bytes -> String? in
            let value = Bytes.trimmed(bytes)
            return value.isEmpty || Bytes.string(value) == "(null)" ? nil : Bytes.string(value)
        } ?? nil
        f.numaNode = directory.attribute("numa_node", Bytes.int).flatMap { $0.flatMap { $0 >= 0 ? $0 : nil } }
        if let methods = directory.attribute("reset_method", SysfsValues.words) {
            f.resetMethods = methods
            // The kernel creates `reset` exactly when some reset method exists.
            f.hasResetAttribute = !methods.isEmpty || directory.exists("reset")
        } else {
            f.hasResetAttribute = directory.exists("reset")
        }
        if f.baseClass == 0x03 {
            f.bootVGA = directory.attribute("boot_vga", Bytes.int).flatMap { $0.map { $0 != 0 } }
        }

        if let (driver, isVFIO) = directory.link("driver", { link -> (String, Bool) in
            let name = Bytes.lastComponent(link)
            return (Bytes.string(name), Bytes.contains(name, "vfio"))
        }) {
            f.driver = driver
            // vfio-pci and its variant drivers (mlx5_vfio_pci, pds_vfio_pci, ...) create vfio-dev/.
            if isVFIO { f.hasVFIODevice = directory.exists("vfio-dev") }
        }
        f.iommuGroup = directory.link("iommu_group") { Bytes.int(Bytes.lastComponent($0)) } ?? nil
        f.physfn = directory.link("physfn") { PCIAddress(bytes: Bytes.lastComponent($0)) } ?? nil

        // A VF never has SR-IOV of its own.
        if f.physfn == nil, let total = directory.attribute("sriov_totalvfs", Bytes.int) ?? nil {
            let numVFs = directory.attribute("sriov_numvfs", Bytes.int).flatMap { $0 } ?? 0
            var vfs: [Int: PCIAddress] = [:]
            for index in 0..<max(0, min(numVFs, total)) {
                if let vf = directory.link("virtfn\(index)", { PCIAddress(bytes: Bytes.lastComponent($0)) }) ?? nil {
                    vfs[index] = vf
                }
            }
            f.sriov = SRIOVInfo(
                totalVFs: total,
                numVFs: numVFs,
                driversAutoprobe: directory.attribute("sriov_drivers_autoprobe", Bytes.int).flatMap { $0.map { $0 != 0 } },
                vfIndices: vfs,
                vfDeviceID: directory.hex16("sriov_vf_device"),
                offset: directory.attribute("sriov_offset", Bytes.int) ?? nil,
                stride: directory.attribute("sriov_stride", Bytes.int) ?? nil)
        }

        let ancestors = SysfsPaths.pciAncestors(in: path)
        if let position = ancestors.lastIndex(of: address), position > 0 { f.parent = ancestors[position - 1] }
        return f
    }

    /// One pread of up to 4096 bytes; the length read says how much config space is visible
    /// (64 bytes to unprivileged readers, 256 for conventional PCI, 4096 for PCIe).
    private func readConfig(_ directory: borrowing PathDirectory, _ address: PCIAddress, _ pci: LibPCI) -> LibPCI.ConfigRead? {
        let fd = openat(directory.fd, "config", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
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

/// Per-worker buffers, reused for every attribute, link and config read.
final class Scratch: @unchecked Sendable {
    let text = UnsafeMutableRawBufferPointer.allocate(byteCount: 4097, alignment: 8)
    let config = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 8)

    deinit {
        text.deallocate()
        config.deallocate()
    }

    /// Parses a link's text (valid only inside `parse`); nil when `path` is not a link.
    func link<T>(_ path: String, _ parse: (UnsafeRawBufferPointer) -> T) -> T? {
        let count = readlink(path, text.baseAddress!.assumingMemoryBound(to: CChar.self), text.count)
        guard count > 0 else { return nil }
        return parse(UnsafeRawBufferPointer(rebasing: text[0..<count]))
    }
}

/// A directory opened with O_PATH: enough for openat/readlinkat/fstatat relative to it, and
/// the cheapest open there is. Not copyable: it owns the descriptor.
struct PathDirectory: ~Copyable {
    let fd: Int32
    let scratch: Scratch

    init?(_ path: String, scratch: Scratch) {
        let fd = open(path, PathDirectory.oPath | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        self.fd = fd
        self.scratch = scratch
    }

    deinit { close(fd) }

    static let oPath = vfioctl_o_path()

    /// Parses an attribute's bytes (valid only inside `parse`); nil when the attribute is absent.
    /// A sysfs attribute is at most a page and comes back in one read.
    func attribute<T>(_ name: StaticString, _ parse: (UnsafeRawBufferPointer) -> T) -> T? {
        name.withUTF8Buffer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { attribute(path: $0.baseAddress!, parse) }
        }
    }

    private func attribute<T>(path name: UnsafePointer<CChar>, _ parse: (UnsafeRawBufferPointer) -> T) -> T? {
        let file = openat(fd, name, O_RDONLY | O_CLOEXEC)
        guard file >= 0 else { return nil }
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

    func hex16(_ name: StaticString) -> UInt16? {
        attribute(name, Bytes.hex).flatMap { $0.flatMap(UInt16.init(exactly:)) }
    }

    /// Parses a link's text (valid only inside `parse`); nil when there is no such link.
    func link<T>(_ name: StaticString, _ parse: (UnsafeRawBufferPointer) -> T) -> T? {
        name.withUTF8Buffer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { link(path: $0.baseAddress!, parse) }
        }
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
        return name.withUTF8Buffer { bytes in
            bytes.withMemoryRebound(to: CChar.self) { fstatat(fd, $0.baseAddress!, &info, AT_SYMLINK_NOFOLLOW) == 0 }
        }
    }
}
