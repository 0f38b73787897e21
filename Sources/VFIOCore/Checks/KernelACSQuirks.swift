/// The kernel's ACS quirks (drivers/pci/quirks.c `pci_dev_acs_enabled[]`, Linux 6.12.19; 6.18
/// adds Loongson root ports, listed here too): devices whose isolation the kernel decides from
/// a table, not from their ACS capability. The first row whose vendor and device match and whose
/// rule gives an answer decides (`pci_dev_specific_acs_enabled`); no answer falls through to the
/// generic rules (KernelACS). Every answer is for REQ_ACS_FLAGS (SV | RR | CR | UF), the flags
/// IOMMU grouping asks for.
public enum KernelACSQuirks {
    /// The quirk functions the table names.
    enum Rule {
        /// pci_quirk_amd_sb_acs: AMD/ATI southbridge multifunction devices on a root bus, when
        /// the firmware has an IVRS table (AMD-Vi): isolated.
        case amdSouthbridge
        /// pci_quirk_mf_endpoint_acs: multifunction endpoints (NICs) whose functions cannot reach
        /// each other: isolated, unconditionally.
        case multifunctionEndpoint
        /// pci_quirk_rciep_acs: Intel root complex integrated endpoints: isolated.
        case rootComplexIntegratedEndpoint
        /// pci_quirk_qcom_rp_acs, pci_quirk_xgene_acs, pci_quirk_brcm_acs, pci_quirk_nxp_rp_acs,
        /// pci_quirk_loongson_acs: root ports that isolate without saying so: isolated.
        case isolatingRootPort
        /// pci_quirk_intel_pch_acs: Intel PCH root ports (the listed ids) whose ACS the kernel
        /// turns on through the chipset at boot when an IOMMU asks for ACS: isolated then.
        case intelPCH
        /// pci_quirk_intel_spt_pch_acs: Intel Sunrise Point / Union Point root ports, whose ACS
        /// control sits at offset 8 of the capability.
        case intelSunrisePoint
        /// pci_quirk_cavium_acs: Cavium ThunderX root ports: isolated.
        case cavium
        /// pci_quirk_al_acs: Amazon Annapurna Labs root ports: isolated.
        case annapurna
        /// pci_quirk_zhaoxin_pcie_ports_acs: Zhaoxin root and downstream ports: the listed ids
        /// isolate, every other one does not (final: its ACS capability is never consulted).
        case zhaoxinPorts
        /// pci_quirk_wangxun_nic_acs: Wangxun NICs: the listed ids isolate, others do not (final).
        case wangxunNIC
    }

