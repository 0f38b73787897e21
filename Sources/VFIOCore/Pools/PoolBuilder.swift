/// A pool file's contents as its reader found them, before they mean anything: what the TOML and
/// YAML readers produce and `PoolSpec.build` checks. Keys keep the reader's order.
public indirect enum PoolValue: Sendable, Equatable {
    case table([Entry])
    case array([PoolValue])
    case string(String)
    case integer(Int)
    case bool(Bool)
    case float(Double)

    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: PoolValue
        /// The key's line (from 1), when the reader knows it.
        public var line: Int?

        public init(_ key: String, _ value: PoolValue, line: Int? = nil) {
            (self.key, self.value, self.line) = (key, value, line)
        }
    }

    /// "a string", "an integer" ...: what messages call it.
    var kind: String {
        switch self {
        case .table: "a table"
        case .array: "a list"
        case .string: "a string"
        case .integer: "an integer"
        case .bool: "a boolean"
        case .float: "a floating-point number"
        }
    }
}

extension PoolSpec {
    /// The keys every VF setting may have, in a PF entry and in a `vf` range.
    public static let settingKeys = ["driver", "mac", "vlan", "qos", "proto", "spoofchk", "trust", "state", "min_tx_rate", "max_tx_rate"]
    public static let pfKeys = ["device", "vfs", "network", "vf"] + settingKeys
    public static let rangeKeys = ["index"] + settingKeys

    /// Checks a pool file's tree and gives it meaning. Every refusal is a usage error naming
    /// `file`, the key path (`pf[0].vf[1].vlan`), the line when known, and the value, with a hint.
    public static func build(_ root: PoolValue, file: String) throws(VFIOError) -> PoolSpec {
        var builder = PoolBuilder(file: file)
        return try builder.spec(root)
    }
}

/// Walks the tree once, remembering what must be unique across the file (PFs, MACs).
struct PoolBuilder {
    let file: String
    /// Explicit MACs and PFs seen so far, with the key path that gave them.
    var macs: [String: String] = [:]
    var pfs: [PFName: String] = [:]

    init(file: String) { self.file = file }

    /// A value with where it is.
    struct Node {
        var value: PoolValue
        var path: String
        var line: Int?
    }

    struct Table {
        var entries: [PoolValue.Entry]
        var path: String
        var line: Int?

        func keyPath(_ key: String) -> String { path.isEmpty ? key : path + "." + key }

        subscript(_ key: String) -> Node? {
            entries.first { $0.key == key }.map { Node(value: $0.value, path: keyPath($0.key), line: $0.line ?? line) }
        }
    }

    // MARK: errors

    func fail(_ path: String, _ line: Int?, _ message: String, hint: String?) -> VFIOError {
        .usage(file + (line.map { ":\($0)" } ?? "") + ": " + (path.isEmpty ? "" : path + ": ") + message, hint: hint)
    }

    func fail(_ node: Node, _ message: String, hint: String?) -> VFIOError { fail(node.path, node.line, message, hint: hint) }

    /// An error from a value parser (`MACAddress.parse` ...), placed at `node`.
    func placed<T>(_ node: Node, _ body: () throws(VFIOError) -> T) throws(VFIOError) -> T {
        do {
            return try body()
        } catch {
            throw fail(node, error.message, hint: error.hint)
        }
    }

    func wrongType(_ node: Node, expected: String, hint: String) -> VFIOError {
        switch node.value {
        case .table, .array: fail(node, "is \(node.value.kind), not \(expected)", hint: hint)
        case .string(let text): fail(node, "'\(text.printable)' is a string, not \(expected)", hint: hint)
        case .integer(let value): fail(node, "\(value) is an integer, not \(expected)", hint: hint)
        case .bool(let value): fail(node, "\(value) is a boolean, not \(expected)", hint: hint)
        case .float(let value): fail(node, "\(value) is a floating-point number, not \(expected)", hint: hint)
        }
    }

