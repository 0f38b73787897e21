/// What /proc/cpuinfo says about the CPU: the first processor's identity and flags, and the
/// topology from every processor's entry.
public struct CPUInfo: Sendable, Equatable {
    public var vendorID: String?
    public var family: Int?
    public var model: Int?
    public var stepping: Int?
    public var modelName: String?
    public var microcode: UInt64?
    /// The first processor's flags, in the kernel's order.
    public var flags: [String] = []
    public var physicalAddressBits: Int?
    /// Processor entries.
    public var logicalCPUs = 0
    public var sockets = 0
    /// Cores per socket.
    public var cores = 0
    /// Threads per core.
    public var threads = 0

    public init() {}

    public var signature: CPUSignature? {
        guard let family, let model else { return nil }
        return CPUSignature(family: family, model: model, stepping: stepping ?? 0)
    }

    /// Parses the text of /proc/cpuinfo (x86 layout: "key\t: value" lines, a blank line
    /// between processors).
    public static func parse(_ text: String) -> CPUInfo {
        var info = CPUInfo()
        var physicalIDs = Set<String>()
        var coreIDs = Set<String>()
        var firstSiblings: Int?
        var firstCores: Int?
        var current: [String: String] = [:]
        func finish() {
            guard current["processor"] != nil else { return current = [:] }
            info.logicalCPUs += 1
            let physical = current["physical id"] ?? "0"
            physicalIDs.insert(physical)
            if let core = current["core id"] { coreIDs.insert(physical + "/" + core) }
            if info.logicalCPUs == 1 {
                info.vendorID = current["vendor_id"]
                info.family = current["cpu family"].flatMap { Int($0) }
                info.model = current["model"].flatMap { Int($0) }
                info.stepping = current["stepping"].flatMap { Int($0) }
                info.modelName = current["model name"]
                info.microcode = current["microcode"].flatMap { value in
                    value.hasPrefix("0x") ? UInt64(value.dropFirst(2), radix: 16) : UInt64(value)
                }
                info.flags = (current["flags"] ?? "").split(separator: " ").map(String.init)
                firstSiblings = current["siblings"].flatMap { Int($0) }
                firstCores = current["cpu cores"].flatMap { Int($0) }
                // "46 bits physical, 48 bits virtual"
                if let sizes = current["address sizes"], let bits = sizes.split(separator: " ").first { info.physicalAddressBits = Int(bits) }
            }
            current = [:]
        }
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            guard let colon = line.firstIndex(of: ":") else {
                if line.allSatisfy({ $0 == " " || $0 == "\t" }) { finish() }
                continue
            }
            let key = line[..<colon].trimmingWhitespace()
            let value = line[line.index(after: colon)...].trimmingWhitespace()
            if key == "processor" && current["processor"] != nil { finish() }
            current[key] = value
        }
        finish()
        guard info.logicalCPUs > 0 else { return info }
        info.sockets = max(1, physicalIDs.count)
        let cores = firstCores ?? (coreIDs.isEmpty ? info.logicalCPUs / info.sockets : coreIDs.count / info.sockets)
        info.cores = max(1, cores)
        if let siblings = firstSiblings, siblings >= info.cores, siblings % info.cores == 0 {
            info.threads = siblings / info.cores
        } else {
            info.threads = max(1, info.logicalCPUs / (info.sockets * info.cores))
        }
        return info
    }
}

/// The kernel's /proc/cpuinfo flag names and the CPUID bits behind them (from the kernel's
/// arch/x86/include/asm/cpufeatures.h: the word a flag sits in is a CPUID register), for the
/// registers libvirt's CPU map describes. libvirt's map then names the bits: Linux "pni",
/// "sse4_1", "pclmulqdq", "dts", "tsc_deadline_timer" are libvirt's pni, sse4.1, pclmuldq, ds,
/// tsc-deadline. A flag that stands for no CPUID bit libvirt knows is left out (and listed).
public enum LinuxCPUFlags {
    typealias R = CPURegister

    static let leaf1EDX = R.cpuid(0x1, 0, .edx)
    static let leaf1ECX = R.cpuid(0x1, 0, .ecx)
    static let leaf6EAX = R.cpuid(0x6, 0, .eax)
    static let leaf7EBX = R.cpuid(0x7, 0, .ebx)
    static let leaf7ECX = R.cpuid(0x7, 0, .ecx)
    static let leaf7EDX = R.cpuid(0x7, 0, .edx)
    static let leaf7s1EAX = R.cpuid(0x7, 1, .eax)
    static let leafDs1EAX = R.cpuid(0xd, 1, .eax)
    static let leafFs1EDX = R.cpuid(0xf, 1, .edx)
    static let ext1EDX = R.cpuid(0x8000_0001, 0, .edx)
    static let ext1ECX = R.cpuid(0x8000_0001, 0, .ecx)
    static let ext7EDX = R.cpuid(0x8000_0007, 0, .edx)
    static let ext8EBX = R.cpuid(0x8000_0008, 0, .ebx)
    static let extAEDX = R.cpuid(0x8000_000a, 0, .edx)
    static let archCapabilities = R.msr(0x10a, .eax)
    static let coreCapabilities = R.msr(0xcf, .eax)

