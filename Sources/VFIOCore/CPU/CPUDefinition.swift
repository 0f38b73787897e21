/// A `<cpu>` element as libvirt reads it: a host CPU (it names its `<arch>`, as `virsh
/// capabilities` prints one; feature policies do not apply) or a guest CPU (a domain's
/// `<cpu>`: mode, match, and a policy per feature).
public struct CPUDefinition: Sendable, Equatable {
    public enum Kind: String, Sendable {
        case host
        case guest
    }

    public enum Mode: String, Sendable, CaseIterable {
        case custom
        case hostModel = "host-model"
        case hostPassthrough = "host-passthrough"
        case maximum
    }

    public enum Match: String, Sendable, CaseIterable {
        case minimum, exact, strict
    }

    public enum Policy: String, Sendable, CaseIterable {
        case force, require, optional, disable, forbid
    }

    public struct Feature: Sendable, Equatable {
        public var name: String
        /// nil on a host CPU (every listed feature is present).
        public var policy: Policy?

        public init(_ name: String, _ policy: Policy? = nil) {
            self.name = name
            self.policy = policy
        }
    }

    public var kind: Kind
    public var arch: String?
    public var mode: Mode
    public var match: Match?
    public var model: String?
    public var vendor: String?
    public var features: [Feature]
    /// Where it came from, for messages: "FILE" or "FILE (cpu 2, line 14)".
    public var source: String

    public init(kind: Kind, arch: String? = nil, mode: Mode = .custom, match: Match? = nil, model: String?,
                vendor: String? = nil, features: [Feature] = [], source: String = "") {
        self.kind = kind
        self.arch = arch
        self.mode = mode
        self.match = match
        self.model = model
        self.vendor = vendor
        self.features = features
        self.source = source
    }

    static let x86Arches: Set<String> = ["i686", "x86_64"]

    /// i686 or x86_64 (or no <arch>, on a guest CPU).
    public var isX86: Bool { arch.map(CPUDefinition.x86Arches.contains) ?? true }

    /// The top-level elements of `text` (which may hold several, after an optional XML
    /// declaration and comments). `what` names the expected content in errors.
    public static func topLevel(_ text: String, file: String, what: String) throws(VFIOError) -> [XMLElement] {
        var body = Substring(text)
        if body.hasPrefix("<?xml") {
            var index = body.startIndex
            while index < body.endIndex, !body[index...].hasPrefix("?>") { index = body.index(after: index) }
            if index < body.endIndex { body = body[body.index(index, offsetBy: 2)...] }
        }
        guard !body.allSatisfy({ $0.isWhitespace }) else {
            throw .usage("\(file) is empty", hint: "give a \(what)")
        }
        do throws(XMLParseError) {
            let elements = try XMLParser.parse("<container>" + body + "</container>").elements
            guard !elements.isEmpty else {
                throw XMLParseError(line: 1, message: "text without any element: not XML", hint: "give a \(what)")
            }
            return elements
        } catch {
            throw .usage("\(file): malformed XML at \(error)", hint: error.hint ?? "check it with 'xmllint --noout \(file)'")
        }
    }

    /// The `<cpu>` elements of one file, as virsh cpu-baseline and cpu-compare find them: the
    /// file may hold several top-level elements (after an optional XML declaration); each
    /// top-level `<cpu>`, a `<domain>`'s `<cpu>`, a capabilities document's host `<cpu>` and a
    /// domain capabilities document's usable host-model CPU counts, in document order. With
    /// `dumps`, a top-level `<cpudata>` (a CPUID dump) counts too, and is returned as it is.
    public static func elements(in text: String, file: String, dumps: Bool = false) throws(VFIOError) -> [XMLElement] {
        let what = dumps ? "file with <cpu> elements, 'virsh capabilities' output or a CPUID dump"
            : "file with <cpu> elements or 'virsh capabilities' output"
        let container = XMLElement("container", children: try topLevel(text, file: file, what: what).map { .element($0) })
        var found: [XMLElement] = []
        for element in container.elements {
            switch element.name {
            case "cpu": found.append(element)
            case "cpudata" where dumps: found.append(element)
            case "domain": found += element.elements("cpu")
            case "capabilities": found += element.elements("host").flatMap { $0.elements("cpu") }
            case "domainCapabilities":
                for cpu in element.elements("cpu") {
                    for mode in cpu.elements("mode") where mode.attribute("name") == "host-model" && mode.attribute("supported") == "yes" {
                        var renamed = mode
                        renamed.name = "cpu"
                        renamed.attributes = []
                        found.append(renamed)
                    }
                }
            default: continue
            }
        }
        guard !found.isEmpty else {
            throw .usage("\(file) holds no <cpu> element, domain, host capabilities or domain capabilities" + (dumps ? ", nor a CPUID dump (<cpudata>)" : ""),
                         hint: "give 'virsh capabilities' output, <cpu> elements such as 'vfioctl cpu host --format xml' prints"
                             + (dumps ? ", or a dump from 'vfioctl cpu dump'" : ""))
        }
        return found
    }