    /// pci_dev_acs_enabled[], in the kernel's order.
    static let table: [(vendor: UInt16, device: UInt16?, rule: Rule)] = [
        (0x1002, 0x4385, .amdSouthbridge),
        (0x1002, 0x439c, .amdSouthbridge),
        (0x1002, 0x4383, .amdSouthbridge),
        (0x1002, 0x439d, .amdSouthbridge),
        (0x1002, 0x4384, .amdSouthbridge),
        (0x1002, 0x4399, .amdSouthbridge),
        (0x1022, 0x780f, .amdSouthbridge),
        (0x1022, 0x7809, .amdSouthbridge),
        (0x1924, 0x0903, .multifunctionEndpoint),
        (0x1924, 0x0923, .multifunctionEndpoint),
        (0x1924, 0x0a03, .multifunctionEndpoint),
        (0x8086, 0x10c6, .multifunctionEndpoint),
        (0x8086, 0x10db, .multifunctionEndpoint),
        (0x8086, 0x10dd, .multifunctionEndpoint),
        (0x8086, 0x10e1, .multifunctionEndpoint),
        (0x8086, 0x10f1, .multifunctionEndpoint),
        (0x8086, 0x10f7, .multifunctionEndpoint),
        (0x8086, 0x10f8, .multifunctionEndpoint),
        (0x8086, 0x10f9, .multifunctionEndpoint),
        (0x8086, 0x10fa, .multifunctionEndpoint),
        (0x8086, 0x10fb, .multifunctionEndpoint),
        (0x8086, 0x10fc, .multifunctionEndpoint),
        (0x8086, 0x1507, .multifunctionEndpoint),
        (0x8086, 0x1514, .multifunctionEndpoint),
        (0x8086, 0x151c, .multifunctionEndpoint),
        (0x8086, 0x1529, .multifunctionEndpoint),
        (0x8086, 0x152a, .multifunctionEndpoint),
        (0x8086, 0x154d, .multifunctionEndpoint),
        (0x8086, 0x154f, .multifunctionEndpoint),
        (0x8086, 0x1551, .multifunctionEndpoint),
        (0x8086, 0x1558, .multifunctionEndpoint),
        // 82580
        (0x8086, 0x1509, .multifunctionEndpoint),
        (0x8086, 0x150e, .multifunctionEndpoint),
        (0x8086, 0x150f, .multifunctionEndpoint),
        (0x8086, 0x1510, .multifunctionEndpoint),
        (0x8086, 0x1511, .multifunctionEndpoint),
        (0x8086, 0x1516, .multifunctionEndpoint),
        (0x8086, 0x1527, .multifunctionEndpoint),
        // 82576
        (0x8086, 0x10c9, .multifunctionEndpoint),
        (0x8086, 0x10e6, .multifunctionEndpoint),
        (0x8086, 0x10e7, .multifunctionEndpoint),
        (0x8086, 0x10e8, .multifunctionEndpoint),
        (0x8086, 0x150a, .multifunctionEndpoint),
        (0x8086, 0x150d, .multifunctionEndpoint),
        (0x8086, 0x1518, .multifunctionEndpoint),
        (0x8086, 0x1526, .multifunctionEndpoint),
        // 82575
        (0x8086, 0x10a7, .multifunctionEndpoint),
        (0x8086, 0x10a9, .multifunctionEndpoint),
        (0x8086, 0x10d6, .multifunctionEndpoint),
        // I350
        (0x8086, 0x1521, .multifunctionEndpoint),
        (0x8086, 0x1522, .multifunctionEndpoint),
        (0x8086, 0x1523, .multifunctionEndpoint),
        (0x8086, 0x1524, .multifunctionEndpoint),
        // 82571 (Quads omitted due to non-ACS switch)
        (0x8086, 0x105e, .multifunctionEndpoint),
        (0x8086, 0x105f, .multifunctionEndpoint),
        (0x8086, 0x1060, .multifunctionEndpoint),
        (0x8086, 0x10d9, .multifunctionEndpoint),
        // I219
        (0x8086, 0x15b7, .multifunctionEndpoint),
        (0x8086, 0x15b8, .multifunctionEndpoint),
        (0x8086, nil, .rootComplexIntegratedEndpoint),
        // QCOM QDF2xxx root ports
        (0x17cb, 0x0400, .isolatingRootPort),
        (0x17cb, 0x0401, .isolatingRootPort),
        // QCOM SA8775P root port
        (0x17cb, 0x0115, .isolatingRootPort),
        // HXT SD4800 root ports. The ACS design is same as QCOM QDF2xxx
        (0x1dbf, 0x0401, .isolatingRootPort),
        // Intel PCH root ports
        (0x8086, nil, .intelPCH),
        (0x8086, nil, .intelSunrisePoint),
        (0x19a2, 0x0710, .multifunctionEndpoint),
        (0x10df, 0x0720, .multifunctionEndpoint),
        // Cavium ThunderX
        (0x177d, nil, .cavium),
        // Cavium multi-function devices
        (0x177d, 0xa026, .multifunctionEndpoint),
        (0x177d, 0xa059, .multifunctionEndpoint),
        (0x177d, 0xa060, .multifunctionEndpoint),
        // APM X-Gene
        (0x10e8, 0xe004, .isolatingRootPort),
        // Ampere Computing
        (0x1def, 0xe005, .isolatingRootPort),
        (0x1def, 0xe006, .isolatingRootPort),
        (0x1def, 0xe007, .isolatingRootPort),
        (0x1def, 0xe008, .isolatingRootPort),
        (0x1def, 0xe009, .isolatingRootPort),
        (0x1def, 0xe00a, .isolatingRootPort),
        (0x1def, 0xe00b, .isolatingRootPort),
        (0x1def, 0xe00c, .isolatingRootPort),
        // Broadcom multi-function device
        (0x14e4, 0x16d7, .multifunctionEndpoint),
        (0x14e4, 0x1750, .multifunctionEndpoint),
        (0x14e4, 0x1751, .multifunctionEndpoint),
        (0x14e4, 0x1752, .multifunctionEndpoint),
        (0x14e4, 0x1760, .multifunctionEndpoint),
        (0x14e4, 0x1761, .multifunctionEndpoint),
        (0x14e4, 0x1762, .multifunctionEndpoint),
        (0x14e4, 0x1763, .multifunctionEndpoint),
        (0x14e4, 0xd714, .isolatingRootPort),
        // Loongson root ports (Linux 6.18)
        (0x0014, 0x3c09, .isolatingRootPort),
        (0x0014, 0x3c19, .isolatingRootPort),
        (0x0014, 0x3c29, .isolatingRootPort),
        (0x0014, 0x7a09, .isolatingRootPort),
        (0x0014, 0x7a19, .isolatingRootPort),
        (0x0014, 0x7a29, .isolatingRootPort),
        (0x0014, 0x7a39, .isolatingRootPort),
        (0x0014, 0x7a49, .isolatingRootPort),
        (0x0014, 0x7a59, .isolatingRootPort),
        (0x0014, 0x7a69, .isolatingRootPort),
        // Amazon Annapurna Labs
        (0x1c36, 0x0031, .annapurna),
        // Zhaoxin multi-function devices
        (0x1d17, 0x3038, .multifunctionEndpoint),
        (0x1d17, 0x3104, .multifunctionEndpoint),
        (0x1d17, 0x9083, .multifunctionEndpoint),
        // NXP root ports, xx=16, 12, or 08 cores
        // LX2xx0A : without security features + CAN-FD
        (0x1957, 0x8d81, .isolatingRootPort),
        (0x1957, 0x8da1, .isolatingRootPort),
        (0x1957, 0x8d83, .isolatingRootPort),
        // LX2xx0C : security features + CAN-FD
        (0x1957, 0x8d80, .isolatingRootPort),
        (0x1957, 0x8da0, .isolatingRootPort),
        (0x1957, 0x8d82, .isolatingRootPort),
        // LX2xx0E : security features + CAN
        (0x1957, 0x8d90, .isolatingRootPort),
        (0x1957, 0x8db0, .isolatingRootPort),
        (0x1957, 0x8d92, .isolatingRootPort),
        // LX2xx0N : without security features + CAN
        (0x1957, 0x8d91, .isolatingRootPort),
        (0x1957, 0x8db1, .isolatingRootPort),
        (0x1957, 0x8d93, .isolatingRootPort),
        // LX2xx2A : without security features + CAN-FD
        (0x1957, 0x8d89, .isolatingRootPort),
        (0x1957, 0x8da9, .isolatingRootPort),
        (0x1957, 0x8d8b, .isolatingRootPort),
        // LX2xx2C : security features + CAN-FD
        (0x1957, 0x8d88, .isolatingRootPort),
        (0x1957, 0x8da8, .isolatingRootPort),
        (0x1957, 0x8d8a, .isolatingRootPort),
        // LX2xx2E : security features + CAN
        (0x1957, 0x8d98, .isolatingRootPort),
        (0x1957, 0x8db8, .isolatingRootPort),
        (0x1957, 0x8d9a, .isolatingRootPort),
        // LX2xx2N : without security features + CAN
        (0x1957, 0x8d99, .isolatingRootPort),
        (0x1957, 0x8db9, .isolatingRootPort),
        (0x1957, 0x8d9b, .isolatingRootPort),
        // Zhaoxin Root/Downstream Ports
        (0x1d17, nil, .zhaoxinPorts),
        // Wangxun nics
        (0x8088, nil, .wangxunNIC),
    ]

