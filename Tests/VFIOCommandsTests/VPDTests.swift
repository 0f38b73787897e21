import Foundation
import Testing
import VFIOCore
import VFIOTestSupport

/// vfioctl reads VPD as libvirt does, because nova sees a card's serial number only through
/// libvirt: judged by libvirt 9.0.0's own virPCIVPDParse (fixtures/engines/vpd_judge.py) on
/// hand-made VPDs and on a few hundred generated and mutated ones.
@Suite("PCI VPD read as libvirt reads it")
struct VPDTests {
    struct Verdict: Equatable, CustomStringConvertible {
        var valid: Bool
        var name: String?
        var serial: String?
        var part: String?
        var description: String { "valid=\(valid) name=\(name ?? "nil") serial=\(serial ?? "nil") part=\(part ?? "nil")" }
    }

    static func ours(_ bytes: [UInt8]) -> Verdict {
        switch PCIVPD.parse(bytes) {
        case .success(let vpd): Verdict(valid: true, name: vpd.name, serial: vpd.serialNumber, part: vpd.partNumber)
        case .failure: Verdict(valid: false)
        }
    }

    static func libvirt(_ blobs: [[UInt8]]) throws -> [Verdict] {
        let directory = ScratchDirectory.make("vfioctl-vpd")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let paths = try blobs.enumerated().map { index, blob in
            let path = directory + "/vpd-\(index)"
            try Data(blob).write(to: URL(fileURLWithPath: path))
            return path
        }
        let result = try TestProcess.run(EngineJudge.python, [EngineJudge.directory + "/vpd_judge.py"] + paths, timeout: 300)
        let lines = result.out.split(separator: "\n")
        guard lines.count == blobs.count else { throw JudgeFailed("vpd_judge.py: \(lines.count) results for \(blobs.count) files\n\(result.err)") }
        return try lines.map { line in
            let object = try TestProcess.json(String(line))
            return Verdict(valid: object["valid"] as? Bool ?? false, name: object["name"] as? String,
                           serial: object["serial_number"] as? String, part: object["part_number"] as? String)
        }
    }

    /// The shapes that decide: each is a case libvirt takes or refuses for its own reason.
    static var handMade: [(String, [UInt8])] {
        var cases: [(String, [UInt8])] = []
        let card = VPDBytes.card(serial: "MT2231X01234")
        cases.append(("a card", card.bytes))
        var checksum = card.bytes
        checksum[checksum.count - 12] ^= 0x40  // a byte of the VPD-W: after the checksum, so still valid
        cases.append(("a VPD-W byte changed", checksum))
        var broken = card.bytes
        broken[5] ^= 0x01
        cases.append(("the name changed: the checksum is wrong", broken))
        cases.append(("no end tag", Array(card.bytes.dropLast())))
        cases.append(("cut in the VPD-R", Array(card.bytes.prefix(40))))
        cases.append(("empty", []))
        cases.append(("a serial number padded with spaces", VPDBytes(name: "N", readOnly: [("SN", Array("  SN 42  ".utf8))]).bytes))
        cases.append(("a serial number with a control byte", VPDBytes(name: "N", readOnly: [("SN", [0x41, 0x01, 0x42])]).bytes))
        cases.append(("a serial number cut at a NUL", VPDBytes(name: "N", readOnly: [("SN", [0x41, 0x00, 0x42])]).bytes))
        cases.append(("the serial number twice", VPDBytes(name: "N", readOnly: [("SN", Array("one".utf8)), ("SN", Array("two".utf8))]).bytes))
        cases.append(("an RW in the VPD-R", VPDBytes(name: "N", readOnly: [("RW", [0, 0])]).bytes))
        cases.append(("lower-case and unknown keywords", VPDBytes(name: "N", readOnly: [("sn", Array("x".utf8)), ("ZZ", [1, 2]), ("SN", Array("ok".utf8))]).bytes))
        cases.append(("vendor and system keywords", VPDBytes(name: "N", readOnly: [("VA", Array("v".utf8)), ("Y1", Array("y".utf8)), ("SN", Array("s".utf8))]).bytes))
        cases.append(("a name that is not text", VPDBytes(name: "N\u{7f}", readOnly: [("SN", Array("s".utf8))]).bytes))
        var reserved = VPDBytes(name: "N", readOnly: [("SN", Array("s".utf8))])
        reserved.reserved = 5
        cases.append(("reserved space after the checksum", reserved.bytes))
        var noRW = VPDBytes(name: "N", readOnly: [("SN", Array("s".utf8))], readWrite: [])
        noRW.readWriteSpace = 0
        cases.append(("an RW without space", noRW.bytes))
        // An unknown large resource first: libvirt skips its data unread, so only its header is in
        // the checksum (and a checksum over all of it is wrong).
        var unknown = VPDBytes(name: "N", readOnly: [("SN", Array("s".utf8))])
        unknown.skipped = [7, 7]
        cases.append(("an unknown resource first", unknown.bytes))
        var counted = unknown.bytes
        counted[counted.count - 2] &-= 14
        cases.append(("an unknown resource first, its data in the checksum", counted))
        let plain = VPDBytes(name: "N", readOnly: [("SN", Array("s".utf8))]).bytes
        cases.append(("a small resource first", [0x12, 9, 9] + plain))
        cases.append(("no VPD-R", [0x82, 1, 0, 0x4E, 0x78]))
        return cases
    }