    /// Flag → (register, bit). Several kernel names for one bit (renamed over the years) are all listed.
    static let bits: [String: (CPURegister, Int)] = {
        var table: [String: (CPURegister, Int)] = [:]
        func add(_ register: CPURegister, _ names: [(String, Int)]) { for (name, bit) in names { table[name] = (register, bit) } }
        add(leaf1EDX, [("fpu", 0), ("vme", 1), ("de", 2), ("pse", 3), ("tsc", 4), ("msr", 5), ("pae", 6), ("mce", 7), ("cx8", 8),
                       ("apic", 9), ("sep", 11), ("mtrr", 12), ("pge", 13), ("mca", 14), ("cmov", 15), ("pat", 16), ("pse36", 17),
                       ("pn", 18), ("clflush", 19), ("dts", 21), ("acpi", 22), ("mmx", 23), ("fxsr", 24), ("sse", 25), ("sse2", 26),
                       ("ss", 27), ("ht", 28), ("tm", 29), ("ia64", 30), ("pbe", 31)])
        add(ext1EDX, [("syscall", 11), ("nx", 20), ("mmxext", 22), ("fxsr_opt", 25), ("pdpe1gb", 26), ("rdtscp", 27), ("lm", 29),
                      ("3dnowext", 30), ("3dnow", 31)])
        add(leaf1ECX, [("pni", 0), ("pclmulqdq", 1), ("dtes64", 2), ("monitor", 3), ("ds_cpl", 4), ("vmx", 5), ("smx", 6), ("est", 7),
                       ("tm2", 8), ("ssse3", 9), ("cid", 10), ("fma", 12), ("cx16", 13), ("xtpr", 14), ("pdcm", 15), ("pcid", 17),
                       ("dca", 18), ("sse4_1", 19), ("sse4_2", 20), ("x2apic", 21), ("movbe", 22), ("popcnt", 23),
                       ("tsc_deadline_timer", 24), ("aes", 25), ("xsave", 26), ("avx", 28), ("f16c", 29), ("rdrand", 30),
                       ("hypervisor", 31)])
        add(ext1ECX, [("lahf_lm", 0), ("cmp_legacy", 1), ("svm", 2), ("extapic", 3), ("cr8_legacy", 4), ("abm", 5), ("sse4a", 6),
                      ("misalignsse", 7), ("3dnowprefetch", 8), ("osvw", 9), ("ibs", 10), ("xop", 11), ("skinit", 12), ("wdt", 13),
                      ("lwp", 15), ("fma4", 16), ("tce", 17), ("nodeid_msr", 19), ("tbm", 21), ("topoext", 22), ("perfctr_core", 23),
                      ("perfctr_nb", 24)])
        add(leaf6EAX, [("arat", 2)])
        add(leaf7EBX, [("fsgsbase", 0), ("tsc_adjust", 1), ("sgx", 2), ("bmi1", 3), ("hle", 4), ("avx2", 5), ("smep", 7), ("bmi2", 8),
                       ("erms", 9), ("invpcid", 10), ("rtm", 11), ("cqm", 12), ("mpx", 14), ("avx512f", 16), ("avx512dq", 17),
                       ("rdseed", 18), ("adx", 19), ("smap", 20), ("avx512ifma", 21), ("pcommit", 22), ("clflushopt", 23), ("clwb", 24),
                       ("intel_pt", 25), ("avx512pf", 26), ("avx512er", 27), ("avx512cd", 28), ("sha_ni", 29), ("avx512bw", 30),
                       ("avx512vl", 31)])
        add(leaf7ECX, [("avx512vbmi", 1), ("umip", 2), ("pku", 3), ("ospke", 4), ("waitpkg", 5), ("avx512_vbmi2", 6), ("gfni", 8),
                       ("vaes", 9), ("vpclmulqdq", 10), ("avx512_vnni", 11), ("avx512_bitalg", 12), ("avx512_vpopcntdq", 14),
                       ("la57", 16), ("rdpid", 22), ("bus_lock_detect", 24), ("cldemote", 25), ("movdiri", 27), ("movdir64b", 28),
                       ("sgx_lc", 30)])
        add(leaf7EDX, [("avx512_4vnniw", 2), ("avx512_4fmaps", 3), ("fsrm", 4), ("avx512_vp2intersect", 8), ("md_clear", 10),
                       ("serialize", 14), ("tsxldtrk", 16), ("pconfig", 18), ("arch_lbr", 19), ("amx_bf16", 22), ("avx512_fp16", 23),
                       ("amx_tile", 24), ("amx_int8", 25), ("arch_capabilities", 29)])
        add(leaf7s1EAX, [("avx_vnni", 4), ("avx512_bf16", 5)])
        add(leafDs1EAX, [("xsaveopt", 0), ("xsavec", 1), ("xgetbv1", 2), ("xsaves", 3), ("xfd", 4)])
        add(leafFs1EDX, [("cqm_mbm_total", 1), ("cqm_mbm_local", 2)])
        add(ext8EBX, [("clzero", 0), ("xsaveerptr", 2), ("wbnoinvd", 9), ("virt_ssbd", 25)])
        add(extAEDX, [("npt", 0), ("lbrv", 1), ("svm_lock", 2), ("nrip_save", 3), ("tsc_scale", 4), ("vmcb_clean", 5), ("flushbyasid", 6),
                      ("decodeassists", 7), ("pausefilter", 10), ("pfthreshold", 12), ("avic", 13), ("v_vmsave_vmload", 15), ("vgif", 16),
                      ("svme_addr_chk", 28)])
        // Synthetic flags the kernel derives from one bit.
        add(archCapabilities, [("ibrs_enhanced", 1)])
        add(coreCapabilities, [("split_lock_detect", 5)])
        return table
    }()

