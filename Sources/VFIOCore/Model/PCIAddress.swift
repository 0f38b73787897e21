/// A PCI function address: domain:bus:device.function.
///
/// Accepted spellings: `DDDD:BB:SS.F` (the domain may have more than 4 hex digits, as behind an
/// Intel VMD controller: `10000:e1:00.0`) and `BB:SS.F` (domain 0). Hex digits in either case.
/// The canonical form is the kernel's: lower-case, domain at least 4 digits (`%04x:%02x:%02x.%x`).
/// Users may also name a function by libvirt's node-device name, `pci_0000_01_00_0`
/// (`init?(argument:)`, `parse(_:)`, `nodeDeviceName`).
public struct PCIAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let domain: UInt32
    public let bus: UInt8
    public let device: UInt8
    public let function: UInt8

    public init(domain: UInt32 = 0, bus: UInt8, device: UInt8, function: UInt8) {
        precondition(device < 32 && function < 8, "PCI device must be < 32 and function < 8")
        self.domain = domain
        self.bus = bus
        self.device = device
        self.function = function
    }

    /// Parses an address; nil when `text` is not exactly one of the accepted spellings.
    public init?(_ text: some StringProtocol) {
        guard let address = Bytes.with(text, { PCIAddress(bytes: $0) }) else { return nil }
        self = address
    }

    /// Parses an address from UTF-8 bytes (the device layer parses one per sysfs entry and link).
    public init?(bytes text: UnsafeRawBufferPointer) {
        // Up to three ':'-separated hex fields, then '.', then one function digit.
        var fields: (UInt64, UInt64, UInt64) = (0, 0, 0)
        var digits: (Int, Int, Int) = (0, 0, 0)
        var field = 0
        var function: UInt8?
        var sawDot = false
        for byte in text {
            if sawDot {
                guard function == nil, let digit = HexDigits.value(of: byte) else { return nil }
                function = digit
                continue
            }
            switch byte {
            case UInt8(ascii: ":"):
                guard field < 2 else { return nil }
                field += 1
            case UInt8(ascii: "."):
                sawDot = true
            default:
                guard let digit = HexDigits.value(of: byte) else { return nil }
                switch field {
                case 0: fields.0 = fields.0 << 4 | UInt64(digit); digits.0 += 1
                case 1: fields.1 = fields.1 << 4 | UInt64(digit); digits.1 += 1
                default: fields.2 = fields.2 << 4 | UInt64(digit); digits.2 += 1
                }
                if digits.0 > 8 || digits.1 > 8 || digits.2 > 8 { return nil }
            }
        }
        guard let function, function < 8 else { return nil }
        // With two fields the first is the bus; with three, the domain.
        let (domain, domainDigits, bus, busDigits, device, deviceDigits): (UInt64, Int, UInt64, Int, UInt64, Int)
        switch field {
        case 1: (domain, domainDigits, bus, busDigits, device, deviceDigits) = (0, 1, fields.0, digits.0, fields.1, digits.1)
        case 2: (domain, domainDigits, bus, busDigits, device, deviceDigits) = (fields.0, digits.0, fields.1, digits.1, fields.2, digits.2)
        default: return nil
        }
        guard (1...8).contains(domainDigits), (1...2).contains(busDigits), (1...2).contains(deviceDigits), device < 32
        else { return nil }
        self.init(domain: UInt32(domain), bus: UInt8(bus), device: UInt8(device), function: function)
    }

    /// `0000:01:00.0`
    public var description: String {
        let domainDigits = max(4, (32 - domain.leadingZeroBitCount + 3) / 4)
        return String(unsafeUninitializedCapacity: domainDigits + 8) { buffer in
            var position = 0
            func put(_ value: UInt32, digits: Int) {
                for shift in stride(from: (digits - 1) * 4, through: 0, by: -4) {
                    buffer[position] = HexDigits.lower[Int((value >> UInt32(shift)) & 0xf)]
                    position += 1
                }
            }
            put(domain, digits: domainDigits)
            buffer[position] = UInt8(ascii: ":"); position += 1
            put(UInt32(bus), digits: 2)
            buffer[position] = UInt8(ascii: ":"); position += 1
            put(UInt32(device), digits: 2)
            buffer[position] = UInt8(ascii: "."); position += 1
            put(UInt32(function), digits: 1)
            return position
        }
    }

    /// The address of function 0 of the same device (slot).
    public var slot: PCIAddress { PCIAddress(domain: domain, bus: bus, device: device, function: 0) }

    /// Same domain and bus (functions that a secondary bus reset of the parent bridge also resets).
    public func isOnSameBus(as other: PCIAddress) -> Bool { domain == other.domain && bus == other.bus }

    public static func < (a: PCIAddress, b: PCIAddress) -> Bool {
        (a.domain, a.bus, a.device, a.function) < (b.domain, b.bus, b.device, b.function)
    }
}

