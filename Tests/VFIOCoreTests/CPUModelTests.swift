import Foundation
import Testing
@testable import VFIOCore

/// A small CPU map in libvirt's format, to pin each rule of the x86 algorithms on its own.
/// (The real map and `virsh cpu-baseline` judge the whole in VFIOCommandsTests/CPUCommandTests.)
enum TinyMap {
    static let files: [String: String] = [
        "index.xml": """
            <cpus>
              <arch name='x86'>
                <include filename='x86_vendors.xml'/>
                <include filename='x86_features.xml'/>
                <include filename='x86_models.xml'/>
              </arch>
              <arch name='ppc64'>
                <include filename='ppc64_vendors.xml'/>
              </arch>
            </cpus>
            """,
        "x86_vendors.xml": """
            <cpus>
              <vendor name='Intel' string='GenuineIntel'/>
              <vendor name='AMD' string='AuthenticAMD'/>
            </cpus>
            """,
        "x86_features.xml": """
            <cpus>
              <feature name='fa'><cpuid eax_in='0x01' edx='0x00000001'/></feature>
              <feature name='fb'><cpuid eax_in='0x01' edx='0x00000002'/></feature>
              <feature name='fc'><cpuid eax_in='0x01' edx='0x00000004'/></feature>
              <feature name='fd'><cpuid eax_in='0x01' edx='0x00000008'/></feature>
              <feature name='fe'><cpuid eax_in='0x01' ecx='0x00000001'/></feature>
              <feature name='hle'><cpuid eax_in='0x07' ecx_in='0x00' ebx='0x00000010'/></feature>
              <feature name='rtm'><cpuid eax_in='0x07' ecx_in='0x00' ebx='0x00000800'/></feature>
              <feature name='nomig' migratable='no'><cpuid eax_in='0x80000007' edx='0x00000100'/></feature>
              <feature name='msrbit'><msr index='0x10a' edx='0x00000000' eax='0x00000001'/></feature>
              <feature name='cmt'><alias name='cqm' source='linux'/><cpuid eax_in='0x07' ecx_in='0x00' ebx='0x00001000'/></feature>
            </cpus>
            """,
        "x86_models.xml": """
            <cpus>
              <model name='base'>
                <decode host='on' guest='on'/>
                <feature name='fa'/>
                <feature name='fb'/>
              </model>
              <model name='intel1'>
                <decode host='on' guest='on'/>
                <signature family='6' model='10' stepping='0-3,5'/>
                <vendor name='Intel'/>
                <feature name='fa'/>
                <feature name='fb'/>
                <feature name='fc'/>
              </model>
              <model name='intel1-removed'>
                <decode host='on' guest='on'/>
                <model name='intel1'/>
                <feature name='fe' removed='yes'/>
              </model>
              <model name='intel2'>
                <decode host='on' guest='on'/>
                <vendor name='Intel'/>
                <feature name='fa'/>
                <feature name='fb'/>
                <feature name='fc'/>
                <feature name='fd'/>
              </model>
              <model name='guestonly'>
                <decode host='off' guest='on'/>
                <feature name='fa'/>
                <feature name='fb'/>
                <feature name='fc'/>
                <feature name='fd'/>
                <feature name='fe'/>
              </model>
              <model name='amd1'>
                <decode host='on' guest='on'/>
                <vendor name='AMD'/>
                <feature name='fa'/>
                <feature name='fb'/>
                <feature name='fe'/>
              </model>
              <model name='hidden'>
                <decode host='off' guest='off'/>
                <feature name='fa'/>
              </model>
              <model name='lonely'>
                <decode host='off' guest='off'/>
                <feature name='msrbit'/>
              </model>
            </cpus>
            """,
        "ppc64_vendors.xml": "<cpus><vendor name='IBM'/></cpus>",
    ]

    static func map(_ files: [String: String] = files) throws -> CPUMap {
        try CPUMap.parse(index: files["index.xml"] ?? "", where: "/tiny") { name throws(VFIOError) in
            guard let text = files[name] else { throw VFIOError.failed("no \(name)") }
            return text
        }
    }

    static func models() throws -> CPUModels { CPUModels(map: try map()) }

    static func data(_ map: CPUMap, _ names: [String]) -> CPUData {
        var data = CPUData()
        for name in names { if let feature = map.feature(name) { data.add(feature.data) } }
        return data
    }

