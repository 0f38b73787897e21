import VFIOCore

/// Reads mediated devices under the root: the parents (/sys/class/mdev_bus/NAME) and their types
/// (mdev_supported_types/TYPE: name, description, device_api, available_instances, devices/), the
/// mdevs on the mdev bus (/sys/bus/mdev/devices/UUID: parent from where the link leads, type,
/// IOMMU group, driver), mdevctl's definitions (/etc/mdevctl.d/PARENT/UUID; scripts.d is
/// mdevctl's, not a parent) and NVIDIA's SR-IOV vGPU attributes of the functions named. Reads,
/// never decides; a definition that cannot be read or parsed is reported, not fatal.
public struct MdevReader: Sendable {
    public let root: HostRoot

    public init(root: HostRoot) { self.root = root }

    /// The largest definition file read: mdevctl writes a few hundred bytes.
    static let definitionLimit = 64 << 10

    public func read(nvidiaFunctions: [PCIAddress] = []) -> MdevState {
        var state = MdevState()
        state.parents = (root.entries(SysfsLayout.mdevParents) ?? []).sorted().map(parent)
        state.devices = (root.entries(SysfsLayout.mdevDevices) ?? []).compactMap(MdevUUID.init).sorted().compactMap(device)
        (state.definitions, state.unreadable) = definitions()
        state.vgpus = nvidiaFunctions.compactMap(vgpu)
        return state
    }

    func parent(_ name: String) -> MdevParent {
        let directory = SysfsLayout.mdevParents + "/" + name
        let types = (root.entries(directory + "/" + SysfsLayout.mdevTypes) ?? []).sorted().map { id -> MdevType in
            let type = directory + "/" + SysfsLayout.mdevTypes + "/" + id
            func attribute(_ name: String) -> String? {
                root.text(type + "/" + name, limit: 4096).map { $0.trimmingWhitespace() }.flatMap { $0.isEmpty ? nil : $0 }
            }
            return MdevType(id: id, name: attribute("name"), description: attribute("description"), deviceAPI: attribute("device_api"),
                            availableInstances: attribute("available_instances").flatMap(SysfsValues.int),
                            devices: (root.entries(type + "/devices") ?? []).compactMap(MdevUUID.init).sorted())
        }
        return MdevParent(name: name, driver: root.link(directory + "/driver").map(SysfsPaths.lastComponent(of:)), types: types)
    }

    func device(_ uuid: MdevUUID) -> MediatedDevice? {
        let path = SysfsLayout.mdevDevices + "/\(uuid)"
        // ../../../devices/virtual/mtty/mtty/UUID or ../../../devices/pci0000:00/0000:00:02.0/UUID: the parent holds it.
        guard let target = root.link(path) else { return nil }
        let components = SysfsPaths.resolve(link: target, in: SysfsLayout.mdevDevices).split(separator: "/")
        guard components.count >= 2 else { return nil }
        return MediatedDevice(uuid: uuid, parent: String(components[components.count - 2]),
                              type: root.link(path + "/mdev_type").map(SysfsPaths.lastComponent(of:)),
                              iommuGroup: root.link(path + "/iommu_group").map(SysfsPaths.lastComponent(of:)).flatMap(SysfsValues.int),
                              driver: root.link(path + "/driver").map(SysfsPaths.lastComponent(of:)))
    }

    /// mdevctl's definitions, and a message for each file that is not one.
    func definitions() -> ([MdevDefinition], [String]) {
        var definitions: [MdevDefinition] = []
        var unreadable: [String] = []
        for parent in (root.entries(SysfsLayout.mdevDefinitions) ?? []).sorted() where parent != "scripts.d" {
            let directory = SysfsLayout.mdevDefinitions + "/" + parent
            for name in (root.entries(directory) ?? []).sorted() {
                guard let uuid = MdevUUID(name) else { continue }
                let path = "/" + directory + "/" + name
                switch root.read(directory + "/" + name, limit: Self.definitionLimit) {
                case .success(let bytes):
                    do {
                        definitions.append(try MdevDefinition.parse(String(decoding: bytes, as: UTF8.self), parent: parent, uuid: uuid, path: path))
                    } catch {
                        unreadable.append(error.message)
                    }
                case .failure(let failure):
                    unreadable.append("\(path) cannot be read: \(failure)")
                }
            }
        }
        return (definitions, unreadable)
    }

    func vgpu(_ address: PCIAddress) -> NVIDIAVGPU? {
        let device = SysfsLayout.busDevices + "/\(address)/"
        guard let current = root.text(device + SysfsLayout.nvidiaVGPU[0], limit: 4096) else { return nil }
        let creatable = root.text(device + SysfsLayout.nvidiaVGPU[1], limit: 1 << 16) ?? ""
        return NVIDIAVGPU(address: address, currentType: SysfsValues.int(current.trimmingWhitespace()),
                          creatable: NVIDIAVGPU.parseCreatable(creatable))
    }
}
