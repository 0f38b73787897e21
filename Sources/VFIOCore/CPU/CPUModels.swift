/// A CPU as libvirt computes one: a model of the CPU map, a vendor, and the features that
/// differ from the model (policy require or disable for a guest CPU, none for a host CPU).
public struct ComputedCPU: Sendable, Equatable {
    public var kind: CPUDefinition.Kind
    public var model: String
    public var vendor: String?
    public var features: [CPUDefinition.Feature]
    /// Baseline only: fallback='allow' (libvirt may pick a close model if the hypervisor lacks
    /// this one) unless every input CPU named exactly this model ('forbid').
    public var fallbackAllowed: Bool

    public init(kind: CPUDefinition.Kind, model: String, vendor: String? = nil, features: [CPUDefinition.Feature] = [],
                fallbackAllowed: Bool = true) {
        self.kind = kind
        self.model = model
        self.vendor = vendor
        self.features = features
        self.fallbackAllowed = fallbackAllowed
    }
}

/// A family/model/stepping triple (CPUID leaf 1 eax, as /proc/cpuinfo shows it).
public struct CPUSignature: Sendable, Equatable {
    public var family: Int
    public var model: Int
    public var stepping: Int

    public init(family: Int, model: Int, stepping: Int) {
        self.family = family
        self.model = model
        self.stepping = stepping
    }

    /// From CPUID leaf 1's eax as libvirt reads it (x86DataToSignature, virCPUx86SignatureFromCPUID):
    /// reserved bits masked off; family + extended family, (extended model << 4) + model,
    /// stepping. nil when nothing is left: libvirt then compares no signature and prints none.
    public init?(leaf1EAX eax: UInt32) {
        let bits = eax & 0x0fff_3fff
        guard bits != 0 else { return nil }
        self.init(family: Int((bits >> 20) & 0xff) + Int((bits >> 8) & 0xf),
                  model: Int((bits >> 12) & 0xf0) + Int((bits >> 4) & 0xf), stepping: Int(bits & 0xf))
    }
}

/// The x86 algorithms of libvirt 9.0's cpu_x86.c over a CPU map: decoding CPU data to the
/// closest model, baseline, feature expansion and comparison. Same inputs, same answer as
/// `virsh cpu-baseline` (the test suite checks that on generated CPU sets).
public struct CPUModels: Sendable {
    public let map: CPUMap

    public init(map: CPUMap) { self.map = map }

    // MARK: CPU definitions to data

    enum Selection {
        case all
        case policy(CPUDefinition.Policy)
    }

    /// libvirt's x86ModelFromCPU: the data of the model plus (or minus) the features with the
    /// selected policy. A host CPU's features all count as required.
    func data(of cpu: CPUDefinition, _ selection: Selection) throws(VFIOError) -> CPUData {
        if cpu.kind == .host, case .policy(let policy) = selection, policy != .require { return CPUData() }
        var data = CPUData()
        var withModel = true
        if case .policy(let policy) = selection { withModel = policy == .require }
        if let name = cpu.model, withModel {
            guard let model = map.model(name) else { throw unknownModel(name, in: cpu) }
            data = model.data
        }
        for feature in cpu.features {
            let policy = feature.policy ?? .require
            switch selection {
            case .all where policy == .optional: continue
            case .policy(let wanted) where wanted != policy: continue
            default: break
            }
            guard let known = map.feature(feature.name) else { throw unknownFeature(feature.name, in: cpu) }
            switch (selection, policy) {
            case (.all, .disable), (.all, .forbid): data.subtract(known.data)
            default: data.add(known.data)
            }
        }
        return data
    }

    func unknownModel(_ name: String, in cpu: CPUDefinition) -> VFIOError {
        let names = map.models.map(\.name)
        let close = names.filter { $0.lowercased() == name.lowercased() || $0.lowercased().hasPrefix(name.lowercased()) }
        return .usage("\(cpu.source): unknown CPU model '\(name.printable)': libvirt's CPU map has no such x86 model",
                      hint: close.isEmpty ? "'vfioctl cpu models' lists the \(names.count) models libvirt knows"
                          : "did you mean " + close.prefix(4).joined(separator: ", ") + "? ('vfioctl cpu models' lists them all)")
    }

    func unknownFeature(_ name: String, in cpu: CPUDefinition) -> VFIOError {
        .usage("\(cpu.source): unknown CPU feature '\(name.printable)': libvirt's CPU map has no such x86 feature",
               hint: "use libvirt's names (sse4.1, not sse4_1; pclmuldq, not pclmulqdq); 'vfioctl cpu models --features' lists them")
    }

    // MARK: Decode

