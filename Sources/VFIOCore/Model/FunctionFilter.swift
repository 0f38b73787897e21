/// Which functions `vfioctl list` shows: `--class`, `--driver`, `--vendor`, `--group`, each
/// repeatable. Values of one option are alternatives (OR); different options must all hold (AND);
/// an option not given holds for every function. Parsed from the command line's strings here, so
/// the command only hands them over.
public struct FunctionFilter: Sendable, Equatable {
    public var classes: [ClassMatch] = []
    public var drivers: [DriverMatch] = []
    public var vendors: [IDMatch] = []
    public var groups: [Int] = []
    /// The options as given ("--class network", "--group 14"), for saying what matched nothing.
    public var options: [String] = []

    public init() {}

    public init(classes: [String] = [], drivers: [String] = [], vendors: [String] = [], groups: [String] = [])
        throws(VFIOError) {
        for text in classes { self.classes.append(try ClassMatch.parse(text)) }
        for text in drivers { self.drivers.append(try DriverMatch.parse(text)) }
        for text in vendors { self.vendors.append(try IDMatch.parse(text)) }
        for text in groups { self.groups.append(try IOMMUGroup.number(text)) }
        options = classes.map { "--class " + $0.printable } + drivers.map { "--driver " + $0.printable }
            + vendors.map { "--vendor " + $0.printable } + groups.map { "--group " + $0.printable }
    }

    /// No option given: every function matches.
    public var isEmpty: Bool { classes.isEmpty && drivers.isEmpty && vendors.isEmpty && groups.isEmpty }

    public func matches(_ f: PCIFunction) -> Bool {
        (classes.isEmpty || classes.contains { $0.matches(f.classCode) })
            && (drivers.isEmpty || drivers.contains { $0.matches(f.driver) })
            && (vendors.isEmpty || vendors.contains { $0.matches(f) })
            && (groups.isEmpty || f.iommuGroup.map(groups.contains) == true)
    }

    /// The functions that match, in their order: what both the text and the JSON of `list` show.
    public func select(_ functions: [PCIFunction]) -> [PCIFunction] {
        isEmpty ? functions : functions.filter(matches)
    }

    /// The mediated devices that match: by driver and group; none when a class or vendor is asked
    /// for (an mdev has neither).
    public func select(_ mdevs: [MediatedDevice]) -> [MediatedDevice] {
        guard classes.isEmpty && vendors.isEmpty else { return [] }
        return mdevs.filter { mdev in
            (drivers.isEmpty || drivers.contains { $0.matches(mdev.driver) }) && (groups.isEmpty || mdev.iommuGroup.map(groups.contains) == true)
        }
    }

    /// "No PCI functions match --class network --driver none."
    public var noMatchMessage: String { "No PCI functions match " + options.joined(separator: " ") + "." }
}

/// A class as `--class` takes it: a base-class word, or the leading hex digits of the class code.
public struct ClassMatch: Sendable, Equatable {
    /// The class code's leading `digits` hex digits (2: base class, 4: base and subclass, 6: with
    /// the programming interface; 0: every class).
    public var prefix: UInt32
    public var digits: Int

    public init(prefix: UInt32, digits: Int) {
        (self.prefix, self.digits) = (prefix, digits)
    }

    /// `classCode`: the 24-bit class (`0x020000`).
    public func matches(_ classCode: UInt32) -> Bool {
        digits == 0 || classCode >> UInt32(24 - 4 * digits) == prefix
    }

    /// The PCI base classes by name (PCI Code and ID Assignment Specification; Linux's
    /// PCI_BASE_CLASS_* in include/linux/pci_ids.h), in code order.
    public static let words: [(word: String, base: UInt8)] = [
        ("storage", 0x01), ("network", 0x02), ("display", 0x03), ("multimedia", 0x04), ("memory", 0x05),
        ("bridge", 0x06), ("communication", 0x07), ("system", 0x08), ("input", 0x09), ("docking", 0x0a),
        ("processor", 0x0b), ("serial-bus", 0x0c), ("wireless", 0x0d), ("intelligent", 0x0e), ("satellite", 0x0f),
        ("encryption", 0x10), ("signal-processing", 0x11), ("accelerator", 0x12), ("instrumentation", 0x13),
        ("coprocessor", 0x40), ("unassigned", 0xff),
    ]

    /// driverctl's own spellings (`driverctl list-devices CLASS`): "serial" for 0c, "all" for any.
    static let driverctlWords: [String: ClassMatch] = [
        "serial": ClassMatch(prefix: 0x0c, digits: 2), "all": ClassMatch(prefix: 0, digits: 0),
    ]

