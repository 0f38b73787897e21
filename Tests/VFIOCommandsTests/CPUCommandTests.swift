import Foundation
import Testing
import VFIOCommands
@testable import VFIOCore
import VFIODeviceLayer
import VFIOTestSupport

/// libvirt's own answers: its CPU map (libvirt0) and `virsh -c test:///default cpu-baseline`
/// (libvirt-clients), which runs libvirt's x86 CPU code in the virsh process. Nothing here is
/// skipped: without virsh or the map these tests fail, saying which is missing.
enum LibvirtCPU {
    static let mapDirectory = "/usr/share/libvirt/cpu_map"

    static func map() throws -> CPUMap {
        do {
            return try CPUFiles(root: .live).map()
        } catch {
            Issue.record("libvirt's CPU map is needed (package libvirt0): \(error)")
            throw error
        }
    }

    /// A fresh temporary directory, removed by the caller.
    static func directory() -> String { FakeSysfs().root }

    static func write(_ text: String, in directory: String, _ name: String) throws -> String {
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// `virsh cpu-baseline [--features] FILE` for each file, in one virsh process: the XML, or
    /// nil where virsh failed (its errors go to stderr, in order, in `errors`).
    static func baselines(_ files: [String], features: Bool = false) throws -> (results: [String?], errors: String) {
        var results: [String?] = []
        var errors = ""
        // virsh's command line is one argument; keep each run moderate.
        for chunk in stride(from: 0, to: files.count, by: 200) {
            let part = files[chunk..<min(files.count, chunk + 200)]
            let script = part.enumerated().map { "cpu-baseline \(features ? "--features " : "")\($0.element); echo @@vfioctl-\($0.offset)@@" }
                .joined(separator: "; ")
            let run = try TestProcess.run("virsh", ["-c", "test:///default", script], timeout: 300)
            guard !run.out.isEmpty || run.status == 0 else {
                throw LibvirtRejected("virsh did not run (is libvirt-clients installed?): status \(run.status)\n\(run.err)")
            }
            errors += run.err
            var rest = Substring(run.out)
            for offset in 0..<part.count {
                let marker = "@@vfioctl-\(offset)@@\n"
                guard let range = rest.range(of: marker) else {
                    throw LibvirtRejected("virsh output lacks \(marker): \(run.out.suffix(400))\n\(run.err)")
                }
                let text = rest[..<range.lowerBound].trimmingCharacters(in: .whitespacesAndNewlines)
                results.append(text.isEmpty ? nil : text + "\n")
                rest = rest[range.upperBound...]
            }
        }
        return (results, errors)
    }

    /// The features a single host CPU has, as virsh expands them (`cpu-baseline --features` of
    /// that CPU alone, the required ones).
    static func expandedFeatures(_ xml: [String?]) -> [Set<String>?] {
        xml.map { text in
            guard let text else { return nil }
            var names = Set<String>()
            for line in text.split(separator: "\n") where line.contains("policy='require'") {
                if let start = line.range(of: "name='")?.upperBound, let end = line[start...].firstIndex(of: "'") {
                    names.insert(String(line[start..<end]))
                }
            }
            return names
        }
    }
}

/// Host CPUs as `virsh capabilities` would show them for CPUs of libvirt's models across Intel
/// and AMD generations, each with features taken away and added at random.
struct CPUSetGenerator {
    let map: CPUMap
    let models: CPUModels
    var rng: SeededGenerator

    init(map: CPUMap, seed: UInt64) {
        self.map = map
        self.models = CPUModels(map: map)
        self.rng = SeededGenerator(seed: seed)
    }

    enum Vendor: CaseIterable { case intel, amd, unnamed }

    /// One host CPU's `<cpu>` (or capabilities document): a model's features with up to
    /// `remove` of them gone and up to `add` others, described as libvirt describes a host
    /// (closest model, extra features); or, when `raw`, simply the model plus added features.
    mutating func cpu(vendor: Vendor, model: CPUMap.Model, remove: Int, add: Int, raw: Bool) throws -> (xml: String, model: String, vendor: String?) {
        let own = map.featureNames(in: model.data)
        var data = model.data
        if !raw {
            for name in own.shuffled(using: &rng).prefix(Int.random(in: 0...remove, using: &rng)) {
                if let feature = map.feature(name) { data.subtract(feature.data) }
            }
        }
        var extras: [String] = []
        for feature in map.features.shuffled(using: &rng).prefix(Int.random(in: 0...add, using: &rng)) where !own.contains(feature.name) {
            data.add(feature.data)
            extras.append(feature.name)
        }
        let vendorName: String? = switch vendor {
        case .intel: "Intel"
        case .amd: "AMD"
        case .unnamed: nil
        }
        var name = model.name
        var features = extras
        // A CPU no model fits (it lost a feature every model has) is written as its model plus extras.
        if !raw, let host = try? models.decode(data, vendor: vendorName ?? model.vendor, kind: .host) {
            name = host.model
            features = host.features.map(\.name)
        }
        let namesVendor = vendorName != nil && Bool.random(using: &rng)
        let arch = Int.random(in: 0..<10, using: &rng) == 0 ? "i686" : "x86_64"
        var xml = "<cpu>\n  <arch>\(arch)</arch>\n  <model>\(name)</model>\n"
        if namesVendor, let vendorName { xml += "  <vendor>\(vendorName)</vendor>\n" }
        xml += "  <topology sockets='1' cores='\(Int.random(in: 1...64, using: &rng))' threads='2'/>\n"
        for feature in features { xml += "  <feature name='\(feature)'/>\n" }
        xml += "</cpu>\n"
        if Int.random(in: 0..<4, using: &rng) == 0 {
            xml = "<capabilities>\n  <host>\n    <uuid>00000000-0000-0000-0000-000000000000</uuid>\n" + xml + "  </host>\n</capabilities>\n"
        }
        return (xml, name, namesVendor ? vendorName : nil)
    }

