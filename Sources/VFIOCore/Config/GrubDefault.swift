/// Edits GRUB's /etc/default/grub (a shell fragment grub-mkconfig sources with /bin/sh) to
/// carry kernel options, changing nothing else: the file is read as the shell reads it
/// (`ShellScript`), the assignment of GRUB_CMDLINE_LINUX that takes effect is edited where it
/// stands, and every other byte (other lines, quotes, comments, line ends, bytes that are not
/// UTF-8) is kept; a second run changes nothing. When the value GRUB gets cannot be known or
/// edited in place, it refuses and says what to do by hand. Pure: bytes in, bytes out.
public enum GrubDefault {
    public static let path = "/etc/default/grub"

    /// The IOMMU options passthrough needs for a CPU vendor. AMD's IOMMU is on by default
    /// (`amd_iommu=on` is not a valid value); `iommu=pt` keeps host devices off the DMA
    /// translation they do not need.
    public static func iommuOptions(vendor: String?) -> [String] {
        vendor == "AuthenticAMD" || vendor == "HygonGenuine" ? ["iommu=pt"] : ["intel_iommu=on", "iommu=pt"]
    }

    /// The result of an edit: the new bytes, and what changed in words.
    public struct Edit: Sendable, Equatable {
        public var bytes: [UInt8]
        public var changes: [String]
        public var changed: Bool { !changes.isEmpty }
        /// The new file as text (bytes that are not UTF-8 shown as U+FFFD).
        public var text: String { String(decoding: bytes, as: UTF8.self) }
    }

    /// One word of a command-line value: its bytes, whether every byte is known, and where it
    /// stands in the file when it is written there plainly, byte for byte (so it can be replaced).
    struct Word {
        var bytes: [UInt8]
        var known: Bool
        var range: Range<Int>?
        var text: String { String(decoding: bytes, as: UTF8.self) }
    }

    /// A value's words (split at blanks, newlines and CR, as the kernel's command line is).
    static func words(_ value: [ShellScript.ValueByte]) -> [Word] {
        var words: [Word] = []
        var current: [ShellScript.ValueByte] = []
        func flush() {
            guard !current.isEmpty else { return }
            let known = current.allSatisfy { $0.origin == .file || $0.origin == .escaped }
            var range: Range<Int>?
            if current.allSatisfy({ $0.origin == .file }),
               zip(current, current.dropFirst()).allSatisfy({ $0.offset + 1 == $1.offset }) {
                range = current[0].offset..<(current[current.count - 1].offset + 1)
            }
            words.append(Word(bytes: current.map(\.byte), known: known, range: range))
            current = []
        }
        for byte in value {
            if byte.origin != .uncertain && byte.origin != .substitution && isSeparator(byte.byte) { flush() } else { current.append(byte) }
        }
        flush()
        return words
    }

    static func isSeparator(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0a || byte == 0x0d }

    /// Byte edits of the file: replace `range` with `bytes` (an empty range inserts).
    struct Splice {
        var range: Range<Int>
        var bytes: [UInt8]
    }

    static func apply(_ splices: [Splice], to bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        // From the end, so earlier offsets stay valid; at one offset, the later splice first.
        for splice in splices.enumerated().sorted(by: { ($0.element.range.lowerBound, $0.offset) > ($1.element.range.lowerBound, $1.offset) }).map(\.element) {
            out.replaceSubrange(splice.range, with: splice.bytes)
        }
        return out
    }

    /// Puts `options` ("key=value") into GRUB_CMDLINE_LINUX of /etc/default/grub's text once.
    public static func ensure(_ options: [String], in text: String) throws(VFIOError) -> Edit {
        try ensure(options, in: Array(text.utf8))
    }