    /// libvirt's x86DataToCPU: `data` described as `model` plus required features and minus
    /// disabled ones; a guest CPU also disables the features the model lost (removed='yes').
    func describe(_ data: CPUData, as model: CPUMap.Model, kind: CPUDefinition.Kind) -> [CPUDefinition.Feature] {
        let extra = kind == .host ? nil : CPUDefinition.Policy.require
        var features = map.featureNames(in: data.subtracting(model.data)).map { CPUDefinition.Feature($0, extra) }
        features += map.featureNames(in: model.data.subtracting(data)).map { CPUDefinition.Feature($0, .disable) }
        if kind == .guest {
            for name in model.removedFeatures where !features.contains(where: { $0.name == name }) {
                features.append(CPUDefinition.Feature(name, .disable))
            }
        }
        return features
    }

    /// libvirt's virCPUx86CompareCandidateFeatureList: fewer features wins; for a guest CPU a
    /// disabled feature costs more than an added one (2, 3, 4, ... for the first, second, ...).
    /// The counting loop stops early as libvirt's does (its bound shrinks while it runs), which
    /// changes which model wins in some cases, so it is kept as it is.
    static func cost(_ features: [CPUDefinition.Feature], kind: CPUDefinition.Kind) -> (total: Int, disabled: Int) {
        guard kind == .guest else { return (features.count, 0) }
        var enabled = features.count
        var disabled = 0
        var penalty = 2
        var index = 0
        while index < enabled {
            if features[index].policy == .disable {
                enabled -= 1
                disabled += penalty
                penalty += 1
            }
            index += 1
        }
        return (enabled + disabled, disabled)
    }

    enum Verdict { case keep, take, takeAndStop }

    /// libvirt's x86DecodeUseCandidate.
    func judge(current: (model: CPUMap.Model, features: [CPUDefinition.Feature])?, candidate: CPUMap.Model,
               features: [CPUDefinition.Feature], kind: CPUDefinition.Kind, signature: CPUSignature?, preferred: [String]) -> Verdict {
        if kind == .host && !candidate.decodeHost { return .keep }
        if kind == .guest && !candidate.decodeGuest { return .keep }
        if kind == .host && features.contains(where: { $0.policy == .disable }) { return .keep }
        let isPreferred = preferred.contains(candidate.name)
        if isPreferred && preferred.count == 1 { return .takeAndStop }
        guard let current else { return .take }
        if let signature {
            func matches(_ model: CPUMap.Model) -> Bool {
                model.signatures.contains { $0.matches(family: signature.family, model: signature.model, stepping: signature.stepping) }
            }
            if matches(current.model) && !matches(candidate) { return .keep }
            if !matches(current.model) && matches(candidate) { return .take }
        }
        let now = CPUModels.cost(current.features, kind: kind)
        let new = CPUModels.cost(features, kind: kind)
        if new.total < now.total || (new.total == now.total && new.disabled < now.disabled) { return .take }
        if isPreferred && new.disabled < now.disabled { return .take }
        return .keep
    }

    /// libvirt's x86Decode (without a hypervisor's model list): the model that describes `data`
    /// best, newest first, restricted to the vendor's models, preferring `preferred`.
    public func decode(_ data: CPUData, vendor: String?, signature: CPUSignature? = nil, kind: CPUDefinition.Kind,
                       preferred: [String] = [], migratable: Bool = false) throws(VFIOError) -> ComputedCPU {
        var data = data
        if vendor == "Intel", let signature, signature.family == 6,
           (signature.model == 63 && signature.stepping < 4) || [60, 69, 70].contains(signature.model) {
            // Broken TSX on these Haswells: libvirt drops hle and rtm (x86DataFilterTSX).
            for name in ["hle", "rtm"] { if let feature = map.feature(name) { data.subtract(feature.data) } }
        }
        var best: (model: CPUMap.Model, features: [CPUDefinition.Feature])?
        search: for candidate in map.models.reversed() {
            if let vendor, let own = candidate.vendor, own != vendor { continue }
            let features = describe(data, as: candidate, kind: kind)
            switch judge(current: best, candidate: candidate, features: features, kind: kind, signature: signature, preferred: preferred) {
            case .keep: continue
            case .take: best = (candidate, features)
            case .takeAndStop:
                best = (candidate, features)
                break search
            }
        }
        guard var chosen = best else {
            throw .failed("no CPU model of libvirt's CPU map fits these CPU features",
                          hint: "libvirt fails the same way ('Cannot find suitable CPU model for given data')")
        }
        if migratable {
            chosen.features.removeAll { map.feature($0.name)?.migratable == false }
        }
        return ComputedCPU(kind: kind, model: chosen.model.name, vendor: vendor, features: chosen.features)
    }

