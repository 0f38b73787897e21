import Foundation
import Testing
import VFIOCommands
@testable import VFIOCore
import VFIODeviceLayer
import VFIOTestSupport

/// `cpu host` from CPUID (replayed from libvirt's fixture dumps, so nothing depends on this
/// machine's CPU), `cpu host --cpuid FILE`, `cpu dump`, and compare/baseline over dumps. The
/// oracle is libvirt: its decode of each fixture (fixtures/cpuid) and `virsh cpu-baseline`.
enum CPUIDCommands {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures/cpuid").path

    static func dumpFile(_ name: String) -> String { fixtures + "/x86_64-cpuid-\(name).xml" }
    static func hostFile(_ name: String) -> String { fixtures + "/x86_64-cpuid-\(name)-host.xml" }

    static func dump(_ name: String) throws -> CPUIDDump {
        try CPUIDDump.parseAll(try String(contentsOfFile: dumpFile(name), encoding: .utf8), file: name)[0]
    }

    /// vfioctl on a fake root (its /proc/cpuinfo a Core 2's, for topology and microcode) with the
    /// system's CPU map, CPUID answered by `cpuid`.
    static func run(_ arguments: [String], cpuid: (any CPUIDReading)? = nil, in directory: String? = nil) throws -> (status: Int32, out: String, err: String) {
        let root = directory ?? LibvirtCPU.directory()
        defer { if directory == nil { FakeSysfs.removeTree(root) } }
        FakeSysfs(root: root).write("proc/cpuinfo", try String(contentsOfFile: CPUHostTests.fixtures + "/core2-workstation.txt", encoding: .utf8))
        return Vfioctl.capture(arguments + ["--root", root, "--cpu-map", LibvirtCPU.mapDirectory], invocation: Invocation(cpuid: cpuid))
    }

    /// The `<cpu>` without vfioctl's leading comment.
    static func element(_ xml: String) -> String {
        xml.hasPrefix("<!--") ? String(xml[(xml.range(of: "-->\n")?.upperBound ?? xml.startIndex)...]) : xml
    }
}