    @Test("hand-made VPDs: vfioctl takes and refuses what libvirt does, with the same serial number")
    func handMadeAgree() throws {
        let cases = Self.handMade
        let judged = try Self.libvirt(cases.map(\.1))
        for (index, (name, bytes)) in cases.enumerated() {
            #expect(Self.ours(bytes) == judged[index], "\(name): vfioctl \(Self.ours(bytes)), libvirt \(judged[index])")
        }
        // The judge itself: a card's serial and part numbers, and a refusal.
        #expect(judged[0] == Verdict(valid: true, name: "Example 25GbE SmartNIC", serial: "MT2231X01234", part: "MCX623106AN"))
        #expect(judged[2].valid == false && judged[3].valid == false)
        let skipped = try #require(cases.firstIndex { $0.0 == "an unknown resource first" })
        #expect(judged[skipped].valid && !judged[skipped + 1].valid, "libvirt skips an unknown resource's data unread")
    }

    @Test("generated and mutated VPDs (seeded): vfioctl and libvirt agree on every one")
    func generatedAgree() throws {
        var random = SeededGenerator(seed: 0x5650_4421)
        var blobs: [[UInt8]] = []
        let keywords = ["SN", "PN", "EC", "MN", "V0", "VZ", "YA", "Y3", "CP", "RV", "RW", "ZZ", "s1", "\u{0}N"]
        for _ in 0..<400 {
            var vpd = VPDBytes(name: String(repeating: "n", count: Int.random(in: 0...20, using: &random)),
                               readOnly: (0..<Int.random(in: 0...5, using: &random)).map { _ in
                                   (random.pick(keywords), random.chance(80) ? Array("V\(random.next() % 1000)".utf8) : random.bytes(Int.random(in: 0...6, using: &random)))
                               })
            if random.chance(50) { vpd.readWrite = (0..<Int.random(in: 0...2, using: &random)).map { _ in (random.pick(keywords), random.bytes(2)) } }
            vpd.reserved = random.chance(20) ? Int.random(in: 1...8, using: &random) : 0
            if random.chance(15) { vpd.skipped = random.bytes(Int.random(in: 0...4, using: &random)) }
            var bytes = vpd.bytes
            for _ in 0..<Int.random(in: 0...3, using: &random) where !bytes.isEmpty {
                let at = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0: bytes[at] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes = Array(bytes.prefix(at))
                case 2: bytes.insert(UInt8.random(in: 0...255, using: &random), at: at)
                default: bytes[at] ^= 0x80
                }
            }
            blobs.append(bytes)
        }
        let judged = try Self.libvirt(blobs)
        var disagreements: [String] = []
        for (index, blob) in blobs.enumerated() where Self.ours(blob) != judged[index] {
            disagreements.append("#\(index) \(blob.map { String($0, radix: 16) }.joined(separator: " ")): vfioctl \(Self.ours(blob)), libvirt \(judged[index])")
        }
        let shown = disagreements.prefix(5).joined(separator: "\n")
        #expect(disagreements.isEmpty, "\(disagreements.count) of \(blobs.count):\n\(shown)")
        // The generator reaches both sides.
        #expect(judged.filter(\.valid).count > 50 && judged.filter { !$0.valid }.count > 50, "\(judged.filter(\.valid).count) valid")
    }
}
