import Foundation
import Glibc
import Testing
import VFIOCore
import VFIOTestSupport

/// A host `<cpu>` as libvirt prints it, reduced to what the comparison needs.
struct HostCPUElement: Equatable, CustomStringConvertible {
    var model: String?
    var vendor: String?
    var signature: [String: String]
    var microcode: String?
    var topology: [String: String]
    var features: [String]

    /// The host `<cpu>` of a capabilities document, or a top-level `<cpu>` (vfioctl's).
    init(_ text: String) throws {
        var body = Substring(text)
        if body.hasPrefix("<?xml"), let end = body.range(of: "?>") { body = body[end.upperBound...] }
        let container = try XMLParser.parse("<container>" + body + "</container>")
        let cpu = container.first("cpu") ?? container.first("capabilities")?.first("host")?.first("cpu")
        guard let cpu else { throw LabError("no host <cpu> in:\n\(text)") }
        model = cpu.first("model")?.text
        vendor = cpu.first("vendor")?.text
        signature = Dictionary(uniqueKeysWithValues: (cpu.first("signature")?.attributes ?? []).map { ($0.name, $0.value) })
        microcode = cpu.first("microcode")?.attribute("version")
        topology = Dictionary(uniqueKeysWithValues: (cpu.first("topology")?.attributes ?? []).map { ($0.name, $0.value) })
        features = cpu.elements("feature").compactMap { $0.attribute("name") }
    }

    /// What a CPUID dump can tell: no microcode, no topology.
    var decoded: HostCPUElement {
        var copy = self
        copy.microcode = nil
        copy.topology = [:]
        return copy
    }

    var description: String { "\(model ?? "-") \(vendor ?? "-") \(signature) microcode \(microcode ?? "-") \(topology) \(features)" }
}

/// Inside the cpu-* boots (one QEMU CPU model each, under TCG): libvirt itself is the oracle.
/// `virsh capabilities` through the embedded QEMU driver (qemu:///embed: the driver of Debian's
/// libvirt-daemon-driver-qemu, the code libvirtd/virtqemud run, in virsh's process) prints the
/// host `<cpu>` libvirt decodes with virCPUx86GetHost; `vfioctl cpu host` must print the same,
/// and so must `vfioctl cpu host --cpuid` on the dump `vfioctl cpu dump` takes here.
@Suite("Lab: the host CPU as libvirt sees it", .serialized,
       .enabled(if: Lab.inside("cpu-haswell", "cpu-cascadelake", "cpu-epyc-rome", "cpu-dhyana", "cpu-nehalem"), Lab.reason))
struct CPUBootTests {
    static var out: String { ProcessInfo.processInfo.environment["VFIOCTL_LAB_OUT"] ?? NSTemporaryDirectory() }

    /// libvirt's host `<cpu>` from a fresh embedded driver. Debian's build runs QEMU as
    /// libvirt-qemu, which libvirt-daemon-system creates; the guest's /etc is an overlay, so the
    /// user is made here when missing and never reaches the host.
    static func libvirt() throws -> (cpu: HostCPUElement, text: String) {
        if getpwnam("libvirt-qemu") == nil {
            // useradd cannot write the overlay's /etc/shadow; libvirt only looks the names up.
            for (file, line) in [("/etc/passwd", "libvirt-qemu:x:64055:64055::/nonexistent:/usr/sbin/nologin\n"),
                                 ("/etc/group", "libvirt-qemu:x:64055:\n")] {
                guard let handle = FileHandle(forWritingAtPath: file) else { throw LabError("cannot open \(file) to add libvirt-qemu") }
                handle.seekToEndOfFile()
                handle.write(Data(line.utf8))
                handle.closeFile()
            }
            guard getpwnam("libvirt-qemu") != nil else { throw LabError("libvirt-qemu is still unknown after adding it to /etc/passwd") }
        }
        let root = out + "/libvirt-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let run = try TestProcess.run("virsh", ["-c", "qemu:///embed?root=\(root)", "capabilities"], timeout: 600)
        guard run.status == 0 else { throw LabError("virsh capabilities failed (\(run.status)): \(run.err)") }
        return (try HostCPUElement(run.out), run.out)
    }