extension PCIAddress {
    /// Where VF `index` of this PF appears, as the kernel places it (pci_iov_virtfn_bus and
    /// pci_iov_virtfn_devfn): routing ID (bus << 8 | device << 3 | function) + First VF Offset +
    /// index × VF Stride, carrying into the bus number; the domain is the PF's. nil when that
    /// falls past bus 0xff, or for a negative index, offset or stride.
    ///
    /// ARI changes nothing here but the numbers the PF reports: with ARI the device number is part
    /// of an 8-bit function number, and PFs report small offsets (X710: offset 16, stride 1,
    /// VFs from 3b:02.0 on); without it VFs sit on devices of their own (82576: offset 128,
    /// stride 2, VFs at 01:10.0, 01:10.2 ...). Offset and stride may depend on NumVFs (PCIe
    /// SR-IOV 9.3.3.9-10): sysfs shows them for the current count, so a VF not created yet is a
    /// prediction until it exists.
    public func virtfn(_ index: Int, offset: Int, stride: Int) -> PCIAddress? {
        guard index >= 0, offset >= 0, stride >= 0 else { return nil }
        let pfRID = Int(bus) << 8 | Int(device) << 3 | Int(function)
        let (product, overflow) = index.multipliedReportingOverflow(by: stride)
        let (distance, carry) = offset.addingReportingOverflow(product)
        guard !overflow, !carry, distance <= 0xffff - pfRID else { return nil }
        let rid = pfRID + distance
        return PCIAddress(domain: domain, bus: UInt8(rid >> 8), device: UInt8((rid >> 3) & 0x1f), function: UInt8(rid & 7))
    }
}

extension PCIAddress {
    /// libvirt's name for the function's node device, as `virsh nodedev-list --cap pci` prints it
    /// and `virsh nodedev-detach` takes it: `pci_0000_01_00_0`. libvirt's udev backend
    /// (nodeDeviceGenerateName) writes the subsystem, `_`, the kernel's device name
    /// (`%04x:%02x:%02x.%x`, so a VMD domain keeps all its digits: `pci_10000_e1_00_0`) and turns
    /// every byte that is not a letter or digit into `_`.
    public var nodeDeviceName: String {
        var name = "pci_"
        for character in description { name.append(character == ":" || character == "." ? "_" : character) }
        return name
    }

    /// Parses libvirt's node-device name of a PCI function, `pci_DDDD_BB_SS_F`: the prefix as
    /// libvirt writes it, then the fields as the kernel writes them (a domain of 4 to 8 hex digits,
    /// 2 for the bus and the slot, 1 for the function), hex digits in either case. nil for
    /// anything else (a short `pci_01_00_0` is no name libvirt gives).
    public init?(nodeDevice text: some StringProtocol) {
        let prefix = "pci_".utf8
        guard text.utf8.starts(with: prefix) else { return nil }
        let fields = text.utf8.dropFirst(prefix.count).split(separator: UInt8(ascii: "_"), omittingEmptySubsequences: false)
        guard fields.count == 4, (4...8).contains(fields[0].count), fields[1].count == 2, fields[2].count == 2, fields[3].count == 1
        else { return nil }
        var values: [UInt64] = []
        for field in fields {
            var value: UInt64 = 0
            for byte in field {
                guard let digit = HexDigits.value(of: byte) else { return nil }
                value = value << 4 | UInt64(digit)
            }
            values.append(value)
        }
        guard values[2] < 32, values[3] < 8 else { return nil }
        self.init(domain: UInt32(values[0]), bus: UInt8(values[1]), device: UInt8(values[2]), function: UInt8(values[3]))
    }

    /// A function as a user may name it, on the command line or in a file: an address
    /// (`DDDD:BB:SS.F`, `BB:SS.F`) or libvirt's node-device name (`pci_DDDD_BB_SS_F`). The one
    /// reader of user input; `parse(_:)` is it with an error. (What the kernel writes, in sysfs
    /// names and links, and vfioctl's own files are read with `init?(_:)`, addresses only.)
    public init?(argument text: some StringProtocol) {
        guard let address = PCIAddress(text) ?? PCIAddress(nodeDevice: text) else { return nil }
        self = address
    }
}

/// Hex helpers shared by parsing and rendering (no Foundation formatting on hot paths).
public enum HexDigits {
    static let lower = Array("0123456789abcdef".utf8)

    @inline(__always)
    public static func value(of byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Lower-case hex, zero-padded to at least `width` digits.
    public static func padded(_ value: UInt64, width: Int) -> String {
        let digits = max(width, max(1, (64 - value.leadingZeroBitCount + 3) / 4))
        return String(unsafeUninitializedCapacity: digits) { buffer in
            var rest = value
            for position in stride(from: digits - 1, through: 0, by: -1) {
                buffer[position] = lower[Int(rest & 0xf)]
                rest >>= 4
            }
            return digits
        }
    }
}
