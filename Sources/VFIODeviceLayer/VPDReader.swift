import Glibc
import VFIOCore

/// Reads functions' `vpd` attributes, where a command needs a card's serial number (nova's
/// remote-managed VFs): VPD is read through the device's VPD capability, a few bytes at a time
/// and slowly on real hardware, so never as part of an inventory. Reads, never decides.
public struct VPDReader: Sendable {
    public let root: HostRoot

    public init(root: HostRoot) { self.root = root }

    public func read(_ address: PCIAddress) -> VPDReading {
        switch root.read(SysfsLayout.busDevices + "/\(address)/vpd", limit: PCIVPD.sizeLimit) {
        case .success(let bytes): .read(PCIVPD.parse(bytes))
        case .failure(.system(ENOENT)): .absent
        case .failure(let failure): .unreadable(failure.description)
        }
    }

    /// The VPD of each function, and of each VF's PF (nova falls back to the PF's).
    public func read(_ functions: [PCIFunction]) -> [PCIAddress: VPDReading] {
        var readings: [PCIAddress: VPDReading] = [:]
        for address in functions.flatMap({ [$0.address] + ($0.physfn.map { [$0] } ?? []) }) where readings[address] == nil {
            readings[address] = read(address)
        }
        return readings
    }
}
