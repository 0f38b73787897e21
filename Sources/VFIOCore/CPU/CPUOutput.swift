/// Text, JSON and libvirt XML for the `cpu` commands and `xml cpu`.
public enum CPUOutput {
    // MARK: XML

    /// A host CPU as `virsh capabilities` prints it (and `virsh cpu-baseline` reads it).
    public static func hostElement(_ host: HostCPU) -> XMLElement {
        var children: [XMLNode] = [
            .element(XMLElement("arch", children: [.text(host.arch)])),
            .element(XMLElement("model", children: [.text(host.cpu.model)])),
        ]
        if let vendor = host.cpu.vendor { children.append(.element(XMLElement("vendor", children: [.text(vendor)]))) }
        if let microcode = host.microcode, microcode > 0 {
            children.append(.element(XMLElement("microcode", [("version", String(microcode))])))
        }
        if let signature = host.signature, signature.family > 0 {
            children.append(.element(XMLElement("signature", [("family", String(signature.family)), ("model", String(signature.model)),
                                                              ("stepping", String(signature.stepping))])))
        }
        if let topology = host.topology {
            children.append(.element(XMLElement("topology", [("sockets", String(topology.sockets)), ("dies", "1"),
                                                             ("cores", String(topology.cores)), ("threads", String(topology.threads))])))
        }
        if let bits = host.physicalAddressBits {
            children.append(.element(XMLElement("maxphysaddr", [("mode", "emulate"), ("bits", String(bits))])))
        }
        for feature in host.cpu.features { children.append(.element(XMLElement("feature", [("name", feature.name)]))) }
        return XMLElement("cpu", children: children)
    }

    /// `--format xml` of `cpu host`: a comment saying where the data came from, then the element.
    public static func hostXML(_ host: HostCPU) -> String {
        "<!-- " + "vfioctl cpu host: decoded from \(host.source.summary)".replacingDoubleDashes() + " -->\n" + hostElement(host).rendered()
    }

    /// A guest CPU as `virsh cpu-baseline` prints it: `<cpu mode='custom' match='exact'>`, the
    /// model with its fallback, the vendor, then each feature with its policy.
    public static func guestElement(_ cpu: ComputedCPU) -> XMLElement {
        var children: [XMLNode] = [
            .element(XMLElement("model", [("fallback", cpu.fallbackAllowed ? "allow" : "forbid")], children: [.text(cpu.model)])),
        ]
        if let vendor = cpu.vendor { children.append(.element(XMLElement("vendor", children: [.text(vendor)]))) }
        for feature in cpu.features {
            children.append(.element(XMLElement("feature", [("policy", (feature.policy ?? .require).rawValue), ("name", feature.name)])))
        }
        return XMLElement("cpu", [("mode", "custom"), ("match", "exact")], children: children)
    }

    /// What a custom baseline model means for migration, as an XML comment before the element.
    public static func baselineNote(_ cpu: ComputedCPU, hosts: Int) -> String {
        let fallback = cpu.fallbackAllowed
            ? "fallback='allow' lets libvirt start the guest with a close model if a hypervisor lacks \(cpu.model)"
            : "fallback='forbid': every CPU given named \(cpu.model)"
        return """
            <!-- Baseline of \(hosts) CPU\(hosts == 1 ? "" : "s"): guests with this <cpu> can migrate between all those hosts,
                 since each offers model \(cpu.model) with these features. Before adding a host to the pool, run
                 'vfioctl cpu compare FILE' on it with this element (identical or superset: it can take the guests).
                 A guest loses what its host has beyond the baseline; \(fallback). -->

            """
    }

    /// `<cpu mode='host-passthrough'>`, and what it means for migration.
    public static func hostPassthrough() -> String {
        """
        <!-- host-passthrough: the guest sees this host's CPU as it is (every feature, including vmx/svm for
             nested guests). It migrates only to hosts with an identical CPU (model, features and microcode
             alike): on the target, 'vfioctl cpu compare' of this host's CPU (saved with 'vfioctl cpu host'
             in XML format) must say identical. migratable='on' leaves out features that cannot migrate
             (invtsc). For a pool of different CPUs, use the baseline of their CPUs ('vfioctl xml cpu' with
             the baseline option). -->
        <cpu mode='host-passthrough' check='none' migratable='on'/>

        """
    }

    // MARK: host

