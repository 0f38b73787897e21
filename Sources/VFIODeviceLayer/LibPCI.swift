import CPCIShim
import CSysShim
import Glibc
import VFIOCore

/// libpci, pointed at the root's sys/bus/pci (`sysfs.path`), for pci.ids names and for
/// config-space capabilities. One instance per thread: libpci handles are not shared.
final class LibPCI {
    private let handle: OpaquePointer

    /// `idsPath`: a pci.ids file; nil for libpci's default (/usr/share/misc/pci.ids).
    init(root: HostRoot, idsPath: String? = nil) throws(VFIOError) {
        var message = [CChar](repeating: 0, count: 256)
        guard let handle = vfioctl_pci_open(root.path("sys/bus/pci"), idsPath, &message, Int32(message.count)) else {
            throw .failed("libpci could not start: " + message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) },
                          hint: "check that libpci3 is installed and the root holds sys/bus/pci")
        }
        // libpci reads pci.ids with a blocking gzopen: a FIFO or device there would hang it. It
        // opens the name given, and for a name ending in .gz also the name without it.
        if let ids = vfioctl_pci_ids_path(handle).map({ String(cString: $0) }) {
            for path in ids.hasSuffix(".gz") ? [ids, String(ids.dropLast(3))] : [ids] {
                if let kind = FileRead.nonRegular(path) {
                    vfioctl_pci_close(handle)
                    throw .failed("the pci.ids file \(path.printable) is \(kind), not a regular file",
                                  hint: idsPath != nil ? "point VFIOCTL_PCI_IDS at a pci.ids file, or unset it"
                                      : "reinstall pci.ids (apt-get install --reinstall pci.ids, or pciutils)")
                }
            }
        }
        self.handle = handle
    }

    deinit { vfioctl_pci_close(handle) }

    private func lookup(_ body: (UnsafeMutablePointer<CChar>, Int32) -> Int32) -> String? {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 256) { buffer in
            guard let base = buffer.baseAddress, body(base, Int32(buffer.count)) == 1 else { return nil }
            return String(cString: base)
        }
    }

    /// Loads pci.ids now (it otherwise loads on the first lookup); false when it could not.
    @discardableResult
    func loadNames() -> Bool { vfioctl_pci_load_names(handle) != 0 }

    /// A handle that names from only the part of this handle's pci.ids that functions of
    /// `vendors` need (`PCIIDs.excerpt`, handed to libpci in a memfd), names loaded. nil when
    /// that cannot be done (a compressed pci.ids, a file not read, no /proc/self/fd): name from this one.
    func excerpt(root: HostRoot, devices: [UInt16: Set<UInt16>], vendors: Set<UInt16>) -> LibPCI? {
        guard var path = vfioctl_pci_ids_path(handle).map({ String(cString: $0) }) else { return nil }
        // As libpci opens it: NAME.gz when there is one (left to libpci), else NAME.
        if path.hasSuffix(".gz") {
            guard !FileRead.exists(path) else { return nil }
            path.removeLast(3)
        }
        guard let bytes = FileRead.bytes(path, limit: 64 << 20) else { return nil }
        let text = bytes.withUnsafeBytes { PCIIDs.excerpt($0, devices: devices, vendors: vendors) }
        let fd = vfioctl_memfd("pci.ids")
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard FileWrite.all(fd, text), let pci = try? LibPCI(root: root, idsPath: "/proc/self/fd/\(fd)"),
              pci.loadNames() else { return nil }
        return pci
    }

    func vendorName(_ vendor: UInt16) -> String? {
        lookup { vfioctl_pci_vendor_name(handle, $0, $1, vendor) }
    }

    func deviceName(_ vendor: UInt16, _ device: UInt16) -> String? {
        lookup { vfioctl_pci_device_name(handle, $0, $1, vendor, device) }
    }

    func subsystemName(_ vendor: UInt16, _ device: UInt16, _ subvendor: UInt16, _ subdevice: UInt16) -> String? {
        lookup { vfioctl_pci_subsystem_name(handle, $0, $1, vendor, device, subvendor, subdevice) }
    }

    func subsystemVendorName(_ subvendor: UInt16) -> String? {
        lookup { vfioctl_pci_subsystem_vendor_name(handle, $0, $1, subvendor) }
    }

    /// The class name without its code: when pci.ids knows the base class but not the subclass,
    /// libpci answers "Unassigned class [ffff]", and every renderer adds the code itself.
    func className(_ classCode: UInt32) -> String? {
        let code = UInt16(truncatingIfNeeded: classCode >> 8)
        guard let name = lookup({ vfioctl_pci_class_name(handle, $0, $1, code) }) else { return nil }
        let suffix = " [" + HexDigits.padded(UInt64(code), width: 4) + "]"
        return name.hasSuffix(suffix) ? String(name.dropLast(suffix.count)) : name
    }

    /// The header registers and capabilities of one function.
    struct ConfigRead {
        var vendorID: UInt16
        var deviceID: UInt16
        var classCode: UInt32
        var revision: UInt8
        var headerType: UInt8
        var subsystemVendorID: UInt16
        var subsystemDeviceID: UInt16
        /// The header's BAR registers (six for type 0; unused ones 0).
        var barRegisters: [UInt32]
        var capabilities: ConfigCapabilities
    }

    /// Reads config space through libpci's own sysfs access (sysfs.path under the root). The
    /// reader decodes bytes it read itself (fewer syscalls); the tests use this to show libpci's
    /// own access to the same tree gives the same answers.
    func readConfig(_ address: PCIAddress, sizeHint: Int) -> ConfigRead? {
        var caps = vfioctl_pci_caps()
        guard vfioctl_pci_read_caps(handle, address.domain, Int32(address.bus), Int32(address.device),
                                    Int32(address.function), Int32(sizeHint), &caps) == 1 else { return nil }
        return ConfigRead(caps)
    }

    /// Decodes config space bytes already read: libpci walks the capabilities over them.
    func decodeConfig(_ address: PCIAddress, _ bytes: UnsafeRawBufferPointer) -> ConfigRead? {
        var caps = vfioctl_pci_caps()
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self),
              vfioctl_pci_decode_caps(handle, address.domain, Int32(address.bus), Int32(address.device),
                                      Int32(address.function), base, Int32(bytes.count), &caps) == 1
        else { return nil }
        return ConfigRead(caps)
    }
}