    /// The flags whose meaning depends on the vendor or on other flags (see `translate`).
    static let derived: Set<String> = ["ibrs", "ibpb", "stibp", "ssbd", "constant_tsc", "nonstop_tsc"]

    public struct Translation: Sendable, Equatable {
        public var data = CPUData()
        /// Flags that stand for no CPUID/MSR bit of libvirt's map (power management, kernel
        /// state such as pti, bits libvirt does not model), sorted.
        public var unmapped: [String] = []
        /// Bits set from flags that are not CPUID bits themselves, as (libvirt's bit, why).
        public var inferred: [(register: CPURegister, bit: Int, reason: String)] = []

        public static func == (a: Translation, b: Translation) -> Bool {
            a.data == b.data && a.unmapped == b.unmapped
                && a.inferred.map { "\($0.register)\($0.bit)\($0.reason)" } == b.inferred.map { "\($0.register)\($0.bit)\($0.reason)" }
        }
    }

    /// The CPUID/MSR bits behind the flags of a CPU from `vendorID` (GenuineIntel, AuthenticAMD, ...).
    /// The kernel hides some bits and shows others only through flags of its own, so:
    /// - osxsave (hidden) is set with xsave: the kernel turns OSXSAVE on whenever it uses XSAVE;
    /// - invtsc is set when both constant_tsc and nonstop_tsc are (the kernel sets both from it);
    /// - ibrs/ibpb/stibp/ssbd are the kernel's summary of the vendor's bits: on Intel they are
    ///   spec-ctrl, stibp and ssbd (CPUID 7 EDX), on AMD and Hygon ibrs, ibpb, amd-stibp and
    ///   amd-ssbd (CPUID 0x80000008 EBX; ssbd comes from virt_ssbd when that flag is there).
    public static func translate(_ flags: [String], vendorID: String?) -> Translation {
        var result = Translation()
        let present = Set(flags)
        var unmapped = Set<String>()
        func set(_ register: CPURegister, _ bit: Int) { result.data.add(CPUData(register, UInt32(1) << UInt32(bit))) }
        func infer(_ register: CPURegister, _ bit: Int, _ reason: String) {
            set(register, bit)
            result.inferred.append((register, bit, reason))
        }
        for flag in flags {
            if let (register, bit) = bits[flag] {
                set(register, bit)
            } else if !derived.contains(flag) {
                unmapped.insert(flag)
            }
        }
        if present.contains("xsave") { infer(leaf1ECX, 27, "xsave (the kernel enables OSXSAVE with XSAVE)") }
        if present.contains("constant_tsc") && present.contains("nonstop_tsc") {
            infer(ext7EDX, 8, "constant_tsc and nonstop_tsc (invariant TSC)")
        } else {
            for flag in ["constant_tsc", "nonstop_tsc"] where present.contains(flag) { unmapped.insert(flag) }
        }
        let amdLike = vendorID == "AuthenticAMD" || vendorID == "HygonGenuine"
        if amdLike {
            if present.contains("ibrs") { infer(ext8EBX, 14, "ibrs on AMD (CPUID 0x80000008 EBX[14])") }
            if present.contains("ibpb") { infer(ext8EBX, 12, "ibpb on AMD (CPUID 0x80000008 EBX[12])") }
            if present.contains("stibp") { infer(ext8EBX, 15, "stibp on AMD (CPUID 0x80000008 EBX[15])") }
            if present.contains("ssbd") && !present.contains("virt_ssbd") { infer(ext8EBX, 24, "ssbd on AMD without virt_ssbd (CPUID 0x80000008 EBX[24])") }
        } else if vendorID == "GenuineIntel" {
            if present.contains("ibrs") || present.contains("ibpb") { infer(leaf7EDX, 26, "ibrs/ibpb on Intel (CPUID 7 EDX[26] SPEC_CTRL)") }
            if present.contains("stibp") { infer(leaf7EDX, 27, "stibp on Intel (CPUID 7 EDX[27])") }
            if present.contains("ssbd") { infer(leaf7EDX, 31, "ssbd on Intel (CPUID 7 EDX[31])") }
        } else {
            for flag in ["ibrs", "ibpb", "stibp", "ssbd"] where present.contains(flag) { unmapped.insert(flag) }
        }
        result.unmapped = unmapped.sorted()
        return result
    }
}
