import VFIOCore
import VFIODeviceLayer

/// A CPU that answers CPUID from a dump (leaves it lacks read as zeros, as a CPU answers for
/// subleaves past its last) and MSRs from the dump's: the seam `LiveCPUID` fills on a real
/// host, for command tests on any root. `unreadable` makes every MSR the dump lacks
/// unreadable with that reason, as on a host without the msr module and /dev/kvm.
public struct ReplayCPUID: CPUIDReading {
    public var dump: CPUIDDump
    public var cpu: Int
    public var unreadable: String?

    public init(_ dump: CPUIDDump, cpu: Int = 0, unreadable: String? = nil) {
        self.dump = dump
        self.cpu = cpu
        self.unreadable = unreadable
    }

    public func serves(_ root: HostRoot) -> Bool { true }

    public func read(msrs: (CPUIDDump) -> [UInt32]) throws(VFIOError) -> CPUIDRead {
        let walked = CPUIDDump.collect { leaf, subleaf in dump.leaf(leaf, subleaf) ?? CPUIDDump.Leaf(leaf: leaf, subleaf: subleaf) }
        var read = CPUIDRead(dump: walked, cpu: cpu, msrSource: "")
        var sources: [String] = []
        for index in msrs(walked) {
            if let msr = dump.msrs.first(where: { $0.index == index }) {
                read.dump.add(msr)
                sources.append("MSR 0x\(HexDigits.padded(UInt64(index), width: 1)) from the replayed dump")
            } else if let unreadable {
                read.unreadMSRs.append((index, unreadable))
                sources.append("MSR 0x\(HexDigits.padded(UInt64(index), width: 1)) unread")
            }
        }
        read.msrSource = sources.isEmpty ? "no MSR to read" : sources.joined(separator: ", ")
        return read
    }
}