    /// 1 to 6 CPUs of one vendor (or of models with no vendor), often sharing a model.
    mutating func set() throws -> [String] {
        let vendor = Vendor.allCases.randomElement(using: &rng) ?? .intel
        let pool = map.models.filter { model in
            guard model.decodeHost else { return false }
            switch vendor {
            case .intel: return model.vendor == "Intel" || model.vendor == nil
            case .amd: return model.vendor == "AMD" || model.vendor == nil
            case .unnamed: return model.vendor == nil || Int.random(in: 0..<3, using: &rng) == 0
            }
        }
        let count = Int.random(in: 1...6, using: &rng)
        let raw = Int.random(in: 0..<3, using: &rng) == 0
        var first: CPUMap.Model?
        var cpus: [String] = []
        for _ in 0..<count {
            let model = (first != nil && Bool.random(using: &rng) ? first : pool.randomElement(using: &rng)) ?? map.models[0]
            if first == nil { first = model }
            let cpuVendor: Vendor = vendor == .unnamed ? .unnamed : (model.vendor == nil && Bool.random(using: &rng) ? .unnamed : vendor)
            cpus.append(try cpu(vendor: cpuVendor, model: model, remove: 6, add: 8, raw: raw).xml)
        }
        return cpus
    }
}

/// The seed's pair, as the RHEL virtualization guide prints them: a workstation's `virsh
/// capabilities` (pentium3 and 20 features) and a server's (phenom and 15 features).
enum SeedPair {
    static let workstation = """
        <capabilities> <host> <cpu> <arch>i686</arch> <model>pentium3</model> <topology sockets='1' cores='2' threads='1'/> \
        <feature name='lahf_lm'/> <feature name='lm'/> <feature name='xtpr'/> <feature name='cx16'/> <feature name='ssse3'/> \
        <feature name='tm2'/> <feature name='est'/> <feature name='vmx'/> <feature name='ds_cpl'/> <feature name='monitor'/> \
        <feature name='pni'/> <feature name='pbe'/> <feature name='tm'/> <feature name='ht'/> <feature name='ss'/> \
        <feature name='sse2'/> <feature name='acpi'/> <feature name='ds'/> <feature name='clflush'/> <feature name='apic'/> \
        </cpu> </host> </capabilities>

        """
    static let server = """
        <capabilities> <host> <cpu> <arch>x86_64</arch> <model>phenom</model> <topology sockets='2' cores='4' threads='1'/> \
        <feature name='osvw'/> <feature name='3dnowprefetch'/> <feature name='misalignsse'/> <feature name='sse4a'/> \
        <feature name='abm'/> <feature name='cr8legacy'/> <feature name='extapic'/> <feature name='cmp_legacy'/> \
        <feature name='lahf_lm'/> <feature name='rdtscp'/> <feature name='pdpe1gb'/> <feature name='popcnt'/> \
        <feature name='cx16'/> <feature name='ht'/> <feature name='vme'/> </cpu> </host> </capabilities>

        """
    /// What libvirt 9.0 answers for both (the guide, written for an older libvirt, shows pentium3).
    static let baseline = """
        <cpu mode='custom' match='exact'>
          <model fallback='allow'>kvm32</model>
          <feature policy='require' name='vme'/>
          <feature policy='require' name='ht'/>
          <feature policy='require' name='monitor'/>
          <feature policy='require' name='cx16'/>
          <feature policy='require' name='lm'/>
          <feature policy='require' name='lahf_lm'/>
        </cpu>

        """
}

@Suite("CPU baseline against virsh cpu-baseline", .serialized)
struct CPUBaselineTests {
    @Test("the seed's workstation (pentium3, 20 features) and server (phenom, 15 features): kvm32, as virsh says")
    func seedPair() throws {
        let directory = LibvirtCPU.directory()
        defer { FakeSysfs.removeTree(directory) }
        let both = try LibvirtCPU.write(SeedPair.workstation + SeedPair.server, in: directory, "both-cpus.xml")
        let workstation = try LibvirtCPU.write(SeedPair.workstation, in: directory, "workstation.xml")
        let server = try LibvirtCPU.write(SeedPair.server, in: directory, "server.xml")
        let virsh = try LibvirtCPU.baselines([both])
        #expect(virsh.results == [SeedPair.baseline.trimmingCharacters(in: .newlines) + "\n"], "\(virsh.errors)")
        let one = Vfioctl.capture(["cpu", "baseline", both])
        #expect(one.status == 0 && one.err.isEmpty, "\(one.err)")
        #expect(one.out == SeedPair.baseline)
        // Two files give what one file with both gives.
        let two = Vfioctl.capture(["cpu", "baseline", workstation, server])
        #expect(two.out == one.out)
        let json = try TestProcess.json(Vfioctl.capture(["cpu", "baseline", workstation, server, "--format", "json"]).out)
        let cpu = try #require(json["cpu"] as? [String: Any])
        #expect(json["schema_version"] as? Int == 1 && cpu["model"] as? String == "kvm32" && cpu["fallback"] as? String == "allow")
        #expect((cpu["features"] as? [[String: String]])?.map { $0["name"] ?? "" } == ["cx16", "ht", "lahf_lm", "lm", "monitor", "vme"])
        #expect(cpu["vendor"] is NSNull)
    }