    /// Puts `options` into GRUB_CMDLINE_LINUX once. An option whose key is there with another
    /// value is replaced in place, in GRUB_CMDLINE_LINUX_DEFAULT too (it comes last on the
    /// kernel's command line, so a conflicting value there would win). A missing option is
    /// added at the end of the value of the assignment that takes effect; a new assignment is
    /// added only when the file assigns none.
    public static func ensure(_ options: [String], in bytes: [UInt8], file: String = path) throws(VFIOError) -> Edit {
        let joined = options.joined(separator: " ")
        let byHand = "add '\(joined)' to GRUB_CMDLINE_LINUX in \(file) by hand"
        let script = ShellScript(bytes, keeping: ["GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT"])
        if let error = script.error {
            throw .failed("\(file) line \(script.line(at: error.offset)) does not read as a shell script: \(error.message)",
                          hint: "fix it first ('sh -n \(file)' shows what /bin/sh makes of it), or " + byHand)
        }
        try refuseHiddenByCR(bytes, file: file, names: ["GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT"])
        var changes: [String] = []
        var splices: [Splice] = []
        /// Replacements made so far, by file range (a value may be referenced by both variables).
        var replaced: [Range<Int>: [UInt8]] = [:]
        func key(_ word: String) -> Substring { KernelCommandLine.key(word) }

        func replace(_ word: Word, with option: String, variable: String, line: Int) throws(VFIOError) {
            guard let range = word.range else {
                throw .failed("\(file) line \(line): \(variable) has '\(word.text.printable)', which conflicts with \(option), "
                              + "in a form vfioctl does not edit in place (quoted, escaped or split)",
                              hint: "replace it with \(option) by hand")
            }
            if replaced[range] == nil { splices.append(Splice(range: range, bytes: Array(option.utf8))) }
            replaced[range] = Array(option.utf8)
        }

        // Conflicts in _DEFAULT: replaced in place.
        let defaultName = "GRUB_CMDLINE_LINUX_DEFAULT"
        switch script.state(of: defaultName) {
        case .known(let index):
            let assignment = script.assignments[index]
            let line = script.line(at: assignment.nameOffset)
            let words = Self.words(assignment.value)
            for option in options {
                var seen: Set<String> = []
                for word in words where word.known && key(word.text) == key(option) && word.text != option {
                    if seen.insert(word.text).inserted { changes.append("\(defaultName): \(word.text) -> \(option)") }
                    try replace(word, with: option, variable: defaultName, line: line)
                }
            }
        case .uncertain:
            for assignment in script.assignments(of: defaultName) {
                for option in options {
                    if let word = Self.words(assignment.value).first(where: { $0.known && key($0.text) == key(option) && $0.text != option }) {
                        throw .failed("\(file) sets \(defaultName) conditionally (line \(script.line(at: assignment.nameOffset))) and one value has "
                                      + "'\(word.text.printable)', which conflicts with \(option)",
                                      hint: "replace it with \(option) by hand")
                    }
                }
            }
        case .unset:
            break
        }

        let name = "GRUB_CMDLINE_LINUX"
        switch script.state(of: name) {
        case .uncertain:
            let last = script.assignments(of: name).last.map { " (line \(script.line(at: $0.nameOffset)))" } ?? ""
            throw .failed("\(file) sets \(name) conditionally\(last): inside if, case, a loop or a function, after && or ||, in a pipeline "
                          + "or subshell, or through eval, '.', read or declare; vfioctl cannot tell which value GRUB gets",
                          hint: byHand + " where it takes effect, or in a file GRUB reads after it (e.g. /etc/default/grub.d/\(BootConfig.dropInName) "
                          + "with GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX \(joined)\")")
        case .unset:
            changes.append("\(name): add " + joined)
            // LF only: the shell takes a CR before it as part of the value.
            let ending: [UInt8] = [0x0a]
            let line = Array("\(name)=\"\(joined)\"".utf8)
            var splice: [UInt8]
            if bytes.isEmpty || bytes.last == 0x0a {
                splice = line + ending
            } else {
                splice = ending + line
                if bytes.last == UInt8(ascii: "\\") {
                    throw .failed("\(file) ends with a backslash: a line added after it would join the last line",
                                  hint: "end the file with a newline, or " + byHand)
                }
            }
            splices.append(Splice(range: bytes.count..<bytes.count, bytes: splice))
        case .known(let index):
            let assignment = script.assignments[index]
            let line = script.line(at: assignment.nameOffset)
            if assignment.array != nil {
                throw .failed("\(file) line \(line) makes \(name) a bash array", hint: "make it a quoted string, or " + byHand)
            }
            if assignment.value.contains(where: { $0.origin == .substitution }) {
                throw .failed("\(file) line \(line) builds \(name) from a command substitution or another expansion vfioctl cannot evaluate "
                              + "($(...), backticks, ${...:-...}, $((...)), ~)",
                              hint: byHand + ", or take the expansion out of it")
            }
            var words = Self.words(assignment.value).map { word -> Word in
                guard let range = word.range, let replacement = replaced[range] else { return word }
                return Word(bytes: replacement, known: true, range: range)
            }
            var added: [String] = []
            for option in options {
                if let word = words.first(where: { $0.known && key($0.text) == key(option) }) ?? added.first(where: { key($0) == key(option) }).map({
                    Word(bytes: Array($0.utf8), known: true, range: nil)
                }) {
                    guard word.text != option else { continue }
                    changes.append("\(name): \(word.text) -> \(option)")
                    for (position, other) in words.enumerated() where other.known && other.text == word.text {
                        try replace(other, with: option, variable: name, line: line)
                        words[position].bytes = Array(option.utf8)
                    }
                } else {
                    changes.append("\(name): add \(option)")
                    added.append(option)
                }
            }
            if !added.isEmpty { splices += append(added, to: assignment) }
        }
        return Edit(bytes: changes.isEmpty ? bytes : apply(splices, to: bytes), changes: changes)
    }

