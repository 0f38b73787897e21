/// One 32-bit register of x86 CPU data as libvirt's CPU map describes features: a CPUID leaf
/// (eax_in, ecx_in) and one of eax/ebx/ecx/edx, or an MSR (index) and its eax/edx half.
public struct CPURegister: Hashable, Comparable, Sendable, CustomStringConvertible {
    public enum Kind: Int, Sendable, Comparable {
        case cpuid = 1
        case msr = 2

        public static func < (a: Kind, b: Kind) -> Bool { a.rawValue < b.rawValue }
    }

    public enum Name: Int, Sendable, Comparable, CaseIterable {
        case eax, ebx, ecx, edx

        public static func < (a: Name, b: Name) -> Bool { a.rawValue < b.rawValue }
        public var text: String { ["eax", "ebx", "ecx", "edx"][rawValue] }
    }

    public var kind: Kind
    /// CPUID eax_in, or the MSR index.
    public var leaf: UInt32
    /// CPUID ecx_in (0 for MSRs).
    public var subleaf: UInt32
    public var register: Name

    public init(_ kind: Kind, leaf: UInt32, subleaf: UInt32 = 0, _ register: Name) {
        self.kind = kind
        self.leaf = leaf
        self.subleaf = subleaf
        self.register = register
    }

    public static func cpuid(_ leaf: UInt32, _ subleaf: UInt32 = 0, _ register: Name) -> CPURegister {
        CPURegister(.cpuid, leaf: leaf, subleaf: subleaf, register)
    }

    public static func msr(_ index: UInt32, _ register: Name) -> CPURegister {
        CPURegister(.msr, leaf: index, register)
    }

    public static func < (a: CPURegister, b: CPURegister) -> Bool {
        (a.kind, a.leaf, a.subleaf, a.register) < (b.kind, b.leaf, b.subleaf, b.register)
    }

    /// Kind, leaf, subleaf and register packed so that the order of keys is the order of
    /// registers (subleaves are CPUID ecx_in values, far below 2^29).
    var key: UInt64 {
        UInt64(kind == .msr ? 1 : 0) << 63 | UInt64(leaf) << 31 | UInt64(subleaf & 0x1FFF_FFFF) << 2 | UInt64(register.rawValue)
    }

    init(key: UInt64) {
        kind = key >> 63 == 1 ? .msr : .cpuid
        leaf = UInt32(truncatingIfNeeded: key >> 31)
        subleaf = UInt32(truncatingIfNeeded: (key >> 2) & 0x1FFF_FFFF)
        register = Name(rawValue: Int(key & 3)) ?? .eax
    }

    public var description: String {
        switch kind {
        case .cpuid: "cpuid 0x\(HexDigits.padded(UInt64(leaf), width: 2)).\(subleaf) \(register.text)"
        case .msr: "msr 0x\(HexDigits.padded(UInt64(leaf), width: 2)) \(register.text)"
        }
    }
}

/// A set of CPU feature bits, register by register: what libvirt's cpu_x86.c calls
/// virCPUx86Data, with the same operations (add, subtract, intersect, subset, empty).
/// Kept as parallel arrays sorted by a packed register key, so the operations are merges of
/// short arrays: a decode tries every model of the map against the data.
public struct CPUData: Equatable, Sendable {
    /// Sorted; only registers with bits set are kept, so equality is equality of the bit sets.
    private var keys: [UInt64] = []
    private var masks: [UInt32] = []

    public init() {}

    public init(_ register: CPURegister, _ bits: UInt32) {
        if bits != 0 {
            keys = [register.key]
            masks = [bits]
        }
    }

    /// The registers and their bits.
    public var registers: [CPURegister: UInt32] {
        Dictionary(uniqueKeysWithValues: zip(keys.map(CPURegister.init(key:)), masks))
    }

