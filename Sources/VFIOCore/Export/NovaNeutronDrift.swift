/// Drift of nova's `[pci]` and neutron's `[sriov_nic]` against the host.
extension ExportDrift {
    /// One nova device_spec as nova 26 matches it (nova/pci/devspec.py).
    struct NovaSpec {
        enum Address {
            case any
            /// PhysicalPciAddress / PciAddressGlobSpec: each field a value or any (nil).
            case glob(domain: UInt32?, bus: UInt8?, slot: UInt8?, function: UInt8?)
            /// PciAddressRegexSpec: each field a regular expression matched at the start.
            case regex([String])
            case devname(String)
        }

        var vendor: UInt16?
        var product: UInt16?
        var address: Address
        var text: String
        var line: Int
        /// The `remote_managed` tag, as oslo's bool_from_string reads it.
        var remoteManaged = false

        /// The exact address, when the spec names one function.
        var exact: PCIAddress? {
            guard case .glob(let d?, let b?, let s?, let f?) = address, s < 32, f < 8 else { return nil }
            return PCIAddress(domain: d, bus: b, device: s, function: f)
        }

        func matches(_ f: PCIFunction, _ snapshot: HostSnapshot) -> Bool {
            if let vendor, vendor != f.vendorID { return false }
            if let product, product != f.deviceID { return false }
            switch address {
            case .any: return true
            case .devname(let name):
                guard let owner = snapshot.function(interface: name) else { return false }
                return owner.address == f.address || (owner.sriov.map { $0.totalVFs > 0 } == true && f.physfn == owner.address)
            case .regex(let patterns):
                let fields = [HexDigits.padded(UInt64(f.address.domain), width: 4), HexDigits.padded(UInt64(f.address.bus), width: 2),
                              HexDigits.padded(UInt64(f.address.device), width: 2), String(f.address.function)]
                return zip(patterns, fields).allSatisfy { pattern, field in
                    guard let regex = try? Regex(pattern) else { return false }
                    return (try? regex.prefixMatch(in: field)) != nil
                }
            case .glob(let domain, let bus, let slot, let function):
                func fits(_ a: PCIAddress) -> Bool {
                    (domain.map { $0 == a.domain } ?? true) && (bus.map { $0 == a.bus } ?? true)
                        && (slot.map { $0 == a.device } ?? true) && (function.map { $0 == a.function } ?? true)
                }
                if fits(f.address) { return true }
                // An exact address of a PF matches its VFs (WhitelistPciAddress with is_physical_function).
                if let exact, let pf = f.physfn, pf == exact, snapshot.function(exact)?.sriov.map({ $0.totalVFs > 0 }) == true { return true }
                return false
            }
        }
    }

    static func hexField(_ text: String, max: UInt32) -> UInt32?? {
        let trimmed = text.trimmingWhitespace()
        if trimmed.isEmpty || trimmed == "*" { return .some(nil) }
        guard trimmed.count <= 8, let value = UInt32(trimmed, radix: 16), value <= max else { return nil }
        return .some(value)
    }

