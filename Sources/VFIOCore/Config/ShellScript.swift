/// A shell fragment (/etc/default/grub, mkinitcpio.conf) read as /bin/sh (dash) and bash read
/// it when they source it, far enough to know which assignments take effect and what value
/// each gives, byte for byte, with where every byte of the value stands in the file:
///
/// - words end at unquoted blanks, newlines and operators (`; & | ( ) < >`); `#` starts a
///   comment only at the start of a word; CR is an ordinary character (a CRLF line's value
///   ends in CR; a CR-only file is one line to the shell);
/// - single quotes keep everything up to the next `'`; double quotes keep everything but
///   `$`, `` ` `` and `\` before `$ `` " \` or a newline; both may span lines; an unquoted
///   `\` quotes the next byte, and backslash-newline (unquoted or in double quotes) joins lines;
/// - `$NAME` and `${NAME}` expand to the value assigned before (empty when none); command
///   substitution (`$(...)`, backticks), arithmetic, other `${...}` forms, `$'...'`, special
///   parameters and `~` give values nobody can know without running them;
/// - `NAME=value` before any command word assigns (left to right, several on a line or after
///   `;`); `export`/`readonly NAME=value` too; prefix assignments of a command, assignments
///   inside `if`/`case`/loops/`{ }`/`( )`/functions, after `&&` or `||`, in a pipeline or in the
///   background may or may not take effect: they leave the variable uncertain, as do `unset`
///   under a condition, `read`/`declare`/... of it, and `eval`/`.`/`source` (everything);
/// - here-documents are skipped; `NAME=(...)` (a bash array) is kept as such.
///
/// Pure: bytes in, the assignments and the final state of every variable out.
public struct ShellScript: Sendable {
    /// One byte of a value: where it came from in the file (offset, or -1), and how.
    public struct ValueByte: Sendable, Equatable {
        public enum Origin: UInt8, Sendable { case file, escaped, uncertain, substitution }
        public var byte: UInt8
        public var offset: Int
        public var origin: Origin
    }

    public enum Quote: UInt8, Sendable { case none, single, double }

    /// A piece of a word as written.
    public enum Part: Sendable, Equatable {
        /// A byte that stands for itself, at `offset`.
        case char(UInt8, offset: Int, quote: Quote)
        /// A byte made literal by the backslash before it (at offset - 1).
        case escaped(UInt8, offset: Int, quote: Quote)
        /// An opening or closing quote at `offset`.
        case quoteMark(offset: Int, opening: Bool, kind: Quote)
        /// A backslash-newline, removed (offset of the backslash).
        case continuation(offset: Int)
        /// `$NAME` or `${NAME}` over `start..<end`.
        case parameter(String, start: Int, end: Int, quote: Quote)
        /// An expansion whose value cannot be known: `$(...)`, backticks, `$((...))`, `${...}`, `~`.
        case substitution(start: Int, end: Int, quote: Quote)

        var end: Int {
            switch self {
            case .char(_, let offset, _), .escaped(_, let offset, _), .quoteMark(let offset, _, _): offset + 1
            case .continuation(let offset): offset + 2
            case .parameter(_, _, let end, _), .substitution(_, let end, _): end
            }
        }
    }

    /// A word: its bytes `start..<end`, its parts; for `NAME=(...)`, the elements and the parentheses.
    public struct Word: Sendable {
        public var start: Int
        public var end: Int
        public var parts: [Part] = []
        public var array: (open: Int, close: Int, elements: [Word])?
        var ioNumber = false

        /// The word's bytes when it is written plainly (no quotes, escapes or expansions).
        var plain: [UInt8]? {
            var out: [UInt8] = []
            for part in parts {
                guard case .char(let byte, _, .none) = part else { return nil }
                out.append(byte)
            }
            return out
        }

        /// NAME when the word starts with an unquoted `NAME=` (or bash's `NAME+=`, `append`), and
        /// the index of the first part after `=`.
        var assignmentName: (name: String, valueIndex: Int)? { assignment.map { ($0.name, $0.valueIndex) } }

        var assignment: (name: String, valueIndex: Int, append: Bool)? {
            var name: [UInt8] = []
            var plus = false
            for (index, part) in parts.enumerated() {
                guard case .char(let byte, _, .none) = part else { return nil }
                if byte == UInt8(ascii: "=") {
                    return name.isEmpty ? nil : (String(decoding: name, as: UTF8.self), index + 1, plus)
                }
                guard !plus else { return nil }
                if byte == UInt8(ascii: "+") && !name.isEmpty { plus = true; continue }
                guard ShellScript.isNameByte(byte, first: name.isEmpty) else { return nil }
                name.append(byte)
            }
            return nil
        }
    }

