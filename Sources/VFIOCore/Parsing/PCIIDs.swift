/// pci.ids (the PCI ID database libpci names devices from), cut down to what a few functions need.
public enum PCIIDs {
    /// The lines of pci.ids that libpci needs to name `devices` (device ids by vendor) and the
    /// subsystem vendors `vendors`: each such vendor's line, the lines of the devices asked for
    /// with their subsystem lines, and the whole class list ("C xx" lines with theirs). Comments
    /// and blank lines are left out. Given only this, libpci names those functions exactly as from
    /// the whole file (a device's and its subsystems' names are under its line; a subsystem vendor
    /// is a vendor line). Loading all 1.3 MB of pci.ids costs ~19 ms of CPU, Intel's block alone a
    /// third of that; this costs one scan of line starts.
    public static func excerpt(_ bytes: UnsafeRawBufferPointer, devices: [UInt16: Set<UInt16>], vendors: Set<UInt16>) -> [UInt8] {
        enum Block { case none, vendor(UInt16), classes }
        var out: [UInt8] = []
        var block = Block.none
        var inDevice = false
        var start = 0
        let count = bytes.count
        func copy(_ end: Int) {
            out.append(contentsOf: bytes[start..<end])
            out.append(UInt8(ascii: "\n"))
        }
        while start < count {
            var end = start
            while end < count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
            let first = bytes[start]
            let tab = UInt8(ascii: "\t")
            if first == tab, end - start > 1, bytes[start + 1] == tab {
                // A subsystem (under a device) or a programming interface (under a subclass).
                if case .classes = block { copy(end) } else if inDevice { copy(end) }
            } else if first == tab {
                switch block {
                case .classes: copy(end)
                case .vendor(let vendor):
                    inDevice = id(bytes, start + 1, end).map { devices[vendor]?.contains($0) == true } ?? false
                    if inDevice { copy(end) }
                case .none: inDevice = false
                }
            } else if first == UInt8(ascii: "#") || start == end || first == UInt8(ascii: "\r") {
                // A comment or blank line: nothing to libpci, and it ends no block.
            } else if first == UInt8(ascii: "C"), end - start > 1, bytes[start + 1] == UInt8(ascii: " ") {
                block = .classes
                copy(end)
            } else {
                inDevice = false
                if let vendor = id(bytes, start, end), devices[vendor] != nil || vendors.contains(vendor) {
                    block = .vendor(vendor)
                    copy(end)
                } else {
                    block = .none
                }
            }
            start = end + 1
        }
        return out
    }

    /// The four hex digits a line starts with ("8086  Intel Corporation", "10d3  82574L ...").
    static func id(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> UInt16? {
        guard end - start >= 4 else { return nil }
        var value: UInt16 = 0
        for position in start..<start + 4 {
            guard let digit = HexDigits.value(of: bytes[position]) else { return nil }
            value = value << 4 | UInt16(digit)
        }
        return value
    }
}
