/// Is this host ready for VFIO at all: IOMMU on, interrupts remapped, modules and device nodes
/// there, memory lockable. Pure: snapshot and facts in, findings out.
public enum HostChecks {
    public static func run(_ snapshot: HostSnapshot, _ facts: HostFacts) -> [Finding] {
        iommu(snapshot, facts) + interruptRemapping(snapshot, facts) + modules(facts) + memlock(facts)
    }

    static func iommu(_ snapshot: HostSnapshot, _ facts: HostFacts) -> [Finding] {
        var findings: [Finding] = []
        let cmdline = facts.commandLine
        let vendor = snapshot.iommu.vendor(cpu: snapshot.cpuVendor)
        if cmdline.options("amd_iommu").contains("on") {
            findings.append(Finding("cmdline.amd-iommu-on", .warning, Finding.host,
                                    "the kernel command line has amd_iommu=on, which is not a valid value (the kernel logs "
                                        + "\"AMD-Vi: Unknown option - 'on'\" and ignores it)",
                                    hint: "remove amd_iommu=on: AMD-Vi is on by default; iommu=pt is all an AMD host needs"))
        }
        if let override = cmdline.value("pcie_acs_override") {
            findings.append(Finding("acs.override", .warning, Finding.host,
                                    "pcie_acs_override=\(override) makes the kernel pretend devices are isolated: "
                                        + "groups it splits can still reach each other's memory by peer-to-peer DMA",
                                    hint: "prefer hardware with ACS, or the upstream pci=config_acs= for specific ports"))
        }
        if snapshot.iommu.hasGroups {
            let units = snapshot.iommu.units.isEmpty ? "" : " (" + snapshot.iommu.units.joined(separator: ", ") + ")"
            var message = "the IOMMU is on\(units): \(snapshot.iommu.groupCount) IOMMU groups"
            if vendor == .intel && !cmdline.options("intel_iommu").contains("on") {
                message += "; this kernel turns VT-d on without intel_iommu=on"
            }
            findings.append(Finding("iommu.enabled", .info, Finding.host, message))
            if cmdline.value("iommu") == "pt" || cmdline.value("iommu.passthrough") == "1" {
                findings.append(Finding("iommu.passthrough", .info, Finding.host,
                                        "iommu=pt: host devices keep identity DMA mappings (no translation cost for them)"))
            }
            return findings
        }
        // No groups: why, and the switch that fixes it for this vendor.
        let tables = snapshot.iommu.acpiTables
        let offSwitches = ["intel_iommu": "off", "amd_iommu": "off", "iommu": "off"].compactMap { key, off in
            cmdline.options(key).contains(off) ? "\(key)=\(off)" : nil
        }.sorted()
        if tables.isEmpty {
            findings.append(Finding("iommu.absent", .error, Finding.host,
                                    "no IOMMU: the firmware describes none (no DMAR or IVRS ACPI table) and there are no IOMMU groups",
                                    hint: vendor == .amd || vendor == .hygon
                                        ? "enable the IOMMU (AMD-Vi, often \"IOMMU\" or \"SVM\" options) in the firmware setup"
                                        : "enable VT-d (Intel Virtualization Technology for Directed I/O) in the firmware setup"))
        } else {
            let table = tables.joined(separator: " and ")
            var message = "the firmware has an IOMMU (\(table) table) but the kernel did not turn it on: no IOMMU groups"
            if !offSwitches.isEmpty { message += "; the command line has " + offSwitches.joined(separator: " ") }
            let hint = vendor == .intel
                ? (offSwitches.isEmpty ? "" : "remove " + offSwitches.joined(separator: " ") + " and ")
                    + "boot with intel_iommu=on (see 'vfioctl config cmdline')"
                : (offSwitches.isEmpty ? "check the firmware's IOMMU setting; " : "remove " + offSwitches.joined(separator: " ") + "; ")
                    + "AMD-Vi is on by default (amd_iommu=on is not a valid value)"
            findings.append(Finding("iommu.disabled", .error, Finding.host, message, hint: hint))
        }
        return findings
    }