    /// An assignment `NAME=value` as it was met, with the value it gave.
    public struct Assignment: Sendable {
        public var name: String
        /// Offset of NAME, and of the value's bytes (after `=`) up to the end of the word.
        public var nameOffset: Int
        public var valueStart: Int
        public var valueEnd: Int
        /// The value's parts as written.
        public var parts: [Part]
        /// The value it gave (for an array, its elements joined by spaces).
        public var value: [ValueByte]
        /// It may not take effect (see the type's comment).
        public var conditional: Bool
        public var array: (open: Int, close: Int, elements: [Word])?
    }

    public enum State: Sendable, Equatable {
        case unset
        /// Set by `assignments[index]`, for certain.
        case known(Int)
        case uncertain
    }

    public struct SyntaxError: Error, Sendable, Equatable {
        public var offset: Int
        public var message: String
    }

    public let bytes: [UInt8]
    /// The assignments of the variables asked for (all when none were named), in file order.
    public private(set) var assignments: [Assignment] = []
    public private(set) var error: SyntaxError?
    let keeping: Set<String>?

    /// What a variable holds: its value when known (and the assignment's index when kept), and
    /// the `eval` epoch it was set in (an `eval`, `.` or `source` since makes it uncertain).
    struct Slot {
        var value: [ValueByte]?
        var index: Int?
        var epoch: Int
    }
    private var slots: [String: Slot] = [:]
    private var epoch = 0
    /// Bytes of values still to be followed: a file that expands more than this (a hostile one
    /// copying a long value on every line) is not followed to the end but refused.
    private var budget = ShellScript.expansionBudget

    /// The longest value followed through references (a file doubling a variable 40 times
    /// would otherwise take all memory): beyond it the value is unknown.
    static let valueLimit = 1 << 20
    static let expansionBudget = 1 << 23
    /// More distinct variables than any configuration file has: beyond, the file is refused.
    static let variableLimit = 100_000

    /// Reads `bytes`; `keeping`: the variables whose assignments the caller looks at (the others
    /// are followed for their values only).
    public init(_ bytes: [UInt8], keeping: Set<String>? = nil) {
        self.bytes = bytes
        self.keeping = keeping
        var parser = Parser(bytes: bytes)
        do {
            try parser.run { command in self.execute(command) }
        } catch {
            self.error = self.error ?? error
        }
    }

    /// What `name` holds after the whole file ran.
    public func state(of name: String) -> State {
        guard let slot = slots[name] else { return epoch > 0 ? .uncertain : .unset }
        if slot.epoch != epoch { return .uncertain }
        if slot.value != nil { return .known(slot.index ?? -1) }
        return slot.index == -1 ? .uncertain : .unset
    }

    /// The value `name` holds when known.
    func value(of name: String) -> [ValueByte]? {
        guard let slot = slots[name], slot.epoch == epoch else { return nil }
        return slot.value
    }

    private mutating func set(_ name: String, _ slot: Slot) {
        if slots[name] == nil && slots.count >= Self.variableLimit {
            error = error ?? SyntaxError(offset: 0, message: "it uses more than \(Self.variableLimit) variables, too many to follow")
            return
        }
        slots[name] = slot
    }

    private mutating func setUncertain(_ name: String) { set(name, Slot(value: nil, index: -1, epoch: epoch)) }
    private mutating func setUnset(_ name: String) { set(name, Slot(value: nil, index: nil, epoch: epoch)) }

    /// Every assignment of `name`, in file order.
    public func assignments(of name: String) -> [Assignment] { assignments.filter { $0.name == name } }

    /// The words of a value (split at blanks, newlines and CR) whose every byte is known.
    public static func knownWords(_ value: [ValueByte]) -> [String] {
        var words: [String] = []
        var current: [UInt8] = []
        var known = true
        for byte in value + [ValueByte(byte: 0x20, offset: -1, origin: .escaped)] {
            if byte.origin == .uncertain || byte.origin == .substitution { known = false; current.append(byte.byte); continue }
            if byte.byte == 0x20 || byte.byte == 0x09 || byte.byte == 0x0a || byte.byte == 0x0d {
                if !current.isEmpty && known { words.append(String(decoding: current, as: UTF8.self)) }
                current = []
                known = true
            } else {
                current.append(byte.byte)
            }
        }
        return words
    }

    /// The 1-based line of `offset`, counting LF, CRLF and lone CR as line ends (as an editor shows it).
    public func line(at offset: Int) -> Int { Self.line(at: offset, in: bytes) }

    public static func line(at offset: Int, in bytes: [UInt8]) -> Int {
        var line = 1
        var index = 0
        while index < min(offset, bytes.count) {
            if bytes[index] == 0x0a || (bytes[index] == 0x0d && (index + 1 >= bytes.count || bytes[index + 1] != 0x0a)) { line += 1 }
            index += 1
        }
        return line
    }

