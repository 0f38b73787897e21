/// `vfioctl config initramfs`: the vfio modules loaded early, from the initramfs, so vfio-pci can
/// claim a device before its host driver does (a GPU driver loaded from the initramfs wins
/// otherwise). One edit per generator, each keeping every other line of the file. Pure.
public enum InitramfsConfig {
    public enum Generator: String, Sendable, CaseIterable {
        case initramfsTools = "initramfs-tools"
        case dracut
        case mkinitcpio

        /// The command that rebuilds every installed kernel's initramfs.
        public var rebuild: String {
            switch self {
            case .initramfsTools: "update-initramfs -u -k all"
            case .dracut: "dracut -f --regenerate-all"
            case .mkinitcpio: "mkinitcpio -P"
            }
        }

        var tool: String {
            switch self {
            case .initramfsTools: "update-initramfs"
            case .dracut: "dracut"
            case .mkinitcpio: "mkinitcpio"
            }
        }
    }

    public static let dracutDropIn = "10-vfioctl.conf"

    /// vfio-pci first (the Arch wiki's order: it must be there before a GPU driver in the same
    /// list); vfio_virqfd only while an installed kernel still has it as a module (before 6.2).
    public static func modules(_ facts: BootFacts) -> [String] {
        ["vfio_pci", "vfio", "vfio_iommu_type1"] + (facts.kernelsWithVirqfd.isEmpty ? [] : ["vfio_virqfd"])
    }

    /// The generators this system has: the tool must be installed; where several are, the one
    /// whose configuration exists comes first.
    public static func generators(_ facts: BootFacts) -> [Generator] {
        let installed = Generator.allCases.filter { facts.tools.contains($0.tool) }
        func configured(_ generator: Generator) -> Bool {
            switch generator {
            case .initramfsTools: facts.initramfsToolsModules != nil
            case .dracut: facts.dracutConf != nil || !facts.dracutDropIns.isEmpty
            case .mkinitcpio: facts.mkinitcpioConf != nil
            }
        }
        return installed.filter(configured) + installed.filter { !configured($0) }
    }

    public static func plan(_ facts: BootFacts) -> ConfigEdit {
        let wanted = modules(facts)
        var notes: [String] = []
        if facts.vfioPCIBuiltin {
            notes.append("vfio-pci is built into kernel \(facts.runningRelease ?? "") (modules.builtin): nothing to load from the initramfs; "
                         + "give it device IDs on the kernel command line (vfio-pci.ids=VVVV:DDDD) or use 'vfioctl persist'")
        }
        let found = generators(facts)
        guard let generator = found.first else {
            return ConfigEdit(changes: [], regenerate: nil, notes: notes + [
                "no initramfs generator here (update-initramfs, dracut or mkinitcpio): without an initramfs the modules load from the "
                    + "root filesystem, where /etc/modprobe.d (softdep DRIVER pre: vfio-pci) orders them"])
        }
        if found.count > 1 {
            notes.append("several initramfs generators are installed (" + found.map(\.rawValue).joined(separator: ", ") + "): configuring \(generator.rawValue)")
        }
        var edit: ConfigEdit
        switch generator {
        case .initramfsTools: edit = initramfsTools(facts.initramfsToolsModules, wanted)
        case .dracut: edit = dracut(facts, wanted)
        case .mkinitcpio: edit = mkinitcpio(facts, wanted)
        }
        edit.notes = notes + edit.notes
        edit.regenerate = generator.rebuild
        return edit
    }

    /// Whether `line` assigns shell variable `name` (leading blanks allowed): "MODULES=(...)".
    static func assigns(_ line: some StringProtocol, _ name: String) -> Bool {
        line.drop { $0 == " " || $0 == "\t" }.hasPrefix(name + "=")
    }

    /// /etc/initramfs-tools/modules: one module per line (arguments may follow), # comments.
    static func initramfsTools(_ text: String?, _ wanted: [String]) -> ConfigEdit {
        let path = "/etc/initramfs-tools/modules"
        let old = text ?? ""
        let listed = Set(old.split(separator: "\n").compactMap { line -> String? in
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            guard !trimmed.hasPrefix("#"), let word = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" }).first else { return nil }
            return word.replacingDashes()
        })
        let missing = wanted.filter { !listed.contains($0) }
        guard !missing.isEmpty else { return ConfigEdit(path: path, old: text, new: text, changes: [], regenerate: nil, notes: []) }
        var new = old
        if !new.isEmpty && !new.hasSuffix("\n") { new += "\n" }
        if text == nil { new += "# List of modules to include in the initramfs and load at boot (initramfs-tools(8)).\n" }
        new += "# vfio first, so vfio-pci can claim devices before their host drivers (vfioctl config initramfs)\n"
        new += missing.map { $0 + "\n" }.joined()
        return ConfigEdit(path: path, old: text, new: new, changes: ["\(path): add " + missing.joined(separator: " ")], regenerate: nil, notes: [])
    }

    /// The words of every `NAME+=" ... "` / `NAME="..."` assignment of `name` in a dracut file.
    static func dracutWords(_ name: String, in text: String) -> Set<String> {
        var words: Set<String> = []
        for line in text.split(separator: "\n") {
            guard assigns(line, name + "+") || assigns(line, name) else { continue }
            let value = line.drop { $0 != "=" }.dropFirst()
            for word in value.split(whereSeparator: { " \t\"'".contains($0) }) where !word.hasPrefix("#") { words.insert(word.replacingDashes()) }
        }
        return words
    }

