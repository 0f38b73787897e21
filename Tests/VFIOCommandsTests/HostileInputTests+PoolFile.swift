import Foundation
import Glibc
import Testing
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// Pool files built to exhaust the readers (issue 15, item 4).
extension HostileInputTests {
    /// 9 levels of 9 aliases each: under 400 bytes standing for 9^9 values.
    static var bombText: String {
        var lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
        let levels = Array("abcdefghi").map(String.init)
        for index in 1..<levels.count {
            let aliases = [String](repeating: "*" + levels[index - 1], count: 9)
            lines.append(levels[index] + ": &" + levels[index] + " [" + aliases.joined(separator: ", ") + "]")
        }
        return lines.joined(separator: "\n") + "\npf: [*i]\n"
    }

    @Test("a YAML alias bomb of under 400 bytes: apply --dry-run and xml network --pool refuse it at once (exit 64), without expanding it")
    func aliasBomb() throws {
        #expect(Self.bombText.utf8.count < 400)
        let fake = commandFixture()
        defer { fake.remove() }
        let directory = try Self.directory(["bomb.yaml": Self.bombText])
        defer { FakeSysfs.removeTree(directory) }
        let file = directory + "/bomb.yaml"
        let message = "bomb.yaml:6: aliases (*e and the others) expand to more than 100000 values"
        // At most 1 GiB of address space: a regression must fail here, not take the machine's memory.
        func limited(_ arguments: [String]) throws -> TestProcess.Result {
            try TestProcess.run("/bin/sh", ["-c", "ulimit -v 1048576; exec \"$0\" \"$@\"", TestProcess.vfioctl] + arguments, timeout: 30)
        }
        Self.expectError(try limited(["apply", file, "--dry-run", "--root", fake.root, "--state-dir", directory]), status: 64, message)
        Self.expectError(try limited(["xml", "network", "--pool", file, "--root", fake.root]), status: 64, message)
    }

    @Test("pool files nested 100000 levels (TOML arrays, inline tables, dotted keys, headers; YAML flow collections) are refused (exit 64)",
          arguments: [
              ("deep.toml", "pf = " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "\n"),
              ("deep.toml", "pf = " + String(repeating: "{a=", count: 100_000) + "1" + String(repeating: "}", count: 100_000) + "\n"),
              ("deep.toml", Array(repeating: "a", count: 100_000).joined(separator: ".") + " = 1\n"),
              ("deep.toml", "[" + Array(repeating: "a", count: 100_000).joined(separator: ".") + "]\n"),
              ("deep.yaml", "pf: " + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "\n"),
              ("deep.yaml", "pf: " + String(repeating: "{a: ", count: 100_000) + "1" + String(repeating: "}", count: 100_000) + "\n"),
          ])
    func deepPoolFile(name: String, text: String) throws {
        let fake = commandFixture()
        defer { fake.remove() }
        let directory = try Self.directory([name: text])
        defer { FakeSysfs.removeTree(directory) }
        let message = "\(name):1: values nested deeper than 64 levels"
        Self.expectError(try Self.run(["apply", directory + "/" + name, "--dry-run", "--root", fake.root, "--state-dir", directory]),
                         status: 64, message)
        Self.expectError(try Self.run(["xml", "network", "--pool", directory + "/" + name, "--root", fake.root]), status: 64, message)
    }
}
