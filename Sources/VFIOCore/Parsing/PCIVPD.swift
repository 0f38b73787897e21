/// A PCI function's Vital Product Data (its sysfs `vpd` attribute: the VPD capability's bytes),
/// read as libvirt reads it, for what libvirt reads is what nova sees: libvirt's node device
/// has a `vpd` capability only when `virPCIVPDParse` (src/util/virpcivpd.c) accepts the whole
/// VPD, and nova takes the card's serial number from it (`remote_managed` devices without one
/// are dropped from nova's pool). So the rules are libvirt's, quirks included:
/// - resources follow each other from byte 0: large ones (bit 7 set; 0x82 the identifier
///   string, 0x90 VPD-R, 0x91 VPD-W, a 16-bit little-endian length), small ones (a 3-bit
///   length); the small end tag (0x78) ends the VPD; other resources are skipped unread;
/// - the identifier string must be printable ASCII once trimmed;
/// - a VPD-R is required, and must end with its `RV` field, whose first byte makes the sum of
///   every byte read so far zero (the checksum); a VPD-W, if present, must end exactly at its
///   end (its `RW` field, if any, last);
/// - a text field (`SN`, `PN`, `EC`, `MN`, `Vx`, `YA`, `Yx`) is trimmed and kept only when it is
///   printable ASCII; other fields are skipped by their length.
public struct PCIVPD: Sendable, Equatable {
    /// The identifier string (the product name).
    public var name: String?
    /// VPD-R's `SN`: the card's serial number.
    public var serialNumber: String?
    /// VPD-R's `PN`.
    public var partNumber: String?

    public init(name: String? = nil, serialNumber: String? = nil, partNumber: String? = nil) {
        (self.name, self.serialNumber, self.partNumber) = (name, serialNumber, partNumber)
    }

    /// Why libvirt would refuse the VPD.
    public struct Malformed: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// The VPD address space: 15 bits.
    static let addressMask = 0x7FFF
    /// The most a `vpd` attribute holds.
    public static let sizeLimit = addressMask + 1

    enum FieldFormat { case text, binary, reserved, readWrite, unknown }

    /// libvirt's table of keyword formats (virPCIVPDResourceOnceInit): vendor (`V0`-`VZ`) and
    /// system (`Y0`-`YZ` but `YA`) keywords by their first letter.
    static func format(_ keyword: [UInt8]) -> FieldFormat {
        func upperOrDigit(_ c: UInt8) -> Bool { (0x41...0x5A).contains(c) || (0x30...0x39).contains(c) }
        guard keyword.count == 2, !keyword.contains(0), upperOrDigit(keyword[0]), upperOrDigit(keyword[1]) else { return .unknown }
        let text = String(decoding: keyword, as: UTF8.self)
        if keyword[0] == UInt8(ascii: "V") || (keyword[0] == UInt8(ascii: "Y") && text != "YA") { return .text }
        switch text {
        case "CP": return .binary
        case "EC", "MN", "PN", "SN", "YA": return .text
        case "RV": return .reserved
        case "RW": return .readWrite
        default: return .unknown
        }
    }

    /// A C string's text (up to its first NUL), trimmed of ASCII whitespace, if every byte
    /// left is printable ASCII (g_strstrip and virPCIVPDResourceIsValidTextValue).
    static func text(_ bytes: ArraySlice<UInt8>) -> String? {
        var value = bytes.prefix { $0 != 0 }
        func space(_ c: UInt8) -> Bool { c == 0x20 || (0x09...0x0D).contains(c) }
        while let first = value.first, space(first) { value.removeFirst() }
        while let last = value.last, space(last) { value.removeLast() }
        guard value.allSatisfy({ (0x20...0x7E).contains($0) }) else { return nil }
        return String(decoding: value, as: UTF8.self)
    }

    public static func parse(_ bytes: [UInt8]) -> Result<PCIVPD, Malformed> {
        var reader = Reader(bytes: bytes)
        var vpd = PCIVPD()
        var position = 0
        var ended = false, hasReadOnly = false
        func fail(_ why: String) -> Result<PCIVPD, Malformed> { .failure(Malformed(description: why)) }
        while position <= addressMask {
            guard var tag = reader.read(1, at: position)?.first else { return fail("it ends at byte \(position) without the end tag") }
            var length: Int
            if tag & 0x80 != 0 {
                if position > addressMask + 1 - 3 { break }
                guard let header = reader.read(2, at: position + 1) else { return fail("a resource at byte \(position) is cut short") }
                length = Int(header[header.startIndex]) | Int(header[header.startIndex + 1]) << 8
                position += 3
            } else {
                length = Int(tag & 7)
                tag >>= 3
                position += 1
            }
            if tag == 0x0F {
                ended = true
                break
            }
            if length > addressMask + 1 - position { break }
            switch tag {
            case 0x82:
                guard let data = reader.read(length, at: position) else { return fail("its identifier string is cut short") }
                guard let name = text(data) else { return fail("its identifier string is not printable text") }
                vpd.name = name
            case 0x90:
                if let why = fields(&reader, &vpd, at: position, length: length, readOnly: true) { return fail(why) }
                hasReadOnly = true
            case 0x91:
                if let why = fields(&reader, &vpd, at: position, length: length, readOnly: false) { return fail(why) }
            default:
                break  // skipped, and not counted in the checksum (libvirt does not read it)
            }
            position += length
        }
        guard hasReadOnly else { return fail("it has no read-only section (VPD-R)") }
        guard ended else { return fail("it has no end tag") }
        return .success(vpd)
    }

