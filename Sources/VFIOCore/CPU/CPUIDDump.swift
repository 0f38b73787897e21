/// A CPU's raw x86 data as libvirt keeps it (virCPUx86Data): CPUID leaves and subleaves with
/// the four registers each returned, and MSRs. Read on this host (`collect`, libvirt's
/// cpuidSet) or from a dump in libvirt's cpudata XML (`parse`, libvirt's virCPUx86DataParse),
/// and written in the format of libvirt's CPU test data (`xml`), so dumps go both ways.
public struct CPUIDDump: Sendable, Equatable {
    public struct Leaf: Sendable, Equatable {
        public var leaf: UInt32
        public var subleaf: UInt32
        public var eax: UInt32
        public var ebx: UInt32
        public var ecx: UInt32
        public var edx: UInt32

        public init(leaf: UInt32, subleaf: UInt32 = 0, eax: UInt32 = 0, ebx: UInt32 = 0, ecx: UInt32 = 0, edx: UInt32 = 0) {
            self.leaf = leaf
            self.subleaf = subleaf
            self.eax = eax
            self.ebx = ebx
            self.ecx = ecx
            self.edx = edx
        }

        /// The registers in CPUID's order: eax, ebx, ecx, edx.
        public init(leaf: UInt32, subleaf: UInt32, registers: [UInt32]) {
            self.init(leaf: leaf, subleaf: subleaf, eax: registers.count > 0 ? registers[0] : 0, ebx: registers.count > 1 ? registers[1] : 0,
                      ecx: registers.count > 2 ? registers[2] : 0, edx: registers.count > 3 ? registers[3] : 0)
        }
    }

    public struct MSR: Sendable, Equatable {
        public var index: UInt32
        public var eax: UInt32
        public var edx: UInt32

        public init(index: UInt32, eax: UInt32, edx: UInt32) {
            self.index = index
            self.eax = eax
            self.edx = edx
        }

        public init(index: UInt32, value: UInt64) {
            self.init(index: index, eax: UInt32(truncatingIfNeeded: value), edx: UInt32(truncatingIfNeeded: value >> 32))
        }
    }

    /// Sorted by leaf, then subleaf; one entry each.
    public private(set) var leaves: [Leaf] = []
    /// Sorted by index; one entry each.
    public private(set) var msrs: [MSR] = []

    public init() {}

    /// Entries given twice are merged bit by bit, as libvirt's virCPUx86DataAddItem does.
    public init(leaves: [Leaf], msrs: [MSR] = []) {
        for leaf in leaves { add(leaf) }
        for msr in msrs { add(msr) }
    }

    public mutating func add(_ entry: Leaf) {
        let position = leaves.firstIndex { ($0.leaf, $0.subleaf) >= (entry.leaf, entry.subleaf) } ?? leaves.endIndex
        if position < leaves.endIndex, leaves[position].leaf == entry.leaf, leaves[position].subleaf == entry.subleaf {
            leaves[position].eax |= entry.eax
            leaves[position].ebx |= entry.ebx
            leaves[position].ecx |= entry.ecx
            leaves[position].edx |= entry.edx
        } else {
            leaves.insert(entry, at: position)
        }
    }

    public mutating func add(_ entry: MSR) {
        let position = msrs.firstIndex { $0.index >= entry.index } ?? msrs.endIndex
        if position < msrs.endIndex, msrs[position].index == entry.index {
            msrs[position].eax |= entry.eax
            msrs[position].edx |= entry.edx
        } else {
            msrs.insert(entry, at: position)
        }
    }

    public func leaf(_ leaf: UInt32, _ subleaf: UInt32 = 0) -> Leaf? {
        leaves.first { $0.leaf == leaf && $0.subleaf == subleaf }
    }

