import ArgumentParser
import Foundation
import Glibc
import Testing
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// Numbers on the command line (issue 15, item 11).
extension HostileInputTests {
    @Test("--group -1: 'is not an IOMMU group number' with a hint, for every command that takes --group", arguments: [
        ["check"], ["detach", "--dry-run"], ["reattach", "--dry-run"], ["persist"], ["xml", "hostdev"], ["xml", "qemu-args"], ["list"],
    ])
    func negativeGroup(command: [String]) {
        let fake = commandFixture()
        defer { fake.remove() }
        for group in ["-1", "-2147483649", "2147483648"] {
            let result = Vfioctl.capture(command + ["--group", group, "--root", fake.root])
            #expect(result.status == 64 && result.err.hasPrefix("error: '\(group)' is not an IOMMU group number\nhint: "), "\(command): \(result.err)")
        }
    }

    @Test("negative counts, VF indices, VLANs, priorities, rates and waits: usage errors naming the value", arguments: [
        (["sriov", "create", "enp1s0", "--count", "-1"], "--count -1 is not a number of VFs to create"),
        (["sriov", "create", "enp1s0", "--count", "0"], "--count 0 is not a number of VFs to create"),
        (["sriov", "set", "enp1s0", "--vf", "-1", "--trust", "on"], "--vf -1 is not a VF index"),
        (["sriov", "set", "enp1s0", "--vf", "0", "--vlan", "-5"], "--vlan '-5' is not a VLAN id from 1 to 4094"),
        (["sriov", "set", "enp1s0", "--vf", "0", "--vlan", "5", "--qos", "-1"], "qos -1 is not a priority from 0 to 7"),
        (["sriov", "set", "enp1s0", "--vf", "0", "--max-tx-rate", "-1"], "rates are Mbit/s from 0"),
        (["sriov", "set", "enp1s0", "--vf", "0", "--min-tx-rate", "-1"], "rates are Mbit/s from 0"),
        (["sriov", "restore", "enp1s0", "--vf", "-2"], "--vf -2 is not a VF index"),
        (["detach", "--group", "14", "--wait", "-1"], "--wait takes 0 to 3600 seconds, not -1.0"),
        (["xml", "interface", "0000:01:00.0", "--vlan", "-3"], "VLAN '-3' is not a tag from 1 to 4094"),
    ] as [([String], String)])
    func negativeNumbers(arguments: [String], message: String) {
        let fake = commandFixture()
        defer { fake.remove() }
        let result = Vfioctl.capture(arguments + ["--root", fake.root])
        #expect(result.status == 64 && result.err.hasPrefix("error: ") && result.err.contains(message), "\(result.err)")
    }
}

/// Every non-zero exit comes with an `error:` line on stderr, except the verdicts of check and
/// cpu compare (exit 2), whose report is the reason.
@Suite("non-zero exits say why on stderr")
struct ExitReasonTests {
    typealias Host = BindingCommandTests.Host

    @Test("persist status with a refused set: exit 1 with an error line naming the set and why, and a hint")
    func persistStatusRefused() throws {
        let host = try Host()
        defer { host.fake.remove() }
        #expect(host.run(["persist", "0000:02:01.0", "--write"]).status == 0)
        let path = host.fake.root + "/etc/vfioctl/persist.conf"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.components(separatedBy: "\n").filter { !$0.contains("address=0000:02:02.0") }.joined(separator: "\n")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let status = host.run(["persist", "status"])
        #expect(status.status == 1 && status.out.contains("refused"), "\(status.out)")
        #expect(status.err.hasPrefix("error: set 0000:02:01.0 is refused: group 3 now also holds 0000:02:02.0, which is not recorded"),
                "\(status.err)")
        #expect(status.err.contains("\nhint: 'vfioctl persist ADDRESS --write' records a moved device again"), "\(status.err)")
    }

    @Test("a refused detach (exit 2): the report on stdout, its first reason as an error line with the finding's hint on stderr")
    func refusedPlan() throws {
        let host = try Host()
        defer { host.fake.remove() }
        let refused = host.run(["detach", "0000:03:00.0"])
        #expect(refused.status == 2 && refused.out.contains("refused: nothing was changed"), "\(refused.out)")
        #expect(refused.err.hasPrefix("error: detach refused, nothing was changed: 0000:03:00.0: "), "\(refused.err)")
        #expect(refused.err.contains("\nhint: "), "\(refused.err)")
    }
}

@Suite("the command tree")
struct CommandTreeTests {
    /// A command without an explicit name is named by ArgumentParser from `String(describing:)` of
    /// its type, at every start: a protocol-conformance scan of the whole (static) binary per
    /// command, which was half of the process's start (5 of 11 ms). Every command names itself.
    @Test("every command names itself in its configuration")
    func everyCommandIsNamed() {
        func walk(_ command: ParsableCommand.Type, _ path: String) -> [String] {
            let configuration = command.configuration
            let here = configuration.commandName == nil ? ["\(path) \(command)"] : []
            return here + configuration.subcommands.flatMap { walk($0, "\(path) \(configuration.commandName ?? "?")") }
        }
        #expect(walk(Vfioctl.self, "").isEmpty)
    }
}