    static func isNameByte(_ byte: UInt8, first: Bool) -> Bool {
        (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || byte == 0x5f || (!first && byte >= 0x30 && byte <= 0x39)
    }

    static func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

    // MARK: running commands

    /// One simple command and whether it surely runs in this shell.
    struct Command {
        var assignments: [Word] = []
        var words: [Word] = []
        var conditional = false
        /// Variables it may set that are not written as assignments (`for NAME`).
        var uncertain: [String] = []
        var isEmpty: Bool { assignments.isEmpty && words.isEmpty }
    }

    private mutating func execute(_ command: Command) {
        guard error == nil else { return }
        for name in command.uncertain { setUncertain(name) }
        if !command.uncertain.isEmpty { return }
        if command.words.isEmpty {
            for word in command.assignments { assign(word, conditional: command.conditional) }
            return
        }
        // Prefix assignments of a command: temporary for most, lasting for special built-ins in
        // dash, not in bash: uncertain either way.
        for word in command.assignments { assign(word, conditional: true) }
        // Only a few command names matter; most commands are none of them.
        guard let first = command.words.first?.plain, first.count <= 9, let name = Self.builtins[String(decoding: first, as: UTF8.self)] else { return }
        let arguments = command.words.dropFirst()
        switch name {
        case "export", "readonly":
            // export -n, -f...: what follows is not a plain assignment.
            let options = arguments.contains { $0.plain?.first == UInt8(ascii: "-") && $0.plain != Array("--".utf8) }
            for word in arguments {
                if let name = word.assignmentName?.name, options { setUncertain(name) } else { assign(word, conditional: command.conditional) }
            }
        case "unset":
            for word in arguments {
                guard let plain = word.plain, plain.first != UInt8(ascii: "-") else { continue }
                let variable = String(decoding: plain, as: UTF8.self)
                if command.conditional { setUncertain(variable) } else { setUnset(variable) }
            }
        case "eval", ".", "source":
            // Everything set before is uncertain from here on.
            epoch += 1
        default:
            // A command that may set a variable it is given by name (read, declare, local,
            // typeset, getopts, printf -v, let, mapfile...): that variable is uncertain. Other
            // commands cannot change this shell's variables.
            for word in arguments {
                if let name = word.assignmentName?.name { setUncertain(name); continue }
                guard let plain = word.plain else { continue }
                var current: [UInt8] = []
                for byte in plain + [0] {
                    if Self.isNameByte(byte, first: current.isEmpty) { current.append(byte); continue }
                    if !current.isEmpty { setUncertain(String(decoding: current, as: UTF8.self)) }
                    current = []
                }
            }
        }
    }

    /// The commands that can change variables, by name.
    static let builtins: [String: String] = Dictionary(uniqueKeysWithValues: [
        "export", "readonly", "unset", "eval", ".", "source", "read", "declare", "typeset", "local", "getopts", "printf", "let",
        "mapfile", "readarray", "set", "shift",
    ].map { ($0, $0) })

    private mutating func assign(_ word: Word, conditional: Bool) {
        guard let (name, valueIndex, append) = word.assignment else { return }
        let parts = Array(word.parts[valueIndex...])
        var value: [ValueByte] = []
        if append {
            // bash's NAME+=: the value so far, then this one.
            switch state(of: name) {
            case .unset: break
            case .known: value = self.value(of: name) ?? []
            case .uncertain: value = [ValueByte(byte: 0x3f, offset: -1, origin: .uncertain)]
            }
        }
        if let array = word.array {
            for (index, element) in array.elements.enumerated() {
                if index > 0 || !value.isEmpty { value.append(ValueByte(byte: 0x20, offset: -1, origin: .escaped)) }
                value += expand(element.parts)
            }
        } else {
            value += expand(parts)
        }
        if value.count > Self.valueLimit { value = [ValueByte(byte: 0x3f, offset: -1, origin: .substitution)] }
        budget -= value.count
        if budget < 0 {
            error = SyntaxError(offset: word.start, message: "its variables expand to more than \(Self.expansionBudget) bytes, too much to follow")
            return
        }
        var index: Int?
        if keeping?.contains(name) ?? true {
            let valueStart = word.parts.indices.contains(valueIndex - 1) ? word.parts[valueIndex - 1].end : word.start
            assignments.append(Assignment(name: name, nameOffset: word.start, valueStart: valueStart, valueEnd: word.end, parts: parts,
                                          value: value, conditional: conditional, array: word.array))
            index = assignments.count - 1
        }
        if conditional { setUncertain(name) } else { set(name, Slot(value: value, index: index, epoch: epoch)) }
    }

    /// `bytes` after `value`; unknown bytes next to unknown bytes of the same kind collapse
    /// into one (what they stand for is unknown anyway), so doubling them never grows.
    static func append(_ bytes: [ValueByte], to value: inout [ValueByte]) {
        for byte in bytes {
            if byte.origin == .uncertain || byte.origin == .substitution, value.last?.origin == byte.origin { continue }
            value.append(byte)
        }
    }

    /// The value of parts, as an assignment gives it (no word splitting, no globbing).
    private func expand(_ parts: [Part]) -> [ValueByte] {
        var value: [ValueByte] = []
        for part in parts {
            switch part {
            case .char(let byte, let offset, _): value.append(ValueByte(byte: byte, offset: offset, origin: .file))
            case .escaped(let byte, let offset, _): value.append(ValueByte(byte: byte, offset: offset, origin: .escaped))
            case .quoteMark, .continuation: break
            case .parameter(let name, _, _, _):
                switch state(of: name) {
                case .unset: break
                case .known: Self.append(self.value(of: name) ?? [], to: &value)
                case .uncertain: Self.append([ValueByte(byte: 0x3f, offset: -1, origin: .uncertain)], to: &value)
                }
            case .substitution: Self.append([ValueByte(byte: 0x3f, offset: -1, origin: .substitution)], to: &value)
            }
            if value.count > Self.valueLimit {
                return [ValueByte(byte: 0x3f, offset: -1, origin: .substitution)]
            }
        }
        return value
    }
}

// MARK: - the parser

extension ShellScript {
    enum Token {
        case word(Word)
        case op([UInt8], offset: Int)
        case newline(offset: Int)
        case end
    }

