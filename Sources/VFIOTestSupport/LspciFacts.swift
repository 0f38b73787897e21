import VFIOCore

/// The facts lspci -vvv prints that vfioctl reads too, as comparable text, per function.
public enum LspciFacts {
    static let types: [PCIePortType: String] = [
        .endpoint: "Endpoint", .legacyEndpoint: "Legacy Endpoint", .rootPort: "Root Port", .upstreamPort: "Upstream Port",
        .downstreamPort: "Downstream Port", .pcieToPCIBridge: "PCI-Express to PCI/PCI-X Bridge",
        .pciToPCIeBridge: "PCI/PCI-X to PCI-Express Bridge", .rootComplexIntegratedEndpoint: "Root Complex Integrated Endpoint",
        .rootComplexEventCollector: "Root Complex Event Collector",
    ]
    static let speeds: [UInt8: String] = [1: "2.5GT/s", 2: "5GT/s", 3: "8GT/s", 4: "16GT/s", 5: "32GT/s", 6: "64GT/s", 8: "128GT/s"]
    static let acsBits = ["SrcValid", "TransBlk", "ReqRedir", "CmpltRedir", "UpstreamFwd", "EgressCtrl", "DirectTrans"]

    static func speed(_ s: PCIeLinkSpeed?) -> String { s.flatMap { speeds[$0.code] } ?? "unknown" }

    /// lspci's size words for Resizable BAR ("256MB", "1GB").
    public static func rebarSize(_ bytes: UInt64) -> String {
        for (unit, suffix) in [(UInt64(1) << 60, "EB"), (1 << 50, "PB"), (1 << 40, "TB"), (1 << 30, "GB"), (1 << 20, "MB")]
            where bytes >= unit { return "\(bytes / unit)\(suffix)" }
        return "\(bytes)"
    }

    /// lspci's BAR size (show_size): the largest of K, M, G, T that divides it.
    public static func barSize(_ bytes: UInt64) -> String {
        var value = bytes, suffix = ""
        for unit in ["K", "M", "G", "T"] where value % 1024 == 0 && value > 0 {
            value /= 1024
            suffix = unit
        }
        return "\(value)\(suffix)"
    }

    static func acsText(_ value: UInt16) -> String {
        acsBits.enumerated().map { $1 + (value & (1 << UInt16($0)) != 0 ? "+" : "-") }.joined(separator: " ")
    }

    /// vfioctl's view, in lspci's words.
    public static func of(_ f: PCIFunction) -> [String: String] {
        var facts: [String: String] = [:]
        for bar in f.bars ?? [] {
            facts["region \(bar.index)"] = (bar.kind == .io ? "io"
                : "memory " + (bar.is64Bit ? "64-bit" : "32-bit") + (bar.prefetchable ? " prefetchable" : " non-prefetchable"))
                + (bar.size.map { $0 > 0 ? " size=" + barSize($0) : "" } ?? "")
        }
        guard let caps = f.capabilities else { return facts }
        guard caps.listReadable else {
            facts["capabilities"] = "<access denied>"
            return facts
        }
        if caps.isPCIe == true {
            facts["express"] = caps.pcieType.flatMap { types[$0] } ?? "?"
            if let type = caps.pcieType, [.endpoint, .legacyEndpoint, .rootComplexIntegratedEndpoint].contains(type) {
                facts["flr"] = caps.flr == true ? "+" : "-"
            }
            if let link = f.link {
                facts["lnkcap"] = speed(link.maxSpeed) + " x\(link.maxWidth ?? 0)"
                facts["lnksta"] = speed(link.speed) + " x\(link.width ?? 0)"
            }
        }
        if caps.hasPowerManagement == true { facts["pm"] = "yes" }
        if caps.afFLR == true { facts["af flr"] = "+" }
        if let msi = caps.msi { facts["msi"] = "\(msi.vectors) maskable\(msi.maskable ? "+" : "-") 64bit\(msi.is64Bit ? "+" : "-")" }
        if let msix = caps.msix { facts["msi-x"] = "\(msix.vectors)" }
        if let acs = caps.acs { facts["acs"] = acsText(acs.capability) + " / " + acsText(acs.control) }
        if let sriov = caps.sriov { facts["sr-iov"] = "\(sriov.initialVFs)/\(sriov.totalVFs)" }
        if caps.hasARI == true { facts["ari"] = "yes" }
        if let serial = caps.serialNumber { facts["dsn"] = SerialNumber.text(serial) }
        for rebar in caps.resizableBARs {
            facts["rebar \(rebar.bar)"] = rebarSize(rebar.currentSize) + " of " + rebar.supportedSizes.map(rebarSize).joined(separator: " ")
        }
        return facts
    }

