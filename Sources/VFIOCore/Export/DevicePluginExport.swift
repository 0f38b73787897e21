/// The SR-IOV network device plugin's `config.json` (k8snetworkplumbingwg/sriov-network-device-plugin):
/// `resourceList` entries of `resourceName` (letters, digits, '_' and '-': ValidResourceName),
/// `deviceType` (netDevice takes class 02 functions, accelerator class 12: SupportedDevices)
/// and `selectors`, ANDed within one object, several objects a list. VFs are selected by
/// their PF's interface and index ranges (`pfNames: ["enp5s0f0#0-3,6"]`; a PF without one by
/// its address, `rootDevices`), other functions by address (`pciAddresses`); `vendors`,
/// `devices` and `drivers` pin what each selector's functions are now.
public enum DevicePluginExport {
    public static func deviceType(_ f: PCIFunction) -> String? {
        switch f.baseClass {
        case 0x02: "netDevice"
        case 0x12: "accelerator"
        default: nil
        }
    }

    static func validateName(_ name: String) throws(VFIOError) {
        guard !name.isEmpty, name.utf8.count <= 253, name.allSatisfy({ $0.isASCIIAlphanumeric || $0 == "_" || $0 == "-" }) else {
            throw .usage("'\(name.printable)' is not a resource name the device plugin takes (letters, digits, '_' and '-')",
                         hint: "--name intel_sriov_netdevice, for instance (the plugin adds its resourcePrefix, intel.com by default)")
        }
    }

    static func defaultName(_ exported: ExportedFunction) -> String {
        if let network = exported.poolNetwork, (try? validateName(network)) != nil { return network }
        let f = exported.function
        return "vfioctl_" + Export.hex4(f.vendorID) + "_" + Export.hex4(f.deviceID)
    }

    /// "0-3,6": VF indices as the plugin's `#` ranges take them.
    public static func ranges(_ indices: [Int]) -> String {
        var parts: [String] = []
        var sorted = Array(Set(indices)).sorted()[...]
        while let first = sorted.popFirst() {
            var last = first
            while sorted.first == last + 1 { last = sorted.removeFirst() }
            parts.append(first == last ? String(first) : "\(first)-\(last)")
        }
        return parts.joined(separator: ",")
    }

    public static func render(_ selection: ExportSelection, _ snapshot: HostSnapshot, _ names: ExportNames) throws(VFIOError) -> ExportDocument {
        var selection = selection
        let unsupported = selection.functions.filter { deviceType($0.function) == nil }
        if !unsupported.isEmpty {
            let reason = "the SR-IOV device plugin takes network (class 02) and accelerator (class 12) functions: "
                + unsupported.map { "\($0.address) is class \(HexDigits.padded(UInt64($0.function.classCode >> 8), width: 4))" }.joined(separator: ", ")
            let hint = "export them for KubeVirt instead: vfioctl export kubevirt"
            guard selection.isDefault else { throw VFIOError(.refused, reason, hint: hint) }
            selection = selection.leavingOut(unsupported.map(\.address), id: "sriov-device-plugin.class", because: reason, hint: hint)
            guard !selection.functions.isEmpty else { throw VFIOError(.refused, reason, hint: hint) }
        }
        if let name = names.name { try validateName(name) }

        // Resources in order of their first function; selectors within: VFs per PF, then the rest.
        var order: [String] = []
        var members: [String: [ExportedFunction]] = [:]
        for exported in selection.functions {
            let name = names.name ?? defaultName(exported)
            if members[name] == nil { order.append(name) }
            members[name, default: []].append(exported)
        }
        var resources: [JSON] = []
        var entries: [JSON] = []
        for name in order {
            let functions = members[name] ?? []
            let types = Set(functions.compactMap { deviceType($0.function) })
            guard types.count == 1, let type = types.first else {
                throw .usage("resource '\(name)' would hold network and accelerator functions: the plugin gives a resource one deviceType",
                             hint: "export them with a --name each")
            }
            var selectors: [JSON] = []
            var byPF: [PCIAddress: [PCIFunction]] = [:]
            var others: [PCIFunction] = []
            for exported in functions {
                if let pf = exported.function.physfn, exported.function.vfIndex != nil { byPF[pf, default: []].append(exported.function) } else { others.append(exported.function) }
            }
            for (pf, vfs) in byPF.sorted(by: { $0.key < $1.key }) {
                let range = ranges(vfs.compactMap(\.vfIndex))
                var fields = pinned(vfs)
                if let interface = snapshot.function(pf)?.netInterfaces.first, type == "netDevice" {
                    fields["pfNames"] = .strings([interface + "#" + range])
                } else {
                    fields["rootDevices"] = .strings([pf.description + "#" + range])
                }
                selectors.append(.object(fields))
            }
            if !others.isEmpty {
                var fields = pinned(others)
                fields["pciAddresses"] = .strings(others.map(\.address.description))
                selectors.append(.object(fields))
            }
            resources.append(.object([
                "resourceName": .string(name),
                "deviceType": .string(type),
                "selectors": selectors.count == 1 ? selectors[0] : .array(selectors),
            ]))
            entries.append(.object([
                "resource_name": .string(name),
                "device_type": .string(type),
                "functions": .strings(functions.map(\.address.description)),
            ]))
        }
        let content = JSON.object(["resourceList": .array(resources)]).serialized()
        return ExportDocument(format: .sriovDevicePlugin, content: content, entries: entries, selection: selection)
    }

    /// vendors, devices and drivers as the functions have them now (drivers only when all have one).
    static func pinned(_ functions: [PCIFunction]) -> JSONObject {
        func unique(_ values: [String]) -> [String] { values.reduce(into: []) { if !$0.contains($1) { $0.append($1) } } }
        var fields: JSONObject = [
            "vendors": .strings(unique(functions.map { Export.hex4($0.vendorID) })),
            "devices": .strings(unique(functions.map { Export.hex4($0.deviceID) })),
        ]
        let drivers = functions.compactMap(\.driver)
        if drivers.count == functions.count { fields["drivers"] = .strings(unique(drivers)) }
        return fields
    }
}
