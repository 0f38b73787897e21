/// Pure parsers for the text of sysfs attributes. The device layer reads the bytes; these decide
/// what they mean. Every parser accepts the trailing newline the kernel writes.
public enum SysfsValues {
    /// "0x8086\n" → 0x8086. Also accepts digits without the 0x prefix; whitespace is ignored.
    public static func hex(_ text: String) -> UInt64? { Bytes.with(text, Bytes.hex) }

    public static func hex16(_ text: String) -> UInt16? { hex(text).flatMap(UInt16.init(exactly:)) }

    /// `class`: "0x020000" → 0x020000 (24 bits).
    public static func classCode(_ text: String) -> UInt32? {
        hex(text).flatMap { $0 <= 0xffffff ? UInt32($0) : nil }
    }

    /// A decimal integer ("-1", "4").
    public static func int(_ text: String) -> Int? { ParsedInteger(text).value }

    /// `numa_node`: "-1" means unknown.
    public static func numaNode(_ text: String) -> Int? {
        int(text).flatMap { $0 >= 0 ? $0 : nil }
    }

    /// `driver_override`: "(null)" or empty means none.
    public static func driverOverride(_ text: String) -> String? {
        let value = text.trimmingWhitespace()
        return value.isEmpty || value == "(null)" ? nil : value
    }

    /// `reset_method`: "flr bus" → ["flr", "bus"]; empty means reset is disabled.
    public static func resetMethods(_ text: String) -> [String] { Bytes.with(text, words) }

    /// Whitespace-separated words.
    public static func words(_ bytes: UnsafeRawBufferPointer) -> [String] {
        var words: [String] = []
        var start = 0
        while start < bytes.count {
            while start < bytes.count, Bytes.isSpace(bytes[start]) { start += 1 }
            var end = start
            while end < bytes.count, !Bytes.isSpace(bytes[end]) { end += 1 }
            if end > start { words.append(Bytes.string(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))) }
            start = end
        }
        return words
    }

    /// "0"/"1" attributes (`sriov_drivers_autoprobe`, `boot_vga`, `enable`); nil if neither.
    public static func flag(_ text: String) -> Bool? {
        switch text.trimmingWhitespace() {
        case "0", "N", "n": false
        case "1", "Y", "y": true
        default: int(text).map { $0 != 0 }
        }
    }

    /// A group link's last component: "../../../kernel/iommu_groups/14" → 14.
    public static func groupNumber(fromLink target: String) -> Int? {
        let last = SysfsPaths.lastComponent(of: target)
        return ParsedInteger(last, .name).value
    }

    /// "virtfn12" → 12.
    public static func virtfnIndex(_ entry: String) -> Int? {
        guard entry.hasPrefix("virtfn") else { return nil }
        return ParsedInteger(entry.dropFirst(6), .name).value
    }

    /// `reserved_regions`: one "start end type" per line.
    public static func reservedRegions(_ text: String) -> [ReservedRegion] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 3, let start = hex(String(fields[0])), let end = hex(String(fields[1])) else {
                return nil
            }
            return ReservedRegion(start: start, end: end, type: String(fields[2]))
        }
    }

    /// `vendor_id` line of /proc/cpuinfo ("vendor_id\t: GenuineIntel").
    public static func cpuVendorID(cpuinfo: String) -> String? {
        for line in cpuinfo.split(separator: "\n") where line.hasPrefix("vendor_id") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return String(line[line.index(after: colon)...]).trimmingWhitespace()
        }
        return nil
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs, newlines and NULs (no Foundation
    /// needed; on bytes, since the device layer trims every attribute it reads).
    public func trimmingWhitespace() -> String {
        let text = Substring(self)
        let bytes = text.utf8
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x0a || $0 == 0x09 || $0 == 0x0d || $0 == 0 }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }), let last = bytes.lastIndex(where: { !isSpace($0) })
        else { return "" }
        return String(Substring(bytes[first...last]))
    }
}

/// A PCI function's `uevent`: the kernel's one-file summary of the ids it also exports as
/// separate attributes (pci_uevent writes them from the same pci_dev fields).
///   DRIVER=e1000e
///   PCI_CLASS=20000
///   PCI_ID=8086:10D3
///   PCI_SUBSYS_ID=8086:A01F
///   PCI_SLOT_NAME=0000:01:00.0
///   MODALIAS=pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00
public struct PCIUevent: Sendable, Equatable {
    public var vendorID: UInt16
    public var deviceID: UInt16
    public var classCode: UInt32
    public var subsystemVendorID: UInt16?
    public var subsystemDeviceID: UInt16?
    public var driver: String?
    public var slotName: String?

    /// nil unless PCI_ID and PCI_CLASS are both present and well-formed.
    public init?(_ text: String) {
        guard let parsed = Bytes.with(text, { PCIUevent(bytes: $0) }) else { return nil }
        self = parsed
    }

    /// Parses the file's bytes without making a String per line.
    public init?(bytes: UnsafeRawBufferPointer) {
        var vendor: UInt16?
        var device: UInt16?
        var classCode: UInt32?
        var lineStart = 0
        while lineStart < bytes.count {
            var lineEnd = lineStart
            while lineEnd < bytes.count, bytes[lineEnd] != 0x0a { lineEnd += 1 }
            let line = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<lineEnd])
            lineStart = lineEnd + 1
            guard let equals = line.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let key = UnsafeRawBufferPointer(rebasing: line[..<equals])
            let value = UnsafeRawBufferPointer(rebasing: line[(equals + 1)...])
            if PCIUevent.equal(key, "PCI_ID") {
                (vendor, device) = PCIUevent.pair(value)
            } else if PCIUevent.equal(key, "PCI_SUBSYS_ID") {
                (subsystemVendorID, subsystemDeviceID) = PCIUevent.pair(value)
            } else if PCIUevent.equal(key, "PCI_CLASS") {
                classCode = Bytes.hex(value).flatMap { $0 <= 0xffffff ? UInt32($0) : nil }
            } else if PCIUevent.equal(key, "DRIVER") {
                driver = value.isEmpty ? nil : Bytes.string(value)
            } else if PCIUevent.equal(key, "PCI_SLOT_NAME") {
                slotName = Bytes.string(value)
            }
        }
        guard let vendor, let device, let classCode else { return nil }
        self.vendorID = vendor
        self.deviceID = device
        self.classCode = classCode
    }

    @inline(__always)
    static func equal(_ bytes: UnsafeRawBufferPointer, _ key: StaticString) -> Bool {
        guard bytes.count == key.utf8CodeUnitCount else { return false }
        return memcmpEqual(bytes, UnsafeRawBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
    }

    static func memcmpEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        for index in 0..<a.count where a[index] != b[index] { return false }
        return true
    }

    /// "8086:10D3" → (0x8086, 0x10d3)
    static func pair(_ value: UnsafeRawBufferPointer) -> (UInt16?, UInt16?) {
        guard let colon = value.firstIndex(of: UInt8(ascii: ":")),
              let first = Bytes.hex(UnsafeRawBufferPointer(rebasing: value[..<colon])).flatMap(UInt16.init(exactly:)),
              let second = Bytes.hex(UnsafeRawBufferPointer(rebasing: value[(colon + 1)...])).flatMap(UInt16.init(exactly:))
        else { return (nil, nil) }
        return (first, second)
    }
}
