/// A small, strict XML reader and writer for the documents vfioctl handles (libvirt domain,
/// network and CPU XML): elements, attributes, text, CDATA, comments, processing instructions
/// and a skipped DOCTYPE; the five predefined entities and character references. Errors carry
/// the line. No DTD processing, so no external entities. Elements nest at most
/// `XMLParser.maxDepth` levels, which bounds every recursive walk over a parsed tree (rendering,
/// equality, the readers of domain and CPU definitions).
public struct XMLElement: Sendable, Equatable {
    public var name: String
    public var attributes: [(name: String, value: String)]
    public var children: [XMLNode]
    /// 1-based line of the start tag (0 for elements built in code).
    public var line: Int

    public init(_ name: String, _ attributes: [(String, String)] = [], children: [XMLNode] = [], line: Int = 0) {
        self.name = name
        self.attributes = attributes.map { (name: $0.0, value: $0.1) }
        self.children = children
        self.line = line
    }

    public func attribute(_ name: String) -> String? { attributes.first { $0.name == name }?.value }

    public var elements: [XMLElement] {
        children.compactMap { if case .element(let element) = $0 { element } else { nil } }
    }

    public func elements(_ name: String) -> [XMLElement] { elements.filter { $0.name == name } }
    public func first(_ name: String) -> XMLElement? { elements.first { $0.name == name } }

    /// The text directly inside, concatenated.
    public var text: String {
        children.map { if case .text(let text) = $0 { text } else { "" } }.joined()
    }

    public static func == (a: XMLElement, b: XMLElement) -> Bool {
        a.name == b.name && a.children == b.children && a.attributes.count == b.attributes.count
            && zip(a.attributes, b.attributes).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }
}

public enum XMLNode: Sendable, Equatable {
    case element(XMLElement)
    case text(String)
}

public struct XMLParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var message: String
    /// What fixes it, when the error says more than "malformed" (callers have a generic hint).
    public var hint: String?
    public var description: String { "line \(line): \(message)" }

    public init(line: Int, message: String, hint: String? = nil) {
        self.line = line
        self.message = message
        self.hint = hint
    }
}

public enum XMLParser {
    /// How deep elements may nest (the root is level 1). libvirt's documents nest fewer than 10
    /// levels; the parser, and every walk over what it returns, recurses once per level, so a
    /// deeper document is refused rather than allowed to exhaust the stack.
    public static let maxDepth = 256

    /// Parses a document and returns its root element.
    public static func parse(_ text: String) throws(XMLParseError) -> XMLElement {
        var reader = Reader(Array(text.utf8))
        return try reader.document()
    }

    struct Reader {
        let bytes: [UInt8]
        var position = 0
        var line = 1
        /// Elements open around the one being read.
        var depth = 0

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { position = 3 } // BOM
        }

        var atEnd: Bool { position >= bytes.count }
        func peek(_ offset: Int = 0) -> UInt8? { position + offset < bytes.count ? bytes[position + offset] : nil }

        func fail(_ message: String) -> XMLParseError { XMLParseError(line: line, message: message) }

        mutating func advance(_ count: Int = 1) {
            for _ in 0..<count where position < bytes.count {
                if bytes[position] == 0x0a { line += 1 }
                position += 1
            }
        }

        func starts(with prefix: String) -> Bool {
            let p = Array(prefix.utf8)
            return position + p.count <= bytes.count && Array(bytes[position..<position + p.count]) == p
        }

        mutating func skipSpace() {
            while let byte = peek(), byte == 0x20 || byte == 0x09 || byte == 0x0a || byte == 0x0d { advance() }
        }

        /// Skips past `terminator`, or fails naming what was left open.
        mutating func skip(past terminator: String, what: String) throws(XMLParseError) {
            let start = line
            while !atEnd {
                if starts(with: terminator) { return advance(terminator.utf8.count) }
                advance()
            }
            throw XMLParseError(line: start, message: "\(what) is not closed (missing '\(terminator)')")
        }

