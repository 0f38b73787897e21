import Glibc
import VFIOCore

/// Reads HostFacts under the root: /proc, /sys/module, /sys/class, /dev/vfio, lib/modules, and
/// (on a live host) interface addresses. `functions` are the ones being checked: only what sits
/// on them (block devices, interfaces) is looked at.
public struct FactsReader: Sendable {
    public let root: HostRoot

    public init(root: HostRoot) { self.root = root }

    /// Modules whose state and parameters the checks read.
    static let modulesOfInterest = ["vfio", "vfio_pci", "vfio_pci_core", "vfio_iommu_type1", "iommufd", "kvm", "kvm_intel", "kvm_amd",
                                    "virtio_iommu"]

    public func read(for functions: [PCIFunction]) -> HostFacts {
        var facts = HostFacts()
        facts.commandLine = KernelCommandLine(text(SysfsLayout.cmdline) ?? "")
        facts.kernelRelease = text(SysfsLayout.osrelease)?.trimmingWhitespace()
        facts.interruptChips = ProcFiles.interruptChips(text(SysfsLayout.interrupts, limit: 8 << 20) ?? "")
        facts.modules = modules(release: facts.kernelRelease)
        facts.parameters = parameters()
        if let mode = mode(SysfsLayout.vfioContainer) { facts.vfioContainer = DeviceNode(mode: mode) }
        facts.vfioGroupNodes = Set((root.entries(SysfsLayout.devVFIO) ?? []).compactMap { ParsedInteger($0, .name).value })
        facts.memlock = text(SysfsLayout.limits).flatMap { ProcFiles.limit($0, named: "Max locked memory") }
        facts.cpuFlags = ProcFiles.cpuFlags(text(SysfsLayout.cpuinfo, limit: 65536) ?? "")
        facts.iommuUnits = (root.entries(SysfsLayout.classIOMMU) ?? []).sorted().map { unit in
            let base = SysfsLayout.classIOMMU + "/" + unit
            return IOMMUUnit(name: unit, intelECAP: text(base + "/intel-iommu/ecap").flatMap(SysfsValues.hex),
                             amdFeatures: text(base + "/amd-iommu/features").flatMap(SysfsValues.hex))
        }
        facts.iommuDevice = deviceNode(SysfsLayout.iommuDevice)
        facts.vfioDeviceNodes = Set(root.entries(SysfsLayout.vfioDevices) ?? [])
        if facts.wantsKernelConfig { facts.kernelConfig = kernelConfig(release: facts.kernelRelease) }
        if facts.wantsKernelLog { facts.kernelLog = kernelLog().map { KernelLog.relevant(KernelLog.messages($0)) } }
        facts.mounts = ProcFiles.mounts(text(SysfsLayout.mountinfo, limit: 4 << 20) ?? "")
        facts.swaps = ProcFiles.swaps(text(SysfsLayout.swaps) ?? "").map(resolveDevicePath)
        for name in Set(functions.flatMap(\.blockDevices)) { readBlock(name, into: &facts.blockDevices) }
        let interfaces = Set(functions.flatMap(\.netInterfaces))
        if !interfaces.isEmpty { facts.network = network(interfaces) }
        facts.framebuffers = framebuffers()
        facts.pciDrivers = root.entries(SysfsLayout.drivers).map(Set.init)
        return facts
    }

    /// The host's name as etc/hostname has it (its first line, trimmed; nil when absent or empty).
    public func hostname() -> String? {
        guard let first = text(SysfsLayout.hostname)?.split(separator: "\n", omittingEmptySubsequences: false).first else { return nil }
        let name = String(first).trimmingWhitespace()
        return name.isEmpty ? nil : name
    }

    /// Processes holding /dev/vfio/N (group) open, found through /proc/PID/fd. Costs a readlink
    /// per open file on the host, so only observations for planning a change ask (`openGroups`).
    public func vfioUsers() -> [Int: [VFIOUser]] {
        var users: [Int: [VFIOUser]] = [:]
        for entry in root.entries("proc") ?? [] {
            guard let pid = ParsedInteger(entry, .name).value else { continue }
            let fdDirectory = "proc/\(entry)/fd"
            var groups: Set<Int> = []
            for fd in root.entries(fdDirectory) ?? [] {
                guard let target = root.link(fdDirectory + "/" + fd), target.hasPrefix("/dev/vfio/"),
                      let group = ParsedInteger(target.dropFirst("/dev/vfio/".count), .name).value else { continue }
                groups.insert(group)
            }
            guard !groups.isEmpty else { continue }
            let command = text("proc/\(entry)/comm")?.trimmingWhitespace() ?? "?"
            let arguments = (root.bytes("proc/\(entry)/cmdline", limit: 1 << 20) ?? [])
                .split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            let user = VFIOUser(pid: pid, command: command, guest: VFIOUser.guestName(arguments))
            for group in groups { users[group, default: []].append(user) }
        }
        return users.mapValues { $0.sorted { $0.pid < $1.pid } }
    }


