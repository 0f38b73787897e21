import CNetlinkShim
import Glibc
import VFIOCore
import VFIODeviceLayer

/// The actuator's seam to the kernel for SR-IOV VF attributes: read a PF's VFs, set one attribute
/// of one VF. `LiveVFNetlink` is the real one (rtnetlink through libnl-route-3, one socket);
/// unit tests use VFIOTestSupport.RecordingVFNetlink, and the lab (SRIOVBootTests) proves that
/// it answers as Linux does with netdevsim.
public protocol VFNetlink: Sendable {
    /// Every VF of PF netdev `interface`, in index order, as its driver reports them.
    func vfs(ofInterface interface: String) throws(VFIOError) -> [VFLinkConfig]
    /// One attribute of VF `vf` of PF netdev `interface`, exactly as given (validation is the
    /// caller's: VFAttribute.validate). Throws the kernel's refusal as a VFIOError naming the
    /// interface, its driver, the VF, the attribute and the errno.
    func set(_ attribute: VFAttribute, vf: Int, interface: String) throws(VFIOError)
    /// The PF netdev's permanent MAC (IFLA_PERM_ADDRESS) and current one, what `--mac auto`
    /// derives VF MACs from.
    func addresses(ofInterface interface: String) throws(VFIOError) -> PFAddresses
}

/// What a refused VF attribute means, in words an admin can act on. Shared by the live seam and
/// the recording fake so that both say the same.
public enum VFNetlinkErrors {
    /// - Parameters:
    ///   - pf: "eth0 (driver ixgbe)" or "eth0".
    ///   - vfCount: the PF's VF count when known (read after an EINVAL to tell a missing VF from
    ///     a value the driver refuses).
    ///   - driver: the PF's driver, when known: its own limits make the hint (VFDriverLimits).
    public static func setFailed(_ attribute: VFAttribute, vf: Int, interface: String, pf: String, code: Int32,
                                 message: String = "", vfCount: Int? = nil, driver: String? = nil) -> VFIOError {
        let said = message.isEmpty ? "" : " (the kernel says: \(message))"
        let error = generic(attribute, vf: vf, interface: interface, pf: pf, code: code, said: said, vfCount: vfCount)
        // The PF driver's own limits, when its source says what this errno means (not for a VF
        // that does not exist).
        guard let known = VFDriverLimits.hint(driver: driver, attribute, code: code), !(code == EINVAL && (vfCount.map { vf >= $0 } ?? false)) else {
            return error
        }
        var explained = error
        explained.hint = known
        return explained
    }

    static func generic(_ attribute: VFAttribute, vf: Int, interface: String, pf: String, code: Int32, said: String, vfCount: Int?) -> VFIOError {
        let name = Errno.name(code)
        switch code {
        case EOPNOTSUPP:
            return .failed("\(pf) does not support '\(attribute.name)' on VF \(vf) (\(name))\(said)",
                           hint: "this driver cannot set \(attribute.name) for its VFs; leave it out for this PF")
        case EPROTONOSUPPORT:
            return .failed("\(pf) does not support '\(attribute.name)' as asked on VF \(vf): \(attribute) (\(name))\(said)",
                           hint: "this driver takes only 802.1Q port VLANs; use proto 802.1Q")
        case EINVAL:
            if let vfCount, vf >= vfCount {
                return .failed("\(pf) refused '\(attribute.name)' on VF \(vf) (\(name)): it has no VF \(vf), only \(vfCount)\(vfCount > 0 ? " (0-\(vfCount - 1))" : "")\(said)",
                               hint: vfCount == 0 ? "create VFs first (sriov_numvfs)" : "VFs are numbered from 0 to \(vfCount - 1)")
            }
            return .failed("\(pf) refused '\(attribute.name)' on VF \(vf): \(attribute) (\(name))\(said)",
                           hint: hint(for: attribute))
        case EPERM, EACCES:
            return .failed("setting '\(attribute.name)' on VF \(vf) of \(pf) was not permitted (\(name))\(said)",
                           hint: "run as root (CAP_NET_ADMIN); on some NICs the firmware, not the host, owns this VF")
        case ENODEV:
            return .failed("there is no network interface named '\(interface)' (ENODEV)",
                           hint: "'ip link' lists interfaces; a PF's netdev is in /sys/bus/pci/devices/ADDRESS/net/")
        case EBUSY, EAGAIN:
            return .failed("\(pf) is busy and did not set '\(attribute.name)' on VF \(vf) (\(name))\(said)",
                           hint: "the VF or PF is being reset or is in use; retry in a moment")
        case ENETDOWN:
            return .failed("\(pf) did not set '\(attribute.name)' on VF \(vf) (\(name)): the PF is down\(said)",
                           hint: "bring the PF up first: ip link set \(interface) up")
        default:
            return .failed("setting '\(attribute.name)' (\(attribute)) on VF \(vf) of \(pf) failed: \(name) (\(Errno.describe(code)))\(said)",
                           hint: "'ip -d link show \(interface)' shows the VFs as the kernel has them")
        }
    }