    /// Every word `--class` takes, for shell completion.
    public static var completions: [String] { words.map(\.word) + driverctlWords.keys.sorted() }

    /// Every word `--class` takes, for help and hints.
    public static var acceptedWords: String { completions.joined(separator: ", ") }

    /// "network" (any case; `_` for `-`), "serial", "all", or hex as lspci -nn shows a class:
    /// "02" (base class), "0200" (with subclass), "020000" (with programming interface); 0x allowed.
    public static func parse(_ text: String) throws(VFIOError) -> ClassMatch {
        let word = String(text.lowercased().map { $0 == "_" ? "-" : $0 })
        if let base = words.first(where: { $0.word == word })?.base { return ClassMatch(prefix: UInt32(base), digits: 2) }
        if let match = driverctlWords[word] { return match }
        let digits = word.hasPrefix("0x") ? word.dropFirst(2) : Substring(word)
        if [2, 4, 6].contains(digits.count), digits.utf8.allSatisfy({ HexDigits.value(of: $0) != nil }),
           let value = UInt32(digits, radix: 16) {
            return ClassMatch(prefix: value, digits: digits.count)
        }
        throw .usage("--class '\(text.printable)' is not a PCI class",
                     hint: "give one of \(acceptedWords), or a hex class code as lspci -nn shows it (02, 0200)")
    }
}

/// A driver as `--driver` takes it: a name, or `none` for functions no driver is bound to.
public enum DriverMatch: Sendable, Equatable {
    case none
    case name(String)

    /// `-` and `_` are one character here, as in module names (`vfio_pci` finds vfio-pci): a driver
    /// is usually named after its module, and people type either.
    public func matches(_ driver: String?) -> Bool {
        switch self {
        case .none: driver == nil
        case .name(let name): driver.map { Self.folded($0) == Self.folded(name) } ?? false
        }
    }

    static func folded(_ name: String) -> String { String(name.map { $0 == "-" ? "_" : $0 }) }

    public static func parse(_ text: String) throws(VFIOError) -> DriverMatch {
        if text == "none" { return .none }
        // A name as /sys/bus/pci/drivers lists it: one path component, printable, no spaces.
        guard !text.isEmpty, text != ".", text != "..",
              text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7f && $0 != "/" }) else {
            throw .usage("--driver '\(text.printable)' is not a driver name",
                         hint: "give a driver as /sys/bus/pci/drivers names it (vfio-pci, nvme, e1000e), or none for functions without one")
        }
        return .name(text)
    }
}

/// Vendor and device ids as `--vendor` (and lspci -d) take them: `8086`, `0x8086`, `8086:10d3`.
public struct IDMatch: Sendable, Equatable {
    public var vendor: UInt16
    public var device: UInt16?

    public init(vendor: UInt16, device: UInt16? = nil) {
        (self.vendor, self.device) = (vendor, device)
    }

    public func matches(_ f: PCIFunction) -> Bool {
        f.vendorID == vendor && device.map { $0 == f.deviceID } ?? true
    }

    public static func parse(_ text: String) throws(VFIOError) -> IDMatch {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let vendor = SysfsValues.hex16(String(parts[0])) else {
            throw .usage("--vendor '\(text.printable)' is not a PCI vendor id",
                         hint: "give the vendor's id in hex, as lspci -nn shows it: 8086, or vendor:device as 8086:10d3")
        }
        guard parts.count == 2 else { return IDMatch(vendor: vendor) }
        guard let device = SysfsValues.hex16(String(parts[1])) else {
            throw .usage("--vendor '\(text.printable)' is not a PCI vendor:device pair",
                         hint: "give both ids in hex, as lspci -nn shows them: 8086:10d3")
        }
        return IDMatch(vendor: vendor, device: device)
    }
}

extension IOMMUGroup {
    /// A group number as the command line gives it: decimal, 0 and up (the kernel's ids are ints).
    public static func number(_ text: String) throws(VFIOError) -> Int {
        guard text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), let id = Int(text) else {
            throw notANumber(text)
        }
        try validate(id)
        return id
    }

    public static func validate(_ id: Int) throws(VFIOError) {
        guard (0...Int(Int32.max)).contains(id) else { throw notANumber(String(id)) }
    }

    static func notANumber(_ text: String) -> VFIOError {
        .usage("'\(text.printable)' is not an IOMMU group number", hint: "groups are numbered from 0: 'vfioctl groups' lists them")
    }
}
