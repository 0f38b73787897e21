/// Pure parsers for /proc files the checks read.
public enum ProcFiles {
    /// The interrupt chip names in /proc/interrupts ("IR-PCI-MSI", "IO-APIC", ...): the column
    /// after the per-CPU counts.
    public static func interruptChips(_ text: String) -> Set<String> {
        var chips: Set<String> = []
        let lines = text.split(separator: "\n")
        guard let header = lines.first else { return chips }
        let cpus = header.split(separator: " ").filter { $0.hasPrefix("CPU") }.count
        for line in lines.dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > cpus + 1, fields[0].hasSuffix(":") else { continue }
            let name = fields[0].dropLast()
            // Named rows (NMI, LOC, ...) are counters, not chips.
            guard name.allSatisfy(\.isNumber) else { continue }
            chips.insert(String(fields[cpus + 1]))
        }
        return chips
    }

    /// Module names in /proc/modules (first column).
    public static func loadedModules(_ text: String) -> Set<String> {
        Set(text.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) })
    }

    /// Module names in modules.builtin ("kernel/drivers/vfio/vfio.ko" → "vfio"), with '-' as '_'.
    public static func builtinModules(_ text: String) -> Set<String> {
        Set(text.split(separator: "\n").compactMap { line in
            moduleName(fromPath: String(line))
        })
    }

    /// "kernel/drivers/vfio/pci/vfio-pci.ko.xz" → "vfio_pci".
    public static func moduleName(fromPath path: String) -> String? {
        guard let file = path.split(separator: "/").last, let dot = file.firstIndex(of: "."),
              file[dot...].hasPrefix(".ko") else { return nil }
        return String(file[..<dot].map { $0 == "-" ? "_" : $0 })
    }

    /// Module names listed in modules.dep ("kernel/drivers/vfio/pci/vfio-pci.ko: deps...").
    public static func modulesInDep(_ text: String) -> Set<String> {
        Set(text.split(separator: "\n").compactMap { line in
            line.split(separator: ":", maxSplits: 1).first.flatMap { moduleName(fromPath: String($0)) }
        })
    }

    public struct Limit: Sendable, Equatable {
        /// nil means unlimited.
        public var soft: UInt64?
        public var hard: UInt64?

        public init(soft: UInt64?, hard: UInt64?) {
            self.soft = soft
            self.hard = hard
        }
    }

    /// A row of /proc/PID/limits ("Max locked memory  8388608  8388608  bytes").
    public static func limit(_ text: String, named name: String) -> Limit? {
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            let fields = line.dropFirst(name.count).split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 2 else { return nil }
            func value(_ field: Substring) -> UInt64? { field == "unlimited" ? nil : UInt64(field) ?? 0 }
            return Limit(soft: value(fields[0]), hard: value(fields[1]))
        }
        return nil
    }

    public struct Mount: Sendable, Equatable {
        /// "259:1"
        public var device: String
        public var mountPoint: String
        public var fileSystem: String
        public var source: String
    }

    /// /proc/PID/mountinfo: "36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw".
    public static func mounts(_ text: String) -> [Mount] {
        text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count >= 10, let separator = fields.firstIndex(of: "-"), separator + 2 < fields.count else {
                return nil
            }
            return Mount(device: String(fields[2]), mountPoint: unescape(String(fields[4])),
                         fileSystem: String(fields[separator + 1]), source: unescape(String(fields[separator + 2])))
        }
    }

    /// /proc/swaps file names (devices or files).
    public static func swaps(_ text: String) -> [String] {
        text.split(separator: "\n").dropFirst().compactMap { line in
            line.split(separator: " ", omittingEmptySubsequences: true).first.map { unescape(String($0)) }
        }
    }

    /// Interfaces with IPv4 routes in /proc/net/route, by name: (has any route, has the default route).
    public static func ipv4Routes(_ text: String) -> [String: (any: Bool, isDefault: Bool)] {
        var routes: [String: (any: Bool, isDefault: Bool)] = [:]
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
            guard fields.count >= 8 else { continue }
            let name = String(fields[0])
            let isDefault = fields[1] == "00000000" && fields[7] == "00000000"
            let previous = routes[name] ?? (false, false)
            routes[name] = (true, previous.isDefault || isDefault)
        }
        return routes
    }

    /// Interfaces with IPv6 routes in /proc/net/ipv6_route that matter: not the link-local
    /// (fe80::/64) and multicast (ff00::/8) routes every interface has, nor local (/128) ones.
    public static func ipv6Routes(_ text: String) -> [String: (any: Bool, isDefault: Bool)] {
        var routes: [String: (any: Bool, isDefault: Bool)] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 10 else { continue }
            let destination = fields[0]
            let prefix = Int(fields[1], radix: 16) ?? 0
            let name = String(fields[9])
            if destination.hasPrefix("fe80") || destination.hasPrefix("ff") || prefix == 128 || name == "lo" { continue }
            let isDefault = prefix == 0
            let previous = routes[name] ?? (false, false)
            routes[name] = (true, previous.isDefault || isDefault)
        }
        return routes
    }

    /// Global IPv6 addresses per interface from /proc/net/if_inet6 (scope 00); link-local ones
    /// (scope 20) exist on every interface that is up and are left out.
    public static func ipv6Addresses(_ text: String) -> [String: [String]] {
        var addresses: [String: [String]] = [:]
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[3] == "00" else { continue }
            let hex = Array(fields[0])
            guard hex.count == 32 else { continue }
            let groups = stride(from: 0, to: 32, by: 4).map { String(hex[$0..<$0 + 4]) }
            let prefix = Int(fields[2], radix: 16) ?? 128
            addresses[String(fields[5]), default: []].append(groups.joined(separator: ":") + "/\(prefix)")
        }
        return addresses
    }

    /// "flags" of the first processor in /proc/cpuinfo.
    public static func cpuFlags(_ cpuinfo: String) -> Set<String> {
        for line in cpuinfo.split(separator: "\n") where line.hasPrefix("flags") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            return Set(line[line.index(after: colon)...].split(separator: " ").map(String.init))
        }
        return []
    }

    /// "6.1.0-56-amd64" → (6, 1)
    public static func kernelVersion(_ release: String) -> (major: Int, minor: Int)? {
        let parts = release.split(whereSeparator: { $0 == "." || $0 == "-" })
        guard parts.count >= 2, let major = Int(parts[0]), let minor = Int(parts[1]) else { return nil }
        return (major, minor)
    }

    /// mountinfo and swaps escape space, tab, newline and backslash as \040 etc.
    static func unescape(_ text: String) -> String {
        guard text.contains("\\") else { return text }
        var out = ""
        var characters = Array(text)
        var index = 0
        while index < characters.count {
            if characters[index] == "\\", index + 3 < characters.count,
               let code = UInt8(String(characters[index + 1...index + 3]), radix: 8) {
                out.append(Character(UnicodeScalar(code)))
                index += 4
            } else {
                out.append(characters[index])
                index += 1
            }
        }
        characters = []
        return out
    }

    /// ID= from /etc/os-release ("debian", "ubuntu", "rhel"), quotes removed.
    public static func osReleaseID(_ text: String) -> String? {
        for line in text.split(separator: "\n") where line.hasPrefix("ID=") {
            let value = line.dropFirst(3)
            return String(value.drop { $0 == "\"" || $0 == "'" }.reversed().drop { $0 == "\"" || $0 == "'" }.reversed())
        }
        return nil
    }
}