    @Test("generated CPU sets across Intel and AMD generations: the same XML as virsh, byte for byte")
    func generatedSets() throws {
        let map = try LibvirtCPU.map()
        let models = CPUModels(map: map)
        var generator = CPUSetGenerator(map: map, seed: 20_231_109)
        let directory = LibvirtCPU.directory()
        defer { FakeSysfs.removeTree(directory) }
        var files: [String] = []
        var sets: [[String]] = []
        for number in 0..<400 {
            let set = try generator.set()
            sets.append(set)
            files.append(try LibvirtCPU.write(set.joined(), in: directory, "set-\(number).xml"))
        }
        let virsh = try LibvirtCPU.baselines(files)
        var agreed = 0, failedBoth = 0, modelsSeen = Set<String>()
        for (number, set) in sets.enumerated() {
            let ours: String?
            do {
                let cpus = try CPUDefinition.parseAll(set.joined(), file: files[number], kind: .host)
                let cpu = try models.baseline(cpus)
                modelsSeen.insert(cpu.model)
                ours = CPUOutput.guestElement(cpu).rendered()
            } catch {
                ours = nil
            }
            #expect(ours == virsh.results[number], "set \(number) (\(files[number])):\n\(set.joined())")
            if ours == virsh.results[number] { if ours == nil { failedBoth += 1 } else { agreed += 1 } }
        }
        // The sets must exercise the algorithm: mostly successful baselines, over many models.
        #expect(agreed >= 330, "only \(agreed) sets baselined alike")
        #expect(modelsSeen.count >= 25, "baselines reached only \(modelsSeen.sorted())")
        #expect(failedBoth <= 60)
    }

    @Test("generated sets with --features (every feature of the model, by name): the same as virsh")
    func generatedSetsExpanded() throws {
        let map = try LibvirtCPU.map()
        let models = CPUModels(map: map)
        var generator = CPUSetGenerator(map: map, seed: 77)
        let directory = LibvirtCPU.directory()
        defer { FakeSysfs.removeTree(directory) }
        var files: [String] = []
        for number in 0..<150 { files.append(try LibvirtCPU.write(try generator.set().joined(), in: directory, "set-\(number).xml")) }
        let virsh = try LibvirtCPU.baselines(files, features: true)
        var agreed = 0
        for (number, file) in files.enumerated() {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            let ours = try? CPUOutput.guestElement(models.expand(models.baseline(CPUDefinition.parseAll(text, file: file, kind: .host)))).rendered()
            #expect(ours == virsh.results[number], "set \(number):\n\(text)")
            if ours != nil && ours == virsh.results[number] { agreed += 1 }
        }
        #expect(agreed >= 120)
    }

    @Test("the command line over several files per set gives virsh's answer for the files joined")
    func commandLine() throws {
        let map = try LibvirtCPU.map()
        var generator = CPUSetGenerator(map: map, seed: 4242)
        let directory = LibvirtCPU.directory()
        defer { FakeSysfs.removeTree(directory) }
        var joined: [String] = []
        var parts: [[String]] = []
        for number in 0..<25 {
            let set = try generator.set()
            joined.append(try LibvirtCPU.write(set.joined(), in: directory, "joined-\(number).xml"))
            parts.append(try set.enumerated().map { try LibvirtCPU.write($0.element, in: directory, "part-\(number)-\($0.offset).xml") })
        }
        let virsh = try LibvirtCPU.baselines(joined)
        for number in 0..<25 {
            let result = Vfioctl.capture(["cpu", "baseline"] + parts[number])
            if let expected = virsh.results[number] {
                #expect(result.status == 0 && result.out == expected, "set \(number): \(result.err)")
            } else {
                #expect(result.status != 0 && result.err.hasPrefix("error: ") && result.err.contains("hint: "), "set \(number): \(result.out)")
            }
        }
    }