    static func host(_ model: String, _ features: [String] = [], vendor: String? = nil, source: String = "test") -> CPUDefinition {
        CPUDefinition(kind: .host, arch: "x86_64", model: model, vendor: vendor, features: features.map { CPUDefinition.Feature($0) },
                      source: source)
    }
}

@Suite("CPU map and models (pure)")
struct CPUModelTests {
    @Test("the map keeps libvirt's order, inherits from an ancestor, and reads removed, migratable, signatures and aliases")
    func mapParse() throws {
        let map = try TinyMap.map()
        #expect(map.vendors.map(\.name) == ["Intel", "AMD"])
        #expect(map.features.map(\.name) == ["fa", "fb", "fc", "fd", "fe", "hle", "rtm", "nomig", "msrbit", "cmt"])
        #expect(map.models.map(\.name) == ["base", "intel1", "intel1-removed", "intel2", "guestonly", "amd1", "hidden", "lonely"])
        let child = try #require(map.model("intel1-removed"))
        #expect(child.vendor == "Intel" && child.data == map.model("intel1")?.data && child.removedFeatures == ["fe"])
        #expect(child.signatures == [CPUMap.Signature(family: 6, model: 10, steppings: [0, 1, 2, 3, 5])])
        #expect(map.feature("nomig")?.migratable == false && map.feature("fa")?.migratable == true)
        #expect(map.feature("cmt")?.linuxAliases == ["cqm"])
        #expect(map.feature("msrbit")?.data == CPUData(.msr(0x10a, .eax), 1))
        #expect(map.model("guestonly")?.decodeHost == false && map.model("guestonly")?.decodeGuest == true)
        #expect(map.featureNames(in: TinyMap.data(map, ["fe", "fa", "msrbit"])) == ["fa", "fe", "msrbit"])
    }