    /// Every bit, register by register, for the CPU map's set operations. Subleaves at or above
    /// 2^29 (no CPU has them, and libvirt's map names none) are left out.
    public var data: CPUData {
        var data = CPUData()
        for entry in leaves where entry.subleaf < 1 << 29 {
            data.add(CPUData(.cpuid(entry.leaf, entry.subleaf, .eax), entry.eax))
            data.add(CPUData(.cpuid(entry.leaf, entry.subleaf, .ebx), entry.ebx))
            data.add(CPUData(.cpuid(entry.leaf, entry.subleaf, .ecx), entry.ecx))
            data.add(CPUData(.cpuid(entry.leaf, entry.subleaf, .edx), entry.edx))
        }
        for msr in msrs {
            data.add(CPUData(.msr(msr.index, .eax), msr.eax))
            data.add(CPUData(.msr(msr.index, .edx), msr.edx))
        }
        return data
    }

    /// Leaf 0's vendor string (ebx, edx, ecx: "GenuineIntel"), nil without leaf 0.
    public var vendorString: String? {
        guard let zero = leaf(0) else { return nil }
        return CPUIDDump.text([zero.ebx, zero.edx, zero.ecx])
    }

    /// The brand string of leaves 0x80000002-0x80000004 ("Intel(R) Xeon(R) ..."), trimmed; nil
    /// when the CPU has none.
    public var brandString: String? {
        guard let top = leaf(0x8000_0000), top.eax >= 0x8000_0004 else { return nil }
        var words: [UInt32] = []
        for number: UInt32 in 0x8000_0002...0x8000_0004 {
            guard let entry = leaf(number) else { return nil }
            words += [entry.eax, entry.ebx, entry.ecx, entry.edx]
        }
        let text = CPUIDDump.text(words).trimmingWhitespace()
        return text.isEmpty ? nil : text
    }

    /// Little-endian registers as text, up to the first NUL; bytes that are not printable ASCII
    /// become '?'.
    static func text(_ words: [UInt32]) -> String {
        var characters: [Character] = []
        for word in words {
            for shift in stride(from: 0, to: 32, by: 8) {
                let byte = UInt8(truncatingIfNeeded: word >> UInt32(shift))
                if byte == 0 { return String(characters) }
                characters.append(byte >= 0x20 && byte < 0x7f ? Character(Unicode.Scalar(byte)) : "?")
            }
        }
        return String(characters)
    }

    /// Family, model and stepping from leaf 1, as libvirt reads them (nil: no signature).
    public var signature: CPUSignature? { CPUSignature(leaf1EAX: leaf(1)?.eax ?? 0) }

    // MARK: Reading a CPU as libvirt does

    /// No CPU has more leaves in a range or subleaves in a leaf than this; a CPU (or hypervisor)
    /// reporting more is not followed further, so a wrong answer cannot make the walk endless.
    public static let walkLimit: UInt32 = 256

    /// The leaves libvirt 9.0 reads from a CPU (cpu_x86.c cpuidSet for the basic range from 0 and
    /// the extended range from 0x80000000, with its rules for the leaves that have subleaves),
    /// asking `cpuid(leaf, subleaf)`.
    public static func collect(_ cpuid: (UInt32, UInt32) -> Leaf) -> CPUIDDump {
        var dump = CPUIDDump()
        for base: UInt32 in [0, 0x8000_0000] {
            let top = cpuid(base, 0).eax
            guard top >= base else { continue }
            let last = min(top, base + walkLimit - 1)
            var number = base
            while number <= last {
                dump.collectLeaf(number, cpuid)
                number += 1
            }
        }
        return dump
    }

