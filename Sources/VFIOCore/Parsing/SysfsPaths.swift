/// Lexical path handling for a tree under an injected root. Paths here are relative to the root
/// ("sys/bus/pci/devices/0000:01:00.0"); nothing is resolved against the real file system, so a
/// link in a snapshot can never lead outside the snapshot.
public enum SysfsPaths {
    /// Resolves `target` (a symlink's text) found in directory `directory`, both relative to the
    /// root. Absolute targets are taken as relative to the root; ".." never climbs above it.
    public static func resolve(link target: String, in directory: String) -> String {
        Bytes.with(target) { resolve(link: $0, in: directory) }
    }

    /// The same for a link's text as bytes: components pushed and popped in one buffer.
    public static func resolve(link target: UnsafeRawBufferPointer, in directory: String) -> String {
        Bytes.with(directory) { directory in
            let capacity = directory.count + target.count + 1
            return String(unsafeUninitializedCapacity: capacity) { out in
                var count = 0
                func append(_ path: UnsafeRawBufferPointer) {
                    var start = 0
                    while start < path.count {
                        var end = start
                        while end < path.count, path[end] != UInt8(ascii: "/") { end += 1 }
                        let length = end - start
                        if length == 0 || (length == 1 && path[start] == UInt8(ascii: ".")) {
                            // empty or "." component
                        } else if length == 2 && path[start] == UInt8(ascii: ".") && path[start + 1] == UInt8(ascii: ".") {
                            while count > 0 {
                                count -= 1
                                if out[count] == UInt8(ascii: "/") { break }
                            }
                        } else {
                            if count > 0 { out[count] = UInt8(ascii: "/"); count += 1 }
                            for index in start..<end { out[count] = path[index]; count += 1 }
                        }
                        start = end + 1
                    }
                }
                if target.first != UInt8(ascii: "/") { append(directory) }
                append(target)
                return count
            }
        }
    }

    /// Non-empty '/'-separated components, split on bytes (much cheaper than Character splitting).
    public static func components(_ path: String) -> [Substring] {
        path.utf8.split(separator: UInt8(ascii: "/")).map { Substring($0) }
    }

    /// The directory part of a relative path ("a/b/c" → "a/b").
    public static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return String(path[..<slash])
    }

    /// The last component ("a/b/c" → "c").
    public static func lastComponent(of path: String) -> String {
        var bytes = Substring(path).utf8[...]
        while bytes.last == UInt8(ascii: "/") { bytes = bytes.dropLast() }
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return String(Substring(bytes)) }
        return String(Substring(bytes[bytes.index(after: slash)...]))
    }

    /// PCI functions named along a sys/devices path, outermost first. Host bridge components
    /// ("pci0000:00", and "pci10000:e0" below a VMD controller) are not functions and are skipped.
    public static func pciAncestors(in path: String) -> [PCIAddress] {
        Bytes.with(path) { bytes in
            var found: [PCIAddress] = []
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count, bytes[end] != UInt8(ascii: "/") { end += 1 }
                // Function names start with a hex digit and contain a '.'; "pci0000:00", "net" do not parse.
                if end - start >= 7, HexDigits.value(of: bytes[start]) != nil, bytes[end - 2] == UInt8(ascii: "."),
                   let address = PCIAddress(bytes: UnsafeRawBufferPointer(rebasing: bytes[start..<end])) {
                    found.append(address)
                }
                start = end + 1
            }
            return found
        }
    }

    /// The nearest PCI function a sys/devices path lies under (for net and block devices).
    public static func owningFunction(of path: String) -> PCIAddress? {
        Bytes.with(path, owningFunction(bytes:))
    }

    /// The same on bytes, scanning from the end; works on a link's text too, since ".." only
    /// leads it ("../../devices/pci0000:00/0000:00:03.0/virtio0/net/eth0").
    public static func owningFunction(bytes: UnsafeRawBufferPointer) -> PCIAddress? {
        var end = bytes.count
        while end > 0 {
            var start = end
            while start > 0, bytes[start - 1] != UInt8(ascii: "/") { start -= 1 }
            if end - start >= 7, bytes[end - 2] == UInt8(ascii: "."),
               let address = PCIAddress(bytes: UnsafeRawBufferPointer(rebasing: bytes[start..<end])) {
                return address
            }
            end = start - 1
        }
        return nil
    }
}

extension PCIAddress {
    /// The function's device directory, from the root: "/sys/bus/pci/devices/0000:01:00.0".
    public var sysfsDevice: String { "/sys/bus/pci/devices/\(self)" }

    /// One of its attributes (or links): "/sys/bus/pci/devices/0000:01:00.0/driver_override".
    public func sysfs(_ name: String) -> String { sysfsDevice + "/" + name }
}
