import Testing
import VFIOCore

/// The best vfio-pci variant driver as libvirt 10's virPCIDeviceFindBestVFIOVariant picks it, from
/// modules.alias text, and the driver detach chooses from it.
@Suite("vfio-pci variant drivers")
struct VFIOVariantsTests {
    /// An 82574L (8086:10d3, subsystem 8086:a01f, Ethernet 02/00/00) as sysfs writes its modalias.
    static let nic = "pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00"

    static func aliases(_ lines: [String]) -> [VFIOVariants.Alias] {
        VFIOVariants.aliases(modulesAlias: Substring("# Aliases extracted from modules themselves.\n" + lines.joined(separator: "\n") + "\n"))
    }

    @Test("only `alias vfio_pci:` lines of the right shape are read, in file order")
    func parsing() {
        let found = Self.aliases([
            "alias pci:v00008086d000010D3sv*sd*bc*sc*i* e1000e",
            "alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci",
            "alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci",
            "alias\tvfio_pci:v00008086d000010D3sv*sd*bc*sc*i*\ttabbed",
            "alias vfio_pci:v00008086d000010D3 truncated",
            "alias vfio_pci:v00008086d000010D3sv*sd*bc*sc*i*",
            "alias vfio_pci:v00008086d000010D3sv*sd*bc*sc*i* two words",
            "#alias vfio_pci:v*d*sv*sd*bc*sc*i* commented",
            "alias vfio_pci:d*v*sv*sd*bc*sc*i* out_of_order",
        ])
        #expect(found.map(\.module) == ["vfio_pci", "mlx5_vfio_pci"])
        #expect(found[1].pattern == "v000015B3d0000101Esv*sd*bc*sc*i*")
    }

    @Test("fewest wildcards wins; vfio_pci's match-all alias is libvirt's answer when nothing else matches")
    func fewestWildcards() {
        let aliases = Self.aliases([
            "alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci",
            "alias vfio_pci:v00008086d*sv*sd*bc*sc*i* intel_any",
            "alias vfio_pci:v00008086d000010D3sv*sd*bc*sc*i* e1000e_vfio_pci",
            "alias vfio_pci:v00008086d000010D3sv00008086sd0000A01Fbc*sc*i* exact_vfio_pci",
            "alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci",
        ])
        let matches = VFIOVariants.matches(Self.nic, in: aliases)
        #expect(matches.map(\.module) == ["exact_vfio_pci", "e1000e_vfio_pci", "intel_any", "vfio_pci"])
        #expect(matches.map(\.wildcards) == [3, 5, 6, 7])
        #expect(VFIOVariants.variant(Self.nic, in: aliases)?.module == "exact_vfio_pci")
        #expect(VFIOVariants.variant(Self.nic, in: aliases)?.alias == "vfio_pci:v00008086d000010D3sv00008086sd0000A01Fbc*sc*i*")
        #expect(VFIOVariants.variantModules(Self.nic, in: aliases) == ["exact_vfio_pci", "e1000e_vfio_pci", "intel_any"])
        // Another device: only vfio_pci matches; libvirt binds vfio_pci, so there is no variant.
        let other = "pci:v00001AF4d00001041sv00001AF4sd00001100bc02sc00i00"
        #expect(VFIOVariants.best(other, in: aliases)?.module == "vfio_pci")
        #expect(VFIOVariants.variant(other, in: aliases) == nil)
        #expect(VFIOVariants.variantModules(other, in: aliases) == [])
        // No vfio_pci line at all (a kernel without vfio-pci): no match, no variant.
        #expect(VFIOVariants.best(Self.nic, in: []) == nil)
    }

