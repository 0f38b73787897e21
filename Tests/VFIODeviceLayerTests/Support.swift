import Foundation
import VFIOCore
import VFIODeviceLayer
import VFIOTestSupport

/// Paths of committed fixtures: fixtures/ at the top of the repository.
enum Fixtures {
    static var directory: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fixtures").path
    }
    static var pciIDs: String { directory + "/test-pci.ids" }
}

extension FakeSysfs {
    /// Builds the tree and reads it back through the device layer.
    func read(_ options: DeviceLayer.Options = .all, workers: Int = 2) throws -> HostSnapshot {
        build()
        return try DeviceLayer(root: HostRoot(root), idsPath: Fixtures.pciIDs, workers: workers).snapshot(options)
    }
}

func address(_ text: String) -> PCIAddress {
    guard let address = PCIAddress(text) else { preconditionFailure("bad address \(text)") }
    return address
}