extension LibPCI.ConfigRead {
    init(_ caps: vfioctl_pci_caps) {
        let list = caps.caps_readable != 0
        let extended = list && caps.ext_caps_read != 0
        func known<T>(_ value: T) -> T? { list ? value : nil }
        let pcie = caps.has_pcie != 0
        let link = caps.has_link != 0 ? PCIeLink(maxSpeed: PCIeLinkSpeed(code: caps.link_cap_speed), maxWidth: Int(caps.link_cap_width),
                                                 speed: PCIeLinkSpeed(code: caps.link_sta_speed), width: Int(caps.link_sta_width)) : nil
        let rebar = withUnsafeBytes(of: caps.rebar) { raw in
            Array(raw.bindMemory(to: vfioctl_pci_rebar.self).prefix(Int(caps.rebar_count)))
        }
        let capabilities = ConfigCapabilities(
            configLength: Int(caps.config_len),
            listReadable: list,
            extendedConfigReadable: extended,
            isPCIe: known(pcie),
            pcieType: pcie ? PCIePortType(rawValue: caps.pcie_type) : nil,
            flr: known(caps.devcap_flr != 0),
            afFLR: known(caps.af_flr != 0),
            hasPowerManagement: known(caps.has_pm != 0),
            pmNoSoftReset: caps.pm_no_soft_reset != 0,
            link: link,
            msi: caps.has_msi != 0 ? MSICapability(control: caps.msi_ctrl) : nil,
            msix: caps.has_msix != 0 ? MSIXCapability(control: caps.msix_ctrl) : nil,
            acs: caps.has_acs != 0 ? ACSCapability(capability: caps.acs_cap, control: caps.acs_ctrl,
                                                                      controlAtEight: caps.acs_spt_ctrl) : nil,
            sriov: caps.has_sriov != 0 ? SRIOVCapability(initialVFs: Int(caps.sriov_initial_vfs), totalVFs: Int(caps.sriov_total_vfs),
                                                         numVFs: Int(caps.sriov_num_vfs), offset: Int(caps.sriov_offset),
                                                         stride: Int(caps.sriov_stride), vfDeviceID: caps.sriov_vf_device) : nil,
            hasARI: extended ? caps.has_ari != 0 : nil,
            serialNumber: caps.has_dsn != 0 ? caps.dsn : nil,
            resizableBARs: rebar.map { ResizableBAR(bar: Int($0.bar), current: Int($0.current), supported: $0.supported) })
        let registers = withUnsafeBytes(of: caps.bars) { Array($0.bindMemory(to: UInt32.self)) }
        self.init(vendorID: caps.vendor_id, deviceID: caps.device_id, classCode: caps.class_code,
                  revision: caps.revision, headerType: caps.header_type, subsystemVendorID: caps.subsystem_vendor_id,
                  subsystemDeviceID: caps.subsystem_device_id, barRegisters: registers, capabilities: capabilities)
    }
}
