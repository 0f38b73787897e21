/// How the last `vfioctl apply` ended, as the state directory keeps it (`last-apply`): one line
/// in the journal's style, replaced atomically by the transaction at the end of every apply that
/// is not a dry run (`metrics` reports it). Pure encoding and decoding; the actuator owns the file.
///
///     apply ended=1795379200.123 outcome=ok changes=3
///
/// `ended`: when the run ended, epoch seconds with milliseconds. `outcome`: `ok` (the host
/// matches the pool file now), `failed` (a step failed; what the run changed was rolled back) or
/// `refused` (a guard refused the plan; nothing was changed). `changes`: what the run changed and
/// kept, counted as its report's `changes` (0 unless ok).
public struct LastRun: Sendable, Equatable {
    public enum Outcome: String, Sendable, CaseIterable {
        case ok, failed, refused
    }

    public var operation: Plan.Operation
    /// Epoch milliseconds.
    public var ended: Int
    public var outcome: Outcome
    public var changes: Int

    public init(operation: Plan.Operation, ended: Int, outcome: Outcome, changes: Int) {
        (self.operation, self.ended, self.outcome, self.changes) = (operation, ended, outcome, changes)
    }

    /// The file's name in the state directory.
    public static let fileName = "last-apply"

    /// Epoch seconds with milliseconds, as the history writes them ("1795379200.123").
    public var endedText: String {
        "\(ended / 1000)." + String(String(ended % 1000 + 1000).dropFirst())
    }

    public var line: String {
        "\(operation.rawValue) ended=\(endedText) outcome=\(outcome.rawValue) changes=\(changes)"
    }

    /// The file's text: its one line.
    public var fileText: String { line + "\n" }

    /// Only what `line` writes: the operation, then ended (seconds, a dot, three digits), outcome
    /// and changes in that order.
    public init?(line: Substring) {
        let fields = line.split(separator: " ", omittingEmptySubsequences: false)
        guard fields.count == 4, let operation = Plan.Operation(rawValue: String(fields[0])) else { return nil }
        func value(_ field: Substring, _ key: String) -> Substring? {
            field.hasPrefix(key + "=") ? field.dropFirst(key.count + 1) : nil
        }
        guard let ended = value(fields[1], "ended")?.split(separator: ".", omittingEmptySubsequences: false), ended.count == 2,
              ended[1].utf8.count == 3, let seconds = JournalRecord.number(ended[0], in: 0...(Int.max / 1000 - 1)),
              let millis = JournalRecord.number(ended[1], in: 0...999),
              let outcome = value(fields[2], "outcome").flatMap({ Outcome(rawValue: String($0)) }),
              let changes = value(fields[3], "changes").flatMap({ JournalRecord.number($0, in: JournalRecord.indices) })
        else { return nil }
        self.init(operation: operation, ended: seconds * 1000 + millis, outcome: outcome, changes: changes)
    }

    /// The file's text read back (`path` names it in errors): one line and its newline.
    public static func parse(_ text: String, path: String) throws(VFIOError) -> LastRun {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.count == 2, lines[1].isEmpty, let run = LastRun(line: lines[0]) else {
            throw .failed("\(path) is damaged: '\(String(text.prefix(200)).printable)'",
                          hint: "delete it: the next 'vfioctl apply' writes it again")
        }
        return run
    }
}
