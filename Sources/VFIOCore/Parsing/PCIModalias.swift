/// A PCI function's `modalias` attribute, the key module aliases are matched against. The kernel
/// writes it from the function's ids (drivers/pci/pci-sysfs.c, modalias_show; uevent's MODALIAS
/// is the same text): `pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X`, e.g.
/// `pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00`.
public enum PCIModalias {
    /// The fields after `pci:`, each a tag and its number of upper-case hex digits.
    static let fields: [(tag: String, digits: Int)] = [("v", 8), ("d", 8), ("sv", 8), ("sd", 8), ("bc", 2), ("sc", 2), ("i", 2)]

    /// The attribute's text (one trailing newline allowed) when it is a modalias the kernel
    /// writes; nil for anything else. Nothing else is looked up: a `*`, `?` or `[` would be a
    /// pattern to libkmod, not a device.
    public static func parse(_ text: String) -> String? {
        let value = text.hasSuffix("\n") ? text.dropLast() : Substring(text)
        var rest = value.utf8[...]
        guard rest.starts(with: "pci:".utf8) else { return nil }
        rest = rest.dropFirst(4)
        for field in fields {
            guard rest.starts(with: field.tag.utf8) else { return nil }
            rest = rest.dropFirst(field.tag.utf8.count)
            let digits = rest.prefix(field.digits)
            guard digits.count == field.digits, digits.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x46).contains($0) })
            else { return nil }
            rest = rest.dropFirst(field.digits)
        }
        return rest.isEmpty ? String(value) : nil
    }
}
