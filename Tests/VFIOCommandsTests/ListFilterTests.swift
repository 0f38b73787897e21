import Foundation
import Testing
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// `vfioctl list --class/--driver/--vendor/--group` and its lspci -nn columns (issue 18), on the
/// command tests' fake host with the repository's pci.ids.
@Suite("list filters and columns")
struct ListFilterTests {
    static func run(_ fake: FakeSysfs, _ arguments: [String]) -> (status: Int32, out: String, err: String) {
        Vfioctl.capture(["list"] + arguments + ["--root", fake.root], invocation: Invocation(pciIDs: Golden.pciIDs))
    }

    static func addresses(_ fake: FakeSysfs, _ arguments: [String]) throws -> [String] {
        let result = run(fake, arguments + ["--format", "json"])
        #expect(result.status == 0 && result.err.isEmpty, "\(arguments): \(result.err)")
        let functions = try #require(try json(result.out)["functions"] as? [[String: Any]])
        return functions.compactMap { $0["address"] as? String }
    }

    @Test("JSON lists only what matches: one option's values OR, options AND", arguments: [
        (["--class", "network"], ["0000:01:00.0", "10000:e1:00.0", "10000:e1:10.0"]),
        (["--class", "0200", "--driver", "ixgbevf", "--driver", "e1000e"], ["0000:01:00.0", "10000:e1:10.0"]),
        (["--class", "display", "--class", "multimedia"], ["0000:02:00.0", "0000:02:00.1"]),
        (["--vendor", "10de", "--group", "17"], ["0000:02:00.0", "0000:02:00.1"]),
        (["--vendor", "8086:10fb"], ["10000:e1:00.0"]),
        (["--vendor", "0x8086", "--class", "bridge"], ["0000:00:1c.0"]),
        (["--group", "14", "--group", "40"], ["0000:01:00.0", "10000:e1:10.0"]),
        (["--group=3"], ["10000:e1:00.0"]),
        (["--class", "all"], ["0000:00:1c.0", "0000:01:00.0", "0000:02:00.0", "0000:02:00.1", "10000:e1:00.0", "10000:e1:10.0"]),
        (["--class", "storage"], []),
        (["--class", "network", "--vendor", "10de"], []),
    ] as [([String], [String])])
    func jsonFiltered(arguments: [String], expected: [String]) throws {
        let fake = commandFixture()
        defer { fake.remove() }
        #expect(try Self.addresses(fake, arguments) == expected)
    }

    @Test("the text shows the same rows as the JSON, and says plainly when nothing matches (exit 0)")
    func textFiltered() throws {
        let fake = commandFixture()
        defer { fake.remove() }
        let network = Self.run(fake, ["--class", "network", "--driver", "ixgbe", "--driver", "ixgbevf"])
        #expect(network.status == 0 && network.err.isEmpty)
        let rows = network.out.split(separator: "\n").dropFirst().map { String($0.prefix { $0 != " " }) }
        #expect(rows == ["10000:e1:00.0", "10000:e1:10.0"], "\(network.out)")
        let none = Self.run(fake, ["--class", "network", "--group", "17"])
        #expect(none.status == 0 && none.err.isEmpty)
        #expect(none.out == "No PCI functions match --class network --group 17.\n")
        #expect(Self.run(fake, ["--class", "storage"]).out == "No PCI functions match --class storage.\n")
    }

    @Test("--driver none: the functions no driver is bound to")
    func noDriver() throws {
        var fake = commandFixture()
        defer { fake.remove() }
        fake.add(FakeFunction("0000:03:00.0", vendor: 0x8086, device: 0x10d3, class: 0x020000, group: 20))
        fake.build()
        #expect(try Self.addresses(fake, ["--driver", "none"]) == ["0000:03:00.0"])
        #expect(try Self.addresses(fake, ["--driver", "none", "--driver", "e1000e"]) == ["0000:01:00.0", "0000:03:00.0"])
        let text = Self.run(fake, ["--driver", "none"]).out
        #expect(text.contains("0000:03:00.0  20     8086:10d3  Ethernet controller [0200]  -  "), "\(text)")
    }

