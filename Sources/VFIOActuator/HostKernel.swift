import Glibc
import VFIOCore
import VFIODeviceLayer

/// The kernel seam of the actuator: the few reads a step needs to converge, the sysfs writes,
/// and modprobe. `LiveKernel` is the real one; tests use a recording simulation of the PCI
/// driver core (VFIOTestSupport.SimulatedKernel), and the lab proves both agree with Linux.
public protocol HostKernel: Sendable {
    /// The driver bound to the function now (nil: none). Throws when the function is gone.
    func driver(of address: PCIAddress) throws(VFIOError) -> String?
    /// A small attribute's text (nil: absent). `path` is from the root ("/sys/...").
    func read(_ path: String) -> String?
    func exists(_ path: String) -> Bool
    /// A symlink's target (nil: not a link).
    func link(_ path: String) -> String?
    /// A directory's entries (nil: no such directory), e.g. a function's net/.
    func entries(_ path: String) -> [String]?
    /// One write(2) of `value` to an existing attribute; the errno is kept.
    func write(_ path: String, _ value: String) throws(KernelWriteError)
    func loadModule(_ module: String) throws(VFIOError)
    /// Waits between polls.
    func pause(seconds: Double)
    /// Where files that are not sysfs attributes live (mdevctl's definitions): the root.
    var files: HostRoot { get }
}

extension HostKernel {
    /// A small configuration file's text under the root (nil: none), read safely (SafeFiles).
    public func readFile(_ path: String) throws(VFIOError) -> String? {
        try SafeFiles.read(path, root: files).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Replaces a file atomically under the root (its directories created), or removes it (nil).
    /// No backup is left beside it: mdevctl reads every file of its directories.
    public func writeFile(_ path: String, _ text: String?) throws(VFIOError) {
        let (directory, name) = try SafeFiles.locate(path, root: files, create: text != nil)
        if let text {
            try directory.write(name, Array(text.utf8), mode: 0o644, shownAs: path)
        } else {
            try directory.remove(name)
            try directory.sync()
        }
    }
}

/// A sysfs write the kernel refused, with its errno.
public struct KernelWriteError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var value: String
    public var code: Int32

    public init(path: String, value: String, code: Int32) {
        self.path = path
        self.value = value
        self.code = code
    }

    /// What the errno means for this write, in words an admin can act on.
    public var description: String {
        let shown = value == "\n" ? "an empty value" : "'\(value.printable)'"
        let name = Errno.name(code)
        var text = "writing \(shown) to \(path) failed: \(name) (\(Errno.describe(code)))"
        switch code {
        case EBUSY: text += "; the driver or device is busy (a guest or a host process holds it)"
        case ENODEV: text += "; no driver took the device, or it is not bound to that driver"
        case EPERM, EACCES: text += "; run as root"
        case ENOENT: text += "; the attribute does not exist (device gone, or the driver not loaded)"
        default: break
        }
        return text
    }
}

/// The real kernel under a root: sysfs writes with one write(2) on an O_WRONLY descriptor (never
/// O_CREAT: an attribute that is not there is an error, not a new file), modprobe for modules.
public struct LiveKernel: HostKernel {
    public let root: HostRoot

    public init(root: HostRoot) { self.root = root }

    public var files: HostRoot { root }

    public func driver(of address: PCIAddress) throws(VFIOError) -> String? {
        let device = root.path("sys/bus/pci/devices/\(address)")
        guard FileRead.exists(device) else {
            throw .failed("\(address) is gone from /sys/bus/pci/devices", hint: "it was removed or hot-unplugged; 'vfioctl list' shows what is there")
        }
        return FileRead.link(device + "/driver").map { SysfsPaths.lastComponent(of: $0) }
    }

    public func read(_ path: String) -> String? { FileRead.text(root.prefix + path, limit: 4096) }

    public func exists(_ path: String) -> Bool { FileRead.exists(root.prefix + path) }

    public func link(_ path: String) -> String? { FileRead.link(root.prefix + path) }

    public func entries(_ path: String) -> [String]? { FileRead.entries(root.prefix + path) }

    public func write(_ path: String, _ value: String) throws(KernelWriteError) {
        let fd = open(root.prefix + path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw KernelWriteError(path: path, value: value, code: errno) }
        defer { close(fd) }
        let count = Bytes.with(value) { bytes in Glibc.write(fd, bytes.baseAddress, bytes.count) }
        if count < 0 { throw KernelWriteError(path: path, value: value, code: errno) }
        if count != value.utf8.count { throw KernelWriteError(path: path, value: value, code: EIO) }
    }

    public func loadModule(_ module: String) throws(VFIOError) {
        guard root.isLive else {
            throw .failed("cannot load \(module) for the tree under \(root): modules load into the running kernel only",
                          hint: "run without --root on the host itself")
        }
        let result = try Subprocess.run(["modprobe", module])
        guard result.status == 0 else {
            let reason = result.errorOutput.trimmingWhitespace()
            throw .failed("modprobe \(module) failed (exit \(result.status))" + (reason.isEmpty ? "" : ": " + reason),
                          hint: "is the kernel's modules package installed for this kernel (linux-image-$(uname -r))?")
        }
    }

    public func pause(seconds: Double) {
        var request = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