    /// The fields of a VPD-R or VPD-W; nil when libvirt takes them, else why not.
    static func fields(_ reader: inout Reader, _ vpd: inout PCIVPD, at start: Int, length: Int, readOnly: Bool) -> String? {
        let section = readOnly ? "VPD-R" : "VPD-W"
        let end = start + length
        var position = start
        var hasChecksum = false
        scan: while position + 3 <= end {
            guard let header = reader.read(3, at: position) else { return "a \(section) field at byte \(position) is cut short" }
            let keyword = Array(header.prefix(2)), fieldLength = Int(header[header.startIndex + 2])
            position += 3
            let format = format(keyword)
            var count = fieldLength
            switch format {
            case .readWrite where readOnly: return "the read-only section holds an RW field"
            case .reserved where !readOnly: return "the read-write section holds an RV field"
            case .reserved: count = 1
            default: break
            }
            if end < position + fieldLength { return "a \(section) field runs past its section" }
            guard let data = reader.read(count, at: position) else { return "a \(section) field is cut short" }
            position += fieldLength
            switch format {
            case .text:
                guard readOnly, let value = text(data) else { continue scan }
                switch String(decoding: keyword, as: UTF8.self) {
                case "SN": vpd.serialNumber = value
                case "PN": vpd.partNumber = value
                default: break
                }
            case .reserved:
                guard reader.checksum == 0 else { return "its checksum is wrong" }
                hasChecksum = true
            case .readWrite, .binary, .unknown:
                break
            }
            if format == .reserved || format == .readWrite { break scan }  // the section's last field
        }
        let ended = position >= end
        if readOnly && !(hasChecksum && ended) { return "its read-only section does not end with the checksum (RV)" }
        if !readOnly && !ended { return "its read-write section ends early" }
        return nil
    }

    /// Bytes read at offsets, each counted once in the running checksum (as libvirt's pread
    /// loop counts every byte it reads, in order).
    struct Reader {
        let bytes: [UInt8]
        var checksum: UInt8 = 0

        mutating func read(_ count: Int, at offset: Int) -> ArraySlice<UInt8>? {
            guard offset >= 0, count >= 0, offset <= bytes.count, count <= bytes.count - offset else { return nil }
            let slice = bytes[offset..<offset + count]
            for byte in slice { checksum &+= byte }
            return slice
        }
    }
}

/// A function's `vpd` attribute as the device layer found it.
public enum VPDReading: Sendable, Equatable {
    /// No `vpd` attribute: the function has no VPD capability.
    case absent
    /// The attribute is there and could not be read (the reason).
    case unreadable(String)
    /// Its bytes, as libvirt reads them.
    case read(Result<PCIVPD, PCIVPD.Malformed>)

    /// The card's serial number libvirt reports (non-empty), if any.
    public var serialNumber: String? {
        guard case .read(.success(let vpd)) = self, let serial = vpd.serialNumber, !serial.isEmpty else { return nil }
        return serial
    }

    /// Why there is no serial number: "no VPD", "its VPD has no serial number", "its VPD ...".
    public var lack: String {
        switch self {
        case .absent: "no VPD"
        case .unreadable(let why): "its VPD cannot be read (\(why))"
        case .read(.failure(let malformed)): "libvirt refuses its VPD (\(malformed))"
        case .read(.success): "its VPD has no serial number (SN)"
        }
    }
}

extension [PCIAddress: VPDReading] {
    /// The card serial number nova gets for a function, as nova's libvirt driver looks for it
    /// (nova/virt/libvirt/host.py `_get_vpd_details`): the function's own VPD, and for a VF
    /// whose own has none, its PF's. nil with the reason when there is none.
    public func cardSerialNumber(of f: PCIFunction) -> (serial: String?, source: String) {
        let own = self[f.address] ?? .absent
        if let serial = own.serialNumber { return (serial, "VPD of \(f.address)") }
        guard let pf = f.physfn else { return (nil, "\(f.address): \(own.lack)") }
        let parent = self[pf] ?? .absent
        if let serial = parent.serialNumber { return (serial, "VPD of its PF \(pf)") }
        return (nil, "\(f.address): \(own.lack); its PF \(pf): \(parent.lack)")
    }
}