    /// A file under the root; nil when absent, unreadable, or not a regular file (a FIFO there
    /// is never opened for a read that would block: the fact is unknown, as for an unreadable file).
    func text(_ relative: String, limit: Int = 1 << 20) -> String? { root.text(relative, limit: limit) }

    /// The kernel log's text: on the live host the records /dev/kmsg holds now (`KernelRing`);
    /// under a tree, its dev/kmsg only when that is a regular file (a recorded log: a device node
    /// there is never opened for reading). nil when it cannot be read.
    func kernelLog() -> String? {
        root.isLive ? KernelRing.read(limit: SysfsLayout.kmsgLimit) : text(SysfsLayout.kmsg, limit: SysfsLayout.kmsgLimit)
    }

    /// The running kernel's build configuration: /boot/config-RELEASE as distributions install
    /// it, else /proc/config.gz (CONFIG_IKCONFIG_PROC), inflated with a bound. nil when neither
    /// can be read (or the gzip data is damaged or too large): unknown, not "not set".
    func kernelConfig(release: String?) -> KernelConfig? {
        let limit = SysfsLayout.kernelConfigLimit
        // A file beyond the bound is not a kernel's configuration: unknown, not cut short (a
        // truncated file would say an option near its end is not set).
        if let release, root.exists(SysfsLayout.bootConfig(release)) {
            guard let bytes = root.bytes(SysfsLayout.bootConfig(release), limit: limit + 1), bytes.count <= limit else { return nil }
            return KernelConfig.parse(String(decoding: bytes, as: UTF8.self), path: "/" + SysfsLayout.bootConfig(release))
        }
        guard let compressed = root.bytes(SysfsLayout.procConfig, limit: limit + 1), compressed.count <= limit,
              case .success(let bytes) = Gzip.inflate(compressed, limit: limit) else { return nil }
        return KernelConfig.parse(String(decoding: bytes, as: UTF8.self), path: "/" + SysfsLayout.procConfig)
    }

    /// A character device at `relative` (in a tree, also the empty file `vfioctl snapshot` records
    /// a node as), by its mode; nil when nothing or anything else is there. Looked at, never opened.
    func deviceNode(_ relative: String) -> DeviceNode? {
        guard let info = root.status(relative) else { return nil }
        let kind = info.st_mode & S_IFMT
        guard kind == S_IFCHR || (kind == S_IFREG && !root.isLive) else { return nil }
        return DeviceNode(mode: UInt32(info.st_mode & 0o7777))
    }

    func mode(_ relative: String) -> UInt32? {
        root.status(relative).map { UInt32($0.st_mode & 0o7777) }
    }

    func modules(release: String?) -> ModuleFacts {
        var facts = ModuleFacts(loaded: ProcFiles.loadedModules(text(SysfsLayout.modules) ?? ""))
        guard let release else { return facts }
        let base = SysfsLayout.libModules(release)
        facts.builtin = ProcFiles.builtinModules(text(base + "/modules.builtin", limit: 4 << 20) ?? "")
        // Built-in modules with parameters also show up in /sys/module.
        for module in Self.modulesOfInterest where !facts.loaded.contains(module) && !facts.builtin.contains(module) {
            if root.exists(SysfsLayout.sysModule + "/" + module + "/parameters")
                && !root.exists(SysfsLayout.sysModule + "/" + module + "/initstate") {
                facts.builtin.insert(module)
            }
        }
        if Self.modulesOfInterest.contains(where: { !facts.isLoaded($0) }) {
            let installed = ProcFiles.modulesInDep(text(base + "/modules.dep", limit: 16 << 20) ?? "")
            facts.installed = installed.intersection(Self.modulesOfInterest)
        }
        return facts
    }

    func parameters() -> [String: String] {
        var parameters: [String: String] = [:]
        for module in Self.modulesOfInterest {
            let directory = SysfsLayout.sysModule + "/" + module + "/parameters"
            for name in root.entries(directory) ?? [] {
                if let value = text(directory + "/" + name, limit: 4096) {
                    parameters[module + "." + name] = value.trimmingWhitespace()
                }
            }
        }
        return parameters
    }

    /// "/dev/mapper/vg-swap" → "/dev/dm-1" (the link under the root), so swaps compare by kernel name.
    func resolveDevicePath(_ path: String) -> String {
        guard path.hasPrefix("/dev/"), let target = root.link(String(path.dropFirst())) else { return path }
        return "/" + SysfsPaths.resolve(link: target, in: SysfsPaths.directory(of: String(path.dropFirst())))
    }