    static func interruptRemapping(_ snapshot: HostSnapshot, _ facts: HostFacts) -> [Finding] {
        guard snapshot.iommu.hasGroups else { return [] }
        let cmdline = facts.commandLine
        let unsafeAllowed = facts.flag("vfio_iommu_type1", "allow_unsafe_interrupts") == true
            || cmdline.value("vfio_iommu_type1.allow_unsafe_interrupts").flatMap(SysfsValues.flag) == true
        let unsafeHint = "vfio_iommu_type1 allow_unsafe_interrupts=1 lets a guest that owns a device forge MSIs "
            + "into the host (an isolation breach)"
        if facts.interruptRemappingActive {
            var findings = [Finding("irq-remap.active", .info, Finding.host,
                                    "interrupt remapping is active (" + facts.interruptChips.filter { $0.hasPrefix("IR-") }.sorted()
                                        .joined(separator: ", ") + " in /proc/interrupts)")]
            if unsafeAllowed {
                findings.append(Finding("irq-remap.unsafe-allowed", .warning, Finding.host,
                                        "allow_unsafe_interrupts is set although interrupt remapping is active: " + unsafeHint,
                                        hint: "remove allow_unsafe_interrupts from /etc/modprobe.d and the kernel command line"))
            }
            return findings
        }
        var why: [String] = []
        if cmdline.options("intremap").contains("off") { why.append("the command line has intremap=off") }
        let supports = facts.iommuUnits.compactMap(\.supportsInterruptRemapping)
        if !supports.isEmpty && !supports.contains(true) {
            why.append("the IOMMU cannot remap interrupts (ecap bit 3 clear)")
        }
        let detail = why.isEmpty ? "" : " (" + why.joined(separator: "; ") + ")"
        if unsafeAllowed {
            return [Finding("irq-remap.unsafe", .warning, Finding.host,
                            "interrupt remapping is not active\(detail); VFIO works only because allow_unsafe_interrupts is set: "
                                + unsafeHint,
                            hint: "enable interrupt remapping (x2APIC / interrupt remapping in the firmware setup, no intremap=off)")]
        }
        return [Finding("irq-remap.inactive", .error, Finding.host,
                        "interrupt remapping is not active\(detail): vfio_iommu_type1 will refuse every group "
                            + "(\"No interrupt remapping support\")",
                        hint: "enable interrupt remapping (x2APIC / interrupt remapping in the firmware setup, remove intremap=off); "
                            + "if that is impossible and the risk is accepted: vfioctl config modprobe --allow-unsafe-interrupts")]
    }

    /// The modules VFIO needs.
    public static let vfioModules = ["vfio", "vfio_iommu_type1", "vfio_pci"]

    static func modules(_ facts: HostFacts) -> [Finding] {
        var findings: [Finding] = []
        let missing = vfioModules.filter { !facts.modules.isAvailable($0) }
        let notLoaded = vfioModules.filter { facts.modules.isAvailable($0) && !facts.modules.isLoaded($0) }
        if !missing.isEmpty {
            findings.append(Finding("vfio.module-missing", .error, Finding.host,
                                    "the running kernel (\(facts.kernelRelease ?? "unknown")) has no " + missing.joined(separator: ", ")
                                        + " module", hint: "install a kernel built with CONFIG_VFIO_PCI (Debian's linux-image-amd64 has it)"))
        }
        if !notLoaded.isEmpty {
            findings.append(Finding("vfio.module-not-loaded", .info, Finding.host,
                                    notLoaded.joined(separator: ", ") + " not loaded yet",
                                    hint: "vfioctl detach (and libvirt) load vfio-pci when they need it; modprobe vfio-pci does it now"))
        }
        if facts.modules.isLoaded("vfio") {
            if let container = facts.vfioContainer {
                if container.mode & 0o666 != 0o666 {
                    findings.append(Finding("vfio.container-mode", .warning, Finding.host,
                                            "/dev/vfio/vfio has mode 0" + String(container.mode & 0o777, radix: 8)
                                                + ": QEMU running unprivileged cannot open it (vfio.rst wants 0666; systemd 254 set 0600)",
                                            hint: "chmod 0666 /dev/vfio/vfio, or fix the udev rule that sets it"))
                }
            } else {
                findings.append(Finding("vfio.container-missing", .error, Finding.host,
                                        "vfio is loaded but /dev/vfio/vfio does not exist",
                                        hint: "check devtmpfs is mounted on /dev and udev is running"))
            }
        }
        return findings
    }

    static func memlock(_ facts: HostFacts) -> [Finding] {
        guard let limit = facts.memlock else { return [] }
        guard let soft = limit.soft else {
            return [Finding("memlock.unlimited", .info, Finding.host, "locked memory is unlimited for this shell")]
        }
        return [Finding("memlock.limited", .warning, Finding.host,
                        "this shell may lock only \(ByteCount.describe(soft)) of memory; QEMU started from it with a VFIO "
                            + "device must lock all guest RAM and will fail (libvirt raises the limit itself)",
                        hint: "ulimit -l unlimited before starting QEMU by hand, or LimitMEMLOCK=infinity in its systemd unit")]
    }
}

/// "8 MiB"
public enum ByteCount {
    public static func describe(_ bytes: UInt64) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 && value.truncatingRemainder(dividingBy: 1024) == 0 {
            value /= 1024
            unit += 1
        }
        return "\(Int(value)) \(units[unit])"
    }
}