    // MARK: typed values

    func string(_ node: Node, hint: String = "quote the value") throws(VFIOError) -> String {
        guard case .string(let text) = node.value else { throw wrongType(node, expected: "a string", hint: hint) }
        return text
    }

    func integer(_ node: Node) throws(VFIOError) -> Int {
        guard case .integer(let value) = node.value else {
            throw wrongType(node, expected: "an integer", hint: "write a whole number without quotes")
        }
        return value
    }

    func bool(_ node: Node) throws(VFIOError) -> Bool {
        guard case .bool(let value) = node.value else { throw wrongType(node, expected: "true or false", hint: "write true or false without quotes") }
        return value
    }

    func table(_ node: Node, hint: String) throws(VFIOError) -> Table {
        guard case .table(let entries) = node.value else { throw wrongType(node, expected: "a table of keys", hint: hint) }
        return Table(entries: entries, path: node.path, line: entries.first?.line ?? node.line)
    }

    func array(_ node: Node, hint: String) throws(VFIOError) -> [Node] {
        guard case .array(let values) = node.value else { throw wrongType(node, expected: "a list", hint: hint) }
        return values.enumerated().map { index, value in
            var line = node.line
            if case .table(let entries) = value, let first = entries.first?.line { line = first }
            return Node(value: value, path: "\(node.path)[\(index)]", line: line)
        }
    }

    /// Unknown keys (with the nearest known one) and keys given twice.
    func checkKeys(_ table: Table, known: [String]) throws(VFIOError) {
        var seen: Set<String> = []
        for entry in table.entries {
            let path = table.keyPath(entry.key)
            guard known.contains(entry.key) else {
                let near = PoolBuilder.nearest(entry.key, in: known)
                throw fail(path, entry.line ?? table.line, "unknown key '\(entry.key.printable)'",
                           hint: (near.map { "did you mean '\($0)'? " } ?? "") + "keys here: " + known.joined(separator: ", "))
            }
            guard seen.insert(entry.key).inserted else {
                throw fail(path, entry.line ?? table.line, "'\(entry.key)' is given twice", hint: "keep one of them")
            }
        }
    }

    /// The known key closest to `key` by edit distance, when it is close enough to be a typo.
    static func nearest(_ key: String, in known: [String]) -> String? {
        let lowered = key.lowercased()
        let scored = known.map { ($0, distance(Array(lowered.unicodeScalars), Array($0.unicodeScalars))) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, best.0.count / 3) else { return nil }
        return best.0
    }

