/// vfio-pci, the driver vfioctl gives guests' functions, and the one rule for "is this function on
/// vfio" (libvirt's virPCIStubDriver plays the same part).
public enum StubDriver {
    public static let vfioPCI = "vfio-pci"
    public static let vfioModule = "vfio_pci"

    /// vfio-pci or a vfio variant driver (mlx5_vfio_pci, hisi_acc_vfio_pci, nvgrace_gpu_vfio_pci...):
    /// every one of them is named for vfio.
    public static func isVFIO(_ driver: String?) -> Bool {
        guard let driver else { return false }
        return driver == vfioPCI || driver.contains("vfio")
    }

    /// On vfio: a vfio driver by name, or any driver that made the function a vfio device (vfio-dev/).
    public static func isVFIO(_ f: PCIFunction) -> Bool {
        f.driver != nil && (isVFIO(f.driver) || f.hasVFIODevice)
    }
}
