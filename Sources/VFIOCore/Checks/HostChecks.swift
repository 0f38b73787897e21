/// Is this host ready for VFIO at all: IOMMU on, interrupts remapped, modules and device nodes
/// there, memory lockable. Pure: snapshot and facts in, findings out.
public enum HostChecks {
    public static func run(_ snapshot: HostSnapshot, _ facts: HostFacts) -> [Finding] {
        iommu(snapshot, facts) + interruptRemapping(snapshot, facts) + modules(facts) + IOMMUFD.findings(facts) + memlock(facts)
    }

    static func iommu(_ snapshot: HostSnapshot, _ facts: HostFacts) -> [Finding] {
        var findings: [Finding] = []
        let cmdline = facts.commandLine
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
            var message = (snapshot.iommu.kind?.name ?? "the IOMMU") + " is on\(units): \(snapshot.iommu.groupCount) IOMMU groups"
            if snapshot.iommu.kind == .intel && !cmdline.options("intel_iommu").contains("on") {
                message += "; this kernel turns VT-d on without intel_iommu=on"
            }
            findings.append(Finding("iommu.enabled", .info, Finding.host, message))
            if cmdline.value("iommu") == "pt" || cmdline.value("iommu.passthrough") == "1" {
                findings.append(Finding("iommu.passthrough", .info, Finding.host,
                                        "iommu=pt: host devices keep identity DMA mappings (no translation cost for them)"))
            }
            return findings
        }
        findings.append(noGroups(snapshot, facts))
        return findings
    }

    /// Why the host has no IOMMU group, and what fixes it: the one verdict `check` and `groups`
    /// give. Causes, most fundamental first: nothing describes an IOMMU; the kernel has no driver
    /// for the one described (its build configuration says so); the command line turned it off;
    /// the driver is a module not loaded; the kernel leaves VT-d off by default; else unknown.
    public static func noGroups(_ snapshot: HostSnapshot, _ facts: HostFacts) -> Finding {
        let cmdline = facts.commandLine
        guard let kind = snapshot.iommu.kind else {
            let amd = IOMMUKind(cpu: snapshot.cpuVendor) == .amd
            return Finding("iommu.absent", .error, Finding.host,
                           "no IOMMU: the firmware describes none (no DMAR, IVRS or VIOT ACPI table) and there are no IOMMU groups"
                               + logged(facts, ["disabled", "Firmware Bug"]),
                           hint: amd ? "enable the IOMMU (AMD-Vi, often \"IOMMU\" or \"SVM\" options) in the firmware setup"
                               : "enable VT-d (Intel Virtualization Technology for Directed I/O) in the firmware setup")
        }
        let release = facts.kernelRelease ?? "unknown"
        let described = snapshot.iommu.acpiTables.contains(kind.table)
            ? "the firmware describes \(kind.name)" : "the kernel registered \(kind.name) (" + snapshot.iommu.units.joined(separator: ", ") + ")"
        func finding(_ id: String, _ cause: String, hint: String) -> Finding {
            Finding(id, .error, Finding.host, described + ", but " + cause + ": no IOMMU groups"
                        + logged(facts, ["disabled", "Unknown option", "Firmware Bug", "failed", "Failed"]), hint: hint)
        }
        let config = facts.kernelConfig
        if let config, !config.builds(kind.configOption) {
            return finding("iommu.no-driver",
                           "this kernel (\(release)) has no driver for it (\(kind.configOption) is not set in \(config.path))",
                           hint: "boot a kernel built with \(kind.configOption)=y" + (kind.module == nil ? "" : " or =m")
                               + (kind == .virtio ? " (Debian 12's 6.1 lacks it; its 6.12 from bookworm-backports has it)" : ""))
        }
        let off = kind.offSwitches.filter { option in
            let parts = option.split(separator: "=", maxSplits: 1).map(String.init)
            return cmdline.options(parts[0]).contains(parts[1])
        }
        if !off.isEmpty {
            let remove = "remove " + off.joined(separator: " ") + " from the kernel command line"
            return finding("iommu.disabled", "the kernel command line turned it off (" + off.joined(separator: " ") + ")",
                           hint: remove + (kind == .intel ? " and boot with intel_iommu=on (see 'vfioctl config cmdline')"
                               : kind == .amd ? " (AMD-Vi is on by default; amd_iommu=on is not a valid value)" : ""))
        }
        if let module = kind.module, config?.value(kind.configOption) == "m", !facts.modules.isLoaded(module) {
            guard facts.modules.isAvailable(module) else {
                return finding("iommu.no-driver", "its driver, the \(module) module, is not installed for this kernel (\(release))",
                               hint: "install the modules of kernel \(release) (lib/modules/\(release) lacks \(module))")
            }
            return finding("iommu.driver-not-loaded", "its driver, the \(module) module, is not loaded",
                           hint: "modprobe \(module), and have the initramfs load it (add it to /etc/initramfs-tools/modules) "
                               + "so the devices behind it wait for it at boot")
        }
        if kind == .intel, let config, let setting = config.intelIOMMUDefaultOff, !cmdline.options("intel_iommu").contains("on") {
            return finding("iommu.disabled",
                           "this kernel leaves it off unless the command line says intel_iommu=on (\(setting) in \(config.path))",
                           hint: "boot with intel_iommu=on (see 'vfioctl config cmdline')")
        }
        let hint = switch kind {
        case .intel: "boot with intel_iommu=on (see 'vfioctl config cmdline')"
        case .amd: "check the firmware's IOMMU setting; AMD-Vi is on by default (amd_iommu=on is not a valid value)"
        case .virtio: "boot a kernel with CONFIG_VIRTIO_IOMMU whose initramfs loads virtio_iommu"
            + (config == nil ? " (/boot/config-\(release) could not be read to tell)" : "")
        }
        return finding("iommu.disabled", "the kernel did not turn it on", hint: hint)
    }

    /// "; the kernel logged \"DMAR: IOMMU disabled\"": the first two relevant log messages that
    /// contain one of `words`, or nothing when the log was not read or says nothing of it.
    static func logged(_ facts: HostFacts, _ words: [String]) -> String {
        let lines = (facts.kernelLog ?? []).filter { line in words.contains { line.contains($0) } }.prefix(2)
        guard !lines.isEmpty else { return "" }
        return "; the kernel logged " + lines.map { "\"" + $0 + "\"" }.joined(separator: ", ")
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
                                    "interrupt remapping is active (" + InterruptChips.summary(facts.interruptChips.filter { $0.hasPrefix("IR-") })
                                        + " in /proc/interrupts)")]
            if unsafeAllowed {
                findings.append(Finding("irq-remap.unsafe-allowed", .warning, Finding.host,
                                        "allow_unsafe_interrupts is set although interrupt remapping is active: " + unsafeHint,
                                        hint: "remove allow_unsafe_interrupts from /etc/modprobe.d and the kernel command line"))
            }
            return findings
        }
        let (why, fix) = remappingCause(snapshot, facts)
        let detail = " (" + why.joined(separator: "; ") + ")"
        if unsafeAllowed {
            return [Finding("irq-remap.unsafe", .warning, Finding.host,
                            "interrupt remapping is not active\(detail); VFIO works only because allow_unsafe_interrupts is set: "
                                + unsafeHint,
                            hint: fix)]
        }
        let accept = "vfioctl config modprobe --allow-unsafe-interrupts, knowing that " + unsafeHint
        return [Finding("irq-remap.inactive", .error, Finding.host,
                        "interrupt remapping is not active\(detail): vfio_iommu_type1 will refuse every group "
                            + "(\"No interrupt remapping support\")",
                        hint: snapshot.iommu.kind == .virtio ? fix + ", or accept the risk: " + accept
                            : fix + "; if that is impossible and the risk is accepted: " + accept)]
    }

    /// Why interrupts are not remapped, as far as the facts tell, and the fix for that cause.
    static func remappingCause(_ snapshot: HostSnapshot, _ facts: HostFacts) -> (why: [String], fix: String) {
        if snapshot.iommu.kind == .virtio {
            return (["virtio-iommu (VIOT) has no interrupt remapping at all"],
                    "no firmware setting or kernel option adds it: give the host an IOMMU that remaps interrupts "
                        + "(in QEMU: -device intel-iommu,intremap=on or amd-iommu,intremap=on with -machine kernel-irqchip=split)")
        }
        var why: [String] = []
        var fixes: [String] = []
        if facts.commandLine.options("intremap").contains("off") {
            why.append("the command line has intremap=off")
            fixes.append("remove intremap=off from the kernel command line")
        }
        let supports = facts.iommuUnits.compactMap(\.supportsInterruptRemapping)
        if !supports.isEmpty && !supports.contains(true) {
            why.append("the IOMMU cannot remap interrupts: ecap bit 3 is clear")
            fixes.append("enable interrupt remapping in the firmware setup, or use hardware that has it")
        }
        // drivers/iommu/amd/init.c check_ioapic_information, intel/irq_remapping.c parse_ioapics_under_ir.
        let log = (facts.kernelLog ?? []).filter { line in
            (line.contains("Firmware Bug") && line.lowercased().contains("ioapic"))
                || (line.lowercased().contains("remapping") && !line.contains("Enabled IRQ remapping") && !line.contains("remapping enabled"))
        }
        if !log.isEmpty {
            why.append("the kernel logged " + log.prefix(2).map { "\"" + $0 + "\"" }.joined(separator: ", "))
            if log.contains(where: { $0.contains("not in IVRS table") || $0.contains("No southbridge IOAPIC") }) {
                fixes.append("the firmware's IVRS table leaves out an IOAPIC: update the firmware, or name the IOAPIC "
                             + "with the ivrs_ioapic kernel parameter (see the kernel's admin-guide/kernel-parameters)")
            } else if log.contains(where: { $0.contains("has no mapping iommu") }) {
                fixes.append("the firmware's DMAR table leaves out an IOAPIC: update the firmware")
            }
        }
        if why.isEmpty { why.append("no IR- interrupt chips in /proc/interrupts") }
        if fixes.isEmpty {
            fixes.append("enable interrupt remapping (x2APIC / interrupt remapping in the firmware setup, no intremap=off)")
        }
        return (why, fixes.joined(separator: "; "))
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
            } else if let explained = IOMMUFD.containerFinding(facts) {
                findings.append(explained)
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
