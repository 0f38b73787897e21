/// PCI Express Device/Port type (PCIe capability flags, bits 7:4).
public enum PCIePortType: UInt8, Sendable, Equatable, CaseIterable {
    case endpoint = 0x0
    case legacyEndpoint = 0x1
    case rootPort = 0x4
    case upstreamPort = 0x5
    case downstreamPort = 0x6
    case pcieToPCIBridge = 0x7
    case pciToPCIeBridge = 0x8
    case rootComplexIntegratedEndpoint = 0x9
    case rootComplexEventCollector = 0xa

    /// snake_case name used in JSON.
    public var name: String {
        switch self {
        case .endpoint: "endpoint"
        case .legacyEndpoint: "legacy_endpoint"
        case .rootPort: "root_port"
        case .upstreamPort: "upstream_port"
        case .downstreamPort: "downstream_port"
        case .pcieToPCIBridge: "pcie_to_pci_bridge"
        case .pciToPCIeBridge: "pci_to_pcie_bridge"
        case .rootComplexIntegratedEndpoint: "rc_integrated_endpoint"
        case .rootComplexEventCollector: "rc_event_collector"
        }
    }
}

/// What config space says, as libpci decoded it. Unknown is not no: a 64-byte read (what an
/// unprivileged reader gets) holds no capability list, so every capability-derived fact is nil
/// then, never false; the extended ones (ACS, SR-IOV, ARI, the serial number, Resizable BAR)
/// are nil too when only 256 bytes were read.
public struct ConfigCapabilities: Sendable, Equatable {
    /// Bytes of config space that were readable (64 for unprivileged readers, 256, or 4096).
    public var configLength: Int
    /// The capability list was read (or the status register says there is none).
    public var listReadable: Bool
    /// Extended config space (offset ≥ 0x100) was readable, so an absent extended capability is absent.
    public var extendedConfigReadable: Bool
    /// PCI Express capability present (nil: unknown).
    public var isPCIe: Bool?
    /// Its Device/Port type (nil for conventional PCI, unknown, or a reserved type).
    public var pcieType: PCIePortType?
    /// DevCap bit 28 (Function Level Reset).
    public var flr: Bool?
    /// Advanced Features capability with FLR.
    public var afFLR: Bool?
    /// Power Management capability present, and its No_Soft_Reset bit.
    public var hasPowerManagement: Bool?
    public var pmNoSoftReset: Bool
    /// The link as LnkCap and LnkSta describe it (nil: no link, or unknown).
    public var link: PCIeLink?
    public var msi: MSICapability?
    public var msix: MSIXCapability?
    /// ACS extended capability (nil when absent, or when extended config space was unreadable).
    public var acs: ACSCapability?
    /// SR-IOV extended capability registers.
    public var sriov: SRIOVCapability?
    public var hasARI: Bool?
    /// Device Serial Number extended capability.
    public var serialNumber: UInt64?
    /// Resizable BAR extended capability entries (empty when absent).
    public var resizableBARs: [ResizableBAR]

    public init(configLength: Int, listReadable: Bool, extendedConfigReadable: Bool, isPCIe: Bool?, pcieType: PCIePortType?,
                flr: Bool?, afFLR: Bool?, hasPowerManagement: Bool?, pmNoSoftReset: Bool, link: PCIeLink? = nil,
                msi: MSICapability? = nil, msix: MSIXCapability? = nil, acs: ACSCapability?, sriov: SRIOVCapability? = nil,
                hasARI: Bool?, serialNumber: UInt64? = nil, resizableBARs: [ResizableBAR] = []) {
        self.configLength = configLength
        self.listReadable = listReadable
        self.extendedConfigReadable = extendedConfigReadable
        self.isPCIe = isPCIe
        self.pcieType = pcieType
        self.flr = flr
        self.afFLR = afFLR
        self.hasPowerManagement = hasPowerManagement
        self.pmNoSoftReset = pmNoSoftReset
        self.link = link
        self.msi = msi
        self.msix = msix
        self.acs = acs
        self.sriov = sriov
        self.hasARI = hasARI
        self.serialNumber = serialNumber
        self.resizableBARs = resizableBARs
    }

