import Testing
import VFIOCore

@Suite("pci.ids excerpt")
struct PCIIDsTests {
    static let ids = """
        # comment
        1af4  Red Hat, Inc.
        \t1000  Virtio network device
        \t\t1af4 0001  Virtio network device
        # a comment inside a block

        8086  Intel Corporation
        \t10d3  82574L Gigabit Network Connection
        \t\t8086 a01f  Gigabit CT Desktop Adapter
        10de  NVIDIA Corporation
        \t1b80  GP104 [GeForce GTX 1080]
        C 02  Network controller
        \t00  Ethernet controller
        C ff  Unassigned class

        """

    static func excerpt(_ devices: [UInt16: Set<UInt16>], vendors: Set<UInt16> = []) -> String {
        let bytes = Array(ids.utf8)
        return String(decoding: bytes.withUnsafeBytes { PCIIDs.excerpt($0, devices: devices, vendors: vendors) }, as: UTF8.self)
    }

    @Test("the lines of the devices asked for (vendor, device, subsystems), subsystem vendors' lines, every class; no comments or blank lines")
    func blocks() {
        #expect(Self.excerpt([0x8086: [0x10d3]]) == """
            8086  Intel Corporation
            \t10d3  82574L Gigabit Network Connection
            \t\t8086 a01f  Gigabit CT Desktop Adapter
            C 02  Network controller
            \t00  Ethernet controller
            C ff  Unassigned class

            """)
        // A comment inside a block does not end it.
        #expect(Self.excerpt([0x1af4: [0x1000]]).hasPrefix("1af4  Red Hat, Inc.\n\t1000  Virtio network device\n\t\t1af4 0001  Virtio network device\nC 02"))
        #expect(Self.excerpt([:]) == "C 02  Network controller\n\t00  Ethernet controller\nC ff  Unassigned class\n")
        // Another device of the vendor: its vendor line only; a subsystem vendor: its line only.
        #expect(Self.excerpt([0x8086: [0x1234]], vendors: [0x10de]).hasPrefix("8086  Intel Corporation\n10de  NVIDIA Corporation\nC 02"))
    }
}