    /// libvirt's x86DataToVendor: the first vendor of the map whose CPUID leaf 0 string the
    /// data holds (bit by bit, as libvirt matches it).
    public func vendor(in data: CPUData) -> CPUMap.Vendor? {
        map.vendors.first { data.contains($0.data) }
    }

    /// libvirt's x86Decode of raw CPU data, as `virsh capabilities` gets its host CPU
    /// (virCPUx86GetHost → x86DecodeCPUData) and libvirt's tests decode a dump (cpuDecode): the
    /// vendor from leaf 0 (its bits then taken out), the signature from leaf 1, broken TSX
    /// dropped, then the closest model of that vendor.
    public func decode(raw: CPUData, kind: CPUDefinition.Kind) throws(VFIOError) -> (cpu: ComputedCPU, vendor: CPUMap.Vendor?, signature: CPUSignature?) {
        var data = raw
        let vendor = vendor(in: data)
        if let vendor { data.subtract(vendor.data) }
        let signature = CPUSignature(leaf1EAX: data[.cpuid(0x1, 0, .eax)])
        let cpu = try decode(data, vendor: vendor?.name, signature: signature, kind: kind)
        return (cpu, vendor, signature)
    }

    // MARK: Baseline

    /// libvirt's virCPUx86Baseline (as `virsh cpu-baseline` calls it): the features every CPU
    /// has, as the closest model plus required and disabled features. `migratable` drops
    /// features libvirt marks non-migratable (invtsc, xsaves).
    public func baseline(_ cpus: [CPUDefinition], migratable: Bool = false) throws(VFIOError) -> ComputedCPU {
        guard let first = cpus.first else {
            throw .usage("no CPUs to baseline", hint: "give files with <cpu> elements or 'virsh capabilities' output")
        }
        for cpu in cpus {
            guard cpu.isX86 else {
                throw .usage("\(cpu.source): <arch> is '\((cpu.arch ?? "").printable)': vfioctl computes x86 CPU models (i686, x86_64) only",
                             hint: "baseline the CPUs of x86 hosts; libvirt's CPU map for other architectures lists no features")
            }
            guard cpu.model != nil else {
                throw .usage("\(cpu.source): <cpu> has no <model>", hint: "a host CPU from 'virsh capabilities' names its model")
            }
        }
        var base = try data(of: first, .all)
        var vendor: String?
        var outputVendor = true
        if let name = first.vendor {
            guard map.vendor(name) != nil else { throw unknownVendor(name, in: first) }
            vendor = name
        } else {
            outputVendor = false
        }
        var names: [String] = first.model.map { [$0] } ?? []
        for cpu in cpus.dropFirst() {
            if let name = cpu.model, !names.contains(name) { names.append(name) }
            let cpuData = try data(of: cpu, .all)
            let modelVendor = cpu.model.flatMap { map.model($0)?.vendor }
            if let own = cpu.vendor, let modelVendor, own != modelVendor {
                throw .usage("\(cpu.source): CPU vendor \(modelVendor) of model \(cpu.model ?? "") differs from its <vendor>\(own)</vendor>",
                             hint: "fix the <vendor> or the <model> of that CPU")
            }
            var named: String?
            if let own = cpu.vendor {
                named = own
            } else {
                outputVendor = false
                named = modelVendor
            }
            if let named {
                if let vendor {
                    guard vendor == named else {
                        throw .failed("CPU vendors do not match: \(vendor) and \(named) (\(cpu.source))",
                                      hint: "a pool that migrates guests holds CPUs of one vendor; baseline the Intel and the AMD hosts apart")
                    }
                } else {
                    guard map.vendor(named) != nil else { throw unknownVendor(named, in: cpu) }
                    vendor = named
                }
            }
            base.intersect(cpuData)
        }
        guard !base.isEmpty else {
            throw .failed("the CPUs are incompatible: they share no CPU feature",
                          hint: "libvirt fails the same way ('CPUs are incompatible'); check that each file describes an x86 host CPU")
        }
        var cpu = try decode(base, vendor: vendor, kind: .guest, preferred: names, migratable: migratable)
        cpu.fallbackAllowed = !(names.count == 1 && names[0] == cpu.model)
        if !outputVendor { cpu.vendor = nil }
        return cpu
    }

    func unknownVendor(_ name: String, in cpu: CPUDefinition) -> VFIOError {
        .usage("\(cpu.source): unknown CPU vendor '\(name.printable)'",
               hint: "libvirt's CPU map names the vendors " + map.vendors.map(\.name).joined(separator: ", ")
                   + " (the name, not the CPUID string such as GenuineIntel)")
    }

