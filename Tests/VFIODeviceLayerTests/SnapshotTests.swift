import Glibc
import Testing
import VFIOCore
import VFIODeviceLayer
import VFIOTestSupport

@Suite("Snapshots replay what the device layer reads")
struct SnapshotTests {
    static func temporaryDirectory() -> String {
        FakeSysfs().root
    }

    @Test("a snapshot of a fake tree reads back identically")
    func fakeRoundTrip() throws {
        let fake = DeviceLayerTests.desktop()
        defer { fake.remove() }
        let original = try fake.read()
        let copy = Self.temporaryDirectory()
        defer { FakeSysfs.removeTree(copy) }
        let summary = try SnapshotWriter(source: HostRoot(fake.root)).write(to: copy)
        #expect(summary.functions == 5)
        let replayed = try DeviceLayer(root: HostRoot(copy), idsPath: Fixtures.pciIDs).snapshot()
        #expect(replayed == original)
        // Links stay relative, as the kernel writes them.
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink(copy + "/sys/bus/pci/devices/0000:01:00.0", &buffer, buffer.count)
        let text = String(decoding: buffer[0..<max(0, count)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(text.hasPrefix("../../../devices/"))
    }

    @Test("this host's own /sys replays identically from a snapshot")
    func liveRoundTrip() throws {
        let live = try DeviceLayer(root: .live).snapshot()
        let copy = Self.temporaryDirectory()
        defer { FakeSysfs.removeTree(copy) }
        _ = try SnapshotWriter(source: .live).write(to: copy)
        let replayed = try DeviceLayer(root: HostRoot(copy)).snapshot()
        #expect(replayed == live)
        #expect(!live.functions.isEmpty)
    }

    @Test("a non-empty destination is refused")
    func refusesNonEmpty() throws {
        let fake = DeviceLayerTests.desktop()
        defer { fake.remove() }
        fake.build()
        #expect(throws: VFIOError.self) { try SnapshotWriter(source: HostRoot(fake.root)).write(to: fake.root) }
    }
}
