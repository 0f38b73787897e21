/// A mediated device's UUID, as the kernel names it under /sys/bus/mdev/devices: 8-4-4-4-12 hex
/// digits, lowercase (mdev_device_create takes any case; sysfs and mdevctl print lowercase).
public struct MdevUUID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let description: String

    /// nil unless `text` is a UUID (either case; kept lowercase).
    public init?(_ text: some StringProtocol) {
        let utf8 = Array(text.utf8)
        guard utf8.count == 36 else { return nil }
        for (index, byte) in utf8.enumerated() {
            if [8, 13, 18, 23].contains(index) {
                guard byte == UInt8(ascii: "-") else { return nil }
            } else {
                guard HexDigits.value(of: byte) != nil else { return nil }
            }
        }
        description = String(decoding: utf8.map { $0 >= 0x41 && $0 <= 0x46 ? $0 + 0x20 : $0 }, as: UTF8.self)
    }

    /// The UUID an admin typed, or a usage error that says what one looks like.
    public static func parse(_ text: String) throws(VFIOError) -> MdevUUID {
        guard let uuid = MdevUUID(text) else {
            throw .usage("'\(text.printable)' is not a UUID", hint: "an mdev is named by a UUID like 83b8f4f2-509f-382f-3c1e-e6bfe0fa1001 "
                            + "('vfioctl mdev list' shows them; 'vfioctl mdev create' makes one up when --uuid is not given)")
        }
        return uuid
    }

    /// A random (version 4) UUID from 16 random bytes.
    public init(random bytes: [UInt8]) {
        precondition(bytes.count == 16)
        var b = bytes
        b[6] = b[6] & 0x0f | 0x40
        b[8] = b[8] & 0x3f | 0x80
        let hex = b.map { HexDigits.padded(UInt64($0), width: 2) }
        description = hex[0..<4].joined() + "-" + hex[4..<6].joined() + "-" + hex[6..<8].joined() + "-" + hex[8..<10].joined() + "-" + hex[10...].joined()
    }

    public static func < (a: MdevUUID, b: MdevUUID) -> Bool { a.description < b.description }
}

/// One mdev type a parent offers (/sys/class/mdev_bus/PARENT/mdev_supported_types/TYPE). The id
/// is the directory's name, `<driver>-<name>` (nvidia-63, i915-GVTg_V5_4, mtty-2); `name` and
/// `description` are optional attributes. `available_instances` is shared between a parent's
/// types (creating one of a type may use up others): read live, never computed.
public struct MdevType: Sendable, Equatable {
    public var id: String
    public var name: String?
    public var description: String?
    /// vfio-pci, vfio-ccw or vfio-ap: what the guest sees, and libvirt's hostdev `model`.
    public var deviceAPI: String?
    public var availableInstances: Int?
    /// The mdevs of this type that exist now (its devices/ directory).
    public var devices: [MdevUUID]

    public init(id: String, name: String? = nil, description: String? = nil, deviceAPI: String? = nil,
                availableInstances: Int? = nil, devices: [MdevUUID] = []) {
        (self.id, self.name, self.description, self.deviceAPI, self.availableInstances, self.devices)
            = (id, name, description, deviceAPI, availableInstances, devices)
    }
}

/// A device that can create mdevs: an entry of /sys/class/mdev_bus. Its name is whatever the
/// kernel named the parent device: a PCI address (a GPU), `mtty`, a CCW device id, `matrix`.
public struct MdevParent: Sendable, Equatable {
    public var name: String
    /// The parent's driver (nvidia, i915, mtty, vfio_ccw), when it has one.
    public var driver: String?
    public var types: [MdevType]

    public init(name: String, driver: String? = nil, types: [MdevType] = []) {
        (self.name, self.driver, self.types) = (name, driver, types)
    }

    /// The parent as a PCI function, when its name is an address.
    public var address: PCIAddress? { PCIAddress(name) }

    public func type(_ id: String) -> MdevType? { types.first { $0.id == id } }
}

/// An mdev that exists now (/sys/bus/mdev/devices/UUID).
public struct MediatedDevice: Sendable, Equatable {
    public var uuid: MdevUUID
    /// The parent's name, as in /sys/class/mdev_bus.
    public var parent: String
    /// Its type id (the mdev_type link); nil when unreadable.
    public var type: String?
    /// Its own IOMMU group (the UUID is its only member), nil when it has none.
    public var iommuGroup: Int?
    /// The mdev driver bound to it (vfio_mdev before 5.19; the parent's own after: mtty, nvidia-vgpu-vfio).
    public var driver: String?

