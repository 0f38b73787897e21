import Foundation
import Testing
import VFIOCore
@testable import VFIODeviceLayer

/// The live CPUID reader on this machine: only that it runs, restores the thread's CPU affinity,
/// and writes a dump that reads back. What the CPU answers is this machine's and is not judged
/// here (the decode is judged on libvirt's fixtures; the lab compares with libvirtd).
@Suite("the live CPUID reader (smoke)")
struct CPUIDReaderTests {
    /// The calling thread's allowed CPUs, as the kernel lists them.
    static func allowedCPUs() -> String? {
        guard let status = try? String(contentsOfFile: "/proc/thread-self/status", encoding: .utf8) else { return nil }
        return status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") }.map(String.init)
    }

    @Test("on x86: leaf 0 and leaf 1 are read, the walk stays within the CPU's ranges, the affinity is restored, the dump reads back")
    func liveSmoke() throws {
        guard LiveCPUID.available else {
            #expect(throws: VFIOError.self) { try LiveCPUID().read { _ in [] } }
            return
        }
        #expect(LiveCPUID().serves(.live))
        #expect(!LiveCPUID().serves(try HostRoot(FileManager.default.temporaryDirectory.path)))
        let before = Self.allowedCPUs()
        var asked: [UInt32] = []
        let read = try LiveCPUID().read { dump in
            asked = dump.leaves.map(\.leaf)
            return []
        }
        #expect(Self.allowedCPUs() == before, "the thread's CPU affinity is put back")
        #expect(read.cpu >= 0 && read.msrSource == "no MSR to read" && read.unreadMSRs.isEmpty)
        let dump = read.dump
        #expect(asked == dump.leaves.map(\.leaf))
        let top = try #require(dump.leaf(0)).eax
        #expect(dump.leaf(1) != nil && dump.vendorString?.utf8.count == 12)
        #expect(dump.leaves.filter { $0.leaf < 0x8000_0000 }.allSatisfy { $0.leaf <= top })
        let text = dump.xml(comments: [dump.brandString ?? "unknown CPU"])
        #expect(try CPUIDDump.parseAll(text, file: "live.xml") == [dump])
    }

    @Test("an MSR that cannot be read is told with the device and why, or read (as root with the msr module or /dev/kvm)")
    func msr() {
        guard LiveCPUID.available else { return }
        switch LiveCPUID.msr(0x10a, cpu: 0) {
        case .value(_, let from): #expect(from.hasPrefix("/dev/cpu/0/msr") || from.hasPrefix("/dev/kvm"))
        case .unsupported(let why): #expect(why.contains("EIO") || why.contains("KVM_GET_MSRS"))
        case .unreadable(let why): #expect(why.contains("/dev/cpu/0/msr: ") && why.contains("/dev/kvm: "))
        }
    }
}