    /// A capability's presence: nil when the list holding it was not read.
    func presence(_ value: (some Any)?, extended: Bool = false) -> Bool? {
        (extended ? extendedConfigReadable && listReadable : listReadable) ? value != nil : nil
    }

    public var hasMSI: Bool? { presence(msi) }
    public var hasMSIX: Bool? { presence(msix) }
    public var hasSRIOV: Bool? { presence(sriov, extended: true) }
    /// An ACS capability: nil when extended config space was not read.
    public var hasACS: Bool? { presence(acs, extended: true) }
    /// The serial number's presence: nil when extended config space was not read.
    public var hasSerialNumber: Bool? { presence(serialNumber, extended: true) }
}

/// PCIe link speeds by their LnkCap / LnkSta encoding (PCIe 6.0 7.5.3.6: an index into the
/// Supported Link Speeds vector, 1 = 2.5 GT/s ... 6 = 64 GT/s).
public struct PCIeLinkSpeed: Sendable, Equatable, Comparable {
    public var code: UInt8

    public init(code: UInt8) { self.code = code }

    static let rates: [UInt8: (mts: Int, text: String)] = [
        1: (2500, "2.5"), 2: (5000, "5.0"), 3: (8000, "8.0"), 4: (16000, "16.0"), 5: (32000, "32.0"), 6: (64000, "64.0"),
        8: (128000, "128.0"),
    ]

    /// The kernel's text for it (pci_speed_string: "8.0 GT/s PCIe"), "Unknown" included (nil).
    public init?(kernelText: String) {
        let words = kernelText.split(separator: " ")
        guard words.count >= 2, words[1] == "GT/s",
              let code = Self.rates.first(where: { $0.value.text == words[0] })?.key else { return nil }
        self.code = code
    }

    /// MT/s (nil for an encoding the spec does not define).
    public var megatransfers: Int? { Self.rates[code]?.mts }

    /// "8.0 GT/s", or "unknown speed (code 7)".
    public var description: String { Self.rates[code].map { $0.text + " GT/s" } ?? "unknown speed (code \(code))" }

    public static func < (a: Self, b: Self) -> Bool { a.code < b.code }
}

/// A PCIe link: what the function can do (LnkCap, the kernel's max_link_*) and what it trained
/// to (LnkSta, current_link_*).
public struct PCIeLink: Sendable, Equatable {
    public var maxSpeed: PCIeLinkSpeed?
    public var maxWidth: Int?
    public var speed: PCIeLinkSpeed?
    public var width: Int?

    public init(maxSpeed: PCIeLinkSpeed?, maxWidth: Int?, speed: PCIeLinkSpeed?, width: Int?) {
        self.maxSpeed = maxSpeed
        self.maxWidth = maxWidth
        self.speed = speed
        self.width = width
    }

    /// Trained below what the function can do (lspci's "(downgraded)").
    public var speedDowngraded: Bool { if let speed, let maxSpeed, speed.code != 0 { speed < maxSpeed } else { false } }
    public var widthDowngraded: Bool { if let width, let maxWidth, width != 0 { width < maxWidth } else { false } }
}

/// MSI: how many vectors the function asks for (Multiple Message Capable), 64-bit addressing,
/// per-vector masking.
public struct MSICapability: Sendable, Equatable {
    public var vectors: Int
    public var is64Bit: Bool
    public var maskable: Bool

    public init(vectors: Int, is64Bit: Bool, maskable: Bool) {
        self.vectors = vectors
        self.is64Bit = is64Bit
        self.maskable = maskable
    }

