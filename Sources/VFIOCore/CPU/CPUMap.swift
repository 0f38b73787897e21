/// libvirt's x86 CPU map (/usr/share/libvirt/cpu_map: index.xml and the x86_*.xml files it
/// includes), read as libvirt's cpu_map.c and cpu_x86.c read it: vendors, features (each a
/// set of CPUID/MSR bits, some not migratable) and models (a vendor, signatures, features,
/// features marked removed, and whether libvirt may decode host or guest CPUs to them), all
/// in the order the map lists them — the order decides ties and feature lists.
public struct CPUMap: Sendable {
    public struct Vendor: Sendable, Equatable {
        public var name: String
        /// The CPUID vendor string ("GenuineIntel").
        public var string: String

        /// The string as CPUID leaf 0 returns it: ebx, edx, ecx, four bytes each, little-endian
        /// (libvirt's virCPUx86VendorToData).
        public var data: CPUData {
            let bytes = Array(string.utf8)
            guard bytes.count == 12 else { return CPUData() }
            func word(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << UInt32(8 * $1) } }
            var data = CPUData(.cpuid(0, 0, .ebx), word(0))
            data.add(CPUData(.cpuid(0, 0, .edx), word(4)))
            data.add(CPUData(.cpuid(0, 0, .ecx), word(8)))
            return data
        }
    }

    public struct Feature: Sendable, Equatable {
        public var name: String
        public var data: CPUData
        public var migratable: Bool
        /// The names Linux gives it where they differ (`<alias source='linux'>`: cqm for cmt).
        public var linuxAliases: [String]
    }

    /// A family/model pair, and the steppings it covers (nil: all).
    public struct Signature: Sendable, Equatable {
        public var family: Int
        public var model: Int
        public var steppings: Set<Int>?

        public func matches(family: Int, model: Int, stepping: Int) -> Bool {
            self.family == family && self.model == model && (steppings?.contains(stepping) ?? true)
        }
    }

    public struct Model: Sendable, Equatable {
        public var name: String
        public var vendor: String?
        public var signatures: [Signature]
        public var data: CPUData
        /// Features the model lost in a later libvirt (`removed='yes'`): a guest CPU decoded to
        /// this model lists them as disabled.
        public var removedFeatures: [String]
        public var decodeHost: Bool
        public var decodeGuest: Bool
    }

    public private(set) var vendors: [Vendor] = []
    public private(set) var features: [Feature] = []
    public private(set) var models: [Model] = []
    private var featureIndex: [String: Int] = [:]
    private var modelIndex: [String: Int] = [:]
    /// When every feature is one bit of its own (libvirt's maps are so): for each register,
    /// the feature that owns each bit (-1: none). Naming features is then a walk over the set
    /// bits instead of over every feature. nil otherwise.
    private var bitOwners: [UInt64: [Int]]?
    private var featureNameList: [String] = []

    public init() {}

    public func feature(_ name: String) -> Feature? { featureIndex[name].map { features[$0] } }
    public func model(_ name: String) -> Model? { modelIndex[name].map { models[$0] } }
    public func vendor(_ name: String) -> Vendor? { vendors.first { $0.name == name } }
    public func vendor(string: String) -> Vendor? { vendors.first { $0.string == string } }

    /// The names of the features whose bits `data` holds, in map order; each feature's bits
    /// are taken out before the next is tried (libvirt's x86DataToCPUFeatures).
    public func featureNames(in data: CPUData) -> [String] {
        guard let bitOwners else { return featureNamesOneByOne(in: data) }
        var found: [Int] = []
        data.forEachRegister { key, bits in
            guard let owners = bitOwners[key] else { return }
            var left = bits
            while left != 0 {
                let owner = owners[left.trailingZeroBitCount]
                if owner >= 0 { found.append(owner) }
                left &= left - 1
            }
        }
        return found.sorted().map { featureNameList[$0] }
    }

    /// libvirt's loop as it is, for maps where features share bits or span several.
    func featureNamesOneByOne(in data: CPUData) -> [String] {
        var left = data
        var names: [String] = []
        for feature in features where left.contains(feature.data) {
            left.subtract(feature.data)
            names.append(feature.name)
        }
        return names
    }

    /// Reads the x86 part of the map. `index` is index.xml; `load` returns the text of an
    /// included file (its name as index.xml gives it). `where` names the directory in errors.
    public static func parse(index: String, where directory: String,
                             load: (String) throws(VFIOError) -> String) throws(VFIOError) -> CPUMap {
        let root = try document(index, file: directory + "/index.xml")
        guard let arch = root.elements("arch").first(where: { $0.attribute("name") == "x86" }) else {
            throw .failed("\(directory)/index.xml has no <arch name='x86'>",
                          hint: "reinstall libvirt's CPU map (Debian: apt-get install --reinstall libvirt0)")
        }
        var map = CPUMap()
        try map.load(arch, file: directory + "/index.xml")
        for include in arch.elements("include") {
            guard let name = include.attribute("filename"), !name.isEmpty, !name.contains("/") else {
                throw .failed("\(directory)/index.xml line \(include.line): <include> without a plain filename")
            }
            let text = try load(name)
            try map.load(try document(text, file: directory + "/" + name), file: directory + "/" + name)
        }
        map.indexBits()
        guard !map.models.isEmpty else {
            throw .failed("libvirt's CPU map in \(directory) has no x86 CPU models",
                          hint: "reinstall libvirt's CPU map (Debian: apt-get install --reinstall libvirt0)")
        }
        return map
    }

    /// Builds `bitOwners` when every feature is a single bit no other feature has.
    mutating func indexBits() {
        featureNameList = features.map(\.name)
        var owners: [UInt64: [Int]] = [:]
        for (index, feature) in features.enumerated() {
            var registers: [(UInt64, UInt32)] = []
            feature.data.forEachRegister { registers.append(($0, $1)) }
            guard registers.count == 1, registers[0].1.nonzeroBitCount == 1 else { return bitOwners = nil }
            let (key, bit) = (registers[0].0, registers[0].1.trailingZeroBitCount)
            var table = owners[key] ?? [Int](repeating: -1, count: 32)
            guard table[bit] < 0 else { return bitOwners = nil }
            table[bit] = index
            owners[key] = table
        }
        bitOwners = owners
    }

    /// Whether feature names come from the per-bit index (tests check both ways agree).
    var indexesBits: Bool { bitOwners != nil }

    static func document(_ text: String, file: String) throws(VFIOError) -> XMLElement {
        do {
            return try XMLParser.parse(text)
        } catch {
            throw .failed("\(file): malformed XML at \(error)", hint: "reinstall libvirt's CPU map (Debian: apt-get install --reinstall libvirt0)")
        }
    }

    /// One file (or index.xml's arch element): vendors, then features, then models, as
    /// libvirt's cpuMapLoad takes them.
    mutating func load(_ element: XMLElement, file: String) throws(VFIOError) {
        func fail(_ node: XMLElement, _ message: String) -> VFIOError {
            .failed("\(file) line \(node.line): \(message)", hint: "reinstall libvirt's CPU map (Debian: apt-get install --reinstall libvirt0)")
        }
        for node in element.elements("vendor") {
            guard let name = node.attribute("name") else { throw fail(node, "<vendor> without a name") }
            guard let string = node.attribute("string"), string.utf8.count == 12 else {
                throw fail(node, "vendor \(name) has no 12-character vendor string")
            }
            guard vendor(name) == nil else { throw fail(node, "CPU vendor \(name) already defined") }
            vendors.append(Vendor(name: name, string: string))
        }
        for node in element.elements("feature") {
            guard let name = node.attribute("name") else { throw fail(node, "<feature> without a name") }
            guard featureIndex[name] == nil else { throw fail(node, "CPU feature \(name) already defined") }
            var data = CPUData()
            let items = node.elements.filter { $0.name != "alias" }
            guard !items.isEmpty else { throw fail(node, "feature \(name) has no CPUID or MSR data") }
            for item in items {
                guard let bits = CPUMap.data(item) else { throw fail(node, "feature \(name) has invalid <\(item.name)> data") }
                data.add(bits)
            }
            featureIndex[name] = features.count
            let aliases = node.elements("alias").filter { $0.attribute("source") == "linux" }.compactMap { $0.attribute("name") }
            features.append(Feature(name: name, data: data, migratable: node.attribute("migratable") != "no", linuxAliases: aliases))
        }
        for node in element.elements("model") {
            guard let name = node.attribute("name") else { throw fail(node, "<model> without a name") }
            guard modelIndex[name] == nil else { throw fail(node, "multiple definitions of CPU model '\(name)'") }
            guard let decode = node.first("decode"), let host = CPUMap.onOff(decode.attribute("host")),
                  let guest = CPUMap.onOff(decode.attribute("guest")) else {
                throw fail(node, "CPU model \(name) lacks <decode host='on|off' guest='on|off'/>")
            }
            var model = Model(name: name, vendor: nil, signatures: [], data: CPUData(), removedFeatures: [],
                              decodeHost: host, decodeGuest: guest)
            if let ancestor = node.first("model") {
                guard let ancestorName = ancestor.attribute("name"), let parent = self.model(ancestorName) else {
                    throw fail(node, "ancestor model \(ancestor.attribute("name") ?? "") not found for CPU model \(name)")
                }
                model.vendor = parent.vendor
                model.signatures = parent.signatures
                model.data = parent.data
            }
            let signatures = node.elements("signature")
            if !signatures.isEmpty {
                model.signatures = []
                for signature in signatures {
                    guard let family = signature.attribute("family").flatMap(CPUMap.number), family > 0,
                          let number = signature.attribute("model").flatMap(CPUMap.number) else {
                        throw fail(signature, "invalid CPU signature in model \(name)")
                    }
                    var steppings: Set<Int>?
                    if let text = signature.attribute("stepping") {
                        guard let parsed = CPUMap.bitmap(text, size: 16) else { throw fail(signature, "invalid stepping '\(text)' in model \(name)") }
                        steppings = parsed
                    }
                    model.signatures.append(Signature(family: Int(family), model: Int(number), steppings: steppings))
                }
            }
            if let vendorNode = node.first("vendor") {
                guard let vendorName = vendorNode.attribute("name"), vendor(vendorName) != nil else {
                    throw fail(vendorNode, "unknown vendor \(vendorNode.attribute("name") ?? "") referenced by CPU model \(name)")
                }
                model.vendor = vendorName
            }
            for featureNode in node.elements("feature") {
                guard let featureName = featureNode.attribute("name") else { throw fail(featureNode, "feature without a name in CPU model \(name)") }
                guard let feature = self.feature(featureName) else {
                    throw fail(featureNode, "feature \(featureName) required by CPU model \(name) not found")
                }
                if featureNode.attribute("removed") == "yes" {
                    model.removedFeatures.append(featureName)
                } else {
                    model.data.add(feature.data)
                }
            }
            modelIndex[name] = models.count
            models.append(model)
        }
    }

    static func onOff(_ value: String?) -> Bool? {
        switch value {
        case "on": true
        case "off": false
        default: nil
        }
    }

    /// `<cpuid eax_in='0x07' ecx_in='0x00' ebx='0x00000001'/>` or `<msr index='0x10a' edx='0' eax='0x1'/>`.
    static func data(_ item: XMLElement) -> CPUData? {
        var data = CPUData()
        switch item.name {
        case "cpuid":
            guard let leaf = item.attribute("eax_in").flatMap(number) else { return nil }
            guard let subleaf = item.attribute("ecx_in").map(number) ?? 0, subleaf < 1 << 29 else { return nil }
            for name in CPURegister.Name.allCases {
                guard let bits = item.attribute(name.text).map(number) ?? 0 else { return nil }
                data.add(CPUData(.cpuid(leaf, subleaf, name), bits))
            }
        case "msr":
            guard let index = item.attribute("index").flatMap(number), let eax = item.attribute("eax").flatMap(number),
                  let edx = item.attribute("edx").flatMap(number) else { return nil }
            data.add(CPUData(.msr(index, .eax), eax))
            data.add(CPUData(.msr(index, .edx), edx))
        default:
            return nil
        }
        return data
    }

    /// An unsigned 32-bit number as libvirt reads one (strtoul, base 0): 0x… hex, 0… octal, decimal.
    public static func number(_ text: String) -> UInt32? {
        if text.hasPrefix("0x") || text.hasPrefix("0X") { return UInt32(text.dropFirst(2), radix: 16) }
        if text.count > 1 && text.hasPrefix("0") { return UInt32(text.dropFirst(), radix: 8) }
        return UInt32(text)
    }

    /// A libvirt bitmap ("5-7", "0,2-3", "^1"): the set bits, or nil when malformed.
    static func bitmap(_ text: String, size: Int) -> Set<Int>? {
        var set = Set<Int>()
        var negated = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let part = part.trimmingWhitespace()
            let negate = part.hasPrefix("^")
            let body = negate ? String(part.dropFirst()) : part
            let bounds = body.split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count == 1 || bounds.count == 2, let low = Int(bounds[0]), let high = Int(bounds[bounds.count - 1]),
                  low >= 0, low <= high, high < size, !(negate && bounds.count == 2) else { return nil }
            if negate { negated.insert(low) } else { set.formUnion(low...high) }
        }
        return set.subtracting(negated)
    }
}
