/// vfio-pci and its variant drivers: the one rule for "is this vfio", and the names vfio-pci goes by.
public enum StubDriver {
    public static let vfioPCI = "vfio-pci"
    public static let vfioModule = "vfio_pci"

    /// vfio-pci or a vfio variant driver (mlx5_vfio_pci, hisi_acc_vfio_pci, nvgrace_gpu_vfio_pci...):
    /// every one of them is named for vfio.
    public static func isVFIO(_ driver: String?) -> Bool {
        guard let driver else { return false }
        return driver == vfioPCI || namesVFIO(driver)
    }

    /// "vfio" somewhere in the name, looked for in its bytes (String.contains(String) goes
    /// through the regex engine: a third of `metrics`' time at 5,000 functions went there).
    static func namesVFIO(_ driver: String) -> Bool {
        var (a, b, c): (UInt8, UInt8, UInt8) = (0, 0, 0)
        for byte in driver.utf8 {
            if a == UInt8(ascii: "v") && b == UInt8(ascii: "f") && c == UInt8(ascii: "i") && byte == UInt8(ascii: "o") { return true }
            (a, b, c) = (b, c, byte)
        }
        return false
    }

    /// On vfio: a vfio driver by name, or any driver that made the function a vfio device (vfio-dev/).
    public static func isVFIO(_ f: PCIFunction) -> Bool {
        f.driver != nil && (isVFIO(f.driver) || f.hasVFIODevice)
    }

    /// vfio-pci itself, by its driver name (vfio-pci) or its module's (vfio_pci).
    public static func isVFIOPCI(_ name: String) -> Bool {
        name == vfioPCI || name == vfioModule
    }

    /// A module's name as modprobe and depmod spell it: `-` becomes `_` (libvirt's
    /// virPCINameDashToUnderscore does the same before it looks a module up).
    public static func moduleName(_ name: String) -> String {
        String(name.map { $0 == "-" ? "_" : $0 })
    }
}