    /// From Message Control (PCI 3.0 6.8.1.3).
    public init(control: UInt16) {
        self.init(vectors: 1 << Int((control >> 1) & 7), is64Bit: control & 0x80 != 0, maskable: control & 0x100 != 0)
    }
}

/// MSI-X: its table size.
public struct MSIXCapability: Sendable, Equatable {
    public var vectors: Int

    public init(vectors: Int) { self.vectors = vectors }

    /// From Message Control: Table Size is N-1 in bits 10:0.
    public init(control: UInt16) { self.init(vectors: Int(control & 0x7ff) + 1) }
}

/// The SR-IOV capability's counts (PCIe 6.0 9.3.3).
public struct SRIOVCapability: Sendable, Equatable {
    public var initialVFs: Int
    public var totalVFs: Int
    public var numVFs: Int
    public var offset: Int
    public var stride: Int
    public var vfDeviceID: UInt16

    public init(initialVFs: Int, totalVFs: Int, numVFs: Int = 0, offset: Int = 0, stride: Int = 0, vfDeviceID: UInt16 = 0) {
        self.initialVFs = initialVFs
        self.totalVFs = totalVFs
        self.numVFs = numVFs
        self.offset = offset
        self.stride = stride
        self.vfDeviceID = vfDeviceID
    }
}

/// One Resizable BAR: its BAR, current size and the sizes it can take (bytes, powers of two from 1 MB).
public struct ResizableBAR: Sendable, Equatable {
    public var bar: Int
    public var currentSize: UInt64
    public var supportedSizes: [UInt64]

    public init(bar: Int, currentSize: UInt64, supportedSizes: [UInt64]) {
        self.bar = bar
        self.currentSize = currentSize
        self.supportedSizes = supportedSizes
    }

    /// From the capability's encoding: size n is 1 MB << n; `supported` bit n says size n is.
    public init(bar: Int, current: Int, supported: UInt64) {
        self.init(bar: bar, currentSize: Self.size(current),
                  supportedSizes: (0..<44).filter { supported & (1 << UInt64($0)) != 0 }.map(Self.size))
    }

    static func size(_ n: Int) -> UInt64 { n < 44 ? (1 << 20) << UInt64(n) : 0 }
}

/// The Device Serial Number as lspci prints it: eight bytes, most significant first ("00-1b-21-ff-ff-a4-5c-10").
public enum SerialNumber {
    public static func text(_ value: UInt64) -> String {
        (0..<8).reversed().map { HexDigits.padded((value >> UInt64($0 * 8)) & 0xff, width: 2) }.joined(separator: "-")
    }

    /// `text`'s form back: eight two-digit hex bytes joined by dashes; nil for anything else.
    public static func parse(_ text: some StringProtocol) -> UInt64? {
        let bytes = text.split(separator: "-", omittingEmptySubsequences: false)
        guard bytes.count == 8 else { return nil }
        var value: UInt64 = 0
        for byte in bytes {
            guard byte.count == 2, let b = UInt8(byte, radix: 16) else { return nil }
            value = value << 8 | UInt64(b)
        }
        return value
    }
}

/// ACS capability and control registers (PCIe spec 7.7.8).
public struct ACSCapability: Sendable, Equatable {
    public var capability: UInt16
    public var control: UInt16
    /// The word at offset 8 of the capability: where Intel Sunrise Point PCH root ports keep
    /// their control bits (the kernel's pci_quirk_intel_spt_pch_acs reads it there).
    public var controlAtEight: UInt16

    public init(capability: UInt16, control: UInt16, controlAtEight: UInt16 = 0) {
        self.capability = capability
        self.control = control
        self.controlAtEight = controlAtEight
    }

    public enum Bit: UInt16, CaseIterable, Sendable {
        case sourceValidation = 0x01
        case translationBlocking = 0x02
        case requestRedirect = 0x04
        case completionRedirect = 0x08
        case upstreamForwarding = 0x10
        case egressControl = 0x20
        case directTranslatedP2P = 0x40

