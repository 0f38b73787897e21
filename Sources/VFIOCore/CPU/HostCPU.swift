/// A host's CPU as libvirt describes it in `virsh capabilities`: the closest model of the CPU
/// map, the vendor, the signature, the features beyond the model, and the topology — decoded
/// from what the CPU itself answers (CPUID and MSRs, as libvirt reads them), from a dump of
/// another host's answers, or, where CPUID cannot be run, from /proc/cpuinfo's flags.
public struct HostCPU: Sendable, Equatable {
    /// Where the CPU data came from.
    public enum Source: Sendable, Equatable {
        /// The CPUID instruction on this host, run on CPU `cpu`; `msrs` says how the MSRs libvirt
        /// reads were read (or that none was needed).
        case cpuid(cpu: Int, msrs: String)
        /// A CPUID dump (libvirt's cpudata XML) in `file`.
        case dump(file: String)
        /// /proc/cpuinfo's flags, because CPUID cannot be run (`reason`).
        case cpuinfo(reason: String)

        /// `cpuid`, `cpuid-dump` or `cpuinfo` (JSON's `source`).
        public var name: String {
            switch self {
            case .cpuid: "cpuid"
            case .dump: "cpuid-dump"
            case .cpuinfo: "cpuinfo"
            }
        }

        /// One line for people.
        public var summary: String {
            switch self {
            case .cpuid(let cpu, let msrs): "the CPUID instruction on CPU \(cpu); \(msrs)"
            case .dump(let file): "the CPUID dump \(file)"
            case .cpuinfo(let reason): "/proc/cpuinfo flags (\(reason))"
            }
        }
    }

    /// Sockets, cores per socket, threads per core, and logical CPUs (from /proc/cpuinfo).
    public struct Topology: Sendable, Equatable {
        public var sockets: Int
        public var cores: Int
        public var threads: Int
        public var logicalCPUs: Int

        public init(sockets: Int, cores: Int, threads: Int, logicalCPUs: Int) {
            self.sockets = sockets
            self.cores = cores
            self.threads = threads
            self.logicalCPUs = logicalCPUs
        }

        init?(_ info: CPUInfo) {
            guard info.logicalCPUs > 0 else { return nil }
            self.init(sockets: info.sockets, cores: info.cores, threads: info.threads, logicalCPUs: info.logicalCPUs)
        }
    }

    public var source: Source
    public var arch: String
    /// The CPUID vendor string ("GenuineIntel").
    public var vendorID: String?
    public var cpu: ComputedCPU
    public var signature: CPUSignature?
    public var microcode: UInt64?
    public var modelName: String?
    public var physicalAddressBits: Int?
    /// nil for a dump (another host's topology is not in its CPUID).
    public var topology: Topology?
    /// Flags that name no feature of libvirt's map (/proc/cpuinfo only).
    public var unmappedFlags: [String] = []
    /// libvirt features set from flags that are not CPUID bits themselves, with the reason
    /// (/proc/cpuinfo only).
    public var inferredFeatures: [(name: String, reason: String)] = []
    /// Features libvirt's map names whose bits could not be read (an MSR with neither
    /// /dev/cpu/N/msr nor /dev/kvm), with the reason: the CPU may have them.
    public var unreadFeatures: [(name: String, reason: String)] = []

    public static func == (a: HostCPU, b: HostCPU) -> Bool {
        func pairs(_ list: [(name: String, reason: String)]) -> [String] { list.map { $0.name + "\u{0}" + $0.reason } }
        return a.source == b.source && a.arch == b.arch && a.vendorID == b.vendorID && a.cpu == b.cpu && a.signature == b.signature
            && a.microcode == b.microcode && a.modelName == b.modelName && a.physicalAddressBits == b.physicalAddressBits
            && a.topology == b.topology && a.unmappedFlags == b.unmappedFlags && pairs(a.inferredFeatures) == pairs(b.inferredFeatures)
            && pairs(a.unreadFeatures) == pairs(b.unreadFeatures)
    }

    /// The host CPU as a `<cpu>` definition (what compare and baseline take).
    public var definition: CPUDefinition {
        CPUDefinition(kind: .host, arch: arch, model: cpu.model, vendor: cpu.vendor, features: cpu.features,
                      source: "this host's CPU")
    }