    /// The splices that add `options` at the end of an assignment's value, inside its last
    /// quotes; an unquoted value gets double quotes (around all of it when it is plain, else
    /// around what is added). CRs and line joins at the end stay after the value.
    static func append(_ options: [String], to assignment: ShellScript.Assignment) -> [Splice] {
        var parts = assignment.parts[...]
        while let last = parts.last {
            if case .char(0x0d, _, .none) = last { parts.removeLast(); continue }
            if case .continuation = last { parts.removeLast(); continue }
            break
        }
        let joined = Array(options.joined(separator: " ").utf8)
        // A blank before the options unless the value so far is empty or ends in a blank.
        var needsBlank = false
        for part in parts.reversed() {
            switch part {
            case .quoteMark, .continuation: continue
            case .char(let byte, _, _), .escaped(let byte, _, _): needsBlank = !isSeparator(byte)
            case .parameter, .substitution: needsBlank = true
            }
            break
        }
        let blank: [UInt8] = needsBlank ? [0x20] : []
        let quote = UInt8(ascii: "\"")
        guard let last = parts.last else {
            return [Splice(range: assignment.valueStart..<assignment.valueStart, bytes: [quote] + joined + [quote])]
        }
        if case .quoteMark(let offset, false, _) = last {
            return [Splice(range: offset..<offset, bytes: blank + joined)]
        }
        let end = last.end
        let plain = parts.allSatisfy { part in
            switch part {
            case .char(_, _, .none), .parameter(_, _, _, .none): true
            default: false
            }
        }
        if plain {
            return [Splice(range: assignment.valueStart..<assignment.valueStart, bytes: [quote]),
                    Splice(range: end..<end, bytes: blank + joined + [quote])]
        }
        return [Splice(range: end..<end, bytes: [quote] + blank + joined + [quote])]
    }

