/// vfio-pci variant drivers (mlx5_vfio_pci, hisi_acc_vfio_pci, nvgrace_gpu_vfio_pci, ...) from the
/// running kernel's modules.alias, and the best one for a function as libvirt picks it.
///
/// A variant driver lists its devices with PCI_DRIVER_OVERRIDE_DEVICE_VFIO (override_only =
/// PCI_ID_F_VFIO_DRIVER_OVERRIDE); modpost then writes `vfio_pci:` where other drivers get `pci:`
/// (scripts/mod/file2alias.c, do_pci_entry: `case PCI_ID_F_VFIO_DRIVER_OVERRIDE:
/// strcpy(alias, "vfio_pci:")`), so depmod lists `alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i*
/// mlx5_vfio_pci`. No device's modalias starts with `vfio_pci:`: neither the kernel nor udev ever
/// loads such a module, and the PCI core binds it only through driver_override. vfio_pci itself
/// has one such alias that matches every device (`vfio_pci:v*d*sv*sd*bc*sc*i*`, its "match all
/// by default" entry).
///
/// The choice mirrors libvirt 10's virPCIDeviceFindBestVFIOVariant (src/util/virpci.c): every
/// modules.alias line that begins `alias vfio_pci:` is split into the seven fields
/// "v, d, sv, sd, bc, sc, i" (virPCIDeviceAliasInfoNew), and matches when each field is `*` or
/// equal to the function's own (virPCIDeviceAliasInfoMatch: `if (STREQ(match->fields[i], "*"))
/// (*wildCardCt)++; else if (STRNEQ(orig->fields[i], match->fields[i])) return false;`); of the
/// matches the one with the fewest `*` fields wins, and of equals the first in the file
/// (`if (wildCardCt < currentBestWildcardCt)`, strictly less). A field is compared whole, not
/// fnmatch'ed: `i00*` (a class given with the device) does not match `00`, for libvirt nor here,
/// so vfioctl and libvirt pick the same driver for a function. libvirt reads at most 8 MiB of
/// modules.alias (`virFileReadAll(modulesAliasPath, 8 * 1024 * 1024, ...)`). Pure.
public enum VFIOVariants {
    /// One `alias vfio_pci:PATTERN MODULE` line.
    public struct Alias: Sendable, Equatable {
        /// After `vfio_pci:`: `v000015B3d0000101Esv*sd*bc*sc*i*`.
        public var pattern: String
        public var module: String

        public init(pattern: String, module: String) {
            self.pattern = pattern
            self.module = module
        }
    }

    /// A module whose alias matches a function, with the alias and its `*` fields.
    public struct Match: Sendable, Equatable {
        public var module: String
        public var pattern: String
        public var wildcards: Int

        public init(module: String, pattern: String, wildcards: Int) {
            self.module = module
            self.pattern = pattern
            self.wildcards = wildcards
        }

        /// `vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i*`, as modules.alias writes it.
        public var alias: String { linePrefix + pattern }
    }

    static let aliasKeyword = "alias "
    public static let linePrefix = "vfio_pci:"
    /// What libvirt reads of modules.alias at most; a larger file leaves the variants unknown.
    public static let fileLimit = 8 << 20
    /// libvirt's modalias fields, in order (`fieldnames[]`).
    static let fieldNames = ["v", "d", "sv", "sd", "bc", "sc", "i"]

    /// The `alias vfio_pci:` lines of a modules.alias, in file order. Anything else (comments,
    /// `pci:` aliases, lines of another shape, bytes that are not text) is skipped, as libvirt
    /// skips what it cannot split.
    public static func aliases(modulesAlias text: Substring) -> [Alias] {
        var found: [Alias] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            guard line.hasPrefix(aliasKeyword + linePrefix) else { continue }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count == 3, words[0] == "alias" else { continue }
            let pattern = words[1].dropFirst(linePrefix.count)
            guard fields(pattern) != nil, !words[2].isEmpty else { continue }
            found.append(Alias(pattern: String(pattern), module: String(words[2])))
        }
        return found
    }

    /// The seven fields of `v...d...sv...sd...bc...sc...i...` (a modalias after `pci:`, or an
    /// alias after `vfio_pci:`), found as libvirt finds them: each begins at its tag and ends
    /// where the next tag is first found; nil when a tag is missing or out of place.
    static func fields(_ text: Substring) -> [Substring]? {
        var values: [Substring] = []
        var rest = text
        for (index, name) in fieldNames.enumerated() {
            guard rest.hasPrefix(name) else { return nil }
            rest = rest.dropFirst(name.count)
            if index + 1 < fieldNames.count {
                guard let next = rest.firstRange(of: fieldNames[index + 1]) else { return nil }
                values.append(rest[..<next.lowerBound])
                rest = rest[next.lowerBound...]
            } else {
                values.append(rest.prefix { $0 != " " && $0 != "\t" && $0 != "\n" })
            }
        }
        return values
    }

    /// Every module whose alias matches `modalias` (the function's, `pci:v...`), best first:
    /// fewest `*` fields, then file order; a module once, at its best alias. vfio_pci is among
    /// them (its alias matches every function). [] when the modalias is not one the kernel writes.
    public static func matches(_ modalias: String, in aliases: [Alias]) -> [Match] {
        guard modalias.hasPrefix("pci:"), let device = fields(modalias.dropFirst(4)) else { return [] }
        return matching(device.map { Optional($0) }, in: aliases).decided
    }

    /// The aliases that match a device whose fields are `known` (nil: not known yet), each module
    /// once at its best alias, ranked: `decided` whatever the unknown fields hold (`*` there),
    /// `possible` when an alias names a value in an unknown field.
    static func matching(_ known: [Substring?], in aliases: [Alias]) -> (decided: [Match], possible: [Match]) {
        var decided: [Match] = []
        var possible: [Match] = []
        for alias in aliases {
            guard let pattern = fields(Substring(alias.pattern)) else { continue }
            var wildcards = 0
            var matched = true
            var decides = true
            for (wanted, have) in zip(pattern, known) {
                if wanted == "*" {
                    wildcards += 1
                } else if let have {
                    if wanted != have { matched = false; break }
                } else {
                    decides = false
                }
            }
            guard matched else { continue }
            let match = Match(module: alias.module, pattern: alias.pattern, wildcards: wildcards)
            if decides { add(match, to: &decided) } else { add(match, to: &possible) }
        }
        return (ranked(decided), ranked(possible).filter { p in !decided.contains { $0.module == p.module } })
    }

    /// libvirt's answer: the best match, vfio_pci included (nil: no line matches at all).
    public static func best(_ modalias: String, in aliases: [Alias]) -> Match? {
        matches(modalias, in: aliases).first
    }

    /// The variant driver for the function: libvirt's best match unless that is vfio_pci itself
    /// (then there is none: vfio-pci is the driver).
    public static func variant(_ modalias: String, in aliases: [Alias]) -> Match? {
        best(modalias, in: aliases).flatMap { StubDriver.isVFIOPCI($0.module) ? nil : $0 }
    }

    /// The variant drivers for the function, best first, vfio_pci left out.
    public static func variantModules(_ modalias: String, in aliases: [Alias]) -> [String] {
        matches(modalias, in: aliases).map(\.module).filter { !StubDriver.isVFIOPCI($0) }
    }
}