        /// Comments, processing instructions and a DOCTYPE, between markup.
        mutating func skipMisc() throws(XMLParseError) {
            while true {
                skipSpace()
                if starts(with: "<!--") { try skip(past: "-->", what: "comment"); continue }
                if starts(with: "<?") { try skip(past: "?>", what: "processing instruction"); continue }
                if starts(with: "<!DOCTYPE") {
                    // Skip, including an internal subset in [...]; entities declared there are not used.
                    var depth = 0
                    while let byte = peek() {
                        advance()
                        if byte == UInt8(ascii: "[") { depth += 1 }
                        if byte == UInt8(ascii: "]") { depth -= 1 }
                        if byte == UInt8(ascii: ">") && depth <= 0 { break }
                    }
                    continue
                }
                return
            }
        }

        mutating func document() throws(XMLParseError) -> XMLElement {
            try skipMisc()
            guard peek() == UInt8(ascii: "<") else {
                throw fail(atEnd ? "the document is empty" : "expected '<' at the start of the document")
            }
            let root = try element()
            try skipMisc()
            guard atEnd else { throw fail("content after the root element </\(root.name)>") }
            return root
        }

        static func isNameByte(_ byte: UInt8) -> Bool {
            (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-")
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ":") || byte == UInt8(ascii: ".") || byte >= 0x80
        }

        mutating func name() throws(XMLParseError) -> String {
            let start = position
            while let byte = peek(), Reader.isNameByte(byte) { advance() }
            guard position > start, let first = bytes[start..<position].first,
                  !(first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")) && first != UInt8(ascii: "-") && first != UInt8(ascii: ".")
            else { throw fail("expected a name") }
            return String(decoding: bytes[start..<position], as: UTF8.self)
        }

        mutating func element() throws(XMLParseError) -> XMLElement {
            let startLine = line
            guard depth < XMLParser.maxDepth else {
                throw XMLParseError(line: line, message: "elements nested deeper than \(XMLParser.maxDepth) levels",
                                    hint: "libvirt's domain, network and CPU XML nest fewer than 10 levels: check that this is the file you meant")
            }
            depth += 1
            defer { depth -= 1 }
            advance() // <
            let name = try name()
            var attributes: [(String, String)] = []
            // The names seen so far, for the duplicate check: a scan of `attributes` per attribute
            // made 50,000 attributes take minutes.
            var seen = Set<String>()
            while true {
                let hadSpace = peek().map { $0 == 0x20 || $0 == 0x09 || $0 == 0x0a || $0 == 0x0d } ?? false
                skipSpace()
                guard let byte = peek() else { throw fail("<\(name)> is not closed") }
                if byte == UInt8(ascii: "/") {
                    advance()
                    guard peek() == UInt8(ascii: ">") else { throw fail("expected '>' after '/' in <\(name)>") }
                    advance()
                    return XMLElement(name, attributes, line: startLine)
                }
                if byte == UInt8(ascii: ">") {
                    advance()
                    break
                }
                guard hadSpace else { throw fail("expected a space before an attribute in <\(name)>") }
                let attribute = try self.name()
                skipSpace()
                guard peek() == UInt8(ascii: "=") else { throw fail("attribute '\(attribute)' of <\(name)> has no value") }
                advance()
                skipSpace()
                guard let quote = peek(), quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") else {
                    throw fail("the value of '\(attribute)' in <\(name)> must be quoted")
                }
                advance()
                let start = position
                while let byte = peek(), byte != quote {
                    if byte == UInt8(ascii: "<") { throw fail("'<' inside the value of '\(attribute)'") }
                    advance()
                }
                guard !atEnd else { throw fail("the value of '\(attribute)' in <\(name)> is not closed") }
                let value = try decode(bytes[start..<position])
                advance()
                guard seen.insert(attribute).inserted else {
                    throw fail("attribute '\(attribute)' appears twice in <\(name)>")
                }
                attributes.append((attribute, value))
            }
            var children: [XMLNode] = []
            var text: [UInt8] = []
            func flushText() throws(XMLParseError) {
                guard !text.isEmpty else { return }
                children.append(.text(try decode(text[...])))
                text = []
            }
            while true {
                guard let byte = peek() else { throw XMLParseError(line: startLine, message: "<\(name)> is not closed") }
                if byte != UInt8(ascii: "<") {
                    text.append(byte)
                    advance()
                    continue
                }
                if starts(with: "</") {
                    try flushText()
                    advance(2)
                    let closing = try self.name()
                    skipSpace()
                    guard peek() == UInt8(ascii: ">") else { throw fail("expected '>' in </\(closing)>") }
                    advance()
                    guard closing == name else {
                        throw fail("</\(closing)> closes <\(name)> (opened on line \(startLine))")
                    }
                    return XMLElement(name, attributes, children: children, line: startLine)
                }
                if starts(with: "<!--") { try skip(past: "-->", what: "comment"); continue }
                if starts(with: "<?") { try skip(past: "?>", what: "processing instruction"); continue }
                if starts(with: "<![CDATA[") {
                    try flushText()
                    advance(9)
                    let start = position
                    try skip(past: "]]>", what: "CDATA section")
                    children.append(.text(String(decoding: bytes[start..<position - 3], as: UTF8.self)))
                    continue
                }
                try flushText()
                children.append(.element(try element()))
            }
        }

