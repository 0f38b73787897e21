import Foundation
import Testing
import VFIOCore
import VFIOTestSupport

/// A network PF with SR-IOV VF attributes on the lab's real kernel: netdevsim, built out of tree
/// by scripts/lab-netdevsim for boots that name `modules=netdevsim`. Suites ask for one with
/// `NetdevsimPF.make(vfs:)`; lab/guest/netdevsim.sh does the work (load, new_device, udev,
/// debugfs max_vfs, sriov_numvfs), so `scripts/lab run BOOT sh lab/guest/netdevsim.sh 4` gives
/// the same device by hand.
struct NetdevsimPF {
    /// The port netdev (eni10np1 once udev has renamed eth0).
    let name: String
    let vfCount: Int
    /// /sys/bus/netdevsim/devices/netdevsim10
    let device = "/sys/bus/netdevsim/devices/netdevsim10"

    /// netdevsim's VF limit here: its debugfs knob takes up to UINT_MAX - 128 in 6.1, so 64 is
    /// well inside it.
    static let maxVFs = 64

    /// A PF with `vfs` VFs; with `fresh` (the default) every VF starts as netdevsim creates it
    /// (MAC 00:00:00:00:00:00, no VLAN, spoof checking and trust off, link state auto, no rates).
    static func make(vfs: Int, fresh: Bool = true) throws -> NetdevsimPF {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("lab/guest/netdevsim.sh").path
        let result = try TestProcess.run("sh", [script, String(vfs), String(maxVFs)] + (fresh ? ["fresh"] : []), timeout: 120)
        let name = result.out.trimmingCharacters(in: .whitespacesAndNewlines)
        guard result.status == 0, !name.isEmpty else {
            throw LabError("lab/guest/netdevsim.sh \(vfs) failed (\(result.status)): \(result.err)")
        }
        let pf = NetdevsimPF(name: name, vfCount: vfs)
        guard Kernel.read(pf.device + "/sriov_numvfs") == String(vfs) else { throw LabError("netdevsim did not make \(vfs) VFs") }
        return pf
    }

    /// `ip -d link show NAME`: the VFs as iproute2 prints them (its own netlink code, nothing of
    /// vfioctl's or libnl's), parsed by `IPRoute2.vfs`.
    func iproute2VFs() throws -> [VFLinkConfig] {
        let result = try TestProcess.run("ip", ["-d", "link", "show", name], timeout: 60)
        guard result.status == 0 else { throw LabError("ip -d link show \(name) failed: \(result.err)") }
        return IPRoute2.vfs(result.out)
    }
}

/// iproute2's text for VFs (ip/ipaddress.c print_vfinfo), one line per VF:
///     vf 1     link/ether 52:54:00:00:00:01 brd ff:ff:ff:ff:ff:ff, vlan 10, qos 3, vlan protocol 802.1ad,
///     max_tx_rate 100Mbps, min_tx_rate 10Mbps, spoof checking on, link-state enable, trust on, query_rss off
/// It leaves out what is zero (vlan, qos, rates) and a protocol of 0.
enum IPRoute2 {
    static func vfs(_ text: String) -> [VFLinkConfig] {
        text.split(separator: "\n").compactMap { line -> VFLinkConfig? in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("vf ") else { return nil }
            let segments = trimmed.components(separatedBy: ", ")
            let head = segments[0].split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard head.count >= 2, let index = Int(head[1]) else { return nil }
            var vf = VFLinkConfig(index: index)
            if let at = head.firstIndex(of: "link/ether"), at + 1 < head.count {
                vf.mac = macAddress(head[at + 1])
            }
            for segment in segments.dropFirst() {
                let words = segment.split(separator: " ").map(String.init)
                func last() -> String { words.last ?? "" }
                switch true {
                case segment.hasPrefix("vlan protocol "): vf.proto = (try? VLANProtocol.parse(last())) ?? VLANProtocol(rawValue: 0)
                case segment.hasPrefix("vlan "): vf.vlan = Int(last()) ?? -1
                case segment.hasPrefix("qos "): vf.qos = Int(last()) ?? -1
                case segment.hasPrefix("max_tx_rate "): vf.maxTxRate = Int(last().replacingOccurrences(of: "Mbps", with: "")) ?? -1
                case segment.hasPrefix("min_tx_rate "): vf.minTxRate = Int(last().replacingOccurrences(of: "Mbps", with: "")) ?? -1
                case segment.hasPrefix("spoof checking "): vf.spoofchk = last() == "on"
                case segment.hasPrefix("trust "): vf.trust = last() == "on"
                case segment.hasPrefix("link-state "): vf.linkState = try? VFLinkState.parse(last())
                default: break
                }
            }
            return vf
        }
    }

    static func macAddress(_ text: String) -> MACAddress? { MACAddress(rawText: text) }
}
