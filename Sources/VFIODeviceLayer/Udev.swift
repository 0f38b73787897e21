import CLibUdev
import Glibc
import VFIOCore

/// libudev: the live host's device database and event stream. The device layer's facts come
/// from sysfs under the root (so snapshots replay them); udev is used where only it can help on
/// a live host: waiting for devices the kernel creates (new VFs after sriov_numvfs, a function
/// reappearing on a driver), and as an independent enumeration to check the reader against.
public final class Udev {
    let handle: OpaquePointer

    public init() throws(VFIOError) {
        guard let handle = udev_new() else {
            throw .failed("libudev could not start: \(Errno.describe(errno))", hint: "check that libudev1 is installed")
        }
        self.handle = handle
    }

    deinit { udev_unref(handle) }

    /// One device as udev reports it.
    public struct Device: Sendable, Equatable {
        public var syspath: String
        public var sysname: String
        public var subsystem: String?
        public var driver: String?
        public var action: String?
        public var properties: [String: String]
    }

    /// Every device of a subsystem ("pci", "net", "block"), from a scan of /sys.
    public func devices(subsystem: String) throws(VFIOError) -> [Device] {
        guard let enumerate = udev_enumerate_new(handle) else {
            throw .failed("libudev could not enumerate \(subsystem) devices: \(Errno.describe(errno))")
        }
        defer { udev_enumerate_unref(enumerate) }
        guard udev_enumerate_add_match_subsystem(enumerate, subsystem) >= 0,
              udev_enumerate_scan_devices(enumerate) >= 0 else {
            throw .failed("libudev could not scan \(subsystem) devices: \(Errno.describe(errno))")
        }
        var devices: [Device] = []
        var entry = udev_enumerate_get_list_entry(enumerate)
        while let current = entry {
            if let path = udev_list_entry_get_name(current),
               let device = udev_device_new_from_syspath(handle, path) {
                devices.append(Device(device))
                udev_device_unref(device)
            }
            entry = udev_list_entry_get_next(current)
        }
        return devices
    }

    /// Kernel uevents for one subsystem, as they happen (no udevd needed: the kernel's own
    /// netlink group). Used to wait for devices without polling sysfs.
    public final class Monitor {
        private let monitor: OpaquePointer
        private let udev: Udev

        public init(_ udev: Udev, subsystem: String) throws(VFIOError) {
            guard let monitor = udev_monitor_new_from_netlink(udev.handle, "kernel") else {
                throw .failed("cannot listen for kernel uevents: \(Errno.describe(errno))",
                              hint: "run as root; the kernel's uevent netlink socket needs it in some containers")
            }
            self.monitor = monitor
            self.udev = udev
            guard udev_monitor_filter_add_match_subsystem_devtype(monitor, subsystem, nil) >= 0,
                  udev_monitor_enable_receiving(monitor) >= 0 else {
                udev_monitor_unref(monitor)
                throw .failed("cannot listen for \(subsystem) uevents: \(Errno.describe(errno))")
            }
        }

        deinit { udev_monitor_unref(monitor) }

        /// The next event, or nil when none arrives within `timeout` seconds.
        public func next(timeout: Double) -> Device? {
            var descriptor = pollfd(fd: udev_monitor_get_fd(monitor), events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32(max(0, timeout) * 1000))
            guard ready > 0, let device = udev_monitor_receive_device(monitor) else { return nil }
            defer { udev_device_unref(device) }
            return Device(device)
        }
    }
}

extension Udev.Device {
    init(_ device: OpaquePointer) {
        func string(_ pointer: UnsafePointer<CChar>?) -> String? { pointer.map { String(cString: $0) } }
        syspath = string(udev_device_get_syspath(device)) ?? ""
        sysname = string(udev_device_get_sysname(device)) ?? ""
        subsystem = string(udev_device_get_subsystem(device))
        driver = string(udev_device_get_driver(device))
        action = string(udev_device_get_action(device))
        properties = [:]
        var entry = udev_device_get_properties_list_entry(device)
        while let current = entry {
            if let name = string(udev_list_entry_get_name(current)) {
                properties[name] = string(udev_list_entry_get_value(current)) ?? ""
            }
            entry = udev_list_entry_get_next(current)
        }
    }
}
