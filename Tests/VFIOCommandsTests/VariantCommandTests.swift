import Foundation
import Testing
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// vfio-pci variant drivers through the commands: show names the best, detach and persist bind it
/// unless --driver says otherwise, xml hostdev writes libvirt 10's <driver model=.../>; on the
/// check host's bridged pair of e1000 NICs (group 3, 8086:100e), with a module index depmod made.
@Suite("vfio-pci variant drivers: commands", .serialized)
struct VariantCommandTests {
    typealias Host = BindingCommandTests.Host

    static let aliases = ["e1000": ["pci:v00008086d0000100Esv*sd*bc*sc*i*"],
                          "vfio_pci": ["vfio_pci:v*d*sv*sd*bc*sc*i*"],
                          "e1000_vfio_pci": ["vfio_pci:v00008086d0000100Esv*sd*bc*sc*i*"],
                          "intel_vfio_pci": ["vfio_pci:v00008086d*sv*sd*bc*sc*i*"]]
    static let variant = "e1000_vfio_pci"
    static let alias = "vfio_pci:v00008086d0000100Esv*sd*bc*sc*i*"

    static func host(index: Bool = true) throws -> Host {
        try Host(modules: [variant: variant, "intel_vfio_pci": "intel_vfio_pci"]) { if index { $0.moduleAliases = aliases } }
    }

