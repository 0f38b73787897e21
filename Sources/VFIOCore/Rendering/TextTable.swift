/// Aligned columns for people: a header row, two spaces between columns, the last column unpadded.
public struct TextTable: Sendable {
    public var header: [String]
    public var rows: [[String]]
    public var indent: String

    public init(header: [String], rows: [[String]] = [], indent: String = "") {
        self.header = header
        self.rows = rows
        self.indent = indent
    }

    /// Column widths over the header and all rows, so several tables can share them.
    public func widths() -> [Int] {
        var widths = header.map(\.count)
        for row in rows {
            for (column, cell) in row.enumerated() where column < widths.count {
                widths[column] = max(widths[column], cell.count)
            }
        }
        return widths
    }

    public func render(widths: [Int]? = nil, includeHeader: Bool = true) -> String {
        let widths = widths ?? self.widths()
        var out = ""
        if includeHeader { out += line(header, widths) }
        for row in rows { out += line(row, widths) }
        return out
    }

    private func line(_ cells: [String], _ widths: [Int]) -> String {
        var text = indent
        for (column, cell) in cells.enumerated() {
            if column == cells.count - 1 {
                text += cell
            } else {
                text += cell + String(repeating: " ", count: max(0, widths[column] - cell.count) + 2)
            }
        }
        while text.hasSuffix(" ") { text.removeLast() }
        return text + "\n"
    }
}
