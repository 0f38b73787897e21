import Foundation
import Testing
@testable import VFIOCore

/// libvirt 9.0 is the oracle: fixtures/cpuid holds its test suite's dumps of 61 real CPUs and the
/// host CPU libvirt decodes from each (see fixtures/cpuid/README.md), and libvirt's CPU map is the
/// one Debian's libvirt0 installs (byte for byte 9.0.0's). Without the map these tests fail.
enum CPUIDFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/cpuid").path
    static let mapDirectory = "/usr/share/libvirt/cpu_map"

    static func models() throws -> CPUModels {
        let index = try String(contentsOfFile: mapDirectory + "/index.xml", encoding: .utf8)
        let map = try CPUMap.parse(index: index, where: mapDirectory) { name throws(VFIOError) in
            guard let text = try? String(contentsOfFile: mapDirectory + "/" + name, encoding: .utf8) else {
                throw VFIOError.failed("cannot read \(mapDirectory)/\(name): libvirt's CPU map is needed (package libvirt0)")
            }
            return text
        }
        return CPUModels(map: map)
    }

    /// The CPUs: "Core-i7-5600U" for x86_64-cpuid-Core-i7-5600U.xml and its -host.xml.
    static func names() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory)
            .filter { $0.hasPrefix("x86_64-cpuid-") && $0.hasSuffix("-host.xml") }
            .map { String($0.dropFirst("x86_64-cpuid-".count).dropLast("-host.xml".count)) }
            .sorted()
    }

    static func dump(_ name: String) throws -> CPUIDDump {
        let file = "x86_64-cpuid-\(name).xml"
        let dumps = try CPUIDDump.parseAll(try String(contentsOfFile: directory + "/" + file, encoding: .utf8), file: file)
        #expect(dumps.count == 1)
        return dumps[0]
    }

    static func libvirtHost(_ name: String) throws -> String {
        try String(contentsOfFile: directory + "/x86_64-cpuid-\(name)-host.xml", encoding: .utf8)
    }
}

@Suite("CPUID dumps decoded as libvirt 9.0 decodes them (fixtures/cpuid)")
struct CPUIDFixtureTests {
    @Test("every fixture: the <cpu> is libvirt's -host.xml byte for byte (model, vendor, signature, features in order)")
    func everyFixture() throws {
        let models = try CPUIDFixtures.models()
        let names = try CPUIDFixtures.names()
        #expect(names.count == 61, "fixtures/cpuid should hold libvirt 9.0's 61 x86 CPUs")
        for name in names {
            let dump = try CPUIDFixtures.dump(name)
            let host = try HostCPU.decode(dump: dump, with: models, source: .dump(file: name))
            let expected = try CPUIDFixtures.libvirtHost(name)
            #expect(CPUOutput.hostElement(host).rendered() == expected, "\(name)")
            // The same, as values: what compare and baseline take.
            let parsed = try CPUDefinition.parseAll(expected, file: name, kind: .host)[0]
            #expect(host.definition.model == parsed.model && host.definition.vendor == parsed.vendor, "\(name)")
            #expect(host.definition.features == parsed.features, "\(name)")
        }
    }

