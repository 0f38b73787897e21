import Foundation
import Glibc
import VFIOTestSupport

/// The campaign's knobs, from the environment (defaults are what CI runs):
///   VFIOCTL_HOSTILE_SEED   the seed (default 20261202); every case derives from it and its index
///   VFIOCTL_HOSTILE_SCALE  cases per family, as a multiple of the default counts (default 1)
///   VFIOCTL_HOSTILE_ONLY   run only the case with this index (replaying a failure)
enum CampaignSettings {
    static var seed: UInt64 {
        ProcessInfo.processInfo.environment["VFIOCTL_HOSTILE_SEED"].flatMap { UInt64($0) } ?? 20_261_202
    }

    static func cases(_ standard: Int) -> Int {
        let scale = ProcessInfo.processInfo.environment["VFIOCTL_HOSTILE_SCALE"].flatMap { Double($0) } ?? 1
        return max(1, Int(Double(standard) * scale))
    }

    static var only: Int? { ProcessInfo.processInfo.environment["VFIOCTL_HOSTILE_ONLY"].flatMap { Int($0) } }

    /// Each family's generator starts from the seed mixed with its name, so families are independent.
    static func generator(family: String, index: Int) -> SeededGenerator {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in family.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return SeededGenerator(seed: seed ^ hash ^ (UInt64(index) &* 0x9e37_79b9_7f4a_7c15))
    }
}

/// Runs vfioctl on one hostile case and judges the outcome against the campaign's rules:
/// - it ends by itself within the time limit (no hang) and by exiting, not by a signal (no trap,
///   no stack overflow);
/// - its status is 0, 1, 2 or 64; 1 and 64 come with an `error:` line on stderr; 2 with findings
///   or an `error:`; nothing on stderr says the runtime died ("Fatal error", "Stack overflow");
/// - JSON output of a successful run parses;
/// - the tree under --root and the state directory are unchanged unless the case may write, and
///   the directory outside the root never changes;
/// - a case-specific `verify` (e.g. a written grub file still sources to the same command line).
struct Runner {
    let sandbox: Sandbox
    let family: String
    var failures: [String] = []
    var ran = 0

    init(_ sandbox: Sandbox, family: String) {
        self.sandbox = sandbox
        self.family = family
    }

    static let timeout = 20.0

    /// What may change: nothing (reads, dry runs), or the files a writing command edits.
    enum Writes { case nothing, root }

    @discardableResult
    mutating func run(_ index: Int, _ what: String, _ arguments: [String], input: [UInt8]? = nil,
                      writes: Writes = .nothing, verify: ((TestProcess.Result) -> String?)? = nil) -> TestProcess.Result? {
        ran += 1
        let watched = writes == .nothing ? [sandbox.root, sandbox.state] : []
        let before = watched.map(Sandbox.fingerprint)
        let outsideBefore = Sandbox.fingerprint(sandbox.outside)
        let result: TestProcess.Result
        do {
            // At most 2 GiB of address space: a memory bomb ends in a failed allocation this
            // campaign reports, not in a machine that swaps (prlimit, util-linux).
            result = try TestProcess.run("prlimit", ["--as=\(2 << 30)", "--", TestProcess.vfioctl] + arguments,
                                         environment: ["VFIOCTL_STATE_DIR": sandbox.state],
                                         inputBytes: input, timeout: Runner.timeout)
        } catch {
            failures.append(report(index, what, arguments, "could not start vfioctl: \(error)"))
            return nil
        }
        var problems: [String] = []
        if result.timedOut { problems.append("hung: no exit within \(Int(Runner.timeout)) s") }
        if result.signaled { problems.append("killed by signal \(result.status)") }
        if !result.timedOut && !result.signaled {
            switch result.status {
            case 0:
                if arguments.contains("json") && !result.out.isEmpty
                    && (try? JSONSerialization.jsonObject(with: Data(result.out.utf8))) == nil {
                    problems.append("exit 0 with JSON that does not parse")
                }
            case 1, 64:
                if !result.err.split(separator: "\n").contains(where: { $0.hasPrefix("error: ") }) {
                    problems.append("exit \(result.status) without an 'error:' line")
                }
            case 2:
                if result.out.isEmpty && !result.err.contains("error: ") {
                    problems.append("exit 2 without findings or an 'error:' line")
                }
            default: problems.append("exit status \(result.status)")
            }
        }
        for marker in ["Fatal error", "Stack overflow", "Segmentation fault", "Illegal instruction", "Current stack trace"]
        where result.err.contains(marker) {
            problems.append("the runtime died: \(marker)")
        }
        for (directory, old) in zip(watched, before) {
            let changed = Sandbox.changes(old, Sandbox.fingerprint(directory))
            if !changed.isEmpty { problems.append("changed \(directory): \(changed.prefix(5).joined(separator: ", "))") }
        }
        let outsideChanged = Sandbox.changes(outsideBefore, Sandbox.fingerprint(sandbox.outside))
        if !outsideChanged.isEmpty { problems.append("WROTE OUTSIDE THE ROOT: \(outsideChanged.joined(separator: ", "))") }
        if problems.isEmpty, let verify, let problem = verify(result) { problems.append(problem) }
        if !problems.isEmpty {
            failures.append(report(index, what, arguments, problems.joined(separator: "; ") + "\n    stderr: "
                + String(result.err.prefix(400)).replacingOccurrences(of: "\n", with: "\n    ")))
        }
        return result
    }

    private func report(_ index: Int, _ what: String, _ arguments: [String], _ problem: String) -> String {
        "[\(family) #\(index), VFIOCTL_HOSTILE_ONLY=\(index)] \(what)\n    vfioctl \(arguments.map(Runner.quoted).joined(separator: " "))\n    \(problem)"
    }

    static func quoted(_ argument: String) -> String {
        let shown = argument.count > 60 ? String(argument.prefix(57)) + "..." : argument
        return shown.contains(where: { $0 == " " || $0 == "'" || !$0.isASCII || $0.asciiValue.map { $0 < 0x20 } == true })
            ? "'" + shown.unicodeScalars.map { $0.value < 0x20 ? "\\x" + String($0.value, radix: 16) : String($0) }.joined() + "'"
            : shown
    }

    /// The campaign's verdict: empty, or the first failures with how to replay them.
    var summary: String {
        failures.isEmpty ? "" : "\(failures.count) of \(ran) \(family) cases failed (seed \(CampaignSettings.seed)):\n"
            + failures.prefix(15).joined(separator: "\n")
    }
}