    /// Decodes CPUID leaves and MSRs exactly as libvirt 9.0 decodes its host's (virCPUx86GetHost:
    /// vendor from leaf 0, signature from leaf 1, broken TSX dropped, the closest model with no
    /// feature the CPU lacks, its signature preferred, fewest extra features, newer on a tie).
    /// `cpuinfo` (this host's) adds what libvirt takes from /proc/cpuinfo and sysfs: microcode,
    /// address sizes, topology. `unreadMSRs` are MSRs libvirt would read that could not be.
    /// A dump must have leaf 0 and a vendor libvirt's map knows.
    public static func decode(dump: CPUIDDump, with models: CPUModels, source: Source, cpuinfo: CPUInfo? = nil,
                              unreadMSRs: [(index: UInt32, reason: String)] = []) throws(VFIOError) -> HostCPU {
        let origin: String
        if case .dump(let file) = source { origin = file } else { origin = "this host's CPUID" }
        guard let vendorID = dump.vendorString else {
            throw .usage("\(origin): no CPUID leaf 0 (<cpuid eax_in='0x00000000'>): the CPU's vendor is unknown",
                         hint: "a dump starts with leaf 0, as 'vfioctl cpu dump' and libvirt's cpu-data.py write it")
        }
        let data = dump.data
        if models.vendor(in: data) == nil, case .dump = source {
            throw .usage("\(origin): CPU vendor '\(vendorID.printable)' (CPUID leaf 0) is not in libvirt's CPU map",
                         hint: "libvirt's x86_vendors.xml knows " + models.map.vendors.map { "\($0.string) (\($0.name))" }.joined(separator: ", "))
        }
        let decoded = try models.decode(raw: data, kind: .host)
        var unread: [(name: String, reason: String)] = []
        for (index, reason) in unreadMSRs {
            for feature in models.map.features
            where !feature.data.isEmpty && feature.data.sortedRegisters.allSatisfy({ $0.register.kind == .msr && $0.register.leaf == index }) {
                unread.append((feature.name, reason))
            }
        }
        return HostCPU(source: source, arch: "x86_64", vendorID: vendorID, cpu: decoded.cpu, signature: decoded.signature,
                       microcode: cpuinfo?.microcode, modelName: dump.brandString ?? cpuinfo?.modelName,
                       physicalAddressBits: cpuinfo?.physicalAddressBits, topology: cpuinfo.flatMap(Topology.init),
                       unreadFeatures: unread)
    }

    /// Decodes /proc/cpuinfo (`reason`: why not CPUID) with libvirt's host-CPU rules (a model with no feature the CPU
    /// lacks, the model's signature preferred, fewest extra features; vendor's models only).
    public static func decode(_ info: CPUInfo, with models: CPUModels, reason: String) throws(VFIOError) -> HostCPU {
        guard info.logicalCPUs > 0 else {
            throw .failed("/proc/cpuinfo lists no processor", hint: "is /proc mounted? with --root DIR, DIR/proc/cpuinfo must be a copy of it")
        }
        guard !info.flags.isEmpty else {
            throw .failed("/proc/cpuinfo has no 'flags' line: not an x86 CPU",
                          hint: "vfioctl computes x86 CPU models only (libvirt's x86 CPU map)")
        }
        let translation = LinuxCPUFlags.translate(info.flags, vendorID: info.vendorID)
        let map = models.map
        var unmapped = Set(translation.unmapped)
        var known = CPUData()
        for feature in map.features { known.add(feature.data) }
        for flag in info.flags {
            if let (register, bit) = LinuxCPUFlags.bits[flag], !known.contains(CPUData(register, UInt32(1) << UInt32(bit))) {
                unmapped.insert(flag)
            }
        }
        let vendor = info.vendorID.flatMap { map.vendor(string: $0)?.name }
        let cpu = try models.decode(translation.data, vendor: vendor, signature: info.signature, kind: .host)
        var inferred: [(name: String, reason: String)] = []
        for item in translation.inferred {
            for name in map.featureNames(in: CPUData(item.register, UInt32(1) << UInt32(item.bit))) {
                inferred.append((name, item.reason))
            }
        }
        return HostCPU(source: .cpuinfo(reason: reason), arch: info.flags.contains("lm") ? "x86_64" : "i686", vendorID: info.vendorID,
                       cpu: cpu, signature: info.signature, microcode: info.microcode, modelName: info.modelName,
                       physicalAddressBits: info.physicalAddressBits, topology: Topology(info), unmappedFlags: unmapped.sorted(),
                       inferredFeatures: inferred)
    }
}
