import ArgumentParser
import Glibc
import VFIOActuator
import VFIOCore

/// The root command.
public struct Vfioctl: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "vfioctl",
        abstract: "Manage PCI passthrough on a Linux KVM host: IOMMU groups, vfio-pci, SR-IOV, libvirt XML.",
        discussion: """
            Every command reads the host under --root DIR (default /; VFIOCTL_ROOT=DIR works too).
            JSON output (--format json) is a stable contract; text output is for people.

            Exit status: 0 ok · 1 the operation failed · 2 a check found a blocking problem or a \
            guard refused · 64 usage error. Every non-zero status comes with an 'error:' line on stderr, \
            except the verdicts of check and cpu compare (exit 2), whose report gives the reasons.
            """,
        version: "0.1.0",
        subcommands: [List.self, Groups.self, Show.self, Check.self, Detach.self, Reattach.self, Recover.self, Persist.self, SRIOV.self, Mdev.self, Apply.self, XML.self, Export.self,
                      Config.self, CPU.self, Snapshot.self, Metrics.self, Manual.self])

    public init() {}

    /// Runs the command line and returns the exit status. All diagnostics go to stderr as
    /// `error:` / `hint:` lines; results go to stdout. Commands read and act on the host the
    /// invocation names (the process's environment, or a test's fake tree and simulations).
    public static func run(_ arguments: [String], invocation: Invocation = .fromEnvironment()) -> Int32 {
        if let script = CompletionScript.requested(arguments) {
            Output.write(script)
            return 0
        }
        do {
            let arguments = joiningNegativeNumbers(hoistingGlobalOptions(arguments))
            if let name = arguments.first, !name.hasPrefix("-"), name != "help" {
                let names = configuration.subcommands.map { $0._commandName }
                guard names.contains(name) else {
                    let shown = configuration.subcommands.filter { $0.configuration.shouldDisplay }.map { $0._commandName }
                    throw VFIOError.usage("unknown command '\(name.printable)'",
                                          hint: "commands are " + shown.joined(separator: ", ") + " (see 'vfioctl --help')")
                }
            }
            var command = try parseAsRoot(arguments)
            if let command = command as? any VfioctlCommand {
                try command.run(in: invocation)
            } else {
                try command.run()
            }
            return 0
        } catch {
            return report(error)
        }
    }

    /// `vfioctl --root DIR config status` means `vfioctl config status --root DIR`: options every
    /// command takes may also come before the command name (they go last, where the innermost
    /// subcommand finds them, however deep it is).
    static func hoistingGlobalOptions(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var rest = arguments[...]
        while let first = rest.first {
            if first == "--root", rest.count >= 2 {
                leading += rest.prefix(2)
                rest = rest.dropFirst(2)
            } else if first.hasPrefix("--root=") {
                leading.append(first)
                rest = rest.dropFirst()
            } else {
                break
            }
        }
        guard !leading.isEmpty, let command = rest.first, !command.hasPrefix("-") else { return arguments }
        return Array(rest) + leading
    }

    /// Options whose value is a number.
    static let numericOptions: Set<String> = ["--group", "--count", "--vf", "--qos", "--min-tx-rate", "--max-tx-rate", "--wait", "--vlan"]

    /// `--group -1` means `--group=-1`: the parser would take "-1" for an option and say the value
    /// is missing; joined, the command itself says why -1 is not a group.
    static func joiningNegativeNumbers(_ arguments: [String]) -> [String] {
        var out: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--" { return out + arguments[index...] }
            if numericOptions.contains(argument), index + 1 < arguments.count,
               let next = arguments[index + 1].utf8.dropFirst().first, arguments[index + 1].hasPrefix("-"),
               next >= UInt8(ascii: "0") && next <= UInt8(ascii: "9") || next == UInt8(ascii: ".") {
                out.append(argument + "=" + arguments[index + 1])
                index += 2
                continue
            }
            out.append(argument)
            index += 1
        }
        return out
    }

    /// Runs with output captured (for tests): (exit status, stdout, stderr).
    public static func capture(_ arguments: [String], invocation: Invocation = .fromEnvironment()) -> (status: Int32, out: String, err: String) {
        let sink = OutputSink()
        let status = Output.$sink.withValue(sink) { run(arguments, invocation: invocation) }
        return (status, sink.standardOutput, sink.standardError)
    }

    static func report(_ error: any Error) -> Int32 {
        if let error = error as? VFIOError {
            Output.diagnostic("error", error.message)
            if let hint = error.hint { Output.hint(hint) }
            return error.exitCode
        }
        if let exit = error as? ExitCode { return exit.rawValue }
        let code = exitCode(for: error).rawValue
        let message = fullMessage(for: error)
        if code == 0 {
            Output.write(message.hasSuffix("\n") ? message : message + "\n")
            return 0
        }
        var lines = message.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if let first = lines.first, first.hasPrefix("Error: ") {
            lines[0] = "error: " + first.dropFirst(7)
        } else if let first = lines.first {
            lines[0] = "error: " + first
        }
        Output.write(lines.joined(separator: "\n").trimmingWhitespace() + "\n", to: STDERR_FILENO)
        return code == ExitCode.validationFailure.rawValue ? 64 : code
    }
}
