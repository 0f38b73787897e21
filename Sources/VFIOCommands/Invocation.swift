import ArgumentParser
import Glibc
import VFIOActuator
import VFIODeviceLayer

/// What one run of vfioctl works against, chosen by its caller and handed to the command:
/// the process's environment for the binary (`fromEnvironment`), a test's fake tree, pci.ids and
/// simulated kernel for a command run in process. Nothing reaches a command through globals.
public struct Invocation: Sendable {
    /// The root when --root is not given (VFIOCTL_ROOT); nil: /.
    public var root: String?
    /// The pci.ids that names devices (VFIOCTL_PCI_IDS); nil: libpci's.
    public var pciIDs: String?
    /// What changing commands act through.
    public var actuators: Actuators
    /// The CPU that `cpu host` and `cpu dump` ask with CPUID (this machine's when it has the
    /// instruction; a test's replay of a dump); nil: none, /proc/cpuinfo is decoded instead.
    public var cpuid: (any CPUIDReading)?

    public init(root: String? = nil, pciIDs: String? = nil, actuators: Actuators = Actuators(), cpuid: (any CPUIDReading)? = nil) {
        self.root = root
        self.pciIDs = pciIDs
        self.actuators = actuators
        self.cpuid = cpuid
    }

    /// The process's: VFIOCTL_ROOT, VFIOCTL_PCI_IDS, the actuators' variables, and this
    /// machine's CPU.
    public static func fromEnvironment() -> Invocation {
        Invocation(root: variable("VFIOCTL_ROOT"), pciIDs: variable("VFIOCTL_PCI_IDS"), actuators: .fromEnvironment(),
                   cpuid: LiveCPUID.available ? LiveCPUID() : nil)
    }

    /// An environment variable's value; unset and empty are the same.
    static func variable(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// Every vfioctl command that runs: it gets the invocation instead of reading the environment.
protocol VfioctlCommand: ParsableCommand {
    func run(in invocation: Invocation) throws
}

extension VfioctlCommand {
    func run() throws { try run(in: .fromEnvironment()) }
}