    /// Tokens, then commands, in one pass; `run` hands each finished simple command over.
    struct Parser {
        let bytes: [UInt8]
        var position = 0
        /// Here-documents whose bodies start after the next newline: delimiter, strip tabs.
        var pendingHeredocs: [(delimiter: [UInt8], stripTabs: Bool)] = []
        var heredocDelimiterNext: Bool?
        static let nestingLimit = 200

        init(bytes: [UInt8]) { self.bytes = bytes }

        func fail(_ offset: Int, _ message: String) -> SyntaxError { SyntaxError(offset: offset, message: message) }

        func byte(_ index: Int) -> UInt8? { index < bytes.count ? bytes[index] : nil }

        static func isOperatorStart(_ byte: UInt8) -> Bool {
            byte == UInt8(ascii: ";") || byte == UInt8(ascii: "&") || byte == UInt8(ascii: "|") || byte == UInt8(ascii: "(")
                || byte == UInt8(ascii: ")") || byte == UInt8(ascii: "<") || byte == UInt8(ascii: ">")
        }

        // MARK: tokens

        mutating func nextToken() throws(SyntaxError) -> Token {
            while true {
                guard let current = byte(position) else { return .end }
                if isBlank(current) { position += 1; continue }
                if current == UInt8(ascii: "\\") && byte(position + 1) == 0x0a { position += 2; continue }
                if current == 0x0a {
                    let offset = position
                    position += 1
                    try readHeredocBodies()
                    return .newline(offset: offset)
                }
                if current == UInt8(ascii: "#") {
                    while let next = byte(position), next != 0x0a { position += 1 }
                    continue
                }
                if Self.isOperatorStart(current) {
                    let offset = position
                    return .op(readOperator(), offset: offset)
                }
                var word = try readWord()
                if let strip = heredocDelimiterNext {
                    heredocDelimiterNext = nil
                    pendingHeredocs.append((heredocDelimiter(word), strip))
                }
                if let next = byte(position), next == UInt8(ascii: "<") || next == UInt8(ascii: ">"),
                   let plain = word.plain, plain.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
                    word.ioNumber = true
                }
                return .word(word)
            }
        }

        private func isBlank(_ byte: UInt8) -> Bool { ShellScript.isBlank(byte) }

        static let operators: [[UInt8]] = [";;&", "<<-", "<<<", "&&", "||", ";;", ";&", "|&", "<<", ">>", "<&", ">&", "<>", ">|", "&>"].map { Array($0.utf8) }

        mutating func readOperator() -> [UInt8] {
            for text in Self.operators where text[0] == bytes[position] && position + text.count <= bytes.count {
                guard bytes[(position + 1)..<(position + text.count)].elementsEqual(text.dropFirst()) else { continue }
                position += text.count
                if text == [0x3c, 0x3c] { heredocDelimiterNext = false }
                if text == [0x3c, 0x3c, 0x2d] { heredocDelimiterNext = true }
                return text
            }
            position += 1
            return [bytes[position - 1]]
        }

