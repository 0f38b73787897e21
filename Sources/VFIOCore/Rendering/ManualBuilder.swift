/// vfioctl(8) and one page per command (vfioctl-list(8), vfioctl-sriov(8), ...) from the command
/// definitions (`CommandHelp`: what the parser accepts, its abstracts and discussions) and what
/// the definitions do not hold (`ManualContent`: files, exit statuses, examples, related pages).
public enum ManualBuilder {
    /// What a page says beyond the command definitions.
    public struct Content: Sendable, Equatable {
        public struct Entry: Sendable, Equatable {
            public var term: String
            public var text: String
            public init(_ term: String, _ text: String) {
                self.term = term
                self.text = text
            }
        }

        public struct Example: Sendable, Equatable {
            public var text: String
            /// One command line, as typed (`vfioctl ...`); the tests parse every one.
            public var command: String
            public init(_ text: String, _ command: String) {
                self.text = text
                self.command = command
            }
        }

        public var environment: [Entry]
        public var files: [Entry]
        public var exitStatus: [Entry]
        public var examples: [Example]
        /// Other pages: "virsh(1)"; vfioctl(8) comes first on every command's page by itself.
        public var seeAlso: [String]

        public init(environment: [Entry] = [], files: [Entry] = [], exitStatus: [Entry], examples: [Example], seeAlso: [String] = []) {
            self.environment = environment
            self.files = files
            self.exitStatus = exitStatus
            self.examples = examples
            self.seeAlso = seeAlso
        }
    }

    public typealias Block = ManualPage.Block
    public typealias Span = ManualPage.Span

    /// The commands that get a page of their own: every one shown in help but `help`.
    public static func commands(_ tool: CommandHelp) -> [CommandHelp] {
        tool.subcommands.filter { !$0.hidden && $0.name != "help" }
    }

    /// Every page: the tool's first, then one per command. `content` is keyed by page name.
    public static func pages(_ tool: CommandHelp, content: [String: Content], version: String, date: String) -> [ManualPage] {
        let source = tool.name + " " + version
        var pages = [toolPage(tool, content[tool.name], source: source, date: date)]
        for command in commands(tool) {
            let name = tool.name + "-" + command.name
            pages.append(commandPage(command, name: name, content[name], tool: tool.name, source: source, date: date))
        }
        return pages
    }

    static func toolPage(_ tool: CommandHelp, _ content: Content?, source: String, date: String) -> ManualPage {
        let commands = commands(tool)
        var sections: [ManualPage.Section] = []
        sections.append(.init("Synopsis", [
            .paragraph([.bold(tool.name), .text(" "), .italic("command"), .text(" [" ), .italic("argument"), .text("...] ["), .italic("option"), .text("...]")]),
            .paragraph([.bold(tool.name), .text(" ["), .italic("command"), .text("] "), .bold("--help")]),
            .paragraph([.bold(tool.name), .text(" "), .bold("--version")]),
        ]))
        var description = blocks(tool.discussion)
        if description.isEmpty { description = [.paragraph([.text(tool.abstract)])] }
        sections.append(.init("Description", description))
        sections.append(.init("Commands", commands.map { command in
            .item([.bold(command.name)], [.paragraph([.text(sentence(command.abstract) + " See "), .bold(tool.name + "-" + command.name),
                                                      .text("(8).")])])
        }))
        // Options every command takes (--root), then the tool's own (--help, --version).
        let leaves = commands.flatMap(\.leaves)
        let common = (leaves.first?.arguments ?? []).filter { argument in
            !argument.isBuiltIn && !argument.hidden && argument.kind != .positional
                && leaves.allSatisfy { $0.arguments.contains { $0.names == argument.names } }
        }
        let builtIn = tool.arguments.filter { $0.isBuiltIn && !$0.hidden }
        sections.append(.init("Options", (common + builtIn).map(option)))
        sections += supplement(content, tool: nil)
        return ManualPage(name: tool.name, summary: summary(tool.abstract), date: date, source: source, sections: sections)
    }

    static func commandPage(_ command: CommandHelp, name: String, _ content: Content?, tool: String, source: String, date: String) -> ManualPage {
        var sections: [ManualPage.Section] = []
        let leaves = command.leaves
        sections.append(.init("Synopsis", leaves.map { .paragraph(usage($0)) }))
        var description = blocks(command.discussion)
        if description.isEmpty { description = [.paragraph([.text(command.abstract)])] }
        if let name = command.defaultSubcommand {
            let words = command.path.joined(separator: " ")
            description.append(.paragraph([.bold(words), .text(" without a subcommand is "), .bold(words + " " + name), .text(".")]))
        }
        sections.append(.init("Description", description))
        if command.subcommands.isEmpty {
            sections.append(.init("Options", options(command)))
        } else {
            var blocks: [Block] = []
            for sub in leaves {
                blocks.append(.subsection(sub.path.joined(separator: " ")))
                blocks.append(.paragraph([.text(sub.abstract)]))
                blocks += self.blocks(sub.discussion)
                blocks += options(sub)
            }
            sections.append(.init("Commands", blocks))
        }
        sections += supplement(content, tool: tool)
        return ManualPage(name: name, summary: summary(command.abstract), date: date, source: source, sections: sections)
    }

