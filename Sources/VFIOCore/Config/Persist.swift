/// `vfioctl persist`: assignments to vfio-pci that survive a reboot, per function (so one of two
/// identical GPUs can go to a guest, which `vfio-pci ids=` cannot do) and per IOMMU group.
///
/// Each function is recorded with what identifies it: its address, its position in the PCI
/// hierarchy (the sysfs DEVPATH: root port, bridges, function) and its IDs (vendor, device,
/// subsystem, class). At boot a udev rule matching all of them sets driver_override before a
/// host driver module loads, and `vfioctl persist apply` (vfioctl-persist.service) finishes the
/// job through the journaled actuator for what a host driver took first. A set whose functions
/// moved (bus renumbering after a card was added), changed (another card in the slot) or whose
/// group grew is refused: nothing of it is bound, and the reason is said. Pure.
public enum Persist {
    public static let recordsPath = "/etc/vfioctl/persist.conf"
    public static let udevRulesPath = "/etc/udev/rules.d/60-vfioctl-persist.rules"
    public static let unitName = "vfioctl-persist.service"
    public static let unitPath = "/etc/systemd/system/" + unitName

    public struct Record: Sendable, Equatable {
        /// The set it belongs to (one IOMMU group when recorded): its lowest endpoint address.
        public var set: PCIAddress
        public var address: PCIAddress
        /// The kernel's DEVPATH: "/devices/pci0000:00/0000:00:01.0/0000:01:00.0".
        public var devpath: String
        public var vendorID: UInt16
        public var deviceID: UInt16
        public var subsystemVendorID: UInt16?
        public var subsystemDeviceID: UInt16?
        public var classCode: UInt32
        /// The host driver it had when recorded (for people, and `persist remove` hints).
        public var driver: String?
        /// Its Device Serial Number, when it has one: what tells two identical cards apart, so a
        /// swap between slots is caught (IDs and position alone match either).
        public var serialNumber: UInt64?
        /// The reset methods the udev rule writes to its reset_method (Linux 5.15) when it is
        /// added, in the kernel's words and the order chosen ("bus", "flr pm"); nil: the kernel's.
        public var resetMethod: [String]?
        /// The vfio driver it is bound to at boot: a vfio-pci variant driver (`vfio_driver=` in
        /// the file, chosen as detach chooses), or vfio-pci (nil; no key).
        public var vfioDriver: String?

        public init(set: PCIAddress, address: PCIAddress, devpath: String, vendorID: UInt16, deviceID: UInt16,
                    subsystemVendorID: UInt16?, subsystemDeviceID: UInt16?, classCode: UInt32, driver: String?,
                    serialNumber: UInt64? = nil, resetMethod: [String]? = nil, vfioDriver: String? = nil) {
            (self.set, self.address, self.devpath, self.vendorID, self.deviceID) = (set, address, devpath, vendorID, deviceID)
            (self.subsystemVendorID, self.subsystemDeviceID, self.classCode, self.driver) = (subsystemVendorID, subsystemDeviceID, classCode, driver)
            self.serialNumber = serialNumber
            self.resetMethod = resetMethod
            self.vfioDriver = vfioDriver.flatMap { StubDriver.isVFIOPCI($0) ? nil : $0 }
        }

        /// The record of `f` as it is now; nil when its sysfs path is not under /sys/devices.
        public init?(_ f: PCIFunction, set: PCIAddress, driver: String?, vfioDriver: String? = nil) {
            guard let devpath = Persist.devpath(f) else { return nil }
            self.init(set: set, address: f.address, devpath: devpath, vendorID: f.vendorID, deviceID: f.deviceID,
                      subsystemVendorID: f.subsystemVendorID, subsystemDeviceID: f.subsystemDeviceID, classCode: f.classCode, driver: driver,
                      serialNumber: f.capabilities?.serialNumber, vfioDriver: vfioDriver)
        }

        /// The driver the udev rule and `persist apply` bind it to.
        public var boundDriver: String { vfioDriver ?? StubDriver.vfioPCI }

        public var ids: String { hex4(vendorID) + ":" + hex4(deviceID) }
        public var subsystem: String? {
            guard let vendor = subsystemVendorID, let device = subsystemDeviceID else { return nil }
            return hex4(vendor) + ":" + hex4(device)
        }
        public var classText: String { "0x" + HexDigits.padded(UInt64(classCode), width: 6) }
    }