    /// Levenshtein distance.
    static func distance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() {
                current.append(Swift.min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }

    // MARK: the file

    mutating func spec(_ root: PoolValue) throws(VFIOError) -> PoolSpec {
        let top = try table(Node(value: root, path: "", line: nil),
                            hint: "a pool file is keys: pf entries (device, vfs ...) and a detach table; see docs/pools.md")
        try checkKeys(top, known: ["pf", "detach"])
        var spec = PoolSpec()
        if let node = top["pf"] {
            for element in try array(node, hint: "each PF is one entry of a list: [[pf]] in TOML, '- device: ...' under 'pf:' in YAML") {
                spec.pfs.append(try pool(element))
            }
        }
        if let node = top["detach"] {
            let detach = try table(node, hint: "detach holds devices = [ADDRESS, ...] and groups = [N, ...]")
            try checkKeys(detach, known: ["devices", "groups"])
            if let devices = detach["devices"] {
                for element in try array(devices, hint: "list PCI addresses: devices = [\"0000:03:00.0\"]") {
                    let text = try string(element)
                    let address = try placed(element) { () throws(VFIOError) in try PCIAddress.parse(text) }
                    guard !spec.detach.contains(address) else {
                        throw fail(element, "\(address) is listed twice", hint: "list each device once (it stands for its whole IOMMU group)")
                    }
                    spec.detach.append(address)
                }
            }
            if let groups = detach["groups"] {
                for element in try array(groups, hint: "list IOMMU group numbers: groups = [14]") {
                    let id = try integer(element)
                    guard (0...Int(Int32.max)).contains(id) else {
                        throw fail(element, "\(id) is not an IOMMU group number", hint: "groups are numbered from 0; 'vfioctl groups' lists them")
                    }
                    guard !spec.detachGroups.contains(id) else { throw fail(element, "group \(id) is listed twice", hint: "list each group once") }
                    spec.detachGroups.append(id)
                }
            }
        }
        guard !spec.pfs.isEmpty || !spec.detach.isEmpty || !spec.detachGroups.isEmpty else {
            throw fail("", nil, "asks for nothing: no pf entry and no device or group to detach",
                       hint: "add a pf entry with device and vfs, or a detach table; docs/pools.md has examples")
        }
        return spec
    }

    mutating func pool(_ node: Node) throws(VFIOError) -> PFPool {
        let entry = try table(node, hint: "a pf entry is a table: device = ..., vfs = N ...")
        try checkKeys(entry, known: PoolSpec.pfKeys)
        guard let deviceNode = entry["device"] else {
            throw fail(entry.path, entry.line, "no device: which PF this entry is for",
                       hint: "name the PF by its interface (device = \"enp1s0f0\") or PCI address (\"0000:01:00.0\")")
        }
        let text = try string(deviceNode, hint: "quote the PF's interface name or PCI address")
        let pf = try placed(deviceNode) { () throws(VFIOError) in try PFName.parse(text) }
        if let other = pfs[pf] {
            throw fail(deviceNode, "\(pf) already has an entry (\(other))", hint: "one entry per PF: merge the two")
        }
        pfs[pf] = entry.path
        guard let vfsNode = entry["vfs"] else {
            throw fail(entry.path, entry.line, "no vfs: how many VFs \(pf) should have", hint: "give vfs = N (0 removes its VFs)")
        }
        let count = try integer(vfsNode)
        guard (0...65535).contains(count) else {
            throw fail(vfsNode, "\(count) is not a VF count from 0 to 65535",
                       hint: "ask for at most the PF's sriov_totalvfs ('vfioctl sriov status' shows it); 0 removes the VFs")
        }
        if count == 0, let extra = entry.entries.first(where: { $0.key != "device" && $0.key != "vfs" }) {
            throw fail(entry.keyPath(extra.key), extra.line ?? entry.line, "vfs = 0 removes the VFs of \(pf): '\(extra.key)' has no VF to apply to",
                       hint: "drop the VF settings, or ask for VFs with vfs = N")
        }
        var defaults = try settings(entry, macFor: nil, scope: "every VF of \(pf)")
        if defaults.driver == nil && count > 0 { defaults.driver = .vfio(.best) }
        var network: String?
        if let networkNode = entry["network"] {
            let name = try string(networkNode)
            try placed(networkNode) { () throws(VFIOError) in try LibvirtXML.validateName(name, what: "network") }
            network = name
        }
        var ranges: [VFRange] = []
        var rangePaths: [String] = []
        if let vfNode = entry["vf"] {
            for element in try array(vfNode, hint: "each range is one entry of a list: [[pf.vf]] in TOML, '- index: ...' under 'vf:' in YAML") {
                ranges.append(try range(element, count: count, pf: pf))
                rangePaths.append(element.path)
            }
        }
        let pool = PFPool(pf: pf, count: count, network: network, defaults: defaults, ranges: ranges,
                          location: "\(file): \(entry.path) (\(pf))")
        try checkRates(pool, path: entry.path, rangePaths: rangePaths)
        return pool
    }

    mutating func range(_ node: Node, count: Int, pf: PFName) throws(VFIOError) -> VFRange {
        let entry = try table(node, hint: "a vf range is a table: index = ..., then settings")
        try checkKeys(entry, known: PoolSpec.rangeKeys)
        guard let indexNode = entry["index"] else {
            throw fail(entry.path, entry.line, "no index: which VFs these settings are for", hint: "give index = 5, or index = \"4-7\" for a range")
        }
        let (first, last) = try indexRange(indexNode)
        guard last < count else {
            throw fail(indexNode, "VF \(last) is beyond the \(count) VFs of \(pf) (numbered 0-\(count - 1))",
                       hint: "VFs are numbered from 0 to vfs - 1: raise vfs or lower the index")
        }
        let settings = try settings(entry, macFor: first == last ? first : nil, scope: "VFs \(first)-\(last)")
        guard !settings.isEmpty else {
            throw fail(entry.path, entry.line, "sets nothing for VF\(first == last ? " \(first)" : "s \(first)-\(last)")",
                       hint: "give a setting (driver, mac, vlan, spoofchk, trust, state, min_tx_rate, max_tx_rate) or drop the entry")
        }
        return VFRange(first: first, last: last, settings: settings,
                       location: "\(file): \(entry.path) (VF\(first == last ? " \(first)" : "s \(first)-\(last)"))")
    }

    /// 5, "5" or "4-7".
    func indexRange(_ node: Node) throws(VFIOError) -> (Int, Int) {
        let hint = "write 5, \"5\" or \"4-7\" (VFs are numbered from 0)"
        switch node.value {
        case .integer(let index):
            guard index >= 0 else { throw fail(node, "\(index) is not a VF index", hint: hint) }
            return (index, index)
        case .string(let text):
            let parts = text.split(separator: "-", omittingEmptySubsequences: false).map { $0.trimmingSpaces() }
            let numbers = parts.map { $0.allSatisfy(\.isASCIIDigit) && !$0.isEmpty && $0.count < 10 ? Int($0) : nil }
            guard (1...2).contains(parts.count), let first = numbers.first ?? nil, let last = numbers.last ?? nil else {
                throw fail(node, "'\(text.printable)' is not a VF index or range", hint: hint)
            }
            guard first <= last else {
                throw fail(node, "'\(text.printable)' runs backwards", hint: "write the lower index first: \"\(last)-\(first)\"")
            }
            return (first, last)
        default:
            throw wrongType(node, expected: "a VF index or range", hint: hint)
        }
    }

    /// The settings keys of a PF entry or a range. `macFor` is the one VF a range is for; nil
    /// (a PF entry, or a range of several: `scope` says which) allows only mac = "auto".
    mutating func settings(_ entry: Table, macFor single: Int?, scope: String) throws(VFIOError) -> VFSettings {
        var out = VFSettings()
        if let node = entry["driver"] {
            let word = try string(node)
            guard let driver = SRIOVPlanner.VFDriver(word: word) else {
                throw fail(node, "'\(word.printable)' is not a VF driver",
                           hint: "write " + SRIOVPlanner.VFDriver.words + "; vfio is the default")
            }
            out.driver = driver
        }
        if let node = entry["mac"] {
            let text = try string(node, hint: "quote it: \"auto\" or \"52:54:00:12:34:56\"")
            if text.lowercased() == "auto" {
                out.mac = .auto
            } else {
                let mac = try placed(node) { () throws(VFIOError) in try MACAddress.parse(text) }
                guard single != nil else {
                    throw fail(node, "\(mac) would go to \(scope): a MAC address is for one VF",
                               hint: "give it in a vf entry with a single index (index = 0), or write mac = \"auto\"")
                }
                if let other = macs[mac.description] {
                    throw fail(node, "\(mac) is given twice (also at \(other))", hint: "every VF needs a MAC of its own")
                }
                macs[mac.description] = node.path
                out.mac = .address(mac)
            }
        }
        if let node = entry["vlan"] {
            switch node.value {
            case .string(let text) where text.lowercased() == "none":
                out.vlan = VLANSetting.none
            case .integer(let id):
                guard (1...4094).contains(id) else {
                    throw fail(node, "\(id) is not a VLAN id from 1 to 4094",
                               hint: id == 0 ? "write vlan = \"none\" to clear the VF's VLAN" : "VLAN ids are 1-4094 (4095 is reserved); \"none\" clears")
                }
                out.vlan = .tag(id: id, qos: 0, proto: .dot1Q)
            default:
                throw wrongType(node, expected: "a VLAN id from 1 to 4094 or \"none\"", hint: "write vlan = 100 (no quotes), or vlan = \"none\" to clear it")
            }
        }
        let qosNode = entry["qos"]
        let protoNode = entry["proto"]
        if let node = qosNode ?? protoNode {
            guard case .tag(let id, _, _)? = out.vlan else {
                let key = qosNode != nil ? "qos" : "proto"
                throw fail(node, "\(key) without a VLAN tag" + (out.vlan == VLANSetting.none ? " (vlan is \"none\")" : " in this table"),
                           hint: "give vlan = ID (1-4094) beside it: \(key) belongs to the tag of the same table")
            }
            var qos = 0
            var proto = VLANProtocol.dot1Q
            if let qosNode {
                qos = try integer(qosNode)
                guard (0...7).contains(qos) else { throw fail(qosNode, "\(qos) is not a priority from 0 to 7", hint: "802.1p priorities are 0-7") }
            }
            if let protoNode {
                let text = try string(protoNode)
                proto = try placed(protoNode) { () throws(VFIOError) in try VLANProtocol.parse(text) }
            }
            out.vlan = .tag(id: id, qos: qos, proto: proto)
        }
        if let node = entry["spoofchk"] { out.spoofchk = try bool(node) }
        if let node = entry["trust"] { out.trust = try bool(node) }
        if let node = entry["state"] {
            let text = try string(node)
            out.state = try placed(node) { () throws(VFIOError) in try VFLinkState.parse(text) }
        }
        for key in ["min_tx_rate", "max_tx_rate"] {
            guard let node = entry[key] else { continue }
            let rate = try integer(node)
            guard (0...Int(UInt32.max)).contains(rate) else {
                throw fail(node, "\(rate) is not a rate from 0 to \(UInt32.max) Mbit/s", hint: "rates are Mbit/s; 0 is no limit")
            }
            if key == "min_tx_rate" { out.minTxRate = rate } else { out.maxTxRate = rate }
        }
        if let min = out.minTxRate, let max = out.maxTxRate, max != 0, min > max, let node = entry["min_tx_rate"] {
            throw fail(node, "min_tx_rate \(min) is above max_tx_rate \(max)", hint: "give a maximum of at least the minimum, or 0 for no maximum")
        }
        return out
    }

    /// Rates as each VF ends up with them, a range's over the PF's: the minimum may not pass the maximum.
    func checkRates(_ pool: PFPool, path: String, rangePaths: [String]) throws(VFIOError) {
        guard pool.ranges.contains(where: { $0.settings.minTxRate != nil || $0.settings.maxTxRate != nil }) else { return }
        for index in 0..<pool.count {
            let settings = pool.settings(forVF: index)
            guard let min = settings.minTxRate, let max = settings.maxTxRate, max != 0, min > max else { continue }
            var minFrom = path
            var maxFrom = path
            for (range, rangePath) in zip(pool.ranges, rangePaths) where range.contains(index) {
                if range.settings.minTxRate != nil { minFrom = rangePath }
                if range.settings.maxTxRate != nil { maxFrom = rangePath }
            }
            throw fail(path, nil, "VF \(index) would get min_tx_rate \(min) (from \(minFrom)) above max_tx_rate \(max) (from \(maxFrom))",
                       hint: "give that VF a maximum of at least its minimum, or 0 for no maximum")
        }
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> Substring {
        var out = self
        while out.first == " " { out = out.dropFirst() }
        while out.last == " " { out = out.dropLast() }
        return out
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