    /// A CR that is not followed by LF is no line end to the shell: what follows it is part of the
    /// line before. Refuses when that hides an assignment of one of `names` that an editor shows
    /// on a line of its own (the user believes it takes effect; /bin/sh never sees it).
    static func refuseHiddenByCR(_ bytes: [UInt8], file: String, names: [String]) throws(VFIOError) {
        var index = 0
        while index < bytes.count {
            defer { index += 1 }
            guard bytes[index] == 0x0d, index + 1 >= bytes.count || bytes[index + 1] != 0x0a else { continue }
            var start = index + 1
            while start < bytes.count && ShellScript.isBlank(bytes[start]) { start += 1 }
            let export = Array("export ".utf8)
            if bytes[start...].starts(with: export) {
                start += export.count
                while start < bytes.count && ShellScript.isBlank(bytes[start]) { start += 1 }
            }
            for name in names where bytes[start...].starts(with: Array((name + "=").utf8)) {
                throw .failed("\(file) has lines ending in CR alone (\\r, old Mac style): /bin/sh reads them as one line, so the \(name) "
                              + "on line \(ShellScript.line(at: start, in: bytes)) has no effect",
                              hint: "convert the line ends to LF (check it, then: sed -i 's/\\r/\\n/g' \(file)), and run again")
            }
        }
    }

    /// `options` put once into a command line kept as plain text (/etc/kernel/cmdline): a word
    /// with an option's key and another value is replaced where it stands, a missing option is
    /// appended; what follows the value (newlines) becomes one newline.
    public static func ensure(_ options: [String], inCommandLine bytes: [UInt8], label: String?, changes: inout [String]) -> [UInt8] {
        var end = bytes.count
        while end > 0 && (bytes[end - 1] == 0x0a || bytes[end - 1] == 0x0d) { end -= 1 }
        let value = bytes[..<end].enumerated().map { ShellScript.ValueByte(byte: $0.element, offset: $0.offset, origin: .file) }
        var words = Self.words(value)
        let prefix = label.map { $0 + ": " } ?? ""
        var splices: [Splice] = []
        var added: [String] = []
        for option in options {
            let key = KernelCommandLine.key(option)
            if let word = words.first(where: { KernelCommandLine.key($0.text) == key }) ?? added.first(where: { KernelCommandLine.key($0) == key }).map({
                Word(bytes: Array($0.utf8), known: true, range: nil)
            }) {
                guard word.text != option else { continue }
                changes.append(prefix + "\(word.text) -> \(option)")
                for (position, other) in words.enumerated() where other.text == word.text {
                    if let range = other.range { splices.append(Splice(range: range, bytes: Array(option.utf8))) }
                    words[position].bytes = Array(option.utf8)
                }
            } else {
                changes.append(prefix + "add \(option)")
                added.append(option)
            }
        }
        if !added.isEmpty {
            let blank: [UInt8] = end == 0 || isSeparator(bytes[end - 1]) ? [] : [0x20]
            splices.append(Splice(range: end..<end, bytes: blank + Array(added.joined(separator: " ").utf8)))
        }
        return apply(splices + [Splice(range: end..<bytes.count, bytes: [0x0a])], to: bytes)
    }

    /// The options a drop-in under /etc/default/grub.d adds (sourced after /etc/default/grub).
    public static func dropIn(_ options: [String]) -> String {
        """
        # Written by vfioctl (vfioctl config cmdline --write): the IOMMU options PCI passthrough needs.
        GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX \(options.joined(separator: " "))"

        """
    }

    /// The options GRUB_CMDLINE_LINUX and _DEFAULT are known to carry (for status).
    public static func configuredOptions(in text: String) -> [String] { configuredOptions(in: Array(text.utf8)) }

    public static func configuredOptions(in bytes: [UInt8]) -> [String] {
        let script = ShellScript(bytes, keeping: ["GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT"])
        guard script.error == nil else { return [] }
        return ["GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT"].flatMap { name -> [String] in
            guard case .known(let index) = script.state(of: name) else { return [] }
            return words(script.assignments[index].value).filter(\.known).map(\.text)
        }
    }
}
