import ArgumentParser
import Foundation
import Testing
@testable import VFIOCommands
import VFIOCore
import VFIODeviceLayer
import VFIOTestSupport

/// Tab completion from the host: the callbacks ArgumentParser's scripts make into the binary
/// answer from a fake tree, each argument is wired to the right one, and the scripts load in the
/// shells (bash's wrapper joins the words bash splits at ':').
@Suite("completions: addresses, groups, PFs, mdevs from the host")
struct CompletionTests {
    static let active = MdevCommandTests.uuid
    static let defined = MdevCommandTests.other

    /// checkHost, its GPU an mdev parent, mtty, one active mdev and one only defined for mdevctl.
    static func host() throws -> BindingCommandTests.Host {
        let host = try NodeDeviceNameTests.host()
        host.fake.addMdevParent(.mtty)
        host.fake.addMdev(active, parent: "mtty", type: "mtty-1")
        host.fake.addMdevDefinition(parent: "mtty", uuid: defined, text: "{\"mdev_type\":\"mtty-2\",\"start\":\"auto\"}")
        return host
    }

    static func candidates(_ what: HostCompletion, _ root: String, typed: String = "", words: [String] = [],
                           shell: CompletionShell? = nil) -> [String] {
        HostCompletion.answer(what, words: ["vfioctl"] + words + ["--root", root, typed], index: words.count + 3, prefix: typed,
                              shell: shell, environmentRoot: nil)
    }

    static let addresses = ["0000:00:01.0", "0000:00:1c.0", "0000:00:1d.0", "0000:00:1e.0", "0000:01:00.0", "0000:02:01.0",
                            "0000:02:02.0", "0000:03:00.0", "0000:04:00.0", "0000:04:00.1", "0000:05:00.0", "0000:05:10.0"]