    static func supplement(_ content: Content?, tool: String?) -> [ManualPage.Section] {
        var sections: [ManualPage.Section] = []
        guard let content else { return [] }
        if !content.environment.isEmpty {
            sections.append(.init("Environment", content.environment.map { .item([.bold($0.term)], [.paragraph([.text($0.text)])]) }))
        }
        if !content.files.isEmpty {
            sections.append(.init("Files", content.files.map { .item([.italic($0.term)], [.paragraph([.text($0.text)])]) }))
        }
        sections.append(.init("Exit status", content.exitStatus.map { .item([.bold($0.term)], [.paragraph([.text($0.text)])]) }))
        if !content.examples.isEmpty {
            sections.append(.init("Examples", content.examples.flatMap { example -> [Block] in
                (example.text.isEmpty ? [] : [.paragraph([.text(example.text)])]) + [.literal([example.command])]
            }))
        }
        let related = (tool.map { ["\($0)(8)"] } ?? []) + content.seeAlso
        if !related.isEmpty {
            var spans: [Span] = []
            for (index, page) in related.enumerated() {
                if index > 0 { spans.append(.text(", ")) }
                if let open = page.firstIndex(of: "(") {
                    spans += [.bold(String(page[..<open])), .text(String(page[open...]))]
                } else {
                    spans.append(.bold(page))
                }
            }
            sections.append(.init("See also", [.paragraph(spans)]))
        }
        return sections
    }

    /// `vfioctl sriov set PF --vf I [--mac MAC|auto] ...`: every argument but --help and --version.
    public static func usage(_ command: CommandHelp) -> [Span] {
        var spans: [Span] = [.bold(command.path.joined(separator: " "))]
        for argument in command.arguments where !argument.isBuiltIn && !argument.hidden {
            var piece: [Span]
            switch argument.kind {
            case .positional:
                piece = [.italic(argument.valueName ?? "value")]
            case .option:
                piece = [.bold(argument.preferredName ?? argument.names.first ?? ""), .text(" "), .italic(argument.valueName ?? "value")]
            case .flag:
                piece = [.bold(argument.preferredName ?? argument.names.first ?? "")]
            }
            if argument.repeating { piece.append(.text("...")) }
            spans.append(.text(" "))
            if argument.optional {
                spans.append(.text("["))
                spans += piece
                spans.append(.text("]"))
            } else {
                spans += piece
            }
        }
        return spans
    }

    static func options(_ command: CommandHelp) -> [Block] {
        command.arguments.filter { !$0.isBuiltIn && !$0.hidden }.map(option)
    }

    static func option(_ argument: CommandHelp.Argument) -> Block {
        var tag: [Span] = []
        switch argument.kind {
        case .positional:
            tag = [.italic(argument.valueName ?? "value")]
        case .option, .flag:
            for (index, name) in argument.names.enumerated() {
                if index > 0 { tag.append(.text(", ")) }
                tag.append(.bold(name))
            }
            if argument.kind == .option { tag += [.text(" "), .italic(argument.valueName ?? "value")] }
        }
        var text = sentence(argument.abstract)
        if !argument.discussion.isEmpty { text += " " + sentence(argument.discussion) }
        if !argument.values.isEmpty && !argument.isBuiltIn {
            text += " One of: " + argument.values.joined(separator: ", ") + "."
        }
        if let value = argument.defaultValue, !value.isEmpty { text += " Default: " + value + "." }
        return .item(tag, [.paragraph([.text(text.trimmingWhitespace())])])
    }

    /// A discussion as paragraphs: blank lines part them; lines within one are joined; an
    /// indented "  TERM: text" line is a tagged item.
    public static func blocks(_ discussion: String) -> [Block] {
        var blocks: [Block] = []
        for paragraph in discussion.split(separator: "\n\n", omittingEmptySubsequences: true) {
            var words: [Substring] = []
            func flush() {
                if !words.isEmpty { blocks.append(.paragraph([.text(words.joined(separator: " "))])) }
                words = []
            }
            for line in paragraph.split(separator: "\n", omittingEmptySubsequences: true) {
                if line.hasPrefix("  ") {
                    flush()
                    let item = line.drop { $0 == " " }
                    if let colon = item.firstRange(of: ": "), !item[..<colon.lowerBound].contains(" ") {
                        blocks.append(.item([.bold(String(item[..<colon.lowerBound]))], [.paragraph([.text(String(item[colon.upperBound...]))])]))
                    } else {
                        blocks.append(.item([], [.paragraph([.text(String(item))])]))
                    }
                } else {
                    words.append(line.drop { $0 == " " })
                }
            }
            flush()
        }
        return blocks
    }

    /// NAME's summary: the abstract without its final period.
    static func summary(_ abstract: String) -> String {
        abstract.hasSuffix(".") ? String(abstract.dropLast()) : abstract
    }

    /// Text ending with a period, so sentences can follow it.
    public static func sentence(_ text: String) -> String {
        let text = text.trimmingWhitespace()
        guard let last = text.last else { return text }
        return ".!?".contains(last) ? text : text + "."
    }
}
