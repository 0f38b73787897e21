/// What on the host would break if a function left its host driver: filesystems, swap, stacked
/// block devices, network interfaces in use, the console. Shared by `check` and `detach`.
public enum HostCriticalGuard {
    /// Reasons the host needs this function, in words ("the root filesystem (/ on nvme0n1p2)").
    public static func reasons(_ f: PCIFunction, facts: HostFacts) -> [String] {
        var reasons: [String] = []
        for name in f.blockDevices {
            reasons += blockReasons(name, facts: facts, seen: [])
        }
        for name in f.netInterfaces {
            guard let interface = facts.network[name] else { continue }
            if let master = interface.master { reasons.append("network interface \(name) is enslaved to \(master)") }
            if interface.carriesDefaultRoute {
                reasons.append("network interface \(name) carries the default route")
            } else if interface.hasRoutes {
                reasons.append("network interface \(name) carries routes")
            }
            if !interface.addresses.isEmpty {
                reasons.append("network interface \(name) has addresses " + interface.addresses.joined(separator: ", "))
            }
        }
        for (framebuffer, owner) in facts.framebuffers.sorted(by: { $0.key < $1.key }) where owner == f.address {
            reasons.append("it draws the host console (\(framebuffer))")
        }
        return reasons
    }

    static func blockReasons(_ name: String, facts: HostFacts, seen: Set<String>) -> [String] {
        guard !seen.contains(name) else { return [] }
        var reasons: [String] = []
        let device = facts.blockDevices[name]
        for mount in facts.mounts where device?.device != nil && mount.device == device?.device {
            reasons.append(describe(mount) + " on \(name)")
        }
        for swap in facts.swaps where swap == "/dev/" + name {
            reasons.append("swap on \(name)")
        }
        for holder in device?.holders ?? [] {
            let kind = holder.hasPrefix("md") ? "RAID (md)" : "device-mapper (LVM, dm-crypt or multipath)"
            let stacked = blockReasons(holder, facts: facts, seen: seen.union([name]))
            reasons.append("\(name) is part of \(holder), a \(kind) device"
                           + (stacked.isEmpty ? "" : " holding " + stacked.joined(separator: ", ")))
        }
        return reasons
    }

    static func describe(_ mount: ProcFiles.Mount) -> String {
        switch mount.mountPoint {
        case "/": "the root filesystem (/)"
        case "/boot", "/boot/efi", "/efi": "the boot filesystem (\(mount.mountPoint))"
        default: "a mounted \(mount.fileSystem) filesystem (\(mount.mountPoint))"
        }
    }
}