    public init(uuid: MdevUUID, parent: String, type: String?, iommuGroup: Int? = nil, driver: String? = nil) {
        (self.uuid, self.parent, self.type, self.iommuGroup, self.driver) = (uuid, parent, type, iommuGroup, driver)
    }
}

/// A persistent mdev definition in mdevctl's format and place: /etc/mdevctl.d/PARENT/UUID holding
/// `{"mdev_type": TYPE, "start": "auto"|"manual", "attrs": [{NAME: VALUE}, ...]}`. mdevctl's udev
/// rule starts the `auto` ones when their parent appears; `mdevctl start -u UUID` starts any.
public struct MdevDefinition: Sendable, Equatable {
    public enum Start: String, Sendable, Equatable, CaseIterable {
        case auto, manual
    }

    public var uuid: MdevUUID
    public var parent: String
    public var type: String
    public var start: Start
    /// Attributes mdevctl writes into the mdev's sysfs directory after creating it, in order.
    public var attributes: [(name: String, value: String)]

    public init(uuid: MdevUUID, parent: String, type: String, start: Start, attributes: [(name: String, value: String)] = []) {
        (self.uuid, self.parent, self.type, self.start, self.attributes) = (uuid, parent, type, start, attributes)
    }

    public static func == (a: MdevDefinition, b: MdevDefinition) -> Bool {
        a.uuid == b.uuid && a.parent == b.parent && a.type == b.type && a.start == b.start
            && a.attributes.map(\.name) == b.attributes.map(\.name) && a.attributes.map(\.value) == b.attributes.map(\.value)
    }

    /// Where mdevctl keeps it, from the root.
    public var path: String { Self.path(parent: parent, uuid: uuid) }

    public static let directory = "/etc/mdevctl.d"
    public static func path(parent: String, uuid: MdevUUID) -> String { "\(directory)/\(parent)/\(uuid)" }

    /// The file as mdevctl 1.2 writes it (serde_json's pretty form: two-space indent, no final newline).
    public var fileText: String {
        let attrs = attributes.isEmpty ? "[]" : "[\n" + attributes.map { attribute in
            "    {\n      " + JSON.quoted(attribute.name) + ": " + JSON.quoted(attribute.value) + "\n    }"
        }.joined(separator: ",\n") + "\n  ]"
        return "{\n  \"mdev_type\": \(JSON.quoted(type)),\n  \"start\": \"\(start.rawValue)\",\n  \"attrs\": \(attrs)\n}"
    }

    /// A definition file read back; `path` names it in the error. mdevctl requires `mdev_type`
    /// and `start`; `attrs` may be absent; unknown keys are ignored, as mdevctl ignores them.
    public static func parse(_ text: String, parent: String, uuid: MdevUUID, path: String) throws(VFIOError) -> MdevDefinition {
        func bad(_ why: String) -> VFIOError {
            .failed("\(path) is not an mdevctl definition: \(why)",
                    hint: "mdevctl writes {\"mdev_type\": TYPE, \"start\": \"auto\"|\"manual\", \"attrs\": []}; fix or remove the file")
        }
        let value: JSON
        do { value = try JSONParser.parse(text) } catch { throw bad(error.message) }
        guard case .object(let object) = value else { throw bad("the file is not a JSON object") }
        guard case .string(let type)? = object["mdev_type"], !type.isEmpty else { throw bad("no \"mdev_type\" string") }
        guard case .string(let startText)? = object["start"], let start = Start(rawValue: startText) else {
            throw bad("\"start\" is not \"auto\" or \"manual\"")
        }
        var attributes: [(name: String, value: String)] = []
        switch object["attrs"] {
        case nil, .null?: break
        case .array(let entries)?:
            for entry in entries {
                guard case .object(let pair) = entry, pair.fields.count == 1, case .string(let value) = pair.fields[0].value else {
                    throw bad("each entry of \"attrs\" is an object with one string value")
                }
                attributes.append((pair.fields[0].key, value))
            }
        default: throw bad("\"attrs\" is not an array")
        }
        return MdevDefinition(uuid: uuid, parent: parent, type: type, start: start, attributes: attributes)
    }
}

