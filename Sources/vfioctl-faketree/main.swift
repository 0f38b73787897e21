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
let domains = Set(fake.functions.map(\.address.domain)).count
print("\(fake.functions.count) functions in \(domains) PCI domains under \(arguments[1])")