    @Test("bad input fails in vfioctl where it fails in virsh, with the value and a hint", arguments: [
        ("malformed", "<cpu><arch>x86_64</arch><model>Haswell</cpu>", 64, "malformed XML at line 1: </cpu> closes <model>"),
        ("unknown-model", "<cpu><arch>x86_64</arch><model>Haswel</model></cpu>", 64, "unknown CPU model 'Haswel'"),
        ("unknown-feature", "<cpu><arch>x86_64</arch><model>Haswell</model><feature name='sse4_1'/></cpu>", 64, "unknown CPU feature 'sse4_1'"),
        ("unknown-vendor", "<cpu><arch>x86_64</arch><model>Haswell</model><vendor>GenuineIntel</vendor></cpu>", 64, "unknown CPU vendor 'GenuineIntel'"),
        ("empty", "", 64, "is empty"),
        ("no-cpu", "<domain type='kvm'><name>x</name></domain>", 64, "holds no <cpu> element"),
        ("no-arch", "<cpu><model>Haswell</model></cpu>", 64, "<cpu> has no <arch>"),
        ("no-model", "<cpu><arch>x86_64</arch><feature name='vmx'/></cpu>", 64, "<cpu> has no <model>"),
        ("twice", "<cpu><arch>x86_64</arch><model>Haswell</model><feature name='vmx'/><feature name='vmx'/></cpu>", 64, "'vmx' is given more than once"),
        ("mode", "<cpu mode='host-model'><arch>x86_64</arch><model>Haswell</model></cpu>", 64, "mode is only allowed on a guest CPU"),
        ("vendors", "<cpu><arch>x86_64</arch><model>Haswell</model><vendor>Intel</vendor></cpu><cpu><arch>x86_64</arch><model>EPYC</model><vendor>AMD</vendor></cpu>",
         1, "CPU vendors do not match: Intel and AMD"),
        ("model-vendor", "<cpu><arch>x86_64</arch><model>Haswell</model></cpu><cpu><arch>x86_64</arch><model>EPYC</model><vendor>Intel</vendor></cpu>",
         64, "CPU vendor AMD of model EPYC differs"),
    ] as [(String, String, Int32, String)])
    func badInput(name: String, text: String, status: Int32, message: String) throws {
        let directory = LibvirtCPU.directory()
        defer { FakeSysfs.removeTree(directory) }
        let file = try LibvirtCPU.write(text, in: directory, "\(name).xml")
        let virsh = try LibvirtCPU.baselines([file])
        #expect(virsh.results == [nil], "virsh accepted \(name)")
        let result = Vfioctl.capture(["cpu", "baseline", file])
        #expect(result.status == status && result.out.isEmpty, "\(result.err)")
        #expect(result.err.hasPrefix("error: ") && result.err.contains(message), "\(result.err)")
        #expect(result.err.contains("\nhint: "), "\(result.err)")
    }

    @Test("no FILE, an unreadable FILE: usage errors")
    func usage() {
        let none = Vfioctl.capture(["cpu", "baseline"])
        #expect(none.status == 64 && none.err.contains("needs at least one FILE"))
        let missing = Vfioctl.capture(["cpu", "baseline", "/nonexistent/cpus.xml"])
        #expect(missing.status == 64 && missing.err.contains("cannot read '/nonexistent/cpus.xml'"))
    }
}

@Suite("CPU map under the root")
struct CPUMapRootTests {
    @Test("without libvirt's CPU map: a clear error naming the path and the package")
    func missing() {
        let root = LibvirtCPU.directory()
        defer { FakeSysfs.removeTree(root) }
        FakeSysfs(root: root).write("proc/cpuinfo", "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu lm\n")
        for arguments in [["cpu", "host"], ["cpu", "baseline", "/dev/null"], ["cpu", "models"], ["xml", "cpu", "--baseline", "/dev/null"]] {
            let result = Vfioctl.capture(arguments + ["--root", root])
            #expect(result.status == 1, "\(arguments)")
            #expect(result.err.contains("error: libvirt's CPU map is missing: cannot read \(root)/usr/share/libvirt/cpu_map/index.xml"), "\(result.err)")
            #expect(result.err.contains("hint: "), "\(result.err)")
        }
        let live = Vfioctl.capture(["cpu", "models", "--cpu-map", root + "/nowhere"])
        #expect(live.status == 1 && live.err.contains("--cpu-map names a copy of libvirt's cpu_map"), "\(live.err)")
    }

