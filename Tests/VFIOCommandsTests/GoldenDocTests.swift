import Foundation
import Testing

/// docs/json.md as data: the shape of each command's document, in the doc's own notation
/// (`{"key": value, "key"}`, `[element]`, `a|b`, `X or null`, names of shapes defined in it).
enum JSONContractDoc {
    /// A term of the notation. Strings and numbers are literals; a name is a shape defined in
    /// the doc (`F`, `G`, `finding`...) or a plain word for a value (`N`, `address`, `name`).
    indirect enum Term {
        case object([(key: String, value: Term?)])
        case array(Term?)
        case name(String)
        case literal
        case choice([Term])
    }

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    /// The doc: each command's shape (its table row), and the named shapes.
    struct Contract {
        var commands: [String: Term] = [:]
        var shapes: [String: Term] = [:]

        /// Every key path of a command's document, named shapes expanded.
        func keyPaths(_ command: String) -> Set<String> {
            guard let term = commands[command] else { return [] }
            var paths: Set<String> = []
            collect(term, prefix: "", into: &paths, expanding: [])
            return paths
        }

        private func collect(_ term: Term, prefix: String, into paths: inout Set<String>, expanding: Set<String>) {
            switch term {
            case .object(let members):
                for member in members {
                    let path = prefix.isEmpty ? member.key : prefix + "." + member.key
                    paths.insert(path)
                    if let value = member.value { collect(value, prefix: path, into: &paths, expanding: expanding) }
                }
            case .array(let element):
                if let element { collect(element, prefix: prefix + "[]", into: &paths, expanding: expanding) }
            case .choice(let terms):
                for term in terms { collect(term, prefix: prefix, into: &paths, expanding: expanding) }
            case .name(let name):
                if let shape = shapes[name], !expanding.contains(name) {
                    collect(shape, prefix: prefix, into: &paths, expanding: expanding.union([name]))
                }
            case .literal:
                break
            }
        }
    }

    static let path = Golden.repository + "/docs/json.md"

    /// Reads the doc's structure:
    /// - the table under `## Documents`: column 1 names the commands (`sriov create`; words
    ///   after the name are arguments), column 2's first code span is the document, or the name
    ///   of a command whose document it shares;
    /// - a table under a heading `## X, ...` defines shape X: each row's code spans in column 1
    ///   are keys, column 2's first code span starting with `{` their object;
    /// - a list item `` - `X` ...: `{...}` `` defines shape X as its first code span that starts with `{`.
    static func parse(_ text: String) throws -> Contract {
        var contract = Contract()
        var shared: [String: String] = [:]
        var section = ""
        var lines = text.components(separatedBy: "\n")[...]
        while let line = lines.popFirst() {
            if line.hasPrefix("## ") {
                section = String(line.dropFirst(3))
                continue
            }
            if line.hasPrefix("|") {
                let cells = tableCells(line)
                guard cells.count >= 2, !cells[0].hasPrefix("---"), cells[0] != "command", cells[0] != "key" else { continue }
                let keys = codeSpans(cells[0])
                let spans = codeSpans(cells[1])
                if section == "Documents" {
                    let names = keys.map { $0.split(separator: " ").prefix { $0.allSatisfy { $0.isLowercase || $0 == "-" } }.joined(separator: " ") }
                    guard let first = spans.first else { throw ParseError(description: "no document for \(names)") }
                    for name in names {
                        if first.hasPrefix("{") { contract.commands[name] = try term(first) } else { shared[name] = first }
                    }
                } else if let shape = section.split(separator: ",").first.map(String.init), !shape.contains(" ") {
                    let value = try spans.first { $0.hasPrefix("{") }.map(term)
                    var members: [(key: String, value: Term?)] = []
                    if case .object(let existing)? = contract.shapes[shape] { members = existing }
                    for key in keys { members.append((key, value)) }
                    contract.shapes[shape] = .object(members)
                }
                continue
            }
            if line.hasPrefix("- `") {
                // A list item and its indented continuation lines.
                var item = line
                while let next = lines.first, next.hasPrefix("  ") {
                    item += " " + next.trimmingCharacters(in: .whitespaces)
                    lines = lines.dropFirst()
                }
                let spans = codeSpans(String(item.dropFirst(2)))
                if let name = spans.first, name.allSatisfy({ $0.isLetter || $0 == "_" }),
                   let shape = spans.dropFirst().first(where: { $0.hasPrefix("{") }) {
                    contract.shapes[name] = try term(shape)
                }
            }
        }
        for (name, other) in shared {
            guard let document = contract.commands[other] else {
                throw ParseError(description: "`\(name)` shares the document of `\(other)`, which the table does not define")
            }
            contract.commands[name] = document
        }
        return contract
    }

    /// A table row's cells, `\|` kept inside a cell (as `|`).
    static func tableCells(_ line: String) -> [String] {
        var cells: [String] = []
        var cell = ""
        var escaped = false
        for character in line.dropFirst() {
            if escaped { cell.append(character == "|" ? "|" : "\\" + String(character)); escaped = false; continue }
            if character == "\\" { escaped = true; continue }
            if character == "|" { cells.append(cell.trimmingCharacters(in: .whitespaces)); cell = ""; continue }
            cell.append(character)
        }
        return cells
    }