    @Test("a spread the fixtures must cover: Hygon, broken TSX, MSR features, signatures decided by stepping", arguments: [
        // Haswell family 6 model 60: TSX dropped, so Haswell-noTSX although the CPUID has hle and rtm.
        ("Core-i5-4670T", "Haswell-noTSX", "Intel", [6, 60, 3], ["hle", "rtm"], []),
        ("Xeon-E7-8890-v3", "Haswell", "Intel", [6, 63, 4], [], []),
        ("Hygon-C86-7185-32-core", "Dhyana", "Hygon", [24, 0, 1], [], []),
        // MSR 0x10a bits become features of their own.
        ("Xeon-Platinum-8268", "Cascadelake-Server", "Intel", [6, 85, 6], [], ["rdctl-no", "ibrs-all", "skip-l1dfl-vmentry", "mds-no"]),
        // IA32_CORE_CAPABILITY (0xcf) in the dump: split-lock-detect, which libvirt reads only from dumps.
        ("Atom-P5362", "Westmere-IBRS", "Intel", [6, 134, 5], [], ["core-capability", "split-lock-detect"]),
        ("EPYC-7502-32-Core", "EPYC-Rome", "AMD", [23, 49, 0], [], []),
    ] as [(String, String, String, [Int], [String], [String])])
    func spread(name: String, model: String, vendor: String, signature: [Int], absent: [String], present: [String]) throws {
        let host = try HostCPU.decode(dump: try CPUIDFixtures.dump(name), with: try CPUIDFixtures.models(), source: .dump(file: name))
        #expect(host.cpu.model == model)
        #expect(host.cpu.vendor == vendor)
        #expect(host.signature == CPUSignature(family: signature[0], model: signature[1], stepping: signature[2]))
        let names = Set(host.cpu.features.map(\.name))
        for feature in absent { #expect(!names.contains(feature), "\(feature)") }
        for feature in present { #expect(names.contains(feature), "\(feature)") }
        #expect(host.cpu.features.allSatisfy { $0.policy == nil }, "a host CPU's features carry no policy")
    }

    @Test("broken TSX is dropped only on libvirt's list: the 4670T (model 60) has hle and rtm in CPUID, model 61 would keep them")
    func tsx() throws {
        let models = try CPUIDFixtures.models()
        let dump = try CPUIDFixtures.dump("Core-i5-4670T")
        let tsx = ["hle", "rtm"].compactMap { models.map.feature($0)?.data }
        #expect(tsx.count == 2 && tsx.allSatisfy { dump.data.contains($0) })
        func has(_ cpu: ComputedCPU, _ data: CPUData) -> Bool {
            var all = models.map.model(cpu.model)?.data ?? CPUData()
            for feature in cpu.features { if let bits = models.map.feature(feature.name)?.data { all.add(bits) } }
            return all.contains(data)
        }
        let broken = try models.decode(raw: dump.data, kind: .host)
        #expect(broken.cpu.model == "Haswell-noTSX" && !tsx.contains { has(broken.cpu, $0) })
        guard let one = dump.leaf(1) else { Issue.record("no leaf 1"); return }
        let later = CPUIDDump(leaves: dump.leaves.filter { $0.leaf != 1 }
                                  + [CPUIDDump.Leaf(leaf: 1, eax: (one.eax & ~0xf0) | 0xd0, ebx: one.ebx, ecx: one.ecx, edx: one.edx)],
                              msrs: dump.msrs)
        let kept = try models.decode(raw: later.data, kind: .host)
        #expect(kept.signature?.model == 61)
        #expect(tsx.allSatisfy { has(kept.cpu, $0) })
    }

    @Test("libvirt's walk of the leaves (cpuidSet), replayed on every fixture, decodes to the same CPU")
    func walkReplayed() throws {
        let models = try CPUIDFixtures.models()
        for name in try CPUIDFixtures.names() {
            let dump = try CPUIDFixtures.dump(name)
            var walked = CPUIDDump.collect { leaf, subleaf in dump.leaf(leaf, subleaf) ?? CPUIDDump.Leaf(leaf: leaf, subleaf: subleaf) }
            for msr in dump.msrs { walked.add(msr) }
            let expected = try HostCPU.decode(dump: dump, with: models, source: .dump(file: name))
            let replayed = try HostCPU.decode(dump: walked, with: models, source: .dump(file: name))
            #expect(replayed.cpu == expected.cpu && replayed.signature == expected.signature, "\(name)")
            // Every leaf the walk took is the dump's own (or a zero one the dump lacks).
            for leaf in walked.leaves where dump.leaf(leaf.leaf, leaf.subleaf) != nil {
                #expect(dump.leaf(leaf.leaf, leaf.subleaf) == leaf, "\(name) \(leaf.leaf).\(leaf.subleaf)")
            }
        }
    }

    @Test("a dump written by vfioctl reads back the same, and decodes the same")
    func roundTrip() throws {
        let models = try CPUIDFixtures.models()
        for name in ["Xeon-Platinum-8268", "Atom-P5362", "Hygon-C86-7185-32-core", "FX-8150"] {
            let dump = try CPUIDFixtures.dump(name)
            let text = dump.xml(comments: [dump.brandString ?? "unknown CPU", "a -- comment"])
            let again = try CPUIDDump.parseAll(text, file: "again.xml")
            #expect(again == [dump], "\(name)")
            #expect(try HostCPU.decode(dump: again[0], with: models, source: .dump(file: name)).cpu
                        == HostCPU.decode(dump: dump, with: models, source: .dump(file: name)).cpu)
        }
        #expect(try CPUIDFixtures.dump("Xeon-Platinum-8268").brandString == "Intel(R) Xeon(R) Platinum 8268 CPU @ 2.90GHz")
        #expect(try CPUIDFixtures.dump("Hygon-C86-7185-32-core").vendorString == "HygonGenuine")
    }
}

@Suite("CPUID: libvirt's walk of the leaves and its cpudata format")
struct CPUIDWalkTests {
    /// A CPU that answers from a table (zeros elsewhere) and counts the questions.
    final class FakeCPU: @unchecked Sendable {
        var table: [String: CPUIDDump.Leaf] = [:]
        var asked = 0
        func set(_ leaf: UInt32, _ subleaf: UInt32 = 0, eax: UInt32 = 0, ebx: UInt32 = 0, ecx: UInt32 = 0, edx: UInt32 = 0) {
            table["\(leaf).\(subleaf)"] = CPUIDDump.Leaf(leaf: leaf, subleaf: subleaf, eax: eax, ebx: ebx, ecx: ecx, edx: edx)
        }
        func answer(_ leaf: UInt32, _ subleaf: UInt32) -> CPUIDDump.Leaf {
            asked += 1
            return table["\(leaf).\(subleaf)"] ?? CPUIDDump.Leaf(leaf: leaf, subleaf: subleaf)
        }
        func subleaves(_ dump: CPUIDDump, _ leaf: UInt32) -> [UInt32] { dump.leaves.filter { $0.leaf == leaf }.map(\.subleaf) }
    }