    /// One leaf, as cpuidSet treats it (cpuidSetLeaf4, 7, B, D, ResID, 12, 14, 17).
    mutating func collectLeaf(_ number: UInt32, _ cpuid: (UInt32, UInt32) -> Leaf) {
        let zero = cpuid(number, 0)
        let limit = CPUIDDump.walkLimit
        switch number {
        case 0x4:
            // Subleaf n+1 exists while subleaf n's cache type (eax[4:0]) is not 0.
            add(zero)
            var entry = zero
            var sub: UInt32 = 0
            while entry.eax & 0x1f != 0 && sub < limit {
                sub += 1
                entry = cpuid(number, sub)
                add(entry)
            }
        case 0x7, 0x14:
            // Subleaf 0's eax is the last subleaf.
            add(zero)
            var sub: UInt32 = 1
            while sub <= min(zero.eax, limit) {
                add(cpuid(number, sub))
                sub += 1
            }
        case 0xb:
            // Subleaves while ecx[15:8] (the level type) is not 0; subleaf 0 too only then.
            var entry = zero
            var sub: UInt32 = 0
            while entry.ecx & 0xff00 != 0 && sub < limit {
                add(entry)
                sub += 1
                entry = cpuid(number, sub)
            }
        case 0xd:
            // Subleaves 0 and 1, then n for each state component subleaf 0 or 1 reports.
            add(zero)
            let one = cpuid(number, 1)
            add(one)
            for sub: UInt32 in 2..<64 {
                let reported = sub < 32 ? (zero.eax | one.ecx) & (1 << sub) : (zero.edx | one.edx) & (1 << (sub - 32))
                if reported != 0 { add(cpuid(number, sub)) }
            }
        case 0xf, 0x10:
            // Subleaf n for each resource id bit n (1-31) of subleaf 0's edx (0xf) or ebx (0x10).
            add(zero)
            let resources = number == 0xf ? zero.edx : zero.ebx
            for sub: UInt32 in 1..<32 where resources & (1 << sub) != 0 { add(cpuid(number, sub)) }
        case 0x12:
            // SGX: only with leaf 7's SGX bit; subleaves 0 and 1, then from 2 while eax[3:0] != 0.
            guard let seven = leaf(0x7), seven.ebx & (1 << 2) != 0 else { return }
            add(zero)
            add(cpuid(number, 1))
            var sub: UInt32 = 2
            var entry = cpuid(number, sub)
            while entry.eax & 0xf != 0 && sub < limit {
                add(entry)
                sub += 1
                entry = cpuid(number, sub)
            }
        case 0x17:
            // SoC vendor: only when subleaf 0's eax (the last subleaf) is at least 3.
            guard zero.eax >= 3 else { return }
            add(zero)
            var sub: UInt32 = 1
            while sub <= min(zero.eax, limit) {
                add(cpuid(number, sub))
                sub += 1
            }
        default:
            add(zero)
        }
    }

    /// The MSRs libvirt 9.0 reads on a host (virCPUx86GetHost): IA32_ARCH_CAPABILITIES (0x10a),
    /// only when CPUID says the CPU has it (the map's arch-capabilities feature). libvirt reads
    /// no other MSR for the host CPU (IA32_CORE_CAPABILITY, 0xcf, only comes from dumps).
    public func msrsLibvirtReads(_ map: CPUMap) -> [UInt32] {
        guard let feature = map.feature("arch-capabilities"), data.contains(feature.data) else { return [] }
        return [0x10a]
    }

    // MARK: cpudata XML

    /// Every `<cpudata>` at the top level of `text` (after comments and an XML declaration).
    public static func parseAll(_ text: String, file: String) throws(VFIOError) -> [CPUIDDump] {
        let elements = try CPUDefinition.topLevel(text, file: file, what: "CPUID dump")
        let dumps = elements.filter { $0.name == "cpudata" }
        guard !dumps.isEmpty else {
            throw .usage("\(file) holds no <cpudata>: not a CPUID dump",
                         hint: "give a dump as 'vfioctl cpu dump' writes it (libvirt's cpudata XML: <cpudata arch='x86'> with <cpuid .../> elements)")
        }
        var result: [CPUIDDump] = []
        for (position, element) in dumps.enumerated() {
            result.append(try parse(element, source: dumps.count == 1 ? file : "\(file) (cpudata \(position + 1), line \(element.line))"))
        }
        return result
    }