    static func hex4(_ value: UInt16) -> String { HexDigits.padded(UInt64(value), width: 4) }

    /// "/devices/..." from the function's sysfs path, when it is the kernel's real one.
    public static func devpath(_ f: PCIFunction) -> String? {
        f.sysfsPath.hasPrefix("sys/devices/") ? String(f.sysfsPath.dropFirst(3)) : nil
    }

    // MARK: the records file

    public static let header = """
        # vfioctl persistent assignments to vfio-pci: written by 'vfioctl persist', read at boot by
        # \(unitName) ('vfioctl persist apply') and mirrored in \(udevRulesPath).
        # One function per line; the functions of one set (an IOMMU group) are bound together or not at all.
        # A function is bound only while its address, position (devpath) and IDs all still match.

        """

    public static func render(_ records: [Record]) -> String {
        header + sorted(records).map { r in
            "set=\(r.set) address=\(r.address) devpath=\(r.devpath) id=\(r.ids)" + (r.subsystem.map { " subsystem=\($0)" } ?? "")
                + " class=\(r.classText)" + (r.serialNumber.map { " serial=" + SerialNumber.text($0) } ?? "")
                + (r.resetMethod.map { " reset_method=" + $0.joined(separator: ",") } ?? "")
                + (r.driver.map { " driver=\($0)" } ?? "") + (r.vfioDriver.map { " vfio_driver=\($0)" } ?? "") + "\n"
        }.joined()
    }

    static func sorted(_ records: [Record]) -> [Record] {
        records.sorted { ($0.set, $0.address) < ($1.set, $1.address) }
    }