    @Test("naming features bit by bit (libvirt's maps: one bit each) agrees with libvirt's feature-by-feature loop")
    func featureNamesIndexed() throws {
        let map = try TinyMap.map()
        #expect(map.indexesBits)
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            var data = CPUData()
            for feature in map.features where Bool.random(using: &rng) { data.add(feature.data) }
            data.add(CPUData(.cpuid(1, 0, .edx), UInt32.random(in: 0...UInt32.max, using: &rng) & 0xFFFF_FF00))
            #expect(map.featureNames(in: data) == map.featureNamesOneByOne(in: data))
        }
        // Two features on one bit: libvirt's loop (the first takes the bit) is used.
        var files = TinyMap.files
        files["x86_features.xml"] = files["x86_features.xml"]?.replacingOccurrences(
            of: "</cpus>", with: "<feature name='fa-too'><cpuid eax_in='0x01' edx='0x00000001'/></feature></cpus>")
        let shared = try TinyMap.map(files)
        #expect(!shared.indexesBits)
        #expect(shared.featureNames(in: TinyMap.data(shared, ["fa-too", "fb"])) == ["fa", "fb"])
    }

    @Test("a broken map fails naming the file and line", arguments: [
        ("x86_models.xml", "<cpus><model name='x'><feature name='fa'/></model></cpus>", "x86_models.xml line 1: CPU model x lacks <decode"),
        ("x86_models.xml", "<cpus><model name='x'><decode host='on' guest='on'/><feature name='nope'/></model></cpus>",
         "feature nope required by CPU model x not found"),
        ("x86_models.xml", "<cpus><model name='x'><decode host='on' guest='on'/><model name='y'/></model></cpus>", "ancestor model y not found"),
        ("x86_models.xml", "<cpus><model name='x'><decode host='on' guest='on'/><vendor name='Via'/></model></cpus>", "unknown vendor Via"),
        ("x86_features.xml", "<cpus><feature name='fa'><cpuid eax_in='zz' edx='1'/></feature></cpus>", "feature fa has invalid <cpuid> data"),
        ("x86_features.xml", "<cpus><feature name='fa'><cpuid eax_in='1' edx='1'/></feature><feature name='fa'><cpuid eax_in='1' edx='2'/></feature></cpus>",
         "CPU feature fa already defined"),
        ("x86_vendors.xml", "<cpus><vendor name='Intel' string='Intel'/></cpus>", "no 12-character vendor string"),
        ("x86_models.xml", "<cpus><model", "/tiny/x86_models.xml: malformed XML at line 1"),
        ("x86_models.xml", "<cpus/>", "has no x86 CPU models"),
    ] as [(String, String, String)])
    func brokenMap(file: String, text: String, message: String) {
        var files = TinyMap.files
        files[file] = text
        #expect(throws: VFIOError.self) { try TinyMap.map(files) }
        do {
            _ = try TinyMap.map(files)
        } catch let error as VFIOError {
            #expect(error.message.contains(message), "\(error.message)")
            #expect(error.hint != nil)
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test("numbers as libvirt reads them, stepping bitmaps")
    func numbers() {
        #expect(CPUMap.number("0x80000001") == 0x8000_0001 && CPUMap.number("010") == 8 && CPUMap.number("12") == 12)
        #expect(CPUMap.number("0x") == nil && CPUMap.number("x1") == nil && CPUMap.number("") == nil)
    }

    @Test("CPUData: add, subtract, intersect, subset, per register")
    func data() {
        var a = CPUData(.cpuid(1, 0, .edx), 0b1011)
        a.add(CPUData(.msr(0x10a, .eax), 1))
        let b = CPUData(.cpuid(1, 0, .edx), 0b0011)
        #expect(a.contains(b) && !b.contains(a) && a.contains(CPUData()))
        #expect(a.subtracting(b) == CPUData(.cpuid(1, 0, .edx), 0b1000).adding(CPUData(.msr(0x10a, .eax), 1)))
        #expect(a.intersecting(b) == b && a.intersecting(CPUData(.cpuid(7, 0, .ebx), 1)).isEmpty)
        #expect(a.count == 4 && a.subtracting(a).isEmpty && a.subtracting(a).registers.isEmpty)
        #expect(CPUModels.relate(a, b) == .superset && CPUModels.relate(b, a) == .subset && CPUModels.relate(a, a) == .equal)
        #expect(CPUModels.relate(CPUData(.cpuid(1, 0, .edx), 1), CPUData(.cpuid(1, 0, .edx), 2)) == .unrelated)
        #expect(CPUModels.relate(CPUData(.cpuid(1, 0, .edx), 1), CPUData(.cpuid(1, 0, .ecx), 1)) == .unrelated)
    }

    @Test("candidate cost: disabled features weigh 2, 3, 4...; libvirt's counting loop stops early and that is kept")
    func cost() {
        typealias F = CPUDefinition.Feature
        let features = [F("a", .require), F("b", .require), F("c", .disable), F("d", .disable), F("e", .disable)]
        // libvirt's loop bound shrinks as it counts: it sees c and d, not e (2 + 3), and 3 enabled.
        #expect(CPUModels.cost(features, kind: .guest) == (total: 8, disabled: 5))
        #expect(CPUModels.cost([F("c", .disable)], kind: .guest) == (total: 2, disabled: 2))
        #expect(CPUModels.cost(features, kind: .host) == (total: 5, disabled: 0))
    }

    @Test("baseline: one CPU is its own model (fallback forbid); the vendor only when every CPU names it")
    func baselineSingle() throws {
        let models = try TinyMap.models()
        let one = try models.baseline([TinyMap.host("intel2", vendor: "Intel")])
        #expect(one == ComputedCPU(kind: .guest, model: "intel2", vendor: "Intel", features: [], fallbackAllowed: false))
        let two = try models.baseline([TinyMap.host("intel2", vendor: "Intel"), TinyMap.host("intel1", ["fd"])])
        #expect(two.model == "intel2" && two.vendor == nil && two.fallbackAllowed)
        let same = try models.baseline([TinyMap.host("intel2", ["nomig"], vendor: "Intel"), TinyMap.host("intel2", ["nomig", "fe"], vendor: "Intel")])
        #expect(same == ComputedCPU(kind: .guest, model: "intel2", vendor: "Intel", features: [.init("nomig", .require)], fallbackAllowed: false))
        let migratable = try models.baseline([TinyMap.host("intel2", ["nomig"], vendor: "Intel")], migratable: true)
        #expect(migratable.features.isEmpty)
    }

    @Test("baseline picks the model with the lowest cost, not the fewest features (a disabled feature costs 2+)")
    func baselinePenalty() throws {
        let models = try TinyMap.models()
        // fa fb fc: guestonly (newest) would need fd, fe disabled (cost 3); intel1-removed has them all but
        // lists fe as disabled (removed); intel1 fits exactly (cost 0).
        let exact = try models.baseline([TinyMap.host("base", ["fc"]), TinyMap.host("intel2")])
        #expect(exact.model == "intel1" && exact.features.isEmpty)
        // fa fb fc fd fe from two CPUs: guestonly fits (cost 0) though host decode could never use it.
        let guest = try models.baseline([TinyMap.host("base", ["fc", "fd", "fe"]), TinyMap.host("intel2", ["fe"])])
        #expect(guest.model == "guestonly" && guest.features.isEmpty)
        // fa fb fd: intel2 disables fc (cost 2); base requires fd (cost 1): base wins.
        let cheap = try models.baseline([TinyMap.host("base", ["fd"]), TinyMap.host("intel2")])
        #expect(cheap.model == "base" && cheap.features == [.init("fd", .require)])
    }

    @Test("baseline of one model list prefers it and stops; a guest CPU decoded to a model with removed features disables them")
    func baselinePreferredAndRemoved() throws {
        let models = try TinyMap.models()
        let preferred = try models.baseline([TinyMap.host("intel1-removed"), TinyMap.host("intel1-removed", ["fd"])])
        #expect(preferred == ComputedCPU(kind: .guest, model: "intel1-removed", features: [.init("fe", .disable)], fallbackAllowed: false))
        let expanded = try models.expand(preferred)
        #expect(expanded.features == [.init("fa", .require), .init("fb", .require), .init("fc", .require), .init("fe", .disable)])
    }

    @Test("baseline errors: vendors, unknown names, nothing in common", arguments: [
        ([TinyMap.host("intel1", vendor: "Intel"), TinyMap.host("amd1", vendor: "AMD")], "CPU vendors do not match: Intel and AMD"),
        ([TinyMap.host("intel1"), TinyMap.host("amd1", vendor: "Intel")], "CPU vendor AMD of model amd1 differs"),
        ([TinyMap.host("intel1", vendor: "Via")], "unknown CPU vendor 'Via'"),
        ([TinyMap.host("Intel1")], "unknown CPU model 'Intel1'"),
        ([TinyMap.host("intel1", ["sse4_1"])], "unknown CPU feature 'sse4_1'"),
        ([TinyMap.host("lonely"), TinyMap.host("base")], "the CPUs are incompatible: they share no CPU feature"),
        ([], "no CPUs to baseline"),
        ([CPUDefinition(kind: .host, arch: "aarch64", model: "base", source: "arm.xml")], "arm.xml: <arch> is 'aarch64'"),
    ] as [([CPUDefinition], String)])
    func baselineErrors(cpus: [CPUDefinition], message: String) throws {
        let models = try TinyMap.models()
        do {
            let cpu = try models.baseline(cpus)
            Issue.record("baseline succeeded: \(cpu)")
        } catch {
            #expect(error.message.contains(message), "\(error.message)")
            #expect(error.hint != nil)
        }
    }

    @Test("host decode: the vendor's models, no missing features, the signature's model first, broken TSX dropped")
    func hostDecode() throws {
        let models = try TinyMap.models()
        let map = models.map
        let data = TinyMap.data(map, ["fa", "fb", "fc", "fd"])
        #expect(try models.decode(data, vendor: "Intel", kind: .host).model == "intel2")
        let signed = try models.decode(data, vendor: "Intel", signature: CPUSignature(family: 6, model: 10, stepping: 2), kind: .host)
        #expect(signed.model == "intel1-removed" && signed.features == [.init("fd")])
        let otherStepping = try models.decode(data, vendor: "Intel", signature: CPUSignature(family: 6, model: 10, stepping: 4), kind: .host)
        #expect(otherStepping.model == "intel2")
        let amd = try models.decode(TinyMap.data(map, ["fa", "fb", "fc", "fe"]), vendor: "AMD", kind: .host)
        #expect(amd.model == "amd1" && amd.features == [.init("fc")])
        let tsx = TinyMap.data(map, ["fa", "fb", "fc", "fd", "hle", "rtm"])
        let broken = try models.decode(tsx, vendor: "Intel", signature: CPUSignature(family: 6, model: 60, stepping: 3), kind: .host)
        #expect(broken.features.isEmpty)
        let fine = try models.decode(tsx, vendor: "Intel", signature: CPUSignature(family: 6, model: 63, stepping: 4), kind: .host)
        #expect(fine.features.map(\.name) == ["hle", "rtm"])
    }

    @Test("compare: identical, superset with the extra features, incompatible with the missing ones")
    func compare() throws {
        let models = try TinyMap.models()
        let host = TinyMap.host("intel2", ["fe"], vendor: "Intel")
        let same = try models.compare(host: host, TinyMap.host("intel1", ["fd", "fe"]))
        #expect(same.relation == .identical && same.missing.isEmpty && same.extra.isEmpty)
        let smaller = try models.compare(host: host, TinyMap.host("base", ["fc"]))
        #expect(smaller.relation == .superset && smaller.extra == ["fd", "fe"])
        let bigger = try models.compare(host: host, TinyMap.host("intel2", ["msrbit", "cmt"]))
        #expect(bigger.relation == .incompatible && bigger.missing == ["msrbit", "cmt"])
        #expect(bigger.reason == "Host CPU does not provide required features: msrbit, cmt")
        let unrelated = try models.compare(host: host, TinyMap.host("base", ["hle"]))
        #expect(unrelated.relation == .incompatible && unrelated.missing == ["hle"])
        let vendor = try models.compare(host: host, TinyMap.host("amd1", vendor: "AMD"))
        #expect(vendor.relation == .incompatible && vendor.reason == "host CPU vendor does not match required CPU vendor AMD")
        let arch = try models.compare(host: host, CPUDefinition(kind: .host, arch: "ppc64", model: "base"))
        #expect(arch.relation == .incompatible && arch.reason == "CPU arch ppc64 does not match host arch")
    }

    @Test("compare a guest CPU: disable, optional, forbid and a strict match")
    func compareGuest() throws {
        let models = try TinyMap.models()
        let host = TinyMap.host("intel2", vendor: "Intel")
        func guest(_ model: String, _ features: [(String, CPUDefinition.Policy)], match: CPUDefinition.Match = .exact) -> CPUDefinition {
            CPUDefinition(kind: .guest, match: match, model: model, features: features.map { .init($0.0, $0.1) }, source: "guest")
        }
        // A disabled feature is taken out of both sides, as libvirt's x86Compute does.
        #expect(try models.compare(host: host, guest("intel2", [("fd", .disable)])).relation == .identical)
        #expect(try models.compare(host: TinyMap.host("intel2", ["fe"]), guest("intel2", [("fd", .disable)])).relation == .superset)
        #expect(try models.compare(host: host, guest("intel2", [("fe", .optional)])).relation == .identical)
        #expect(try models.compare(host: host, guest("intel2", [("fe", .require)])).missing == ["fe"])
        let forbidden = try models.compare(host: host, guest("base", [("fd", .forbid)]))
        #expect(forbidden.relation == .incompatible && forbidden.reason == "Host CPU provides forbidden features: fd")
        let strict = try models.compare(host: host, guest("intel1", [], match: .strict))
        #expect(strict.relation == .incompatible && strict.missing == ["fd"])
        #expect(try models.compare(host: host, guest("intel1", [], match: .minimum)).relation == .superset)
        #expect(throws: VFIOError.self) { try models.compare(host: host, guest("intel1", [("bogus", .require)])) }
        // An unknown feature fails whatever its policy.
        #expect(throws: VFIOError.self) { try models.compare(host: host, guest("intel1", [("bogus", .forbid)])) }
    }
}

@Suite("CPU XML input (pure)")
struct CPUDefinitionTests {
    @Test("cpus in capabilities documents, bare <cpu> elements, domains and domain capabilities; several per file")
    func extract() throws {
        let text = """
            <?xml version='1.0'?>
            <capabilities><host><uuid>x</uuid><cpu><arch>i686</arch><model>pentium3</model>
              <topology sockets='1' cores='2' threads='1'/><feature name='lm'/><feature policy='disable' name='pni'/></cpu></host></capabilities>
            <cpu><arch>x86_64</arch><model fallback='allow'>phenom</model><vendor>AMD</vendor></cpu>
            <domain type='kvm'><cpu mode='custom' match='strict'><model>Haswell</model><feature policy='forbid' name='vmx'/></cpu></domain>
            <domainCapabilities><cpu><mode name='host-model' supported='yes'><model>EPYC</model></mode>
              <mode name='custom' supported='yes'><model>qemu64</model></mode></cpu></domainCapabilities>
            <!-- a comment -->
            """
        let elements = try CPUDefinition.elements(in: text, file: "pool.xml")
        #expect(elements.count == 4)
        let cpus = try elements.prefix(3).enumerated().map { try CPUDefinition.parse($0.element, kind: nil, source: "cpu \($0.offset)") }
        #expect(cpus[0] == CPUDefinition(kind: .host, arch: "i686", model: "pentium3", features: [.init("lm"), .init("pni")], source: "cpu 0"))
        #expect(cpus[1].vendor == "AMD" && cpus[1].model == "phenom" && cpus[1].kind == .host)
        #expect(cpus[2] == CPUDefinition(kind: .guest, mode: .custom, match: .strict, model: "Haswell", features: [.init("vmx", .forbid)],
                                         source: "cpu 2"))
        #expect(elements[0].line == 2 && elements[2].line == 5)
        // The domain capabilities' host-model CPU has no <arch>: as a host CPU libvirt rejects it too.
        #expect(throws: VFIOError.self) { try CPUDefinition.parse(elements[3], kind: .host, source: "x") }
        let withoutCaps = text.split(separator: "\n").filter { !$0.contains("domainCapabilities") && !$0.contains("mode name='custom'") }
        let all = try CPUDefinition.parseAll(withoutCaps.joined(separator: "\n"), file: "pool.xml", kind: nil)
        #expect(all.map(\.source) == ["pool.xml (cpu 1, line 2)", "pool.xml (cpu 2, line 4)", "pool.xml (cpu 3, line 5)"])
    }

    @Test("bad input is a usage error that names the file and the value", arguments: [
        ("", "f.xml is empty"),
        ("  \n", "f.xml is empty"),
        ("<cpu><arch>x86_64</arch><model>Haswell</cpu>", "f.xml: malformed XML at line 1: </cpu> closes <model>"),
        ("<domain/>", "f.xml holds no <cpu> element"),
        ("<cpu><model>Haswell</model></cpu>", "f.xml: <cpu> has no <arch>"),
        ("<cpu><arch>x86_64</arch></cpu>", "f.xml: <cpu> has no <model>"),
        ("<cpu><arch>x86_64</arch><model></model></cpu>", "<model> is empty"),
        ("<cpu><arch>x86_64</arch><model>Haswell</model><feature name='vmx'/><feature name='vmx'/></cpu>", "CPU feature 'vmx' is given more than once"),
        ("<cpu><arch>x86_64</arch><model>Haswell</model><feature/></cpu>", "<feature> without a name"),
        ("<cpu mode='host-model'><arch>x86_64</arch><model>Haswell</model></cpu>", "mode is only allowed on a guest CPU"),
        ("<cpu><arch>x86_64</arch><vendor>Intel</vendor></cpu>", "<vendor> without a <model>"),
    ] as [(String, String)])
    func badInput(text: String, message: String) {
        do {
            _ = try CPUDefinition.parseAll(text, file: "f.xml", kind: .host)
            Issue.record("parsed \(text)")
        } catch {
            #expect(error.kind == .usage)
            #expect(error.message.contains(message), "\(error.message)")
        }
    }

    @Test("guest CPUs: policies default to require; unknown policy, mode or match fail")
    func guest() throws {
        let cpu = try CPUDefinition.parseAll("<cpu><model>Haswell</model><feature name='vmx'/></cpu>", file: "g.xml", kind: nil)
        #expect(cpu == [CPUDefinition(kind: .guest, match: .exact, model: "Haswell", features: [.init("vmx", .require)], source: "g.xml")])
        let passthrough = try CPUDefinition.parseAll("<cpu mode='host-passthrough'/>", file: "g.xml", kind: nil)
        #expect(passthrough.first?.mode == .hostPassthrough && passthrough.first?.model == nil)
        for bad in ["<cpu><model>a</model><feature policy='maybe' name='vmx'/></cpu>", "<cpu mode='fast'/>",
                    "<cpu match='loose'><model>a</model></cpu>", "<cpu mode='custom'/>"] {
            #expect(throws: VFIOError.self, "\(bad)") { try CPUDefinition.parseAll(bad, file: "g.xml", kind: nil) }
        }
    }
}

