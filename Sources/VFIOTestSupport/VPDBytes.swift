/// PCI VPD as a card's EEPROM holds it, for fake functions and the VPD tests: an identifier
/// string (0x82), a VPD-R (0x90) with its fields and the RV checksum that makes every byte up
/// to it sum to zero, an optional VPD-W (0x91) ending with RW, and the end tag (0x78).
public struct VPDBytes: Sendable {
    public var name: [UInt8]
    public var readOnly: [(keyword: String, value: [UInt8])]
    /// The VPD-W's fields before its RW field (nil: no VPD-W).
    public var readWrite: [(keyword: String, value: [UInt8])]?
    /// The RW field's free space.
    public var readWriteSpace = 4
    /// Bytes added to the RV field after its checksum byte (reserved space).
    public var reserved = 0
    /// The data of an unknown large resource (tag 0xA0) before the identifier string: libvirt
    /// skips it unread, so only its 3 header bytes count in the checksum.
    public var skipped: [UInt8]? = nil

    public init(name: String, readOnly: [(keyword: String, value: [UInt8])], readWrite: [(keyword: String, value: [UInt8])]? = nil) {
        (self.name, self.readOnly, self.readWrite) = (Array(name.utf8), readOnly, readWrite)
    }

    /// A NIC's VPD with its part and serial numbers.
    public static func card(name: String = "Example 25GbE SmartNIC", serial: String, part: String = "MCX623106AN") -> VPDBytes {
        VPDBytes(name: name, readOnly: [("PN", Array(part.utf8)), ("EC", Array("A7".utf8)), ("SN", Array(serial.utf8)), ("V0", Array("PCIeGen4 x16".utf8))],
                 readWrite: [("V1", Array("N/A".utf8))])
    }

    static func large(_ tag: UInt8, _ body: [UInt8]) -> [UInt8] { [tag, UInt8(body.count & 0xFF), UInt8(body.count >> 8)] + body }
    static func field(_ keyword: String, _ value: [UInt8]) -> [UInt8] { Array(keyword.utf8.prefix(2)) + [UInt8(value.count)] + value }

    public var bytes: [UInt8] {
        var out = (skipped.map { Self.large(0xA0, $0) } ?? []) + Self.large(0x82, name)
        let fields = readOnly.flatMap { Self.field($0.keyword, $0.value) }
        let length = fields.count + 3 + 1 + reserved
        let head = out + [0x90, UInt8(length & 0xFF), UInt8(length >> 8)] + fields + Array("RV".utf8) + [UInt8(1 + reserved)]
        let unread = (skipped ?? []).reduce(UInt8(0)) { $0 &+ $1 }
        let checksum = UInt8(truncatingIfNeeded: 0 &- (head.reduce(UInt8(0)) { $0 &+ $1 } &- unread))
        out = head + [checksum] + [UInt8](repeating: 0, count: reserved)
        if let readWrite {
            out += Self.large(0x91, readWrite.flatMap { Self.field($0.keyword, $0.value) } + Self.field("RW", [UInt8](repeating: 0, count: readWriteSpace)))
        }
        return out + [0x78]
    }
}
