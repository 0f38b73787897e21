/// pci.ids (the PCI ID database libpci names devices from), cut down to what a few functions need.
public enum PCIIDs {
    /// The lines of pci.ids that name `vendors`, their devices and subsystems, and every class:
    /// each of those vendors' lines with the indented lines below it, and the class list ("C xx"
    /// lines with theirs). Comments and blank lines are left out. Given only this, libpci names a
    /// function of those vendors (and with those subsystem vendors) exactly as from the whole file:
    /// every name of a vendor's devices and subsystems is in its block, and a subsystem vendor is
    /// a vendor. Loading 1.3 MB of pci.ids costs ~19 ms of CPU; this costs a scan of line starts.
    public static func excerpt(_ bytes: UnsafeRawBufferPointer, vendors: Set<UInt16>) -> [UInt8] {
        var out: [UInt8] = []
        var copying = false
        var start = 0
        let count = bytes.count
        while start < count {
            var end = start
            while end < count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
            let first = bytes[start]
            if first == UInt8(ascii: "\t") {
                if copying { out.append(contentsOf: bytes[start..<end]); out.append(UInt8(ascii: "\n")) }
            } else if first == UInt8(ascii: "#") || start == end || first == UInt8(ascii: "\r") {
                // A comment or blank line: nothing to libpci, and it ends no block.
            } else if first == UInt8(ascii: "C"), end - start > 1, bytes[start + 1] == UInt8(ascii: " ") {
                copying = true
                out.append(contentsOf: bytes[start..<end]); out.append(UInt8(ascii: "\n"))
            } else {
                copying = vendor(bytes, start, end).map(vendors.contains) ?? false
                if copying { out.append(contentsOf: bytes[start..<end]); out.append(UInt8(ascii: "\n")) }
            }
            start = end + 1
        }
        return out
    }

    /// The vendor id of a top-level line ("8086  Intel Corporation").
    static func vendor(_ bytes: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> UInt16? {
        guard end - start >= 4 else { return nil }
        var value: UInt16 = 0
        for position in start..<start + 4 {
            guard let digit = HexDigits.value(of: bytes[position]) else { return nil }
            value = value << 4 | UInt16(digit)
        }
        return value
    }
}