        /// Text with entity and character references resolved.
        func decode(_ raw: ArraySlice<UInt8>) throws(XMLParseError) -> String {
            guard raw.contains(UInt8(ascii: "&")) else { return String(decoding: raw, as: UTF8.self) }
            var out: [UInt8] = []
            var index = raw.startIndex
            while index < raw.endIndex {
                guard raw[index] == UInt8(ascii: "&") else {
                    out.append(raw[index])
                    index += 1
                    continue
                }
                guard let end = raw[index...].firstIndex(of: UInt8(ascii: ";")), end - index <= 12 else {
                    throw fail("'&' that starts no entity reference (write &amp;)")
                }
                let entity = String(decoding: raw[(index + 1)..<end], as: UTF8.self)
                switch entity {
                case "lt": out.append(UInt8(ascii: "<"))
                case "gt": out.append(UInt8(ascii: ">"))
                case "amp": out.append(UInt8(ascii: "&"))
                case "quot": out.append(UInt8(ascii: "\""))
                case "apos": out.append(UInt8(ascii: "'"))
                default:
                    var code: UInt32?
                    if entity.hasPrefix("#x") { code = UInt32(entity.dropFirst(2), radix: 16) }
                    else if entity.hasPrefix("#") { code = UInt32(entity.dropFirst(), radix: 10) }
                    guard let code, let scalar = Unicode.Scalar(code), code != 0 else {
                        throw fail("unknown entity '&\(entity);'")
                    }
                    out.append(contentsOf: Array(String(Character(scalar)).utf8))
                }
                index = end + 1
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}

extension XMLElement {
    /// The element as text: two-space indentation, attributes in the order given, values and
    /// text escaped. Elements with only text stay on one line; empty ones close themselves.
    public func rendered(indent: Int = 0) -> String {
        let pad = String(repeating: "  ", count: indent)
        var out = pad + "<" + name
        for attribute in attributes { out += " \(attribute.name)='\(XMLElement.escape(attribute.value, quote: true))'" }
        if children.isEmpty { return out + "/>\n" }
        let onlyText = children.allSatisfy { if case .text = $0 { true } else { false } }
        if onlyText { return out + ">" + XMLElement.escape(text, quote: false) + "</\(name)>\n" }
        out += ">\n"
        for child in children {
            switch child {
            case .element(let element): out += element.rendered(indent: indent + 1)
            case .text(let text):
                let trimmed = text.trimmingWhitespace()
                if !trimmed.isEmpty { out += pad + "  " + XMLElement.escape(trimmed, quote: false) + "\n" }
            }
        }
        return out + pad + "</\(name)>\n"
    }

    /// Escapes &, <, > (and ' in attribute values, which vfioctl quotes with ').
    public static func escape(_ text: String, quote: Bool) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "'" where quote: out += "&apos;"
            case "\"" where quote: out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }
}