@Suite("CPU /proc/cpuinfo (pure)")
struct CPUInfoTests {
    static func cpuinfo(sockets: Int, cores: Int, threads: Int, flags: String) -> String {
        var text = ""
        var processor = 0
        for socket in 0..<sockets {
            for thread in 0..<threads {
                for core in 0..<cores {
                    text += """
                        processor\t: \(processor)
                        vendor_id\t: GenuineIntel
                        cpu family\t: 6
                        model\t\t: 85
                        model name\t: Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz
                        stepping\t: 4
                        microcode\t: 0x2006e05
                        physical id\t: \(socket)
                        siblings\t: \(cores * threads)
                        core id\t\t: \(core)
                        cpu cores\t: \(cores)
                        flags\t\t: \(flags)
                        address sizes\t: 46 bits physical, 48 bits virtual
                        power management:


                        """
                    processor += 1
                    _ = thread
                }
            }
        }
        return text
    }

    @Test("identity and topology: sockets from physical id, cores per socket, threads from siblings", arguments: [
        (1, 1, 1), (1, 4, 2), (2, 8, 2), (4, 2, 1),
    ] as [(Int, Int, Int)])
    func topology(sockets: Int, cores: Int, threads: Int) {
        let info = CPUInfo.parse(Self.cpuinfo(sockets: sockets, cores: cores, threads: threads, flags: "fpu vme lm"))
        #expect(info.sockets == sockets && info.cores == cores && info.threads == threads)
        #expect(info.logicalCPUs == sockets * cores * threads)
        #expect(info.vendorID == "GenuineIntel" && info.signature == CPUSignature(family: 6, model: 85, stepping: 4))
        #expect(info.microcode == 0x2006e05 && info.physicalAddressBits == 46 && info.flags == ["fpu", "vme", "lm"])
        #expect(info.modelName == "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz")
    }

