import CLibKmod
import CSysShim
import Glibc
import VFIOCore

/// The kernel modules whose aliases match a PCI function, found as `lspci -k` finds its "Kernel
/// modules" (pciutils ls-kernel.c): libkmod's `kmod_module_new_from_lookup` with the function's
/// `modalias`, over the index depmod made for the running kernel under the root
/// (lib/modules/RELEASE/modules.alias.bin, RELEASE from proc/sys/kernel/osrelease). The vfio-pci
/// variant drivers are not looked up here: they come from modules.alias as libvirt reads it
/// (`vfioAliases`, `VFIOVariants`), the one source of them.
///
/// libkmod opens its index files with a blocking fopen and trusts what they hold, so before it
/// is started every index it may open is looked at here: each one must be a regular file (not a
/// link: depmod writes files) and modules.alias.bin must carry the index header libkmod accepts;
/// otherwise the modules are unknown (nil). libkmod is given the directory through
/// /proc/self/fd of a descriptor opened inside the root, so no link in the tree leads it out.
/// No modprobe.d configuration is read (its aliases are a host's local choices, not what the
/// modules declare).
final class ModuleIndex {
    private let context: OpaquePointer
    /// The module directory, held open for libkmod's paths through /proc/self/fd.
    private let directory: RootDirectory

    /// libkmod-index.c: INDEX_MAGIC, and INDEX_VERSION_MAJOR in the top half of the version.
    static let indexMagic: UInt32 = 0xB007_F457
    static let indexVersionMajor: UInt32 = 0x0002

    /// nil when the root has no usable module index for its running kernel.
    init?(root: HostRoot) {
        guard let release = ModuleIndex.release(root),
              let directory = root.pathDirectory(SysfsLayout.libModules(release)),
              ModuleIndex.indexesUsable(in: directory.fd)
        else { return nil }
        // No configuration at all: an empty list, not NULL (NULL means modprobe.d's defaults).
        var noConfiguration: [UnsafePointer<CChar>?] = [nil]
        guard let context = kmod_new("/proc/self/fd/\(directory.fd)", &noConfiguration) else { return nil }
        // libkmod logs to stderr; what it could say here is already an answer (nil, or no modules).
        kmod_set_log_priority(context, 0)
        self.context = context
        self.directory = directory
    }

    deinit { kmod_unref(context) }

    /// The running kernel's release (proc/sys/kernel/osrelease), when it names a directory.
    static func release(_ root: HostRoot) -> String? {
        guard let release = root.text(SysfsLayout.osrelease, limit: 256).map({ $0.trimmingWhitespace() }),
              !release.isEmpty, !release.contains("/"), release != ".", release != ".." else { return nil }
        return release
    }

    /// Every index file absent or a regular file, and modules.alias.bin present with a header
    /// libkmod reads.
    static func indexesUsable(in directory: Int32) -> Bool {
        // The files libkmod may open for a lookup (libkmod.c, index_files[]; a name with a `:`
        // never reaches modules.dep.bin or modules.symbols.bin, but they are checked all the same).
        for name in SysfsLayout.moduleIndexes {
            var info = stat()
            if fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) != 0 {
                if errno == ENOENT && name != "modules.alias.bin" { continue }
                return false
            }
            guard info.st_mode & S_IFMT == S_IFREG else { return false }
        }
        guard case .success(let fd) = FileRead.openRegular(at: directory, "modules.alias.bin", following: false) else { return false }
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: 8)
        guard pread(fd, &header, 8, 0) == 8 else { return false }
        let word = { (at: Int) in header[at..<at + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
        return word(0) == indexMagic && word(4) >> 16 == indexVersionMajor
    }

    /// The names of the modules matching `alias`, in libkmod's order without repeats (a module
    /// can match through several of its aliases; lspci drops the repeats too); nil when libkmod
    /// fails.
    func modules(matching alias: String) -> [String]? {
        var list: OpaquePointer?
        guard kmod_module_new_from_lookup(context, alias, &list) >= 0 else { return nil }
        defer { kmod_module_unref_list(list) }
        var names: [String] = []
        var node = list
        while let current = node {
            if let module = kmod_module_get_module(current) {
                if let name = kmod_module_get_name(module).map({ String(cString: $0) }), !names.contains(name) {
                    names.append(name)
                }
                kmod_module_unref(module)
            }
            node = kmod_list_next(list, current)
        }
        return names
    }
}

