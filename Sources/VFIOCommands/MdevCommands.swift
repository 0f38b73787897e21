import ArgumentParser
import VFIOActuator
import VFIOCore
import VFIODeviceLayer

extension Vfioctl {
    struct Mdev: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "mdev",
            abstract: "Mediated devices (vGPU, mtty...): parents and types, active and mdevctl-defined mdevs, create and remove.",
            discussion: """
                An mdev is created on a parent (a name in /sys/class/mdev_bus: a GPU's PCI address, \
                mtty, a CCW device, matrix) from one of its types, and named by a UUID; it gets an IOMMU \
                group of its own (/dev/vfio/N) and is handed to a guest with 'vfioctl xml hostdev --mdev \
                UUID'. Persistent definitions are mdevctl's own files (/etc/mdevctl.d/PARENT/UUID): \
                'mdevctl list --defined' sees vfioctl's and vfioctl sees mdevctl's.
                """,
            subcommands: [Types.self, List.self, Create.self, Remove.self])

        /// What the mdev commands read: parents, types, mdevs, definitions, and NVIDIA's SR-IOV vGPUs.
        static func read(_ layer: DeviceLayer, vgpus: Bool = false) throws(VFIOError) -> MdevState {
            let nvidia = vgpus ? try layer.snapshot([]).functions.filter { $0.vendorID == 0x10de }.map(\.address) : []
            return MdevReader(root: layer.root).read(nvidiaFunctions: nvidia)
        }

        struct Types: VfioctlCommand {
            static let configuration = CommandConfiguration(
                commandName: "types",
                abstract: "Each mdev parent and its types: id, name, available instances (shared between a parent's types), device API.")

            @Argument(help: ArgumentHelp("Only this parent (as /sys/class/mdev_bus names it; a PCI parent also by libvirt's pci_DDDD_BB_SS_F).",
                                         valueName: "parent"), completion: HostCompletion.mdevParents.kind)
            var parent: String?

            @OptionGroup var global: GlobalOptions
            @OptionGroup var output: FormatOptions

            func run(in invocation: Invocation) throws {
                var state = try Mdev.read(try global.deviceLayer(invocation), vgpus: parent == nil)
                if let parent {
                    guard let found = state.parent(parent) else {
                        throw VFIOError.usage("no mdev parent '\(parent.printable)' (not in /sys/class/mdev_bus)",
                                              hint: state.parents.isEmpty ? "no device offers mdevs here"
                                                : "parents here: " + state.parents.map(\.name).joined(separator: ", "))
                    }
                    state.parents = [found]
                }
                Output.emit(output.format, json: { MdevOutput.typesJSON(state) }, text: { MdevOutput.typesText(state) })
            }
        }

        struct List: VfioctlCommand {
            static let configuration = CommandConfiguration(
                commandName: "list",
                abstract: "Every mdev, active or defined by mdevctl: UUID, parent, type, IOMMU group, start, who holds it.")

            @OptionGroup var global: GlobalOptions
            @OptionGroup var output: FormatOptions

            func run(in invocation: Invocation) throws {
                let layer = try global.deviceLayer(invocation)
                let state = try Mdev.read(layer)
                let holders = state.devices.isEmpty ? [:] : FactsReader(root: layer.root).vfioUsers()
                Output.emit(output.format, json: { MdevOutput.listJSON(state, holders: holders) }, text: { MdevOutput.listText(state, holders: holders) })
            }
        }

        struct Create: ChangingCommand {
            static let name = "mdev create"
            static let configuration = CommandConfiguration(
                commandName: "create",
                abstract: "Create an mdev of a type on a parent, journaled and rolled back on failure; --persist also defines it for mdevctl.",
                discussion: """
                    Refused when the type has no available instance left (a parent's instances are \
                    shared between its types) or the UUID is taken. Without --uuid a random one is made \
                    up and printed. --persist writes /etc/mdevctl.d/PARENT/UUID with start 'manual' \
                    ('mdevctl start -u UUID' creates it again), --auto with start 'auto' (mdevctl's udev \
                    rule creates it when the parent appears, at boot). A second run changes nothing.
                    """)

            @Argument(help: ArgumentHelp("The parent, as /sys/class/mdev_bus names it ('vfioctl mdev types'; a PCI parent also by libvirt's "
                                         + "pci_DDDD_BB_SS_F).", valueName: "parent"), completion: HostCompletion.mdevParents.kind)
            var parent: String

            @Option(name: .long, help: ArgumentHelp("The mdev type id (e.g. nvidia-63, mtty-2).", valueName: "type"), completion: HostCompletion.mdevTypes.kind)
            var type: String

            @Option(name: .long, help: ArgumentHelp("The new mdev's UUID (default: a random one).", valueName: "uuid"))
            var uuid: String?

            @Flag(name: .long, help: "Also write mdevctl's definition (start manual).")
            var persist = false

            @Flag(name: .long, help: "With --persist: start it at boot (mdevctl's start 'auto').")
            var auto = false

            @OptionGroup var actuation: ActuationOptions
            @OptionGroup var global: GlobalOptions
            @OptionGroup var output: FormatOptions

            func prepare() throws(VFIOError) -> MdevPlanner.Create {
                if auto && !persist { throw .usage("--auto needs --persist", hint: "vfioctl mdev create \(parent) --type \(type) --persist --auto") }
                let uuid = try uuid.map { text throws(VFIOError) in try MdevUUID.parse(text) }
                    ?? MdevUUID(random: (0..<16).map { _ in UInt8.random(in: 0...255) })
                return MdevPlanner.Create(parent: parent, type: type, uuid: uuid, persist: persist ? (auto ? .auto : .manual) : nil)
            }

            func plan(_ request: MdevPlanner.Create, _ transaction: Transaction) throws -> Plan {
                try MdevPlanner.create(request, try Mdev.read(transaction.layer))
            }
        }

        struct Remove: ChangingCommand {
            static let name = "mdev remove"
            static let configuration = CommandConfiguration(
                commandName: "remove",
                abstract: "Remove an mdev, journaled; --persist also removes mdevctl's definition of it.",
                discussion: """
                    Refused while its group (/dev/vfio/N) is open: the kernel's remove would block until \
                    the guest that holds it exits. The error names the process and the guest.
                    """)

            @Argument(help: ArgumentHelp("The mdev's UUID ('vfioctl mdev list').", valueName: "uuid"), completion: HostCompletion.mdevs.kind)
            var uuid: String

            @Flag(name: .long, help: "Also remove mdevctl's definition of it.")
            var persist = false

            @OptionGroup var actuation: ActuationOptions
            @OptionGroup var global: GlobalOptions
            @OptionGroup var output: FormatOptions

            func prepare() throws(VFIOError) -> MdevUUID { try MdevUUID.parse(uuid) }

            func plan(_ uuid: MdevUUID, _ transaction: Transaction) throws -> Plan {
                let layer = transaction.layer
                let state = try Mdev.read(layer)
                let users = state.device(uuid)?.iommuGroup == nil ? [:] : FactsReader(root: layer.root).vfioUsers()
                return try MdevPlanner.remove(uuid, persist: persist, state, holders: { .known(users[$0] ?? []) })
            }
        }
    }
}
