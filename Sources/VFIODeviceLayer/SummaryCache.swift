import Glibc
import VFIOCore

/// The last `.summary` read of every function (`metrics`, every minute), kept while the kernel
/// says no device changed since: the approach of udev's database and libvirt's node device
/// driver, which read a device when a uevent says it changed, polled instead of listened to.
///
/// Every fact a summary holds changes only with a uevent: a function added or removed (VFs
/// made or dropped with sriov_numvfs, hot plug), bound or unbound (KOBJ_BIND/KOBJ_UNBIND, Linux
/// 4.14 on), its vfio-dev/ device added; its ids, class, IOMMU group and PF are fixed for its
/// lifetime. The kernel counts every uevent in /sys/kernel/uevent_seqnum, whether anyone
/// listens or not. So the summary is reused only while the boot (its boot_id), that count and
/// the taint flags are what they were when it was read. The one fact with no uevent is a
/// `numa_node` written by root, which the kernel flags as a firmware workaround (taint I): the
/// first such write changes the taint and so the key; later ones show at the next uevent.
///
/// The file is ROOT/run/vfioctl/metrics-summary (run/ is emptied at boot), mode 0600, written
/// atomically; it is used only when it is a regular file of the user running vfioctl that no
/// one else can write, holds this format and this key. A tree without the three kernel files
/// (a snapshot, a fake tree) is never cached. Anything unexpected means a fresh read.
public struct SummaryCache: Sendable {
    public let root: HostRoot

    public init(root: HostRoot) { self.root = root }

    static let directory = "run/vfioctl"
    static let name = "metrics-summary"
    static let magic = Array("vfioctl-summary 1\n".utf8)
    /// Some 60 bytes a function: 5,000 functions take 300 KB.
    static let limit = 64 << 20

    /// "BOOT_ID SEQNUM TAINTED", or nil when the root lacks one of them.
    public func generation() -> String? {
        var parts: [String] = []
        for file in ["proc/sys/kernel/random/boot_id", "sys/kernel/uevent_seqnum", "proc/sys/kernel/tainted"] {
            guard let text = root.text(file, limit: 128)?.trimmingWhitespace(), !text.isEmpty,
                  text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
            parts.append(text)
        }
        return parts.joined(separator: " ")
    }

    /// The functions read under `generation`, if the cache holds them.
    public func load(_ generation: String) -> [PCIFunction]? {
        guard let directory = try? SafeDirectory.open(Self.directory, under: root.prefix, create: false, missing: true),
              let (bytes, info) = (try? directory.read(Self.name, limit: Self.limit)) ?? nil,
              info.st_uid == geteuid(), info.st_mode & 0o022 == 0
        else { return nil }
        var reader = Reader(bytes: bytes)
        guard reader.take(Self.magic.count) == Self.magic[...], reader.line() == generation else { return nil }
        return reader.functions()
    }

    /// Keeps `functions`, read under `generation`; a cache that cannot be written is no error.
    public func store(_ functions: [PCIFunction], _ generation: String) {
        var writer = Writer()
        writer.bytes += Self.magic
        writer.bytes += Array((generation + "\n").utf8)
        writer.functions(functions)
        guard let directory = try? SafeDirectory.open(Self.directory, under: root.prefix, create: true) else { return }
        try? directory.write(Self.name, writer.bytes, mode: 0o600, durable: false)
    }

    // MARK: the format: little-endian integers, a flag byte before each optional

    struct Writer {
        var bytes: [UInt8] = []

        mutating func int(_ value: Int) { withUnsafeBytes(of: Int64(value).littleEndian) { bytes += $0 } }
        mutating func optional(_ value: Int?) {
            bytes.append(value == nil ? 0 : 1)
            if let value { int(value) }
        }
        mutating func string(_ value: String?) {
            bytes.append(value == nil ? 0 : 1)
            guard let value else { return }
            int(value.utf8.count)
            bytes += value.utf8
        }
        mutating func address(_ a: PCIAddress) { int(Int(a.domain) << 16 | Int(a.bus) << 8 | Int(a.device) << 3 | Int(a.function)) }
        mutating func optionalAddress(_ a: PCIAddress?) {
            bytes.append(a == nil ? 0 : 1)
            if let a { address(a) }
        }