extension DeviceLayer {
    /// The kernel modules of the functions at `addresses` (every function when nil), from the
    /// function's `modalias`. Left nil, unknown, when the root has no usable module index or the
    /// function no modalias.
    func attachKernelModules(_ functions: inout [PCIFunction], only addresses: Set<PCIAddress>?) throws(VFIOError) {
        var index: ModuleIndex??
        for position in functions.indices {
            let f = functions[position]
            if let addresses, !addresses.contains(f.address) { continue }
            guard let modalias = try modalias(of: f) else { continue }
            if index == nil { index = .some(ModuleIndex(root: root)) }
            guard let modules = index ?? nil else { return }
            functions[position].kernelModules = modules.modules(matching: modalias)
        }
    }

    /// The vfio-pci variant drivers of the functions at `addresses` (every function when nil) and
    /// the best of them (`VFIOVariants`), and those of the VFs a PF among them will make, from the `alias vfio_pci:` lines of the running kernel's
    /// modules.alias. Left nil, unknown, when that file cannot be read whole (absent, not a regular
    /// file, over `VFIOVariants.fileLimit`) or the function has no modalias.
    func attachVFIOVariants(_ functions: inout [PCIFunction], only addresses: Set<PCIAddress>?) throws(VFIOError) {
        var aliases: [VFIOVariants.Alias]??
        for position in functions.indices {
            let f = functions[position]
            if let addresses, !addresses.contains(f.address) { continue }
            guard let modalias = try modalias(of: f) else { continue }
            if aliases == nil { aliases = .some(vfioAliases()) }
            guard let known = aliases ?? nil else { return }
            functions[position].vfioVariantModules = VFIOVariants.variantModules(modalias, in: known)
            functions[position].vfioVariant = VFIOVariants.variant(modalias, in: known)
            if let vfDevice = f.sriov?.vfDeviceID {
                functions[position].sriov?.vfVariants = VFIOVariants.forVFs(vendor: f.vendorID, vfDevice: vfDevice,
                                                                            subsystemVendor: f.subsystemVendorID, in: known)
            }
        }
    }

    /// The `alias vfio_pci:` lines of lib/modules/RELEASE/modules.alias under the root; nil when
    /// there is no such regular file, it cannot be read, or it is larger than libvirt reads.
    func vfioAliases() -> [VFIOVariants.Alias]? {
        guard let release = ModuleIndex.release(root),
              case .success(let bytes) = root.read(SysfsLayout.modulesAlias(release), limit: VFIOVariants.fileLimit + 1),
              bytes.count <= VFIOVariants.fileLimit else { return nil }
        return VFIOVariants.aliases(modulesAlias: Substring(String(decoding: bytes, as: UTF8.self)))
    }

    /// The function's `modalias`: nil when absent or unreadable; an error naming it when it is
    /// not a regular file or holds what the kernel never writes.
    func modalias(of f: PCIFunction) throws(VFIOError) -> String? {
        let relative = f.sysfsPath + "/modalias"
        guard let text = try attribute(relative) else { return nil }
        guard let modalias = PCIModalias.parse(text) else {
            throw .failed("\(relative) holds '\(text.trimmingWhitespace().printable)', not a modalias the kernel writes "
                          + "(pci:vVVVVVVVVdDDDDDDDDsvSSSSSSSSsdSSSSSSSSbcBBscSSiII)", hint: TreeDamage.hint(root))
        }
        return modalias
    }
}
