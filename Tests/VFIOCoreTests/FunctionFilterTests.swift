import Testing
import VFIOCore

@Suite("list filters")
struct FunctionFilterTests {
    static func function(_ address: String, vendor: UInt16 = 0x8086, device: UInt16 = 0x10d3, class classCode: UInt32 = 0x020000,
                         driver: String? = nil, group: Int? = nil) -> PCIFunction {
        var f = PCIFunction(address: PCIAddress(address)!, vendorID: vendor, deviceID: device, classCode: classCode,
                            sysfsPath: "sys/devices/pci0000:00/\(address)")
        f.driver = driver
        f.iommuGroup = group
        return f
    }

    static let nic = function("0000:01:00.0", driver: "e1000e", group: 14)
    static let vfioNIC = function("0000:01:00.1", driver: "vfio-pci", group: 15)
    static let gpu = function("0000:02:00.0", vendor: 0x10de, device: 0x1b80, class: 0x030000, driver: "nouveau", group: 17)
    static let audio = function("0000:02:00.1", vendor: 0x10de, device: 0x10f0, class: 0x040300, group: 17)
    static let nvme = function("0000:03:00.0", vendor: 0x144d, device: 0xa808, class: 0x010802, driver: "nvme")
    static let usb = function("0000:00:14.0", device: 0xa36d, class: 0x0c0330, driver: "xhci_hcd", group: 5)
    static let all = [usb, nic, vfioNIC, gpu, audio, nvme]

    static func selected(_ filter: FunctionFilter) -> [String] { filter.select(all).map(\.address.description) }

    @Test("every base-class word (and driverctl's serial, all) selects its base class", arguments: [
        ("storage", ["0000:03:00.0"]), ("network", ["0000:01:00.0", "0000:01:00.1"]), ("display", ["0000:02:00.0"]),
        ("multimedia", ["0000:02:00.1"]), ("serial-bus", ["0000:00:14.0"]), ("serial", ["0000:00:14.0"]),
        ("bridge", []), ("Network", ["0000:01:00.0", "0000:01:00.1"]), ("SIGNAL_PROCESSING", []),
        ("all", ["0000:00:14.0", "0000:01:00.0", "0000:01:00.1", "0000:02:00.0", "0000:02:00.1", "0000:03:00.0"]),
    ] as [(String, [String])])
    func classWords(word: String, expected: [String]) throws {
        #expect(Self.selected(try FunctionFilter(classes: [word])) == expected)
    }