    /// libvirt's virCPUx86ExpandFeatures plus the sort virCPUExpandFeatures does
    /// (`virsh cpu-baseline --features`): every feature of the model listed, by name.
    public func expand(_ cpu: ComputedCPU) throws(VFIOError) -> ComputedCPU {
        guard let model = map.model(cpu.model) else {
            throw unknownModel(cpu.model, in: CPUDefinition(kind: cpu.kind, model: cpu.model, source: "the computed CPU"))
        }
        let policy: CPUDefinition.Policy? = cpu.kind == .host ? nil : .require
        var features = map.featureNames(in: model.data).map { CPUDefinition.Feature($0, policy) }
        for feature in cpu.features {
            if cpu.kind == .guest && feature.policy != .require && feature.policy != .disable { continue }
            if let index = features.firstIndex(where: { $0.name == feature.name }) {
                features[index].policy = feature.policy
            } else {
                features.append(feature)
            }
        }
        if cpu.kind == .guest {
            for name in model.removedFeatures where !features.contains(where: { $0.name == name }) {
                features.append(CPUDefinition.Feature(name, .disable))
            }
        }
        var expanded = cpu
        expanded.features = features.sorted { Array($0.name.utf8).lexicographicallyPrecedes(Array($1.name.utf8)) }
        return expanded
    }

    // MARK: Compare

    public enum Relation: String, Sendable {
        case identical, superset, incompatible
    }

    public struct Comparison: Sendable, Equatable {
        public var relation: Relation
        /// Why it is incompatible, as libvirt words it (nil otherwise).
        public var reason: String?
        /// Features the CPU needs and the host lacks (or, for a forbidden feature or a strict
        /// match, the host's offending features), in map order.
        public var missing: [String]
        /// Features the host has beyond the CPU (a superset), in map order.
        public var extra: [String]
    }

    /// libvirt's x86Compute (`virsh cpu-compare`): can a guest with `cpu` run on `host`?
    /// `host` is a host CPU (its model and features; policies do not apply).
    public func compare(host: CPUDefinition, _ cpu: CPUDefinition) throws(VFIOError) -> Comparison {
        if let arch = cpu.arch, !cpu.isX86 {
            return Comparison(relation: .incompatible, reason: "CPU arch \(arch) does not match host arch", missing: [], extra: [])
        }
        if let vendor = cpu.vendor, host.vendor != vendor {
            return Comparison(relation: .incompatible, reason: "host CPU vendor does not match required CPU vendor \(vendor)",
                              missing: [], extra: [])
        }
        let hostData = try data(of: host, .all)
        let force = try data(of: cpu, .policy(.force))
        var require = try data(of: cpu, .policy(.require))
        let optional = try data(of: cpu, .policy(.optional))
        let disable = try data(of: cpu, .policy(.disable))
        let forbid = try data(of: cpu, .policy(.forbid))
        let forbidden = forbid.intersecting(hostData)
        if !forbidden.isEmpty {
            let names = map.featureNames(in: forbidden)
            return Comparison(relation: .incompatible, reason: "Host CPU provides forbidden features: " + names.joined(separator: ", "),
                              missing: names, extra: [])
        }
        require.subtract(force)
        require.subtract(optional)
        require.subtract(disable)
        switch CPUModels.relate(hostData, require) {
        case .subset, .unrelated:
            let names = map.featureNames(in: require.subtracting(hostData))
            return Comparison(relation: .incompatible, reason: "Host CPU does not provide required features: " + names.joined(separator: ", "),
                              missing: names, extra: [])
        case .equal, .superset:
            break
        }
        let diff = hostData.subtracting(optional).subtracting(require).subtracting(disable).subtracting(force)
        let extra = map.featureNames(in: diff)
        if diff.isEmpty { return Comparison(relation: .identical, reason: nil, missing: [], extra: []) }
        if cpu.kind == .guest && cpu.match == .strict {
            return Comparison(relation: .incompatible,
                              reason: "Host CPU does not strictly match guest CPU: Extra features: " + extra.joined(separator: ", "),
                              missing: extra, extra: extra)
        }
        return Comparison(relation: .superset, reason: nil, missing: [], extra: extra)
    }

    enum Order { case subset, equal, superset, unrelated }

    /// libvirt's x86ModelCompare, register by register.
    static func relate(_ a: CPUData, _ b: CPUData) -> Order {
        var result = Order.equal
        func combine(_ match: Order) -> Bool {
            if result == .equal { result = match } else if result != match { return false }
            return true
        }
        // libvirt walks a's registers, then b's; the answer does not depend on the order.
        for (mine, theirs) in a.pairs(with: b) where mine != theirs {
            if mine != 0 && !combine(mine & theirs == theirs ? .superset : .subset) { return .unrelated }
            if theirs != 0 && !combine(theirs & mine == mine ? .subset : .superset) { return .unrelated }
        }
        return result
    }
}
