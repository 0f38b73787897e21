/// Which vfio driver a function goes to when it is detached (or recorded by persist): the best
/// vfio-pci variant driver for it (`PCIFunction.vfioVariant`, libvirt's choice), or what
/// `--driver` names: vfio-pci, or one of the function's variant drivers. Pure.
public enum VFIODriverChoice: Sendable, Equatable {
    /// No --driver: the best variant, else vfio-pci.
    case best
    /// --driver NAME: vfio-pci (also spelt vfio_pci) or a variant driver's module name.
    case named(String)

    /// The driver chosen for one function, its module, and why, in words for the plan.
    public struct Pick: Sendable, Equatable {
        /// What driver_override is set to and the function must end on.
        public var driver: String
        /// What modprobe loads for it.
        public var module: String
        /// "best vfio_pci alias match: vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i*", "--driver vfio-pci".
        public var reason: String
        /// For a VF that does not exist yet and goes to a variant: the alias pattern (after
        /// `vfio_pci:`) its modalias must match once it exists, checked before it is bound.
        public var alias: String?

        public init(driver: String, module: String, reason: String, alias: String? = nil) {
            (self.driver, self.module, self.reason, self.alias) = (driver, module, reason, alias)
        }

        public var isVFIOPCI: Bool { driver == StubDriver.vfioPCI }
        /// "mlx5_vfio_pci (best vfio_pci alias match: ...)".
        public var text: String { "\(driver) (\(reason))" }

        static let vfioPCI = Pick(driver: StubDriver.vfioPCI, module: StubDriver.vfioModule, reason: "")
    }

    /// A function's driver, or why `--driver` cannot take it (an error finding).
    public enum Outcome: Sendable, Equatable {
        case success(Pick)
        case failure(Finding)

        /// The pick, when there is one.
        public var pick: Pick? { if case .success(let pick) = self { pick } else { nil } }
    }

