import Foundation
import Testing
import VFIOCore

@Suite("PCI addresses")
struct PCIAddressTests {
    @Test("accepted spellings parse to the kernel's canonical form", arguments: [
        ("0000:01:00.0", "0000:01:00.0"),
        ("01:00.0", "0000:01:00.0"),
        ("0000:0A:1F.7", "0000:0a:1f.7"),
        ("10000:e1:00.0", "10000:e1:00.0"),   // VMD domain, 5 hex digits
        ("ffffffff:ff:1f.7", "ffffffff:ff:1f.7"),
        ("1:2:3.4", "0001:02:03.4"),
        ("c0a8:00:00.0", "c0a8:00:00.0"),
    ])
    func parses(input: String, canonical: String) throws {
        let address = try #require(PCIAddress(input))
        #expect(address.description == canonical)
        #expect(PCIAddress(address.description) == address)
    }

    @Test("everything else is rejected", arguments: [
        "", "0000:01:00", "0000:01:00.8", "0000:01:20.0", "0000:100:00.0", "100000000:00:00.0",
        "../../etc", "0000:01:00.0/../x", " 01:00.0", "01:00.0\n", "g0:00.0", "0000:01:00.0.1",
        "0000::00.0", ":01:00.0", "01:00.", "0x01:00.0", "0000:01:00.-1", "01.00.0",
    ])
    func rejects(input: String) {
        #expect(PCIAddress(input) == nil)
    }