    @Test("a copy of part of the map under --root is the map used; a broken copy fails naming the file")
    func subset() throws {
        let root = LibvirtCPU.directory()
        defer { FakeSysfs.removeTree(root) }
        let fake = FakeSysfs(root: root)
        let index = try String(contentsOfFile: LibvirtCPU.mapDirectory + "/index.xml", encoding: .utf8)
        let kept = ["x86_vendors.xml", "x86_features.xml", "x86_pentium3.xml", "x86_kvm32.xml", "x86_Nehalem.xml", "x86_Westmere.xml",
                    "x86_phenom.xml"]
        let lines = index.split(separator: "\n", omittingEmptySubsequences: false).filter { line in
            !line.contains("include filename='x86_") || kept.contains { line.contains("'\($0)'") }
        }
        fake.write("usr/share/libvirt/cpu_map/index.xml", lines.joined(separator: "\n"))
        for name in kept {
            fake.write("usr/share/libvirt/cpu_map/" + name, try String(contentsOfFile: LibvirtCPU.mapDirectory + "/" + name, encoding: .utf8))
        }
        let result = Vfioctl.capture(["cpu", "models", "--format", "json", "--root", root])
        #expect(result.status == 0, "\(result.err)")
        let names = try (TestProcess.json(result.out)["models"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(names == ["pentium3", "kvm32", "Nehalem", "Westmere", "phenom"])
        let seed = try LibvirtCPU.write(SeedPair.workstation + SeedPair.server, in: root, "seed.xml")
        #expect(Vfioctl.capture(["cpu", "baseline", seed, "--root", root]).out == SeedPair.baseline)
        fake.write("usr/share/libvirt/cpu_map/x86_kvm32.xml", "<cpus><model name='kvm32'>")
        let broken = Vfioctl.capture(["cpu", "baseline", seed, "--root", root])
        #expect(broken.status == 1 && broken.err.contains("cpu_map/x86_kvm32.xml: malformed XML"), "\(broken.err)")
    }
}

@Suite("CPU host from /proc/cpuinfo", .serialized)
struct CPUHostTests {
    static var fixtures: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fixtures/cpuinfo").path
    }

    /// A root holding the fixture's cpuinfo; the map is the system's (--cpu-map).
    static func host(_ fixture: String, _ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let root = LibvirtCPU.directory()
        defer { FakeSysfs.removeTree(root) }
        FakeSysfs(root: root).write("proc/cpuinfo", try String(contentsOfFile: fixtures + "/\(fixture).txt", encoding: .utf8))
        return Vfioctl.capture(["cpu", "host"] + arguments + ["--root", root, "--cpu-map", LibvirtCPU.mapDirectory])
    }

    @Test("real and typical hosts: the model, vendor and topology libvirt would report", arguments: [
        ("skylake-server-kvm", "Skylake-Server-IBRS", "Intel", [1, 2, 1]),
        ("epyc-rome", "EPYC-Rome", "AMD", [2, 16, 2]),
        ("core2-workstation", "Conroe", "Intel", [1, 2, 1]),
        ("phenom-server", "Opteron_G3", "AMD", [2, 4, 1]),
    ] as [(String, String, String, [Int])])
    func decode(fixture: String, model: String, vendor: String, topology: [Int]) throws {
        let result = try Self.host(fixture, ["--format", "json"])
        #expect(result.status == 0, "\(result.err)")
        let json = try TestProcess.json(result.out)
        let cpu = try #require(json["cpu"] as? [String: Any])
        #expect(json["schema_version"] as? Int == 1)
        #expect(cpu["model"] as? String == model && cpu["vendor"] as? String == vendor && cpu["arch"] as? String == "x86_64")
        let shape = cpu["topology"] as? [String: Int]
        #expect([shape?["sockets"], shape?["cores"], shape?["threads"]] == topology.map(Optional.some))
        #expect(shape?["logical_cpus"] == topology.reduce(1, *))
        let features = cpu["features"] as? [String] ?? []
        #expect(features == features.sorted() && !features.contains("sse4_1") && !features.contains("pclmulqdq") && !features.isEmpty)
        let text = try Self.host(fixture, [])
        #expect(text.out.contains("model      \(model) (\(vendor))"), "\(text.out)")
    }

    @Test("the host <cpu> is libvirt's: its schema accepts it, virsh baselines it alike, and virsh expands it to the flags' features")
    func libvirtReadsIt() throws {
        let map = try LibvirtCPU.map()
        let directory = LibvirtCPU.directory()
        defer { FakeSysfs.removeTree(directory) }
        var files: [String] = []
        var expected: [Set<String>] = []
        for fixture in ["skylake-server-kvm", "epyc-rome", "core2-workstation", "phenom-server"] {
            let result = try Self.host(fixture, ["--format", "xml"])
            #expect(result.status == 0, "\(result.err)")
            let file = try LibvirtCPU.write(result.out, in: directory, fixture + ".xml")
            let validated = try TestProcess.run("virt-xml-validate", [file, "cpu"], timeout: 60)
            #expect(validated.status == 0, "\(fixture): \(validated.out)\(validated.err)\n\(result.out)")
            files.append(file)
            // What /proc/cpuinfo says, named by libvirt's map directly.
            let info = CPUInfo.parse(try String(contentsOfFile: Self.fixtures + "/\(fixture).txt", encoding: .utf8))
            expected.append(Set(map.featureNames(in: LinuxCPUFlags.translate(info.flags, vendorID: info.vendorID).data)))
        }
        let plain = try LibvirtCPU.baselines(files)
        for (position, file) in files.enumerated() {
            let ours = Vfioctl.capture(["cpu", "baseline", file])
            #expect(plain.results[position] != nil && ours.out == plain.results[position], "\(file): \(plain.errors)")
        }
        let expanded = LibvirtCPU.expandedFeatures(try LibvirtCPU.baselines(files, features: true).results)
        for (position, file) in files.enumerated() {
            #expect(expanded[position] == expected[position],
                    "\(file): virsh has \(expanded[position]?.subtracting(expected[position]).sorted() ?? []) more, lacks \(expected[position].subtracting(expanded[position] ?? []).sorted())")
        }
        // The seed's pair as real hosts report it: each names its vendor, so libvirt refuses to mix them.
        let pair = try LibvirtCPU.write(try String(contentsOfFile: files[2], encoding: .utf8) + String(contentsOfFile: files[3], encoding: .utf8),
                                        in: directory, "pair.xml")
        #expect(try LibvirtCPU.baselines([pair]).results == [nil])
        let refused = Vfioctl.capture(["cpu", "baseline", pair])
        #expect(refused.status == 1 && refused.err.contains("CPU vendors do not match: Intel and AMD"))
    }