        public var name: String {
            switch self {
            case .sourceValidation: "source_validation"
            case .translationBlocking: "translation_blocking"
            case .requestRedirect: "request_redirect"
            case .completionRedirect: "completion_redirect"
            case .upstreamForwarding: "upstream_forwarding"
            case .egressControl: "egress_control"
            case .directTranslatedP2P: "direct_translated_p2p"
            }
        }
    }

    public func supports(_ bit: Bit) -> Bool { capability & bit.rawValue != 0 }
    public func enables(_ bit: Bit) -> Bool { control & bit.rawValue != 0 }
}

/// A Base Address Register: memory or I/O, its flags and, where the kernel says, its address and size.
public struct BAR: Sendable, Equatable {
    public enum Kind: String, Sendable { case memory, io }

    public var index: Int
    public var kind: Kind
    public var is64Bit: Bool
    public var prefetchable: Bool
    /// Where it is mapped (nil when not known; 0 when unassigned).
    public var address: UInt64?
    /// Its size in bytes (from the kernel's `resource` file; nil when not read).
    public var size: UInt64?

    public init(index: Int, kind: Kind, is64Bit: Bool, prefetchable: Bool, address: UInt64?, size: UInt64?) {
        self.index = index
        self.kind = kind
        self.is64Bit = is64Bit
        self.prefetchable = prefetchable
        self.address = address
        self.size = size
    }

    /// The BARs a header's registers describe (PCI 3.0 6.2.5.1): bit 0 I/O; for memory, bits
    /// 2:1 type (10b: 64-bit, its upper half in the next register) and bit 3 prefetchable. A
    /// register of 0 is an unimplemented BAR (or a VF's, which the kernel sizes from the PF), and
    /// so is all ones (what a function that is gone reads as; lspci skips it too).
    public static func from(registers: [UInt32]) -> [BAR] {
        var bars: [BAR] = []
        var index = 0
        while index < registers.count {
            let low = registers[index]
            defer { index += 1 }
            guard low != 0, low != 0xffff_ffff else { continue }
            if low & 1 != 0 {
                bars.append(BAR(index: index, kind: .io, is64Bit: false, prefetchable: false,
                                address: UInt64(low & ~3), size: nil))
                continue
            }
            let is64 = (low >> 1) & 3 == 2
            var address = UInt64(low & ~0xf)
            if is64, index + 1 < registers.count {
                address |= UInt64(registers[index + 1]) << 32
            }
            bars.append(BAR(index: index, kind: .memory, is64Bit: is64, prefetchable: low & 8 != 0, address: address, size: nil))
            if is64 { index += 1 }
        }
        return bars
    }

    /// The kernel's `resource` file (one "0xSTART 0xEND 0xFLAGS" line per resource; lines 0-5 are
    /// the BARs): the kernel's own view, which also holds a VF's BARs (sized from its PF's SR-IOV
    /// capability). Flags are IORESOURCE_* (include/linux/ioport.h): IO 0x100, MEM 0x200,
    /// PREFETCH 0x2000, MEM_64 0x100000. Nil when a BAR line is not three hex numbers.
    public static func from(resourceFile text: String, count: Int = 6) -> [BAR]? {
        var bars: [BAR] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).prefix(count).enumerated() {
            let fields = line.split(separator: " ")
            guard fields.count == 3, let start = SysfsValues.hex(String(fields[0])), let end = SysfsValues.hex(String(fields[1])),
                  let flags = SysfsValues.hex(String(fields[2])) else { return nil }
            let io = flags & 0x100 != 0, memory = flags & 0x200 != 0
            guard io || memory, end >= start, flags != 0 else { continue }
            bars.append(BAR(index: index, kind: io ? .io : .memory, is64Bit: flags & 0x100000 != 0,
                            prefetchable: flags & 0x2000 != 0, address: start, size: end &- start &+ 1))
        }
        return bars
    }
}
