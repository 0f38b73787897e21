import CNetlinkShim
import Glibc
import Synchronization
import VFIOCore

/// A request the kernel (or libnl) refused: the errno as the kernel sent it, the extended ack
/// text when there was one, and libnl's own error code when libnl failed before the kernel.
public struct NetlinkFailure: Error, Sendable, Equatable {
    public var code: Int32
    public var message: String
    public var libnlCode: Int32

    public init(code: Int32, message: String = "", libnlCode: Int32 = 0) {
        self.code = code
        self.message = message
        self.libnlCode = libnlCode
    }

    /// The C shim's report of a failed request.
    package init(_ error: vfioctl_nl_error) {
        var copy = error
        let text = withUnsafeBytes(of: &copy.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        self.init(code: error.code, message: text, libnlCode: error.nle)
    }

    /// "EOPNOTSUPP" (or libnl's word when the kernel never answered), and the kernel's text.
    public var errnoName: String { code != 0 ? Errno.name(code) : "libnl error \(libnlCode)" }
    public var detail: String { message.isEmpty ? "" : ": " + message }
}

/// One rtnetlink socket (libnl-route-3, through CNetlinkShim), opened once and reused for every
/// request: configuring many VFs costs one sendmsg/recvmsg pair per attribute, not a process and
/// a socket each. Requests are serialized (libnl's socket is not for concurrent use).
public final class RouteNetlink: Sendable {
    private struct Handle: @unchecked Sendable { let pointer: OpaquePointer }
    private let handle: Mutex<Handle>

    public init() throws(NetlinkFailure) {
        var error = vfioctl_nl_error()
        guard let pointer = vfioctl_nl_open(&error) else { throw NetlinkFailure(error) }
        handle = Mutex(Handle(pointer: pointer))
    }

    deinit { handle.withLock { vfioctl_nl_close($0.pointer) } }

    /// The socket's descriptor: the same for the object's whole life.
    public var descriptor: Int32 { handle.withLock { vfioctl_nl_fd($0.pointer) } }

    /// Requests sent through this socket so far.
    public var requestCount: Int { handle.withLock { Int(vfioctl_nl_requests($0.pointer)) } }

    /// Runs `body` with the socket held (for the actuator's writes through CNetlinkShim).
    package func withSocket<R>(_ body: (OpaquePointer) -> R) -> R {
        handle.withLock { body($0.pointer) }
    }

    /// A link as the kernel reports it with RTEXT_FILTER_VF.
    public struct Link: Sendable, Equatable {
        public var name: String
        public var ifindex: Int
        /// IFLA_NUM_VF: nil when the kernel reports none (a link without a parent device).
        public var numVFs: Int?
        public var vfs: [VFLinkConfig]
        /// IFF_UP.
        public var up: Bool = false
        /// IFLA_PERM_ADDRESS (nil: not reported) and IFLA_ADDRESS.
        public var permanentAddress: MACAddress?
        public var address: MACAddress?
    }

    /// RTM_GETLINK for `name`; ENODEV when there is no such link.
    public func link(_ name: String) throws(NetlinkFailure) -> Link { try get(name: name, ifindex: 0) }

    /// RTM_GETLINK for interface index `ifindex`; ENODEV when there is no such link.
    public func link(ifindex: Int) throws(NetlinkFailure) -> Link {
        guard ifindex > 0, ifindex <= Int(Int32.max) else { throw NetlinkFailure(code: ENODEV) }
        return try get(name: nil, ifindex: Int32(ifindex))
    }

