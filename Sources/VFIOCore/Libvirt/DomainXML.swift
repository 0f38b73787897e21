/// The PCI devices a libvirt domain assigns: `<hostdev mode='subsystem' type='pci'>` and
/// `<interface type='hostdev'>`, each with its `<source><address .../></source>`.
public struct DomainDevices: Sendable, Equatable {
    public var name: String?
    public var devices: [Device]
    /// `<interface type='network'>` whose network libvirt resolves at start (a hostdev pool
    /// picks a VF then): named here, since no address can be checked in advance.
    public var networkInterfaces: [String]
    /// `<hostdev mode='subsystem' type='mdev' model=...>`: mediated devices, by UUID.
    public var mdevs: [Mdev] = []

    public struct Mdev: Sendable, Equatable {
        public var uuid: MdevUUID
        /// vfio-pci, vfio-ccw or vfio-ap.
        public var model: String?
        public var line: Int
    }

    public enum Kind: String, Sendable, Equatable {
        case hostdev
        case interface
    }

    public struct Device: Sendable, Equatable {
        public var address: PCIAddress
        public var managed: Bool
        public var kind: Kind
        /// An `<interface type='hostdev'>` with a `<mac>` or `<vlan>`: libvirt sets them on the VF
        /// through its PF, which must be up.
        public var setsVFConfig: Bool
        public var line: Int
    }

    public init(name: String? = nil, devices: [Device], networkInterfaces: [String] = []) {
        self.name = name
        self.devices = devices
        self.networkInterfaces = networkInterfaces
    }

    /// Reads a domain definition (`virsh dumpxml`, or what libvirt hands a hook on stdin).
    /// `source` names the input in errors ("guest.xml", "stdin").
    public static func parse(_ xml: String, source: String) throws(VFIOError) -> DomainDevices {
        let root: XMLElement
        do {
            root = try XMLParser.parse(xml)
        } catch {
            throw .usage("\(source): malformed XML at \(error)", hint: error.hint ?? "check the file with 'virt-xml-validate \(source) domain'")
        }
        guard root.name == "domain" else {
            throw .usage("\(source): the root element is <\(root.name)>, not <domain>",
                         hint: "pass a libvirt domain definition, e.g. from 'virsh dumpxml GUEST'")
        }
        var devices: [Device] = []
        var networks: [String] = []
        var mdevs: [Mdev] = []
        for container in root.elements("devices") {
            for hostdev in container.elements("hostdev") where hostdev.attribute("type") == "mdev"
                && (hostdev.attribute("mode") ?? "subsystem") == "subsystem" {
                guard let text = hostdev.first("source")?.first("address")?.attribute("uuid") else {
                    throw .usage("\(source):\(hostdev.line): <hostdev type='mdev'> has no <source><address uuid='...'/></source>",
                                 hint: "name the mdev by its UUID ('vfioctl xml hostdev --mdev UUID' writes the element)")
                }
                guard let uuid = MdevUUID(text) else {
                    throw .usage("\(source):\(hostdev.line): uuid='\(text.printable)' is not a UUID", hint: "'vfioctl mdev list' shows the mdevs' UUIDs")
                }
                mdevs.append(Mdev(uuid: uuid, model: hostdev.attribute("model"), line: hostdev.line))
            }
            for hostdev in container.elements("hostdev") where hostdev.attribute("type") == "pci"
                && (hostdev.attribute("mode") ?? "subsystem") == "subsystem" {
                let isManaged = try managed(hostdev, source: source)
                devices.append(Device(address: try address(of: hostdev, source: source), managed: isManaged,
                                      kind: .hostdev, setsVFConfig: false, line: hostdev.line))
            }
            for interface in container.elements("interface") {
                switch interface.attribute("type") {
                case "hostdev":
                    let isManaged = try managed(interface, source: source)
                    devices.append(Device(address: try address(of: interface, source: source),
                                          managed: isManaged, kind: .interface,
                                          setsVFConfig: interface.first("mac") != nil || interface.first("vlan") != nil,
                                          line: interface.line))
                case "network":
                    if let network = interface.first("source")?.attribute("network") { networks.append(network) }
                default: continue
                }
            }
        }
        var domain = DomainDevices(name: root.first("name")?.text.trimmingWhitespace(), devices: devices, networkInterfaces: networks)
        domain.mdevs = mdevs
        return domain
    }

    static func managed(_ element: XMLElement, source: String) throws(VFIOError) -> Bool {
        switch element.attribute("managed") {
        case nil, "no": return false
        case "yes": return true
        case let other?:
            throw .usage("\(source):\(element.line): managed='\(other.printable)' on <\(element.name)> is neither 'yes' nor 'no'")
        }
    }

    /// `<source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source>`;
    /// numbers as libvirt reads them (strtoul base 0: 0x hex, leading 0 octal, else decimal).
    static func address(of element: XMLElement, source: String) throws(VFIOError) -> PCIAddress {
        guard let address = element.first("source")?.first("address") else {
            throw .usage("\(source):\(element.line): <\(element.name)> has no <source><address .../></source>",
                         hint: "give the PCI address as <address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>")
        }
        if let type = address.attribute("type"), type != "pci" {
            throw .usage("\(source):\(address.line): <address type='\(type.printable)'> is not a PCI address")
        }
        func field(_ name: String, max: UInt64, required: Bool = true) throws(VFIOError) -> UInt64 {
            guard let text = address.attribute(name) else {
                if required { throw .usage("\(source):\(address.line): <address> has no '\(name)' attribute") }
                return 0
            }
            guard let value = libvirtNumber(text), value <= max else {
                throw .usage("\(source):\(address.line): \(name)='\(text.printable)' is not a number up to \(max)",
                             hint: "write it in hex with 0x (bus='0x01') or in decimal")
            }
            return value
        }
        return PCIAddress(domain: UInt32(try field("domain", max: 0xffff_ffff, required: false)),
                          bus: UInt8(try field("bus", max: 0xff)), device: UInt8(try field("slot", max: 0x1f)),
                          function: UInt8(try field("function", max: 7)))
    }

    /// strtoul(text, NULL, 0) without its leniencies: the whole text must be the number.
    public static func libvirtNumber(_ text: String) -> UInt64? {
        let trimmed = text.trimmingWhitespace()
        guard !trimmed.isEmpty else { return nil }
        if trimmed.hasPrefix("0x") || trimmed.hasPrefix("0X") { return UInt64(trimmed.dropFirst(2), radix: 16) }
        if trimmed.hasPrefix("0") && trimmed.count > 1 { return UInt64(trimmed.dropFirst(), radix: 8) }
        return UInt64(trimmed, radix: 10)
    }
}