    static func hint(for attribute: VFAttribute) -> String {
        switch attribute {
        case .mac: "give a unicast MAC (lowest bit of the first octet clear), e.g. 52:54:00:6d:90:02"
        case .vlan: "VLAN ids are 0-4095 (0 clears), qos 0-7, proto 802.1Q or 802.1ad; drivers differ on qos or 802.1ad without an id"
        case .txRate: "rates are Mbit/s, no higher than the PF's link speed; min_tx_rate no higher than max_tx_rate"
        case .spoofchk, .trust, .linkState: "the driver refused the value; see dmesg for its reason"
        }
    }
}

/// The real seam: RTM_SETLINK on the PF with one IFLA_VF_* attribute per request, and
/// RTM_GETLINK with RTEXT_FILTER_VF to read, over one socket opened at init and reused.
public final class LiveVFNetlink: VFNetlink {
    public let reader: VFLinkReader

    public init(root: HostRoot = .live) throws(VFIOError) {
        reader = try VFLinkReader(root: root)
    }

    /// Requests sent over the socket so far (the lab checks that it is one socket throughout).
    public var requestCount: Int { reader.netlink.requestCount }
    public var socketDescriptor: Int32 { reader.netlink.descriptor }

    public func vfs(ofInterface interface: String) throws(VFIOError) -> [VFLinkConfig] {
        try reader.vfs(ofInterface: interface)
    }

    public func addresses(ofInterface interface: String) throws(VFIOError) -> PFAddresses {
        let link = try reader.link(interface)
        return PFAddresses(permanent: link.permanentAddress, current: link.address)
    }

    public func set(_ attribute: VFAttribute, vf: Int, interface: String) throws(VFIOError) {
        try InterfaceName.validate(interface)
        guard vf >= 0, vf <= Int(UInt32.max) else {
            throw .usage("VF index \(vf) is out of range", hint: "VFs are numbered from 0 to sriov_numvfs - 1")
        }
        var setting = Self.setting(attribute, vf: UInt32(vf))
        var error = vfioctl_nl_error()
        let status = reader.netlink.withSocket { socket in vfioctl_nl_set_vf(socket, interface, &setting, &error) }
        guard status != 0 else { return }
        let failure = NetlinkFailure(error)
        guard failure.code != 0 else {
            throw .failed("setting '\(attribute.name)' on VF \(vf) of \(interface) failed in libnl: \(failure.message) (libnl error \(failure.libnlCode))",
                          hint: "retry; 'ip link set \(interface) vf \(vf) ...' shows whether the kernel takes it")
        }
        // After EINVAL, one read tells a VF that does not exist from a value the driver refuses.
        var vfCount: Int?
        if failure.code == EINVAL { vfCount = (try? reader.link(interface))?.numVFs }
        throw VFNetlinkErrors.setFailed(attribute, vf: vf, interface: interface, pf: reader.describe(interface: interface),
                                        code: failure.code, message: failure.message, vfCount: vfCount,
                                        driver: reader.driver(ofInterface: interface))
    }

    /// The C shim's description of one attribute (also what the encoding tests build from).
    static func setting(_ attribute: VFAttribute, vf: UInt32) -> vfioctl_vf_setting {
        var s = vfioctl_vf_setting()
        s.vf = vf
        switch attribute {
        case .mac(let mac):
            s.kind = Int32(VFIOCTL_VF_MAC)
            withUnsafeMutableBytes(of: &s.mac) { raw in
                for (i, octet) in mac.octets.prefix(6).enumerated() { raw[i] = octet }
            }
        case .vlan(let id, let qos, let proto):
            s.kind = Int32(VFIOCTL_VF_VLAN)
            s.vlan = UInt32(truncatingIfNeeded: id)
            s.qos = UInt32(truncatingIfNeeded: qos)
            s.vlan_proto = proto.rawValue
        case .spoofchk(let on):
            s.kind = Int32(VFIOCTL_VF_SPOOFCHK)
            s.value = on ? 1 : 0
        case .trust(let on):
            s.kind = Int32(VFIOCTL_VF_TRUST)
            s.value = on ? 1 : 0
        case .linkState(let state):
            s.kind = Int32(VFIOCTL_VF_LINK_STATE)
            s.value = state.rawValue
        case .txRate(let min, let max):
            s.kind = Int32(VFIOCTL_VF_RATE)
            s.min_tx_rate = UInt32(truncatingIfNeeded: min)
            s.max_tx_rate = UInt32(truncatingIfNeeded: max)
        }
        return s
    }

    /// The bytes of the RTM_SETLINK request `set` sends (sequence number and port id 0).
    public static func encodedRequest(_ attribute: VFAttribute, vf: UInt32, interface: String) -> [UInt8] {
        var setting = setting(attribute, vf: vf)
        var buffer = [UInt8](repeating: 0, count: 256)
        let length = buffer.withUnsafeMutableBufferPointer { vfioctl_nl_encode_set(interface, &setting, $0.baseAddress, Int32($0.count)) }
        return length > 0 ? Array(buffer.prefix(Int(length))) : []
    }

    /// The bytes of the RTM_GETLINK request a read sends.
    public static func encodedReadRequest(interface: String) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 256)
        let length = buffer.withUnsafeMutableBufferPointer { vfioctl_nl_encode_get(interface, 0, $0.baseAddress, Int32($0.count)) }
        return length > 0 ? Array(buffer.prefix(Int(length))) : []
    }
}
