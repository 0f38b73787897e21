/// The JSON contract for inventory (`list`, `groups`, `show`): see docs/json.md.
public enum InventoryJSON {
    public static func hex4(_ value: UInt16) -> String { HexDigits.padded(UInt64(value), width: 4) }

    /// The function object F, streamed (documents hold thousands), keys in order.
    public static func function(_ f: PCIFunction) -> JSON {
        .stream(JSONStream { w in
            w.address("address", f.address)
            w.value("bars", f.bars.map { .array($0.map(bar)) } ?? .null)
            w.strings("block_devices", f.blockDevices)
            w.bool("boot_vga", f.bootVGA)
            w.object("capabilities", f.capabilities.map { c in { capabilities(c, &$0) } })
            w.hex("class", UInt64(f.classCode), width: 6)
            w.string("class_name", f.className)
            w.hex("device_id", UInt64(f.deviceID), width: 4)
            w.string("device_name", f.deviceName)
            w.string("driver", f.driver)
            w.string("driver_module", f.driverModule)
            w.string("driver_override", f.driverOverride)
            w.bool("has_reset", f.hasResetAttribute)
            w.int("header_type", f.headerType.map { Int($0 & 0x7f) })
            w.int("iommu_group", f.iommuGroup)
            w.bool("is_bridge", f.isBridge)
            w.object("link", f.link.map { l in { link(l, &$0) } })
            w.bool("multifunction", f.isMultifunction)
            w.strings("net_interfaces", f.netInterfaces)
            w.string("nodedev", f.address.nodeDeviceName)
            w.int("numa_node", f.numaNode)
            w.address("parent", f.parent)
            w.bool("pcie", f.isPCIe)
            w.string("pcie_type", f.capabilities?.pcieType?.name)
            w.address("physfn", f.physfn)
            w.strings("reset_methods", f.resetMethods)
            w.hex("revision", f.revision.map(UInt64.init), width: 2)
            w.object("sriov", f.sriov.map { s in { sriov(s, initialVFs: f.capabilities?.sriov?.initialVFs, &$0) } })
            w.hex("subsystem_device_id", f.subsystemDeviceID.map(UInt64.init), width: 4)
            w.string("subsystem_name", f.subsystemName)
            w.hex("subsystem_vendor_id", f.subsystemVendorID.map(UInt64.init), width: 4)
            w.string("sysfs_path", "/" + f.sysfsPath)
            w.hex("vendor_id", UInt64(f.vendorID), width: 4)
            w.string("vendor_name", f.vendorName)
            w.int("vf_index", f.vfIndex)
            w.string("vfio_cdev", f.vfioCdevPath)
            w.bool("vfio_device", StubDriver.isVFIO(f))
        })
    }

    static func sriov(_ s: SRIOVInfo, initialVFs: Int?, _ w: inout JSONObjectWriter) {
        w.bool("drivers_autoprobe", s.driversAutoprobe)
        w.int("initial_vfs", initialVFs)
        w.int("num_vfs", s.numVFs)
        w.int("offset", s.offset)
        w.int("stride", s.stride)
        w.int("total_vfs", s.totalVFs)
        w.hex("vf_device_id", s.vfDeviceID.map(UInt64.init), width: 4)
        w.strings("vfs", s.vfs.map(\.description))
    }

    static func capabilities(_ c: ConfigCapabilities, _ w: inout JSONObjectWriter) {
        w.object("acs", c.acs.map { acs in { self.acs(acs, &$0) } })
        w.bool("af_flr", c.afFLR)
        w.bool("ari", c.hasARI)
        w.bool("capability_list", c.listReadable)
        w.int("config_bytes", c.configLength)
        w.bool("extended_config", c.extendedConfigReadable)
        w.bool("flr", c.flr)
        w.bool("msi", c.hasMSI)
        w.bool("msi_64bit", c.msi?.is64Bit)
        w.int("msi_vectors", c.msi?.vectors)
        w.bool("msix", c.hasMSIX)
        w.int("msix_vectors", c.msix?.vectors)
        w.bool("pcie", c.isPCIe)
        w.bool("pm_no_soft_reset", c.hasPowerManagement == true ? c.pmNoSoftReset : nil)
        w.bool("power_management", c.hasPowerManagement)
        w.value("resizable_bars", c.extendedConfigReadable ? .array(c.resizableBARs.map(resizableBAR)) : .null)
        w.string("serial_number", c.serialNumber.map(SerialNumber.text))
        w.bool("sriov", c.hasSRIOV)
    }

    static func link(_ l: PCIeLink, _ w: inout JSONObjectWriter) {
        w.int("max_speed_mts", l.maxSpeed?.megatransfers)
        w.int("max_width", l.maxWidth)
        w.int("speed_mts", l.speed?.megatransfers)
        w.int("width", l.width)
    }

