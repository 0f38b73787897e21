import Foundation
import Glibc
import Testing
import VFIOCore
import VFIOTestSupport

/// The lab boot this test run is inside (scripts/lab sets VFIOCTL_LAB_BOOT), or nil on a host.
enum Lab {
    static var boot: String? { ProcessInfo.processInfo.environment["VFIOCTL_LAB_BOOT"] }

    /// For `.enabled(if:)`: these suites only mean something inside their guest. On a host they
    /// show as skipped with this reason; scripts/lab fails a boot in which any lab test skipped.
    static func inside(_ names: String...) -> Bool { boot.map(names.contains) ?? false }

    /// The booted kernel's major and minor version (6.1, 6.12).
    static var kernel: (major: Int, minor: Int)? {
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return ProcFiles.kernelVersion(release)
    }
    static let reason: Comment = "runs inside the real-kernel lab: scripts/lab test"

    /// The repository (the guest shares the host's file system).
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// An engine's judge from fixtures/engines (Debian's python3 with nova, neutron, jsonschema,
    /// installed on the host) on this kernel's /sys: its one JSON line.
    static func judge(_ script: String, _ arguments: [String]) throws -> [String: Any] {
        let result = try TestProcess.run("/usr/bin/python3", [repository + "/fixtures/engines/" + script] + arguments, timeout: 300)
        return try TestProcess.json(result.out.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// How long `body` took (a monotonic clock), for the figures the lab prints.
    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = ContinuousClock.now
        try body()
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
}

/// The kernel's truth, read straight from sysfs with nothing of vfioctl's (an independent oracle).
enum Kernel {
    static func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func linkName(_ path: String) -> String? {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: path)).map { ($0 as NSString).lastPathComponent }
    }

    static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    static func device(_ address: String) -> String { "/sys/bus/pci/devices/\(address)" }

    /// Every function, sorted by address.
    static func addresses() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/bus/pci/devices")) ?? []
        return names.sorted { (PCIAddress($0) ?? PCIAddress(bus: 0, device: 0, function: 0)) < (PCIAddress($1) ?? PCIAddress(bus: 0, device: 0, function: 0)) }
    }

    static func hex(_ path: String) -> String? { read(path).map { String($0.dropFirst(2)) } }
    static func driver(_ address: String) -> String? { linkName(device(address) + "/driver") }
    static func group(_ address: String) -> Int? { linkName(device(address) + "/iommu_group").flatMap { Int($0) } }

    /// /sys/kernel/iommu_groups/N/devices, by N.
    static func groups() -> [Int: [String]] {
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/kernel/iommu_groups")) ?? []
        var groups: [Int: [String]] = [:]
        for id in ids {
            let members = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/kernel/iommu_groups/\(id)/devices")) ?? []
            groups[Int(id) ?? -1] = members.sorted()
        }
        return groups
    }

    /// One write to a sysfs attribute, as the kernel wants it; the errno on failure.
    static func write(_ value: String, to path: String) throws {
        let fd = open(path, O_WRONLY)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        defer { close(fd) }
        let count = value.withCString { Glibc.write(fd, $0, strlen($0)) }
        guard count >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    /// What `vfioctl config cmdline` proposes for a Debian /etc/default/grub with an empty
    /// GRUB_CMDLINE_LINUX: the file is written in the guest (its /etc is an overlay that never
    /// reaches the host) only when there is none, and removed after.
    static func cmdlineProposal() throws -> TestProcess.Result {
        let grub = "/etc/default/grub"
        guard !exists(grub) else { throw LabError("\(grub) exists in this guest; the lab writes its own") }
        try FileManager.default.createDirectory(atPath: "/etc/default", withIntermediateDirectories: true)
        try "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"\"\n".write(toFile: grub, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: grub) }
        return try TestProcess.vfioctl(["config", "cmdline"])
    }

    static func modprobe(_ module: String) throws {
        let result = try TestProcess.run("modprobe", [module])
        guard result.status == 0 else { throw LabError("modprobe \(module) failed: \(result.err)") }
    }

    /// Binds a function to vfio-pci the way the kernel documents it (driver_override, unbind,
    /// drivers_probe); done here by hand, independently of vfioctl.
    static func bindToVFIO(_ address: String) throws {
        try modprobe("vfio-pci")
        try write("vfio-pci", to: device(address) + "/driver_override")
        if driver(address) != nil { try write(address, to: device(address) + "/driver/unbind") }
        try write(address, to: "/sys/bus/pci/drivers_probe")
        guard driver(address) == "vfio-pci" else { throw LabError("\(address) did not bind to vfio-pci") }
    }

    /// Clears the override and lets the kernel's default driver probe again.
    static func restore(_ address: String) throws {
        try write("\n", to: device(address) + "/driver_override")
        if driver(address) != nil { try write(address, to: device(address) + "/driver/unbind") }
        try write(address, to: "/sys/bus/pci/drivers_probe")
    }
}

