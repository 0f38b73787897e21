import CYaml
import VFIOCore

/// Limits a pool file is held to before a library builds a tree of it: the readers (Yams'
/// composer and its hashing of mapping keys, toml++, and PoolFile's own conversion) recurse once
/// per level and follow every alias, so a small hostile file could exhaust the stack or expand
/// exponentially ("billion laughs"). Both checks are one pass over the text, without recursion.
extension PoolFile {
    /// How deep values may nest. A pool file nests 4 levels (pf → [ ] → vf → [ ]).
    public static let maxDepth = 64
    /// How many values YAML aliases may add in all (each alias adds its anchor's whole value).
    public static let maxAliasedValues = 100_000

    static let depthHint = "a pool file nests a few levels (pf, its vf list): see docs/pools.md"

    static func tooDeep(_ name: String, line: Int) -> VFIOError {
        .usage("\(name):\(line): values nested deeper than \(maxDepth) levels", hint: depthHint)
    }

    // MARK: YAML

    /// Walks libyaml's events (no tree, no alias followed): the expanded size and height of each
    /// anchored value are known when it ends, so an alias costs a lookup. A syntax error stops
    /// the walk quietly: composing reports it, with Yams' words, on the same event.
    static func checkYAML(_ text: String, name: String) throws(VFIOError) {
        guard !text.isEmpty else { return }
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            throw .failed("\(name): cannot start the YAML reader (out of memory)")
        }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        let error: VFIOError? = bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return nil }
            yaml_parser_set_input_string(&parser, base, buffer.count)
            return walkYAML(&parser, name: name)
        }
        if let error { throw error }
    }

    private static func walkYAML(_ parser: inout yaml_parser_t, name: String) -> VFIOError? {
        /// A collection being read: its anchor, its values so far (itself included, aliases
        /// expanded) and the height of its highest value.
        struct Open {
            var anchor: String?
            var size = 1
            var height = 0
        }
        var open: [Open] = []
        var anchors: [String: (size: Int, height: Int)] = [:]
        var aliased = 0
        func anchor(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? { pointer.map { String(cString: $0) } }
        func ended(size: Int, height: Int, anchor: String?) {
            if let anchor { anchors[anchor] = (size, height) }
            guard !open.isEmpty else { return }
            open[open.count - 1].size += size
            open[open.count - 1].height = max(open[open.count - 1].height, height)
        }
        while true {
            var event = yaml_event_t()
            guard yaml_parser_parse(&parser, &event) == 1 else { return nil }
            defer { yaml_event_delete(&event) }
            let line = Int(event.start_mark.line) + 1
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return nil
            case YAML_SCALAR_EVENT:
                guard open.count < maxDepth else { return tooDeep(name, line: line) }
                ended(size: 1, height: 1, anchor: anchor(event.data.scalar.anchor))
            case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                guard open.count < maxDepth else { return tooDeep(name, line: line) }
                let label = event.type == YAML_SEQUENCE_START_EVENT ? event.data.sequence_start.anchor : event.data.mapping_start.anchor
                open.append(Open(anchor: anchor(label)))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let done = open.popLast() else { return nil }
                ended(size: done.size, height: done.height + 1, anchor: done.anchor)
            case YAML_ALIAS_EVENT:
                // An undefined one is Yams' to report.
                guard let label = anchor(event.data.alias.anchor), let target = anchors[label] else {
                    ended(size: 1, height: 1, anchor: nil)
                    continue
                }
                aliased += target.size
                guard aliased <= maxAliasedValues else {
                    return .usage("\(name):\(line): aliases (*\(label.printable) and the others) expand to more than \(maxAliasedValues) values",
                                  hint: "a pool file needs few aliases: write the values out, or anchor only small maps of defaults")
                }
                guard open.count + target.height <= maxDepth else { return tooDeep(name, line: line) }
                ended(size: target.size, height: target.height, anchor: nil)
            default:
                continue
            }
        }
    }

    // MARK: TOML

    /// toml++ limits nested arrays and inline tables itself, but not dotted keys and table
    /// headers ([a.a.a...] recurses in it). This pass counts the levels a key, a header and the
    /// brackets of a value open, skipping strings and comments; it need not judge the syntax
    /// (toml++ does), only never count fewer levels than there are.
    static func checkTOML(_ text: String, name: String) throws(VFIOError) {
        let bytes = Array(text.utf8)
        let quote = UInt8(ascii: "\""), apostrophe = UInt8(ascii: "'"), newline = UInt8(ascii: "\n")
        var index = 0
        var line = 1
        var header = 0
        var depth = 0
        /// Brackets open in the current value: the byte and the depth inside it.
        var open: [(byte: UInt8, depth: Int)] = []
        var expectKey = true

        /// Past the string starting at `index` (basic or literal, one line or multi-line).
        func skipString() {
            let delimiter = bytes[index]
            let triple = index + 2 < bytes.count && bytes[index + 1] == delimiter && bytes[index + 2] == delimiter
            index += triple ? 3 : 1
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\\") && delimiter == quote {
                    if index + 1 < bytes.count && bytes[index + 1] == newline { line += 1 }
                    index += 2
                    continue
                }
                if byte == newline {
                    if !triple { return }
                    line += 1
                }
                if byte == delimiter {
                    if !triple { index += 1; return }
                    if index + 2 < bytes.count && bytes[index + 1] == delimiter && bytes[index + 2] == delimiter {
                        index += 3
                        return
                    }
                }
                index += 1
            }
        }

        /// The segments of the key (or header) starting at `index`, up to `end` outside quotes;
        /// stops at a line end. `index` ends on `end` (or the line end).
        func keySegments(until end: UInt8) -> Int {
            var segments = 1
            while index < bytes.count {
                let byte = bytes[index]
                if byte == end || byte == newline || byte == UInt8(ascii: "#") { break }
                if byte == quote || byte == apostrophe {
                    skipString()
                    continue
                }
                if byte == UInt8(ascii: ".") { segments += 1 }
                index += 1
            }
            return segments
        }

        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case newline:
                line += 1
                index += 1
                if open.isEmpty {
                    expectKey = true
                    depth = header
                }
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                index += 1
            case UInt8(ascii: "#"):
                while index < bytes.count && bytes[index] != newline { index += 1 }
            case quote where !expectKey, apostrophe where !expectKey:
                skipString()
            case UInt8(ascii: "[") where expectKey && open.isEmpty:
                // A table header, [a.b] or [[a.b]] (an array of tables is one level more).
                index += 1
                let array = index < bytes.count && bytes[index] == UInt8(ascii: "[")
                if array { index += 1 }
                header = keySegments(until: UInt8(ascii: "]")) + (array ? 1 : 0)
                depth = header
                guard header <= maxDepth else { throw tooDeep(name, line: line) }
                while index < bytes.count && bytes[index] == UInt8(ascii: "]") { index += 1 }
                expectKey = false
            case UInt8(ascii: "}") where expectKey:
                expectKey = false // {} or a trailing comma: closes below
            case _ where expectKey:
                let base = open.last?.depth ?? header
                depth = base + keySegments(until: UInt8(ascii: "="))
                guard depth <= maxDepth else { throw tooDeep(name, line: line) }
                if index < bytes.count && bytes[index] == UInt8(ascii: "=") { index += 1 }
                expectKey = false
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                guard depth <= maxDepth else { throw tooDeep(name, line: line) }
                open.append((byte, depth))
                expectKey = byte == UInt8(ascii: "{")
                index += 1
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                if let closed = open.popLast() { depth = closed.depth - 1 }
                index += 1
            case UInt8(ascii: ","):
                expectKey = open.last?.byte == UInt8(ascii: "{")
                index += 1
            default:
                index += 1
            }
        }
    }
}
