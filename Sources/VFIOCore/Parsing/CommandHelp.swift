/// A command tree as swift-argument-parser describes it (`--experimental-dump-help`, ToolInfoV0):
/// names, abstracts, discussions and every argument, read with JSONParser. The manual pages are
/// made from it, so they say what the parser accepts.
public struct CommandHelp: Sendable, Equatable {
    public var name: String
    /// The words that run it: ["vfioctl", "sriov", "create"].
    public var path: [String]
    public var abstract: String
    public var discussion: String
    public var hidden: Bool
    public var defaultSubcommand: String?
    public var arguments: [Argument]
    public var subcommands: [CommandHelp]

    public struct Argument: Sendable, Equatable {
        public enum Kind: String, Sendable { case positional, option, flag }
        public var kind: Kind
        /// Spelled as typed: "--format", "-h".
        public var names: [String]
        /// The name a usage line shows (the parser's preferred one).
        public var preferredName: String?
        public var valueName: String?
        public var abstract: String
        public var discussion: String
        public var optional: Bool
        public var repeating: Bool
        public var defaultValue: String?
        /// The values it takes, when the parser knows them all.
        public var values: [String]
        public var hidden: Bool

        /// --help and --version, which every command has.
        public var isBuiltIn: Bool { kind == .flag && (names.contains("--help") || names.contains("--version")) }
    }

    /// Reads the JSON `--experimental-dump-help` prints.
    public static func parse(dump text: String) throws(VFIOError) -> CommandHelp {
        let json: JSON
        do { json = try JSONParser.parse(text) } catch { throw .failed("the command definitions are not readable JSON: \(error.message)") }
        guard case .object(let root) = json, case .object(let command)? = root["command"] else {
            throw .failed("the command definitions have no 'command' object")
        }
        return try parse(command, parent: [])
    }

    static func parse(_ object: JSONObject, parent: [String]) throws(VFIOError) -> CommandHelp {
        guard case .string(let name)? = object["commandName"] else { throw .failed("a command in the definitions has no name") }
        let path = parent + [name]
        var arguments: [Argument] = []
        if case .array(let items)? = object["arguments"] {
            for item in items {
                guard case .object(let argument) = item else { continue }
                arguments.append(try parseArgument(argument, command: path))
            }
        }
        var subcommands: [CommandHelp] = []
        if case .array(let items)? = object["subcommands"] {
            for item in items {
                guard case .object(let sub) = item else { continue }
                subcommands.append(try parse(sub, parent: path))
            }
        }
        return CommandHelp(name: name, path: path, abstract: string(object["abstract"]) ?? "",
                           discussion: string(object["discussion"]) ?? "", hidden: bool(object["shouldDisplay"]) == false,
                           defaultSubcommand: string(object["defaultSubcommand"]), arguments: arguments, subcommands: subcommands)
    }

    static func parseArgument(_ object: JSONObject, command: [String]) throws(VFIOError) -> Argument {
        guard let kindText = string(object["kind"]), let kind = Argument.Kind(rawValue: kindText) else {
            throw .failed("an argument of '\(command.joined(separator: " "))' has no known kind")
        }
        var values: [String] = []
        if case .array(let all)? = object["allValueStrings"] ?? object["allValues"] {
            values = all.compactMap { string($0) }
        } else if case .object(let completion)? = object["completionKind"], case .object(let list)? = completion["list"],
                  case .array(let all)? = list["values"] {
            values = all.compactMap { string($0) }
        }
        return Argument(kind: kind, names: names(object["names"]), preferredName: names(object["preferredName"].map { .array([$0]) }).first,
                        valueName: string(object["valueName"]), abstract: string(object["abstract"]) ?? "",
                        discussion: string(object["discussion"]) ?? "", optional: bool(object["isOptional"]) ?? false,
                        repeating: bool(object["isRepeating"]) ?? false, defaultValue: string(object["defaultValue"]),
                        values: values, hidden: bool(object["shouldDisplay"]) == false)
    }

    static func names(_ json: JSON?) -> [String] {
        guard case .array(let items)? = json else { return [] }
        return items.compactMap { item in
            guard case .object(let name) = item, let kind = string(name["kind"]), let text = string(name["name"]) else { return nil }
            switch kind {
            case "short", "longWithSingleDash": return "-" + text
            default: return "--" + text
            }
        }
    }

    static func string(_ json: JSON?) -> String? {
        if case .string(let text)? = json { return text }
        return nil
    }

    static func bool(_ json: JSON?) -> Bool? {
        if case .bool(let value)? = json { return value }
        return nil
    }

    /// The command at `path` below this one (["sriov", "create"]).
    public func command(_ path: [String]) -> CommandHelp? {
        guard let first = path.first else { return self }
        return subcommands.first { $0.name == first }?.command(Array(path.dropFirst()))
    }

    /// Every command below this one that runs something (has no subcommands), depth first.
    public var leaves: [CommandHelp] {
        subcommands.isEmpty ? [self] : subcommands.filter { !$0.hidden }.flatMap(\.leaves)
    }
}
