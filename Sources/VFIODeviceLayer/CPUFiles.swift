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
        // A directory the user names is read as given; the root's own through the root.
        let read = { (name: String) in
            directory.map { FileRead.read($0 + "/" + name, limit: 1 << 20) } ?? root.read(CPUFiles.mapDirectory + "/" + name, limit: 1 << 20)
        }
        let hint = directory != nil ? "--cpu-map names a copy of libvirt's cpu_map directory (index.xml, x86_*.xml)"
            : root.isLive ? "install libvirt's CPU map: apt-get install libvirt0 (it comes with libvirt-clients), or give --cpu-map DIR"
            : "\(root) has no usr/share/libvirt/cpu_map: copy libvirt's there, or give --cpu-map DIR"
        let index: String
        switch read("index.xml") {
        case .success(let bytes): index = String(decoding: bytes, as: UTF8.self)
        case .failure(let failure):
            throw .failed("libvirt's CPU map is missing: cannot read \(path)/index.xml: \(failure)", hint: hint)
        }
        return try CPUMap.parse(index: index, where: path) { name throws(VFIOError) in
            switch read(name) {
            case .success(let bytes): return String(decoding: bytes, as: UTF8.self)
            case .failure(let failure):
                throw .failed("libvirt's CPU map is incomplete: cannot read \(path)/\(name.printable): \(failure)", hint: hint)
            }
        }
    }

    /// /proc/cpuinfo, parsed.
    public func cpuinfo() throws(VFIOError) -> CPUInfo {
        let path = root.path(SysfsLayout.cpuinfo)
        switch root.read(SysfsLayout.cpuinfo, limit: 1 << 22) {
        case .success(let bytes): return CPUInfo.parse(String(decoding: bytes, as: UTF8.self))
        case .failure(let failure):
            throw .failed("cannot read \(path): \(failure)",
                          hint: root.isLive ? "is /proc mounted?" : "--root must hold proc/cpuinfo (as 'vfioctl snapshot DIR' copies it)")
        }
    }
}