        func heredocDelimiter(_ word: Word) -> [UInt8] {
            word.parts.compactMap { part -> UInt8? in
                switch part {
                case .char(let byte, _, _), .escaped(let byte, _, _): byte
                default: nil
                }
            }
        }

        /// Skips the bodies of the here-documents opened on the line just ended.
        mutating func readHeredocBodies() throws(SyntaxError) {
            let pending = pendingHeredocs
            pendingHeredocs = []
            for (delimiter, stripTabs) in pending {
                let start = position
                while true {
                    guard position < bytes.count else {
                        throw fail(start, "the here-document ending with '\(String(decoding: delimiter, as: UTF8.self).printable)' is not closed")
                    }
                    var lineStart = position
                    var lineEnd = position
                    while lineEnd < bytes.count && bytes[lineEnd] != 0x0a { lineEnd += 1 }
                    position = min(lineEnd + 1, bytes.count)
                    if stripTabs { while lineStart < lineEnd && bytes[lineStart] == 0x09 { lineStart += 1 } }
                    if Array(bytes[lineStart..<lineEnd]) == delimiter { break }
                }
            }
        }

        /// One word from `position`: up to an unquoted blank, newline or operator.
        mutating func readWord() throws(SyntaxError) -> Word {
            var word = Word(start: position, end: position)
            while let current = byte(position) {
                if isBlank(current) || current == 0x0a { break }
                if current == UInt8(ascii: "(") && word.array == nil, let (_, valueIndex) = word.assignmentName, valueIndex == word.parts.count {
                    let array = try readArray()
                    if let next = byte(position), !isBlank(next), next != 0x0a, !Self.isOperatorStart(next) {
                        // bash: NAME=(...)MORE is no array but a string, parentheses and all.
                        word.parts.append(.substitution(start: array.open, end: position, quote: .none))
                    } else {
                        word.array = array
                    }
                    continue
                }
                if Self.isOperatorStart(current) { break }
                switch current {
                case UInt8(ascii: "\\"):
                    word.parts.append(readBackslash(quote: .none))
                case UInt8(ascii: "'"):
                    let open = position
                    word.parts.append(.quoteMark(offset: position, opening: true, kind: .single))
                    position += 1
                    while let next = byte(position), next != UInt8(ascii: "'") {
                        word.parts.append(.char(next, offset: position, quote: .single))
                        position += 1
                    }
                    guard position < bytes.count else { throw fail(open, "the single quote here is never closed") }
                    word.parts.append(.quoteMark(offset: position, opening: false, kind: .single))
                    position += 1
                case UInt8(ascii: "\""):
                    try readDoubleQuoted(into: &word)
                case UInt8(ascii: "$"):
                    word.parts.append(try readDollar(quote: .none))
                case UInt8(ascii: "`"):
                    word.parts.append(try readBacktick(quote: .none))
                case UInt8(ascii: "~") where word.parts.isEmpty || word.parts.last.map(Self.opensTilde) == true:
                    var end = position + 1
                    while let next = byte(end), next != UInt8(ascii: "/"), next != UInt8(ascii: ":"), !isBlank(next), next != 0x0a,
                          !Self.isOperatorStart(next), next != UInt8(ascii: "\""), next != UInt8(ascii: "'") { end += 1 }
                    word.parts.append(.substitution(start: position, end: end, quote: .none))
                    position = end
                default:
                    word.parts.append(.char(current, offset: position, quote: .none))
                    position += 1
                }
            }
            word.end = position
            return word
        }

        /// `~` expands at the start of a word and after an assignment's `=` or `:`.
        static func opensTilde(_ part: Part) -> Bool {
            if case .char(let byte, _, .none) = part { return byte == UInt8(ascii: "=") || byte == UInt8(ascii: ":") }
            return false
        }

        mutating func readDoubleQuoted(into word: inout Word) throws(SyntaxError) {
            let open = position
            word.parts.append(.quoteMark(offset: position, opening: true, kind: .double))
            position += 1
            while true {
                guard let current = byte(position) else { throw fail(open, "the double quote here is never closed") }
                switch current {
                case UInt8(ascii: "\""):
                    word.parts.append(.quoteMark(offset: position, opening: false, kind: .double))
                    position += 1
                    return
                case UInt8(ascii: "\\"):
                    word.parts.append(readBackslash(quote: .double))
                case UInt8(ascii: "$"):
                    word.parts.append(try readDollar(quote: .double))
                case UInt8(ascii: "`"):
                    word.parts.append(try readBacktick(quote: .double))
                default:
                    word.parts.append(.char(current, offset: position, quote: .double))
                    position += 1
                }
            }
        }