        mutating func functions(_ functions: [PCIFunction]) {
            int(functions.count)
            for f in functions {
                address(f.address)
                int(Int(f.vendorID))
                int(Int(f.deviceID))
                int(Int(f.classCode))
                optional(f.subsystemVendorID.map(Int.init))
                optional(f.subsystemDeviceID.map(Int.init))
                optional(f.numaNode)
                string(f.driver)
                bytes.append(f.hasVFIODevice ? 1 : 0)
                optional(f.iommuGroup)
                optionalAddress(f.physfn)
                string(f.sysfsPath)
                bytes.append(f.sriov == nil ? 0 : 1)
                if let sriov = f.sriov {
                    int(sriov.totalVFs)
                    int(sriov.numVFs)
                    int(sriov.vfIndices.count)
                    for (index, vf) in sriov.vfIndices.sorted(by: { $0.key < $1.key }) {
                        int(index)
                        address(vf)
                    }
                }
            }
        }
    }

    /// Reads what Writer wrote; nil at the first thing out of place.
    struct Reader {
        let bytes: [UInt8]
        var position = 0

        mutating func take(_ count: Int) -> ArraySlice<UInt8>? {
            guard count >= 0, count <= bytes.count - position else { return nil }
            defer { position += count }
            return bytes[position..<position + count]
        }
        mutating func line() -> String? {
            guard let end = bytes[position...].firstIndex(of: 0x0A), let text = take(end - position) else { return nil }
            position += 1
            return String(decoding: text, as: UTF8.self)
        }
        mutating func int() -> Int? {
            guard let raw = take(8) else { return nil }
            return Int(Int64(littleEndian: raw.withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }))
        }
        mutating func flag() -> Bool? {
            guard let byte = take(1)?.first, byte <= 1 else { return nil }
            return byte == 1
        }
        mutating func int(in range: ClosedRange<Int>) -> Int? { int().flatMap { range.contains($0) ? $0 : nil } }
        mutating func optional(in range: ClosedRange<Int>) -> Int?? {
            guard let present = flag() else { return nil }
            guard present else { return .some(nil) }
            return int(in: range).map { .some($0) }
        }
        mutating func string() -> String?? {
            guard let present = flag() else { return nil }
            guard present else { return .some(nil) }
            guard let count = int(in: 0...4096), let text = take(count) else { return nil }
            return .some(String(decoding: text, as: UTF8.self))
        }
        mutating func address() -> PCIAddress? {
            guard let value = int(in: 0...(Int(UInt32.max) << 16 | 0xFFFF)) else { return nil }
            return PCIAddress(domain: UInt32(value >> 16), bus: UInt8(value >> 8 & 0xFF), device: UInt8(value >> 3 & 0x1F), function: UInt8(value & 7))
        }
        mutating func optionalAddress() -> PCIAddress?? {
            guard let present = flag() else { return nil }
            guard present else { return .some(nil) }
            return address().map { .some($0) }
        }

        mutating func functions() -> [PCIFunction]? {
            guard let count = int(in: 0...1 << 20) else { return nil }
            var functions: [PCIFunction] = []
            functions.reserveCapacity(count)
            for _ in 0..<count {
                guard let location = address(), let vendor = int(in: 0...0xFFFF), let device = int(in: 0...0xFFFF),
                      let classCode = int(in: 0...0xFFFFFF), let subsystemVendor = optional(in: 0...0xFFFF),
                      let subsystemDevice = optional(in: 0...0xFFFF), let numa = optional(in: 0...Int(Int32.max)), let driver = string(),
                      let vfio = flag(), let group = optional(in: 0...Int(Int32.max)), let physfn = optionalAddress(),
                      let path = string() ?? nil, let hasSRIOV = flag()
                else { return nil }
                var f = PCIFunction(address: location, vendorID: UInt16(vendor), deviceID: UInt16(device), classCode: UInt32(classCode), sysfsPath: path)
                (f.subsystemVendorID, f.subsystemDeviceID) = (subsystemVendor.map(UInt16.init), subsystemDevice.map(UInt16.init))
                (f.numaNode, f.driver, f.hasVFIODevice, f.iommuGroup, f.physfn) = (numa, driver, vfio, group, physfn)
                if hasSRIOV {
                    guard let total = int(in: 0...0xFFFF), let enabled = int(in: 0...total), let links = int(in: 0...enabled) else { return nil }
                    var indices: [Int: PCIAddress] = [:]
                    for _ in 0..<links {
                        guard let index = int(in: 0...0xFFFF), let vf = self.address() else { return nil }
                        indices[index] = vf
                    }
                    f.sriov = SRIOVInfo(totalVFs: total, numVFs: enabled, driversAutoprobe: nil, vfIndices: indices, vfDeviceID: nil, offset: nil, stride: nil)
                }
                functions.append(f)
            }
            return position == bytes.count ? functions : nil
        }
    }
}