    @Test("functions: every address; node-device names once the word starts with p; the short form when only it fits")
    func functions() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let root = host.fake.root
        #expect(Self.candidates(.functions, root) == Self.addresses)
        #expect(Self.candidates(.functions, root, typed: "0000:04") == ["0000:04:00.0", "0000:04:00.1"])
        #expect(Self.candidates(.functions, root, typed: "p") == Self.addresses.compactMap { PCIAddress($0)?.nodeDeviceName })
        #expect(Self.candidates(.functions, root, typed: "pci_0000_05") == ["pci_0000_05_00_0", "pci_0000_05_10_0"])
        #expect(Self.candidates(.functions, root, typed: "05:") == ["05:00.0", "05:10.0"])
        #expect(Self.candidates(.functions, root, typed: "0f").isEmpty && Self.candidates(.functions, root, typed: "x").isEmpty)
        #expect(Self.candidates(.vfs, root) == ["0000:05:10.0"])
        #expect(Self.candidates(.vfs, root, typed: "pci") == ["pci_0000_05_10_0"])
    }

    @Test("groups: the kernel's group numbers in numeric order (the mdev's own group among them)")
    func groups() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let snapshot = try DeviceLayer(root: HostRoot(host.fake.root)).snapshot([])
        let mdevGroup = try #require(MdevReader(root: HostRoot(host.fake.root)).read().devices.first?.iommuGroup)
        let expected = (snapshot.groups.map(\.id) + [mdevGroup]).sorted().map(String.init)
        #expect(expected.count == 10)
        #expect(Self.candidates(.groups, host.fake.root) == expected)
        #expect(Self.candidates(.groups, host.fake.root, typed: "1") == expected.filter { $0.hasPrefix("1") })
    }

    @Test("PFs: SR-IOV PFs by address (or node-device name) and interface; PF interfaces alone for xml network --pf")
    func pfs() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let root = host.fake.root
        #expect(Self.candidates(.pfs, root) == ["0000:05:00.0", "enp5s0f0"])
        #expect(Self.candidates(.pfs, root, typed: "p") == ["pci_0000_05_00_0"])
        #expect(Self.candidates(.pfs, root, typed: "e") == ["enp5s0f0"])
        #expect(Self.candidates(.pfInterfaces, root) == ["enp5s0f0"])
    }

    @Test("mdevs: UUIDs active or defined for remove, active for --mdev; parents and the named parent's types")
    func mdevs() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let root = host.fake.root
        #expect(Self.candidates(.mdevs, root) == [Self.defined, Self.active].sorted())
        #expect(Self.candidates(.activeMdevs, root) == [Self.active])
        #expect(Self.candidates(.mdevParents, root) == ["0000:04:00.0", "mtty"])
        #expect(Self.candidates(.mdevParents, root, typed: "p") == ["pci_0000_04_00_0"])
        #expect(Self.candidates(.mdevTypes, root, words: ["mdev", "create", "mtty", "--type"]) == ["mtty-1", "mtty-2"])
        #expect(Self.candidates(.mdevTypes, root, words: ["mdev", "create", "pci_0000_04_00_0", "--type"]) == ["gvt-1"])
        #expect(Self.candidates(.mdevTypes, root, words: ["mdev", "create", "--type"]) == ["gvt-1", "mtty-1", "mtty-2"])
    }

    @Test("the root: --root DIR, --root=DIR (bash: --root = DIR), quoted, else VFIOCTL_ROOT; an unreadable root offers nothing")
    func roots() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let root = host.fake.root
        func answer(_ words: [String], environment: String? = nil) -> [String] {
            HostCompletion.answer(.pfs, words: words + [""], index: words.count, prefix: "", shell: nil, environmentRoot: environment)
        }
        let pfs = ["0000:05:00.0", "enp5s0f0"]
        #expect(answer(["vfioctl", "sriov", "create", "--root", root]) == pfs)
        #expect(answer(["vfioctl", "--root=" + root, "sriov", "create"]) == pfs)
        #expect(answer(["vfioctl", "sriov", "create", "--root", "=", root]) == pfs)
        #expect(answer(["vfioctl", "sriov", "create", "--root", "'\(root)'"]) == pfs)
        #expect(answer(["vfioctl", "sriov", "create"], environment: root) == pfs)
        #expect(answer(["vfioctl", "sriov", "create", "--root", root + "/nonexistent"]).isEmpty)
        // --root '' is an error for the command: nothing to offer (not this host's).
        #expect(answer(["vfioctl", "sriov", "create", "--root", "''"], environment: root).isEmpty)
        // A tree without sysfs: nothing, and no error.
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("vfioctl-empty-\(getpid())").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        for what: HostCompletion in [.functions, .vfs, .groups, .pfs, .pfInterfaces, .mdevs, .activeMdevs, .mdevParents, .mdevTypes] {
            for shell: CompletionShell? in [nil, .bash, .zsh, .fish] {
                #expect(HostCompletion.answer(what, words: ["vfioctl", "--root", empty, ""], index: 3, prefix: "", shell: shell,
                                              environmentRoot: nil).isEmpty, "\(what)")
            }
        }
    }

    @Test("zsh's _describe reads value:description, so a ':' in a value goes escaped; bash and fish take values as they are")
    func shells() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        let root = host.fake.root
        #expect(Self.candidates(.pfs, root, shell: .zsh) == ["0000\\:05\\:00.0", "enp5s0f0"])
        #expect(Self.candidates(.pfs, root, shell: .bash) == ["0000:05:00.0", "enp5s0f0"])
        #expect(Self.candidates(.pfs, root, shell: .fish) == ["0000:05:00.0", "enp5s0f0"])
    }

    /// Each wired argument as the scripts call it back: `---completion SUBCOMMANDS -- ARGUMENT
    /// INDEX CURSOR WORDS...`, answered through ArgumentParser and vfioctl's run.
    static let wiring: [(call: [String], words: [String], expected: [String])] = [
        (["show", "--", "positional@0"], ["show", "0000:05"], ["0000:05:00.0", "0000:05:10.0"]),
        (["check", "--", "positional@0"], ["check", "0000:04"], ["0000:04:00.0", "0000:04:00.1"]),
        (["check", "--", "--group"], ["check", "--group", "7"], ["7"]),
        (["list", "--", "--group"], ["list", "--group", "7"], ["7"]),
        (["detach", "--", "positional@0"], ["detach", "pci_0000_04"], ["pci_0000_04_00_0", "pci_0000_04_00_1"]),
        (["detach", "--", "--group"], ["detach", "--group", "8"], ["8"]),
        (["reattach", "--", "positional@0"], ["reattach", "0000:05:1"], ["0000:05:10.0"]),
        (["reattach", "--", "--group"], ["reattach", "--group", "8"], ["8"]),
        (["persist", "add", "--", "positional@0"], ["persist", "add", "0000:03"], ["0000:03:00.0"]),
        (["persist", "add", "--", "--group"], ["persist", "add", "--group", "5"], ["5"]),
        (["persist", "remove", "--", "positional@0"], ["persist", "remove", "0000:03"], ["0000:03:00.0"]),
        (["xml", "hostdev", "--", "positional@0"], ["xml", "hostdev", "0000:04"], ["0000:04:00.0", "0000:04:00.1"]),
        (["xml", "hostdev", "--", "--group"], ["xml", "hostdev", "--group", "6"], ["6"]),
        (["xml", "hostdev", "--", "--mdev"], ["xml", "hostdev", "--mdev", ""], [active]),
        (["xml", "qemu-args", "--", "positional@0"], ["xml", "qemu-args", "0000:04"], ["0000:04:00.0", "0000:04:00.1"]),
        (["xml", "qemu-args", "--", "--mdev"], ["xml", "qemu-args", "--mdev", ""], [active]),
        (["xml", "interface", "--", "positional@0"], ["xml", "interface", ""], ["0000:05:10.0"]),
        (["xml", "network", "--", "--vf"], ["xml", "network", "n", "--vf", ""], ["0000:05:10.0"]),
        (["xml", "network", "--", "--pf"], ["xml", "network", "n", "--pf", ""], ["enp5s0f0"]),
        (["sriov", "status", "--", "positional@0"], ["sriov", "status", ""], ["0000:05:00.0", "enp5s0f0"]),
        (["sriov", "create", "--", "positional@0"], ["sriov", "create", ""], ["0000:05:00.0", "enp5s0f0"]),
        (["sriov", "destroy", "--", "positional@0"], ["sriov", "destroy", "e"], ["enp5s0f0"]),
        (["sriov", "set", "--", "positional@0"], ["sriov", "set", ""], ["0000:05:00.0", "enp5s0f0"]),
        (["sriov", "restore", "--", "positional@0"], ["sriov", "restore", "p"], ["pci_0000_05_00_0"]),
        (["mdev", "types", "--", "positional@0"], ["mdev", "types", ""], ["0000:04:00.0", "mtty"]),
        (["mdev", "create", "--", "positional@0"], ["mdev", "create", "m"], ["mtty"]),
        (["mdev", "create", "--", "--type"], ["mdev", "create", "mtty", "--type", ""], ["mtty-1", "mtty-2"]),
        (["mdev", "remove", "--", "positional@0"], ["mdev", "remove", ""], [defined, active].sorted()),
    ]

    @Test("every argument that names something on the host is wired to its completion")
    func wired() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        for (call, words, expected) in Self.wiring {
            let line = ["vfioctl"] + words.dropLast() + ["--root", host.fake.root, words.last ?? ""]
            let word = line.count - 1
            let result = Vfioctl.capture(["---completion"] + call + ["\(word)", "\(line[word].utf8.count)"] + line)
            #expect(result.status == 0 && result.err.isEmpty, "\(call): \(result.err)")
            #expect(result.out.split(separator: "\n").map(String.init) == expected, "\(call)")
        }
    }

    /// bash with the generated script loaded, VFIOCTL_ROOT the fake tree; `body` runs after it.
    static func bash(_ body: String, root: String) throws -> TestProcess.Result {
        try TestProcess.run("bash", ["--norc", "--noprofile", "-c", "source <(\"$VFIOCTL\" --generate-completion-script bash) || exit 3\n" + body],
                            environment: ["VFIOCTL": TestProcess.vfioctl, "VFIOCTL_ROOT": root], timeout: 60)
    }

    @Test("bash: the script passes bash -n, loads, and registers the wrapper that joins words split at ':'")
    func bashScript() throws {
        let script = try TestProcess.vfioctl(["--generate-completion-script", "bash"])
        #expect(script.status == 0 && script.out.contains("_vfioctl_joining_colons()"))
        #expect(try TestProcess.vfioctl(["--generate-completion-script=bash"]).out == script.out)
        #expect(try TestProcess.vfioctl(["--generate-completion-script"], environment: ["SHELL": "/bin/bash"]).out == script.out)
        let syntax = try TestProcess.run("bash", ["-n"], input: script.out, timeout: 60)
        #expect(syntax.status == 0, "\(syntax.err)")
        let host = try Self.host()
        defer { host.fake.remove() }
        let loaded = try Self.bash("complete -p vfioctl", root: host.fake.root)
        #expect(loaded.status == 0 && loaded.out == "complete -o filenames -F _vfioctl_joining_colons vfioctl\n", "\(loaded.err)")
    }

    /// Runs the completion function as readline calls it: COMP_WORDS split as bash splits the
    /// line (':' and '=' are word breaks: `0000:05:1` is `0000`, `:`, `05`, `:`, `1`), $2 the word
    /// readline replaces (after the last ':'), $3 the one before; prints COMPREPLY.
    static let bashCases: [(line: String, words: [String], expected: [String])] = [
        ("show ", ["show", ""], addresses),
        ("show 0000:05:1", ["show", "0000", ":", "05", ":", "1"], ["10.0"]),
        ("show 0000:", ["show", "0000", ":"], addresses.map { String($0.dropFirst(5)) }),
        ("show 0000:04:00.", ["show", "0000", ":", "04", ":", "00."], ["00.0", "00.1"]),
        ("show pci_0000_04", ["show", "pci_0000_04"], ["pci_0000_04_00_0", "pci_0000_04_00_1"]),
        ("detach 0000:02:01.0 --group 1", ["detach", "0000", ":", "02", ":", "01.0", "--group", "1"], ["1", "10"]),
        ("check 0000:02:01.0 0000:04:00.", ["check", "0000", ":", "02", ":", "01.0", "0000", ":", "04", ":", "00."], ["00.0", "00.1"]),
        ("sriov create ", ["sriov", "create", ""], ["0000:05:00.0", "enp5s0f0"]),
        ("mdev create 0000:04:00.0 --type ", ["mdev", "create", "0000", ":", "04", ":", "00.0", "--type", ""], ["gvt-1"]),
    ]

    @Test("bash: the words of an address joined back, positionals counted right, readline given what follows the last ':'")
    func bashCompletion() throws {
        let host = try Self.host()
        defer { host.fake.remove() }
        for (line, words, expected) in Self.bashCases {
            let all = ["\"$VFIOCTL\""] + words.map { "'\($0)'" }
            let current = words.last ?? ""
            let body = """
                COMP_WORDS=(\(all.joined(separator: " "))); COMP_CWORD=\(words.count)
                COMP_LINE="$VFIOCTL \(line)"; COMP_POINT=${#COMP_LINE}
                _vfioctl_joining_colons vfioctl '\(current == ":" ? "" : current)' '\(words.count > 1 ? words[words.count - 2] : "vfioctl")'
                printf '%s\\n' "${COMPREPLY[@]}"
                """
            let result = try Self.bash(body, root: host.fake.root)
            #expect(result.status == 0, "\(line): \(result.err)")
            #expect(result.out.split(separator: "\n").map(String.init) == expected, "\(line)")
        }
    }

    @Test("zsh: the script passes zsh -n and compinit registers _vfioctl for vfioctl")
    func zshScript() throws {
        let script = try TestProcess.vfioctl(["--generate-completion-script", "zsh"])
        #expect(script.status == 0)
        let syntax = try TestProcess.run("zsh", ["-n"], input: script.out, timeout: 60)
        #expect(syntax.status == 0, "\(syntax.err)")
        let loaded = try TestProcess.run("zsh", ["-f", "-c", "autoload -U compinit && compinit -u -D && source <(\"$VFIOCTL\" --generate-completion-script zsh) && print -r -- ${_comps[vfioctl]}"],
                                         environment: ["VFIOCTL": TestProcess.vfioctl], timeout: 60)
        #expect(loaded.status == 0 && loaded.out == "_vfioctl\n", "\(loaded.out) \(loaded.err)")
    }

    @Test("fish: the script passes fish --no-execute and loads; its completions call vfioctl back")
    func fishScript() throws {
        let script = try TestProcess.vfioctl(["--generate-completion-script", "fish"])
        #expect(script.status == 0)
        #expect(script.out.contains("---completion show -- positional@0") && script.out.contains("---completion sriov create -- positional@0"))
        let syntax = try TestProcess.run("fish", ["--no-config", "--no-execute"], input: script.out, timeout: 60)
        #expect(syntax.status == 0, "\(syntax.err)")
        let loaded = try TestProcess.run("fish", ["--no-config", "-c", "\"$VFIOCTL\" --generate-completion-script fish | source; and complete -c vfioctl | count"],
                                         environment: ["VFIOCTL": TestProcess.vfioctl], timeout: 60)
        #expect(loaded.status == 0 && (Int(loaded.out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) > 50, "\(loaded.out) \(loaded.err)")
    }
}