    /// pci_quirk_intel_pch_acs_ids[].
    static let intelPCHRootPorts: Set<UInt16> = [
        // Ibexpeak PCH
        0x3b42, 0x3b43, 0x3b44, 0x3b45, 0x3b46, 0x3b47, 0x3b48, 0x3b49,
        0x3b4a, 0x3b4b, 0x3b4c, 0x3b4d, 0x3b4e, 0x3b4f, 0x3b50, 0x3b51,
        // Cougarpoint PCH
        0x1c10, 0x1c11, 0x1c12, 0x1c13, 0x1c14, 0x1c15, 0x1c16, 0x1c17,
        0x1c18, 0x1c19, 0x1c1a, 0x1c1b, 0x1c1c, 0x1c1d, 0x1c1e, 0x1c1f,
        // Pantherpoint PCH
        0x1e10, 0x1e11, 0x1e12, 0x1e13, 0x1e14, 0x1e15, 0x1e16, 0x1e17,
        0x1e18, 0x1e19, 0x1e1a, 0x1e1b, 0x1e1c, 0x1e1d, 0x1e1e, 0x1e1f,
        // Lynxpoint-H PCH
        0x8c10, 0x8c11, 0x8c12, 0x8c13, 0x8c14, 0x8c15, 0x8c16, 0x8c17,
        0x8c18, 0x8c19, 0x8c1a, 0x8c1b, 0x8c1c, 0x8c1d, 0x8c1e, 0x8c1f,
        // Lynxpoint-LP PCH
        0x9c10, 0x9c11, 0x9c12, 0x9c13, 0x9c14, 0x9c15, 0x9c16, 0x9c17,
        0x9c18, 0x9c19, 0x9c1a, 0x9c1b,
        // Wildcat PCH
        0x9c90, 0x9c91, 0x9c92, 0x9c93, 0x9c94, 0x9c95, 0x9c96, 0x9c97,
        0x9c98, 0x9c99, 0x9c9a, 0x9c9b,
        // Patsburg (X79) PCH
        0x1d10, 0x1d12, 0x1d14, 0x1d16, 0x1d18, 0x1d1a, 0x1d1c, 0x1d1e,
        // Wellsburg (X99) PCH
        0x8d10, 0x8d11, 0x8d12, 0x8d13, 0x8d14, 0x8d15, 0x8d16, 0x8d17,
        0x8d18, 0x8d19, 0x8d1a, 0x8d1b, 0x8d1c, 0x8d1d, 0x8d1e,
        // Lynx Point (9 series) PCH
        0x8c90, 0x8c92, 0x8c94, 0x8c96, 0x8c98, 0x8c9a, 0x8c9c, 0x8c9e,
    ]