    /// lspci -D -vvv's view, per function.
    public static func parse(_ output: String) -> [PCIAddress: [String: String]] {
        var all: [PCIAddress: [String: String]] = [:]
        var current: PCIAddress?
        var facts: [String: String] = [:]
        var inDevCap = false
        var section = ""
        func flush() { if let current { all[current] = facts } }
        func flag(_ line: Substring, _ name: String) -> String? {
            guard let range = line.range(of: name) else { return nil }
            let after = line[range.upperBound...]
            return after.first.map(String.init)
        }
        for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
            if let first = line.split(separator: " ").first, !line.hasPrefix("\t"), let address = PCIAddress(String(first)) {
                flush()
                current = address
                facts = [:]
                section = ""
                continue
            }
            let text = line.trimmingCharacters(in: .whitespaces)
            // A CardBus bridge's header runs past 64 bytes: lspci stops there ("to the rest").
            if text.hasPrefix("Capabilities: <access denied>") || text == "<access denied to the rest>" {
                facts["capabilities"] = "<access denied>"
                continue
            }
            // The function's own BARs (one tab); the SR-IOV capability lists its VF BARs deeper.
            if line.hasPrefix("\tRegion "), let colon = text.firstIndex(of: ":") {
                let index = text[text.index(text.startIndex, offsetBy: 7)..<colon]
                // "[size=16K]" when lspci knows it (from sysfs's resource file; never from a dump).
                let size = text.range(of: "[size=").map { " size=" + text[$0.upperBound...].prefix { $0 != "]" } } ?? ""
                if text.contains("I/O ports") {
                    facts["region \(index)"] = "io" + size
                } else if text.contains("Memory at"), let open = text.range(of: "("), let close = text.range(of: ")") {
                    let flags = text[open.upperBound..<close.lowerBound].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                    facts["region \(index)"] = "memory " + flags.joined(separator: " ") + size
                }
                continue
            }
            if text.hasPrefix("Capabilities: [") {
                let body = text[(text.range(of: "] ")?.upperBound ?? text.endIndex)...]
                section = String(body)
                if body.hasPrefix("Express (") {
                    let rest = body[(body.range(of: ") ")?.upperBound ?? body.endIndex)...]
                    let type = rest.split(separator: ",").first.map(String.init) ?? ""
                    facts["express"] = type.replacingOccurrences(of: " (Slot+)", with: "").replacingOccurrences(of: " (Slot-)", with: "")
                } else if body.hasPrefix("Power Management") {
                    facts["pm"] = "yes"
                } else if body.hasPrefix("MSI: ") {
                    let count = body.range(of: "Count=").map { body[$0.upperBound...].split(separator: " ")[0] } ?? ""
                    let max = count.split(separator: "/").last.map(String.init) ?? ""
                    facts["msi"] = "\(max) maskable\(flag(body, "Maskable") ?? "?") 64bit\(flag(body, "64bit") ?? "?")"
                } else if body.hasPrefix("MSI-X: ") {
                    facts["msi-x"] = body.range(of: "Count=").map { String(body[$0.upperBound...].split(separator: " ")[0]) }
                } else if body.hasPrefix("Alternative Routing-ID Interpretation") {
                    facts["ari"] = "yes"
                } else if body.hasPrefix("Device Serial Number ") {
                    facts["dsn"] = String(body.dropFirst("Device Serial Number ".count))
                }
                inDevCap = false
                continue
            }
            if section.hasPrefix("Express") {
                if text.hasPrefix("DevCap:") { inDevCap = true } else if text.hasPrefix("DevCtl:") { inDevCap = false }
                if inDevCap, let value = flag(Substring(text), "FLReset") { facts["flr"] = value }
                for (key, prefix) in [("lnkcap", "LnkCap:"), ("lnksta", "LnkSta:")] where text.hasPrefix(prefix) {
                    let speed = text.range(of: "Speed ").map { String(text[$0.upperBound...].prefix { $0 != "," && $0 != " " }) } ?? "?"
                    let width = text.range(of: "Width x").map { String(text[$0.upperBound...].prefix { $0.isNumber }) } ?? "?"
                    facts[key] = "\(speed) x\(width)"
                }
            } else if section.hasPrefix("PCI Advanced Features"), text.hasPrefix("AFCap:"), flag(Substring(text), "FLR") == "+" {
                facts["af flr"] = "+"
            } else if section.hasPrefix("Access Control Services") {
                if text.hasPrefix("ACSCap:") { facts["acs", default: ""] = String(text.dropFirst("ACSCap:".count)).trimmingCharacters(in: .whitespaces) }
                if text.hasPrefix("ACSCtl:") {
                    facts["acs", default: ""] += " / " + String(text.dropFirst("ACSCtl:".count)).trimmingCharacters(in: .whitespaces)
                }
            } else if section.hasPrefix("Single Root I/O Virtualization"), text.hasPrefix("Initial VFs:") {
                let numbers = text.split(whereSeparator: { !$0.isNumber }).map(String.init)
                if numbers.count >= 2 { facts["sr-iov"] = numbers[0] + "/" + numbers[1] }
            } else if section.hasPrefix("Physical Resizable BAR"), text.hasPrefix("BAR "), let colon = text.firstIndex(of: ":") {
                let index = text[text.index(text.startIndex, offsetBy: 4)..<colon]
                let current = text.range(of: "current size: ").map { String(text[$0.upperBound...].prefix { $0 != "," }) } ?? "?"
                let supported = text.range(of: "supported: ").map { String(text[$0.upperBound...]) } ?? ""
                facts["rebar \(index)"] = current + " of " + supported
            }
        }
        flush()
        return all
    }
}
