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
        case .initramfsTools: edit = initramfsTools(facts.initramfsToolsModulesBytes, wanted)
        case .dracut: edit = dracut(facts, wanted)
        case .mkinitcpio: edit = mkinitcpio(facts, wanted)
        }
        edit.notes = notes + edit.notes
        edit.regenerate = generator.rebuild
        return edit
    }

    /// /etc/initramfs-tools/modules: one module per line (arguments may follow), # comments.
    /// Not a shell script: initramfs-tools reads it line by line (`read module args`), so a CR
    /// before LF stays part of the module's name. Added lines end in LF; every byte already
    /// there is kept.
    static func initramfsTools(_ bytes: [UInt8]?, _ wanted: [String]) -> ConfigEdit {
        let path = "/etc/initramfs-tools/modules"
        let old = bytes ?? []
        var listed: Set<String> = []
        for line in old.split(separator: 0x0a) {
            let trimmed = line.drop { $0 == 0x20 || $0 == 0x09 }
            guard trimmed.first != UInt8(ascii: "#"), let word = trimmed.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 }).first else { continue }
            listed.insert(Substring(String(decoding: word, as: UTF8.self)).replacingDashes())
        }
        let missing = wanted.filter { !listed.contains($0) }
        guard !missing.isEmpty else { return ConfigEdit(path: path, oldBytes: bytes, newBytes: bytes, changes: [], regenerate: nil, notes: []) }
        var new = old
        if !new.isEmpty && new.last != 0x0a { new.append(0x0a) }
        var added = ""
        if bytes == nil { added += "# List of modules to include in the initramfs and load at boot (initramfs-tools(8)).\n" }
        added += "# vfio first, so vfio-pci can claim devices before their host drivers (vfioctl config initramfs)\n"
        added += missing.map { $0 + "\n" }.joined()
        new += Array(added.utf8)
        return ConfigEdit(path: path, oldBytes: bytes, newBytes: new, changes: ["\(path): add " + missing.joined(separator: " ")], regenerate: nil, notes: [])
    }

    /// The words of every assignment of `name` (`NAME=...`, `NAME+=...`) in a dracut file
    /// (bash sourced by dracut), read as the shell reads it.
    static func dracutWords(_ name: String, in text: String) -> Set<String> {
        let script = ShellScript(Array(text.utf8), keeping: [name])
        let words = script.assignments(of: name).flatMap { ShellScript.knownWords($0.value) }
        return Set(words.map { Substring($0).replacingDashes() })
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

    /// mkinitcpio: the MODULES array of /etc/mkinitcpio.conf (bash, read as the shell reads
    /// it: the assignment that takes effect), vfio first, every other byte kept; the modconf
    /// hook carries /etc/modprobe.d into the image.
    static func mkinitcpio(_ facts: BootFacts, _ wanted: [String]) -> ConfigEdit {
        let path = "/etc/mkinitcpio.conf"
        var notes: [String] = []
        var warnings: [String] = []
        let bytes = facts.mkinitcpioConfBytes ?? []
        let byHand = "put " + wanted.joined(separator: " ") + " first in it by hand"
        for (name, dropIn) in facts.mkinitcpioDropIns.sorted(by: { $0.key < $1.key }) where !ShellScript(Array(dropIn.utf8), keeping: ["MODULES"]).assignments.isEmpty {
            warnings.append("/etc/mkinitcpio.conf.d/\(name) sets MODULES after \(path): add \(wanted.joined(separator: " ")) there too")
        }
        let script = ShellScript(bytes, keeping: ["MODULES", "HOOKS"])
        if let error = script.error {
            return ConfigEdit(changes: [], regenerate: nil, notes: notes + ["\(path) line \(script.line(at: error.offset)) does not read as a shell script "
                                                                               + "(\(error.message)): fix it, or " + byHand], warnings: warnings)
        }
        if case .known(let index) = script.state(of: "HOOKS"), !ShellScript.knownWords(script.assignments[index].value).contains("modconf") {
            notes.append("HOOKS has no modconf: /etc/modprobe.d (vfio-pci ids=, softdeps) stays out of the image; add modconf to HOOKS")
        }
        switch script.state(of: "MODULES") {
        case .unset:
            let line = Array(("MODULES=(" + wanted.joined(separator: " ") + ")\n").utf8)
            let new = bytes + (bytes.isEmpty || bytes.last == 0x0a ? [] : [0x0a]) + line
            return ConfigEdit(path: path, oldBytes: facts.mkinitcpioConfBytes, newBytes: new,
                              changes: ["\(path): MODULES=(\(wanted.joined(separator: " ")))"], regenerate: nil, notes: notes, warnings: warnings)
        case .uncertain:
            return ConfigEdit(changes: [], regenerate: nil, notes: notes + ["\(path) sets MODULES conditionally (or through eval, '.' or read): " + byHand],
                              warnings: warnings)
        case .known(let index):
            let assignment = script.assignments[index]
            let line = script.line(at: assignment.nameOffset)
            // The array's parentheses, or the quotes of the old string form, on one line.
            var open: Int, close: Int
            if let array = assignment.array {
                (open, close) = (array.open, array.close)
            } else if case .quoteMark(let first, true, _)? = assignment.parts.first, case .quoteMark(let last, false, _)? = assignment.parts.last,
                      assignment.parts.dropFirst().dropLast().allSatisfy({ if case .char = $0 { true } else { false } }) {
                (open, close) = (first, last)
            } else {
                return ConfigEdit(changes: [], regenerate: nil, notes: notes + ["\(path) line \(line) sets MODULES in a form vfioctl does not edit: " + byHand],
                                  warnings: warnings)
            }
            guard !bytes[open..<close].contains(0x0a) else {
                return ConfigEdit(changes: [], regenerate: nil, notes: notes + ["\(path) line \(line): MODULES spans several lines; " + byHand],
                                  warnings: warnings)
            }
            let present = ShellScript.knownWords(assignment.value).map { Substring($0).replacingDashes() }
            let missing = wanted.filter { !present.contains($0) }
            guard !missing.isEmpty else {
                return ConfigEdit(path: path, oldBytes: facts.mkinitcpioConfBytes, newBytes: facts.mkinitcpioConfBytes, changes: [], regenerate: nil,
                                  notes: notes, warnings: warnings)
            }
            var bodyStart = open + 1
            while bodyStart < close && bytes[bodyStart] == 0x20 { bodyStart += 1 }
            var new = bytes
            new.replaceSubrange((open + 1)..<bodyStart, with: Array((missing.joined(separator: " ") + (bodyStart == close ? "" : " ")).utf8))
            return ConfigEdit(path: path, oldBytes: facts.mkinitcpioConfBytes, newBytes: new,
                              changes: ["\(path): MODULES gets " + missing.joined(separator: " ") + " first"], regenerate: nil, notes: notes, warnings: warnings)
        }
    }
}