    /// The kernel's answer for `f` from its quirk table, nil when no row answers. `ivrs`: the
    /// firmware has an IVRS table (AMD-Vi); `iommu`: an IOMMU is active (it is what asks the
    /// kernel to turn ACS on through Intel PCH quirks at boot).
    public static func isolates(_ f: PCIFunction, ivrs: Bool, iommu: Bool) -> Bool? {
        for row in table where row.vendor == f.vendorID && (row.device == nil || row.device == f.deviceID) {
            if let answer = answer(row.rule, f, ivrs: ivrs, iommu: iommu) { return answer }
        }
        return nil
    }

    static func answer(_ rule: Rule, _ f: PCIFunction, ivrs: Bool, iommu: Bool) -> Bool? {
        let type = f.capabilities?.pcieType
        let rootPort = f.isPCIe == true && type == .rootPort
        switch rule {
        case .amdSouthbridge:
            return f.isMultifunction == true && f.parent == nil && ivrs ? true : nil
        case .multifunctionEndpoint, .isolatingRootPort:
            return true
        case .rootComplexIntegratedEndpoint:
            return type == .rootComplexIntegratedEndpoint ? true : nil
        case .intelPCH:
            guard rootPort, intelPCHRootPorts.contains(f.deviceID) else { return nil }
            return iommu
        case .intelSunrisePoint:
            guard rootPort, sunrisePointRootPorts.contains(where: { $0.contains(f.deviceID) }) else { return nil }
            guard let caps = f.capabilities, caps.extendedConfigReadable else { return nil }
            guard let acs = caps.acs else { return nil }
            // The kernel turns the implemented flags on at boot when an IOMMU asks for ACS.
            if iommu { return true }
            let required = KernelACS.requiredMask & acs.capability
            return acs.controlAtEight & required == required
        case .cavium:
            guard rootPort, caviumRootPorts.contains(where: { $0.contains(f.deviceID) }) else { return nil }
            return true
        case .annapurna:
            return type == .rootPort ? true : nil
        case .zhaoxinPorts:
            guard f.isPCIe == true, type == .rootPort || type == .downstreamPort else { return nil }
            return zhaoxinIsolatingPorts.contains { $0.contains(f.deviceID) }
        case .wangxunNIC:
            return wangxunIsolating.contains { $0.contains(f.deviceID) }
        }
    }

    /// pci_quirk_intel_spt_pch_acs_match.
    static let sunrisePointRootPorts: [ClosedRange<UInt16>] = [0xa110...0xa11f, 0xa167...0xa16a, 0xa290...0xa29f, 0xa2e7...0xa2ee, 0x9d10...0x9d1b]
    /// pci_quirk_cavium_acs_match: ThunderX1, ThunderX2, ThunderX3.
    static let caviumRootPorts: [ClosedRange<UInt16>] = [0xa000...0xa7ff, 0xaf84...0xaf84, 0xb884...0xb884]
    static let zhaoxinIsolatingPorts: [ClosedRange<UInt16>] = [0x0710...0x071e, 0x0721...0x0721, 0x0723...0x0752]
    static let wangxunIsolating: [ClosedRange<UInt16>] = [0x0100...0x010f, 0x1001...0x1001, 0x2001...0x2001, 0x5010...0x5010,
                                                          0x5025...0x5025, 0x5040...0x5040, 0x5110...0x5110, 0x5125...0x5125, 0x5140...0x5140]
}