    @Test("a tie goes to the first line in the file (libvirt's strict <); a module counts once, at its best alias")
    func ties() {
        let first = Self.aliases(["alias vfio_pci:v00008086d000010D3sv*sd*bc*sc*i* alpha_vfio_pci",
                                  "alias vfio_pci:v00008086d*sv00008086sd*bc*sc*i* beta_vfio_pci"])
        #expect(VFIOVariants.variant(Self.nic, in: first)?.module == "alpha_vfio_pci")
        let swapped = Self.aliases(["alias vfio_pci:v00008086d*sv00008086sd*bc*sc*i* beta_vfio_pci",
                                    "alias vfio_pci:v00008086d000010D3sv*sd*bc*sc*i* alpha_vfio_pci"])
        #expect(VFIOVariants.variant(Self.nic, in: swapped)?.module == "beta_vfio_pci")
        let twice = Self.aliases(["alias vfio_pci:v00008086d*sv*sd*bc*sc*i* gamma_vfio_pci",
                                  "alias vfio_pci:v00008086d*sv*sd*bc*sc*i* delta_vfio_pci",
                                  "alias vfio_pci:v00008086d000010D3sv*sd*bc*sc*i* gamma_vfio_pci"])
        #expect(VFIOVariants.matches(Self.nic, in: twice).map(\.module) == ["gamma_vfio_pci", "delta_vfio_pci"])
        #expect(VFIOVariants.matches(Self.nic, in: twice).first?.wildcards == 5)
    }

    @Test("fields compare whole, as libvirt compares them: no fnmatch inside a field, hex case matters")
    func wholeFields() {
        let aliases = Self.aliases([
            // A class given with the device: modpost ends it `i00*`, which libvirt's field compare never matches.
            "alias vfio_pci:v00008086d000010D3sv*sd*bc02sc00i00* class_vfio_pci",
            "alias vfio_pci:v00008086d000010D*sv*sd*bc*sc*i* partial_vfio_pci",
            "alias vfio_pci:v00008086d000010d3sv*sd*bc*sc*i* lower_vfio_pci",
            "alias vfio_pci:v00008086d000010D3sv*sd*bc02sc00i00 class2_vfio_pci",
        ])
        #expect(VFIOVariants.matches(Self.nic, in: aliases).map(\.module) == ["class2_vfio_pci"])
    }

    @Test("garbage in modules.alias and in the modalias: nothing matches, nothing traps")
    func garbage() {
        var text = ""
        for byte in 0..<256 { text += "alias vfio_pci:v\(String(repeating: Character(Unicode.Scalar(UInt8(byte))), count: 3))d*sv*sd*bc*sc*i* m\(byte)\n" }
        text += String(repeating: "alias vfio_pci:", count: 1000) + "\n" + String(repeating: "v", count: 100_000) + "\nalias vfio_pci:v*d*sv*sd*bc*sc*i\n"
        let aliases = VFIOVariants.aliases(modulesAlias: Substring(text))
        #expect(VFIOVariants.variant(Self.nic, in: aliases) == nil)
        for modalias in ["", "pci:", "pci:v*d*sv*sd*bc*sc*i*", "usb:v1D6Bp0002", "pci:vd", Self.nic + " trailing"] {
            _ = VFIOVariants.matches(modalias, in: Self.aliases(["alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci"]))
        }
        #expect(VFIOVariants.matches("usb:v1D6Bp0002", in: Self.aliases(["alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci"])) == [])
    }

    // MARK: the driver detach chooses

    static func function(variants: [String]?, best: String? = nil) -> PCIFunction {
        var f = PCIFunction(address: PCIAddress(bus: 1, device: 0, function: 0), vendorID: 0x8086, deviceID: 0x10d3, classCode: 0x020000,
                            sysfsPath: "sys/devices/pci0000:00/0000:00:1c.0/0000:01:00.0")
        f.vfioVariantModules = variants
        f.vfioVariant = best.map { VFIOVariants.Match(module: $0, pattern: "v00008086d000010D3sv*sd*bc*sc*i*", wildcards: 5) }
        return f
    }

