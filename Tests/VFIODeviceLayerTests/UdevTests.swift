import Testing
import VFIOCore
import VFIODeviceLayer

@Suite("libudev agrees with the device layer on this host")
struct UdevTests {
    @Test("udev's PCI devices are the device layer's functions, with the same drivers and ids")
    func pciEnumeration() throws {
        let udev = try Udev()
        let devices = try udev.devices(subsystem: "pci")
        let snapshot = try DeviceLayer(root: .live).snapshot([])
        #expect(!devices.isEmpty)
        #expect(devices.map(\.sysname).sorted() == snapshot.functions.map(\.address.description))
        for device in devices {
            let address = try #require(PCIAddress(device.sysname))
            let function = try #require(snapshot.function(address))
            #expect(device.driver == function.driver, "\(device.sysname)")
            #expect(device.syspath == "/" + function.sysfsPath, "\(device.sysname)")
            // PCI_ID comes from the kernel's uevent, as udev read it.
            let ids = function.ids.uppercased()
            #expect(device.properties["PCI_ID"] == ids, "\(device.sysname)")
        }
    }

    @Test("udev's network interfaces sit on the functions the device layer names")
    func netInterfaces() throws {
        let udev = try Udev()
        let snapshot = try DeviceLayer(root: .live).snapshot([])
        for device in try udev.devices(subsystem: "net") {
            guard let owner = SysfsPaths.owningFunction(of: device.syspath) else { continue } // virtual
            #expect(snapshot.function(owner)?.netInterfaces.contains(device.sysname) == true, "\(device.sysname)")
        }
    }
}

import Glibc

@Suite("libudev's kernel monitor on this host")
struct UdevMonitorTests {
    @Test("a synthetic 'change' uevent on a PCI function arrives on the monitor",
          .enabled(if: geteuid() == 0, "writing a uevent file needs root"))
    func monitor() throws {
        let udev = try Udev()
        let monitor = try Udev.Monitor(udev, subsystem: "pci")
        let first = try #require(try DeviceLayer(root: .live).busEntries().first?.1)
        // Writing "change" to uevent only makes the kernel emit the event; nothing else changes.
        let fd = open("/sys/bus/pci/devices/\(first)/uevent", O_WRONLY)
        try #require(fd >= 0)
        #expect(write(fd, "change", 6) == 6)
        close(fd)
        var seen: Udev.Device?
        for _ in 0..<20 {
            guard let event = monitor.next(timeout: 0.5) else { break }
            if event.sysname == first { seen = event; break }
        }
        #expect(seen?.action == "change")
        #expect(seen?.subsystem == "pci")
        #expect(seen?.properties["PCI_SLOT_NAME"] == first)
    }
}
