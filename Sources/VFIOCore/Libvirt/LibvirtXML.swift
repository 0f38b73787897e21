/// The libvirt XML vfioctl emits: `<hostdev>`, `<interface type='hostdev'>`, hostdev `<network>`
/// pools, and the equivalent QEMU arguments. Built as XMLElement trees and rendered by one
/// renderer (escaped, deterministic, hex addresses as `virsh dumpxml` writes them). Pure.
public enum LibvirtXML {
    /// A MAC address for a guest NIC: six octets, unicast, not all zero.
    public struct MAC: Sendable, Hashable, CustomStringConvertible {
        public let octets: [UInt8]

        public static func parse(_ text: String) throws(VFIOError) -> MAC {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 6, parts.allSatisfy({ $0.count == 2 }) else {
                throw .usage("'\(text.printable)' is not a MAC address", hint: "write six hex octets, e.g. 52:54:00:6d:90:02")
            }
            var octets: [UInt8] = []
            for part in parts {
                guard let octet = UInt8(part, radix: 16) else {
                    throw .usage("'\(text.printable)' is not a MAC address", hint: "write six hex octets, e.g. 52:54:00:6d:90:02")
                }
                octets.append(octet)
            }
            guard octets[0] & 1 == 0 else {
                throw .usage("\(text) is a multicast MAC address (lowest bit of the first octet set): a NIC cannot have it",
                             hint: "use a unicast address; 52:54:00:xx:xx:xx is QEMU's locally administered range")
            }
            guard octets.contains(where: { $0 != 0 }) else {
                throw .usage("00:00:00:00:00:00 is not a usable MAC address", hint: "give a unicast address, e.g. 52:54:00:6d:90:02")
            }
            return MAC(octets: octets)
        }

        public var description: String { octets.map { HexDigits.padded(UInt64($0), width: 2) }.joined(separator: ":") }
    }

    /// An 802.1Q VLAN tag for a VF; `native` marks it untagged for the guest.
    public struct VLAN: Sendable, Equatable {
        public let id: Int
        public let native: Bool

        /// "42" or "42:native".
        public static func parse(_ text: String) throws(VFIOError) -> VLAN {
            var number = Substring(text)
            var native = false
            if text.hasSuffix(":native") {
                number = number.dropLast(":native".count)
                native = true
            }
            guard let id = Int(number), (1...4094).contains(id) else {
                throw .usage("VLAN '\(text.printable)' is not a tag from 1 to 4094",
                             hint: "give --vlan ID or --vlan ID:native (0 and 4095 are reserved by 802.1Q)")
            }
            return VLAN(id: id, native: native)
        }
    }

    /// A guest PCI slot ("0x08" or "00:08" / "0000:00:08"): where a device's functions go.
    public struct GuestSlot: Sendable, Equatable {
        public let domain: UInt32
        public let bus: UInt8
        public let slot: UInt8

        public init(domain: UInt32 = 0, bus: UInt8 = 0, slot: UInt8) {
            self.domain = domain
            self.bus = bus
            self.slot = slot
        }

        public static func parse(_ text: String) throws(VFIOError) -> GuestSlot {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { $0.hasPrefix("0x") ? $0.dropFirst(2) : $0 }
            let numbers = parts.map { UInt32($0, radix: 16) }
            let hint = "write the guest's BB:SS or SS in hex, e.g. 00:08 (slots 00-1f)"
            guard (1...3).contains(parts.count), numbers.allSatisfy({ $0 != nil }), let slot = numbers.last!, slot <= 0x1f else {
                throw .usage("'\(text.printable)' is not a guest PCI slot", hint: hint)
            }
            let bus = parts.count >= 2 ? numbers[parts.count - 2]! : 0
            let domain = parts.count == 3 ? numbers[0]! : 0
            guard bus <= 0xff, domain <= 0xffff else { throw .usage("'\(text.printable)' is not a guest PCI slot", hint: hint) }
            return GuestSlot(domain: domain, bus: UInt8(bus), slot: UInt8(slot))
        }
    }

    public enum ROM: Sendable, Equatable {
        case file(String)
        case barOff
    }

    /// What `vfioctl xml hostdev` puts around each address.
    public struct HostdevOptions: Sendable, Equatable {
        public var managed: Bool
        public var vfioDriver: Bool
        public var rom: ROM?
        public var guestSlot: GuestSlot?
        /// libvirt 10's `<driver model='NAME'/>`: the vfio-pci variant driver libvirt binds the
        /// device to (basictypes.rng, hostdevDriver: an attribute of the same `<driver>` as name='vfio').
        public var driverModel: String?

