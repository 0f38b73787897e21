import Foundation
import Glibc
import Testing
import VFIOTestSupport

/// /etc/default/grub and the other files `config ... --write` edits, in the shapes admins and
/// installers leave them, then damaged. The shell that reads them is the oracle: the effective
/// command line after vfioctl's edit (sourced with bash and with dash) keeps every option it had
/// and gains each new one exactly once; the edit is one insertion (every other byte kept); a
/// second run changes nothing; a refused file is left byte for byte.
extension Campaign {
    static let bootOptions = ["root=UUID=6a1f0c2e-33b1-4e8e", "ro", "quiet", "splash", "rd.luks.uuid=luks-1b2c", "rd.lvm.lv=vg0/root",
                              "console=ttyS0,115200n8", "console=tty0", "mitigations=auto", "net.ifnames=0", "iommu=pt", "amd_iommu=on"]

    /// A /etc/default/grub the shell reads, in one of the shapes found on real hosts; whether
    /// vfioctl must be able to edit it (it may refuse the others, leaving them as they were).
    static func grubFile(_ g: inout SeededGenerator) -> (text: String, editable: Bool, what: [String]) {
        var options = (0..<Int.random(in: 1...6, using: &g)).map { _ in g.pick(bootOptions) }
        options = options.enumerated().filter { pair in !options[..<pair.offset].contains(pair.element) }.map(\.element)
        var what: [String] = []
        var lines = ["# If you change this file, run 'update-grub' afterwards.", "# It's \"sourced\" by grub-mkconfig.",
                     "GRUB_DEFAULT=0", "GRUB_TIMEOUT=5", "GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`"]
        if g.chance(30) { lines.append("#GRUB_CMDLINE_LINUX=\"old=1 \\\"quoted\\\"\""); what.append("a commented assignment") }
        if g.chance(25) {
            lines.append("GRUB_CMDLINE_LINUX=\"overridden=1\"")
            what.append("an earlier assignment")
        }
        var extra: String?
        if g.chance(20), options.count > 1 {
            extra = options.removeLast()
            lines.append("EXTRA_OPTS=\"\(extra!)\"")
            what.append("a $VAR reference")
        }
        // The value, in chunks joined by the shell's own rules.
        var chunks: [String] = []
        var rest = options
        while !rest.isEmpty {
            let take = Int.random(in: 1...rest.count, using: &g)
            let words = Array(rest.prefix(take))
            rest.removeFirst(take)
            let last = rest.isEmpty
            let separator = last ? "" : " "
            switch Int.random(in: 0..<6, using: &g) {
            case 0:
                chunks.append("'" + words.joined(separator: " ") + separator + "'")
                what.append("single quotes")
            case 1:
                chunks.append("\"" + words.joined(separator: "\n") + separator + "\"")
                what.append("a newline inside double quotes")
            case 2:
                chunks.append("\"" + words.joined(separator: " \\\n") + separator + "\"")
                what.append("backslash-newline inside double quotes")
            case 3:
                chunks.append("'" + words.joined(separator: "\n  ") + separator + "'")
                what.append("a newline inside single quotes")
            default:
                chunks.append("\"" + words.joined(separator: " ") + separator + "\"")
            }
        }
        if extra != nil { chunks.append(g.chance(50) ? "\" $EXTRA_OPTS\"" : "\" ${EXTRA_OPTS}\"") }
        if chunks.isEmpty { chunks = ["\"\""] }
        var value = chunks[0]
        for chunk in chunks.dropFirst() {
            if g.chance(30) { value += "\\\n"; what.append("a continuation between words") }
            value += chunk
        }
        let export = g.chance(15) ? "export " : ""
        if !export.isEmpty { what.append("export") }
        lines.append(export + "GRUB_CMDLINE_LINUX=" + value)
        if g.chance(20) {
            lines.append("GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX console=hvc0\"")
            what.append("a self-append")
        }
        lines.append("GRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"")
        if g.chance(20) { lines.append("# caf\u{e9} \u{2014} a comment in UTF-8"); what.append("UTF-8 in a comment") }
        if g.chance(15) { lines.append("GRUB_TERMINAL=console; GRUB_GFXMODE=640x480"); what.append("two assignments on a line") }
        return (lines.joined(separator: "\n") + "\n", true, what)
    }

    /// What the shell makes of a grub file: its options (GRUB_CMDLINE_LINUX and
    /// GRUB_CMDLINE_LINUX_DEFAULT, split on blanks), or nil when it does not source cleanly.
    static func sourced(_ path: String, shell: String) -> [String]? {
        let script = ". \"$1\" || exit 3; printf '%s\\n%s' \"$GRUB_CMDLINE_LINUX\" \"$GRUB_CMDLINE_LINUX_DEFAULT\""
        guard let result = try? TestProcess.run(shell, ["-c", script, "sh", path], timeout: 20),
              result.status == 0, !result.timedOut, result.err.isEmpty else { return nil }
        // On bytes: "\r\n" is one Character, which a split on "\r" or "\n" would not see.
        return Array(result.out.utf8).split(whereSeparator: { [0x20, 0x09, 0x0a, 0x0d].contains($0) })
            .map { String(decoding: $0, as: UTF8.self) }
    }

    /// The ways an edit may be wrong, judged by the shell; nil when it is right.
    static func judgeEdit(old: [String], new: [String]) -> String? {
        var count: [String: (old: Int, new: Int)] = [:]
        for option in old { count[option, default: (0, 0)].old += 1 }
        for option in new { count[option, default: (0, 0)].new += 1 }
        for (option, seen) in count.sorted(by: { $0.key < $1.key }) {
            if seen.old > 0 && seen.new < seen.old { return "the effective command line lost '\(option)'" }
            if seen.old > 0 && seen.new > seen.old { return "'\(option)' was there and is now there \(seen.new) times" }
            if seen.old == 0 && seen.new > 1 { return "'\(option)' was added \(seen.new) times" }
        }
        return nil
    }

    @Test("boot configuration with --write: grub files in every shape the shell reads, damaged, with links planted")
    func configFiles() throws {
        let sandbox = try Sandbox(copying: Campaign.fixture)
        defer { sandbox.remove() }
        var runner = Runner(sandbox, family: "config-files")
        let etc = sandbox.root + "/etc"
        let grub = etc + "/default/grub"
        var refusedEditable = 0
        for index in Campaign.indices(170) {
            var g = CampaignSettings.generator(family: "config-files", index: index)
            Surgery.removeAny(etc)
            mkdir(etc, 0o755)
            mkdir(etc + "/default", 0o755)
            var (text, editable, what) = Campaign.grubFile(&g)
            var bytes = Array(text.utf8)
            switch Int.random(in: 0..<14, using: &g) {
            case 0:
                bytes = Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8)
                what.append("CRLF line ends")
            case 1:
                bytes = Array(text.replacingOccurrences(of: "\n", with: "\r").utf8)
                what.append("CR-only line ends")
                editable = false
            case 2:
                bytes = Array("# \u{ff}".utf8) + [0xff, 0xfe, 0x80, 0x0a] + bytes + [0x23, 0xc3, 0x28, 0x0a]
                what.append("bytes that are not UTF-8 in comments")
            case 3:
                let padding = "# " + String(repeating: "p", count: 1000) + "\n"
                let size = g.pick([1 << 20, (1 << 20) + 4096, (4 << 20) + 1])
                bytes = Array(String(repeating: padding, count: size / padding.utf8.count + 1).utf8) + bytes
                what.append("\(bytes.count) bytes")
                editable = bytes.count <= 4 << 20   // the limit for config files (SafeFiles)
            case 4:
                bytes.insert(contentsOf: Array("GRUB_CMDLINE_LINUX=\"$(cat /proc/cmdline)\"\n".utf8), at: bytes.count)
                what.append("a command substitution")
                editable = false
            case 5:
                for _ in 0..<Int.random(in: 1...6, using: &g) {
                    bytes[Int.random(in: 0..<bytes.count, using: &g)] = UInt8.random(in: 0...255, using: &g)
                }
                what.append("random bytes flipped")
                editable = false
            case 6:
                let at = Int.random(in: 0...bytes.count, using: &g)
                bytes = Array(bytes.prefix(at))
                what.append("truncated at byte \(at)")
                editable = false
            case 7:
                symlink(sandbox.outside + "/precious", grub + ".vfioctl-new")
                what.append("a link planted at grub.vfioctl-new")
            case 8:
                symlink(sandbox.outside + "/precious", grub + ".vfioctl.bak")
                what.append("a link planted at grub.vfioctl.bak")
            case 9:
                Surgery.removeAny(etc + "/default")
                symlink(sandbox.outside + "/dir", etc + "/default")
                what.append("/etc/default a link out of the root")
                editable = false
            case 10:
                mkfifo(grub + ".vfioctl-new", 0o644)
                what.append("a FIFO planted at grub.vfioctl-new")
            default: break
            }
            if !Surgery.isLink(etc + "/default") { Surgery.write(grub, bytes) }
            let original = Surgery.read(grub)
            let copy = sandbox.scratch + "/grub.before"
            if let original { Surgery.write(copy, original) }
            let command = ["config", "cmdline", "--write", "--root", sandbox.root]
            let description = "grub with " + (what.isEmpty ? "plain quotes" : what.joined(separator: ", "))
            guard let first = runner.run(index, description, command, writes: .root, verify: { result in
                let now = Surgery.read(grub)
                guard result.status == 0 else {
                    return now == original ? nil : "refused (exit \(result.status)) but the file changed"
                }
                guard let original, let now else { return nil }
                if now.count < original.count { return "the file shrank from \(original.count) to \(now.count) bytes" }
                let prefix = zip(original, now).prefix(while: { $0 == $1 }).count
                let suffix = zip(original.reversed(), now.reversed()).prefix(while: { $0 == $1 }).count
                if prefix + suffix < original.count { return "bytes outside the edit changed (kept \(prefix) + \(suffix) of \(original.count))" }
                if let backup = Surgery.read(grub + ".vfioctl.bak"), now != original, backup != original {
                    return "the backup is not the old file byte for byte"
                }
                for shell in ["bash", "dash"] {
                    guard let before = Campaign.sourced(copy, shell: shell) else { continue }
                    guard let after = Campaign.sourced(grub, shell: shell) else { return "the new file does not source with \(shell)" }
                    if let problem = Campaign.judgeEdit(old: before, new: after) { return "\(shell): \(problem)" }
                }
                return nil
            }) else { continue }
            if first.status != 0 && editable && !first.timedOut && !first.signaled {
                refusedEditable += 1
                runner.failures.append("[config-files #\(index)] an editable \(description) was refused:\n    \(first.err.prefix(300))")
            }
            if first.status == 0 && !first.timedOut {
                // Idempotent: the second run changes nothing.
                runner.run(index, description + ", second run", command)
            }
            Surgery.removeAny(sandbox.scratch + "/grub.before")
        }
        #expect(runner.failures.isEmpty, "\(runner.summary)")
        #expect(refusedEditable == 0)
    }