    @Test("parse(_:) throws a usage error that echoes the value safely")
    func parseError() {
        #expect(throws: VFIOError.self) { try PCIAddress.parse("zz") }
        do {
            _ = try PCIAddress.parse("bad\u{1b}[2J")
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .usage)
            #expect(error.exitCode == 64)
            #expect(error.message.contains("bad\\x1b[2J"))
            #expect(error.hint?.contains("DDDD:BB:SS.F") == true)
        }
    }

    @Test("libvirt's node-device names: pci_ and the kernel's name with ':' and '.' as '_', every domain digit kept", arguments: [
        ("0000:01:00.0", "pci_0000_01_00_0"),
        ("0000:0a:1f.7", "pci_0000_0a_1f_7"),
        ("10000:e1:00.0", "pci_10000_e1_00_0"),   // VMD: virsh nodedev-list prints the 5 digits the kernel does
        ("ffffffff:ff:1f.7", "pci_ffffffff_ff_1f_7"),
        ("0001:02:03.4", "pci_0001_02_03_4"),
    ])
    func nodeDeviceNames(address: String, name: String) throws {
        let parsed = try #require(PCIAddress(address))
        #expect(parsed.nodeDeviceName == name)
        #expect(PCIAddress(nodeDevice: name) == parsed)
        #expect(PCIAddress(argument: name) == parsed)
        #expect(PCIAddress(argument: address) == parsed)
        #expect(try PCIAddress.parse(name) == parsed)
        // What the kernel writes (sysfs entries and links) stays addresses only.
        #expect(PCIAddress(name) == nil)
    }

    @Test("node-device names round-trip for every bus, slot and function, and domains past 0xffff")
    func nodeDeviceRoundTrip() {
        for domain: UInt32 in [0, 1, 0xffff, 0x10000, 0x12345678, 0xffffffff] {
            for bus in stride(from: 0, through: 0xff, by: 0x33) {
                for device in 0..<32 {
                    for function in 0..<8 {
                        let address = PCIAddress(domain: domain, bus: UInt8(bus), device: UInt8(device), function: UInt8(function))
                        #expect(PCIAddress(nodeDevice: address.nodeDeviceName) == address, "\(address)")
                        #expect(PCIAddress(nodeDevice: address.nodeDeviceName.uppercased().replacingOccurrences(of: "PCI_", with: "pci_"))
                                == address, "\(address) in upper case")
                    }
                }
            }
        }
    }

    @Test("hex digits of a node-device name in either case; the name printed lower-case as libvirt prints it")
    func nodeDeviceCase() throws {
        let address = try #require(PCIAddress(argument: "pci_0000_0A_1F_7"))
        #expect(address.description == "0000:0a:1f.7" && address.nodeDeviceName == "pci_0000_0a_1f_7")
        #expect(PCIAddress(argument: "pci_1000A_E1_00_0")?.description == "1000a:e1:00.0")
        // The prefix is libvirt's subsystem name, written as libvirt writes it.
        #expect(PCIAddress(argument: "PCI_0000_01_00_0") == nil && PCIAddress(argument: "Pci_0000_01_00_0") == nil)
    }

    @Test("no other form is a node-device name", arguments: [
        "pci_", "pci_01_00_0",                            // libvirt always writes the domain
        "pci_0000_01_00", "pci_0000_01_00_0_0", "pci_0000_01_00_8", "pci_0000_01_20_0", "pci_0000_01_00_00",
        "pci_000_01_00_0", "pci_100000000_00_00_0",       // 4 to 8 domain digits, as the kernel writes them
        "pci_0000_1_00_0", "pci_0000_001_00_0", "pci_0000_01_0_0",
        "pci_0000:01:00.0", "pci_0000_01:00.0", "pci__0000_01_00_0", "pci_0000__01_00_0", "pci_0000_01_00_0_",
        "pci_0000_01_00_0\n", " pci_0000_01_00_0", "pci_0000_01_00_0 ", "pci_g000_01_00_0", "pci_-000_01_00_0",
        "pci_0x00_01_00_0", "usb_0000_01_00_0", "net_eth0_00_11_22_33_44_55", "pci-0000-01-00-0", "pci_0000_01_00_\u{0}",
        "0000_01_00_0", "computer",
    ])
    func rejectsNodeDevice(input: String) {
        #expect(PCIAddress(nodeDevice: input) == nil)
        #expect(PCIAddress(argument: input) == nil)
    }

    @Test("a bad name or address is a usage error naming it, with a hint giving both spellings")
    func parseErrorSpellings() {
        for (input, message) in [("pci_0000_01_00", "'pci_0000_01_00' is not libvirt's node-device name of a PCI function"),
                                 ("pci_0000_01_00_9", "'pci_0000_01_00_9' is not libvirt's node-device name of a PCI function"),
                                 ("0000:01:00", "'0000:01:00' is not a PCI address"),
                                 ("enp1s0", "'enp1s0' is not a PCI address")] {
            do {
                _ = try PCIAddress.parse(input)
                Issue.record("\(input): expected an error")
            } catch {
                #expect(error.kind == .usage && error.message == message)
                #expect(error.hint?.contains("DDDD:BB:SS.F") == true && error.hint?.contains("0000:01:00.0") == true, "\(error)")
                #expect(error.hint?.contains("pci_DDDD_BB_SS_F") == true && error.hint?.contains("pci_0000_01_00_0") == true, "\(error)")
            }
        }
    }

    @Test("ordering is numeric across domains, buses, slots and functions")
    func ordering() throws {
        let sorted = ["10000:00:00.0", "0000:00:1f.0", "0000:00:02.0", "0000:0a:00.0", "0000:00:02.1", "0001:00:00.0"]
            .compactMap { PCIAddress($0) }.sorted().map(\.description)
        #expect(sorted == ["0000:00:02.0", "0000:00:02.1", "0000:00:1f.0", "0000:0a:00.0", "0001:00:00.0", "10000:00:00.0"])
    }

    @Test("slot and bus relations")
    func relations() throws {
        let a = try #require(PCIAddress("0000:01:00.1"))
        #expect(a.slot.description == "0000:01:00.0")
        #expect(a.isOnSameBus(as: try #require(PCIAddress("0000:01:1f.0"))))
        #expect(!a.isOnSameBus(as: try #require(PCIAddress("0001:01:00.0"))))
    }
}