    @Test("a minimal cpuinfo (no topology lines) still counts; an empty one has no processor")
    func minimal() {
        let info = CPUInfo.parse("processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu svm\n\nprocessor\t: 1\nflags\t\t: fpu svm\n")
        #expect(info.logicalCPUs == 2 && info.sockets == 1 && info.cores == 2 && info.threads == 1 && info.family == nil)
        #expect(CPUInfo.parse("").logicalCPUs == 0)
    }

    @Test("Linux flags become CPUID bits; synthetic flags follow the vendor; the rest is listed")
    func translate() throws {
        let intel = LinuxCPUFlags.translate(["fpu", "sse4_1", "xsave", "ibpb", "stibp", "ssbd", "constant_tsc", "nonstop_tsc", "pti", "cqm"],
                                            vendorID: "GenuineIntel")
        #expect(intel.data[.cpuid(1, 0, .edx)] == 1)
        #expect(intel.data[.cpuid(1, 0, .ecx)] == (1 << 19) | (1 << 26) | (1 << 27))
        #expect(intel.data[.cpuid(7, 0, .edx)] == (1 << 26) | (1 << 27) | (1 << 31))
        #expect(intel.data[.cpuid(7, 0, .ebx)] == 1 << 12)
        #expect(intel.data[.cpuid(0x8000_0007, 0, .edx)] == 1 << 8)
        #expect(intel.unmapped == ["pti"])
        let amd = LinuxCPUFlags.translate(["ibpb", "ibrs", "stibp", "ssbd", "virt_ssbd", "constant_tsc"], vendorID: "AuthenticAMD")
        #expect(amd.data[.cpuid(0x8000_0008, 0, .ebx)] == (1 << 12) | (1 << 14) | (1 << 15) | (1 << 25))
        #expect(amd.data[.cpuid(7, 0, .edx)] == 0 && amd.unmapped == ["constant_tsc"])
        let amdSSBD = LinuxCPUFlags.translate(["ssbd"], vendorID: "AuthenticAMD")
        #expect(amdSSBD.data[.cpuid(0x8000_0008, 0, .ebx)] == 1 << 24)
    }
}
