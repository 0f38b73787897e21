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

        public init(driver: String, module: String, reason: String) {
            (self.driver, self.module, self.reason) = (driver, module, reason)
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
            var pick = Pick.vfioPCI
            pick.reason = f.vfioVariantModules == nil ? "variant drivers unknown: no readable modules.alias for the running kernel"
                : "no variant driver's vfio_pci alias matches it"
            return .success(pick)
        case .named(let name) where StubDriver.isVFIOPCI(name):
            var pick = Pick.vfioPCI
            pick.reason = "--driver vfio-pci"
            return .success(pick)
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

    public static let notVariantID = "driver.not-variant"
    public static let unknownID = "driver.variants-unknown"
    /// The info finding that names a function's vfio driver when it is not plain vfio-pci.
    public static let chosenID = "driver.vfio-variant"
}
