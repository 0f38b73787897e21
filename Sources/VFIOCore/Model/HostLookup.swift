/// Finding on this host what the user named: a function by its network interface, and the one
/// wording for an address that names no function.
extension HostSnapshot {
    /// The PCI function that has the network interface `name` (a PF named by its netdev), or nil.
    /// Each caller says in its own words what a missing one means to it.
    public func function(interface name: String) -> PCIFunction? {
        functions.first { $0.netInterfaces.contains(name) }
    }
}

/// An address that names no PCI function on this host: as a command's error or as a check's or
/// planner's finding, with the caller's hint (where its user finds the right address).
public enum UnknownFunction {
    public static let listHint = "'vfioctl list' shows the functions there are"
    public static let pfHint = "'vfioctl sriov status' lists the SR-IOV PFs"

    public static func message(_ address: PCIAddress) -> String { "no PCI function \(address) on this host" }

    /// Exit 1; `location` ("pools.toml, pf 1") goes before the message.
    public static func error(_ address: PCIAddress, at location: String? = nil, hint: String = listHint) -> VFIOError {
        .failed((location.map { $0 + ": " } ?? "") + message(address), hint: hint)
    }

    public static func finding(_ id: String, _ address: PCIAddress, hint: String) -> Finding {
        Finding(id, .error, address.description, message(address), hint: hint)
    }
}
