import Foundation
import Glibc
import Testing
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// Hostile input (issue 15): files the user names, what libvirt's hook is handed, the journal and
/// the state directory. The built binary runs each case that crashed or hung (a trap or a stack
/// overflow would take the test runner with it): it must end in time with exit 1, 2 or 64 and an
/// `error:` line naming the value.
@Suite("hostile input: no crash, no hang, a clear error")
struct HostileInputTests {
    /// A fresh directory holding `files`, removed by the caller.
    static func directory(_ files: [String: String] = [:]) throws -> String {
        let path = FakeSysfs().root
        for (name, text) in files { try text.write(toFile: path + "/" + name, atomically: true, encoding: .utf8) }
        return path
    }

    /// The binary, at most `timeout` seconds.
    static func run(_ arguments: [String], input: String? = nil, timeout: Double = 60) throws -> TestProcess.Result {
        try TestProcess.run(TestProcess.vfioctl, arguments, input: input, timeout: timeout)
    }

    static func expectError(_ result: TestProcess.Result, status: Int32, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!result.timedOut, "timed out", sourceLocation: sourceLocation)
        #expect(result.status == status, "exit \(result.status): \(result.err.prefix(2000))", sourceLocation: sourceLocation)
        #expect(result.err.hasPrefix("error: ") && result.err.contains(message), "\(result.err.prefix(2000))", sourceLocation: sourceLocation)
        #expect(result.err.contains("\nhint: "), "\(result.err.prefix(2000))", sourceLocation: sourceLocation)
    }

    // MARK: XML (issue 15, item 3)

    /// 30000 nested elements, 210 KB: a stack overflow in the recursive reader before the limit.
    static let deepXML = "<domain type='kvm'><name>g</name><metadata>" + String(repeating: "<a>", count: 30000)
        + String(repeating: "</a>", count: 30000) + "</metadata></domain>"

    @Test("XML nested 30000 levels: check --domain, cpu baseline and cpu compare refuse it (exit 64) instead of overflowing the stack")
    func deepXMLFiles() throws {
        let fake = commandFixture()
        defer { fake.remove() }
        let directory = try Self.directory(["deep.xml": Self.deepXML])
        defer { FakeSysfs.removeTree(directory) }
        let file = directory + "/deep.xml"
        let nesting = "deep.xml: malformed XML at line 1: elements nested deeper than 256 levels"
        Self.expectError(try Self.run(["check", "--domain", file, "--root", fake.root]), status: 64, nesting)
        Self.expectError(try Self.run(["cpu", "baseline", file]), status: 64, nesting)
        Self.expectError(try Self.run(["cpu", "compare", file]), status: 64, nesting)
        Self.expectError(try Self.run(["xml", "cpu", "--baseline", file]), status: 64, nesting)
    }

    @Test("50,000 attributes on one element: parsed in one pass (the duplicate check scanned every earlier attribute), a duplicate still refused")
    func manyAttributes() throws {
        let fake = commandFixture()
        defer { fake.remove() }
        let attributes = (0..<50_000).map { " a\($0)='\($0)'" }.joined()
        let directory = try Self.directory(["wide.xml": "<domain type='kvm'\(attributes)><name>g</name></domain>",
                                            "twice.xml": "<domain type='kvm'\(attributes) a17='x'><name>g</name></domain>"])
        defer { FakeSysfs.removeTree(directory) }
        let wide = try Self.run(["check", "--domain", directory + "/wide.xml", "--root", fake.root], timeout: 20)
        #expect(!wide.timedOut && !wide.signaled && [0, 2].contains(wide.status), "exit \(wide.status): \(wide.err.prefix(500))")
        Self.expectError(try Self.run(["check", "--domain", directory + "/twice.xml", "--root", fake.root], timeout: 20), status: 64,
                         "attribute 'a17' appears twice in <domain>")
    }

    @Test("XML nested 30000 levels on the libvirt hook's stdin: exit 2, so scripts/libvirt-hook stops the guest instead of starting it unchecked")
    func deepXMLHook() throws {
        let fake = commandFixture()
        defer { fake.remove() }
        let result = try Self.run(["check", "--libvirt-hook", "--root", fake.root], input: Self.deepXML)
        Self.expectError(result, status: 2, "stdin: malformed XML at line 1: elements nested deeper than 256 levels")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/libvirt-hook").path
        let hook = try TestProcess.run("/bin/sh", [script, "guest1", "prepare", "begin", "-"],
                                       environment: ["VFIOCTL": TestProcess.vfioctl, "VFIOCTL_ROOT": fake.root], input: Self.deepXML, timeout: 60)
        #expect(hook.status == 1 && !hook.err.contains("starts unchecked") && hook.err.contains("nested deeper than 256 levels"), "\(hook.err)")
        // Any domain the hook cannot read stops the start too: it must not be a way around the check.
        let malformed = try Self.run(["check", "--libvirt-hook", "--root", fake.root], input: "<domain><devices></domain>")
        Self.expectError(malformed, status: 2, "stdin: malformed XML at line 1")
    }
}
