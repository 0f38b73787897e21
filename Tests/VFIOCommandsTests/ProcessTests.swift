import Foundation
import Testing
import VFIOTestSupport

/// The built executable, run as a process: exit statuses, stream separation, VFIOCTL_ROOT.
enum Binary {
    static var path: String {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [bundle, bundle.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("vfioctl").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return bundle.appendingPathComponent("vfioctl").path
    }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }
}

@Suite("The vfioctl executable")
struct ProcessTests {
    @Test("the binary is built next to the tests")
    func exists() {
        #expect(FileManager.default.isExecutableFile(atPath: Binary.path), "no executable at \(Binary.path)")
    }

    @Test("VFIOCTL_ROOT selects the root like --root")
    func environmentRoot() throws {
        let fake = commandFixture()
        defer { fake.remove() }
        let viaEnvironment = try Binary.run(["list", "--format", "json"], environment: ["VFIOCTL_ROOT": fake.root])
        let viaOption = try Binary.run(["list", "--format", "json", "--root", fake.root])
        #expect(viaEnvironment.status == 0)
        #expect(viaEnvironment.out == viaOption.out)
        #expect(viaEnvironment.out.contains("10000:e1:10.0"))
    }

    @Test("exit statuses and streams: results on stdout, error and hint on stderr")
    func statuses() throws {
        let fake = commandFixture()
        defer { fake.remove() }
        let bad = try Binary.run(["show", "1:2", "--root", fake.root])
        #expect(bad.status == 64 && bad.out.isEmpty)
        #expect(bad.err.contains("error: '1:2' is not a PCI address") && bad.err.contains("hint: "))
        let missing = try Binary.run(["show", "0000:0f:00.0", "--root", fake.root])
        #expect(missing.status == 1 && missing.out.isEmpty)
        let ok = try Binary.run(["show", "0000:01:00.0", "--root", fake.root])
        #expect(ok.status == 0 && ok.err.isEmpty && ok.out.hasPrefix("0000:01:00.0"))
    }
}