    static func vfioctl(_ arguments: [String]) throws -> TestProcess.Result {
        let run = try TestProcess.vfioctl(arguments)
        #expect(run.status == 0, "vfioctl \(arguments): \(run.err)")
        return run
    }

    /// `vfioctl cpu host`, `cpu dump`, `cpu host --cpuid DUMP` and libvirt, compared.
    func compare(_ label: String) throws {
        let libvirt = try Self.libvirt()
        let host = try Self.vfioctl(["cpu", "host", "--format", "xml"])
        #expect(host.out.hasPrefix("<!-- vfioctl cpu host: decoded from the CPUID instruction on CPU "), "\(host.out)")
        let mine = try HostCPUElement(host.out)
        #expect(mine == libvirt.cpu, "\(label): vfioctl \(mine)\nlibvirt \(libvirt.cpu)")
        let dump = try Self.vfioctl(["cpu", "dump"])
        let boot = Lab.boot ?? "cpu"
        let file = Self.out + "/\(boot)-\(label).xml"
        try dump.out.write(toFile: file, atomically: true, encoding: .utf8)
        try libvirt.text.write(toFile: Self.out + "/\(boot)-\(label)-capabilities.xml", atomically: true, encoding: .utf8)
        let decoded = try Self.vfioctl(["cpu", "host", "--cpuid", file, "--format", "xml"])
        #expect(try HostCPUElement(decoded.out) == libvirt.cpu.decoded, "\(label): the dump decodes to \(decoded.out)")
        print("lab cpu \(boot) \(label): libvirt and vfioctl say \(libvirt.cpu)")
    }

    @Test("cpu host equals virsh capabilities' host <cpu> (model, vendor, signature, microcode, topology, features), and so does the dump decoded")
    func asLibvirtSeesIt() throws {
        // As a host is before anyone loads the msr module: libvirt falls back to /dev/kvm (none
        // under TCG), and vfioctl names what it could not read.
        #expect(!FileManager.default.fileExists(atPath: "/dev/cpu/0/msr"))
        try compare("no-msr-module")
        let json = try TestProcess.json(try Self.vfioctl(["cpu", "host", "--format", "json"]).out)
        let cpu = json["cpu"] as? [String: Any]
        #expect(cpu?["source"] as? String == "cpuid")
        let archCapabilities = (cpu?["features"] as? [String])?.contains("arch-capabilities") == true
        let unread = (cpu?["unread_features"] as? [[String: Any]]) ?? []
        #expect(unread.isEmpty != archCapabilities, "unread features exactly when the CPU has arch-capabilities: \(unread)")
        // With the msr module both read MSR 0x10a from /dev/cpu/0/msr.
        let loaded = try TestProcess.run("modprobe", ["msr"], timeout: 120)
        #expect(loaded.status == 0, "\(loaded.err)")
        try compare("msr-module")
        let after = try TestProcess.json(try Self.vfioctl(["cpu", "host", "--format", "json"]).out)["cpu"] as? [String: Any]
        #expect((after?["unread_features"] as? [Any])?.isEmpty == true)
        if archCapabilities {
            #expect((after?["source_detail"] as? String)?.contains("MSR 0x10a from /dev/cpu/0/msr") == true || (after?["source_detail"] as? String)?.contains("not supported") == true,
                    "\(after?["source_detail"] ?? "")")
        }
    }

    @Test("compare and baseline take this host's dump: identical to itself, and its baseline is its own model")
    func dumpsAsCPUs() throws {
        let file = Self.out + "/self.xml"
        try (try Self.vfioctl(["cpu", "dump"])).out.write(toFile: file, atomically: true, encoding: .utf8)
        let compared = try TestProcess.vfioctl(["cpu", "compare", file])
        #expect(compared.status == 0 && compared.out.hasPrefix("identical: "), "\(compared.out)\(compared.err)")
        let baseline = try Self.vfioctl(["cpu", "baseline", file, file])
        let model = try HostCPUElement(try Self.vfioctl(["cpu", "host", "--format", "xml"]).out).model ?? "-"
        #expect(baseline.out.contains(">\(model)</model>"), "\(baseline.out)")
    }
}