struct LabError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// QEMU's own verdict on assigning a function: it starts (paused) with `-device vfio-pci` and
/// quits, or refuses ("group N is not viable", "Operation not permitted", ...).
enum QEMU {
    struct Verdict {
        var accepted: Bool
        var output: String
    }

    static func verdict(_ address: String) throws -> Verdict { try verdict(device: "vfio-pci,host=\(address)") }

    /// QEMU's verdict on one -device (vfio-pci,host=ADDRESS or vfio-pci,sysfsdev=/sys/bus/mdev/devices/UUID);
    /// `tolerating`: QEMU's warnings that are no refusal (mtty's mdev has no reset: "Cannot reset device").
    static func verdict(device: String, tolerating: [String] = []) throws -> Verdict {
        var unlimited = rlimit(rlim_cur: rlim_t.max, rlim_max: rlim_t.max)
        _ = setrlimit(__rlimit_resource_t(__RLIMIT_MEMLOCK.rawValue), &unlimited)
        let result = try TestProcess.run("qemu-system-x86_64", [
            "-machine", "pc,accel=tcg", "-m", "64", "-nodefaults", "-display", "none", "-S", "-qmp", "stdio", "-device", device,
        ], input: #"{"execute":"qmp_capabilities"}{"execute":"quit"}"#, timeout: 180)
        let output = result.out + result.err
        let complaints = result.err.split(separator: "\n").filter { line in !tolerating.contains { line.contains($0) } }
        return Verdict(accepted: result.status == 0 && !result.timedOut && !complaints.contains { $0.contains("vfio") }, output: output)
    }

    /// The group number in "vfio 0000:03:01.0: group 12 is not viable".
    static func notViableGroup(_ output: String) -> Int? {
        guard let range = output.range(of: #"group (\d+) is not viable"#, options: .regularExpression) else { return nil }
        return Int(output[range].split(separator: " ")[1])
    }
}

/// `vfioctl check`'s verdict and findings.
struct CheckVerdict {
    var passed: Bool
    var findings: [[String: Any]]
    var ids: [String] { findings.compactMap { $0["id"] as? String } }

    func message(_ id: String) -> String {
        findings.first { $0["id"] as? String == id }?["message"] as? String ?? ""
    }

    static func of(_ arguments: [String]) throws -> CheckVerdict {
        let result = try TestProcess.vfioctl(["check"] + arguments + ["--format", "json"])
        guard result.status == 0 || result.status == 2 else {
            throw LabError("vfioctl check \(arguments) exited \(result.status): \(result.err)")
        }
        let document = try TestProcess.json(result.out)
        let passed = document["verdict"] as? String == "pass"
        guard passed == (result.status == 0) else { throw LabError("verdict and exit status disagree: \(result.out)") }
        return CheckVerdict(passed: passed, findings: document["findings"] as? [[String: Any]] ?? [])
    }
}

/// vfioctl's JSON, as dictionaries.
struct VfioctlJSON {
    static func run(_ arguments: [String]) throws -> [String: Any] {
        let result = try TestProcess.vfioctl(arguments + ["--format", "json"])
        guard result.status == 0 else { throw LabError("vfioctl \(arguments) exited \(result.status): \(result.err)") }
        return try TestProcess.json(result.out)
    }

    static func functions() throws -> [[String: Any]] {
        try run(["list"])["functions"] as? [[String: Any]] ?? []
    }

    static func function(_ address: String) throws -> [String: Any] {
        guard let f = try functions().first(where: { $0["address"] as? String == address }) else {
            throw LabError("vfioctl does not list \(address)")
        }
        return f
    }
}

extension Dictionary where Key == String, Value == Any {
    func string(_ key: String) -> String? { self[key] as? String }
    func int(_ key: String) -> Int? { self[key] as? Int }
}