    private func get(name: String?, ifindex: Int32) throws(NetlinkFailure) -> Link {
        var capacity = 256
        while true {
            var infos = [vfioctl_vf_info](repeating: vfioctl_vf_info(), count: capacity)
            var link = vfioctl_nl_link()
            var count: Int32 = 0
            var error = vfioctl_nl_error()
            let status = handle.withLock { h in
                infos.withUnsafeMutableBufferPointer { buffer in
                    vfioctl_nl_get_vfs(h.pointer, name, ifindex, &link, buffer.baseAddress, Int32(buffer.count), &count, &error)
                }
            }
            guard status == 0 else { throw NetlinkFailure(error) }
            if Int(count) > capacity {
                capacity = Int(count)
                continue
            }
            let reported = withUnsafeBytes(of: &link.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            return Link(name: reported.isEmpty ? name ?? "" : reported, ifindex: Int(link.ifindex),
                        numVFs: link.num_vfs >= 0 ? Int(link.num_vfs) : nil, vfs: infos.prefix(Int(count)).map(Self.config),
                        up: link.flags & 1 == 1,
                        permanentAddress: link.has_perm_addr != 0 ? MACAddress(rawOctets: withUnsafeBytes(of: link.perm_addr) { Array($0) }) : nil,
                        address: link.has_addr != 0 ? MACAddress(rawOctets: withUnsafeBytes(of: link.addr) { Array($0) }) : nil)
        }
    }

    static func config(_ info: vfioctl_vf_info) -> VFLinkConfig {
        let octets = withUnsafeBytes(of: info.mac) { Array($0) }
        return VFLinkConfig(
            index: Int(info.index),
            mac: info.has_mac != 0 ? MACAddress(rawOctets: octets) : nil,
            vlan: Int(info.vlan), qos: Int(info.qos), proto: VLANProtocol(rawValue: info.vlan_proto),
            spoofchk: info.spoofchk < 0 ? nil : info.spoofchk == 1,
            trust: info.trust < 0 ? nil : info.trust == 1,
            linkState: info.link_state < 0 ? nil : VFLinkState(rawValue: UInt32(info.link_state)),
            minTxRate: Int(info.min_tx_rate), maxTxRate: Int(info.max_tx_rate))
    }
}

/// Reads VF attributes of PF netdevs over rtnetlink, and names the netdev's driver from sysfs for
/// messages. Reads only: setting them is the actuator's (VFIOActuator.VFNetlink).
public struct VFLinkReader: Sendable {
    public let root: HostRoot
    public let netlink: RouteNetlink

    /// Opens the one socket. Netlink reaches only the running kernel, so a tree given with
    /// --root cannot be asked.
    public init(root: HostRoot = .live) throws(VFIOError) {
        guard root.isLive else {
            throw .failed("VF attributes come from the running kernel over netlink, not from the tree under \(root)",
                          hint: "run without --root on the host itself")
        }
        self.root = root
        do {
            netlink = try RouteNetlink()
        } catch {
            throw .failed("cannot open a NETLINK_ROUTE socket: \(error.errnoName)\(error.detail)",
                          hint: error.code == EPERM || error.code == EACCES ? "run as root" : "is this Linux with rtnetlink?")
        }
    }

    /// The driver bound to the netdev's device (/sys/class/net/NAME/device/driver), nil if none
    /// (a virtual netdev) or unknown.
    public func driver(ofInterface name: String) -> String? {
        root.link("sys/class/net/\(name)/device/driver").map { SysfsPaths.lastComponent(of: $0) }
    }

    /// "eth0 (driver ixgbe)", or "eth0" when no driver is known: how messages name a PF.
    public func describe(interface name: String) -> String {
        driver(ofInterface: name).map { "\(name) (driver \($0))" } ?? name
    }

    /// Every VF of PF netdev `name` in index order, as its driver reports them. [] for a netdev
    /// without VFs.
    public func vfs(ofInterface name: String) throws(VFIOError) -> [VFLinkConfig] {
        try link(name).vfs
    }

    /// The link with its VF count as the kernel reports it.
    public func link(_ name: String) throws(VFIOError) -> RouteNetlink.Link {
        try InterfaceName.validate(name)
        do {
            return try netlink.link(name)
        } catch {
            throw readError(error, interface: name)
        }
    }

    /// The same by interface index (e.g. from /sys/class/net/NAME/ifindex).
    public func link(ifindex: Int) throws(VFIOError) -> RouteNetlink.Link {
        do {
            return try netlink.link(ifindex: ifindex)
        } catch {
            if error.code == ENODEV {
                throw .failed("there is no network interface with index \(ifindex) (ENODEV)", hint: "'ip link' lists interfaces with their indexes")
            }
            throw readError(error, interface: "interface \(ifindex)")
        }
    }

    func readError(_ failure: NetlinkFailure, interface name: String) -> VFIOError {
        switch failure.code {
        case ENODEV:
            return .failed("there is no network interface named '\(name)' (ENODEV)",
                           hint: "'ip link' lists interfaces; a PF's netdev is in /sys/bus/pci/devices/ADDRESS/net/")
        case EPERM, EACCES:
            return .failed("reading VFs of \(describe(interface: name)) was not permitted (\(failure.errnoName))", hint: "run as root")
        default:
            return .failed("reading VFs of \(describe(interface: name)) over netlink failed: \(failure.errnoName)\(failure.detail)",
                           hint: failure.code == ENOBUFS || failure.code == EMSGSIZE
                               ? "the reply did not fit; report this with the number of VFs" : "retry; 'ip -d link show \(name)' shows what the kernel says")
        }
    }
}