        /// A backslash at `position`: with a newline after it, a line continuation; before any byte
        /// outside quotes, or before `$`, `` ` ``, `"`, `\` inside double quotes, that byte escaped;
        /// otherwise (last byte of the file, or another byte inside double quotes) itself.
        mutating func readBackslash(quote: Quote) -> Part {
            let offset = position
            guard let next = byte(offset + 1) else {
                position += 1
                return .char(UInt8(ascii: "\\"), offset: offset, quote: quote)
            }
            if next == 0x0a {
                position += 2
                return .continuation(offset: offset)
            }
            let escapes = quote == .none || next == UInt8(ascii: "$") || next == UInt8(ascii: "`") || next == UInt8(ascii: "\"")
                || next == UInt8(ascii: "\\")
            guard escapes else {
                position += 1
                return .char(UInt8(ascii: "\\"), offset: offset, quote: quote)
            }
            position += 2
            return .escaped(next, offset: offset + 1, quote: quote)
        }

        /// `` `...` `` at `position`: a command substitution, its value unknown.
        mutating func readBacktick(quote: Quote) throws(SyntaxError) -> Part {
            let start = position
            position = try skipNested(from: position + 1, [.backtick], start: start)
            return .substitution(start: start, end: position, quote: quote)
        }

        /// `$...` at `position`.
        mutating func readDollar(quote: Quote) throws(SyntaxError) -> Part {
            let start = position
            guard let next = byte(position + 1) else {
                position += 1
                return .char(UInt8(ascii: "$"), offset: start, quote: quote)
            }
            switch next {
            case UInt8(ascii: "{"):
                position = try skipNested(from: position + 2, [.brace], start: start)
                let inner = Array(bytes[(start + 2)..<(position - 1)])
                if let first = inner.first, isNameByte(first, first: true), inner.allSatisfy({ isNameByte($0, first: false) }) {
                    return .parameter(String(decoding: inner, as: UTF8.self), start: start, end: position, quote: quote)
                }
                return .substitution(start: start, end: position, quote: quote)
            case UInt8(ascii: "("):
                position = try skipNested(from: position + 2, [.paren], start: start)
                return .substitution(start: start, end: position, quote: quote)
            case UInt8(ascii: "'") where quote == .none:
                // bash: ANSI-C quoting; dash: '$' then a single-quoted string. Unknowable either way.
                var end = position + 2
                while let byte = byte(end), byte != UInt8(ascii: "'") { end += byte == UInt8(ascii: "\\") ? 2 : 1 }
                guard end < bytes.count else { throw fail(start, "the quote of $'...' here is never closed") }
                position = end + 1
                return .substitution(start: start, end: position, quote: quote)
            case UInt8(ascii: "\"") where quote == .none:
                // bash: a translated string; dash: '$' then a double-quoted string.
                var word = Word(start: position + 1, end: position + 1)
                position += 1
                try readDoubleQuoted(into: &word)
                return .substitution(start: start, end: position, quote: quote)
            default:
                if isNameByte(next, first: true) {
                    var end = position + 2
                    while let byte = byte(end), isNameByte(byte, first: false) { end += 1 }
                    position = end
                    return .parameter(String(decoding: bytes[(start + 1)..<end], as: UTF8.self), start: start, end: end, quote: quote)
                }
                if (next >= 0x30 && next <= 0x39) || "@*#?-$!".utf8.contains(next) {
                    position += 2
                    return .substitution(start: start, end: position, quote: quote)
                }
                position += 1
                return .char(UInt8(ascii: "$"), offset: start, quote: quote)
            }
        }

        enum Nesting { case paren, brace, backtick, double }