    @Test("Linux's flag names map to libvirt's: the renamed ones, and every alias libvirt records for Linux")
    func flagNames() throws {
        let map = try LibvirtCPU.map()
        func name(_ flag: String, _ vendor: String = "GenuineIntel") -> [String] {
            map.featureNames(in: LinuxCPUFlags.translate([flag], vendorID: vendor).data)
        }
        let renamed = ["pni": "pni", "pclmulqdq": "pclmuldq", "dts": "ds", "sse4_1": "sse4.1", "sse4_2": "sse4.2", "tsc_deadline_timer": "tsc-deadline",
                       "cr8_legacy": "cr8legacy", "sha_ni": "sha-ni", "intel_pt": "intel-pt", "avx512_vpopcntdq": "avx512-vpopcntdq",
                       "avx512_vnni": "avx512vnni", "avx512_vbmi2": "avx512vbmi2", "avx512_bitalg": "avx512bitalg", "md_clear": "md-clear",
                       "cqm": "cmt", "arch_capabilities": "arch-capabilities", "lahf_lm": "lahf_lm", "svm_lock": "svm-lock",
                       "nrip_save": "nrip-save", "pausefilter": "pause-filter", "v_vmsave_vmload": "v-vmsave-vmload", "tsxldtrk": "tsx-ldtrk",
                       "cqm_mbm_total": "mbm_total", "bus_lock_detect": "bus-lock-detect", "sgx_lc": "sgxlc", "ibrs_enhanced": "ibrs-all",
                       "split_lock_detect": "split-lock-detect", "amx_bf16": "amx-bf16", "avx_vnni": "avx-vnni"]
        for (flag, feature) in renamed { #expect(name(flag).first == feature, "\(flag)") }
        for feature in map.features {
            for alias in feature.linuxAliases { #expect(name(alias) == [feature.name], "libvirt's Linux alias \(alias) of \(feature.name)") }
        }
        // Every flag of the table is a bit of exactly one feature of this map.
        for (flag, (register, bit)) in LinuxCPUFlags.bits {
            #expect(map.featureNames(in: CPUData(register, UInt32(1) << UInt32(bit))).count == 1, "\(flag)")
        }
        #expect(name("ibpb") == ["spec-ctrl"] && name("ibpb", "AuthenticAMD") == ["ibpb"] && name("stibp", "HygonGenuine") == ["amd-stibp"])
        #expect(name("xsave").sorted() == ["osxsave", "xsave"])
    }

    @Test("no cpuinfo, a cpuinfo without flags: clear errors")
    func broken() throws {
        let root = LibvirtCPU.directory()
        defer { FakeSysfs.removeTree(root) }
        let missing = Vfioctl.capture(["cpu", "host", "--root", root, "--cpu-map", LibvirtCPU.mapDirectory])
        #expect(missing.status == 1 && missing.err.contains("cannot read \(root)/proc/cpuinfo") && missing.err.contains("hint: "))
        FakeSysfs(root: root).write("proc/cpuinfo", "processor\t: 0\nCPU implementer\t: 0x41\n")
        let arm = Vfioctl.capture(["cpu", "host", "--root", root, "--cpu-map", LibvirtCPU.mapDirectory])
        #expect(arm.status == 1 && arm.err.contains("no 'flags' line: not an x86 CPU"), "\(arm.err)")
    }
}

@Suite("CPU compare", .serialized)
struct CPUCompareTests {
    @Test("pairs of generated host CPUs: the relation and missing features virsh's own feature expansion implies")
    func generatedPairs() throws {
        let map = try LibvirtCPU.map()
        let models = CPUModels(map: map)
        var generator = CPUSetGenerator(map: map, seed: 9001)
        let directory = LibvirtCPU.directory()
        defer { FakeSysfs.removeTree(directory) }
        var files: [String] = []
        var cpus: [CPUDefinition] = []
        for number in 0..<160 {
            let vendor: CPUSetGenerator.Vendor = number % 2 == 0 ? .intel : .amd
            let pool = map.models.filter { $0.decodeHost && ($0.vendor == nil || $0.vendor == (vendor == .intel ? "Intel" : "AMD")) }
            let model = pool[Int.random(in: 0..<pool.count, using: &generator.rng)]
            // Same-model neighbours (2n, 2n+1 share one) so identical and superset happen too.
            let cpu = try generator.cpu(vendor: .unnamed, model: number % 4 < 2 ? model : map.model(cpus.last?.model ?? "") ?? model,
                                        remove: number % 8 == 7 ? 0 : 3, add: number % 8 == 7 ? 0 : 3, raw: false)
            let file = try LibvirtCPU.write(cpu.xml, in: directory, "cpu-\(number).xml")
            files.append(file)
            cpus += try CPUDefinition.parseAll(cpu.xml, file: file, kind: .host)
        }
        let expanded = LibvirtCPU.expandedFeatures(try LibvirtCPU.baselines(files, features: true).results)
        var seen: [CPUModels.Relation: Int] = [:]
        for index in stride(from: 0, to: cpus.count - 1, by: 1) {
            let host = cpus[index], cpu = cpus[index + 1]
            let have = try #require(expanded[index]), need = try #require(expanded[index + 1])
            let expected: CPUModels.Relation = have == need ? .identical : need.isSubset(of: have) ? .superset : .incompatible
            let comparison = try models.compare(host: host, cpu)
            seen[comparison.relation, default: 0] += 1
            #expect(comparison.relation == expected, "\(host.source) vs \(cpu.source)")
            #expect(Set(comparison.missing) == (expected == .incompatible ? need.subtracting(have) : []), "\(host.source) vs \(cpu.source)")
            #expect(Set(comparison.extra) == (expected == .superset ? have.subtracting(need) : []), "\(host.source) vs \(cpu.source)")
        }
        #expect((seen[.identical] ?? 0) >= 10 && (seen[.superset] ?? 0) >= 10 && (seen[.incompatible] ?? 0) >= 10, "\(seen)")
        // The command line on a few: exit status 2 for incompatible, JSON with the missing features.
        for index in 0..<12 {
            let result = Vfioctl.capture(["cpu", "compare", files[index + 1], "--host", files[index], "--format", "json"])
            let json = try TestProcess.json(result.out)
            let relation = json["result"] as? String
            #expect(result.status == (relation == "incompatible" ? 2 : 0), "\(result.err)")
            #expect(Set(json["missing_features"] as? [String] ?? []) == (relation == "incompatible" ? expanded[index + 1]?.subtracting(expanded[index] ?? []) : []))
        }
    }

    @Test("every host of a baselined set runs the baseline (identical or superset); the CPU itself is identical")
    func baselineRunsEverywhere() throws {
        let map = try LibvirtCPU.map()
        let models = CPUModels(map: map)
        var generator = CPUSetGenerator(map: map, seed: 31337)
        var checked = 0
        for _ in 0..<80 {
            let cpus = try generator.set().flatMap { try CPUDefinition.parseAll($0, file: "set", kind: .host) }
            guard let baseline = try? models.baseline(cpus) else { continue }
            let guest = try CPUDefinition.parseAll(CPUOutput.guestElement(baseline).rendered(), file: "baseline.xml", kind: nil)[0]
            #expect(guest.kind == .guest && guest.match == .exact)
            for host in cpus {
                let relation = try models.compare(host: host, guest).relation
                #expect(relation == .identical || relation == .superset, "\(host.source): \(relation)")
                #expect(try models.compare(host: host, host).relation == .identical)
                checked += 1
            }
        }
        #expect(checked >= 150)
    }

    @Test("this host (a fixture root) against the seed's CPUs and its own")
    func commandLine() throws {
        let directory = LibvirtCPU.directory()
        defer { FakeSysfs.removeTree(directory) }
        FakeSysfs(root: directory).write("proc/cpuinfo", try String(contentsOfFile: CPUHostTests.fixtures + "/core2-workstation.txt", encoding: .utf8))
        let common = ["--root", directory, "--cpu-map", LibvirtCPU.mapDirectory]
        let own = Vfioctl.capture(["cpu", "host", "--format", "xml"] + common)
        let ownFile = try LibvirtCPU.write(own.out, in: directory, "own.xml")
        let identical = Vfioctl.capture(["cpu", "compare", ownFile] + common)
        #expect(identical.status == 0 && identical.out.hasPrefix("identical: "), "\(identical.out)\(identical.err)")
        #expect(identical.out.contains("host-passthrough guests can migrate"))
        let workstation = try LibvirtCPU.write(SeedPair.workstation, in: directory, "workstation.xml")
        let superset = Vfioctl.capture(["cpu", "compare", workstation] + common)
        #expect(superset.status == 0 && superset.out.hasPrefix("superset: "), "\(superset.out)\(superset.err)")
        #expect(superset.out.contains("host-passthrough guests cannot migrate"))
        let server = try LibvirtCPU.write(SeedPair.server, in: directory, "server.xml")
        let incompatible = Vfioctl.capture(["cpu", "compare", server, "--format", "json"] + common)
        #expect(incompatible.status == 2, "\(incompatible.err)")
        let json = try TestProcess.json(incompatible.out)
        #expect(json["result"] as? String == "incompatible" && json["host_passthrough_migratable"] as? Bool == false)
        #expect((json["missing_features"] as? [String])?.contains("3dnowprefetch") == true)
        let pair = try LibvirtCPU.write(SeedPair.workstation + SeedPair.server, in: directory, "pair.xml")
        let first = Vfioctl.capture(["cpu", "compare", pair] + common)
        #expect(first.status == 0 && first.out.hasPrefix("superset: ") && first.err.contains("warning: \(pair) holds 2 CPUs: comparing the first"))
        let passthrough = try LibvirtCPU.write("<cpu mode='host-passthrough'/>", in: directory, "pt.xml")
        let refused = Vfioctl.capture(["cpu", "compare", passthrough] + common)
        #expect(refused.status == 64 && refused.err.contains("names no CPU model to compare") && refused.err.contains("hint: "))
        let vendor = try LibvirtCPU.write("<cpu><model>EPYC</model><vendor>AMD</vendor></cpu>", in: directory, "amd.xml")
        let wrongVendor = Vfioctl.capture(["cpu", "compare", vendor] + common)
        #expect(wrongVendor.status == 2 && wrongVendor.out.contains("host CPU vendor does not match required CPU vendor AMD"))
    }
}

@Suite("CPU xml cpu: libvirt accepts the domain <cpu>")
struct CPUDomainXMLTests {
    static func define(_ cpu: String) throws -> String {
        let domain = """
            <domain type='kvm'>
              <name>vfioctl-test</name>
              <memory unit='KiB'>65536</memory>
              <os><type arch='x86_64' machine='pc'>hvm</type></os>
            \(cpu)</domain>

            """
        return try Libvirt.judge(domain, schema: "domain", define: "define", dump: "dumpxml vfioctl-test")
    }

    @Test("host-passthrough: the element and a note on migration; libvirt keeps it")
    func hostPassthrough() throws {
        let result = Vfioctl.capture(["xml", "cpu", "--host-passthrough"])
        #expect(result.status == 0 && result.out.contains("<cpu mode='host-passthrough' check='none' migratable='on'/>"))
        #expect(result.out.contains("migrates only to hosts with an identical CPU"))
        let dumped = try Self.define(result.out)
        #expect(dumped.contains("<cpu mode='host-passthrough' check='none' migratable='on'/>"), "\(dumped)")
    }

    @Test("baseline of the seed pair: the custom model, a note, and libvirt keeps model and features")
    func baseline() throws {
        let directory = LibvirtCPU.directory()
        defer { FakeSysfs.removeTree(directory) }
        let workstation = try LibvirtCPU.write(SeedPair.workstation, in: directory, "workstation.xml")
        let server = try LibvirtCPU.write(SeedPair.server, in: directory, "server.xml")
        let result = Vfioctl.capture(["xml", "cpu", "--baseline", workstation, server])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out.hasPrefix("<!-- Baseline of 2 CPUs: guests with this <cpu> can migrate between all those hosts"))
        #expect(result.out.hasSuffix(SeedPair.baseline))
        let dumped = try Self.define(result.out)
        #expect(dumped.contains("<model fallback='allow'>kvm32</model>") && dumped.contains("<feature policy='require' name='lahf_lm'/>"), "\(dumped)")
    }

    @Test("xml cpu needs exactly one of --host-passthrough and --baseline", arguments: [
        [], ["--host-passthrough", "--baseline", "/dev/null"],
    ] as [[String]])
    func usage(arguments: [String]) {
        let result = Vfioctl.capture(["xml", "cpu"] + arguments)
        #expect(result.status == 64 && result.err.hasPrefix("error: ") && result.err.contains("hint: "), "\(result.err)")
    }
}