    public static func hostJSON(_ host: HostCPU) -> JSON {
        var cpu: JSONObject = [
            "arch": .string(host.arch),
            "vendor": .optional(host.cpu.vendor),
            "vendor_id": .optional(host.vendorID),
            "model": .string(host.cpu.model),
            "model_name": .optional(host.modelName),
            "features": .strings(host.cpu.features.map(\.name).sorted()),
            "topology": host.topology.map {
                .object(["sockets": .int($0.sockets), "cores": .int($0.cores), "threads": .int($0.threads), "logical_cpus": .int($0.logicalCPUs)])
            } ?? .null,
            "source": .string(host.source.name),
            "source_detail": .string(host.source.summary),
            "unread_features": .array(host.unreadFeatures.sorted { $0.name < $1.name }.map {
                .object(["name": .string($0.name), "reason": .string($0.reason)])
            }),
            "microcode": .optional(host.microcode.map { Int(truncatingIfNeeded: $0) }),
            "physical_address_bits": .optional(host.physicalAddressBits),
            "unmapped_flags": .strings(host.unmappedFlags),
            "inferred_features": .array(host.inferredFeatures.sorted { $0.name < $1.name }.map {
                .object(["name": .string($0.name), "reason": .string($0.reason)])
            }),
        ]
        cpu["signature"] = host.signature.map {
            .object(["family": .int($0.family), "model": .int($0.model), "stepping": .int($0.stepping)])
        } ?? .null
        return .document(["cpu": .object(cpu)])
    }

    public static func hostText(_ host: HostCPU) -> String {
        var rows: [[String]] = [
            ["model", host.cpu.model + (host.cpu.vendor.map { " (\($0))" } ?? "")],
        ]
        if let name = host.modelName { rows.append(["cpu", name]) }
        if let signature = host.signature {
            rows.append(["signature", "family \(signature.family) model \(signature.model) stepping \(signature.stepping)"])
        }
        rows.append(["arch", host.arch])
        if let topology = host.topology {
            rows.append(["topology", "\(topology.sockets) socket\(topology.sockets == 1 ? "" : "s") × \(topology.cores) core\(topology.cores == 1 ? "" : "s")"
                         + " × \(topology.threads) thread\(topology.threads == 1 ? "" : "s") (\(topology.logicalCPUs) logical CPUs)"])
        }
        rows.append(["features", host.cpu.features.isEmpty ? "none beyond the model" : host.cpu.features.map(\.name).joined(separator: " ")])
        rows.append(["source", host.source.summary])
        var out = TextTable(header: ["", ""], rows: rows).render(includeHeader: false)
        if !host.inferredFeatures.isEmpty {
            out += "inferred  " + host.inferredFeatures.map(\.name).joined(separator: " ")
                + "  (not CPUID bits in /proc/cpuinfo; see --format json)\n"
        }
        if !host.unreadFeatures.isEmpty {
            out += "unread    " + host.unreadFeatures.map(\.name).joined(separator: " ")
                + "  (could not be read: \(host.unreadFeatures[0].reason); the CPU may have them)\n"
        }
        return out
    }

    // MARK: dump

    /// `cpu dump --format json`: the dump's entries as numbers, in the XML's order.
    public static func dumpJSON(_ dump: CPUIDDump, source: String, unreadMSRs: [(index: UInt32, reason: String)]) -> JSON {
        .document([
            "cpudata": .object([
                "arch": .string("x86"),
                "cpuid": .array(dump.leaves.map {
                    .object(["eax_in": .int(Int($0.leaf)), "ecx_in": .int(Int($0.subleaf)), "eax": .int(Int($0.eax)),
                             "ebx": .int(Int($0.ebx)), "ecx": .int(Int($0.ecx)), "edx": .int(Int($0.edx))])
                }),
                "msr": .array(dump.msrs.map { .object(["index": .int(Int($0.index)), "eax": .int(Int($0.eax)), "edx": .int(Int($0.edx))]) }),
            ]),
            "model_name": .optional(dump.brandString),
            "vendor_id": .optional(dump.vendorString),
            "source": .string(source),
            "unread_msrs": .array(unreadMSRs.map { .object(["index": .int(Int($0.index)), "reason": .string($0.reason)]) }),
            "xml": .string(dump.xml(comments: [dump.brandString ?? "unknown CPU", source])),
        ])
    }

    // MARK: baseline