    @Test("show: the best variant in text (with its alias) and JSON, the others listed; unknown without modules.alias")
    func show() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let text = host.run(["show", "0000:02:01.0"])
        #expect(text.status == 0, "\(text.err)")
        let line = text.out.split(separator: "\n").first { $0.contains("vfio driver:") }.map(String.init) ?? ""
        #expect(line.hasSuffix("\(Self.variant) (best vfio_pci alias match: \(Self.alias))"), "\(text.out)")
        #expect(text.out.contains("e1000_vfio_pci intel_vfio_pci"), "\(text.out)")
        let (status, document, _) = try host.json(["show", "0000:02:01.0"])
        #expect(status == 0 && document["vfio_variant"] as? String == Self.variant)
        #expect(document["vfio_variant_modules"] as? [String] == [Self.variant, "intel_vfio_pci"])
        // The NVMe: only vfio_pci's match-all alias... and intel_vfio_pci is not Samsung's.
        let (_, nvme, _) = try host.json(["show", "0000:03:00.0"])
        #expect(nvme["vfio_variant"] is NSNull && nvme["vfio_variant_modules"] as? [String] == [])
        let bare = try Self.host(index: false)
        defer { bare.fake.remove() }
        let (_, unknown, _) = try bare.json(["show", "0000:02:01.0"])
        #expect(unknown["vfio_variant"] is NSNull && unknown["vfio_variant_modules"] is NSNull)
    }

    @Test("detach --dry-run: the variant's module loaded, override and verify name it, a finding says why; nothing written")
    func dryRun() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let (status, document, _) = try host.json(["detach", "--group", "3", "--dry-run"])
        #expect(status == 0 && host.kernel.writes.isEmpty)
        let plan = document["plan"] as? [[String: Any]] ?? []
        let steps = plan.map { "\($0["action"] as? String ?? "") \($0["value"] as? String ?? "")" }
        #expect(steps.first == "load-module \(Self.variant)", "\(steps)")
        #expect(!steps.contains("load-module vfio-pci"), "\(steps)")
        #expect(steps.filter { $0 == "set-override \(Self.variant)" }.count == 2, "\(steps)")
        let findings = document["findings"] as? [[String: Any]] ?? []
        let chosen = findings.filter { $0["id"] as? String == VFIODriverChoice.chosenID }
        #expect(chosen.count == 2)
        #expect((chosen.first?["message"] as? String)?.contains("goes to \(Self.variant): best vfio_pci alias match: \(Self.alias)") == true)
        let text = host.run(["detach", "--group", "3", "--dry-run"])
        #expect(text.out.contains("0000:02:01.0 goes to \(Self.variant): best vfio_pci alias match: \(Self.alias)"), "\(text.out)")
    }

    @Test("detach binds the variant (modprobe by name), the group counts as on vfio; reattach restores e1000 exactly")
    func detachReattach() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let detached = host.run(["detach", "--group", "3"])
        #expect(detached.status == 0, "\(detached.out)\(detached.err)")
        #expect(host.kernel.loadedModules == [Self.variant])
        #expect(host.driver("0000:02:01.0")?.hasSuffix(Self.variant) == true)
        #expect(host.driver("0000:02:02.0")?.hasSuffix(Self.variant) == true)
        // A second detach changes nothing: the variant is vfio.
        let again = try host.json(["detach", "--group", "3"])
        #expect(again.0 == 0 && (again.1["plan"] as? [Any])?.isEmpty == true)
        let (_, listed, _) = try host.json(["list"])
        let functions = listed["functions"] as? [[String: Any]] ?? []
        #expect(functions.first { $0["address"] as? String == "0000:02:01.0" }?["vfio_device"] as? Bool == true)
        let reattached = host.run(["reattach", "--group", "3"])
        #expect(reattached.status == 0, "\(reattached.out)\(reattached.err)")
        #expect(host.driver("0000:02:01.0")?.hasSuffix("/e1000") == true)
        #expect(host.driver("0000:02:02.0")?.hasSuffix("/e1000") == true)
    }

    @Test("--driver vfio-pci and --driver NAME (another variant of it) win over the best")
    func driverOption() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let (_, plain, _) = try host.json(["detach", "--group", "3", "--driver", "vfio-pci", "--dry-run"])
        let values = (plain["plan"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String == "set-override" ? $0["value"] as? String : nil }
        #expect(values == ["vfio-pci", "vfio-pci"])
        let detached = host.run(["detach", "--group", "3", "--driver", "intel-vfio-pci"])
        #expect(detached.status == 0, "\(detached.err)")
        #expect(host.driver("0000:02:01.0")?.hasSuffix("intel_vfio_pci") == true)
        #expect(host.kernel.loadedModules == ["intel_vfio_pci"])
    }

    @Test("--driver that is no variant of a function, or unknown variants: error and hint, exit 2, nothing written")
    func refused() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let igb = host.run(["detach", "--group", "3", "--driver", "igb"])
        #expect(igb.status == 2 && host.kernel.writes.isEmpty)
        #expect(igb.err.contains("error: detach refused, nothing was changed: 0000:02:01.0: igb is not a vfio-pci variant driver of 0000:02:01.0"),
                "\(igb.err)")
        #expect(igb.err.contains("hint: leave --driver out for the best match (its best is \(Self.variant), else vfio-pci)"), "\(igb.err)")
        let bad = host.run(["detach", "--group", "3", "--driver", "../x"])
        #expect(bad.status == 64 && bad.err.contains("error: --driver '../x' is not a driver name") && bad.err.contains("hint: "))
        let bare = try Self.host(index: false)
        defer { bare.fake.remove() }
        let unknown = bare.run(["detach", "--group", "3", "--driver", Self.variant])
        #expect(unknown.status == 2 && bare.kernel.writes.isEmpty)
        #expect(unknown.err.contains("cannot tell whether \(Self.variant) is a vfio-pci variant driver"), "\(unknown.err)")
        // Without an index and without --driver: vfio-pci, as before.
        let plain = try bare.json(["detach", "--group", "3", "--dry-run"])
        #expect((plain.1["plan"] as? [[String: Any]])?.first?["value"] as? String == "vfio-pci")
    }

    @Test("persist records the variant (vfio_driver=), the udev rule binds and loads it, persist apply binds it")
    func persist() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let written = host.run(["persist", "0000:02:01.0", "--write"])
        #expect(written.status == 0, "\(written.out)\(written.err)")
        let records = try String(contentsOfFile: host.fake.root + VFIOCore.Persist.recordsPath, encoding: .utf8)
        #expect(records.contains("address=0000:02:01.0") && records.contains("vfio_driver=\(Self.variant)"), "\(records)")
        let rules = try String(contentsOfFile: host.fake.root + VFIOCore.Persist.udevRulesPath, encoding: .utf8)
        #expect(rules.contains("ATTR{driver_override}=\"\(Self.variant)\", RUN{builtin}+=\"kmod load \(Self.variant)\""), "\(rules)")
        #expect(!rules.contains("vfio-pci\""))
        let parsed = try VFIOCore.Persist.parse(records)
        #expect(parsed.allSatisfy { $0.vfioDriver == Self.variant })
        let applied = host.run(["persist", "apply"])
        #expect(applied.status == 0, "\(applied.out)\(applied.err)")
        #expect(host.driver("0000:02:02.0")?.hasSuffix(Self.variant) == true)
        let (_, status, _) = try host.json(["persist", "status"])
        let sets = status["sets"] as? [[String: Any]] ?? []
        #expect(sets.first?["state"] as? String == "bound", "\(sets)")

        let vfio = try Self.host()
        defer { vfio.fake.remove() }
        #expect(vfio.run(["persist", "0000:02:01.0", "--driver", "vfio-pci", "--write"]).status == 0)
        let plain = try String(contentsOfFile: vfio.fake.root + VFIOCore.Persist.recordsPath, encoding: .utf8)
        #expect(!plain.contains("vfio_driver="))
        let refused = vfio.run(["persist", "0000:02:01.0", "--driver", "igb"])
        // What detach refuses is not recorded: exit 2, the reason with the findings.
        #expect(refused.status == 2 && refused.out.contains("igb is not a vfio-pci variant driver of 0000:02:01.0"), "\(refused.out)")
        #expect(refused.err.contains("error: not recorded"), "\(refused.err)")
    }

    @Test("a record's vfio_driver= must be a driver name")
    func persistParse() throws {
        let line = "set=0000:02:01.0 address=0000:02:01.0 devpath=/devices/pci0000:00/0000:00:1e.0/0000:02:01.0 id=8086:100e class=0x020000"
        #expect(try VFIOCore.Persist.parse(line + " vfio_driver=e1000_vfio_pci\n").first?.vfioDriver == "e1000_vfio_pci")
        #expect(try VFIOCore.Persist.parse(line + " vfio_driver=vfio-pci\n").first?.vfioDriver == nil)
        #expect(throws: VFIOError.self) { try VFIOCore.Persist.parse(line + " vfio_driver=../evil\n") }
    }

    @Test("xml hostdev --driver-model: <driver model=.../> that libvirt 11's domain schema accepts; a name no variant of it is refused")
    func driverModel() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let result = host.run(["xml", "hostdev", "--group", "3", "--driver", "vfio", "--driver-model", Self.variant, "--managed", "no"])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out.contains("<driver name='vfio' model='\(Self.variant)'/>"), "\(result.out)")
        #expect(result.out.components(separatedBy: "model='").count == 3)
        try Self.validate11(result.out)
        let modelOnly = host.run(["xml", "hostdev", "0000:02:01.0", "--driver-model", "intel_vfio_pci"])
        #expect(modelOnly.out.contains("<driver model='intel_vfio_pci'/>"), "\(modelOnly.out)")
        try Self.validate11(modelOnly.out)
        // The oracle can fail: a model libvirt's grammar does not allow.
        #expect(throws: LibvirtRejected.self) { try Self.validate11(modelOnly.out.replacingOccurrences(of: "intel_vfio_pci", with: "a b")) }

        let refused = host.run(["xml", "hostdev", "--group", "3", "--driver-model", "igb"])
        #expect(refused.status == 1 && refused.out.isEmpty)
        #expect(refused.err.contains("error: igb is not a vfio-pci variant driver of 0000:02:01.0") && refused.err.contains("hint: "), "\(refused.err)")
        let bad = host.run(["xml", "hostdev", "--group", "3", "--driver-model", "a'b"])
        #expect(bad.status == 64 && bad.err.contains("--driver-model 'a'b' is not a driver name"), "\(bad.err)")
    }

    /// The hostdevs inside a minimal domain, validated by xmllint against libvirt 11.3's domain.rng
    /// (fixtures/libvirt-11-schemas: bookworm's libvirt 9 does not know <driver model=.../>).
    static func validate11(_ hostdevs: String) throws {
        let domain = Libvirt.domain(hostdevs)
        let file = try Libvirt.temporary(domain)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let schema = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("fixtures/libvirt-11-schemas/domain.rng").path
        let result = try TestProcess.run("xmllint", ["--noout", "--relaxng", schema, file], timeout: 60)
        guard result.status == 0 else { throw LibvirtRejected("libvirt 11's domain.rng rejected:\n\(domain)\n\(result.err)") }
    }
}