        public init(managed: Bool = true, vfioDriver: Bool = false, rom: ROM? = nil, guestSlot: GuestSlot? = nil, driverModel: String? = nil) {
            self.managed = managed
            self.vfioDriver = vfioDriver
            self.rom = rom
            self.guestSlot = guestSlot
            self.driverModel = driverModel
        }
    }

    // MARK: building

    static func hex(_ value: UInt64, _ width: Int) -> String { "0x" + HexDigits.padded(value, width: width) }

    /// `<address domain='0x0000' bus='0x03' slot='0x00' function='0x0'/>` (type='pci' when asked).
    static func address(_ a: PCIAddress, typed: Bool) -> XMLElement {
        XMLElement("address", (typed ? [("type", "pci")] : []) + [
            ("domain", hex(UInt64(a.domain), 4)), ("bus", hex(UInt64(a.bus), 2)),
            ("slot", hex(UInt64(a.device), 2)), ("function", hex(UInt64(a.function), 1)),
        ])
    }

    /// Where each function goes in the guest: host slots in order onto consecutive guest slots
    /// from `first`, functions kept; function 0 of a slot with several functions gets
    /// multifunction='on'. nil when no guest slot was asked for.
    public static func guestAddresses(_ functions: [PCIAddress], from first: GuestSlot?) throws(VFIOError)
        -> [PCIAddress: (address: PCIAddress, multifunction: Bool)]? {
        guard let first else { return nil }
        var hostSlots: [PCIAddress] = []
        for f in functions.sorted() where !hostSlots.contains(where: { $0.domain == f.domain && $0.bus == f.bus && $0.device == f.device }) {
            hostSlots.append(f)
        }
        guard Int(first.slot) + hostSlots.count - 1 <= 0x1f else {
            throw .usage("\(hostSlots.count) devices do not fit from guest slot \(hex(UInt64(first.slot), 2)) up to 0x1f",
                         hint: "choose a lower --guest-address slot")
        }
        var out: [PCIAddress: (PCIAddress, Bool)] = [:]
        for f in functions {
            guard let index = hostSlots.firstIndex(where: { $0.domain == f.domain && $0.bus == f.bus && $0.device == f.device }) else { continue }
            let sameSlot = functions.filter { $0.domain == f.domain && $0.bus == f.bus && $0.device == f.device }
            let guest = PCIAddress(domain: first.domain, bus: first.bus, device: first.slot + UInt8(index), function: f.function)
            out[f] = (guest, f.function == 0 && sameSlot.count > 1)
        }
        return out
    }

    public static func hostdev(_ a: PCIAddress, _ options: HostdevOptions,
                               guest: (address: PCIAddress, multifunction: Bool)? = nil) -> XMLElement {
        var children: [XMLElement] = []
        let driver = (options.vfioDriver ? [("name", "vfio")] : []) + (options.driverModel.map { [("model", $0)] } ?? [])
        if !driver.isEmpty { children.append(XMLElement("driver", driver)) }
        children.append(XMLElement("source", children: [.element(address(a, typed: false))]))
        switch options.rom {
        case .file(let path): children.append(XMLElement("rom", [("file", path)]))
        case .barOff: children.append(XMLElement("rom", [("bar", "off")]))
        case nil: break
        }
        if let guest {
            var element = address(guest.address, typed: true)
            if guest.multifunction { element.attributes.append(("multifunction", "on")) }
            children.append(element)
        }
        return XMLElement("hostdev", [("mode", "subsystem"), ("type", "pci"), ("managed", options.managed ? "yes" : "no")],
                          children: children.map(XMLNode.element))
    }

    /// libvirt's model for an mdev of this device API (its type's device_api): the guest device.
    public static func mdevModel(deviceAPI: String?) -> String? {
        switch deviceAPI {
        case "vfio-pci", "vfio-ccw", "vfio-ap": deviceAPI
        default: nil
        }
    }

    /// `<hostdev mode='subsystem' type='mdev' model='vfio-pci'><source><address uuid='...'/></source></hostdev>`.
    public static func mdevHostdev(_ uuid: MdevUUID, model: String) -> XMLElement {
        XMLElement("hostdev", [("mode", "subsystem"), ("type", "mdev"), ("model", model)],
                   children: [.element(XMLElement("source", children: [.element(XMLElement("address", [("uuid", uuid.description)]))]))])
    }

    /// QEMU's device for an mdev: `-device vfio-pci,sysfsdev=/sys/bus/mdev/devices/UUID`.
    /// With `iommufd`, `iommufd=iommufd0` (the object `qemuArguments(iommufd: true)` puts first).
    public static func mdevQemuArguments(_ uuid: MdevUUID, model: String, iommufd: Bool = false) -> [String] {
        ["-device", "\(model),sysfsdev=/sys/bus/mdev/devices/\(uuid)" + (iommufd ? ",iommufd=" + iommufdObject : "")]
    }

