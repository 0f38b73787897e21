/// Hardware known to need care when assigned.
public enum KnownDevices {
    /// AMD GPUs that do not come back from a guest without a vendor-specific reset (the "AMD reset
    /// bug"); the families gnif/vendor-reset handles (its src/device-db.h lists these ids).
    public static let amdResetBug: [String: Set<UInt16>] = [
        "Polaris 10": [0x67C0, 0x67C1, 0x67C2, 0x67C4, 0x67C7, 0x67D0, 0x67DF, 0x67C8, 0x67C9, 0x67CA, 0x67CC, 0x67CF, 0x6FDF],
        "Polaris 11": [0x67E0, 0x67E3, 0x67E8, 0x67EB, 0x67EF, 0x67FF, 0x67E1, 0x67E7, 0x67E9],
        "Polaris 12": [0x6980, 0x6981, 0x6985, 0x6986, 0x6987, 0x6995, 0x6997, 0x699F],
        "Vega 10": [0x6860, 0x6861, 0x6862, 0x6863, 0x6864, 0x6867, 0x6868, 0x6869, 0x686A, 0x686B, 0x686C, 0x686D,
                    0x686E, 0x686F, 0x687F],
        "Vega 20": [0x66A0, 0x66A1, 0x66A2, 0x66A3, 0x66A4, 0x66A7, 0x66AF],
        "Navi 10": [0x7310, 0x7312, 0x7318, 0x7319, 0x731A, 0x731B, 0x731E, 0x731F],
        "Navi 12": [0x7360, 0x7362],
        "Navi 14": [0x7340, 0x7341, 0x7347, 0x734F],
    ]

    /// The AMD GPU family with the reset bug this function belongs to, if any.
    public static func amdResetBugFamily(_ f: PCIFunction) -> String? {
        guard f.vendorID == 0x1002, f.baseClass == 0x03 else { return nil }
        return amdResetBug.first { $0.value.contains(f.deviceID) }?.key
    }
}
