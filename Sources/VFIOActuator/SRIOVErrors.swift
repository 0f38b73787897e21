import Glibc
import VFIOCore

/// What the kernel's errno from an SR-IOV attribute means (drivers/pci/iov.c and the PF
/// drivers), and what fixes it.
enum SRIOVErrors {
    static func explain(_ attribute: String, _ code: Int32, value: String) -> String {
        guard attribute == SRIOVPlanner.numVFsAttribute else { return "" }
        switch code {
        case EBUSY: return value == "0" ? "; the PF's driver refused (a VF is still assigned?)" : "; VFs are enabled already: the count changes through 0"
        case ENOMEM: return "; the kernel could not fit the VFs' BARs or bus numbers under the PF's bridge"
        case ENOSPC: return "; the device ran out of resources for that many VFs (MSI-X vectors, queues)"
        case ERANGE: return "; more than sriov_totalvfs"
        case ENOENT: return "; the PF has no driver, or its driver cannot create VFs"
        case EOPNOTSUPP: return "; the PF's driver does not support SR-IOV configuration"
        default: return ""
        }
    }

    static func hint(_ attribute: String, _ code: Int32, pf: PCIAddress) -> String? {
        guard attribute == SRIOVPlanner.numVFsAttribute else { return nil }
        switch code {
        case EBUSY: return "vfioctl sriov destroy \(pf) first (it refuses while VFs are in use)"
        case ENOMEM: return "boot with pci=realloc on the kernel command line (or enable SR-IOV / ARI and 'Above 4G decoding' in the firmware)"
        case ENOSPC: return "ask for fewer VFs, or free vectors (fewer PF queues, fewer CPUs online)"
        case ENOENT: return "bind the PF's driver first (vfioctl reattach \(pf))"
        default: return "dmesg says why the PF's driver refused"
        }
    }
}

/// What a PF driver's ndo_set_vf_* callbacks refuse, and what they take instead, read from the
/// drivers' source (Linux 6.12): an errno from `ip link set PF vf N ...` means little until it is
/// put in the driver's words. A driver not listed gets the generic hints (VFNetlinkErrors).
enum VFDriverLimits {
    /// The usual VF driver for a PF driver's VFs (for a hint when a VF meant for the host finds
    /// no driver).
    static func vfDriver(ofPF driver: String) -> String? {
        switch driver {
        case "igb": "igbvf"
        case "ixgbe": "ixgbevf"
        case "i40e", "ice": "iavf"
        case "mlx5_core": "mlx5_core"
        case "bnxt_en": "bnxt_en"
        default: nil
        }
    }

    /// What `driver` takes of each VF attribute, for a hint.
    static func supports(_ driver: String) -> String? {
        switch driver {
        case "igb": "igb takes mac, 802.1Q vlan (id 0-4095, qos 0-7), spoofchk, trust, and max_tx_rate (82576 only, up to the link speed)"
        case "ixgbe": "ixgbe takes mac, 802.1Q vlan, spoofchk, trust, and max_tx_rate (11-10000 Mbit/s while linked at 10 Gb/s)"
        case "i40e": "i40e takes mac, 802.1Q vlan, spoofchk, trust, state, and max_tx_rate (up to the link speed)"
        case "ice": "ice takes mac, vlan (802.1ad only in double VLAN mode), spoofchk, trust, state, min_tx_rate and max_tx_rate"
        case "mlx5_core": "mlx5_core takes mac, 802.1Q vlan, spoofchk, trust, state, min_tx_rate and max_tx_rate"
        case "bnxt_en": "bnxt_en takes mac, vlan (802.1ad only with firmware that supports it), spoofchk, trust, state, min_tx_rate and max_tx_rate"
        case "netdevsim": "netdevsim takes every VF attribute"
        default: nil
        }
    }

    /// The driver's reason for `code` on `attribute`, and what it takes instead; nil when the
    /// source says nothing particular.
    static func hint(driver: String?, _ attribute: VFAttribute, code: Int32) -> String? {
        guard let driver else { return nil }
        let reason: String? = switch (driver, attribute, code) {
        // igb_ndo_set_vf_bw: not an 82576 → EOPNOTSUPP; any min_tx_rate → EINVAL; max above the
        // link speed (100/1000) or the link down → EINVAL.
        case ("igb", .txRate, EOPNOTSUPP): "igb limits VF rates only on the 82576"
        case ("igb", .txRate(let min, _), EINVAL) where min > 0: "igb has no minimum VF rate: any min_tx_rate is refused; give max_tx_rate alone"
        case ("igb", .txRate, EINVAL): "igb takes max_tx_rate up to the link speed (100 or 1000 Mbit/s) and only while the PF's link is up"
        // igb_ndo_set_vf_vlan, ixgbe_ndo_set_vf_vlan, i40e_ndo_set_vf_port_vlan, mlx5e_set_vf_vlan:
        // a protocol other than 802.1Q → EPROTONOSUPPORT.
        case ("igb", .vlan, EPROTONOSUPPORT), ("ixgbe", .vlan, EPROTONOSUPPORT), ("i40e", .vlan, EPROTONOSUPPORT),
             ("mlx5_core", .vlan, EPROTONOSUPPORT):
            "\(driver) takes only 802.1Q port VLANs; give proto 802.1Q"
        case ("ice", .vlan, EPROTONOSUPPORT): "ice takes 802.1ad port VLANs only in double VLAN mode; give proto 802.1Q"
        case ("bnxt_en", .vlan, EPROTONOSUPPORT): "bnxt_en takes 802.1ad port VLANs only with firmware that supports the VLAN TPID; give proto 802.1Q"
        case ("bnxt_en", .vlan, EINVAL): "bnxt_en refuses a qos without a VLAN id (and older kernels any qos); give qos 0 or an id"
        // igb has no ndo_set_vf_link_state.
        case ("igb", .linkState, EOPNOTSUPP): "igb has no VF link-state control: a VF's link follows the PF's"
        // ixgbe_ndo_set_vf_bw: any min_tx_rate → EINVAL; the link must be up at 10 Gb/s, max 11-10000.
        case ("ixgbe", .txRate(let min, _), EINVAL) where min > 0: "ixgbe has no minimum VF rate: any min_tx_rate is refused; give max_tx_rate alone"
        case ("ixgbe", .txRate, EINVAL): "ixgbe limits VF rates only while the PF's link is up at 10 Gb/s, max_tx_rate 11-10000 Mbit/s"
        // i40e_ndo_set_vf_bw: any min_tx_rate → EINVAL; max above the link speed → EINVAL.
        case ("i40e", .txRate(let min, _), EINVAL) where min > 0: "i40e has no minimum VF rate: any min_tx_rate is refused; give max_tx_rate alone"
        case ("i40e", .txRate, EINVAL): "i40e takes max_tx_rate up to the PF's link speed"
        default: nil
        }
        guard let reason else { return nil }
        return supports(driver).map { reason + " (" + $0 + ")" } ?? reason
    }
}