    @Test("driverctl's list-devices classes are all accepted, with the codes it gives them")
    func driverctlClasses() throws {
        // driverctl 0.111: devclasses=([all]="" [storage]=01 ... [serial]=0c)
        let driverctl: [(String, UInt32)] = [("storage", 0x01), ("network", 0x02), ("display", 0x03), ("multimedia", 0x04),
                                             ("memory", 0x05), ("bridge", 0x06), ("communication", 0x07), ("system", 0x08),
                                             ("input", 0x09), ("docking", 0x0a), ("processor", 0x0b), ("serial", 0x0c)]
        for (word, base) in driverctl { #expect(try ClassMatch.parse(word) == ClassMatch(prefix: base, digits: 2), "\(word)") }
        #expect(try ClassMatch.parse("all").matches(0xff0000) && ClassMatch.parse("all").matches(0))
        #expect(ClassMatch.words.map(\.base) == [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d,
                                                 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x40, 0xff])
    }

    @Test("hex class codes: base, base+sub (lspci -nn), with programming interface, 0x allowed", arguments: [
        ("02", ["0000:01:00.0", "0000:01:00.1"]), ("0108", ["0000:03:00.0"]), ("0x0c03", ["0000:00:14.0"]),
        ("0c0330", ["0000:00:14.0"]), ("0c0320", []), ("0403", ["0000:02:00.1"]), ("0C03", ["0000:00:14.0"]), ("03", ["0000:02:00.0"]),
    ] as [(String, [String])])
    func classCodes(code: String, expected: [String]) throws {
        #expect(Self.selected(try FunctionFilter(classes: [code])) == expected)
    }

    @Test("drivers by name (- and _ alike, as module names), none for no driver")
    func drivers() throws {
        #expect(Self.selected(try FunctionFilter(drivers: ["e1000e"])) == ["0000:01:00.0"])
        #expect(Self.selected(try FunctionFilter(drivers: ["vfio_pci"])) == ["0000:01:00.1"])
        #expect(Self.selected(try FunctionFilter(drivers: ["xhci-hcd"])) == ["0000:00:14.0"])
        #expect(Self.selected(try FunctionFilter(drivers: ["none"])) == ["0000:02:00.1"])
        #expect(Self.selected(try FunctionFilter(drivers: ["nvme", "none"])) == ["0000:02:00.1", "0000:03:00.0"])
        #expect(Self.selected(try FunctionFilter(drivers: ["igb"])) == [])
    }

    @Test("vendors: hex, 0x, vendor:device as lspci -d")
    func vendors() throws {
        #expect(Self.selected(try FunctionFilter(vendors: ["10de"])) == ["0000:02:00.0", "0000:02:00.1"])
        #expect(Self.selected(try FunctionFilter(vendors: ["0x10DE"])) == ["0000:02:00.0", "0000:02:00.1"])
        #expect(Self.selected(try FunctionFilter(vendors: ["10de:10f0"])) == ["0000:02:00.1"])
        #expect(Self.selected(try FunctionFilter(vendors: ["8086:10d3", "144d"])) == ["0000:01:00.0", "0000:01:00.1", "0000:03:00.0"])
        #expect(try IDMatch.parse("0x8086:0x10d3") == IDMatch(vendor: 0x8086, device: 0x10d3))
    }

    @Test("groups; a function in no group matches no --group")
    func groups() throws {
        #expect(Self.selected(try FunctionFilter(groups: ["17"])) == ["0000:02:00.0", "0000:02:00.1"])
        #expect(Self.selected(try FunctionFilter(groups: ["5", "14"])) == ["0000:00:14.0", "0000:01:00.0"])
        #expect(Self.selected(try FunctionFilter(groups: ["0"])) == [])
    }

    @Test("values of one option OR, options AND; no option keeps every function in order")
    func combining() throws {
        let filter = try FunctionFilter(classes: ["network", "display"], drivers: ["e1000e", "nouveau", "xhci_hcd"])
        #expect(Self.selected(filter) == ["0000:01:00.0", "0000:02:00.0"])
        #expect(Self.selected(try FunctionFilter(classes: ["network"], vendors: ["10de"])) == [])
        #expect(Self.selected(try FunctionFilter(classes: ["display", "multimedia"], groups: ["17"])) == ["0000:02:00.0", "0000:02:00.1"])
        #expect(FunctionFilter().isEmpty && Self.selected(FunctionFilter()) == Self.all.map(\.address.description))
    }

    @Test("what matched nothing is said with the options as given")
    func noMatchMessage() throws {
        #expect(try FunctionFilter(classes: ["network"]).noMatchMessage == "No PCI functions match --class network.")
        #expect(try FunctionFilter(classes: ["02"], drivers: ["none"], vendors: ["8086"], groups: ["3"]).noMatchMessage
            == "No PCI functions match --class 02 --driver none --vendor 8086 --group 3.")
    }

    @Test("bad values: usage errors naming the value, with the accepted forms", arguments: [
        ("classes", "netwrok", "--class 'netwrok' is not a PCI class", "network"),
        ("classes", "020", "--class '020' is not a PCI class", "0200"),
        ("classes", "0x", "--class '0x' is not a PCI class", "serial-bus"),
        ("classes", "", "--class '' is not a PCI class", "storage"),
        ("vendors", "intel", "--vendor 'intel' is not a PCI vendor id", "8086"),
        ("vendors", "18086", "--vendor '18086' is not a PCI vendor id", "8086"),
        ("vendors", "8086:xyz", "--vendor '8086:xyz' is not a PCI vendor:device pair", "8086:10d3"),
        ("vendors", "8086:", "--vendor '8086:' is not a PCI vendor:device pair", "8086:10d3"),
        ("drivers", "", "--driver '' is not a driver name", "none"),
        ("drivers", "../vfio-pci", "--driver '../vfio-pci' is not a driver name", "none"),
        ("drivers", "a b", "--driver 'a b' is not a driver name", "vfio-pci"),
        ("groups", "-1", "'-1' is not an IOMMU group number", "numbered from 0"),
        ("groups", "+3", "'+3' is not an IOMMU group number", "numbered from 0"),
        ("groups", "2147483648", "'2147483648' is not an IOMMU group number", "numbered from 0"),
        ("groups", "99999999999999999999999", "'99999999999999999999999' is not an IOMMU group number", "numbered from 0"),
        ("groups", "one", "'one' is not an IOMMU group number", "numbered from 0"),
    ] as [(String, String, String, String)])
    func badValues(option: String, value: String, message: String, hint: String) {
        do {
            _ = try FunctionFilter(classes: option == "classes" ? [value] : [], drivers: option == "drivers" ? [value] : [],
                                   vendors: option == "vendors" ? [value] : [], groups: option == "groups" ? [value] : [])
            Issue.record("accepted: \(message)")
        } catch {
            #expect(error.kind == .usage && error.exitCode == 64)
            #expect(error.message == message)
            #expect(error.hint?.contains(hint) == true, "\(error.hint ?? "")")
        }
    }

    @Test("a class's hint lists every accepted word")
    func hintListsWords() {
        var hint = ""
        do { _ = try ClassMatch.parse("gpu") } catch { hint = error.hint ?? "" }
        #expect(!hint.isEmpty)
        for word in ClassMatch.words.map(\.word) + ["serial", "all"] { #expect(hint.contains(word), "\(word)") }
    }
}