    static func bar(_ b: BAR) -> JSON {
        .object([
            "address": b.address.map { .string("0x" + HexDigits.padded($0, width: 1)) } ?? .null,
            "index": .int(b.index),
            "is_64bit": .bool(b.is64Bit),
            "prefetchable": .bool(b.prefetchable),
            "size": b.size.map { .int(Int(clamping: $0)) } ?? .null,
            "type": .string(b.kind.rawValue),
        ])
    }

    static func resizableBAR(_ r: ResizableBAR) -> JSON {
        .object([
            "bar": .int(r.bar),
            "current_size": .int(Int(clamping: r.currentSize)),
            "supported_sizes": .array(r.supportedSizes.map { .int(Int(clamping: $0)) }),
        ])
    }

    static func acs(_ acs: ACSCapability, _ w: inout JSONObjectWriter) {
        w.hex("capability", UInt64(acs.capability), width: 4)
        w.hex("control", UInt64(acs.control), width: 4)
        w.strings("enabled", ACSCapability.Bit.allCases.filter(acs.enables).map(\.name))
        w.strings("supported", ACSCapability.Bit.allCases.filter(acs.supports).map(\.name))
    }

    public static func group(_ group: IOMMUGroup, in snapshot: HostSnapshot) -> JSON {
        .object([
            "id": .int(group.id),
            "type": .optional(group.type),
            "reserved_regions": .array(group.reservedRegions.map { region in
                .object([
                    "start": .string("0x" + HexDigits.padded(region.start, width: 16)),
                    "end": .string("0x" + HexDigits.padded(region.end, width: 16)),
                    "type": .string(region.type),
                ])
            }),
            "functions": .array(group.members.compactMap { snapshot.function($0).map(function) }),
        ])
    }

    /// `cause`: why there are no groups (`HostChecks.noGroups`), as `check` reports it.
    public static func iommu(_ state: IOMMUState, cause: Finding? = nil) -> JSON {
        .object([
            "acpi_tables": .strings(state.acpiTables),
            "enabled": .bool(state.hasGroups),
            "finding": cause.map(CheckOutput.finding) ?? .null,
            "group_count": .int(state.groupCount),
            "kind": .optional(state.kind?.rawValue),
            "units": .strings(state.units),
        ])
    }

    /// The functions `filter` selects (the same as the text's); none is an empty list.
    public static func list(_ snapshot: HostSnapshot, mdevs: [MediatedDevice] = [], filter: FunctionFilter = FunctionFilter(),
                            mapper: PieceMapper = .serial) -> JSON {
        let functions = filter.select(snapshot.functions)
        return .document(["functions": mapper.array(functions.count, depth: 2) { function(functions[$0]) },
                          "mdevs": .array(filter.select(mdevs).map(mdev))])
    }

    /// A mediated device in `list` and `groups`.
    static func mdev(_ mdev: MediatedDevice) -> JSON {
        .object(["driver": .optional(mdev.driver), "group": .optional(mdev.iommuGroup), "parent": .string(mdev.parent),
                 "type": .optional(mdev.type), "uuid": .string(mdev.uuid.description)])
    }

    /// `mdevs`: the mediated devices, whose groups (one each) are listed apart (`mdev_groups`).
    public static func groups(_ snapshot: HostSnapshot, mdevs: [MediatedDevice] = [], cause: Finding? = nil, mapper: PieceMapper = .serial) -> JSON {
        .document([
            "groups": mapper.array(snapshot.groups.count, depth: 2) { group(snapshot.groups[$0], in: snapshot) },
            "iommu": iommu(snapshot.iommu, cause: cause),
            "mdev_groups": .array(mdevs.filter { $0.iommuGroup != nil }.sorted { $0.iommuGroup! < $1.iommuGroup! }.map(mdev)),
            "ungrouped": .strings(snapshot.functions.filter { $0.iommuGroup == nil }.map(\.address.description)),
        ])
    }

    public static func show(_ function: PCIFunction, in snapshot: HostSnapshot) -> JSON {
        var fields: JSONObject = ["function": InventoryJSON.function(function)]
        fields["group"] = snapshot.group(of: function.address).map { group($0, in: snapshot) } ?? .null
        // Only show reads them: beside F, not in it (F is every list's element).
        fields["kernel_modules"] = function.kernelModules.map(JSON.strings) ?? .null
        fields["vfio_variant_modules"] = function.vfioVariantModules.map(JSON.strings) ?? .null
        fields["vfio_variant"] = function.vfioVariant.map { .string($0.module) } ?? .null
        fields["upstream_path"] = .strings(snapshot.upstreamPath(of: function.address).map(\.address.description))
        return .document(fields)
    }
}
