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