extension VFIOVariants {
    /// What modules.alias says of the VFs a PF will make, before they exist. The kernel gives a VF
    /// its PF's vendor and the PF's `sriov_vf_device` as its device (pci_iov_add_virtfn), and the
    /// SR-IOV spec its PF's subsystem vendor; its subsystem device and class are read from the
    /// VF's own config space, so they are not known until it exists. An alias that is `*` in
    /// those fields is decided now; one that names a value there may or may not match.
    public struct VFMatches: Sendable, Equatable {
        /// The aliases that match whatever the unknown fields hold, best first (vfio_pci among them).
        public var decided: [Match]
        /// Aliases whose known fields match but that name a subsystem device or class: the VF
        /// decides, once it exists.
        public var possible: [Match]
        /// The VFs' modalias as far as it is known: `pci:v000015B3d0000101Esv000015B3sd*bc*sc*i*`.
        public var modalias: String

        public init(decided: [Match], possible: [Match], modalias: String) {
            (self.decided, self.possible, self.modalias) = (decided, possible, modalias)
        }

        /// The best decided variant (nil: vfio-pci); `contenders` says whether a `possible` alias
        /// could still beat it once the VFs exist.
        public var best: Match? { decided.first.flatMap { StubDriver.isVFIOPCI($0.module) ? nil : $0 } }

        /// `possible` aliases that libvirt would prefer to `best` (or to vfio_pci) if the VF
        /// matched them: while there is one, the best driver is not known before the VF exists.
        public var contenders: [Match] {
            guard let first = decided.first else { return possible }
            return possible.filter { $0.wildcards < first.wildcards && !StubDriver.isVFIOPCI($0.module) }
        }

        /// Variant modules that may take these VFs (decided or possible), best first, vfio_pci left out.
        public var variantModules: [String] {
            var modules: [String] = []
            for match in decided + possible where !StubDriver.isVFIOPCI(match.module) && !modules.contains(match.module) {
                modules.append(match.module)
            }
            return modules
        }

        /// The alias by which `module` was matched, for the check made once the VF exists.
        public func alias(of module: String) -> Match? {
            decided.first { $0.module == module } ?? possible.first { $0.module == module }
        }
    }

    /// The matches for the VFs of a PF of `vendor` and `subsystemVendor` whose `sriov_vf_device`
    /// is `vfDevice`.
    public static func forVFs(vendor: UInt16, vfDevice: UInt16, subsystemVendor: UInt16?, in aliases: [Alias]) -> VFMatches {
        func hex(_ value: UInt16) -> Substring { Substring(HexDigits.padded(UInt64(value), width: 8).uppercased()) }
        let known: [Substring?] = [hex(vendor), hex(vfDevice), subsystemVendor.map(hex), nil, nil, nil, nil]
        let (decided, possible) = matching(known, in: aliases)
        let text = zip(fieldNames, known).map { $0 + String($1 ?? "*") }.joined()
        return VFMatches(decided: decided, possible: possible, modalias: "pci:" + text)
    }

    /// A module once, at its best alias.
    static func add(_ match: Match, to found: inout [Match]) {
        if let seen = found.firstIndex(where: { $0.module == match.module }) {
            if match.wildcards < found[seen].wildcards { found[seen] = match }
        } else {
            found.append(match)
        }
    }

    /// Fewest `*` first; equals keep file order, as libvirt's strict `<` keeps the first.
    static func ranked(_ found: [Match]) -> [Match] {
        found.enumerated().sorted { ($0.element.wildcards, $0.offset) < ($1.element.wildcards, $1.offset) }.map(\.element)
    }

    /// Whether the alias pattern (after `vfio_pci:`) matches a modalias (`pci:v...`): the check
    /// made once a VF exists that its driver was chosen for a device it is.
    public static func matches(pattern: String, modalias: String) -> Bool {
        !matches(modalias, in: [Alias(pattern: pattern, module: "_")]).isEmpty
    }
}
