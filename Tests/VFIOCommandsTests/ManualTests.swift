import ArgumentParser
import Foundation
import Testing
@testable import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// The manual pages `vfioctl manual` renders from the command definitions (scripts/package
/// installs them): groff and mandoc take them without a message, every example parses, every
/// command and option has its place, the exit statuses are the ones vfioctl returns.
@Suite("manual pages")
struct ManualTests {
    static let date = "2026-01-31"

    static func pages() throws -> [ManualPage] { try Vfioctl.Manual.pages(date: date) }

    static func temporary(_ page: ManualPage) throws -> String {
        let directory = NSTemporaryDirectory() + "vfioctl-man-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/" + page.fileName
        try page.roff().write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("one page for the tool and one per command shown in help, each with its content")
    func everyCommandHasAPage() throws {
        let pages = try Self.pages().map(\.name)
        var shown: [String] = []
        for command in Vfioctl.configuration.subcommands where command.configuration.shouldDisplay {
            shown.append(command._commandName)
        }
        #expect(pages == ["vfioctl"] + shown.map { "vfioctl-" + $0 })
        #expect(Set(ManualContent.pages.keys) == Set(pages), "ManualContent has a page for each command, and no other")
        #expect(!pages.contains("vfioctl-manual") && !pages.contains("vfioctl-help"))
    }

    @Test("groff -ww and mandoc -Tlint take every page without a message")
    func lint() throws {
        for page in try Self.pages() {
            let path = try Self.temporary(page)
            defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) }
            let groff = try TestProcess.run("groff", ["-ww", "-man", "-Tutf8", "-z", path], timeout: 60)
            #expect(groff.status == 0 && groff.err.isEmpty && groff.out.isEmpty, "\(page.name): groff: \(groff.err)")
            let mandoc = try TestProcess.run("mandoc", ["-Tlint", "-W", "style", path], timeout: 60)
            #expect(mandoc.status == 0 && mandoc.out.isEmpty && mandoc.err.isEmpty, "\(page.name): mandoc: \(mandoc.out)\(mandoc.err)")
            // What `man` shows (as lintian runs it, with groff's warnings on), as plain text: the
            // sections and the name line whatis reads.
            let shown = try TestProcess.run("sh", ["-c", "man --warnings -E UTF-8 -l '\(path)' | col -bx"], environment: ["MANWIDTH": "80"], timeout: 60)
            #expect(shown.status == 0 && shown.err.isEmpty, "\(page.name): man: \(shown.err)")
            for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "EXIT STATUS", "SEE ALSO"] where page.name != "vfioctl" || section != "SEE ALSO" {
                #expect(shown.out.contains("\n" + section + "\n"), "\(page.name) has no \(section)")
            }
            #expect(shown.out.contains(page.name + " - "), "\(page.name): NAME is 'name - summary'")
        }
    }

    @Test("every option and argument of a command is on its page; hidden ones and --help are not")
    func everyOptionIsDocumented() throws {
        let tool = try CommandHelp.parse(dump: Vfioctl._dumpHelp())
        let pages = Dictionary(uniqueKeysWithValues: try Self.pages().map { ($0.name, $0.roff()) })
        for command in ManualBuilder.commands(tool) {
            let page = try #require(pages["vfioctl-" + command.name])
            for leaf in command.leaves {
                #expect(page.contains(ManualPage.escape(leaf.path.joined(separator: " "))), "\(leaf.path)")
                for argument in leaf.arguments where !argument.isBuiltIn && !argument.hidden {
                    let name = argument.kind == .positional ? argument.valueName ?? "" : argument.names.first ?? ""
                    #expect(page.contains(ManualPage.escape(name)), "\(leaf.path): \(name)")
                    #expect(page.contains(ManualPage.escape(ManualBuilder.sentence(argument.abstract)).split(separator: " ").prefix(3).joined(separator: " ")),
                            "\(leaf.path): \(name): its help")
                }
            }
        }
        #expect(!pages.values.contains { $0.contains("experimental\\-dump\\-help") || $0.contains("generate\\-completion") })
    }

    @Test("every example is a command line vfioctl's parser takes (or a systemctl line)")
    func examplesParse() {
        for (page, content) in ManualContent.pages {
            #expect(!content.examples.isEmpty, "\(page) has examples")
            for example in content.examples {
                let words = example.command.split(separator: " ").map(String.init)
                if words.first == "systemctl" { continue }
                #expect(words.first == "vfioctl", "\(page): \(example.command)")
                do {
                    _ = try Vfioctl.parseAsRoot(Array(words.dropFirst()))
                } catch {
                    Issue.record("\(page): '\(example.command)' does not parse: \(Vfioctl.fullMessage(for: error))")
                }
            }
        }
    }

    @Test("EXIT STATUS: vfioctl(8) lists 0 and exactly the statuses VFIOError maps to; no page lists another")
    func exitStatuses() {
        let kinds: [VFIOError.Kind] = [.usage, .failed, .refused, .interrupted]
        let returned = Set(["0"] + kinds.map { String(VFIOError($0, "").exitCode) })
        let tool = ManualContent.pages["vfioctl"]?.exitStatus.map(\.term) ?? []
        #expect(Set(tool) == returned && tool.count == returned.count, "\(tool)")
        for (page, content) in ManualContent.pages {
            let codes = content.exitStatus.map(\.term)
            #expect(Set(codes).isSubset(of: returned) && codes.contains("0") && codes.contains("64") && codes.contains("1"), "\(page): \(codes)")
            #expect(codes == codes.sorted { Int($0) ?? 0 < Int($1) ?? 0 }, "\(page): in order")
        }
    }

    @Test("the roff: escapes, no blank line, nothing read as a request, lines of at most 80 bytes")
    func roff() {
        #expect(ManualPage.escape("a-b \\ c·d\te") == "a\\-b \\e c\\[u00B7]d e")
        let page = ManualPage(name: "x", summary: "s", date: Self.date, source: "x 1", sections: [
            .init("Description", [.paragraph([.text(".starts with a dot " + String(repeating: "word ", count: 40))]),
                                  .paragraph([.text("'quoted")]), .literal(["", "  indented"])]),
        ])
        let text = page.roff()
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(!lines.contains { $0.isEmpty || $0.hasSuffix(" ") })
        #expect(lines.allSatisfy { $0.utf8.count <= 80 || !$0.contains(" ") || $0.hasPrefix(".") })
        #expect(text.contains("\n\\&.starts with a dot") && text.contains("\n.PP\n\\&'quoted\n") && text.contains(".nf\n\\&\n\\&  indented\n.fi\n"), "\(text)")
        #expect(text.contains(".TH \"X\" \"8\" \"2026-01-31\" \"x 1\" \"System Administration\""))
    }

    @Test("vfioctl manual: the page names; a page; an unknown page or a bad date is a usage error")
    func command() {
        let list = Vfioctl.capture(["manual"])
        #expect(list.status == 0 && list.out.hasPrefix("vfioctl\nvfioctl-list\n"), "\(list.out)")
        let page = Vfioctl.capture(["manual", "vfioctl-sriov.8", "--date", Self.date])
        #expect(page.status == 0 && page.out.contains(".SH NAME\nvfioctl\\-sriov \\- "), "\(page.err)")
        let unknown = Vfioctl.capture(["manual", "vfioctl-nope", "--date", Self.date])
        #expect(unknown.status == 64 && unknown.err.hasPrefix("error: no manual page 'vfioctl-nope'\nhint: pages are vfioctl, vfioctl-list"), "\(unknown.err)")
        for date in ["", "31.01.2026", "2026-1-31", "2026-01-3x"] {
            let bad = Vfioctl.capture(["manual", "vfioctl", "--date", date])
            #expect(bad.status == 64 && bad.err.hasPrefix("error: --date '\(date)' is not a date YYYY-MM-DD\nhint: "), "\(bad.err)")
        }
        let missing = Vfioctl.capture(["manual", "vfioctl"])
        #expect(missing.status == 64 && missing.err.hasPrefix("error: --date '' is not a date"), "\(missing.err)")
        let help = Vfioctl.capture(["--help"])
        #expect(!help.out.contains("manual"), "the manual command is hidden")
        let unknownCommand = Vfioctl.capture(["nope"])
        #expect(unknownCommand.status == 64 && !unknownCommand.err.contains("manual"), "\(unknownCommand.err)")
    }
}