    @Test("best: the variant with the alias as the reason; else vfio-pci, saying whether variants are unknown")
    func pickBest() {
        let pick = VFIODriverChoice.best.pick(for: Self.function(variants: ["e1000e_vfio_pci"], best: "e1000e_vfio_pci")).pick
        #expect(pick == .init(driver: "e1000e_vfio_pci", module: "e1000e_vfio_pci",
                              reason: "best vfio_pci alias match: vfio_pci:v00008086d000010D3sv*sd*bc*sc*i*"))
        #expect(VFIODriverChoice.best.pick(for: Self.function(variants: [])).pick?.driver == "vfio-pci")
        #expect(VFIODriverChoice.best.pick(for: Self.function(variants: nil)).pick?.reason.contains("unknown") == true)
    }

    @Test("--driver: vfio-pci always; a variant of the function; anything else, or unknown variants, is an error finding")
    func pickNamed() throws {
        let f = Self.function(variants: ["e1000e_vfio_pci", "intel_vfio_pci"], best: "e1000e_vfio_pci")
        for spelling in ["vfio-pci", "vfio_pci"] {
            #expect(try #require(VFIODriverChoice.parse(spelling)).pick(for: f).pick?.driver == "vfio-pci")
        }
        #expect(VFIODriverChoice.parse("intel-vfio-pci") == .named("intel_vfio_pci"))
        #expect(VFIODriverChoice.named("intel_vfio_pci").pick(for: f).pick?.driver == "intel_vfio_pci")
        guard case .failure(let finding) = VFIODriverChoice.named("igb").pick(for: f) else { Issue.record("igb was taken"); return }
        #expect(finding.id == VFIODriverChoice.notVariantID && finding.severity == .error)
        #expect(finding.message.contains("igb is not a vfio-pci variant driver of 0000:01:00.0"))
        #expect(finding.message.contains("e1000e_vfio_pci, intel_vfio_pci"))
        #expect(finding.hint?.contains("--driver vfio-pci") == true)
        guard case .failure(let unknown) = VFIODriverChoice.named("e1000e_vfio_pci").pick(for: Self.function(variants: nil)) else {
            Issue.record("taken without modules.alias"); return
        }
        #expect(unknown.id == VFIODriverChoice.unknownID)
        for bad in ["", "a b", "../x", "x/y", "name\n", String(repeating: "m", count: 56), "vfio:pci"] {
            #expect(VFIODriverChoice.parse(bad) == nil, "\(bad)")
        }
    }

    // MARK: VFs not made yet

    /// A ConnectX-6 Dx PF (15b3:101d, subsystem 15b3:0016) whose VFs are 15b3:101e.
    static func mlxVFs(_ lines: [String]) -> VFIOVariants.VFMatches {
        VFIOVariants.forVFs(vendor: 0x15b3, vfDevice: 0x101e, subsystemVendor: 0x15b3, in: aliases(lines))
    }

    @Test("VFs not made yet: vendor, sriov_vf_device and subsystem vendor decide; an alias on the subsystem device or class only may match")
    func vfMatches() {
        let matches = Self.mlxVFs([
            "alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci",
            "alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci",
            "alias vfio_pci:v000015B3d0000101Dsv*sd*bc*sc*i* pf_only",
            "alias vfio_pci:v000015B3d*sv000015B3sd*bc*sc*i* mellanox_any",
            "alias vfio_pci:v000015B3d*sv00001234sd*bc*sc*i* other_subvendor",
            "alias vfio_pci:v000015B3d0000101Esv*sd*bc02sc00i* ethernet_only",
        ])
        #expect(matches.modalias == "pci:v000015B3d0000101Esv000015B3sd*bc*sc*i*")
        #expect(matches.decided.map(\.module) == ["mlx5_vfio_pci", "mellanox_any", "vfio_pci"])
        #expect(matches.possible.map(\.module) == ["ethernet_only"])
        #expect(matches.best?.module == "mlx5_vfio_pci" && matches.best?.pattern == "v000015B3d0000101Esv*sd*bc*sc*i*")
        // ethernet_only names 3 fields, mlx5_vfio_pci 2: were the VFs Ethernet, libvirt would take it.
        #expect(matches.contenders.map(\.module) == ["ethernet_only"])
        #expect(matches.variantModules == ["mlx5_vfio_pci", "mellanox_any", "ethernet_only"])
        #expect(matches.alias(of: "ethernet_only")?.pattern == "v000015B3d0000101Esv*sd*bc02sc00i*" && matches.alias(of: "pf_only") == nil)
        // Without it the best is decided; without any variant it is vfio-pci.
        #expect(Self.mlxVFs(["alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci"]).contenders.isEmpty)
        let none = Self.mlxVFs(["alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci"])
        #expect(none.best == nil && none.variantModules.isEmpty && none.contenders.isEmpty)
        // A possible alias with more `*` than the best decided one cannot beat it.
        let weaker = Self.mlxVFs(["alias vfio_pci:v000015B3d0000101Esv000015B3sd*bc*sc*i* exact",
                                  "alias vfio_pci:v*d*sv*sd0000AAAAbc*sc*i* any_with_sd"])
        #expect(weaker.best?.module == "exact" && weaker.contenders.isEmpty && weaker.possible.map(\.module) == ["any_with_sd"])
        #expect(VFIOVariants.matches(pattern: "v000015B3d0000101Esv*sd*bc02sc00i*", modalias: "pci:v000015B3d0000101Esv000015B3sd00000016bc02sc00i00"))
        #expect(!VFIOVariants.matches(pattern: "v000015B3d0000101Esv*sd*bc02sc00i*", modalias: "pci:v000015B3d0000101Esv000015B3sd00000016bc03sc00i00"))
    }

    @Test("the driver for VFs not made yet: the best (with the alias each VF is checked against), a named one, undecided, unknown")
    func vfPick() throws {
        var pf = PCIFunction(address: try PCIAddress.parse("0000:01:00.0"), vendorID: 0x15b3, deviceID: 0x101d, classCode: 0x020000,
                             sysfsPath: "sys/devices/pci0000:00/0000:01:00.0")
        pf.sriov = SRIOVInfo(totalVFs: 8, numVFs: 0, driversAutoprobe: true, vfIndices: [:], vfDeviceID: 0x101e)
        #expect(VFIODriverChoice.best.pick(forVFsOf: pf).pick?.isVFIOPCI == true)
        #expect(VFIODriverChoice.best.pick(forVFsOf: pf).pick?.reason == "variant drivers unknown: no readable modules.alias for the running kernel")
        guard case .failure(let unknown) = VFIODriverChoice.named("mlx5_vfio_pci").pick(forVFsOf: pf) else { Issue.record(); return }
        #expect(unknown.id == VFIODriverChoice.unknownID)
        pf.sriov?.vfVariants = Self.mlxVFs(["alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci"])
        let best = VFIODriverChoice.best.pick(forVFsOf: pf).pick
        #expect(best?.driver == "mlx5_vfio_pci" && best?.alias == "v000015B3d0000101Esv*sd*bc*sc*i*")
        let plain = VFIODriverChoice.named("vfio-pci").pick(forVFsOf: pf).pick
        #expect(plain?.isVFIOPCI == true && plain?.alias == nil)
        guard case .failure(let other) = VFIODriverChoice.named("pds_vfio_pci").pick(forVFsOf: pf) else { Issue.record(); return }
        #expect(other.id == VFIODriverChoice.notVariantID && other.message.contains("may match them name mlx5_vfio_pci"))
        pf.sriov?.vfVariants = Self.mlxVFs(["alias vfio_pci:v000015B3d0000101Esv*sd00000016bc*sc*i* picky"])
        guard case .failure(let undecided) = VFIODriverChoice.best.pick(forVFsOf: pf) else { Issue.record(); return }
        #expect(undecided.id == VFIODriverChoice.undecidedID && undecided.hint == "name the driver: vfio-pci, or picky")
        #expect(VFIODriverChoice.named("picky").pick(forVFsOf: pf).pick?.alias == "v000015B3d0000101Esv*sd00000016bc*sc*i*")
    }
}