@Suite("cpu host from CPUID, cpu dump, and dumps as CPUs")
struct CPUIDCommandTests {
    @Test("cpu host --cpuid FILE prints libvirt's host <cpu> for the dump, after a comment naming the source", arguments: [
        "Core-i5-4670T", "Xeon-Platinum-8268", "Hygon-C86-7185-32-core", "EPYC-7502-32-Core", "Atom-P5362", "Core2-E6850",
    ])
    func hostFromDump(name: String) throws {
        let result = try CPUIDCommands.run(["cpu", "host", "--cpuid", CPUIDCommands.dumpFile(name), "--format", "xml"])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out.hasPrefix("<!-- vfioctl cpu host: decoded from the CPUID dump \(CPUIDCommands.dumpFile(name)) -->\n"))
        #expect(CPUIDCommands.element(result.out) == (try String(contentsOfFile: CPUIDCommands.hostFile(name), encoding: .utf8)))
        let json = try TestProcess.json(try CPUIDCommands.run(["cpu", "host", "--cpuid", CPUIDCommands.dumpFile(name), "--format", "json"]).out)
        let cpu = json["cpu"] as? [String: Any]
        #expect(cpu?["source"] as? String == "cpuid-dump")
        #expect(cpu?["topology"] is NSNull && cpu?["microcode"] is NSNull)
        let text = try CPUIDCommands.run(["cpu", "host", "--cpuid", CPUIDCommands.dumpFile(name)]).out
        #expect(text.contains("source     the CPUID dump \(CPUIDCommands.dumpFile(name))"), "\(text)")
    }

    @Test("a dump on stdin decodes the same")
    func stdin() throws {
        let name = "Xeon-Gold-6148"
        let result = try TestProcess.run(TestProcess.vfioctl, ["cpu", "host", "--cpuid", "-", "--format", "xml", "--cpu-map", LibvirtCPU.mapDirectory],
                                         input: try String(contentsOfFile: CPUIDCommands.dumpFile(name), encoding: .utf8), timeout: 60)
        #expect(result.status == 0, "\(result.err)")
        #expect(CPUIDCommands.element(result.out) == (try String(contentsOfFile: CPUIDCommands.hostFile(name), encoding: .utf8)))
    }

    @Test("cpu host asks CPUID where it can, decodes as libvirt, keeps topology and microcode from /proc, and says so")
    func hostFromCPUID() throws {
        let name = "Xeon-Platinum-8268"
        let replay = ReplayCPUID(try CPUIDCommands.dump(name))
        let xml = try CPUIDCommands.run(["cpu", "host", "--format", "xml"], cpuid: replay)
        #expect(xml.status == 0, "\(xml.err)")
        #expect(xml.out.hasPrefix("<!-- vfioctl cpu host: decoded from the CPUID instruction on CPU 0; MSR 0x10a from the replayed dump -->"))
        let mine = try CPUDefinition.parseAll(xml.out, file: "mine", kind: .host)[0]
        let libvirt = try CPUDefinition.parseAll(try String(contentsOfFile: CPUIDCommands.hostFile(name), encoding: .utf8), file: "libvirt", kind: .host)[0]
        #expect(mine.model == libvirt.model && mine.vendor == libvirt.vendor && mine.features == libvirt.features)
        #expect(xml.out.contains("<topology sockets='1' dies='1' cores='2' threads='1'/>") && xml.out.contains("<microcode version='210'/>"))
        let json = try TestProcess.json(try CPUIDCommands.run(["cpu", "host", "--format", "json"], cpuid: replay).out)
        let cpu = json["cpu"] as? [String: Any]
        #expect(cpu?["source"] as? String == "cpuid")
        #expect(cpu?["model_name"] as? String == "Intel(R) Xeon(R) Platinum 8268 CPU @ 2.90GHz")
        #expect((cpu?["unmapped_flags"] as? [String]) == [] && (cpu?["unread_features"] as? [Any])?.isEmpty == true)
        let text = try CPUIDCommands.run(["cpu", "host"], cpuid: replay)
        #expect(text.out.contains("source     the CPUID instruction on CPU 0; MSR 0x10a from the replayed dump"), "\(text.out)")
    }

    @Test("without the MSR: the features it holds are named, on stderr and in JSON, and left out as libvirt leaves them")
    func unreadMSR() throws {
        let dump = try CPUIDCommands.dump("Xeon-Platinum-8268")
        let withoutMSR = CPUIDDump(leaves: dump.leaves)
        let replay = ReplayCPUID(withoutMSR, unreadable: "/dev/cpu/0/msr: no such device: load the msr module (modprobe msr, as root); /dev/kvm: No such file or directory (ENOENT)")
        let result = try CPUIDCommands.run(["cpu", "host", "--format", "json"], cpuid: replay)
        #expect(result.status == 0)
        #expect(result.err.contains("warning: could not read rdctl-no, ibrs-all, rsba, skip-l1dfl-vmentry, ssb-no, mds-no, pschange-mc-no, tsx-ctrl, taa-no (/dev/cpu/0/msr: no such device: load the msr module (modprobe msr, as root)"), "\(result.err)")
        let cpu = try TestProcess.json(result.out)["cpu"] as? [String: Any]
        let unread = (cpu?["unread_features"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(unread?.contains("mds-no") == true && unread?.contains("rdctl-no") == true)
        #expect((cpu?["features"] as? [String])?.contains("mds-no") == false)
        #expect((cpu?["features"] as? [String])?.contains("arch-capabilities") == true)
    }

    @Test("under --root (a foreign tree) CPUID is not run: /proc/cpuinfo, and the output says why")
    func foreignRoot() throws {
        let result = try CPUIDCommands.run(["cpu", "host", "--format", "json"])
        #expect(result.status == 0, "\(result.err)")
        let cpu = try TestProcess.json(result.out)["cpu"] as? [String: Any]
        #expect(cpu?["source"] as? String == "cpuinfo")
        #expect((cpu?["source_detail"] as? String)?.contains("CPUID cannot be run for the host under /") == true)
        let xml = try CPUIDCommands.run(["cpu", "host", "--format", "xml"])
        #expect(xml.out.hasPrefix("<!-- vfioctl cpu host: decoded from /proc/cpuinfo flags (CPUID cannot be run for the host under /"), "\(xml.out)")
    }

    @Test("cpu dump writes what libvirt reads, in libvirt's format; cpu host --cpuid on it elsewhere gives cpu host here")
    func dumpRoundTrip() throws {
        let directory = LibvirtCPU.directory()
        defer { FakeSysfs.removeTree(directory) }
        for name in ["Xeon-Platinum-8268", "Cooperlake", "Core-i7-5600U", "Hygon-C86-7185-32-core"] {
            let replay = ReplayCPUID(try CPUIDCommands.dump(name))
            let dumped = try CPUIDCommands.run(["cpu", "dump"], cpuid: replay, in: directory)
            #expect(dumped.status == 0, "\(dumped.err)")
            #expect(dumped.out.hasPrefix("<!-- ") && dumped.out.contains("<cpudata arch='x86'>\n  <cpuid eax_in='0x00000000' ecx_in='0x00' "))
            #expect(dumped.out.contains("<msr index='0x10a'") == ["Xeon-Platinum-8268", "Cooperlake"].contains(name), "only with arch-capabilities")
            let file = try LibvirtCPU.write(dumped.out, in: directory, "\(name).xml")
            let fromDump = try CPUIDCommands.run(["cpu", "host", "--cpuid", file, "--format", "xml"], in: directory)
            let here = try CPUIDCommands.run(["cpu", "host", "--format", "xml"], cpuid: replay, in: directory)
            let a = try CPUDefinition.parseAll(fromDump.out, file: "a", kind: .host)[0]
            let b = try CPUDefinition.parseAll(here.out, file: "b", kind: .host)[0]
            #expect(a.model == b.model && a.vendor == b.vendor && a.features == b.features, "\(name)")
            #expect(CPUIDCommands.element(fromDump.out) == (try String(contentsOfFile: CPUIDCommands.hostFile(name), encoding: .utf8)), "\(name)")
            let json = try TestProcess.json(try CPUIDCommands.run(["cpu", "dump", "--format", "json"], cpuid: replay, in: directory).out)
            #expect(json["xml"] as? String == dumped.out)
            #expect(((json["cpudata"] as? [String: Any])?["cpuid"] as? [Any])?.count == (try CPUIDDump.parseAll(dumped.out, file: "d")[0]).leaves.count)
        }
    }

    @Test("libvirt reads MSR 0x10a on a host only when CPUID has arch-capabilities: an AMD host whose dump has it (read through KVM) shows less than the dump")
    func msrOnlyWithArchCapabilities() throws {
        let name = "EPYC-7502-32-Core"
        let dump = try CPUIDCommands.dump(name)
        #expect(dump.msrs.map(\.index) == [0x10a] && (dump.leaf(7)?.edx ?? 0) & (1 << 29) == 0)
        let here = try CPUIDCommands.run(["cpu", "host", "--format", "xml"], cpuid: ReplayCPUID(dump))
        #expect(here.out.contains("no MSR to read"))
        let host = try CPUDefinition.parseAll(here.out, file: "here", kind: .host)[0]
        let libvirt = try CPUDefinition.parseAll(try String(contentsOfFile: CPUIDCommands.hostFile(name), encoding: .utf8), file: name, kind: .host)[0]
        // The dump's decode (libvirt's cputest) has the MSR's features; the host's own does not.
        #expect(host.model == libvirt.model)
        #expect(Set(libvirt.features.map(\.name)).subtracting(host.features.map(\.name)) == ["rdctl-no", "skip-l1dfl-vmentry", "mds-no", "pschange-mc-no"])
    }

    @Test("cpu dump needs this machine's CPUID: under --root it is a usage error with a hint")
    func dumpForeignRoot() throws {
        let result = try CPUIDCommands.run(["cpu", "dump"])
        #expect(result.status == 64 && result.err.contains("error: cpu dump runs CPUID on this machine's CPU, not on --root "), "\(result.err)")
        #expect(result.err.contains("\nhint: run it on the host itself"))
    }

    @Test("bad dumps given to cpu host --cpuid: exit 64, an error naming the file and the value, and a hint", arguments: [
        ("notxml", "this is not XML", "malformed XML at line 1: text without any element: not XML"),
        ("cpu", "<cpu><arch>x86_64</arch><model>Haswell</model></cpu>", "holds no <cpudata>: not a CPUID dump"),
        ("noleaf0", "<cpudata arch='x86'><cpuid eax_in='0x1' eax='0x306d4'/></cpudata>", "no CPUID leaf 0"),
        ("vendor", "<cpudata arch='x86'><cpuid eax_in='0x0' eax='1' ebx='0x746e6543' ecx='0x736c7561' edx='0x48727561'/><cpuid eax_in='0x1' eax='0x6f6' edx='0x1'/></cpudata>",
         "CPU vendor 'CentaurHauls' (CPUID leaf 0) is not in libvirt's CPU map"),
        ("two", "<cpudata arch='x86'><cpuid eax_in='0'/></cpudata><cpudata arch='x86'><cpuid eax_in='0'/></cpudata>", "holds 2 CPUID dumps"),
        ("arch", "<cpudata arch='s390'><cpuid eax_in='0'/></cpudata>", "vfioctl decodes x86 CPU data only"),
        ("number", "<cpudata arch='x86'><cpuid eax_in='0' ebx='GenuineIntel'/></cpudata>", "ebx='GenuineIntel' is not a 32-bit number"),
    ] as [(String, String, String)])
    func badDump(name: String, text: String, message: String) throws {
        let directory = LibvirtCPU.directory()
        defer { FakeSysfs.removeTree(directory) }
        let file = try LibvirtCPU.write(text, in: directory, name + ".xml")
        let result = try CPUIDCommands.run(["cpu", "host", "--cpuid", file], in: directory)
        #expect(result.status == 64, "\(result.err)")
        #expect(result.err.hasPrefix("error: ") && result.err.contains(file) && result.err.contains(message), "\(result.err)")
        #expect(result.err.contains("\nhint: "), "\(result.err)")
        #expect(result.out.isEmpty)
    }

    @Test("a missing FILE and a directory for --cpuid: usage errors")
    func unreadable() throws {
        let directory = LibvirtCPU.directory()
        defer { FakeSysfs.removeTree(directory) }
        let missing = try CPUIDCommands.run(["cpu", "host", "--cpuid", directory + "/nope.xml"], in: directory)
        #expect(missing.status == 64 && missing.err.contains("cannot read '\(directory)/nope.xml'"))
        let folder = try CPUIDCommands.run(["cpu", "host", "--cpuid", directory], in: directory)
        #expect(folder.status == 64 && folder.err.contains("is a directory, not a CPUID dump"), "\(folder.err)")
    }

    @Test("compare takes dumps: a dump against its own host <cpu> is identical; an older CPU is a subset of a newer one")
    func compare() throws {
        let same = try CPUIDCommands.run(["cpu", "compare", CPUIDCommands.hostFile("Xeon-Gold-6148"), "--host", CPUIDCommands.dumpFile("Xeon-Gold-6148")])
        #expect(same.status == 0 && same.out.hasPrefix("identical: "), "\(same.out)\(same.err)")
        let older = try CPUIDCommands.run(["cpu", "compare", CPUIDCommands.dumpFile("Xeon-E5-2650-v3"), "--host", CPUIDCommands.dumpFile("Xeon-Gold-6148"), "--format", "json"])
        let json = try TestProcess.json(older.out)
        #expect(older.status == 2 || json["result"] as? String == "superset", "\(older.out)")
        let reverse = try CPUIDCommands.run(["cpu", "compare", CPUIDCommands.dumpFile("Xeon-Gold-6148"), "--host", CPUIDCommands.dumpFile("Xeon-E5-2650-v3")])
        #expect(reverse.status == 2 && reverse.out.hasPrefix("incompatible: "), "\(reverse.out)")
        // This host asked with CPUID (a replayed Cascade Lake) against another host's dump.
        let here = try CPUIDCommands.run(["cpu", "compare", CPUIDCommands.dumpFile("Xeon-Platinum-8268")], cpuid: ReplayCPUID(try CPUIDCommands.dump("Xeon-Platinum-8268")))
        #expect(here.status == 0 && here.out.hasPrefix("identical: "), "\(here.out)\(here.err)")
    }

    @Test("a pool's baseline from dumps is virsh cpu-baseline's over libvirt's host <cpu> of each", arguments: [
        ["Xeon-E5-2650-v3", "Xeon-Gold-6148", "Xeon-Platinum-8268"],
        ["EPYC-7601-32-Core", "EPYC-7502-32-Core", "Ryzen-9-3900X-12-Core"],
        ["Core-i5-4670T", "Core-i7-5600U", "Core-i7-8700"],
    ])
    func baseline(pool: [String]) throws {
        let directory = LibvirtCPU.directory()
        defer { FakeSysfs.removeTree(directory) }
        let hosts = try pool.map { try String(contentsOfFile: CPUIDCommands.hostFile($0), encoding: .utf8) }.joined()
        let joined = try LibvirtCPU.write(hosts, in: directory, "hosts.xml")
        let virsh = try LibvirtCPU.baselines([joined])
        let mine = try CPUIDCommands.run(["cpu", "baseline"] + pool.map(CPUIDCommands.dumpFile), in: directory)
        #expect(mine.status == 0, "\(mine.err)")
        #expect(virsh.results.first.flatMap { $0 } == mine.out, "virsh:\n\(virsh.results)\n\(virsh.errors)\nvfioctl:\n\(mine.out)")
        // Dumps and <cpu> elements mix.
        let mixed = try CPUIDCommands.run(["cpu", "baseline", CPUIDCommands.dumpFile(pool[0]), CPUIDCommands.hostFile(pool[1]), CPUIDCommands.dumpFile(pool[2])],
                                          in: directory)
        #expect(mixed.out == mine.out)
        // Every host of the pool runs the baseline.
        let baseline = try LibvirtCPU.write(mine.out, in: directory, "baseline.xml")
        for name in pool {
            let compared = try CPUIDCommands.run(["cpu", "compare", baseline, "--host", CPUIDCommands.dumpFile(name)], in: directory)
            #expect(compared.status == 0, "\(name): \(compared.out)")
        }
    }
}