    @Test("modprobe.d and initramfs files with --write: damaged existing files, planted links, a second run changes nothing")
    func moduleFiles() throws {
        let sandbox = try Sandbox(copying: Campaign.fixture)
        defer { sandbox.remove() }
        var runner = Runner(sandbox, family: "module-files")
        let etc = sandbox.root + "/etc"
        for index in Campaign.indices(120) {
            var g = CampaignSettings.generator(family: "module-files", index: index)
            Surgery.removeAny(etc)
            Surgery.removeAny(sandbox.root + "/usr")
            for directory in ["/etc", "/etc/modprobe.d", "/etc/initramfs-tools", "/usr", "/usr/sbin"] {
                mkdir(sandbox.root + directory, 0o755)
            }
            Surgery.write(sandbox.root + "/usr/sbin/update-initramfs", Array("#!/bin/sh\n".utf8))
            let initramfs = g.chance(50)
            let file = initramfs ? etc + "/initramfs-tools/modules" : etc + "/modprobe.d/vfio.conf"
            var what = initramfs ? "initramfs-tools modules" : "modprobe.d/vfio.conf"
            switch Int.random(in: 0..<8, using: &g) {
            case 0: what += ": " + HostileValues.damage(file, &g, sandbox: sandbox)
            case 1:
                symlink(sandbox.outside + "/precious", file + ".vfioctl-new")
                Surgery.write(file, Array("# list modules here\nloop\n".utf8))
                what += ": a link planted at .vfioctl-new"
            case 2:
                Surgery.removeAny(etc + (initramfs ? "/initramfs-tools" : "/modprobe.d"))
                symlink(sandbox.outside + "/dir", etc + (initramfs ? "/initramfs-tools" : "/modprobe.d"))
                what += ": its directory a link out of the root"
            case 3:
                Surgery.write(file, Array("options vfio-pci ids=8086:10d3\r\nsoftdep e1000e pre: vfio-pci\r\n".utf8) + [0xff, 0x0a])
                what += ": CRLF and a byte that is not UTF-8"
            default:
                Surgery.write(file, HostileValues.text(&g))
                what += ": hostile text"
            }
            let command = initramfs ? ["config", "initramfs", "--write"]
                : ["config", "modprobe", "--vfio-ids", g.pick(["8086:10d3", "1b36:0010,8086:10d3"]), "--softdep", "nvme", "--write"]
            guard let first = runner.run(index, what, command + ["--root", sandbox.root], writes: .root) else { continue }
            if first.status == 0 && !first.timedOut {
                runner.run(index, what + ", second run", command + ["--root", sandbox.root])
            }
        }
        #expect(runner.failures.isEmpty, "\(runner.summary)")
    }
}
