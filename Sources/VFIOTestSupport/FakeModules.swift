import Foundation
import Glibc

/// A module index for a fake host, made by the real depmod: each module becomes a minimal ELF
/// object whose `.modinfo` holds its `alias=` entries (what MODULE_DEVICE_TABLE leaves there),
/// depmod indexes them in a scratch tree (`depmod -b DIR -C EMPTY RELEASE`: no depmod.d of this
/// machine), and modules.alias.bin (which libkmod reads) and modules.alias (its text, where the
/// `vfio_pci:` aliases of variant drivers are read, as libvirt reads them) are copied to
/// ROOT/lib/modules/RELEASE.
/// Nothing else of the scratch tree is kept: the host's modules.dep stays the fake's own.
public enum FakeModules {
    /// `modules`: module name → its aliases (`pci:v00008086d000010D3sv*sd*bc*sc*i*`).
    public static func index(_ modules: [String: [String]], root: String, release: String) {
        let scratch = ScratchDirectory.make("vfioctl-depmod")
        defer { FakeSysfs.removeTree(scratch) }
        let kernel = "\(scratch)/lib/modules/\(release)/kernel"
        let manager = FileManager.default
        do {
            try manager.createDirectory(atPath: kernel, withIntermediateDirectories: true)
            try manager.createDirectory(atPath: scratch + "/depmod.d", withIntermediateDirectories: true)
            for (name, aliases) in modules {
                try Data(object(modinfo: aliases.map { "alias=" + $0 } + ["license=GPL"]))
                    .write(to: URL(fileURLWithPath: "\(kernel)/\(name.replacingOccurrences(of: "_", with: "-")).ko"))
            }
            let result = try TestProcess.run(depmod, ["-b", scratch, "-C", scratch + "/depmod.d", release], timeout: 60)
            precondition(result.status == 0, "depmod failed (\(result.status)): \(result.err)")
            let directory = "\(root)/lib/modules/\(release)"
            try manager.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for name in ["modules.alias.bin", "modules.alias"] {
                let index = try Data(contentsOf: URL(fileURLWithPath: "\(scratch)/lib/modules/\(release)/\(name)"))
                try index.write(to: URL(fileURLWithPath: directory + "/" + name))
            }
        } catch {
            preconditionFailure("cannot make a module index: \(error)")
        }
    }

    /// depmod from kmod (scripts/setup installs it for the tests); /usr/sbin is not always on PATH.
    static var depmod: String {
        ["/usr/sbin/depmod", "/sbin/depmod"].first { access($0, X_OK) == 0 } ?? "depmod"
    }

    /// An ELF64 relocatable object for x86-64 with two sections, `.modinfo` (the strings, each
    /// NUL-terminated) and `.shstrtab`: all depmod reads of a module without symbols.
    static func object(modinfo: [String]) -> [UInt8] {
        let info: [UInt8] = modinfo.flatMap { entry -> [UInt8] in Array(entry.utf8) + [0] }
        let names = Array("\0.modinfo\0.shstrtab\0".utf8)
        let infoOffset = 64
        let namesOffset = infoOffset + info.count
        let sectionsOffset = (namesOffset + names.count + 7) & ~7
        // e_ident: ELF magic, ELFCLASS64, ELFDATA2LSB, EV_CURRENT, padding.
        var bytes: [UInt8] = [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        func put(_ value: UInt64, _ size: Int) { for byte in 0..<size { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * byte))) } }
        // e_type ET_REL, e_machine EM_X86_64, e_version, e_entry, e_phoff, e_shoff, e_flags,
        // e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx.
        put(1, 2); put(62, 2); put(1, 4); put(0, 8); put(0, 8); put(UInt64(sectionsOffset), 8); put(0, 4)
        put(64, 2); put(0, 2); put(0, 2); put(64, 2); put(3, 2); put(2, 2)
        bytes += info + names
        bytes += [UInt8](repeating: 0, count: sectionsOffset - bytes.count)
        // sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size, sh_link, sh_info, sh_addralign, sh_entsize.
        func section(name: Int, type: Int, flags: Int, offset: Int, size: Int) {
            put(UInt64(name), 4); put(UInt64(type), 4); put(UInt64(flags), 8); put(0, 8); put(UInt64(offset), 8)
            put(UInt64(size), 8); put(0, 4); put(0, 4); put(1, 8); put(0, 8)
        }
        section(name: 0, type: 0, flags: 0, offset: 0, size: 0)
        section(name: 1, type: 1, flags: 2, offset: infoOffset, size: info.count) // SHT_PROGBITS, SHF_ALLOC
        section(name: 10, type: 3, flags: 0, offset: namesOffset, size: names.count) // SHT_STRTAB
        return bytes
    }
}