    public static func interface(_ a: PCIAddress, mac: MAC?, vlan: VLAN?, profile: String?, managed: Bool, vfioDriver: Bool) -> XMLElement {
        var children: [XMLElement] = []
        if let mac { children.append(XMLElement("mac", [("address", mac.description)])) }
        if vfioDriver { children.append(XMLElement("driver", [("name", "vfio")])) }
        children.append(XMLElement("source", children: [.element(address(a, typed: true))]))
        if let vlan {
            let tag = XMLElement("tag", [("id", String(vlan.id))] + (vlan.native ? [("nativeMode", "untagged")] : []))
            children.append(XMLElement("vlan", children: [.element(tag)]))
        }
        if let profile {
            let parameters = XMLElement("parameters", [("profileid", profile)])
            children.append(XMLElement("virtualport", [("type", "802.1Qbh")], children: [.element(parameters)]))
        }
        return XMLElement("interface", [("type", "hostdev"), ("managed", managed ? "yes" : "no")], children: children.map(XMLNode.element))
    }

    /// A hostdev network: one `<pf dev=.../>` (libvirt takes one), or the VFs listed one by one
    /// (how a pool spanning several PFs is written); with `vlan`, the tag libvirt sets on each VF
    /// it hands out.
    public static func network(name: String, pf: String?, vfs: [PCIAddress], vlan: Int? = nil) -> XMLElement {
        var forward: [XMLElement] = []
        if let pf { forward.append(XMLElement("pf", [("dev", pf)])) }
        forward += vfs.sorted().map { address($0, typed: true) }
        var children: [XMLNode] = [
            .element(XMLElement("name", children: [.text(name)])),
            .element(XMLElement("forward", [("mode", "hostdev"), ("managed", "yes")], children: forward.map(XMLNode.element))),
        ]
        if let vlan {
            children.append(.element(XMLElement("vlan", children: [.element(XMLElement("tag", [("id", String(vlan))]))])))
        }
        return XMLElement("network", children: children)
    }

    /// QEMU's arguments for the same assignment (what libvirt would pass).
    /// The iommufd object `qemuArguments(iommufd: true)` puts first and each device names.
    public static let iommufdObject = "iommufd0"

    /// `-device vfio-pci,host=ADDRESS,...` per function. With `iommufd`, QEMU's iommufd backend
    /// (QEMU 8.2; docs/devel/vfio-iommufd.rst): one `-object iommufd,id=iommufd0` and
    /// `iommufd=iommufd0` on each device, which QEMU then opens through /dev/iommu and the
    /// function's /dev/vfio/devices/vfioN instead of its group and /dev/vfio/vfio.
    public static func qemuArguments(_ functions: [PCIAddress], _ options: HostdevOptions,
                                     guest: [PCIAddress: (address: PCIAddress, multifunction: Bool)]?, iommufd: Bool = false) -> [String] {
        (iommufd ? ["-object", "iommufd,id=" + iommufdObject] : []) + functions.sorted().flatMap { a -> [String] in
            var device = "vfio-pci,host=\(a)"
            if iommufd { device += ",iommufd=" + iommufdObject }
            if let g = guest?[a] {
                if g.address.bus != 0 { device += ",bus=pci.\(g.address.bus)" }
                device += ",addr=" + hex(UInt64(g.address.device), 2) + "." + String(g.address.function)
                if g.multifunction { device += ",multifunction=on" }
            }
            switch options.rom {
            case .file(let path): device += ",romfile=" + path.replacingCommas()
            case .barOff: device += ",rombar=0"
            case nil: break
            }
            return ["-device", device]
        }
    }

    /// A libvirt object name (network): what virXMLCheckIllegalChars and the file it becomes allow.
    public static func validateName(_ name: String, what: String) throws(VFIOError) {
        guard !name.isEmpty, name.count <= 200 else {
            throw .usage("the \(what) name is empty or longer than 200 characters", hint: "give a short name such as vf-pool")
        }
        guard !name.contains("/"), !name.hasPrefix("."), !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            throw .usage("'\(name.printable)' cannot be a \(what) name: no '/', control characters or leading '.'",
                         hint: "use letters, digits, '-' and '_', e.g. vf-pool")
        }
    }

    /// Elements rendered one after another (what `virsh edit` takes pasted into <devices>).
    public static func render(_ elements: [XMLElement]) -> String { elements.map { $0.rendered() }.joined() }
}

extension String {
    /// QEMU option values escape a comma by doubling it.
    func replacingCommas() -> String { split(separator: ",", omittingEmptySubsequences: false).joined(separator: ",,") }
}
