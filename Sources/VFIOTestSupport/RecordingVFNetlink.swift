import Glibc
import Synchronization
import VFIOActuator
import VFIOCore
import VFIODeviceLayer

/// SR-IOV PFs and their VFs as rtnetlink shows them, for unit tests of whatever configures VFs.
/// Every read and set is recorded in order. A set changes the VF the way netdevsim's driver does
/// (and most real drivers): a VF index past the PF's count, a multicast MAC, a VLAN id above 4095
/// or qos above 7 → EINVAL; an attribute the PF's driver lacks → EOPNOTSUPP; an unknown
/// interface → ENODEV; any set can be made to fail with an errno. The errors are the live seam's
/// (VFNetlinkErrors). What it stands for is proven against Linux with netdevsim in the lab
/// (Tests/VFIOLabTests/SRIOVBootTests.swift runs the same requests on both and compares).
public final class RecordingVFNetlink: VFNetlink {
    public struct PF: Sendable, Equatable {
        public var driver: String?
        public var vfs: [VFLinkConfig]
        /// Attribute names (VFAttribute.name) the driver has no callback for: EOPNOTSUPP.
        public var unsupported: Set<String>
        public var addresses: PFAddresses

        public init(driver: String? = nil, vfs: [VFLinkConfig], unsupported: Set<String> = [],
                    addresses: PFAddresses = PFAddresses(permanent: MACAddress(rawOctets: [0x00, 0x1b, 0x21, 0x3c, 0x4d, 0x50]), current: nil)) {
            self.driver = driver
            self.vfs = vfs
            self.unsupported = unsupported
            self.addresses = addresses
        }

        /// A PF whose `count` VFs are as netdevsim reports fresh ones: MAC 00:00:00:00:00:00, no
        /// VLAN (802.1Q), spoof checking and trust off, link state auto, no rate limits.
        public static func fresh(driver: String? = "netdevsim", count: Int, unsupported: Set<String> = []) -> PF {
            PF(driver: driver, vfs: (0..<count).map(RecordingVFNetlink.freshVF), unsupported: unsupported)
        }
    }

    public enum Call: Sendable, Equatable, CustomStringConvertible {
        case read(interface: String)
        case set(VFAttribute, vf: Int, interface: String)

        public var description: String {
            switch self {
            case .read(let interface): "read \(interface)"
            case .set(let attribute, let vf, let interface): "set \(interface) vf \(vf) \(attribute)"
            }
        }
    }

    struct Failure {
        var interface: String
        var attribute: String?
        var vf: Int?
        var code: Int32
        var message: String
    }

    struct State {
        var pfs: [String: PF]
        var calls: [Call] = []
        var failures: [Failure] = []
        var onSet: (@Sendable (VFAttribute, Int, String) -> Void)?
    }

    private let state: Mutex<State>

    public init(_ pfs: [String: PF]) {
        state = Mutex(State(pfs: pfs))
    }

    public static func freshVF(_ index: Int) -> VFLinkConfig {
        VFLinkConfig(index: index, mac: MACAddress(rawOctets: [0, 0, 0, 0, 0, 0]), vlan: 0, qos: 0, proto: .dot1Q,
                     spoofchk: false, trust: false, linkState: .auto, minTxRate: 0, maxTxRate: 0)
    }

    /// Every read and set so far, in order (failed ones too).
    public var calls: [Call] { state.withLock { $0.calls } }
    /// The sets only.
    public var sets: [Call] { calls.filter { if case .set = $0 { true } else { false } } }
    public func pf(_ interface: String) -> PF? { state.withLock { $0.pfs[interface] } }

    /// Called after each set the driver took (attribute, VF, PF netdev): what else the driver
    /// changes then, e.g. a VF driver that applies a new MAC live (SimulatedKernel.appliesMACLive).
    public func afterSet(_ hook: @escaping @Sendable (VFAttribute, Int, String) -> Void) { state.withLock { $0.onSet = hook } }

    /// Makes matching sets fail with `code` (nil attribute/vf: any), as a driver or firmware might.
    public func fail(interface: String, attribute: String? = nil, vf: Int? = nil, code: Int32, message: String = "") {
        state.withLock { $0.failures.append(Failure(interface: interface, attribute: attribute, vf: vf, code: code, message: message)) }
    }