    @Test("subleaves as cpuidSet takes them: 4 to the first null cache, 7 and 0x14 up to eax, 0xb while a level, 0xd by the state bitmaps, 0xf/0x10 by resource bits, 0x12 only with SGX, 0x17 from eax 3")
    func subleafRules() {
        let cpu = FakeCPU()
        cpu.set(0, eax: 0x17)
        cpu.set(4, 0, eax: 0x121); cpu.set(4, 1, eax: 0x122); cpu.set(4, 2, eax: 0x143)  // subleaf 3: null
        cpu.set(7, 0, eax: 2); cpu.set(7, 1, eax: 0x10); cpu.set(7, 2, edx: 1)
        cpu.set(0xb, 0, ecx: 0x100); cpu.set(0xb, 1, ecx: 0x201)  // subleaf 2: no level
        cpu.set(0xd, 0, eax: 0x7 | 1 << 5, edx: 1 << 1); cpu.set(0xd, 1, ecx: 1 << 8)
        cpu.set(0xf, 0, edx: 1 << 1 | 1 << 3)
        cpu.set(0x10, 0, ebx: 1 << 2)
        cpu.set(0x12, 0, eax: 1)  // no SGX in leaf 7: left out
        cpu.set(0x14, 0, eax: 1)
        cpu.set(0x17, 0, eax: 2)  // below 3: left out
        cpu.set(0x8000_0000, eax: 0x8000_0008)
        let dump = CPUIDDump.collect(cpu.answer)
        #expect(cpu.subleaves(dump, 4) == [0, 1, 2, 3])
        #expect(cpu.subleaves(dump, 7) == [0, 1, 2])
        #expect(cpu.subleaves(dump, 0xb) == [0, 1])
        #expect(cpu.subleaves(dump, 0xd) == [0, 1, 2, 5, 8, 33])
        #expect(cpu.subleaves(dump, 0xf) == [0, 1, 3])
        #expect(cpu.subleaves(dump, 0x10) == [0, 2])
        #expect(cpu.subleaves(dump, 0x12).isEmpty)
        #expect(cpu.subleaves(dump, 0x14) == [0, 1])
        #expect(cpu.subleaves(dump, 0x17).isEmpty)
        #expect(dump.leaves.filter { $0.leaf >= 0x8000_0000 }.map(\.leaf) == Array(0x8000_0000...0x8000_0008))
        #expect(dump.leaf(0x18) == nil && dump.leaf(0x16) != nil)

        // With SGX, 0x12 has subleaves 0, 1 and from 2 while eax[3:0] is set; 0xb without a level at 0 is left out.
        let sgx = FakeCPU()
        sgx.set(0, eax: 0x12)
        sgx.set(7, 0, ebx: 1 << 2)
        sgx.set(0x12, 2, eax: 1); sgx.set(0x12, 3, eax: 1)
        sgx.set(0x17, 0, eax: 3)
        let walked = CPUIDDump.collect(sgx.answer)
        #expect(sgx.subleaves(walked, 0x12) == [0, 1, 2, 3])
        #expect(sgx.subleaves(walked, 0xb).isEmpty)
    }

