import Testing
import VFIOCore

@Suite("JSON writer")
struct JSONTests {
    @Test("keys are sorted, nested values indented, strings escaped")
    func serialization() {
        let value = JSON.object([
            "b": .array([.int(1), .null, .bool(true)]),
            "a": .string("quote \" backslash \\ newline \n tab \t bell \u{07} é"),
            "c": .object([:]),
            "d": .array([]),
        ])
        #expect(value.serialized() == """
            {
              "a": "quote \\" backslash \\\\ newline \\n tab \\t bell \\u0007 é",
              "b": [
                1,
                null,
                true
              ],
              "c": {},
              "d": []
            }

            """)
    }

    @Test("documents carry schema_version")
    func document() {
        #expect(JSON.document(["functions": .array([])]).serialized() == "{\n  \"functions\": [],\n  \"schema_version\": 1\n}\n")
    }
}

@Suite("Text tables")
struct TextTableTests {
    @Test("columns align and the last one is not padded")
    func alignment() {
        let table = TextTable(header: ["A", "LONGER", "C"], rows: [["xxx", "y", "last"], ["z", "", "end"]])
        #expect(table.render() == """
            A    LONGER  C
            xxx  y       last
            z            end

            """)
    }
}

@Suite("Multifunction devices")
struct MultifunctionTests {
    static func function(_ address: String, header: UInt8?, physfn: String? = nil) -> PCIFunction {
        var f = PCIFunction(address: PCIAddress(address)!, vendorID: 0x8086, deviceID: 0x100e, classCode: 0x020000,
                            sysfsPath: "sys/devices/pci0000:00/\(address)")
        f.headerType = header
        f.physfn = physfn.flatMap { PCIAddress($0) }
        return f
    }

    static func snapshot(_ functions: [PCIFunction]) -> HostSnapshot {
        HostSnapshot(functions: functions, groups: [], iommu: IOMMUState(units: [], groupsDirectoryExists: false, groupCount: 0),
                     cpuVendor: .intel)
    }

    @Test("only function 0 sets the header bit (as QEMU does): every function of the slot is multifunction")
    func functionZeroDecides() {
        let s = Self.snapshot([Self.function("0000:00:14.0", header: 0x80), Self.function("0000:00:14.1", header: 0x00)])
        #expect(s.functions.map(\.isMultifunction) == [true, true])
    }

    @Test("a lone function without the bit is not; unknown config space stays unknown")
    func single() {
        let s = Self.snapshot([Self.function("0000:00:02.0", header: 0x00), Self.function("0000:00:03.0", header: nil)])
        #expect(s.functions.map(\.isMultifunction) == [false, nil])
    }

    @Test("VFs packed into one slot number by ARI are not a multifunction device")
    func virtualFunctions() {
        let s = Self.snapshot([Self.function("0000:03:00.0", header: 0x00),
                               Self.function("0000:03:10.0", header: 0x00, physfn: "0000:03:00.0"),
                               Self.function("0000:03:10.1", header: 0x00, physfn: "0000:03:00.0")])
        #expect(s.functions.map(\.isMultifunction) == [false, false, false])
    }
}
