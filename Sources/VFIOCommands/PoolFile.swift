import TOMLKit
import VFIOCore
import VFIODeviceLayer
import Yams

/// Reads a pool file (docs/pools.md), TOML or YAML by its extension, into the neutral tree
/// `PoolSpec.build` checks. Syntax errors keep the library's line and column.
public enum PoolFile {
    public enum Format: String, Sendable, CaseIterable {
        case toml
        case yaml

        /// .toml; .yaml or .yml (any case). nil for anything else.
        public init?(path: String) {
            let name = path.split(separator: "/").last.map(String.init) ?? path
            guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return nil }
            switch name[name.index(after: dot)...].lowercased() {
            case "toml": self = .toml
            case "yaml", "yml": self = .yaml
            default: return nil
            }
        }
    }

    public static func load(_ path: String) throws(VFIOError) -> PoolSpec {
        guard let format = Format(path: path) else {
            let name = path.split(separator: "/").last.map(String.init) ?? path
            let ext = name.lastIndex(of: ".").map { "'" + String(name[$0...]).printable + "'" } ?? "no extension"
            throw .usage("'\(path.printable)' has \(ext): a pool file is TOML (.toml) or YAML (.yaml, .yml)",
                         hint: "name it after its format, e.g. /etc/vfioctl/pools.toml")
        }
        let text = try InputFile.read(path, what: "pool file (\(format == .toml ? ".toml" : ".yaml"))")
        return try parse(text, name: path, format: format)
    }

    /// `name` is what messages call the file.
    public static func parse(_ text: String, name: String, format: Format) throws(VFIOError) -> PoolSpec {
        let tree = switch format {
        case .toml: try tomlTree(text, name: name)
        case .yaml: try yamlTree(text, name: name)
        }
        return try PoolSpec.build(tree, file: name)
    }

    // MARK: TOML

    /// TOMLKit (toml++) keeps a table's keys sorted and no line numbers past a syntax error, so
    /// messages about TOML values name the key path alone.
    static func tomlTree(_ text: String, name: String) throws(VFIOError) -> PoolValue {
        // toml++ reads a C string: a NUL would end the document early without a word.
        if let line = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex(where: { $0.contains("\0") }) {
            throw .usage("\(name):\(line + 1): a NUL character in the file", hint: "a pool file is plain text")
        }
        try checkTOML(text, name: name)
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw .usage("\(name):\(error.source.begin.line):\(error.source.begin.column): \(error.description)",
                         hint: "fix the TOML syntax there (toml.io has the rules)")
        } catch {
            throw .usage("\(name): not TOML: \(error)", hint: "fix the TOML syntax (toml.io has the rules)")
        }
        return try tomlValue(table, path: "", name: name)
    }

    static func tomlValue(_ value: any TOMLValueConvertible, path: String, name: String) throws(VFIOError) -> PoolValue {
        switch value.type {
        case .table:
            guard let table = value.table else { break }
            var entries: [PoolValue.Entry] = []
            for key in table.keys {
                guard let child = table[key] else { continue }
                entries.append(PoolValue.Entry(key, try tomlValue(child, path: path.isEmpty ? key : path + "." + key, name: name)))
            }
            return .table(entries)
        case .array:
            guard let array = value.array else { break }
            var values: [PoolValue] = []
            for (index, element) in array.enumerated() {
                values.append(try tomlValue(element, path: "\(path)[\(index)]", name: name))
            }
            return .array(values)
        case .string: if let string = value.string { return .string(string) }
        case .int: if let int = value.int { return .integer(int) }
        case .bool: if let bool = value.bool { return .bool(bool) }
        case .double: if let double = value.double { return .float(double) }
        case .date, .time, .dateTime:
            throw .usage("\(name): \(path): \(value.debugDescription) is a TOML \(value.type), which no pool key takes",
                         hint: "quote it if it is meant as text")
        }
        throw .usage("\(name): \(path): unreadable TOML \(value.type)", hint: "write it as a plain string, number or boolean")
    }

    // MARK: YAML

    static func yamlTree(_ text: String, name: String) throws(VFIOError) -> PoolValue {
        try checkYAML(text, name: name)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw yamlSyntax(error, name: name)
        } catch {
            throw .usage("\(name): not YAML: \(error)", hint: "fix the YAML syntax")
        }
        // An empty document is an empty pool (refused by the builder, as an empty TOML file is).
        guard let root else { return .table([]) }
        return try yamlValue(root, path: "", name: name, keyLine: nil)
    }

    static func yamlSyntax(_ error: YamlError, name: String) -> VFIOError {
        let hint = "fix the YAML syntax there (indentation, ':' after keys, '- ' before list items)"
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            // libyaml's own limit (1000 levels) can fire before the walk reaches ours.
            if problem.hasPrefix("Maximum nesting level reached") { return tooDeep(name, line: mark.line) }
            let around = context.map { " (\($0.text) at line \($0.mark.line))" } ?? ""
            return .usage("\(name):\(mark.line):\(mark.column): \(problem)\(around)", hint: hint)
        case .duplicatedKeysInMapping(let duplicates, let context):
            return .usage("\(name):\(context.mark.line): key given twice: " + duplicates.map { "'\($0.printable)'" }.joined(separator: ", "),
                          hint: "keep one of them")
        case .reader(let problem, _, _, _):
            return .usage("\(name): not readable as YAML: \(problem)", hint: "a pool file is UTF-8 text")
        default:
            return .usage("\(name): not YAML: \(error)", hint: hint)
        }
    }

    /// `keyLine` is the line of the key holding `node` (where a message about its value points).
    static func yamlValue(_ node: Node, path: String, name: String, keyLine: Int?) throws(VFIOError) -> PoolValue {
        let at = (keyLine ?? node.mark?.line).map { ":\($0)" } ?? ""
        switch node {
        case .mapping(let mapping):
            var entries: [PoolValue.Entry] = []
            var merged: [PoolValue.Entry] = []
            for (keyNode, valueNode) in mapping {
                guard case .scalar(let key) = keyNode else {
                    throw .usage("\(name)\(line(keyNode)): \(path.isEmpty ? "" : path + ": ")a key is a list or a map",
                                 hint: "keys are plain words such as device or vfs")
                }
                // '<<: *defaults' merges an anchored map's keys (YAML 1.1 merge key); the map's own win.
                if Resolver.default.resolveTag(of: keyNode) == .merge {
                    let sources: [Node] = if case .sequence(let sequence) = valueNode { Array(sequence) } else { [valueNode] }
                    for source in sources {
                        guard case .table(let more) = try yamlValue(source, path: path, name: name, keyLine: keyNode.mark?.line) else {
                            throw .usage("\(name)\(line(valueNode)): \(path.isEmpty ? "" : path + ": ")'<<' merges maps only",
                                         hint: "write <<: *anchor, where the anchor is a map")
                        }
                        merged += more
                    }
                    continue
                }
                let child = path.isEmpty ? key.string : path + "." + key.string
                entries.append(PoolValue.Entry(key.string, try yamlValue(valueNode, path: child, name: name, keyLine: keyNode.mark?.line),
                                               line: keyNode.mark?.line))
            }
            for entry in merged where !entries.contains(where: { $0.key == entry.key }) { entries.append(entry) }
            return .table(entries)
        case .sequence(let sequence):
            var values: [PoolValue] = []
            for (index, element) in sequence.enumerated() {
                values.append(try yamlValue(element, path: "\(path)[\(index)]", name: name, keyLine: element.mark?.line ?? keyLine))
            }
            return .array(values)
        case .scalar(let scalar):
            // Plain scalars take YAML 1.1 types; quoted ones are strings. A MAC or PCI address
            // written without quotes (52:54:00:12:34:56, 0000:03:00.0) matches YAML 1.1's base-60
            // numbers: with a ':' in it, it is kept as written.
            let text = scalar.string
            switch Resolver.default.resolveTag(of: node) {
            case .null:
                throw .usage("\(name)\(at): \(path): has no value", hint: "give it a value, or leave the key out")
            case .bool:
                if let bool = node.bool { return .bool(bool) }
            case .int:
                if text.contains(":") { return .string(text) }
                if let int = node.int { return .integer(int) }
                throw .usage("\(name)\(at): \(path): \(text.printable) is out of range", hint: "give a smaller number")
            case .float:
                if text.contains(":") { return .string(text) }
                if let float = node.float { return .float(float) }
            default:
                break
            }
            return .string(text)
        case .alias:
            // compose() resolves aliases to the anchored node; one left over is an undefined anchor.
            throw .usage("\(name)\(at): \(path): an alias to nothing", hint: "define the anchor (&name) before using it (*name)")
        }
    }

    static func line(_ node: Node) -> String { node.mark.map { ":\($0.line)" } ?? "" }
}