    @Test("a CPU that claims absurd leaf counts is walked a bounded number of times")
    func bounded() {
        let cpu = FakeCPU()
        cpu.set(0, eax: 0xffff_ffff)
        cpu.set(4, 0, eax: 0x1f)
        cpu.set(0x8000_0000, eax: 0xffff_ffff)
        // Every subleaf of 4 claims another cache; every leaf 7 subleaf count is huge.
        for sub: UInt32 in 0..<400 { cpu.set(4, sub, eax: 1); cpu.set(0xb, sub, ecx: 0x100) }
        cpu.set(7, 0, eax: 0xffff_ffff)
        let dump = CPUIDDump.collect(cpu.answer)
        #expect(dump.leaves.filter { $0.leaf < 0x8000_0000 }.map(\.leaf).max() == CPUIDDump.walkLimit - 1)
        #expect(dump.leaves.filter { $0.leaf == 4 }.count == Int(CPUIDDump.walkLimit) + 1)
        #expect(cpu.asked < 5000)
    }

    @Test("MSRs libvirt reads on a host: 0x10a only when CPUID says arch-capabilities")
    func msrs() throws {
        let models = try CPUIDFixtures.models()
        #expect(try CPUIDFixtures.dump("Xeon-Platinum-8268").msrsLibvirtReads(models.map) == [0x10a])
        #expect(try CPUIDFixtures.dump("Core-i7-5600U").msrsLibvirtReads(models.map) == [])
    }