    /// The registers in order (CPUID before MSR, then leaf, subleaf, register).
    public var sortedRegisters: [(register: CPURegister, bits: UInt32)] {
        zip(keys, masks).map { (CPURegister(key: $0.0), $0.1) }
    }

    public var isEmpty: Bool { keys.isEmpty }

    /// How many bits are set.
    public var count: Int { masks.reduce(0) { $0 + $1.nonzeroBitCount } }

    /// Bits in the given register.
    public subscript(register: CPURegister) -> UInt32 { bits(register.key) }

    func bits(_ key: UInt64) -> UInt32 {
        var low = 0, high = keys.count
        while low < high {
            let middle = (low + high) / 2
            if keys[middle] < key { low = middle + 1 } else { high = middle }
        }
        return low < keys.count && keys[low] == key ? masks[low] : 0
    }

    /// Merges two sorted register lists with `combine` (bits here, bits there) → bits kept.
    private static func merge(_ a: CPUData, _ b: CPUData, _ combine: (UInt32, UInt32) -> UInt32) -> CPUData {
        var out = CPUData()
        out.keys.reserveCapacity(a.keys.count + b.keys.count)
        out.masks.reserveCapacity(a.keys.count + b.keys.count)
        var i = 0, j = 0
        while i < a.keys.count || j < b.keys.count {
            let key: UInt64
            var mine: UInt32 = 0, theirs: UInt32 = 0
            if j >= b.keys.count || (i < a.keys.count && a.keys[i] < b.keys[j]) {
                key = a.keys[i]; mine = a.masks[i]; i += 1
            } else if i >= a.keys.count || b.keys[j] < a.keys[i] {
                key = b.keys[j]; theirs = b.masks[j]; j += 1
            } else {
                key = a.keys[i]; mine = a.masks[i]; theirs = b.masks[j]; i += 1; j += 1
            }
            let bits = combine(mine, theirs)
            if bits != 0 {
                out.keys.append(key)
                out.masks.append(bits)
            }
        }
        return out
    }

    public mutating func add(_ other: CPUData) {
        guard !other.isEmpty else { return }
        self = CPUData.merge(self, other) { $0 | $1 }
    }

    public mutating func subtract(_ other: CPUData) {
        guard !other.isEmpty, !isEmpty else { return }
        self = CPUData.merge(self, other) { $0 & ~$1 }
    }

    public mutating func intersect(_ other: CPUData) {
        self = CPUData.merge(self, other) { $0 & $1 }
    }

    public func adding(_ other: CPUData) -> CPUData { CPUData.merge(self, other) { $0 | $1 } }
    public func subtracting(_ other: CPUData) -> CPUData { CPUData.merge(self, other) { $0 & ~$1 } }
    public func intersecting(_ other: CPUData) -> CPUData { CPUData.merge(self, other) { $0 & $1 } }

    /// Every bit of `subset` is set here (an empty subset is always contained, as in libvirt).
    public func contains(_ subset: CPUData) -> Bool {
        if subset.keys.count == 1 { return bits(subset.keys[0]) & subset.masks[0] == subset.masks[0] }
        var i = 0
        for j in 0..<subset.keys.count {
            while i < keys.count && keys[i] < subset.keys[j] { i += 1 }
            guard i < keys.count, keys[i] == subset.keys[j], masks[i] & subset.masks[j] == subset.masks[j] else { return false }
        }
        return true
    }

    /// Calls `body` with each register's packed key and bits, in order.
    func forEachRegister(_ body: (UInt64, UInt32) -> Void) {
        for index in keys.indices { body(keys[index], masks[index]) }
    }

    /// Each register of either side, in order, with the bits of both: for libvirt's
    /// register-by-register model comparison.
    func pairs(with other: CPUData) -> [(mine: UInt32, theirs: UInt32)] {
        var result: [(UInt32, UInt32)] = []
        _ = CPUData.merge(self, other) { mine, theirs in
            result.append((mine, theirs))
            return 0
        }
        return result
    }
}