    /// One `<cpudata arch='x86'>` as libvirt's virCPUx86DataParse reads it: each `<cpuid>` needs
    /// eax_in (ecx_in and the registers default to 0), each `<msr>` index, eax and edx; numbers
    /// are hex (0x...), octal (0...) or decimal, at most 32 bits; `<alias>` is skipped.
    public static func parse(_ element: XMLElement, source: String) throws(VFIOError) -> CPUIDDump {
        let hint = "a dump holds <cpuid eax_in='0x...' ecx_in='0x...' eax='0x...' ebx='0x...' ecx='0x...' edx='0x...'/> and <msr index='0x...' edx='0x...' eax='0x...'/> lines, as 'vfioctl cpu dump' writes them"
        guard let arch = element.attribute("arch") else {
            throw .usage("\(source): <cpudata> has no arch attribute", hint: "libvirt's x86 CPU data is <cpudata arch='x86'>")
        }
        guard arch == "x86" else {
            throw .usage("\(source): <cpudata arch='\(arch.printable)'>: vfioctl decodes x86 CPU data only",
                         hint: "libvirt's x86 CPU data is <cpudata arch='x86'>; other architectures have no CPUID")
        }
        var dump = CPUIDDump()
        var entries = 0
        for item in element.elements where item.name != "alias" {
            func number(_ name: String, required: Bool) throws(VFIOError) -> UInt32 {
                guard let text = item.attribute(name) else {
                    if !required { return 0 }
                    throw .usage("\(source) line \(item.line): <\(item.name)> has no \(name)", hint: hint)
                }
                guard let value = CPUMap.number(text) else {
                    throw .usage("\(source) line \(item.line): <\(item.name)> \(name)='\(text.printable)' is not a 32-bit number", hint: hint)
                }
                return value
            }
            switch item.name {
            case "cpuid":
                dump.add(Leaf(leaf: try number("eax_in", required: true), subleaf: try number("ecx_in", required: false),
                              eax: try number("eax", required: false), ebx: try number("ebx", required: false),
                              ecx: try number("ecx", required: false), edx: try number("edx", required: false)))
            case "msr":
                dump.add(MSR(index: try number("index", required: true), eax: try number("eax", required: true),
                             edx: try number("edx", required: true)))
            default:
                throw .usage("\(source) line \(item.line): <\(item.name.printable)> in <cpudata>: only <cpuid> and <msr> belong there", hint: hint)
            }
            entries += 1
        }
        guard entries > 0 else {
            throw .usage("\(source): <cpudata> is empty: no x86 CPU data found", hint: hint)
        }
        return dump
    }

    /// The dump in the format of libvirt's CPU test data (tests/cputestdata/cpu-data.py): a
    /// comment per line of `comments` (the brand string first), then `<cpudata arch='x86'>`.
    public func xml(comments: [String]) -> String {
        var out = ""
        for comment in comments {
            out += "<!-- " + comment.replacingDoubleDashes() + " -->\n"
        }
        out += "<cpudata arch='x86'>\n"
        for entry in leaves {
            out += "  <cpuid eax_in='0x\(CPUIDDump.hex(entry.leaf, 8))' ecx_in='0x\(CPUIDDump.hex(entry.subleaf, 2))'"
                + " eax='0x\(CPUIDDump.hex(entry.eax, 8))' ebx='0x\(CPUIDDump.hex(entry.ebx, 8))'"
                + " ecx='0x\(CPUIDDump.hex(entry.ecx, 8))' edx='0x\(CPUIDDump.hex(entry.edx, 8))'/>\n"
        }
        for msr in msrs {
            out += "  <msr index='0x\(CPUIDDump.hex(msr.index, 1))' edx='0x\(CPUIDDump.hex(msr.edx, 8))' eax='0x\(CPUIDDump.hex(msr.eax, 8))'/>\n"
        }
        return out + "</cpudata>\n"
    }

    static func hex(_ value: UInt32, _ width: Int) -> String { HexDigits.padded(UInt64(value), width: width) }
}

extension String {
    /// "--" cannot appear inside an XML comment.
    func replacingDoubleDashes() -> String {
        var out = ""
        for character in self {
            if character == "-" && out.hasSuffix("-") { out += " " }
            out.append(character)
        }
        return out.hasSuffix("-") ? out + " " : out
    }
}