    /// dracut: force_drivers in /etc/dracut.conf.d/10-vfioctl.conf (dracut reads only files
    /// ending in .conf there; add_drivers would include the modules without loading them early).
    static func dracut(_ facts: BootFacts, _ wanted: [String]) -> ConfigEdit {
        let path = "/etc/dracut.conf.d/" + dracutDropIn
        var warnings: [String] = []
        for (name, text) in facts.dracutDropIns.sorted(by: { $0.key < $1.key }) where !name.hasSuffix(".conf") && text.contains("vfio") {
            warnings.append("/etc/dracut.conf.d/\(name) mentions vfio but dracut ignores it: only files ending in .conf are read")
        }
        var forced: Set<String> = []
        for text in [facts.dracutConf ?? ""] + facts.dracutDropIns.filter({ $0.key.hasSuffix(".conf") && $0.key != dracutDropIn }).map(\.value) {
            forced.formUnion(dracutWords("force_drivers", in: text))
        }
        let old = facts.dracutDropIns[dracutDropIn]
        if wanted.allSatisfy(forced.contains) {
            return ConfigEdit(path: path, old: old, new: old, changes: [], regenerate: nil,
                              notes: ["dracut already forces " + wanted.joined(separator: " ") + " (force_drivers in /etc/dracut.conf*)"], warnings: warnings)
        }
        let new = "# Written by vfioctl (vfioctl config initramfs --write): load vfio early so vfio-pci can claim\n"
            + "# devices before their host drivers. Takes effect when the initramfs is rebuilt: dracut -f --regenerate-all\n"
            + "force_drivers+=\" " + wanted.joined(separator: " ") + " \"\n"
        return ConfigEdit(path: path, old: old, new: new, changes: old == new ? [] : ["\(path): force_drivers " + wanted.joined(separator: " ")],
                          regenerate: nil, notes: [], warnings: warnings)
    }

    /// mkinitcpio: the MODULES array of /etc/mkinitcpio.conf, vfio first; the modconf hook
    /// carries /etc/modprobe.d into the image.
    static func mkinitcpio(_ facts: BootFacts, _ wanted: [String]) -> ConfigEdit {
        let path = "/etc/mkinitcpio.conf"
        var notes: [String] = []
        var warnings: [String] = []
        let text = facts.mkinitcpioConf ?? ""
        for (name, dropIn) in facts.mkinitcpioDropIns.sorted(by: { $0.key < $1.key })
        where dropIn.split(separator: "\n").contains(where: { assigns($0, "MODULES") }) {
            warnings.append("/etc/mkinitcpio.conf.d/\(name) sets MODULES after \(path): add \(wanted.joined(separator: " ")) there too")
        }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if let hooks = lines.last(where: { assigns($0, "HOOKS") }), !hooks.contains("modconf") {
            notes.append("HOOKS has no modconf: /etc/modprobe.d (vfio-pci ids=, softdeps) stays out of the image; add modconf to HOOKS")
        }
        guard let index = lines.lastIndex(where: { assigns($0, "MODULES") }) else {
            if !text.isEmpty && lines.last == "" { lines.removeLast() }
            lines.append("MODULES=(" + wanted.joined(separator: " ") + ")")
            return ConfigEdit(path: path, old: facts.mkinitcpioConf, new: lines.joined(separator: "\n") + "\n",
                              changes: ["\(path): MODULES=(\(wanted.joined(separator: " ")))"], regenerate: nil, notes: notes, warnings: warnings)
        }
        let line = lines[index]
        let start = line.index(line.startIndex, offsetBy: line.prefix { $0 == " " || $0 == "\t" }.count + "MODULES=".count)
        let value = line[start...]
        let open: Character, close: Character
        switch value.first {
        case "(": (open, close) = ("(", ")")
        case "\"": (open, close) = ("\"", "\"")
        default:
            return ConfigEdit(changes: [], regenerate: nil, notes: notes + ["\(path) line \(index + 1) sets MODULES in a form vfioctl does not edit: put "
                                                                               + wanted.joined(separator: " ") + " first in it by hand"], warnings: warnings)
        }
        let inner = value.dropFirst()
        guard let end = inner.firstIndex(of: close) else {
            return ConfigEdit(changes: [], regenerate: nil, notes: notes + ["\(path) line \(index + 1): MODULES spans several lines; put "
                                                                               + wanted.joined(separator: " ") + " first in it by hand"], warnings: warnings)
        }
        let present = inner[..<end].split(whereSeparator: { $0 == " " || $0 == "\t" })
        let missing = wanted.filter { module in !present.contains { $0.replacingDashes() == module } }
        guard !missing.isEmpty else { return ConfigEdit(path: path, old: text, new: text, changes: [], regenerate: nil, notes: notes, warnings: warnings) }
        let body = inner[..<end].drop { $0 == " " }
        lines[index] = String(line[..<start]) + String(open) + missing.joined(separator: " ") + (body.isEmpty ? "" : " " + body) + String(inner[end...])
        return ConfigEdit(path: path, old: text, new: lines.joined(separator: "\n"), changes: ["\(path): MODULES gets " + missing.joined(separator: " ") + " first"],
                          regenerate: nil, notes: notes, warnings: warnings)
    }
}
