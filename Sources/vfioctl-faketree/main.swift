// Writes a synthetic host's sysfs tree in the kernel's layout, for benchmarks:
//   vfioctl-faketree DIR FUNCTIONS
// The host is `benchHost` (VFIOTestSupport): several PCI domains; each root port carries a
// dual-port SR-IOV NIC whose first port has VFs (each VF in its own group), a GPU with its audio
// function, or an NVMe drive.
import Glibc
import VFIOTestSupport

let arguments = CommandLine.arguments
guard arguments.count == 3, let target = Int(arguments[2]), target > 0 else {
    print("usage: vfioctl-faketree DIR FUNCTIONS")
    exit(64)
}
var fake = FakeSysfs(root: arguments[1])
benchHost(&fake, functions: target)
fake.build()
// The kernel's counters a running host has (SummaryCache keys on them): this boot, the uevents
// so far, no taint.
fake.write("proc/sys/kernel/random/boot_id", "8e2f4c1a-0b7d-4e5f-9a6b-3c2d1e0f4a5b\n")
fake.write("sys/kernel/uevent_seqnum", "\(fake.functions.count * 3)\n")
fake.write("proc/sys/kernel/tainted", "0\n")
let domains = Set(fake.functions.map(\.address.domain)).count
print("\(fake.functions.count) functions in \(domains) PCI domains under \(arguments[1])")
