import Testing
import VFIOTestSupport
import VFIOCore

/// The shell reading behind the GRUB and mkinitcpio edits: which assignment takes effect and
/// what value it gives, as /bin/sh and bash would.
@Suite("shell scripts read as the shell reads them")
struct ShellScriptTests {
    /// The value `name` ends with when known, "?" when uncertain, nil when unset.
    static func value(_ text: String, _ name: String = "V") -> String? {
        let script = ShellScript(Array(text.utf8))
        #expect(script.error == nil, "\(text.debugDescription): \(script.error.map(\.message) ?? "")")
        switch script.state(of: name) {
        case .unset: return nil
        case .uncertain: return "?"
        case .known(let index):
            return String(decoding: script.assignments[index].value.map { $0.origin == .file || $0.origin == .escaped ? $0.byte : UInt8(ascii: "?") },
                          as: UTF8.self)
        }
    }

    @Test("values as the shell gives them", arguments: [
        ("V=a\n", "a"),
        ("V='a b\nc'\n", "a b\nc"),
        ("V=\"a \\\nb\"\n", "a b"),
        ("V=a\\\nb\n", "ab"),
        ("V=\"a\"\r\n", "a\r"),
        ("V=a\rW=b\n", "a\rW=b"),
        ("# V=x\nV=y # V=z\n", "y"),
        ("V=a#b\n", "a#b"),
        ("V=1; W=2; V=3\n", "3"),
        ("export V=\"x y\"\n", "x y"),
        ("A=b\nV=\"$A-${A}\"\n", "b-b"),
        ("V=x\nV=\"$V y\"\n", "x y"),
        ("V=x V=\"$V$V\"\n", "xx"),
        ("V=a\nV+=b\n", "ab"),
        ("V=\"\\$x \\\" \\\\ \\a\"\n", "$x \" \\ \\a"),
        ("V='$x `y` \\'\n", "$x `y` \\"),
        ("V=\"$(echo \"a)\") b\"\n", "? b"),
        ("V=`echo a`\n", "?"),
        ("V=${X:-a}\n", "?"),
        ("V=$((1+(2)))\n", "?"),
        ("cat <<EOF\nV=no\nEOF\nV=yes\n", "yes"),
        ("cat <<-'E'\n\tV=no\n\tE\n", nil),
        ("V=(a b)\n", "a b"),
        ("V=(a b)c\n", "?c"),
        ("V=a\nunset V\n", nil),
    ] as [(String, String?)])
    func values(text: String, value: String?) {
        #expect(Self.value(text) == value, "\(text.debugDescription)")
    }

    @Test("assignments that may or may not take effect leave the variable uncertain", arguments: [
        "if true; then V=a; fi\n", "true && V=a\n", "false || V=a\n", "V=a | cat\n", "V=a &\n", "(V=a)\n", "{ V=a; }\n",
        "f() { V=a; }\n", "function f { V=a; }\n", "for V in a b; do :; done\n", "while false; do V=a; done\n",
        "case x in x) V=a;; esac\n", "V=a cmd\n", "read V\n", "V=a\neval \"V=b\"\n", "V=a\n. /etc/other\n", "true &&\n  V=a\n",
        "V=a\nif false; then unset V; fi\n", "export -n V=a\n",
    ])
    func uncertain(text: String) {
        #expect(Self.value(text) == "?", "\(text.debugDescription)")
    }

    @Test("what is not a shell script is a syntax error with where it is, never a crash", arguments: [
        "V=\"a\n", "V='a\n", "V=$(a\n", "V=${a\n", "if true; then V=a\n", "fi\n", "cat <<EOF\nV=a\n", "V=a >\n", "case x in\n", ")\n",
    ])
    func syntaxErrors(text: String) {
        #expect(ShellScript(Array(text.utf8)).error != nil, "\(text.debugDescription)")
    }

    @Test("hostile input: deep nesting, doubling references and random bytes end quickly without a crash")
    func hostile() {
        let deep = String(repeating: "$(", count: 100_000)
        #expect(ShellScript(Array(("V=" + deep + "\n").utf8)).error != nil)
        let doubling = "V=ab\n" + String(repeating: "V=\"$V$V\"\n", count: 64)
        #expect(ShellScript(Array(doubling.utf8)).error == nil)
        let copying = "A=" + String(repeating: "a", count: 100_000) + "\n" + String(repeating: "V=\"$A$A\"\n", count: 200)
        #expect(ShellScript(Array(copying.utf8)).error?.message.contains("too much to follow") == true)
        var generator = SeededGenerator(seed: 15)
        let alphabet = Array("V=\"'$`\\(){}[]#;&|<>\n\r\t abc-~:=+!*?@0123456789".utf8) + [0xff, 0xc3, 0x00]
        for _ in 0..<3000 {
            let length = Int(generator.next() % 80)
            let bytes = (0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }
            let script = ShellScript(bytes)
            _ = try? GrubDefault.ensure(["intel_iommu=on", "iommu=pt"], in: bytes)
            _ = script.state(of: "V")
        }
    }

    @Test("/etc/kernel/cmdline: words replaced where they stand, missing ones appended, one newline at the end")
    func kernelCommandLine() {
        var changes: [String] = []
        let new = GrubDefault.ensure(["intel_iommu=on", "iommu=pt"], inCommandLine: Array("root=/dev/sda1 intel_iommu=off quiet\n\n".utf8),
                                     label: nil, changes: &changes)
        #expect(String(decoding: new, as: UTF8.self) == "root=/dev/sda1 intel_iommu=on quiet iommu=pt\n")
        #expect(changes == ["intel_iommu=off -> intel_iommu=on", "add iommu=pt"])
    }
}
