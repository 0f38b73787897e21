import Foundation
import Glibc
import Testing
import VFIOTestSupport

/// `show` looks a function's modules up with libkmod, which opens the root's module indexes with
/// a blocking fopen: FIFOs and links planted there (and at the function's modalias) must end in
/// "unknown" or an error, never a hang or a read outside the root.
@Suite("Hostile module indexes")
struct ModuleIndexCases {
    @Test("FIFOs and links at modules.alias.bin, the builtin indexes and modalias: no hang, nothing read outside")
    func plantedFiles() throws {
        let sandbox = try Sandbox(copying: nil)
        defer { sandbox.remove() }
        var fake = FakeSysfs(root: sandbox.root)
        fake.withIOMMU()
        fake.add(FakeFunction("0000:01:00.0", vendor: 0x8086, device: 0x10d3, class: 0x020000, group: 1, driver: "e1000e"))
        fake.moduleAliases = ["e1000e": ["pci:v00008086d000010D3sv*sd*bc*sc*i*"]]
        fake.build()
        var runner = Runner(sandbox, family: "module-index")
        let directory = sandbox.root + "/lib/modules/" + fake.kernelRelease
        let device = try #require(realpath(sandbox.root + "/sys/bus/pci/devices/0000:01:00.0", nil))
        let modalias = String(cString: device) + "/modalias"
        free(device)
        let show = ["show", "0000:01:00.0", "--root", sandbox.root]

        let genuine = runner.run(0, "the genuine index", show)
        #expect(genuine?.status == 0 && ModuleIndexCases.modules(genuine?.out) == "e1000e", "\(genuine?.out ?? "")")

        let saved = sandbox.scratch + "/modules.alias.bin"
        rename(directory + "/modules.alias.bin", saved)
        let cases: [(what: String, plant: () -> Void, status: Int32, says: String)] = [
            ("a FIFO at modules.alias.bin", { mkfifo(directory + "/modules.alias.bin", 0o644) }, 0, "unknown"),
            ("a FIFO at modules.builtin.alias.bin", {
                link(saved, directory + "/modules.alias.bin")
                mkfifo(directory + "/modules.builtin.alias.bin", 0o644)
            }, 0, "unknown"),
            ("modules.alias.bin linked to a FIFO outside the root", {
                symlink(sandbox.outside + "/fifo", directory + "/modules.alias.bin")
            }, 0, "unknown"),
            ("modules.alias.bin linked to a file outside the root", {
                symlink(sandbox.outside + "/precious", directory + "/modules.alias.bin")
            }, 0, "unknown"),
            ("a FIFO at modalias", {
                link(saved, directory + "/modules.alias.bin")
                rename(modalias, sandbox.scratch + "/modalias")
                mkfifo(modalias, 0o644)
            }, 1, "error: "),
        ]
        for (index, planted) in cases.enumerated() {
            planted.plant()
            let result = runner.run(index + 1, planted.what, show)
            #expect(result?.status == planted.status, "\(planted.what): \(result?.err ?? "")")
            #expect(ModuleIndexCases.modules(result?.out) == planted.says || (result?.err ?? "").contains(planted.says),
                    "\(planted.what): \(result?.out ?? "") \(result?.err ?? "")")
            unlink(directory + "/modules.alias.bin")
            unlink(directory + "/modules.builtin.alias.bin")
        }
        #expect(runner.failures.isEmpty, "\(runner.summary)")
    }

    /// What show's "kernel modules:" line says.
    static func modules(_ out: String?) -> String? {
        (out ?? "").split(separator: "\n").first { $0.hasPrefix("  kernel modules:") }
            .map { $0.dropFirst("  kernel modules:".count).trimmingCharacters(in: .whitespaces) }
    }
}