    @Test("list and groups: CLASS with its code and the device's revision, as lspci -nn prints them")
    func lspciColumns() throws {
        var fake = commandFixture()
        defer { fake.remove() }
        // A function of revision 00: lspci prints no "(rev 00)".
        var zero = FakeFunction("0000:03:00.0", vendor: 0x8086, device: 0x10d3, class: 0x020000, group: 20)
        zero.revision = 0
        fake.add(zero)
        fake.build()
        for command in [[String](), ["groups"]] {
            let arguments = command.isEmpty ? ["list"] : command
            let result = Vfioctl.capture(arguments + ["--root", fake.root], invocation: Invocation(pciIDs: Golden.pciIDs))
            #expect(result.status == 0, "\(result.err)")
            let nic = try #require(result.out.split(separator: "\n").first { $0.contains("0000:01:00.0") })
            #expect(nic.contains("  Ethernet controller [0200]  e1000e "), "\(arguments): \(nic)")
            #expect(nic.hasSuffix("  Intel Corporation 82574L Gigabit Network Connection (rev 01)"), "\(arguments): \(nic)")
            let bridge = try #require(result.out.split(separator: "\n").first { $0.contains("0000:00:1c.0") })
            #expect(bridge.contains("PCI bridge [0604]") && bridge.hasSuffix("(rev 01)"), "\(arguments): \(bridge)")
            let unrevised = try #require(result.out.split(separator: "\n").first { $0.contains("0000:03:00.0") })
            #expect(unrevised.hasSuffix("82574L Gigabit Network Connection"), "\(arguments): \(unrevised)")
        }
    }

    @Test("bad values: an error line naming the value, a hint with the accepted forms, exit 64, nothing on stdout", arguments: [
        (["--class", "gpu"], "error: --class 'gpu' is not a PCI class\n",
         "hint: give one of storage, network, display, multimedia, memory, bridge, communication, system, input, docking, processor, serial-bus, wireless, intelligent, satellite, encryption, signal-processing, accelerator, instrumentation, coprocessor, unassigned, all, serial, or a hex class code as lspci -nn shows it (02, 0200)\n"),
        (["--class", "network", "--class", "020"], "error: --class '020' is not a PCI class\n", "hint: give one of storage, "),
        (["--vendor", "intel"], "error: --vendor 'intel' is not a PCI vendor id\n", "hint: give the vendor's id in hex"),
        (["--vendor", "8086:10d3:02"], "error: --vendor '8086:10d3:02' is not a PCI vendor:device pair\n", "hint: give both ids in hex"),
        (["--driver", "vfio pci"], "error: --driver 'vfio pci' is not a driver name\n", "or none for functions without one"),
        (["--group", "-1"], "error: '-1' is not an IOMMU group number\n", "hint: groups are numbered from 0"),
        (["--group", "fourteen"], "error: 'fourteen' is not an IOMMU group number\n", "hint: groups are numbered from 0"),
        (["--format", "json", "--group", "-3"], "error: '-3' is not an IOMMU group number\n", "hint: groups are numbered from 0"),
    ] as [([String], String, String)])
    func badValues(arguments: [String], error: String, hint: String) {
        let fake = commandFixture()
        defer { fake.remove() }
        let result = Self.run(fake, arguments)
        #expect(result.status == 64)
        #expect(result.out.isEmpty)
        #expect(result.err.hasPrefix(error), "\(result.err)")
        #expect(result.err.contains(hint), "\(result.err)")
    }

    @Test("--help and shell completion name every class word and the filters")
    func help() throws {
        let result = Vfioctl.capture(["list", "--help"])
        #expect(result.status == 0)
        for word in ClassMatch.words.map(\.word) + ["--class", "--driver", "--vendor", "--group", "8086:10d3"] {
            #expect(result.out.contains(word), "\(word)")
        }
        // Shell completion offers the class words after --class.
        let bash = Vfioctl.capture(["--generate-completion-script", "bash"])
        #expect(bash.status == 0)
        let offered = try #require(bash.out.components(separatedBy: "'--class')").dropFirst().first?
            .split(separator: "\n").first, "\(bash.out.prefix(2000))")
        for word in ClassMatch.completions { #expect(offered.contains("'\(word)'"), "\(word): \(offered)") }
    }
}