    /// A module name as `--driver` may give it: letters, digits, `_` and `-`, at most 55
    /// characters (the kernel's MODULE_NAME_LEN is 64 - sizeof(unsigned long), with its NUL).
    public static func parse(_ text: String) -> VFIODriverChoice? {
        guard !text.isEmpty, text.utf8.count <= 55,
              text.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5a).contains($0) || (0x61...0x7a).contains($0) || $0 == 0x5f || $0 == 0x2d })
        else { return nil }
        return StubDriver.isVFIOPCI(text) ? .named(StubDriver.vfioPCI) : .named(StubDriver.moduleName(text))
    }

    /// The driver for `f`, or the error finding that says why `--driver NAME` cannot take it (the
    /// name is not one of its variant drivers, or they are unknown). A variant's driver is named
    /// as its module: every in-tree variant registers its pci_driver as KBUILD_MODNAME.
    public func pick(for f: PCIFunction) -> Outcome {
        switch self {
        case .best:
            if let variant = f.vfioVariant {
                return .success(Pick(driver: variant.module, module: variant.module, reason: "best vfio_pci alias match: \(variant.alias)"))
            }
            return vfioPCI(f.vfioVariantModules == nil ? "variant drivers unknown: no readable modules.alias for the running kernel"
                           : "no variant driver's vfio_pci alias matches it")
        case .named(let name) where StubDriver.isVFIOPCI(name):
            return vfioPCI("--driver vfio-pci")
        case .named(let name):
            guard let variants = f.vfioVariantModules else {
                return .failure(Finding(Self.unknownID, .error, f.address.description,
                                        "cannot tell whether \(name) is a vfio-pci variant driver of \(f.address): "
                                            + "no readable modules.alias for the running kernel (lib/modules/RELEASE/modules.alias)",
                                        hint: "run depmod for the running kernel, or use --driver vfio-pci"))
            }
            guard variants.contains(name) else {
                let best = f.vfioVariant.map { "its best is \($0.module), " } ?? ""
                return .failure(Finding(Self.notVariantID, .error, f.address.description,
                                        "\(name) is not a vfio-pci variant driver of \(f.address) [\(f.ids)]: "
                                            + (variants.isEmpty ? "no variant driver's vfio_pci alias matches it"
                                               : "the vfio_pci aliases that match it name " + variants.joined(separator: ", ")),
                                        hint: "leave --driver out for the best match (\(best)else vfio-pci), or use --driver vfio-pci"
                                            + (variants.isEmpty ? "" : " or --driver " + variants[0])))
            }
            let reason = f.vfioVariant?.module == name ? "--driver \(name), also the best vfio_pci alias match: \(f.vfioVariant?.alias ?? "")"
                : "--driver \(name), one of its vfio_pci alias matches"
            return .success(Pick(driver: name, module: name, reason: reason))
        }
    }

    /// The driver for the VFs `pf` will make (VFs that do not exist yet), from what its
    /// `sriov_vf_device` matches in modules.alias (`SRIOVInfo.vfVariants`). A variant is checked
    /// against each VF once it exists (`Pick.alias`). When an alias naming a subsystem device or
    /// class could beat the best one, the best cannot be known before the VFs exist: an error
    /// finding says so and how to name the driver.
    public func pick(forVFsOf pf: PCIFunction) -> Outcome {
        let vfs = "the VFs of \(pf.address)"
        guard let matches = pf.sriov?.vfVariants else {
            if case .named(let name) = self, !StubDriver.isVFIOPCI(name) {
                return .failure(Finding(Self.unknownID, .error, pf.address.description,
                                        "cannot tell whether \(name) is a vfio-pci variant driver of \(vfs): "
                                            + (pf.sriov?.vfDeviceID == nil ? "the PF reports no sriov_vf_device"
                                               : "no readable modules.alias for the running kernel (lib/modules/RELEASE/modules.alias)"),
                                        hint: "run depmod for the running kernel, or use vfio-pci"))
            }
            return vfioPCI(pf.sriov?.vfDeviceID == nil ? "variant drivers unknown: the PF reports no sriov_vf_device"
                        : "variant drivers unknown: no readable modules.alias for the running kernel")
        }
        switch self {
        case .best:
            if !matches.contenders.isEmpty {
                return .failure(Finding(Self.undecidedID, .error, pf.address.description,
                                        "the best vfio driver for \(vfs) cannot be known before they exist: "
                                            + matches.contenders.map { "\($0.module) (\($0.alias))" }.joined(separator: ", ")
                                            + " depend\(matches.contenders.count == 1 ? "s" : "") on their subsystem device or class, which "
                                            + "only the VFs' own config space tells (\(matches.modalias) is what is known)",
                                        hint: "name the driver: vfio-pci, or " + matches.contenders[0].module))
            }
            guard let best = matches.best else {
                return vfioPCI(matches.variantModules.isEmpty ? "no variant driver's vfio_pci alias matches its VFs (\(matches.modalias))"
                            : "no variant driver's vfio_pci alias matches every VF it may make")
            }
            return .success(Pick(driver: best.module, module: best.module,
                                 reason: "best vfio_pci alias match for its VFs (\(matches.modalias)): \(best.alias)", alias: best.pattern))
        case .named(let name) where StubDriver.isVFIOPCI(name):
            return vfioPCI("as named")
        case .named(let name):
            guard let match = matches.alias(of: name) else {
                let modules = matches.variantModules
                return .failure(Finding(Self.notVariantID, .error, pf.address.description,
                                        "\(name) is not a vfio-pci variant driver of \(vfs) (\(matches.modalias)): "
                                            + (modules.isEmpty ? "no variant driver's vfio_pci alias matches them"
                                               : "the vfio_pci aliases that may match them name " + modules.joined(separator: ", ")),
                                        hint: "leave the driver out for the best match, or use vfio-pci" + (modules.first.map { " or \($0)" } ?? "")))
            }
            return .success(Pick(driver: name, module: name, reason: "named, a vfio_pci alias match for its VFs: \(match.alias)", alias: match.pattern))
        }
    }

    /// vfio-pci, for `reason`.
    func vfioPCI(_ reason: String) -> Outcome {
        var pick = Pick.vfioPCI
        pick.reason = reason
        return .success(pick)
    }

    public static let notVariantID = "driver.not-variant"
    /// The best variant of VFs not yet made depends on what only they tell.
    public static let undecidedID = "driver.vf-variant-undecided"
    public static let unknownID = "driver.variants-unknown"
    /// The info finding that names a function's vfio driver when it is not plain vfio-pci.
    public static let chosenID = "driver.vfio-variant"
}
