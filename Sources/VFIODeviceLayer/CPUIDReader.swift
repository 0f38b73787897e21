import CSysShim
import Glibc
import VFIOCore

/// What one CPU answered: every CPUID leaf libvirt reads, and the MSRs it reads, with how.
public struct CPUIDRead: Sendable {
    public var dump: CPUIDDump
    /// The CPU that answered.
    public var cpu: Int
    /// How the MSRs were read, for people ("MSR 0x10a from /dev/cpu/0/msr").
    public var msrSource: String
    /// MSRs that could not be read, and why.
    public var unreadMSRs: [(index: UInt32, reason: String)]

    public init(dump: CPUIDDump, cpu: Int, msrSource: String, unreadMSRs: [(index: UInt32, reason: String)] = []) {
        self.dump = dump
        self.cpu = cpu
        self.msrSource = msrSource
        self.unreadMSRs = unreadMSRs
    }
}

/// The CPU of a host, asked directly: the seam between the CPUID instruction (and the MSR
/// devices) and the commands. `LiveCPUID` asks this machine's CPU; tests replay a dump.
public protocol CPUIDReading: Sendable {
    /// Whether this reader answers for the host under `root` (the live CPU: only for /).
    func serves(_ root: HostRoot) -> Bool
    /// Reads, on one CPU, every CPUID leaf libvirt reads (`CPUIDDump.collect`), then the MSRs
    /// `msrs` names for those leaves.
    func read(msrs: (CPUIDDump) -> [UInt32]) throws(VFIOError) -> CPUIDRead
}

/// This machine's CPU: the CPUID instruction with the thread pinned to one CPU (its old
/// affinity restored afterwards), and MSRs as libvirt's virHostCPUGetMSR reads them: 8 bytes at
/// the MSR's index in /dev/cpu/N/msr (the msr module, root only), or, where that cannot be
/// opened or read, KVM_GET_MSRS on /dev/kvm (the value KVM offers guests). Reads only.
public struct LiveCPUID: CPUIDReading {
    /// Whether this machine has the CPUID instruction (x86).
    public static var available: Bool { vfioctl_has_cpuid() != 0 }

    public init() {}

    public func serves(_ root: HostRoot) -> Bool { root.isLive && LiveCPUID.available }

    public func read(msrs: (CPUIDDump) -> [UInt32]) throws(VFIOError) -> CPUIDRead {
        guard LiveCPUID.available else {
            throw .failed("this machine has no CPUID instruction (not x86)", hint: "vfioctl decodes x86 CPUs only; decode an x86 host's dump with --cpuid FILE")
        }
        var saved: UnsafeMutableRawPointer?
        let cpu = vfioctl_pin(&saved)
        guard cpu >= 0 else {
            let code = errno
            throw .failed("cannot pin vfioctl to one CPU to run CPUID: \(Errno.describe(code)) (\(Errno.name(code)))",
                          hint: "run it without a CPU affinity that forbids every CPU (taskset)")
        }
        let dump = CPUIDDump.collect { leaf, subleaf in
            var registers: [UInt32] = [0, 0, 0, 0]
            registers.withUnsafeMutableBufferPointer { vfioctl_cpuid(leaf, subleaf, $0.baseAddress) }
            return CPUIDDump.Leaf(leaf: leaf, subleaf: subleaf, registers: registers)
        }
        _ = vfioctl_unpin(saved)
        var read = CPUIDRead(dump: dump, cpu: Int(cpu), msrSource: "")
        var sources: [String] = []
        for index in msrs(dump) {
            let label = "MSR 0x\(HexDigits.padded(UInt64(index), width: 1))"
            switch LiveCPUID.msr(index, cpu: Int(cpu)) {
            case .value(let value, let from):
                read.dump.add(CPUIDDump.MSR(index: index, value: value))
                sources.append("\(label) from \(from)")
            case .unsupported(let why):
                sources.append("\(label) not supported (\(why))")
            case .unreadable(let why):
                read.unreadMSRs.append((index, why))
                sources.append("\(label) unread")
            }
        }
        read.msrSource = sources.isEmpty ? "no MSR to read" : sources.joined(separator: ", ")
        return read
    }

    enum MSRResult {
        case value(UInt64, from: String)
        /// The CPU (or KVM) has no such MSR: libvirt adds nothing either.
        case unsupported(String)
        case unreadable(String)
    }

    /// virHostCPUGetMSR: /dev/cpu/N/msr, then /dev/kvm.
    static func msr(_ index: UInt32, cpu: Int) -> MSRResult {
        let device = "/dev/cpu/\(cpu)/msr"
        var problems: [String] = []
        let fd = open(device, O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            var value: UInt64 = 0
            let count = withUnsafeMutableBytes(of: &value) { pread(fd, $0.baseAddress, 8, off_t(index)) }
            let code = errno
            close(fd)
            if count == 8 { return .value(value, from: device) }
            if count < 0 && code == EIO { return .unsupported("\(device): EIO") }
            problems.append("\(device): " + (count < 0 ? "\(Errno.describe(code)) (\(Errno.name(code)))" : "short read"))
        } else {
            let code = errno
            let why = switch code {
            case ENOENT: "no such device: load the msr module (modprobe msr, as root)"
            case EACCES, EPERM: "\(Errno.describe(code)): MSRs are readable by root only"
            default: "\(Errno.describe(code)) (\(Errno.name(code)))"
            }
            problems.append("\(device): \(why)")
        }
        let kvm = open("/dev/kvm", O_RDONLY | O_CLOEXEC)
        guard kvm >= 0 else {
            let code = errno
            problems.append("/dev/kvm: \(Errno.describe(code)) (\(Errno.name(code)))")
            return .unreadable(problems.joined(separator: "; "))
        }
        defer { close(kvm) }
        var value: UInt64 = 0
        let rc = withUnsafeMutablePointer(to: &value) { pointer in
            pointer.withMemoryRebound(to: CUnsignedLongLong.self, capacity: 1) { vfioctl_kvm_get_msr(kvm, index, $0) }
        }
        // libvirt takes any answer but a failed ioctl, as the MSR's value (0 when KVM read none).
        guard rc >= 0 else { return .unsupported("KVM_GET_MSRS: \(Errno.name(errno))") }
        return .value(value, from: "/dev/kvm (KVM_GET_MSRS; " + problems.joined(separator: "; ") + ")")
    }
}