        /// The offset after the closer of an expansion opened before `from` (the stack holds what
        /// is open): quotes, escapes, nested expansions and comments inside are followed.
        func skipNested(from: Int, _ initial: [Nesting], start: Int) throws(SyntaxError) -> Int {
            var stack = initial
            var index = from
            while index < bytes.count {
                guard stack.count <= Self.nestingLimit else { throw fail(start, "expansions nested more than \(Self.nestingLimit) deep") }
                guard let top = stack.last else { return index }
                let current = bytes[index]
                switch top {
                case .double:
                    switch current {
                    case UInt8(ascii: "\\"): index += 2
                    case UInt8(ascii: "\""): stack.removeLast(); index += 1
                    case UInt8(ascii: "`"): stack.append(.backtick); index += 1
                    case UInt8(ascii: "$") where byte(index + 1) == UInt8(ascii: "("): stack.append(.paren); index += 2
                    case UInt8(ascii: "$") where byte(index + 1) == UInt8(ascii: "{"): stack.append(.brace); index += 2
                    default: index += 1
                    }
                case .backtick:
                    switch current {
                    case UInt8(ascii: "\\"): index += 2
                    case UInt8(ascii: "`"): stack.removeLast(); index += 1
                    default: index += 1
                    }
                case .paren, .brace:
                    switch current {
                    case UInt8(ascii: "\\"): index += 2
                    case UInt8(ascii: "'"):
                        index += 1
                        while index < bytes.count && bytes[index] != UInt8(ascii: "'") { index += 1 }
                        guard index < bytes.count else { throw fail(start, "a single quote inside the expansion here is never closed") }
                        index += 1
                    case UInt8(ascii: "\""): stack.append(.double); index += 1
                    case UInt8(ascii: "`"): stack.append(.backtick); index += 1
                    case UInt8(ascii: "$") where byte(index + 1) == UInt8(ascii: "("): stack.append(.paren); index += 2
                    case UInt8(ascii: "$") where byte(index + 1) == UInt8(ascii: "{"): stack.append(.brace); index += 2
                    case UInt8(ascii: "(") where top == .paren: stack.append(.paren); index += 1
                    case UInt8(ascii: ")") where top == .paren: stack.removeLast(); index += 1
                    case UInt8(ascii: "}") where top == .brace: stack.removeLast(); index += 1
                    case UInt8(ascii: "#") where top == .paren && (index == from || isBlank(bytes[index - 1]) || bytes[index - 1] == 0x0a
                                                                  || bytes[index - 1] == UInt8(ascii: ";") || bytes[index - 1] == UInt8(ascii: "(")):
                        while index < bytes.count && bytes[index] != 0x0a { index += 1 }
                    default: index += 1
                    }
                }
            }
            if stack.isEmpty { return index }
            throw fail(start, "the expansion starting here is never closed")
        }

        /// `NAME=(` ... `)`: the elements, newlines and comments allowed between them.
        mutating func readArray() throws(SyntaxError) -> (open: Int, close: Int, elements: [Word]) {
            let open = position
            position += 1
            var elements: [Word] = []
            while true {
                guard let current = byte(position) else { throw fail(open, "the parenthesis of this array is never closed") }
                if isBlank(current) || current == 0x0a { position += 1; continue }
                if current == UInt8(ascii: "\\") && byte(position + 1) == 0x0a { position += 2; continue }
                if current == UInt8(ascii: "#") {
                    while let next = byte(position), next != 0x0a { position += 1 }
                    continue
                }
                if current == UInt8(ascii: ")") {
                    position += 1
                    return (open, position - 1, elements)
                }
                if Self.isOperatorStart(current) { throw fail(position, "'\(String(UnicodeScalar(current)))' inside an array") }
                elements.append(try readWord())
            }
        }

        // MARK: commands

        enum Frame: Equatable {
            case ifClause, loop, brace, subshell
            /// case WORD in: waiting for the word, for `in`, in a pattern, in a branch.
            case caseClause(CasePhase)
        }

        enum CasePhase: Equatable { case subject, keywordIn, pattern, body }

