import Foundation
import Glibc
import Testing
import VFIOCore
import VFIOTestSupport

/// Issue 15, items 6-9: configuration files edited as the shell that reads them reads them, byte
/// for byte, never cut short, and written only where they are (never through a planted link).
/// The built binary runs each command (a trap must not take the test runner down); bash and
/// dash source the files before and after to prove what GRUB gets.
@Suite("config files: edited as the shell reads them, written safely")
struct ConfigSafetyTests {
    static let intel = ["intel_iommu=on", "iommu=pt"]

    static func host(_ files: [String: [UInt8]]) -> FakeSysfs {
        var fake = FakeSysfs()
        fake.cpuVendor = "GenuineIntel"
        fake.withIOMMU()
        fake.build()
        fake.write("usr/sbin/update-grub", "#!/bin/sh\n", mode: 0o755)
        for (path, bytes) in files { fake.writeBytes(path, bytes) }
        return fake
    }

    static func vfioctl(_ fake: FakeSysfs, _ arguments: [String]) throws -> TestProcess.Result {
        let result = try TestProcess.run(TestProcess.vfioctl, ["config"] + arguments + ["--root", fake.root], timeout: 120)
        // A trap ends it by a signal: a status other than 0 and 1, which every test checks.
        #expect(!result.timedOut, "vfioctl \(arguments) hung: \(result.err)")
        return result
    }

    static func bytes(_ path: String) -> [UInt8]? { FileManager.default.contents(atPath: path).map { Array($0) } }

    static func link(_ path: String) -> String? { try? FileManager.default.destinationOfSymbolicLink(atPath: path) }

    /// What `shell` makes of GRUB_CMDLINE_LINUX after sourcing `file` (as grub-mkconfig does).
    static func source(_ shell: String, _ file: String, _ variable: String = "GRUB_CMDLINE_LINUX") throws -> String {
        let result = try TestProcess.run(shell, ["-c", ". \"$1\"; printf %s \"$\(variable)\"", "sh", file], timeout: 60)
        #expect(result.status == 0, "\(shell) cannot source \(file): \(result.err)")
        return result.out
    }