    static func novaSpec(_ object: JSONObject, text: String, line: Int, file: String) throws(VFIOError) -> NovaSpec {
        func string(_ key: String) throws(VFIOError) -> String? {
            guard let value = object[key] else { return nil }
            guard case .string(let text) = value else {
                throw .usage("\(file):\(line): device_spec's \(key) is not a string: nova refuses the file", hint: "write \"\(key)\": \"...\"")
            }
            return text
        }
        func id(_ key: String) throws(VFIOError) -> UInt16? {
            guard let text = try string(key), text.trimmingWhitespace() != "*" else { return nil }
            guard let value = UInt16(text.trimmingWhitespace(), radix: 16) else {
                throw .usage("\(file):\(line): device_spec's \(key) '\(text.printable)' is not hex: nova refuses the file", hint: "4 hex digits, as lspci -nn shows them")
            }
            return value
        }
        var address = NovaSpec.Address.any
        if let devname = try string("devname") {
            address = .devname(devname)
        } else if case .object(let fields)? = object["address"] {
            var patterns: [String] = []
            for key in ["domain", "bus", "slot", "function"] {
                if case .string(let pattern)? = fields[key] { patterns.append(pattern) } else { patterns.append(".*") }
            }
            address = .regex(patterns)
        } else if let text = try string("address") {
            let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
            var fields = parts[0].split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard fields.count <= 3 else {
                throw .usage("\(file):\(line): device_spec address '\(text.printable)' has too many ':' (nova: PciDeviceWrongAddressFormat)", hint: "DDDD:BB:SS.F")
            }
            while fields.count < 3 { fields.insert("*", at: 0) }
            let function = parts.count > 1 ? hexField(String(parts[1]), max: 7) : .some(nil)
            let domain = hexField(fields[0], max: UInt32.max), bus = hexField(fields[1], max: 0xff), slot = hexField(fields[2], max: 0x1f)
            guard let domain, let bus, let slot, let function else {
                throw .usage("\(file):\(line): device_spec address '\(text.printable)' is not an address nova reads", hint: "DDDD:BB:SS.F, '*' for any field")
            }
            address = .glob(domain: domain, bus: bus.map(UInt8.init), slot: slot.map(UInt8.init), function: function.map(UInt8.init))
        }
        let remote = (try string("remote_managed")).map { ["1", "t", "true", "on", "y", "yes"].contains($0.trimmingWhitespace().lowercased()) } ?? false
        return NovaSpec(vendor: try id("vendor_id"), product: try id("product_id"), address: address, text: text, line: line, remoteManaged: remote)
    }

    /// A remote_managed spec as nova checks it at startup (devspec.py: a spec naming a PF's
    /// address is checked against the PF's ids, which nova 26 reads from a `product` file sysfs
    /// does not have, so it always fails; later nova refuses the PF's own ids) and as it matches
    /// devices (one without a card serial number in its or its PF's VPD is dropped).
    static func remoteManaged(_ spec: NovaSpec, matched: [PCIFunction], subject: String, _ snapshot: HostSnapshot,
                              vpd: ([PCIFunction]) -> [PCIAddress: VPDReading]) -> [Finding] {
        if let exact = spec.exact, let pf = snapshot.function(exact), let sriov = pf.sriov, sriov.totalVFs > 0 {
            return [Finding("nova.remote-managed-pf", .error, subject,
                            "device_spec \(spec.text) tags the address of PF \(exact) remote_managed: nova-compute refuses the file at startup",
                            hint: "tag its VFs instead: " + regenerate(.nova, "VF...") + " --remote-managed")]
        }
        let readings = vpd(matched)
        let missing = matched.compactMap { f -> String? in
            let found = readings.cardSerialNumber(of: f)
            return found.serial == nil ? found.source : nil
        }
        guard !missing.isEmpty else { return [] }
        return [Finding("nova.remote-managed-no-serial", .error, subject,
                        "device_spec \(spec.text) is remote_managed, and nova drops a device whose card serial number libvirt cannot read: " + missing.joined(separator: "; "),
                        hint: NovaExport.remoteManagedHint)]
    }