    func readBlock(_ name: String, into devices: inout [String: BlockDevice]) {
        guard devices[name] == nil else { return }
        let base = SysfsLayout.classBlock + "/" + name
        let holders = (root.entries(base + "/holders") ?? []).sorted()
        devices[name] = BlockDevice(name: name, device: text(base + "/dev")?.trimmingWhitespace(), holders: holders)
        for holder in holders { readBlock(holder, into: &devices) }
    }

    func network(_ names: Set<String>) -> [String: NetInterface] {
        let ipv4 = ProcFiles.ipv4Routes(text(SysfsLayout.route) ?? "")
        let ipv6 = ProcFiles.ipv6Routes(text(SysfsLayout.ipv6Route) ?? "")
        let ipv6Addresses = ProcFiles.ipv6Addresses(text(SysfsLayout.ifInet6) ?? "")
        let ipv4Addresses = root.isLive ? InterfaceAddresses.ipv4() : InterfaceAddresses.parse(text(SysfsLayout.recordedAddresses) ?? "")
        var interfaces: [String: NetInterface] = [:]
        for name in names {
            let base = SysfsLayout.classNet + "/" + name
            let v4 = ipv4[name] ?? (false, false)
            let v6 = ipv6[name] ?? (false, false)
            interfaces[name] = NetInterface(
                name: name, operstate: text(base + "/operstate")?.trimmingWhitespace(),
                master: root.link(base + "/master").map(SysfsPaths.lastComponent),
                addresses: (ipv4Addresses[name] ?? []) + (ipv6Addresses[name] ?? []),
                hasRoutes: v4.any || v6.any, carriesDefaultRoute: v4.isDefault || v6.isDefault)
            interfaces[name]?.adminUp = text(base + "/flags").flatMap(SysfsValues.hex).map { $0 & 1 != 0 }
        }
        return interfaces
    }

    func framebuffers() -> [String: PCIAddress] {
        var owners: [String: PCIAddress] = [:]
        for name in root.entries(SysfsLayout.classGraphics) ?? [] where name.hasPrefix("fb") {
            guard let target = root.link(SysfsLayout.classGraphics + "/" + name) else { continue }
            // /sys/class/graphics/fb0 -> ../../devices/pci0000:00/0000:00:02.0/graphics/fb0
            if let owner = SysfsPaths.owningFunction(of: SysfsPaths.resolve(link: target, in: SysfsLayout.classGraphics)) {
                owners[name] = owner
            }
        }
        return owners
    }
}

/// IPv4 addresses per interface: netlink (getifaddrs) on a live host; on a snapshot, the copy
/// `vfioctl snapshot` recorded (`NAME ADDRESS/PREFIX` lines).
enum InterfaceAddresses {
    static func ipv4() -> [String: [String]] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [:] }
        defer { freeifaddrs(first) }
        var addresses: [String: [String]] = [:]
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET) else { continue }
            let name = String(cString: entry.pointee.ifa_name)
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            let ok = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin -> Bool in
                var raw = sin.pointee.sin_addr
                return inet_ntop(AF_INET, &raw, &text, socklen_t(text.count)) != nil
            }
            guard ok else { continue }
            var prefix = 32
            if let mask = entry.pointee.ifa_netmask {
                prefix = mask.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt32(bigEndian: $0.pointee.sin_addr.s_addr).nonzeroBitCount) }
            }
            let rendered = text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            addresses[name, default: []].append("\(rendered)/\(prefix)")
        }
        return addresses
    }

    static func parse(_ text: String) -> [String: [String]] {
        var addresses: [String: [String]] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 2 else { continue }
            addresses[String(fields[0]), default: []].append(String(fields[1]))
        }
        return addresses
    }

    static func render(_ addresses: [String: [String]]) -> String {
        addresses.keys.sorted().flatMap { name in addresses[name]!.map { "\(name) \($0)\n" } }.joined()
    }
}

/// The kernel's ring buffer through /dev/kmsg, read without ever waiting: opened O_NONBLOCK, one
/// record per read(2), to EAGAIN (the end of what is there now). Each open starts at the oldest
/// record kept; EPIPE says records were overwritten while reading, and reading goes on from the
/// next. Opening needs root where dmesg_restrict is set (Debian): nil then.
enum KernelRing {
    static func read(limit: Int) -> String? {
        let fd = open("/" + SysfsLayout.kmsg, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFCHR else { return nil }
        var bytes: [UInt8] = []
        // A record is at most 8 KiB (PRINTK_MESSAGE_MAX / CONSOLE_EXT_LOG_MAX); a shorter buffer gets EINVAL.
        var record = [UInt8](repeating: 0, count: 16384)
        while bytes.count < limit {
            let count = record.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                bytes += record[0..<min(count, limit - bytes.count)]
                continue
            }
            if count < 0 && (errno == EINTR || errno == EPIPE) { continue }
            break
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
