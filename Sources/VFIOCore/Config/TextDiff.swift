/// A unified diff of two texts, as `diff -u` prints it, for showing a change before --write.
public enum TextDiff {
    public static func unified(_ old: String, _ new: String, path: String, context: Int = 3) -> String {
        guard old != new else { return "" }
        let a = lines(old)
        let b = lines(new)
        enum Op { case same(String), del(String), add(String) }
        // The lines both share at the start and the end are the same (an edit changes a few lines
        // of a file of any size); the longest common subsequence is looked for between them only,
        // and only while its table stays small: beyond that the middle shows as removed and added.
        var prefix = 0
        while prefix < a.count && prefix < b.count && a[prefix] == b[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < a.count - prefix && suffix < b.count - prefix && a[a.count - 1 - suffix] == b[b.count - 1 - suffix] { suffix += 1 }
        let middleA = Array(a[prefix..<(a.count - suffix)])
        let middleB = Array(b[prefix..<(b.count - suffix)])
        var ops: [Op] = a[..<prefix].map { .same($0) }
        if (middleA.count + 1) * (middleB.count + 1) <= 4_000_000 {
            let a = middleA, b = middleB
            var lcs = Array(repeating: Array(repeating: 0, count: b.count + 1), count: a.count + 1)
            for i in stride(from: a.count - 1, through: 0, by: -1) {
                for j in stride(from: b.count - 1, through: 0, by: -1) {
                    lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
                }
            }
            var i = 0, j = 0
            while i < a.count || j < b.count {
                if i < a.count && j < b.count && a[i] == b[j] { ops.append(.same(a[i])); i += 1; j += 1 }
                else if i < a.count && (j == b.count || lcs[i + 1][j] >= lcs[i][j + 1]) { ops.append(.del(a[i])); i += 1 }
                else { ops.append(.add(b[j])); j += 1 }
            }
        } else {
            ops += middleA.map { .del($0) } + middleB.map { .add($0) }
        }
        ops += a[(a.count - suffix)...].map { .same($0) }
        var out = (old.isEmpty ? "--- /dev/null\n" : "--- \(path)\n") + "+++ \(path)\n"
        var index = 0
        var oldLine = 1, newLine = 1
        while index < ops.count {
            guard case .same = ops[index] else {
                // A hunk: back up to `context` lines before, run until `context` unchanged lines follow.
                var start = index
                var back = 0
                while start > 0, back < context, case .same = ops[start - 1] { start -= 1; back += 1 }
                var end = index
                var quiet = 0
                while end < ops.count, quiet <= context * 2 {
                    if case .same = ops[end] { quiet += 1 } else { quiet = 0 }
                    end += 1
                }
                end -= max(0, quiet - context)
                let hunk = ops[start..<end]
                let oldCount = hunk.filter { if case .add = $0 { false } else { true } }.count
                let newCount = hunk.filter { if case .del = $0 { false } else { true } }.count
                // An empty side names the line before it (diff -u's "-0,0").
                let oldStart = oldLine - back - (oldCount == 0 ? 1 : 0)
                let newStart = newLine - back - (newCount == 0 ? 1 : 0)
                out += "@@ -\(oldStart),\(oldCount) +\(newStart),\(newCount) @@\n"
                for op in hunk {
                    switch op {
                    case .same(let line): out += " " + line + "\n"
                    case .del(let line): out += "-" + line + "\n"
                    case .add(let line): out += "+" + line + "\n"
                    }
                }
                for op in ops[index..<end] {
                    switch op {
                    case .same: oldLine += 1; newLine += 1
                    case .del: oldLine += 1
                    case .add: newLine += 1
                    }
                }
                index = end
                continue
            }
            oldLine += 1
            newLine += 1
            index += 1
        }
        return out
    }

    /// Lines without their newlines; a final newline ends the last line, it does not start another.
    /// Split at LF only (a CRLF line keeps its CR, as diff does).
    static func lines(_ text: String) -> [String] {
        var lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { String(String.UnicodeScalarView($0)) }
        if lines.last == "" { lines.removeLast() }
        return lines
    }
}
