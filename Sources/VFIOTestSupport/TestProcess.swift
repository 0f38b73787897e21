import Foundation
import Glibc

/// Runs programs from tests: the built `vfioctl`, QEMU, modprobe.
public enum TestProcess {
    public struct Result: Sendable {
        public var status: Int32
        public var out: String
        public var err: String
        public var timedOut: Bool
    }

    /// The `vfioctl` under test: VFIOCTL_BIN (the lab runs the release build), else the one built
    /// next to the running test bundle.
    public static var vfioctl: String {
        if let path = ProcessInfo.processInfo.environment["VFIOCTL_BIN"], !path.isEmpty { return path }
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [bundle, bundle.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("vfioctl").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return bundle.appendingPathComponent("vfioctl").path
    }

    /// Runs `executable` (a path, or a name looked up on PATH) and waits at most `timeout` seconds.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                           input: String? = nil, timeout: Double = 300) throws -> Result {
        let process = Process()
        if executable.contains("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + arguments
        }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        let err = Pipe()
        let stdin = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin
        // A child may exit without reading its input (a hook script for another operation):
        // the write must fail with EPIPE, not kill the test process with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        try process.run()
        if let input { try? stdin.fileHandleForWriting.write(contentsOf: Data(input.utf8)) }
        try? stdin.fileHandleForWriting.close()
        // Read both pipes while waiting, so a chatty child cannot block on a full pipe.
        nonisolated(unsafe) var outData = Data()
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { outData = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        var timedOut = false
        if group.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            // SIGKILL, not terminate(): a child spawned from a dispatch thread inherits its
            // blocked signals, SIGTERM included, so a hung child would never end.
            kill(process.processIdentifier, SIGKILL)
            _ = group.wait(timeout: .now() + 5)
        }
        process.waitUntilExit()
        return Result(status: process.terminationStatus, out: String(decoding: outData, as: UTF8.self),
                      err: String(decoding: errData, as: UTF8.self), timedOut: timedOut)
    }

    /// `vfioctl ARGS...`
    public static func vfioctl(_ arguments: [String], environment: [String: String] = [:], input: String? = nil) throws -> Result {
        try run(vfioctl, arguments, environment: environment, input: input)
    }

    /// The JSON object a command printed.
    public static func json(_ text: String) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw CocoaError(.coderReadCorrupt)
        }
        return object
    }
}