    static func words(_ value: String) -> [String] { value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).map(String.init) }

    /// `new` is `old` with bytes added and nothing else changed: outside one span, equal; the
    /// span of `old` survives in order in `new`'s, which adds only option text and quotes.
    static func onlyInserted(_ old: [UInt8], _ new: [UInt8]) -> Bool {
        var prefix = 0
        while prefix < old.count && prefix < new.count && old[prefix] == new[prefix] { prefix += 1 }
        var suffix = 0
        while suffix < old.count - prefix && suffix < new.count - prefix && old[old.count - 1 - suffix] == new[new.count - 1 - suffix] { suffix += 1 }
        let kept = old[prefix..<(old.count - suffix)]
        let span = new[prefix..<(new.count - suffix)]
        var index = kept.startIndex
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_=\" \n".utf8)
        for byte in span {
            if index < kept.endIndex && kept[index] == byte { index += 1 } else if !allowed.contains(byte) { return false }
        }
        return index == kept.endIndex
    }

    static let shapes: [(String, [UInt8])] = [
        ("double quotes over several lines", Array("""
            GRUB_DEFAULT=0
            GRUB_CMDLINE_LINUX="root=/dev/mapper/vg-root
              rd.luks.uuid=luks-1234 rd.lvm.lv=vg/root
              console=ttyS0,115200n8"
            GRUB_TIMEOUT=5

            """.utf8)),
        ("single quotes over several lines", Array("GRUB_CMDLINE_LINUX='rd.luks.uuid=luks-1\nconsole=tty0'\nGRUB_TIMEOUT=5\n".utf8)),
        ("backslash-newline inside double quotes", Array("GRUB_CMDLINE_LINUX=\"root=/dev/sda1 \\\nrd.lvm.lv=vg/root console=tty0\"\n".utf8)),
        ("backslash-newline outside quotes", Array("GRUB_CMDLINE_LINUX=\\\n\"rd.luks.uuid=luks-1 console=ttyS0\"\nGRUB_TIMEOUT=5\n".utf8)),
        ("CRLF line ends", Array("GRUB_DEFAULT=0\r\nGRUB_CMDLINE_LINUX=\"root=/dev/sda1 rd.luks.uuid=luks-1 console=ttyS0\"\r\nGRUB_TIMEOUT=5\r\n".utf8)),
        ("CRLF, unquoted value", Array("GRUB_DEFAULT=0\r\nGRUB_CMDLINE_LINUX=root=/dev/sda1\r\n".utf8)),
        ("comments with quotes in them", Array("""
            # Don't edit by hand, "they" said
            GRUB_CMDLINE_LINUX="root=/dev/sda1 console=tty0" # it's the root
            #GRUB_CMDLINE_LINUX="rd.break"
            GRUB_TIMEOUT=5 # 'five'

            """.utf8)),
        ("$VAR and ${VAR} references", Array("""
            BASE="root=/dev/mapper/vg-root rd.lvm.lv=vg/root"
            GRUB_CMDLINE_LINUX="${BASE} $CONSOLE"
            CONSOLE=ignored
            GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX console=ttyS0"

            """.utf8)),
        ("several assignments on one line", Array("GRUB_TIMEOUT=5; GRUB_CMDLINE_LINUX=\"rd.luks.uuid=luks-1 console=tty0\"; GRUB_DEFAULT=0\n".utf8)),
        ("export, and the last assignment wins", Array("GRUB_CMDLINE_LINUX=\"quiet\"\nexport GRUB_CMDLINE_LINUX=\"root=/dev/sda1 rd.lvm.lv=vg/root\"\n".utf8)),
        ("an earlier assignment inside if", Array("if [ -e /etc/crypttab ]; then\n  GRUB_CMDLINE_LINUX=\"rd.luks.uuid=luks-1\"\nfi\nGRUB_CMDLINE_LINUX=\"root=/dev/sda1 console=tty0\"\n".utf8)),
        ("a here-document holding an assignment", Array("cat >/dev/null <<EOF\nGRUB_CMDLINE_LINUX=\"not this\"\nEOF\nGRUB_CMDLINE_LINUX=\"root=/dev/sda1\"\n".utf8)),
        ("bytes that are not UTF-8 in comments", [UInt8]("# caf".utf8) + [0xe9, 0x20, 0xff, 0xfe, 0x0a] + Array("GRUB_CMDLINE_LINUX=\"root=/dev/sda1\" # ".utf8) + [0xc3, 0x28, 0x0a]),
        ("no assignment at all", Array("GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\n".utf8)),
        ("a conflicting value replaced in place", Array("GRUB_CMDLINE_LINUX=\"root=/dev/sda1 intel_iommu=off console=tty0\"\n".utf8)),
    ]

    @Test("sourced by bash and dash, GRUB_CMDLINE_LINUX keeps every option it had and gains the new ones once; the rest of the file stays byte for byte; the backup is the old file; a second --write changes nothing",
          arguments: shapes.map(\.0))
    func sourced(shape: String) throws {
        let original = try #require(Self.shapes.first { $0.0 == shape }?.1)
        let fake = Self.host(["etc/default/grub": original])
        defer { fake.remove() }
        let file = fake.root + "/etc/default/grub"
        let before = try Self.source("bash", file)
        #expect(try Self.source("dash", file) == before)
        let written = try Self.vfioctl(fake, ["cmdline", "--write"])
        #expect(written.status == 0 && written.out.contains("wrote /etc/default/grub"), "\(written.out)\(written.err)")
        let after = try #require(Self.bytes(file))
        // The conflicting value is replaced where it stands; everything else only gains bytes.
        let reference = Array(String(decoding: original, as: UTF8.self).replacingOccurrences(of: "intel_iommu=off", with: "intel_iommu=on").utf8)
        #expect(Self.onlyInserted(shape.contains("UTF-8") ? original : reference, after), "\(String(decoding: after, as: UTF8.self))")
        #expect(Self.bytes(file + ".vfioctl.bak") == original)
        for shell in ["bash", "dash"] {
            let value = Self.words(try Self.source(shell, file))
            let kept = Self.words(before).filter { !$0.hasPrefix("intel_iommu=") }
            for word in kept { #expect(value.contains(word), "\(shell): \(word) dropped out of \(value)") }
            for option in Self.intel { #expect(value.filter { $0 == option }.count == 1, "\(shell): \(option) not once in \(value)") }
            #expect(!value.contains("intel_iommu=off"))
        }
        let again = try Self.vfioctl(fake, ["cmdline", "--write"])
        #expect(again.status == 0 && again.out.contains("already has intel_iommu=on iommu=pt"), "\(again.out)\(again.err)")
        #expect(Self.bytes(file) == after && Self.bytes(file + ".vfioctl.bak") == original)
    }

    @Test("a value vfioctl cannot know or edit in place is refused with error and hint, the file untouched", arguments: [
        ("GRUB_CMDLINE_LINUX=\"$(cat /etc/kernel-options) quiet\"\n", "command substitution"),
        ("GRUB_CMDLINE_LINUX=\"`cat /etc/kernel-options`\"\n", "command substitution"),
        ("if [ -e /x ]; then GRUB_CMDLINE_LINUX=\"root=/dev/sda1\"; fi\n", "conditionally"),
        ("GRUB_CMDLINE_LINUX=\"root=/dev/sda1\"\n[ -e /x ] && GRUB_CMDLINE_LINUX=\"rd.break\"\n", "conditionally"),
        ("GRUB_CMDLINE_LINUX=\"root=/dev/sda1\n", "never closed"),
        ("GRUB_DEFAULT=0\rGRUB_CMDLINE_LINUX=\"rd.luks.uuid=luks-1 root=/dev/sda1\"\r", "CR alone"),
        ("GRUB_CMDLINE_LINUX=\"root=/dev/sda1 intel_iommu=\"off\"\"\n", "does not edit in place"),
    ])
    func refused(text: String, reason: String) throws {
        let original = Array(text.utf8)
        let fake = Self.host(["etc/default/grub": original])
        defer { fake.remove() }
        for _ in 0..<2 {
            let result = try Self.vfioctl(fake, ["cmdline", "--write"])
            #expect(result.status == 1 && result.err.contains("error: /etc/default/grub") && result.err.contains(reason)
                    && result.err.contains("hint: "), "\(result.out)\(result.err)")
            #expect(Self.bytes(fake.root + "/etc/default/grub") == original)
            #expect(!FileManager.default.fileExists(atPath: fake.root + "/etc/default/grub.vfioctl.bak"))
        }
    }

    @Test("item 6: a grub over 1 MiB is edited whole, never cut to 1 MiB; one over the 4 MiB limit is refused, naming its size and the limit")
    func largeFiles() throws {
        let comment = Array(("# " + String(repeating: "x", count: 1021) + "\n").utf8)  // 1 KiB a line
        var large: [UInt8] = []
        for _ in 0..<1536 { large += comment }
        large += Array("GRUB_CMDLINE_LINUX=\"root=/dev/sda1 rd.luks.uuid=luks-1\"\nGRUB_TIMEOUT=5\n".utf8)
        let fake = Self.host(["etc/default/grub": large])
        defer { fake.remove() }
        let file = fake.root + "/etc/default/grub"
        let written = try Self.vfioctl(fake, ["cmdline", "--write"])
        #expect(written.status == 0, "\(written.err)")
        let after = try #require(Self.bytes(file))
        #expect(after.count == large.count + " intel_iommu=on iommu=pt".utf8.count && Self.onlyInserted(large, after))
        #expect(Self.words(try Self.source("dash", file)) == ["root=/dev/sda1", "rd.luks.uuid=luks-1", "intel_iommu=on", "iommu=pt"])
        #expect(Self.bytes(file + ".vfioctl.bak") == large)

        var huge = [UInt8](repeating: UInt8(ascii: "#"), count: (4 << 20) + 1)
        huge[huge.count - 1] = 0x0a
        fake.writeBytes("etc/default/grub", huge)
        for arguments in [["cmdline", "--write"], ["cmdline"]] {
            let refused = try Self.vfioctl(fake, arguments)
            #expect(refused.status == 1 && refused.err.contains("error: /etc/default/grub is 4194305 bytes")
                    && refused.err.contains("4 MiB (4194304 bytes)") && refused.err.contains("hint: "), "\(refused.err)")
        }
        #expect(Self.bytes(file)?.count == huge.count)
    }

    @Test("item 8: bytes that are not UTF-8 survive in the new file and in the backup (grub, initramfs-tools modules); the mode is kept")
    func notUTF8() throws {
        let grub = [UInt8]("GRUB_DISTRIBUTOR=\"D".utf8) + [0xe9, 0xbf] + Array("bian\"\nGRUB_CMDLINE_LINUX=\"\"\n# \u{00e9}t\u{00e9} ".utf8) + [0xff, 0x0a]
        let modules = [UInt8]("# modules ".utf8) + [0xfe, 0x80, 0x0a] + Array("nvme\n".utf8)
        let fake = Self.host(["etc/default/grub": grub, "etc/initramfs-tools/modules": modules])
        fake.write("usr/sbin/update-initramfs", "#!/bin/sh\n", mode: 0o755)
        defer { fake.remove() }
        chmod(fake.root + "/etc/default/grub", 0o640)
        #expect(try Self.vfioctl(fake, ["cmdline", "--write"]).status == 0)
        for path in ["/etc/default/grub", "/etc/default/grub.vfioctl.bak"] {
            var info = stat()
            #expect(stat(fake.root + path, &info) == 0 && info.st_mode & 0o7777 == 0o640, "\(path) lost its mode")
        }
        let expected = [UInt8]("GRUB_DISTRIBUTOR=\"D".utf8) + [0xe9, 0xbf]
            + Array("bian\"\nGRUB_CMDLINE_LINUX=\"intel_iommu=on iommu=pt\"\n# \u{00e9}t\u{00e9} ".utf8) + [0xff, 0x0a]
        #expect(Self.bytes(fake.root + "/etc/default/grub") == expected)
        #expect(Self.bytes(fake.root + "/etc/default/grub.vfioctl.bak") == grub)
        #expect(try Self.vfioctl(fake, ["initramfs", "--write"]).status == 0)
        let written = try #require(Self.bytes(fake.root + "/etc/initramfs-tools/modules"))
        #expect(Array(written.prefix(modules.count)) == modules && String(decoding: written, as: UTF8.self).hasSuffix("vfio_pci\nvfio\nvfio_iommu_type1\n"))
        #expect(Self.bytes(fake.root + "/etc/initramfs-tools/modules.vfioctl.bak") == modules)
    }

    @Test("mkinitcpio.conf: MODULES edited where it stands, bytes that are not UTF-8 kept; bash sees vfio first and nvme kept")
    func mkinitcpio() throws {
        let conf = [UInt8]("# M".utf8) + [0xfc] + Array("nchen\nHOOKS=(base udev modconf block)\nMODULES=(nvme) # boot disk\nCOMPRESSION=\"zstd\"\n".utf8)
        let fake = Self.host(["etc/mkinitcpio.conf": conf])
        fake.write("usr/bin/mkinitcpio", "#!/bin/sh\n", mode: 0o755)
        defer { fake.remove() }
        let written = try Self.vfioctl(fake, ["initramfs", "--write"])
        #expect(written.status == 0, "\(written.err)")
        let file = fake.root + "/etc/mkinitcpio.conf"
        #expect(Self.bytes(file) == [UInt8]("# M".utf8) + [0xfc]
                + Array("nchen\nHOOKS=(base udev modconf block)\nMODULES=(vfio_pci vfio vfio_iommu_type1 nvme) # boot disk\nCOMPRESSION=\"zstd\"\n".utf8))
        #expect(Self.bytes(file + ".vfioctl.bak") == conf)
        let modules = try TestProcess.run("bash", ["-c", ". \"$1\"; printf '%s ' \"${MODULES[@]}\"", "sh", file])
        #expect(Self.words(modules.out) == ["vfio_pci", "vfio", "vfio_iommu_type1", "nvme"], "\(modules.out)")
        #expect(try Self.vfioctl(fake, ["initramfs", "--write"]).out.contains("already loads"))
    }

    // MARK: item 9: links

    /// A file outside the root that nothing may touch.
    static func precious() -> (path: String, remove: () -> Void) {
        let path = NSTemporaryDirectory() + "vfioctl-precious-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        FileManager.default.createFile(atPath: path, contents: Data("precious\n".utf8), attributes: [.posixPermissions: 0o600])
        return (path, { try? FileManager.default.removeItem(atPath: path) })
    }

    static func untouched(_ path: String) -> Bool {
        var info = stat()
        return bytes(path) == Array("precious\n".utf8) && stat(path, &info) == 0 && info.st_mode & 0o7777 == 0o600
    }

    @Test("item 9: links planted at the temporary and backup names are never followed: the file outside the root keeps its bytes and mode",
          arguments: ["etc/default/grub.vfioctl-new", "etc/default/grub.vfioctl.bak", "etc/default/grub.vfioctl.bak.vfioctl-new"])
    func plantedLinks(name: String) throws {
        let outside = Self.precious()
        defer { outside.remove() }
        let grub = Array("GRUB_CMDLINE_LINUX=\"root=/dev/sda1\"\n".utf8)
        let fake = Self.host(["etc/default/grub": grub])
        defer { fake.remove() }
        symlink(outside.path, fake.root + "/" + name)
        let written = try Self.vfioctl(fake, ["cmdline", "--write"])
        #expect(written.status == 0, "\(written.err)")
        #expect(Self.untouched(outside.path))
        #expect(Self.bytes(fake.root + "/etc/default/grub") == Array("GRUB_CMDLINE_LINUX=\"root=/dev/sda1 intel_iommu=on iommu=pt\"\n".utf8))
        #expect(Self.bytes(fake.root + "/etc/default/grub.vfioctl.bak") == grub)
    }

    @Test("item 9: modprobe.d and persist-style writes go through the same writer: a planted temporary link is not followed")
    func plantedModprobeLink() throws {
        let outside = Self.precious()
        defer { outside.remove() }
        let fake = Self.host(["etc/modprobe.d/vfio.conf": Array("options vfio-pci ids=1234:5678\n".utf8)])
        defer { fake.remove() }
        symlink(outside.path, fake.root + "/etc/modprobe.d/vfio.conf.vfioctl-new")
        let written = try Self.vfioctl(fake, ["modprobe", "--vfio-ids", "10de:1b80", "--write"])
        #expect(written.status == 0, "\(written.err)")
        #expect(Self.untouched(outside.path))
        #expect(String(decoding: Self.bytes(fake.root + "/etc/modprobe.d/vfio.conf") ?? [], as: UTF8.self).contains("ids=10de:1b80"))
    }

    @Test("item 9: a directory on the way that is a link out of the root, or /etc/default/grub itself a link, is an error; nothing outside changes")
    func linkedPaths() throws {
        let outsideDirectory = NSTemporaryDirectory() + "vfioctl-outside-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: outsideDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: outsideDirectory) }
        let grub = Array("GRUB_CMDLINE_LINUX=\"root=/dev/sda1\"\n".utf8)
        FileManager.default.createFile(atPath: outsideDirectory + "/grub", contents: Data(grub))

        // etc/default → a directory outside the root.
        let fake = Self.host([:])
        defer { fake.remove() }
        fake.makeDirectory("etc")
        symlink(outsideDirectory, fake.root + "/etc/default")
        for arguments in [["cmdline", "--write"], ["modprobe", "--nested", "--write"]] {
            if arguments[0] == "modprobe" {
                try FileManager.default.removeItem(atPath: fake.root + "/etc/default")
                symlink(outsideDirectory, fake.root + "/etc/modprobe.d")
            }
            let result = try Self.vfioctl(fake, arguments)
            #expect(result.status == 1 && result.err.contains("leads out of") && result.err.contains("hint: "), "\(arguments): \(result.out)\(result.err)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: outsideDirectory) == ["grub"])
            #expect(Self.bytes(outsideDirectory + "/grub") == grub)
        }

        // etc/default/grub → a file outside the root: not read, not written, the link stays.
        let linked = Self.host([:])
        defer { linked.remove() }
        linked.makeDirectory("etc/default")
        symlink(outsideDirectory + "/grub", linked.root + "/etc/default/grub")
        let outside = try Self.vfioctl(linked, ["cmdline", "--write"])
        #expect(outside.status == 1 && outside.err.contains("symbolic link") && !outside.out.contains("root=/dev/sda1"), "\(outside.out)\(outside.err)")
        #expect(Self.bytes(outsideDirectory + "/grub") == grub && Self.link(linked.root + "/etc/default/grub") != nil)

        // etc/default/grub → grub.real inside the root: shown, but --write refuses to write through it.
        let inside = Self.host(["etc/default/grub.real": grub])
        defer { inside.remove() }
        symlink("grub.real", inside.root + "/etc/default/grub")
        #expect(try Self.vfioctl(inside, ["cmdline"]).out.contains("+GRUB_CMDLINE_LINUX=\"root=/dev/sda1 intel_iommu=on iommu=pt\""))
        let refused = try Self.vfioctl(inside, ["cmdline", "--write"])
        #expect(refused.status == 1 && refused.err.contains("error: /etc/default/grub is a symbolic link (to grub.real)")
                && refused.err.contains("hint: "), "\(refused.err)")
        #expect(Self.bytes(inside.root + "/etc/default/grub.real") == grub && Self.link(inside.root + "/etc/default/grub") == "grub.real")
    }
}
