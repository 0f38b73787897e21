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