    public static func baselineJSON(_ cpu: ComputedCPU, inputs: [CPUDefinition]) -> JSON {
        .document([
            "cpu": .object([
                "mode": .string("custom"),
                "match": .string("exact"),
                "model": .string(cpu.model),
                "fallback": .string(cpu.fallbackAllowed ? "allow" : "forbid"),
                "vendor": .optional(cpu.vendor),
                "features": .array(cpu.features.sorted { $0.name < $1.name }.map {
                    .object(["name": .string($0.name), "policy": .string(($0.policy ?? .require).rawValue)])
                }),
            ]),
            "inputs": .array(inputs.map { .object(["source": .string($0.source), "model": .optional($0.model), "vendor": .optional($0.vendor)]) }),
            "xml": .string(guestElement(cpu).rendered()),
        ])
    }

    // MARK: compare

    /// virsh's wording, then the details.
    public static func comparisonText(_ comparison: CPUModels.Comparison, host: String, cpu: String) -> String {
        var out: String
        switch comparison.relation {
        case .identical: out = "identical: the CPU described in \(cpu) is identical to \(host)\n"
        case .superset: out = "superset: \(host) is a superset of the CPU described in \(cpu)\n"
        case .incompatible: out = "incompatible: the CPU described in \(cpu) is incompatible with \(host)\n"
        }
        if let reason = comparison.reason { out += "  \(reason)\n" }
        if comparison.relation == .superset {
            out += "  \(host) has beyond it: " + comparison.extra.joined(separator: " ") + "\n"
        }
        switch comparison.relation {
        case .identical:
            out += "  guests with that CPU run here; host-passthrough guests can migrate between the two hosts\n"
        case .superset:
            out += "  guests with that CPU (a custom model) run here; host-passthrough guests cannot migrate between the two hosts\n"
        case .incompatible:
            out += "  guests with that CPU cannot run here; baseline the two ('vfioctl cpu baseline') for a CPU both can run\n"
        }
        return out
    }

    public static func comparisonJSON(_ comparison: CPUModels.Comparison, host: CPUDefinition, cpu: CPUDefinition) -> JSON {
        func describe(_ cpu: CPUDefinition) -> JSON {
            .object(["source": .string(cpu.source), "model": .optional(cpu.model), "vendor": .optional(cpu.vendor),
                     "kind": .string(cpu.kind.rawValue)])
        }
        return .document([
            "result": .string(comparison.relation.rawValue),
            "reason": .optional(comparison.reason),
            "missing_features": .strings(comparison.missing.sorted()),
            "extra_features": .strings(comparison.extra.sorted()),
            "host_passthrough_migratable": .bool(comparison.relation == .identical),
            "host": describe(host),
            "cpu": describe(cpu),
        ])
    }

    // MARK: models

    public static func modelsText(_ map: CPUMap, features: Bool) -> String {
        if features {
            return TextTable(header: ["FEATURE", "BIT", "MIGRATABLE"], rows: map.features.map { feature in
                let bits = feature.data.sortedRegisters.map { "\($0.register) 0x\(HexDigits.padded(UInt64($0.bits), width: 8))" }
                return [feature.name, bits.joined(separator: ", "), feature.migratable ? "yes" : "no"]
            }).render()
        }
        return TextTable(header: ["MODEL", "VENDOR", "FEATURES", "DECODE"], rows: map.models.map { model in
            let decode = [model.decodeHost ? "host" : nil, model.decodeGuest ? "guest" : nil].compactMap { $0 }
            return [model.name, model.vendor ?? "-", String(map.featureNames(in: model.data).count),
                    decode.isEmpty ? "-" : decode.joined(separator: ",")]
        }).render()
    }

    public static func modelsJSON(_ map: CPUMap) -> JSON {
        .document([
            "models": .array(map.models.map { model in
                .object(["name": .string(model.name), "vendor": .optional(model.vendor),
                         "features": .strings(map.featureNames(in: model.data).sorted()),
                         "removed_features": .strings(model.removedFeatures.sorted()),
                         "decode_host": .bool(model.decodeHost), "decode_guest": .bool(model.decodeGuest)])
            }),
            "features": .array(map.features.map { .object(["name": .string($0.name), "migratable": .bool($0.migratable)]) }),
            "vendors": .array(map.vendors.map { .object(["name": .string($0.name), "string": .string($0.string)]) }),
        ])
    }
}
