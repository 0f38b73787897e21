import VFIOCore

/// Builds PCI configuration space bytes with real capability lists, so that libpci (not a
/// mock) decodes them in tests.
public struct ConfigSpace: Sendable {
    public var vendorID: UInt16
    public var deviceID: UInt16
    public var classCode: UInt32
    public var revision: UInt8 = 0
    /// 0 endpoint, 1 PCI-to-PCI bridge.
    public var headerType: UInt8 = 0
    public var multifunction = false
    public var subsystemVendorID: UInt16 = 0
    public var subsystemDeviceID: UInt16 = 0

    /// PCI Express capability with this port type; nil for conventional PCI (256-byte config).
    public var pcieType: PCIePortType? = .endpoint
    public var flr = false
    /// LnkCap's maximum and LnkSta's negotiated link: (speed code 1 = 2.5 GT/s ... 4 = 16 GT/s, width).
    public var linkCapability: (speed: UInt8, width: UInt8) = (3, 4)
    public var linkStatus: (speed: UInt8, width: UInt8) = (3, 4)
    public var powerManagement = true
    public var pmNoSoftReset = false
    public var advancedFeaturesFLR = false
    /// ACS extended capability (capability, control).
    public var acs: ACSCapability?
    public var sriovCapability = false
    /// A Device Serial Number capability.
    public var serialNumber: UInt64?
    /// A Resizable BAR capability with one entry: the BAR, its current size (1 MB << current) and
    /// the supported sizes (bit n: 1 MB << n).
    public var resizableBAR: (bar: UInt8, current: UInt8, supported: UInt32)?
    public var ari = false
    /// Bytes the `config` file holds (defaults: 4096 for PCIe, 256 otherwise).
    public var size: Int?

    public init(vendorID: UInt16, deviceID: UInt16, classCode: UInt32) {
        self.vendorID = vendorID
        self.deviceID = deviceID
        self.classCode = classCode
    }

    public var bytes: [UInt8] {
        let length = size ?? (pcieType == nil ? 256 : 4096)
        var b = [UInt8](repeating: 0, count: 4096) // laid out in full, then cut to `length`
        func put16(_ offset: Int, _ value: UInt16) {
            guard offset + 1 < b.count else { return }
            b[offset] = UInt8(value & 0xff)
            b[offset + 1] = UInt8(value >> 8)
        }
        func put32(_ offset: Int, _ value: UInt32) {
            put16(offset, UInt16(value & 0xffff))
            put16(offset + 2, UInt16(value >> 16))
        }
        put16(0x00, vendorID)
        put16(0x02, deviceID)
        b[0x08] = revision
        b[0x09] = UInt8(classCode & 0xff)
        b[0x0a] = UInt8((classCode >> 8) & 0xff)
        b[0x0b] = UInt8((classCode >> 16) & 0xff)
        b[0x0e] = headerType | (multifunction ? 0x80 : 0)
        if headerType == 0 {
            put16(0x2c, subsystemVendorID)
            put16(0x2e, subsystemDeviceID)
        }
        // Traditional capabilities: PM at 0x40, PCIe at 0x50, AF at 0x70, chained.
        var chain: [(offset: Int, id: UInt8)] = []
        if powerManagement { chain.append((0x40, 0x01)) }
        if pcieType != nil { chain.append((0x50, 0x10)) }
        if advancedFeaturesFLR { chain.append((0x70, 0x13)) }
        if !chain.isEmpty {
            put16(0x06, 0x0010) // status: capabilities list
            b[0x34] = UInt8(chain[0].offset)
            for (position, cap) in chain.enumerated() {
                b[cap.offset] = cap.id
                b[cap.offset + 1] = position + 1 < chain.count ? UInt8(chain[position + 1].offset) : 0
            }
        }
        if powerManagement {
            put16(0x42, 0x0003) // PMC: version 3
            put16(0x44, pmNoSoftReset ? 0x0008 : 0)
        }
        if let pcieType {
            put16(0x52, 0x0002 | UInt16(pcieType.rawValue) << 4) // version 2, port type
            put32(0x54, flr ? 0x1000_0000 : 0) // DevCap
            put32(0x5c, UInt32(linkCapability.speed) | UInt32(linkCapability.width) << 4) // LnkCap
            put16(0x62, UInt16(linkStatus.speed) | UInt16(linkStatus.width) << 4) // LnkSta
        }
        if advancedFeaturesFLR {
            b[0x72] = 6     // length
            b[0x73] = 0x03  // TP + FLR
        }
        // Extended capabilities from 0x100, chained.
        guard pcieType != nil, length >= 4096 else { return Array(b.prefix(length)) }
        var extended: [(id: UInt16, body: [UInt8])] = []
        if let acs {
            extended.append((0x000d, [UInt8(acs.capability & 0xff), UInt8(acs.capability >> 8),
                                      UInt8(acs.control & 0xff), UInt8(acs.control >> 8)]))
        }
        if sriovCapability { extended.append((0x0010, [UInt8](repeating: 0, count: 0x3c))) }
        if ari { extended.append((0x000e, [0, 0, 0, 0])) }
        if let serialNumber { extended.append((0x0003, (0..<8).map { UInt8(truncatingIfNeeded: serialNumber >> ($0 * 8)) })) }
        if let rebar = resizableBAR {
            let capability = rebar.supported << 4
            let control = UInt32(rebar.bar) | 1 << 5 | UInt32(rebar.current) << 8
            extended.append((0x0015, (0..<4).map { UInt8(truncatingIfNeeded: capability >> ($0 * 8)) }
                                + (0..<4).map { UInt8(truncatingIfNeeded: control >> ($0 * 8)) }))
        }
        var offset = 0x100
        for (position, cap) in extended.enumerated() {
            let next = position + 1 < extended.count ? offset + 0x40 : 0
            put32(offset, UInt32(cap.id) | 1 << 16 | UInt32(next) << 20)
            for (index, byte) in cap.body.enumerated() { b[offset + 4 + index] = byte }
            offset = next
        }
        return Array(b.prefix(length))
    }
}