    /// `vpd` reads the VPD of functions a remote_managed spec matches (and their PFs').
    public static func nova(_ text: String, file: String, _ snapshot: HostSnapshot,
                            vpd: ([PCIFunction]) -> [PCIAddress: VPDReading] = { _ in [:] }) throws(VFIOError) -> [Finding] {
        let entries = try parseINI(text, file: file).filter { $0.section == "pci" }
        var specs: [NovaSpec] = []
        var aliases: [(object: JSONObject, line: Int)] = []
        for entry in entries {
            let value: JSON
            do { value = try JSONParser.parse(entry.value) } catch {
                throw .usage("\(file):\(entry.line): [pci] \(entry.key) is not JSON (\(error.message)): nova refuses the file",
                             hint: "one JSON object per line, as vfioctl export nova writes them")
            }
            let objects: [JSONObject]
            switch value {
            case .object(let object): objects = [object]
            case .array(let list): objects = list.compactMap { if case .object(let o) = $0 { o } else { nil } }
            default: objects = []
            }
            switch entry.key {
            case "device_spec", "passthrough_whitelist":
                for object in objects { specs.append(try novaSpec(object, text: entry.value, line: entry.line, file: file)) }
            case "alias":
                for object in objects { aliases.append((object, entry.line)) }
            default: continue
            }
        }
        var findings: [Finding] = []
        var covered = Set<PCIAddress>()
        for spec in specs {
            let subject = "\(file):\(spec.line)"
            if case .glob(let domain?, _, _, _) = spec.address, domain > NovaExport.maxDomain {
                findings.append(Finding("nova.domain-above-ffff", .error, subject,
                                        "device_spec \(spec.text) names PCI domain \(HexDigits.padded(UInt64(domain), width: 4)): nova refuses the whole file (MAX_DOMAIN 0xFFFF)",
                                        hint: NovaExport.vmdHint + "; take the entry out"))
                continue
            }
            let matched = snapshot.functions.filter { !$0.isBridge && spec.matches($0, snapshot) }
            let beyond = matched.filter { $0.address.domain > NovaExport.maxDomain }
            if !beyond.isEmpty {
                findings.append(Finding("nova.domain-above-ffff", .error, subject,
                                        "device_spec \(spec.text) matches " + beyond.map(\.address.description).joined(separator: ", ")
                                            + ", in a PCI domain above 0xFFFF: nova fails on such an address (MAX_DOMAIN)",
                                        hint: NovaExport.vmdHint + "; pin the entry to an address in domain 0000"))
            }
            if spec.remoteManaged {
                let found = remoteManaged(spec, matched: matched, subject: subject, snapshot, vpd: vpd)
                findings += found
                if found.contains(where: { $0.id == "nova.remote-managed-pf" }) { continue }
            }
            if let exact = spec.exact {
                let ids = spec.vendor.flatMap { v in spec.product.map { Export.hex4(v) + ":" + Export.hex4($0) } }
                if let finding = identity(exact, expected: ids, snapshot, format: .nova, file: file, what: "device_spec names") {
                    findings.append(finding)
                    continue
                }
                if let f = snapshot.function(exact), spec.product == nil, let sriov = f.sriov, sriov.totalVFs > 0 {
                    findings.append(Finding("nova.pf-address-matches-vfs", .warning, subject,
                                            "device_spec \(spec.text) holds only the address of PF \(exact): nova matches its VFs too ("
                                                + (sriov.vfs.isEmpty ? "none now" : sriov.vfs.map(\.description).joined(separator: ", ")) + ")",
                                            hint: "pin product_id \"\(Export.hex4(f.deviceID))\" to take the PF alone, or the VFs' \"\(Export.hex4(sriov.vfDeviceID ?? f.deviceID))\" for them"))
                }
            }
            if matched.isEmpty {
                findings.append(Finding("nova.spec-matches-nothing", .error, subject,
                                        "device_spec \(spec.text) matches no PCI function of this host",
                                        hint: "write the entry again for what the host has: " + regenerate(.nova, "ADDRESS")))
            }
            covered.formUnion(matched.map(\.address))
        }
        findings += grownGroups(covered, snapshot, format: .nova, file: file)

        // Aliases: nova's rules (nova/pci/request.py).
        var byName: [String: (type: String?, policy: String, line: Int)] = [:]
        for (object, line) in aliases {
            guard case .string(let name)? = object["name"] else {
                findings.append(Finding("nova.alias-invalid", .error, "\(file):\(line)", "an alias without a name: nova refuses the file",
                                        hint: "give it \"name\""))
                continue
            }
            let type: String? = if case .string(let t)? = object["device_type"] { t } else { nil }
            let policy: String = if case .string(let p)? = object["numa_policy"] { p } else { NovaNUMAPolicy.legacy.rawValue }
            if let first = byName[name] {
                if first.type == nil {
                    findings.append(Finding("nova.alias-invalid", .error, "\(file):\(first.line)",
                                            "alias '\(name)' has no device_type and another alias shares its name: nova's parser fails (KeyError 'dev_type')",
                                            hint: "give every alias its device_type (type-PCI, type-PF or type-VF)"))
                } else if first.type != type || first.policy != policy {
                    findings.append(Finding("nova.alias-invalid", .error, "\(file):\(line)",
                                            "aliases named '\(name)' differ in device_type or numa_policy: nova refuses the file",
                                            hint: "one device_type and one numa_policy per name, or another name"))
                }
            } else {
                byName[name] = (type, policy, line)
            }
            if case .string(let product)? = object["product_id"], case .string(let vendor)? = object["vendor_id"] {
                let ids = vendor.lowercased() + ":" + product.lowercased()
                if !covered.contains(where: { snapshot.function($0).map(Export.ids) == ids }) {
                    findings.append(Finding("nova.alias-matches-nothing", .warning, "\(file):\(line)",
                                            "alias '\(name)' asks for \(ids), and no device_spec of this host's gives one",
                                            hint: "guests asking for it will not be scheduled here; add the device_spec or drop the alias"))
                }
            }
        }
        return findings
    }