    public func vfs(ofInterface interface: String) throws(VFIOError) -> [VFLinkConfig] {
        try InterfaceName.validate(interface)
        let pf = state.withLock { s -> PF? in
            s.calls.append(.read(interface: interface))
            return s.pfs[interface]
        }
        guard let pf else {
            throw .failed("there is no network interface named '\(interface)' (ENODEV)",
                          hint: "'ip link' lists interfaces; a PF's netdev is in /sys/bus/pci/devices/ADDRESS/net/")
        }
        return pf.vfs
    }

    public func addresses(ofInterface interface: String) throws(VFIOError) -> PFAddresses {
        guard let pf = pf(interface) else {
            throw .failed("there is no network interface named '\(interface)' (ENODEV)", hint: "'ip link' lists interfaces")
        }
        return pf.addresses
    }

    /// The PF now has `count` fresh VFs (what a driver's sriov_configure does), e.g. when a
    /// simulated sriov_numvfs write created or removed them.
    public func resize(_ interface: String, count: Int) {
        state.withLock { s in
            guard var pf = s.pfs[interface] else { return }
            pf.vfs = (0..<count).map(Self.freshVF)
            s.pfs[interface] = pf
        }
    }

    public func set(_ attribute: VFAttribute, vf: Int, interface: String) throws(VFIOError) {
        try InterfaceName.validate(interface)
        guard vf >= 0, vf <= Int(UInt32.max) else {
            throw .usage("VF index \(vf) is out of range", hint: "VFs are numbered from 0 to sriov_numvfs - 1")
        }
        let outcome = state.withLock { s -> (code: Int32, message: String, pf: PF?) in
            s.calls.append(.set(attribute, vf: vf, interface: interface))
            guard var pf = s.pfs[interface] else { return (ENODEV, "", nil) }
            if let failure = s.failures.first(where: {
                $0.interface == interface && ($0.attribute == nil || $0.attribute == attribute.name) && ($0.vf == nil || $0.vf == vf)
            }) {
                return (failure.code, failure.message, pf)
            }
            if pf.unsupported.contains(attribute.name) { return (EOPNOTSUPP, "", pf) }
            let driven = Self.asDriverSees(attribute)
            let code = Self.driverCheck(driven, vf: vf, count: pf.vfs.count)
            guard code == 0, let i = pf.vfs.firstIndex(where: { $0.index == vf }) else { return (code == 0 ? EINVAL : code, "", pf) }
            pf.vfs[i] = driven.applied(to: pf.vfs[i])
            s.pfs[interface] = pf
            return (0, "", pf)
        }
        guard outcome.code != 0 else {
            state.withLock { $0.onSet }?(attribute, vf, interface)
            return
        }
        let name = outcome.pf?.driver.map { "\(interface) (driver \($0))" } ?? interface
        throw VFNetlinkErrors.setFailed(attribute, vf: vf, interface: interface, pf: name, code: outcome.code,
                                        message: outcome.message, vfCount: outcome.code == EINVAL ? outcome.pf?.vfs.count : nil,
                                        driver: outcome.pf?.driver)
    }

    /// The attribute as ndo_set_vf_vlan receives it: rtnetlink carries vlan and qos as u32 but
    /// hands them to the driver as u16 and u8, so qos 256 arrives as 0 (VFAttribute.validate
    /// refuses such values before they are sent).
    static func asDriverSees(_ attribute: VFAttribute) -> VFAttribute {
        guard case .vlan(let id, let qos, let proto) = attribute else { return attribute }
        return .vlan(id: Int(UInt16(truncatingIfNeeded: id)), qos: Int(UInt8(truncatingIfNeeded: qos)), proto: proto)
    }

    /// What netdevsim's ndo_set_vf_* refuse with EINVAL (drivers/net/netdevsim/netdev.c, 6.1).
    static func driverCheck(_ attribute: VFAttribute, vf: Int, count: Int) -> Int32 {
        guard vf < count else { return EINVAL }
        switch attribute {
        case .mac(let mac): return mac.isMulticast ? EINVAL : 0
        case .vlan(let id, let qos, _): return id > 4095 || qos > 7 || id < 0 || qos < 0 ? EINVAL : 0
        case .spoofchk, .trust, .linkState, .txRate: return 0
        }
    }
}