    public static func parse(_ text: String, path: String = recordsPath) throws(VFIOError) -> [Record] {
        var records: [Record] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            func bad(_ why: String) -> VFIOError {
                .failed("\(path) line \(index + 1): \(why): '\(String(line).printable)'",
                        hint: "fix or delete the line (vfioctl persist remove ADDRESS --write rewrites the file)")
            }
            var fields: [String: Substring] = [:]
            for word in trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                let parts = word.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { throw bad("'\(word)' is not KEY=VALUE") }
                fields[String(parts[0])] = parts[1]
            }
            guard let set = fields["set"].flatMap({ PCIAddress($0) }), let address = fields["address"].flatMap({ PCIAddress($0) }) else {
                throw bad("set= and address= must be PCI addresses")
            }
            guard let devpath = fields["devpath"], devpath.hasPrefix("/devices/") else { throw bad("devpath= must start with /devices/") }
            guard let id = fields["id"].flatMap(pair) else { throw bad("id= must be VVVV:DDDD") }
            let subsystem = fields["subsystem"].flatMap(pair)
            if fields["subsystem"] != nil && subsystem == nil { throw bad("subsystem= must be VVVV:DDDD") }
            guard let classText = fields["class"], classText.hasPrefix("0x"), let classCode = UInt32(classText.dropFirst(2), radix: 16),
                  classCode <= 0xffffff else { throw bad("class= must be 0xCCSSPP") }
            let serial = fields["serial"].flatMap(SerialNumber.parse)
            if fields["serial"] != nil && serial == nil { throw bad("serial= must be eight hex bytes, as lspci prints a Device Serial Number (00-1b-21-ff-ff-4a-5c-10)") }
            var resetMethod: [String]?
            if let text = fields["reset_method"] {
                let methods = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                guard !methods.isEmpty, methods.allSatisfy(ResetMethod.known.contains), Set(methods).count == methods.count else {
                    throw bad("reset_method= must be reset methods the kernel knows, comma separated (" + ResetMethod.known.joined(separator: ", ") + ")")
                }
                resetMethod = methods
            }
            var vfioDriver: String?
            if let text = fields["vfio_driver"] {
                guard case .named(let name) = VFIODriverChoice.parse(String(text)) else { throw bad("vfio_driver= must be a driver name (vfio-pci or a variant's module)") }
                vfioDriver = name
            }
            records.append(Record(set: set, address: address, devpath: String(devpath), vendorID: id.0, deviceID: id.1,
                                  subsystemVendorID: subsystem?.0, subsystemDeviceID: subsystem?.1, classCode: classCode,
                                  driver: fields["driver"].map(String.init), serialNumber: serial, resetMethod: resetMethod, vfioDriver: vfioDriver))
        }
        return records
    }

    static func pair(_ text: Substring) -> (UInt16, UInt16)? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, parts.allSatisfy({ $0.count == 4 }), let a = UInt16(parts[0], radix: 16), let b = UInt16(parts[1], radix: 16) else { return nil }
        return (a, b)
    }

    /// The records with `sets` replaced by `added` (a set recorded again replaces its old lines).
    public static func merge(_ existing: [Record], adding added: [Record]) -> [Record] {
        let sets = Set(added.map(\.set))
        let addresses = Set(added.map(\.address))
        return sorted(existing.filter { !sets.contains($0.set) && !addresses.contains($0.address) } + added)
    }

    /// `added` with the reset methods chosen for `chosen` (nil: the kernel's default), and for
    /// every other function the one recorded before (at the same position), so recording a set
    /// again does not forget a choice.
    public static func withResetMethods(_ added: [Record], existing: [Record], chosen: [PCIAddress: [String]?]) -> [Record] {
        let before = Dictionary(existing.map { ($0.address, $0) }, uniquingKeysWith: { first, _ in first })
        return added.map { record in
            var record = record
            if let choice = chosen[record.address] {
                record.resetMethod = choice
            } else if let old = before[record.address], old.devpath == record.devpath {
                record.resetMethod = old.resetMethod
            }
            return record
        }
    }

    /// The records without the sets that hold any of `addresses`.
    public static func removing(_ addresses: Set<PCIAddress>, from records: [Record]) -> [Record] {
        let sets = Set(records.filter { addresses.contains($0.address) || addresses.contains($0.set) }.map(\.set))
        return records.filter { !sets.contains($0.set) }
    }

    // MARK: the udev rule and the systemd unit

    public static func udevRules(_ records: [Record]) -> String {
        var out = """
            # Written by vfioctl (vfioctl persist --write) from \(recordsPath): do not edit, run vfioctl persist.
            # Each rule matches one recorded function by address, position (DEVPATH) and IDs, so a moved or
            # different device does not match. It sets driver_override before udev loads the host driver's
            # module (80-drivers.rules), loads vfio-pci (or the variant driver recorded) and asks the kernel
            # to probe the function again; where a reset method was chosen (vfioctl persist --reset-method),
            # it writes reset_method.
            # Whatever a host driver took before udev ran, \(unitName) moves to vfio-pci.

            """
        for r in sorted(records) {
            var match = "ACTION==\"add\", SUBSYSTEM==\"pci\", KERNEL==\"\(r.address)\", DEVPATH==\"\(r.devpath)\", "
            match += "ATTR{vendor}==\"0x\(hex4(r.vendorID))\", ATTR{device}==\"0x\(hex4(r.deviceID))\", "
            if let vendor = r.subsystemVendorID, let device = r.subsystemDeviceID {
                match += "ATTR{subsystem_vendor}==\"0x\(hex4(vendor))\", ATTR{subsystem_device}==\"0x\(hex4(device))\", "
            }
            match += "ATTR{class}==\"\(r.classText)\", "
            // The reset methods chosen, as `echo "bus" > reset_method` takes them (space separated).
            if let methods = r.resetMethod { match += "ATTR{reset_method}=\"" + methods.joined(separator: " ") + "\", " }
            out += match + "ATTR{driver_override}=\"\(r.boundDriver)\", RUN{builtin}+=\"kmod load \(r.boundDriver)\", "
                + "RUN+=\"/bin/sh -c 'echo $kernel > /sys/bus/pci/drivers_probe'\"\n"
        }
        return out
    }

    /// Where the package installs vfioctl (scripts/package, scripts/install).
    public static let packagedBinary = "/usr/sbin/vfioctl"

    /// Where the unit runs vfioctl from: the running executable where it is installed; the
    /// package's place when it runs from elsewhere (a build directory, a test runner).
    public static func installedBinary(running: String?) -> String {
        guard let running, running.hasSuffix("/vfioctl"), !running.contains("/.build") else { return packagedBinary }
        return running
    }

    /// vfioctl-persist.service: once per boot, after udev has seen the devices and before libvirt,
    /// the display manager and networking start.
    public static func unit(binary: String) -> String {
        """
        # Written by vfioctl (vfioctl persist --write). Binds the functions recorded in \(recordsPath)
        # to vfio-pci at boot, through vfioctl's journal; refuses a set whose devices moved or changed.
        [Unit]
        Description=vfioctl: bind recorded PCI functions to vfio-pci
        Documentation=https://github.com/vfioctl/vfioctl#persistent-assignments
        DefaultDependencies=no
        ConditionPathExists=\(recordsPath)
        Wants=systemd-udev-trigger.service
        After=systemd-udev-trigger.service systemd-modules-load.service local-fs.target
        Before=sysinit.target network-pre.target libvirtd.service virtqemud.service display-manager.service shutdown.target
        Wants=network-pre.target
        Conflicts=shutdown.target
        RequiresMountsFor=/var/lib/vfioctl

        [Service]
        Type=oneshot
        RemainAfterExit=yes
        ExecStart=\(binary) persist apply --wait 120

        [Install]
        WantedBy=sysinit.target

        """
    }

    // MARK: verification

    /// One recorded set against the host as it is now.
    public struct SetState: Sendable, Equatable {
        public var set: PCIAddress
        public var records: [Record]
        /// Empty: the set can be bound. Otherwise why not, one line each.
        public var problems: [String]
        /// The IOMMU group it is in now (when its functions are present and share one).
        public var group: Int?
        /// Functions of the set already on vfio-pci.
        public var bound: [PCIAddress]

        public var ready: Bool { problems.isEmpty }
    }

    public static func verify(_ records: [Record], _ snapshot: HostSnapshot) -> [SetState] {
        let sets = Dictionary(grouping: records, by: \.set)
        return sets.keys.sorted().map { set in
            let members = (sets[set] ?? []).sorted { $0.address < $1.address }
            var problems: [String] = []
            var groups: Set<Int> = []
            var bound: [PCIAddress] = []
            for r in members {
                guard let f = snapshot.function(r.address) else {
                    problems.append("\(r.address) (\(r.ids)) is not on this host any more" + moved(r, snapshot))
                    continue
                }
                let now = Record(f, set: set, driver: nil)
                if f.vendorID != r.vendorID || f.deviceID != r.deviceID || f.classCode != r.classCode
                    || (r.subsystem != nil && now?.subsystem != r.subsystem) {
                    problems.append("\(r.address) is now \(f.ids)" + (now?.subsystem.map { " (subsystem \($0))" } ?? "")
                                    + ", recorded as \(r.ids)" + (r.subsystem.map { " (subsystem \($0))" } ?? "") + ": another device is in that slot"
                                    + moved(r, snapshot))
                    continue
                }
                // Identical cards swapped between slots: same IDs, same position, another serial.
                if let recorded = r.serialNumber, let serial = f.capabilities?.serialNumber, serial != recorded {
                    let elsewhere = snapshot.functions.first { $0.address != r.address && $0.capabilities?.serialNumber == recorded }
                    problems.append("\(r.address) (\(f.ids)) has serial number \(SerialNumber.text(serial)), recorded as "
                                    + SerialNumber.text(recorded) + ": an identical card is in that slot"
                                    + (elsewhere.map { "; the recorded one is at \($0.address) (record it again there: vfioctl persist \($0.address) --write)" }
                                        ?? ""))
                    continue
                }
                if now?.devpath != r.devpath {
                    problems.append("\(r.address) sits at \(now?.devpath ?? "an unknown position"), recorded at \(r.devpath): the PCI hierarchy changed")
                    continue
                }
                if let group = f.iommuGroup { groups.insert(group) } else { problems.append("\(r.address) is in no IOMMU group (is the IOMMU on?)") }
                if StubDriver.isVFIO(f) { bound.append(f.address) }
            }
            var current: Int?
            if problems.isEmpty {
                if groups.count == 1, let group = groups.first {
                    current = group
                    let recorded = Set(members.map(\.address))
                    let extra = snapshot.endpoints(ofGroup: group).filter { !recorded.contains($0) }
                    if !extra.isEmpty {
                        problems.append("group \(group) now also holds " + extra.map(\.description).joined(separator: ", ")
                                        + ", which is not recorded: the group changed (ACS, firmware or kernel)")
                    }
                } else if groups.count > 1 {
                    problems.append("the set is split over IOMMU groups " + groups.sorted().map(String.init).joined(separator: ", ") + " now")
                }
            }
            return SetState(set: set, records: members, problems: problems, group: current, bound: bound)
        }
    }

    /// ", and a device like it is at ADDRESS now" when one with the same IDs sits elsewhere.
    static func moved(_ r: Record, _ snapshot: HostSnapshot) -> String {
        let alike = snapshot.functions.filter { f in
            f.address != r.address && f.vendorID == r.vendorID && f.deviceID == r.deviceID && f.classCode == r.classCode
                && (r.subsystemVendorID == nil || (f.subsystemVendorID == r.subsystemVendorID && f.subsystemDeviceID == r.subsystemDeviceID))
        }
        guard !alike.isEmpty else { return "" }
        return "; one like it is at " + alike.map(\.address.description).joined(separator: ", ")
            + " (if that is the device, record it again: vfioctl persist \(alike[0].address) --write)"
    }
}


