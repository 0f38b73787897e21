import Glibc
import Testing
import VFIOCore
@testable import VFIODeviceLayer
import VFIOTestSupport

/// Links in a tree under --root lead inside it and nowhere else: an absolute target and ".."
/// resolve in the root (as SysfsPaths.resolve does), whether the kernel resolves them
/// (openat2 RESOLVE_IN_ROOT) or the reader walks them itself (kernels before 5.6).
@Suite("Reads stay inside the root")
struct ConfinementTests {
    /// A file outside every root, and its text.
    static func outsideFile(_ text: String) -> (path: String, remove: () -> Void) {
        let outside = FakeSysfs()
        outside.write("secret", text)
        outside.makeDirectory("iommu_groups/77/devices")
        return (outside.root + "/secret", { outside.remove() })
    }

    @Test("an attribute that is a link is refused, whatever it points at, and its target is never read")
    func attributeLink() throws {
        let (secret, remove) = Self.outsideFile("4\n")
        defer { remove() }
        var fake = FakeSysfs()
        defer { fake.remove() }
        fake.add(FakeFunction("0000:01:00.0", vendor: 0x8086, device: 0x10d3, class: 0x020000, group: 1, driver: "e1000e"))
        fake.build()
        let numa = fake.root + "/" + fake.devicePath(PCIAddress("0000:01:00.0")!) + "/numa_node"
        unlink(numa)
        symlink(secret, numa)
        let root = try HostRoot(fake.root)
        #expect(throws: VFIOError.failed("sys/bus/pci/devices/0000:01:00.0/numa_node is a symbolic link, not a file the kernel writes",
                                         hint: TreeDamage.hint(root))) {
            try DeviceLayer(root: root, idsPath: Fixtures.pciIDs).snapshot()
        }
    }

    @Test("facts files and directories behind absolute or climbing links are looked up inside the root")
    func factLinks() throws {
        let (secret, remove) = Self.outsideFile("intel_iommu=on secret-from-outside\n")
        defer { remove() }
        var fake = FakeSysfs()
        defer { fake.remove() }
        fake.add(FakeFunction("0000:01:00.0", vendor: 0x8086, device: 0x10d3, class: 0x020000, group: 1, driver: "e1000e"))
        fake.build()
        unlink(fake.root + "/proc/cmdline")
        symlink(secret, fake.root + "/proc/cmdline")
        // sys/class/iommu -> ../../../../../../.. (as many as it takes to reach "/" from the root) + /sys/class/iommu
        FakeSysfs.removeTree(fake.root + "/sys/class/iommu")
        symlink(String(repeating: "../", count: 40) + SysfsPaths.directory(of: secret) + "/iommu_groups", fake.root + "/sys/class/iommu")
        let root = try HostRoot(fake.root)
        let facts = FactsReader(root: root).read(for: [])
        #expect(facts.commandLine.value("intel_iommu") == nil)
        #expect(root.text("proc/cmdline") == nil)
        #expect(root.entries("sys/class/iommu") == nil)
        // Where the links lead inside the root, they are followed.
        fake.write(String(secret.dropFirst()), "inside\n")
        #expect(root.text("proc/cmdline") == "inside\n")
        #expect(FileRead.text(fake.root + "/proc/cmdline")?.contains("secret-from-outside") == true, "the link leads outside when followed plainly")
    }

    /// A tree of links of every kind: (path, what opening it must give: a file's text, or nil when nothing there).
    static func tricky(_ fake: FakeSysfs) -> [(String, String?)] {
        fake.write("a/b/file", "b-file")
        fake.write("top", "top")
        symlink("/a/b", fake.root + "/abs")                   // absolute: from the root
        symlink("../../../../../../top", fake.root + "/a/up") // climbs above the root: stops there
        symlink("b/../b/file", fake.root + "/a/rel")
        symlink("../abs/file", fake.root + "/a/chain")        // a link to a path through another link
        symlink("loop2", fake.root + "/loop1")
        symlink("loop1", fake.root + "/loop2")
        symlink("/nonexistent", fake.root + "/dangling")
        return [("abs/file", "b-file"), ("a/up", "top"), ("a/rel", "b-file"), ("a/chain", "b-file"), ("abs/../../top", "top"), ("abs/../top", nil),
                ("../../top", "top"), ("/a/b/file", "b-file"), ("./a/./b/file", "b-file"), ("loop1", nil), ("dangling", nil),
                ("a/b/file/x", nil), ("abs/../../../a/up", "top")]
    }

    @Test("openat2 and the reader's own walk resolve links alike")
    func walkMatchesKernel() throws {
        let fake = FakeSysfs()
        defer { fake.remove() }
        let root = try HostRoot(fake.root)
        for (path, expected) in Self.tricky(fake) {
            let walked = root.walk(path, O_RDONLY | O_CLOEXEC)
            let text = walked >= 0 ? FileRead.read(opened: walked, limit: 100).map { String(decoding: $0, as: UTF8.self) } : nil
            #expect((try? text?.get()) == expected, "walk \(path)")
            if HostRoot.kernelResolvesInRoot {
                #expect(root.text(path) == expected, "openat2 \(path)")
            }
        }
        #expect(root.walk("loop1", O_RDONLY) == -1 && errno == ELOOP)
        // O_NOFOLLOW: the link itself, not what it leads to.
        let link = root.walk("a/up", O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        #expect(link == -1 && errno == ELOOP)
    }
}