    static func codeSpans(_ text: String) -> [String] {
        text.components(separatedBy: "`").enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
    }

    /// Parses one term of the notation.
    static func term(_ text: String) throws -> Term {
        var parser = Parser(tokens: tokenize(text), source: text)
        let term = try parser.value()
        // What follows the shape in the span (`X or null`) is part of it; anything else is prose.
        return term
    }

    static func tokenize(_ text: String) -> [String] {
        var tokens: [String] = []
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if character.isWhitespace { index = text.index(after: index); continue }
            if "{}[]:,|".contains(character) {
                tokens.append(String(character))
                index = text.index(after: index)
            } else if character == "\"" {
                let start = text.index(after: index)
                let end = text[start...].firstIndex(of: "\"") ?? text.endIndex
                tokens.append("\"" + text[start..<end])
                index = end < text.endIndex ? text.index(after: end) : end
            } else {
                let end = text[index...].firstIndex { $0.isWhitespace || "{}[]:,|\"".contains($0) } ?? text.endIndex
                tokens.append(String(text[index..<end]))
                index = end
            }
        }
        return tokens
    }

    struct Parser {
        var tokens: [String]
        var position = 0
        let source: String

        var next: String? { position < tokens.count ? tokens[position] : nil }

        mutating func take(_ token: String) throws {
            guard next == token else { throw ParseError(description: "expected \(token) at token \(position) of `\(source)`") }
            position += 1
        }

        mutating func value() throws -> Term {
            var terms = [try single()]
            while next == "|" || next == "or" {
                position += 1
                terms.append(try single())
            }
            return terms.count == 1 ? terms[0] : .choice(terms)
        }

        mutating func single() throws -> Term {
            guard let token = next else { throw ParseError(description: "`\(source)` ends early") }
            switch token {
            case "{":
                position += 1
                var members: [(key: String, value: Term?)] = []
                while next != "}" {
                    guard let key = next, key.hasPrefix("\"") else { throw ParseError(description: "expected a key at token \(position) of `\(source)`") }
                    position += 1
                    var value: Term?
                    if next == ":" {
                        position += 1
                        value = try self.value()
                    }
                    members.append((String(key.dropFirst()), value))
                    if next == "," { position += 1 } else if next != "}" {
                        throw ParseError(description: "expected , or } at token \(position) of `\(source)`")
                    }
                }
                try take("}")
                return .object(members)
            case "[":
                position += 1
                let element: Term? = next == "]" ? nil : try value()
                try take("]")
                return .array(element)
            default:
                position += 1
                return token.hasPrefix("\"") || token.first?.isNumber == true ? .literal : .name(token)
            }
        }
    }
}

@Suite("docs/json.md against the golden documents")
struct GoldenDocTests {
    /// Key paths of every golden document of each command (docs/json.md's names).
    static func goldenPaths() throws -> [String: Set<String>] {
        var paths: [String: Set<String>] = [:]
        for golden in GoldenTests.cases {
            let text = try String(contentsOfFile: Golden.path(golden.name), encoding: .utf8)
            let document = try JSONSerialization.jsonObject(with: Data(text.utf8))
            paths[golden.command, default: []].formUnion(Golden.keyPaths(document))
        }
        return paths
    }

    @Test("every key of a command's golden documents is documented for it, and every documented key appears in one")
    func documented() throws {
        let contract = try JSONContractDoc.parse(String(contentsOfFile: JSONContractDoc.path, encoding: .utf8))
        let goldens = try Self.goldenPaths()
        #expect(Set(contract.commands.keys) == Set(goldens.keys),
                "commands in docs/json.md's table and commands with golden documents differ")
        #expect(goldens.count >= 20)
        for (command, actual) in goldens.sorted(by: { $0.key < $1.key }) {
            let documented = contract.keyPaths(command)
            let undocumented = actual.subtracting(documented).sorted()
            let absent = documented.subtracting(actual).sorted()
            #expect(undocumented.isEmpty, "\(command): in its golden documents but not in docs/json.md: \(undocumented)")
            #expect(absent.isEmpty, "\(command): in docs/json.md but in none of its golden documents: \(absent)")
        }
    }

    @Test("the notation parser: objects, lists, choices, named shapes")
    func notation() throws {
        let text = """
            ## Documents

            | command | document |
            | --- | --- |
            | `list` | `{"functions": [F], "kind": "a"\\|"b" or null, "schema_version": 1}` |
            | `tree ARG` | the `list` document |

            ## F, a function

            | key | value |
            | --- | --- |
            | `address`, `name` | text |
            | `sriov` | `{"vfs": [address], "pf": P}` or null |

            - `P` (a PF): `{"id",
              "up"}`
            """
        let contract = try JSONContractDoc.parse(text)
        let expected: Set<String> = ["functions", "functions[].address", "functions[].name", "functions[].sriov", "functions[].sriov.vfs",
                                     "functions[].sriov.pf", "functions[].sriov.pf.id", "functions[].sriov.pf.up", "kind", "schema_version"]
        #expect(contract.keyPaths("list") == expected)
        #expect(contract.keyPaths("tree") == expected)
        #expect(throws: JSONContractDoc.ParseError.self) { try JSONContractDoc.term("{\"a\": [F}") }
    }
}
