/// Edits GRUB's /etc/default/grub (a shell fragment) to carry kernel options, changing nothing
/// else: every other line, option, quote and comment stays byte for byte, and a second run
/// changes nothing. Pure: text in, text out.
public enum GrubDefault {
    /// The IOMMU options passthrough needs for a CPU vendor. AMD's IOMMU is on by default
    /// (`amd_iommu=on` is not a valid value); `iommu=pt` keeps host devices off the DMA
    /// translation they do not need.
    public static func iommuOptions(vendor: String?) -> [String] {
        vendor == "AuthenticAMD" || vendor == "HygonGenuine" ? ["iommu=pt"] : ["intel_iommu=on", "iommu=pt"]
    }

    /// One assignment line's value, as the shell would read it, and how it was quoted.
    struct Assignment {
        var lineIndex: Int
        /// The line up to the value, the value's raw text (quotes included), and what follows.
        var prefix: Substring
        var raw: Substring
        var suffix: Substring
        var quote: Character?
        /// The value without its quotes, as written (spacing kept).
        var inner: String
        var words: [String] { GrubDefault.words(inner) }
    }

    /// The last assignment of `variable` (the one the shell keeps), or nil.
    static func assignment(_ variable: String, in lines: [Substring]) -> Assignment? {
        var found: Assignment?
        for (index, line) in lines.enumerated() {
            var rest = line.drop { $0 == " " || $0 == "\t" }
            if rest.hasPrefix("export ") { rest = rest.dropFirst(7).drop { $0 == " " } }
            guard rest.hasPrefix(variable + "=") else { continue }
            let valueStart = rest.index(rest.startIndex, offsetBy: variable.count + 1)
            let value = line[valueStart...]
            var quote: Character?
            var end = value.startIndex
            if let first = value.first, first == "\"" || first == "'" {
                quote = first
                var cursor = value.index(after: value.startIndex)
                var closed = false
                while cursor < value.endIndex {
                    let character = value[cursor]
                    if character == "\\" && first == "\"" {
                        cursor = value.index(after: cursor)
                        if cursor < value.endIndex { cursor = value.index(after: cursor) }
                        continue
                    }
                    if character == first { closed = true; break }
                    cursor = value.index(after: cursor)
                }
                guard closed else { continue }  // a value spanning lines: not something to edit
                end = value.index(after: cursor)
            } else {
                end = value.firstIndex { $0 == " " || $0 == "\t" || $0 == "#" || $0 == ";" } ?? value.endIndex
            }
            let raw = value[value.startIndex..<end]
            let inner = quote == nil ? raw : raw.dropFirst().dropLast()
            found = Assignment(lineIndex: index, prefix: line[line.startIndex..<valueStart], raw: raw, suffix: value[end...], quote: quote,
                               inner: String(inner))
        }
        return found
    }

    /// The result of an edit: the new text, and what changed in words.
    public struct Edit: Sendable, Equatable {
        public var text: String
        public var changes: [String]
        public var changed: Bool { !changes.isEmpty }
    }

    /// Puts `options` ("key=value") into GRUB_CMDLINE_LINUX once. An option whose key is there
    /// with another value is replaced in place, in GRUB_CMDLINE_LINUX_DEFAULT too (it comes last
    /// on the kernel's command line, so a conflicting value there would win).
    public static func ensure(_ options: [String], in text: String) -> Edit {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var changes: [String] = []
        func key(_ option: String) -> Substring { KernelCommandLine.key(option) }

        // Conflicts in _DEFAULT: replace in place.
        if var defaults = assignment("GRUB_CMDLINE_LINUX_DEFAULT", in: lines) {
            let before = defaults.inner
            for option in options {
                for word in defaults.words where key(word) == key(option) && word != option {
                    changes.append("GRUB_CMDLINE_LINUX_DEFAULT: \(word) -> \(option)")
                    defaults.inner = replacing(word, with: option, in: defaults.inner)
                }
            }
            if defaults.inner != before { lines[defaults.lineIndex] = rebuild(defaults) }
        }
        if var linux = assignment("GRUB_CMDLINE_LINUX", in: lines) {
            let before = linux.inner
            linux.inner = ensure(options, inValue: linux.inner, label: "GRUB_CMDLINE_LINUX", changes: &changes)
            if linux.inner != before { lines[linux.lineIndex] = rebuild(linux) }
        } else {
            changes.append("GRUB_CMDLINE_LINUX: add " + options.joined(separator: " "))
            let line = Substring("GRUB_CMDLINE_LINUX=\"" + options.joined(separator: " ") + "\"")
            if lines.last == "" { lines.insert(line, at: lines.count - 1) } else { lines.append(line) }
        }
        return Edit(text: lines.joined(separator: "\n"), changes: changes)
    }

    /// `options` put once into a command-line value (words separated by blanks, kept as they
    /// are): a word with an option's key and another value is replaced where it stands, a
    /// missing option is appended. Each change is described in `changes`, after `label`.
    static func ensure(_ options: [String], inValue value: String, label: String?, changes: inout [String]) -> String {
        var value = value
        let prefix = label.map { $0 + ": " } ?? ""
        for option in options {
            if let word = words(value).first(where: { KernelCommandLine.key($0) == KernelCommandLine.key(option) }) {
                if word != option {
                    changes.append(prefix + "\(word) -> \(option)")
                    value = replacing(word, with: option, in: value)
                }
            } else {
                changes.append(prefix + "add \(option)")
                value += (value.isEmpty || value.last == " " || value.last == "\t" ? "" : " ") + option
            }
        }
        return value
    }

    static func words(_ value: String) -> [String] { value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init) }

    /// The assignment with its new value, in its own quoting (an unquoted value that now holds
    /// spaces gets double quotes); what came before and after the value is kept.
    static func rebuild(_ assignment: Assignment) -> Substring {
        let quote = assignment.quote ?? (assignment.inner.contains(" ") ? "\"" : nil)
        let value = quote.map { "\($0)" + assignment.inner + "\($0)" } ?? assignment.inner
        return Substring(String(assignment.prefix) + value + String(assignment.suffix))
    }

    /// `text` with the whole word `word` (delimited by blanks or the ends) replaced; the blanks stay.
    static func replacing(_ word: String, with replacement: String, in text: String) -> String {
        var out = ""
        var current = ""
        func flush() {
            out += current == word ? replacement : current
            current = ""
        }
        for character in text {
            if character == " " || character == "\t" {
                flush()
                out.append(character)
            } else {
                current.append(character)
            }
        }
        flush()
        return out
    }

    /// The options a drop-in under /etc/default/grub.d adds (sourced after /etc/default/grub).
    public static func dropIn(_ options: [String]) -> String {
        """
        # Written by vfioctl (vfioctl config cmdline --write): the IOMMU options PCI passthrough needs.
        GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX \(options.joined(separator: " "))"

        """
    }

    /// The options already on GRUB_CMDLINE_LINUX and _DEFAULT (for status).
    public static func configuredOptions(in text: String) -> [String] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        return (assignment("GRUB_CMDLINE_LINUX", in: lines)?.words ?? []) + (assignment("GRUB_CMDLINE_LINUX_DEFAULT", in: lines)?.words ?? [])
    }
}