/// A function's reset_method (Linux 5.15, drivers/pci/pci-sysfs.c and pci.c): the kernel lists
/// the methods it may use, in the order it tries them; writing a space-separated list of them
/// narrows and orders that list, and "default" restores the kernel's own. Pure.
public enum ResetMethod {
    /// The kernel's names (pci_reset_fn_methods), in its default order.
    public static let known = ["device_specific", "acpi", "flr", "af_flr", "pm", "bus", "cxl_bus"]
    public static let since = (major: 5, minor: 15)

    /// "bus", "flr,pm" or "flr pm" → ["bus"], ["flr", "pm"]; "default" → nil (the kernel's own
    /// order: nothing to write at boot). An unknown name, a repeat or nothing is a usage error.
    public static func parse(_ text: String) throws(VFIOError) -> [String]? {
        let words = text.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init)
        if words == ["default"] { return nil }
        guard !words.isEmpty else {
            throw .usage("--reset-method needs a reset method", hint: "e.g. --reset-method bus, --reset-method flr,pm, or default")
        }
        for word in words where !known.contains(word) {
            throw .usage("'\(word.printable)' is not a reset method the kernel knows",
                         hint: "one or more of " + known.joined(separator: ", ") + " (comma separated), or default")
        }
        guard Set(words).count == words.count else {
            throw .usage("--reset-method '\(text.printable)' names a method twice", hint: "name each method once, in the order the kernel should try them")
        }
        return words
    }

    /// The methods can be written to `f`'s reset_method on this kernel: it has the attribute
    /// (5.15 or later) and lists each of them now.
    public static func validate(_ methods: [String], for f: PCIFunction, kernelRelease: String?) throws(VFIOError) {
        let version = kernelRelease.flatMap(ProcFiles.kernelVersion)
        let tooOld = version.map { $0.major < since.major || ($0.major == since.major && $0.minor < since.minor) } ?? false
        if tooOld || f.resetMethodsUnlisted {
            throw .failed("\(f.address) has no reset_method on this kernel (\(kernelRelease ?? "unknown")): the choice of reset method came in Linux 5.15",
                          hint: "boot a 5.15 or newer kernel to choose it; this one resets through the first method that works")
        }
        guard !f.resetMethods.isEmpty else {
            throw .failed("\(f.address) lists no reset method (its reset_method is empty or missing): there is none to choose",
                          hint: "'vfioctl show \(f.address)' shows its reset methods; a device without one can only be reset with its slot or bus")
        }
        for method in methods where !f.resetMethods.contains(method) {
            throw .failed("\(f.address) cannot reset by '\(method)': its reset_method lists " + f.resetMethods.joined(separator: " "),
                          hint: "choose among " + f.resetMethods.joined(separator: ", ")
                              + "; if an earlier write narrowed the list, 'echo default > /sys/bus/pci/devices/\(f.address)/reset_method' restores it")
        }
    }
}