    @Test("entries given twice merge bit by bit; the XML is sorted and in libvirt's test-data format")
    func format() throws {
        let dump = CPUIDDump(leaves: [CPUIDDump.Leaf(leaf: 0x8000_0001, edx: 1), CPUIDDump.Leaf(leaf: 1, subleaf: 0, ecx: 2),
                                      CPUIDDump.Leaf(leaf: 1, ecx: 1), CPUIDDump.Leaf(leaf: 7, subleaf: 1, eax: 0x10)],
                             msrs: [CPUIDDump.MSR(index: 0xcf, value: 0x20), CPUIDDump.MSR(index: 0x10a, value: 0x1_0000_0002)])
        #expect(dump.xml(comments: ["x"]) == """
            <!-- x -->
            <cpudata arch='x86'>
              <cpuid eax_in='0x00000001' ecx_in='0x00' eax='0x00000000' ebx='0x00000000' ecx='0x00000003' edx='0x00000000'/>
              <cpuid eax_in='0x00000007' ecx_in='0x01' eax='0x00000010' ebx='0x00000000' ecx='0x00000000' edx='0x00000000'/>
              <cpuid eax_in='0x80000001' ecx_in='0x00' eax='0x00000000' ebx='0x00000000' ecx='0x00000000' edx='0x00000001'/>
              <msr index='0xcf' edx='0x00000000' eax='0x00000020'/>
              <msr index='0x10a' edx='0x00000001' eax='0x00000002'/>
            </cpudata>

            """)
        // libvirt's own format (virCPUx86DataFormat: ecx_in 8 digits, msr eax before edx) and
        // decimal or octal numbers read the same.
        let libvirt = """
            <cpudata arch='x86'>
              <cpuid eax_in='0x00000001' ecx_in='0x00000000' eax='0' ebx='0' ecx='03' edx='0'/>
              <cpuid eax_in='7' ecx_in='1' eax='16'/>
              <cpuid eax_in='0x80000001' edx='0x1'/>
              <msr index='207' eax='0x00000020' edx='0x00000000'/>
              <msr index='0x10a' eax='0x00000002' edx='0x00000001'/>
            </cpudata>
            """
        #expect(try CPUIDDump.parseAll(libvirt, file: "libvirt.xml") == [dump])
    }

    @Test("bad dumps: a usage error naming the file, the line and the value, with a hint", arguments: [
        ("not XML at all", "malformed XML"),
        ("", "is empty"),
        ("<cpu><arch>x86_64</arch><model>Haswell</model></cpu>", "holds no <cpudata>"),
        ("<cpudata><cpuid eax_in='0'/></cpudata>", "has no arch attribute"),
        ("<cpudata arch='ppc64'><cpuid eax_in='0'/></cpudata>", "arch='ppc64'"),
        ("<cpudata arch='x86'></cpudata>", "no x86 CPU data found"),
        ("<cpudata arch='x86'>\n<cpuid ecx_in='0' eax='1'/></cpudata>", "line 2: <cpuid> has no eax_in"),
        ("<cpudata arch='x86'><cpuid eax_in='0x1' eax='0x1ffffffff'/></cpudata>", "eax='0x1ffffffff' is not a 32-bit number"),
        ("<cpudata arch='x86'><cpuid eax_in='-1'/></cpudata>", "eax_in='-1'"),
        ("<cpudata arch='x86'><msr index='0x10a' eax='1'/></cpudata>", "<msr> has no edx"),
        ("<cpudata arch='x86'><leaf eax_in='0'/></cpudata>", "<leaf> in <cpudata>"),
    ] as [(String, String)])
    func badDump(text: String, message: String) {
        #expect {
            _ = try CPUIDDump.parseAll(text, file: "bad.xml")
        } throws: { error in
            guard let error = error as? VFIOError else { return false }
            return error.kind == .usage && error.message.contains("bad.xml") && error.message.contains(message) && error.hint != nil
        }
    }

    @Test("a dump without leaf 0, or with a vendor libvirt's map lacks, is refused; a live CPU with one decodes without a vendor")
    func vendor() throws {
        let models = try CPUIDFixtures.models()
        let dump = try CPUIDFixtures.dump("Core-i7-5600U")
        let noLeaf0 = CPUIDDump(leaves: dump.leaves.filter { $0.leaf != 0 }, msrs: dump.msrs)
        #expect {
            _ = try HostCPU.decode(dump: noLeaf0, with: models, source: .dump(file: "d.xml"))
        } throws: { ($0 as? VFIOError).map { $0.kind == .usage && $0.message.contains("d.xml: no CPUID leaf 0") } ?? false }
        // "CentaurHauls"
        let centaur = CPUIDDump(leaves: dump.leaves.filter { $0.leaf != 0 } + [CPUIDDump.Leaf(leaf: 0, eax: 0x14, ebx: 0x746e_6543, ecx: 0x736c_7561, edx: 0x4872_7561)],
                                msrs: dump.msrs)
        #expect(centaur.vendorString == "CentaurHauls")
        #expect {
            _ = try HostCPU.decode(dump: centaur, with: models, source: .dump(file: "d.xml"))
        } throws: { error in
            guard let error = error as? VFIOError else { return false }
            return error.message.contains("'CentaurHauls'") && (error.hint ?? "").contains("HygonGenuine (Hygon)")
        }
        let live = try HostCPU.decode(dump: centaur, with: models, source: .cpuid(cpu: 0, msrs: "no MSR to read"))
        #expect(live.cpu.vendor == nil && live.vendorID == "CentaurHauls")
    }
}

@Suite("CPUID dumps from the lab's QEMU CPU models, decoded as the running libvirt decoded them (fixtures/cpuid-qemu)")
struct CPUIDLabFixtureTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/cpuid-qemu").path

    /// The `<signature>` attributes of the first `<cpu>` in `text`.
    static func signature(_ text: String) throws -> [String] {
        let element = try CPUDefinition.elements(in: text, file: "x")[0]
        return ["family", "model", "stepping"].map { element.first("signature")?.attribute($0) ?? "-" }
    }

    @Test("each boot's dump (vfioctl cpu dump) decodes to the host <cpu> virsh capabilities printed in that guest")
    func labDumps() throws {
        let models = try CPUIDFixtures.models()
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.directory)
            .filter { $0.hasSuffix("-libvirt.xml") }.map { String($0.dropLast("-libvirt.xml".count)) }.sorted()
        #expect(names.count >= 5, "fixtures/cpuid-qemu holds the cpu-* boots' dumps")
        for name in names {
            let dumps = try CPUIDDump.parseAll(try String(contentsOfFile: Self.directory + "/\(name).xml", encoding: .utf8), file: name)
            let host = try HostCPU.decode(dump: dumps[0], with: models, source: .dump(file: name))
            let libvirtText = try String(contentsOfFile: Self.directory + "/\(name)-libvirt.xml", encoding: .utf8)
            let libvirt = try CPUDefinition.parseAll(libvirtText, file: name, kind: .host)[0]
            #expect(host.cpu.model == libvirt.model && host.cpu.vendor == libvirt.vendor, "\(name): \(host.cpu.model) vs \(libvirt.model ?? "-")")
            #expect(host.cpu.features == libvirt.features, "\(name)")
            let mine = CPUOutput.hostElement(host).rendered()
            #expect(try Self.signature(mine) == Self.signature(libvirtText), "\(name)")
        }
    }
}
