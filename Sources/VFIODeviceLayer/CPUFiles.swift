import Glibc
import VFIOCore

/// Reads what the CPU commands need from the host: /proc/cpuinfo and libvirt's CPU map
/// (/usr/share/libvirt/cpu_map, from Debian's libvirt0), both under the root.
public struct CPUFiles: Sendable {
    public static let mapDirectory = "usr/share/libvirt/cpu_map"

    public let root: HostRoot

    public init(root: HostRoot) { self.root = root }

    /// libvirt's x86 CPU map, from `directory` (a path as the user gave it) or from the root.
    public func map(directory: String? = nil) throws(VFIOError) -> CPUMap {
        let path = directory ?? root.path(CPUFiles.mapDirectory)
        let hint = directory != nil ? "--cpu-map names a copy of libvirt's cpu_map directory (index.xml, x86_*.xml)"
            : root.isLive ? "install libvirt's CPU map: apt-get install libvirt0 (it comes with libvirt-clients), or give --cpu-map DIR"
            : "\(root) has no usr/share/libvirt/cpu_map: copy libvirt's there, or give --cpu-map DIR"
        guard let index = FileRead.text(path + "/index.xml", limit: 1 << 20) else {
            throw .failed("libvirt's CPU map is missing: cannot read \(path)/index.xml: \(Errno.describe(errno))", hint: hint)
        }
        return try CPUMap.parse(index: index, where: path) { name throws(VFIOError) in
            guard let text = FileRead.text(path + "/" + name, limit: 1 << 20) else {
                throw .failed("libvirt's CPU map is incomplete: cannot read \(path)/\(name): \(Errno.describe(errno))", hint: hint)
            }
            return text
        }
    }

    /// /proc/cpuinfo, parsed.
    public func cpuinfo() throws(VFIOError) -> CPUInfo {
        let path = root.path(SysfsLayout.cpuinfo)
        guard let text = FileRead.text(path, limit: 1 << 22) else {
            throw .failed("cannot read \(path): \(Errno.describe(errno))",
                          hint: root.isLive ? "is /proc mounted?" : "--root must hold proc/cpuinfo (as 'vfioctl snapshot DIR' copies it)")
        }
        return CPUInfo.parse(text)
    }
}