/// NVIDIA's SR-IOV vGPU (Ampere and later): each VF of the GPU is one vGPU, its type chosen by
/// writing a type number to the VF's nvidia/current_vgpu_type; nvidia/creatable_vgpu_types lists
/// what can be chosen now. Read and shown, never written by vfioctl.
public struct NVIDIAVGPU: Sendable, Equatable {
    public var address: PCIAddress
    /// The type number written now; 0 or nil: none.
    public var currentType: Int?
    /// What creatable_vgpu_types offers now: number and name ("557", "NVIDIA A100-4C").
    public var creatable: [(id: Int, name: String)]

    public init(address: PCIAddress, currentType: Int?, creatable: [(id: Int, name: String)]) {
        (self.address, self.currentType, self.creatable) = (address, currentType, creatable)
    }

    public static func == (a: NVIDIAVGPU, b: NVIDIAVGPU) -> Bool {
        a.address == b.address && a.currentType == b.currentType
            && a.creatable.map(\.id) == b.creatable.map(\.id) && a.creatable.map(\.name) == b.creatable.map(\.name)
    }

    /// creatable_vgpu_types as the driver prints it: a header "ID    : vGPU Name", then "557   : NVIDIA A100-4C".
    public static func parseCreatable(_ text: String) -> [(id: Int, name: String)] {
        text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let id = Int(parts[0].trimmingWhitespace()) else { return nil }
            return (id, String(parts[1].trimmingWhitespace()))
        }
    }
}

/// Everything about mediated devices the device layer read: parents and their types, the mdevs
/// that exist, mdevctl's definitions, NVIDIA's SR-IOV vGPUs, and the definition files it could
/// not read (each a message naming the file).
public struct MdevState: Sendable, Equatable {
    public var parents: [MdevParent]
    public var devices: [MediatedDevice]
    public var definitions: [MdevDefinition]
    public var vgpus: [NVIDIAVGPU]
    public var unreadable: [String]

    public init(parents: [MdevParent] = [], devices: [MediatedDevice] = [], definitions: [MdevDefinition] = [],
                vgpus: [NVIDIAVGPU] = [], unreadable: [String] = []) {
        (self.parents, self.devices, self.definitions, self.vgpus, self.unreadable) = (parents, devices, definitions, vgpus, unreadable)
    }

    /// The parent as /sys/class/mdev_bus names it; a PCI parent also by any spelling of its
    /// address, or libvirt's node-device name (`pci_0000_00_02_0`).
    public func parent(_ name: String) -> MdevParent? {
        if let parent = parents.first(where: { $0.name == name }) { return parent }
        guard let address = PCIAddress(argument: name) else { return nil }
        return parents.first { $0.address == address }
    }
    public func device(_ uuid: MdevUUID) -> MediatedDevice? { devices.first { $0.uuid == uuid } }
    /// An mdev's type, as its parent offers it (nil when either is unknown).
    public func type(of device: MediatedDevice) -> MdevType? { device.type.flatMap { parent(device.parent)?.type($0) } }
    public func definitions(_ uuid: MdevUUID) -> [MdevDefinition] { definitions.filter { $0.uuid == uuid } }

    /// One mdev as `mdev list` shows it: active (it exists), defined (mdevctl has a file), or both.
    public struct Entry: Sendable, Equatable {
        public var uuid: MdevUUID
        public var parent: String
        public var type: String?
        public var device: MediatedDevice?
        public var definition: MdevDefinition?

        public var active: Bool { device != nil }
        public var defined: Bool { definition != nil }
        public var group: Int? { device?.iommuGroup }
    }

    /// Every mdev, active or defined, by UUID then parent (a UUID may be defined on two parents).
    public var entries: [Entry] {
        var entries: [Entry] = devices.map { device in
            Entry(uuid: device.uuid, parent: device.parent, type: device.type, device: device,
                  definition: definitions.first { $0.uuid == device.uuid && $0.parent == device.parent })
        }
        for definition in definitions where !devices.contains(where: { $0.uuid == definition.uuid && $0.parent == definition.parent }) {
            entries.append(Entry(uuid: definition.uuid, parent: definition.parent, type: definition.type, device: nil, definition: definition))
        }
        return entries.sorted { ($0.uuid, $0.parent) < ($1.uuid, $1.parent) }
    }

    /// The mdev groups (group number → its UUID), for `groups`.
    public var groups: [Int: MdevUUID] {
        Dictionary(devices.compactMap { device in device.iommuGroup.map { ($0, device.uuid) } }, uniquingKeysWith: { a, _ in a })
    }
}