        mutating func run(_ execute: (Command) -> Void) throws(SyntaxError) {
            var frames: [Frame] = []
            var command = Command()
            /// The commands of the and-or list being read (run when it ends: `&` makes all conditional).
            var list: [Command] = []
            var listConditional = false
            var redirectTarget = false
            var forHeader = false
            var doubleBracket = false
            var lastOffset = 0

            func finishCommand() {
                if !command.isEmpty {
                    command.conditional = command.conditional || !frames.isEmpty || listConditional
                    list.append(command)
                }
                command = Command()
            }
            func finishList(background: Bool) {
                finishCommand()
                for var item in list {
                    if background { item.conditional = true }
                    execute(item)
                }
                list = []
                listConditional = false
            }
            func casePhase() -> CasePhase? {
                if case .caseClause(let phase) = frames.last { return phase }
                return nil
            }
            func setCasePhase(_ phase: CasePhase) { frames[frames.count - 1] = .caseClause(phase) }
            func name(_ plain: [UInt8]) -> String { String(decoding: plain, as: UTF8.self).printable }

            while true {
                let token = try nextToken()
                switch token {
                case .end:
                    if redirectTarget { throw fail(lastOffset, "a redirection at the end of the file has no target") }
                    finishList(background: false)
                    if !frames.isEmpty { throw fail(lastOffset, "the file ends inside an unfinished if, case, loop, group or function") }
                    return
                case .newline(let offset):
                    lastOffset = offset
                    if redirectTarget { throw fail(offset, "a redirection has no target") }
                    forHeader = false
                    if let phase = casePhase(), phase != .body { continue }
                    // `a &&` and `a |` go on on the next line.
                    if command.isEmpty && !list.isEmpty && listConditional { continue }
                    finishList(background: false)
                case .op(let text, let offset):
                    lastOffset = offset
                    let op = String(decoding: text, as: UTF8.self)
                    if let phase = casePhase(), phase == .pattern {
                        if op == ")" { setCasePhase(.body) }
                        continue
                    }
                    if doubleBracket { continue }
                    switch op {
                    case ";":
                        forHeader = false
                        finishList(background: false)
                    case "&":
                        finishList(background: true)
                    case "&&", "||", "|", "|&":
                        let pipe = op.hasPrefix("|") && op != "||"
                        if pipe { command.conditional = true }  // each side of a pipe runs in a subshell
                        finishCommand()
                        listConditional = true
                        if pipe { command.conditional = true }
                    case ";;", ";&", ";;&":
                        finishList(background: false)
                        guard casePhase() == .body else { throw fail(offset, "'\(op)' outside a case") }
                        setCasePhase(.pattern)
                    case "(":
                        if command.words.count == 1 && command.assignments.isEmpty {
                            // NAME ( ) BODY: a function definition; its body runs only when called.
                            guard case .op(let close, _) = try nextToken(), close == [UInt8(ascii: ")")] else {
                                throw fail(offset, "'(' after a command word")
                            }
                            command = Command()
                            continue
                        }
                        guard command.isEmpty else { throw fail(offset, "'(' in the middle of a command") }
                        frames.append(.subshell)
                    case ")":
                        finishList(background: false)
                        guard frames.last == .subshell else { throw fail(offset, "')' without its '('") }
                        frames.removeLast()
                    default:
                        // A redirection: its target is the next word.
                        redirectTarget = true
                    }
                case .word(let word):
                    lastOffset = word.start
                    if redirectTarget {
                        redirectTarget = false
                        continue
                    }
                    if word.ioNumber { continue }
                    if doubleBracket {
                        if word.plain == Array("]]".utf8) { doubleBracket = false }
                        continue
                    }
                    if forHeader {
                        // for NAME [in WORDS]: NAME is assigned on every turn.
                        if let plain = word.plain, command.isEmpty {
                            command.uncertain.append(String(decoding: plain, as: UTF8.self))
                            command.words.append(word)
                        }
                        continue
                    }
                    if let phase = casePhase(), phase != .body {
                        switch phase {
                        case .subject: setCasePhase(.keywordIn)
                        case .keywordIn:
                            guard word.plain == Array("in".utf8) else { throw fail(word.start, "'case' without 'in'") }
                            setCasePhase(.pattern)
                        case .pattern:
                            if word.plain == Array("esac".utf8) { frames.removeLast() }
                        case .body: break
                        }
                        continue
                    }
                    if command.isEmpty, word.parts.count <= 8, let plain = word.plain, let reserved = Self.reserved[String(decoding: plain, as: UTF8.self)] {
                        switch reserved {
                        case .open(let frame):
                            frames.append(frame)
                            if plain == Array("for".utf8) || plain == Array("select".utf8) { forHeader = true }
                        case .close(let frame):
                            finishList(background: false)
                            guard frames.last == frame else { throw fail(word.start, "'\(name(plain))' without its opening word") }
                            frames.removeLast()
                        case .middle:
                            finishList(background: false)
                            guard frames.contains(where: { $0 == .ifClause || $0 == .loop }) else {
                                throw fail(word.start, "'\(name(plain))' outside if or a loop")
                            }
                        case .esac:
                            finishList(background: false)
                            guard casePhase() != nil else { throw fail(word.start, "'esac' outside a case") }
                            frames.removeLast()
                        case .bang:
                            break
                        case .function:
                            // bash: function NAME [()] BODY
                            guard case .word = try nextToken() else { throw fail(word.start, "'function' without a name") }
                        case .doubleBracket:
                            doubleBracket = true
                        }
                        continue
                    }
                    if command.words.isEmpty && word.assignmentName != nil {
                        command.assignments.append(word)
                    } else {
                        command.words.append(word)
                    }
                }
            }
        }

        enum Reserved {
            case open(Frame), close(Frame), middle, esac, bang, function, doubleBracket
        }

        static let reserved: [String: Reserved] = [
            "if": .open(.ifClause), "then": .middle, "elif": .middle, "else": .middle, "fi": .close(.ifClause),
            "while": .open(.loop), "until": .open(.loop), "for": .open(.loop), "select": .open(.loop), "do": .middle, "done": .close(.loop),
            "{": .open(.brace), "}": .close(.brace), "case": .open(.caseClause(.subject)), "esac": .esac, "!": .bang, "function": .function,
            "[[": .doubleBracket,
        ]
    }
}