@Suite("lspci -nn columns")
struct InventoryColumnTests {
    static func snapshot(_ functions: [PCIFunction]) -> HostSnapshot {
        HostSnapshot(functions: functions, groups: [], iommu: IOMMUState(units: [], groupsDirectoryExists: false, groupCount: 0),
                     cpuVendor: .intel)
    }

    @Test("class name with its 4-digit code, the device's revision as lspci prints it (none for 00)")
    func columns() {
        var named = FunctionFilterTests.function("0000:01:00.0", driver: "e1000e", group: 14)
        named.className = "Ethernet controller"
        named.vendorName = "Intel Corporation"
        named.deviceName = "82574L Gigabit Network Connection"
        named.revision = 0x03
        var unnamed = FunctionFilterTests.function("0000:05:00.0", class: 0x2a0000)
        unnamed.revision = 0
        var unread = FunctionFilterTests.function("0000:06:00.0", class: 0x030000)
        unread.className = "VGA compatible controller"
        unread.revision = nil
        #expect(named.classWithCode == "Ethernet controller [0200]" && named.revisionSuffix == " (rev 03)")
        #expect(unnamed.classWithCode == "Class 2a00" && unnamed.revisionSuffix == "")
        #expect(unread.classWithCode == "VGA compatible controller [0300]" && unread.revisionSuffix == "")
        let text = InventoryText.list(Self.snapshot([named, unnamed, unread]))
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines[1].contains("  Ethernet controller [0200]  "), "\(text)")
        #expect(lines[1].hasSuffix("  e1000e  Intel Corporation 82574L Gigabit Network Connection (rev 03)"), "\(text)")
        #expect(lines[2].contains("  Class 2a00  "), "\(text)")
        #expect(lines[2].hasSuffix("Vendor 8086 Device 10d3"), "\(text)")
        #expect(lines[3].contains("VGA compatible controller [0300]"), "\(text)")
        #expect(!text.contains("(rev 00)"))
    }

    @Test("list with a filter: the selected rows, or one plain line when none match")
    func filteredText() throws {
        let functions = [FunctionFilterTests.nic, FunctionFilterTests.gpu]
        let network = InventoryText.list(Self.snapshot(functions), filter: try FunctionFilter(classes: ["network"]))
        #expect(network.contains("0000:01:00.0") && !network.contains("0000:02:00.0"))
        let none = InventoryText.list(Self.snapshot(functions), filter: try FunctionFilter(classes: ["storage"]))
        #expect(none == "No PCI functions match --class storage.\n")
        #expect(InventoryText.list(Self.snapshot([]), filter: try FunctionFilter(classes: ["storage"])) == "No PCI functions found.\n")
    }
}
