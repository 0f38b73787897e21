/// This host's CPU as libvirt describes it in `virsh capabilities`: the closest model of the
/// CPU map, the vendor, the features beyond the model, and the topology — computed from
/// /proc/cpuinfo instead of the CPUID instruction.
public struct HostCPU: Sendable, Equatable {
    public var arch: String
    public var vendorID: String?
    public var cpu: ComputedCPU
    public var signature: CPUSignature?
    public var microcode: UInt64?
    public var modelName: String?
    public var physicalAddressBits: Int?
    public var logicalCPUs: Int
    public var sockets: Int
    public var cores: Int
    public var threads: Int
    /// Flags that name no feature of libvirt's map.
    public var unmappedFlags: [String]
    /// libvirt features set from flags that are not CPUID bits themselves, with the reason.
    public var inferredFeatures: [(name: String, reason: String)]

    public static func == (a: HostCPU, b: HostCPU) -> Bool {
        a.arch == b.arch && a.vendorID == b.vendorID && a.cpu == b.cpu && a.signature == b.signature && a.microcode == b.microcode
            && a.modelName == b.modelName && a.physicalAddressBits == b.physicalAddressBits && a.logicalCPUs == b.logicalCPUs
            && a.sockets == b.sockets && a.cores == b.cores && a.threads == b.threads && a.unmappedFlags == b.unmappedFlags
            && a.inferredFeatures.map { $0.name + $0.reason } == b.inferredFeatures.map { $0.name + $0.reason }
    }

    /// The host CPU as a `<cpu>` definition (what compare and baseline take).
    public var definition: CPUDefinition {
        CPUDefinition(kind: .host, arch: arch, model: cpu.model, vendor: cpu.vendor, features: cpu.features,
                      source: "this host's CPU")
    }

    /// Decodes /proc/cpuinfo with libvirt's host-CPU rules (a model with no feature the CPU
    /// lacks, the model's signature preferred, fewest extra features; vendor's models only).
    public static func decode(_ info: CPUInfo, with models: CPUModels) throws(VFIOError) -> HostCPU {
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
        return HostCPU(arch: info.flags.contains("lm") ? "x86_64" : "i686", vendorID: info.vendorID, cpu: cpu,
                       signature: info.signature, microcode: info.microcode, modelName: info.modelName,
                       physicalAddressBits: info.physicalAddressBits, logicalCPUs: info.logicalCPUs, sockets: info.sockets,
                       cores: info.cores, threads: info.threads, unmappedFlags: unmapped.sorted(), inferredFeatures: inferred)
    }
}