    /// Parses a `<cpu>`: `kind` nil decides as libvirt does (an `<arch>` makes it a host CPU).
    public static func parse(_ element: XMLElement, kind: Kind?, source: String) throws(VFIOError) -> CPUDefinition {
        func fail(_ message: String, hint: String? = nil) -> VFIOError { .usage("\(source): \(message)", hint: hint) }
        let kind = kind ?? (element.first("arch") != nil ? .host : .guest)
        var cpu = CPUDefinition(kind: kind, model: nil, source: source)
        if let arch = element.first("arch")?.text {
            guard !arch.isEmpty else { throw fail("<arch> is empty", hint: "x86 CPUs are i686 or x86_64") }
            cpu.arch = arch
        } else if kind == .host {
            throw fail("<cpu> has no <arch>",
                       hint: "a host CPU names its architecture, as 'virsh capabilities' and 'vfioctl cpu host --format xml' print it")
        }
        if let mode = element.attribute("mode") {
            guard kind == .guest else {
                throw fail("<cpu mode='\(mode.printable)'>: mode is only allowed on a guest CPU, and this one has an <arch>",
                           hint: "give the host CPU from 'virsh capabilities', or remove <arch> to compare a guest CPU")
            }
            guard let parsed = Mode(rawValue: mode) else {
                throw fail("unknown CPU mode '\(mode.printable)'", hint: "modes are " + Mode.allCases.map(\.rawValue).joined(separator: ", "))
            }
            cpu.mode = parsed
        }
        if kind == .guest {
            if let match = element.attribute("match") {
                guard let parsed = Match(rawValue: match) else {
                    throw fail("unknown CPU match '\(match.printable)'", hint: "match is minimum, exact or strict")
                }
                cpu.match = parsed
            } else if element.first("model") != nil {
                cpu.match = .exact
            }
        }
        if let model = element.first("model") {
            let name = model.text
            guard !name.isEmpty else { throw fail("<model> is empty", hint: "name a CPU model of libvirt's CPU map, e.g. <model>Haswell</model>") }
            cpu.model = name
        }
        if let vendor = element.first("vendor") {
            guard cpu.model != nil else {
                throw fail("<vendor> without a <model>", hint: "a CPU names its model too, e.g. <model>Haswell</model><vendor>Intel</vendor>")
            }
            guard !vendor.text.isEmpty else { throw fail("<vendor> is empty", hint: "libvirt's vendors are Intel, AMD and Hygon") }
            cpu.vendor = vendor.text
        }
        var seen = Set<String>()
        for feature in element.elements("feature") {
            guard let name = feature.attribute("name"), !name.isEmpty else {
                throw fail("line \(feature.line): <feature> without a name", hint: "write <feature name='vmx'/>")
            }
            guard seen.insert(name).inserted else {
                throw fail("CPU feature '\(name.printable)' is given more than once", hint: "list each feature once")
            }
            var policy: Policy?
            if kind == .guest {
                if let text = feature.attribute("policy") {
                    guard let parsed = Policy(rawValue: text) else {
                        throw fail("feature \(name.printable) has unknown policy '\(text.printable)'",
                                   hint: "policies are " + Policy.allCases.map(\.rawValue).joined(separator: ", "))
                    }
                    policy = parsed
                } else {
                    policy = .require
                }
            }
            cpu.features.append(Feature(name, policy))
        }
        if cpu.model == nil && (kind == .host || cpu.mode == .custom) {
            throw fail("<cpu> has no <model>", hint: "a CPU names a model of libvirt's CPU map, as 'virsh capabilities' prints it")
        }
        return cpu
    }

    /// Every CPU in `text` (see `elements(in:file:)`), parsed as `kind`. With `dumps`, a CPUID
    /// dump (`<cpudata>`) is a host CPU too: decoded as libvirt decodes its host's
    /// (`HostCPU.decode(dump:)`).
    public static func parseAll(_ text: String, file: String, kind: Kind?, dumps: CPUModels? = nil) throws(VFIOError) -> [CPUDefinition] {
        let elements = try elements(in: text, file: file, dumps: dumps != nil)
        var cpus: [CPUDefinition] = []
        for (position, element) in elements.enumerated() {
            if element.name == "cpudata", let models = dumps {
                let source = elements.count == 1 ? file : "\(file) (cpudata \(position + 1), line \(element.line))"
                let dump = try CPUIDDump.parse(element, source: source)
                var cpu = try HostCPU.decode(dump: dump, with: models, source: .dump(file: source)).definition
                cpu.source = source
                cpus.append(cpu)
                continue
            }
            let source = elements.count == 1 ? file : "\(file) (cpu \(position + 1), line \(element.line))"
            cpus.append(try parse(element, kind: kind, source: source))
        }
        return cpus
    }
}
