import Foundation
import Glibc
import VFIOTestSupport

/// The values a damaged tree, a hostile file or a careless admin can present.
enum HostileValues {
    /// Decimal and hex text around every integer limit a reader might meet.
    static let numbers = [
        "9999999999999999999", "18446744073709551616", "-9223372036854775809", "9223372036854775807",
        "-9223372036854775808", "2147483648", "4294967296", "1000000000000000000", "65536", "65535", "-1", "-0",
        "+", "-", "", "0x", "0x10000", "0xffffffffffffffffff", "0xFFFFFFFFFFFFFFFF", "1e9", " 7 ", "007", "12abc",
        "NaN", "\u{0661}\u{0662}", "0\u{0}1", "3\n4", String(repeating: "9", count: 400),
    ]

    /// Texts that are not what a reader expects: empty, NUL, control characters, long, not UTF-8.
    static func text(_ g: inout SeededGenerator) -> [UInt8] {
        switch Int.random(in: 0..<10, using: &g) {
        case 0: return []
        case 1: return [0]
        case 2: return Array(g.pick(numbers).utf8)
        case 3: return [0xff, 0xfe, 0x80, 0xc3, 0x28, 0x0a]
        case 4: return Array(String(repeating: "A", count: Int.random(in: 4000...70000, using: &g)).utf8)
        case 5: return Array("(null)\n".utf8)
        case 6: return Array("\r\n\t \u{7f}\u{1b}[31m".utf8)
        case 7: return Array(String(repeating: "-1 ", count: 3000).utf8)
        default: return g.bytes(Int.random(in: 1...96, using: &g))
        }
    }

    /// A link target that leads nowhere good: out of the root, in a loop, to a huge number.
    static func linkTarget(_ g: inout SeededGenerator, sandbox: Sandbox, name: String) -> String {
        g.pick([
            sandbox.outside + "/precious", sandbox.outside + "/fifo", sandbox.outside + "/dir",
            String(repeating: "../", count: 40) + sandbox.outside.dropFirst() + "/precious",
            "../../../kernel/iommu_groups/99999999999999999999", "../../../kernel/iommu_groups/-1",
            "../../../kernel/iommu_groups/", "../../../kernel/iommu_groups/18446744073709551616",
            "../../../../bus/pci/drivers/\u{1}evil", "/", ".", "..", name, "/dev/zero", "/proc/self/fd/0",
            String(repeating: "a/", count: 1500), "../0000:ff:1f.7", "nonexistent",
        ])
    }

    /// Replaces whatever is at `path` with something hostile; returns what was done.
    static func damage(_ path: String, _ g: inout SeededGenerator, sandbox: Sandbox) -> String {
        let name = String(path.split(separator: "/").last ?? "")
        switch Int.random(in: 0..<12, using: &g) {
        case 0:
            Surgery.removeAny(path)
            return "removed"
        case 1:
            Surgery.removeAny(path)
            mkfifo(path, 0o644)
            return "a FIFO"
        case 2:
            Surgery.removeAny(path)
            mkdir(path, 0o755)
            return "a directory"
        case 3, 4:
            let target = linkTarget(&g, sandbox: sandbox, name: name)
            Surgery.removeAny(path)
            symlink(target, path)
            return "a link to '\(target.prefix(60))'"
        default:
            let bytes = text(&g)
            Surgery.write(path, bytes)
            return "\(bytes.count) bytes '\(String(decoding: bytes.prefix(24), as: UTF8.self).debugDescription)'"
        }
    }

    /// Config space, damaged in one of the ways real dumps and hostile copies are.
    static func configSpace(_ original: [UInt8], _ g: inout SeededGenerator) -> ([UInt8], String) {
        var bytes = original
        switch Int.random(in: 0..<8, using: &g) {
        case 0:
            let length = Int.random(in: 0...min(bytes.count, 300), using: &g)
            return (Array(bytes.prefix(length)), "truncated to \(length) bytes")
        case 1:
            // A capability list that points at itself.
            if bytes.count > 0x41 { bytes[0x06] |= 0x10; bytes[0x34] = 0x40; bytes[0x40] = 0x10; bytes[0x41] = 0x40 }
            return (bytes, "a capability list in a loop")
        case 2:
            // An extended capability chain that loops (next = 0x100).
            if bytes.count >= 0x104 { bytes[0x100] = 0x10; bytes[0x101] = 0x00; bytes[0x102] = 0x01; bytes[0x103] = 0x10 }
            return (bytes, "an extended capability chain in a loop")
        case 3:
            for _ in 0..<Int.random(in: 1...64, using: &g) where !bytes.isEmpty {
                bytes[Int.random(in: 0..<bytes.count, using: &g)] = UInt8.random(in: 0...255, using: &g)
            }
            return (bytes, "random bytes flipped")
        case 4:
            return (g.bytes(Int.random(in: 0...4096, using: &g)), "random bytes")
        case 5:
            return (bytes + [UInt8](repeating: 0xff, count: Int.random(in: 1...(1 << 20), using: &g)), "too long")
        case 6:
            return ([UInt8](repeating: 0xff, count: bytes.count), "all ones (a device that fell off the bus)")
        default:
            // Capability pointers into the header and past the end.
            if bytes.count > 0x34 { bytes[0x06] |= 0x10; bytes[0x34] = g.pick([0x00, 0x04, 0x3c, 0xff, 0xfc]) }
            return (bytes, "a capability pointer into the header or past the end")
        }
    }
}