/// The completion scripts the package installs: what `vfioctl --generate-completion-script`
/// prints, loaded into bash as bash-completion would.
@Suite("shell completions: commands, subcommands and option values")
struct CompletionWordTests {
    /// COMPREPLY for the words of a command line ending in `current`, from the bash script.
    static func complete(_ script: String, _ words: [String]) throws -> TestProcess.Result {
        let path = NSTemporaryDirectory() + "vfioctl-completion-\(UUID().uuidString).bash"
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let quoted = words.map { "'" + $0 + "'" }.joined(separator: " ")
        let line = words.joined(separator: " ")
        let bin = URL(fileURLWithPath: TestProcess.vfioctl).deletingLastPathComponent().path
        return try TestProcess.run("bash", ["--norc", "--noprofile", "-c", """
            set -u
            source '\(path)' || exit 90
            complete -p vfioctl >/dev/null || exit 91
            COMP_WORDS=(\(quoted)); COMP_CWORD=\(words.count - 1); COMP_LINE='\(line)'; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
            _vfioctl vfioctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
            printf '%s\\n' "${COMPREPLY[@]}"
            """], environment: ["PATH": bin + ":/usr/bin:/bin"], timeout: 60)
    }

    @Test("the bash script loads without a message and completes commands, subcommands and option values")
    func bash() throws {
        let generated = Vfioctl.capture(["--generate-completion-script", "bash"])
        #expect(generated.status == 0 && generated.out.contains("complete -o filenames -F _vfioctl_joining_colons vfioctl"))
        let commands = try Self.complete(generated.out, ["vfioctl", "sr"])
        #expect(commands.status == 0 && commands.err.isEmpty && commands.out == "sriov\n", "\(commands.out)\(commands.err)")
        let subcommands = try Self.complete(generated.out, ["vfioctl", "sriov", ""])
        #expect(subcommands.status == 0 && ["status", "create", "destroy", "set", "restore"].allSatisfy { subcommands.out.contains($0 + "\n") },
                "\(subcommands.out)\(subcommands.err)")
        let values = try Self.complete(generated.out, ["vfioctl", "list", "--format", ""])
        #expect(values.status == 0 && values.out == "text\njson\n", "\(values.out)\(values.err)")
        #expect(!generated.out.contains("manual"), "the hidden command is not offered")
    }

    @Test("zsh and fish scripts are generated for vfioctl", arguments: ["zsh", "fish"])
    func otherShells(shell: String) {
        let generated = Vfioctl.capture(["--generate-completion-script", shell])
        #expect(generated.status == 0 && generated.out.contains("vfioctl") && generated.out.contains("sriov"), "\(generated.err)")
    }
}