    public static func neutron(_ text: String, file: String, _ snapshot: HostSnapshot) throws(VFIOError) -> [Finding] {
        let entries = try parseINI(text, file: file).filter { $0.section == "sriov_nic" }
        var findings: [Finding] = []
        var mapped: [String: PCIFunction] = [:]
        for entry in entries where entry.key == "physical_device_mappings" {
            for mapping in entry.value.split(separator: ",").map({ $0.trimmingWhitespace() }) where !mapping.isEmpty {
                let parts = mapping.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                    findings.append(Finding("neutron.mapping-invalid", .error, "\(file):\(entry.line)",
                                            "'\(mapping.printable)' is not physnet:interface: the agent refuses the file", hint: "physnet1:enp5s0f0"))
                    continue
                }
                let interface = String(parts[1]).trimmingWhitespace()
                guard let pf = snapshot.function(interface: interface) else {
                    findings.append(Finding("neutron.interface-gone", .error, interface,
                                            "\(file) maps \(interface), which no PCI function of this host has: the agent stops ('Device not found')",
                                            hint: "'vfioctl sriov status' lists the PFs and their interfaces; " + regenerate(.neutron, "VF... --physnet NAME")))
                    continue
                }
                mapped[interface] = pf
                guard let sriov = pf.sriov, sriov.totalVFs > 0 else {
                    findings.append(Finding("neutron.not-a-pf", .error, interface,
                                            "\(file) maps \(interface) (\(pf.address)), which is not an SR-IOV PF", hint: "map the PF's interface"))
                    continue
                }
                if sriov.numVFs == 0 {
                    findings.append(Finding("neutron.no-vfs", .warning, interface,
                                            "\(interface) (\(pf.address)) has no VFs now: the agent has nothing to hand out",
                                            hint: "vfioctl sriov create \(interface) --count N, or apply the pool file"))
                }
            }
        }
        var covered = Set<PCIAddress>()
        var excludedAll = Set<PCIAddress>()
        for entry in entries where entry.key == "exclude_devices" {
            for item in entry.value.split(separator: ",").map({ $0.trimmingWhitespace() }) where !item.isEmpty {
                guard let colon = item.firstIndex(of: ":") else {
                    findings.append(Finding("neutron.exclude-invalid", .error, "\(file):\(entry.line)",
                                            "'\(item.printable)' is not interface:VF;VF: the agent refuses the file", hint: "enp5s0f0:0000:05:10.2;0000:05:10.4"))
                    continue
                }
                let interface = String(item[..<colon]).trimmingWhitespace()
                guard let pf = mapped[interface] else {
                    findings.append(Finding("neutron.exclude-unmapped", .error, interface,
                                            "\(file) excludes VFs of \(interface), which physical_device_mappings does not map: the agent refuses the file",
                                            hint: "map \(interface) or drop its exclusions"))
                    continue
                }
                for text in item[item.index(after: colon)...].split(separator: ";").map({ $0.trimmingWhitespace() }) where !text.isEmpty {
                    guard let address = PCIAddress(text) else {
                        findings.append(Finding("neutron.exclude-invalid", .error, interface, "\(file) excludes '\(text.printable)', which is no PCI address",
                                                hint: "DDDD:BB:SS.F"))
                        continue
                    }
                    excludedAll.insert(address)
                    if snapshot.function(address)?.physfn != pf.address {
                        findings.append(Finding("neutron.exclude-gone", .error, address.description,
                                                "\(file) excludes \(address) of \(interface), which is not a VF of \(pf.address) now: the VF it meant to keep from guests is handed out",
                                                hint: "exclude the VFs \(interface) has now: " + regenerate(.neutron, "VF... --physnet NAME")))
                    }
                }
            }
        }
        for pf in mapped.values { covered.formUnion((pf.sriov?.vfs ?? []).filter { !excludedAll.contains($0) }) }
        findings += grownGroups(covered, snapshot, format: .neutron, file: file)
        return findings
    }
}
