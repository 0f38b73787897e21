import Foundation
import Glibc
import Testing
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// A host's iommufd state: what its kernel, configuration, modules and /dev say, and the
/// finding `check` must give.
struct IOMMUFDCase: Sendable, CustomTestStringConvertible {
    var name: String
    var release = "6.12.117+deb12-amd64"
    var config: String? = nil
    var loaded: [String] = []
    var iommuNode = false
    var cdevs = false
    var installed = true
    var id: String
    var severity = "info"
    var message: [String]
    var hint: [String] = []
    var testDescription: String { name }
}

/// /proc/config.gz of "CONFIG_VFIO=m\n# CONFIG_IOMMUFD is not set\nCONFIG_VFIO_CONTAINER=y\n" (gzip, mtime 0).
let procConfigGz: [UInt8] = [
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0x73, 0xf6, 0xf7, 0x73, 0xf3, 0x74, 0x8f, 0x0f, 0x73, 0xf3,
    0xf4, 0xb7, 0xcd, 0xe5, 0x52, 0x56, 0x70, 0x86, 0xf0, 0x3d, 0xfd, 0x7d, 0x7d, 0x43, 0xdd, 0x5c, 0x14, 0x32, 0x8b, 0x15,
    0xf2, 0xf2, 0x4b, 0x14, 0x8a, 0x53, 0x4b, 0xb8, 0x9c, 0x11, 0x2a, 0xe3, 0x81, 0xec, 0x10, 0x47, 0x4f, 0x3f, 0xd7, 0x20,
    0xdb, 0x4a, 0x2e, 0x00, 0x18, 0x35, 0x26, 0x6f, 0x42, 0x00, 0x00, 0x00,
]

/// A host whose iommufd and cdev are all there: 6.12 built with both, /dev/iommu, cdevs.
func iommufdHost(_ adjust: (inout FakeSysfs) -> Void = { _ in }) -> FakeSysfs {
    checkHost { fake in
        fake.kernelRelease = "6.12.117+deb12-amd64"
        fake.kernelConfig = "CONFIG_IOMMUFD=m\nCONFIG_VFIO_DEVICE_CDEV=y\nCONFIG_VFIO_CONTAINER=y\n"
        fake.loadedModules.append("iommufd")
        fake.iommuDeviceMode = 0o660
        fake.vfioCdevs = true
        adjust(&fake)
    }
}

@Suite("iommufd and the VFIO device cdev: check, show, xml qemu-args --iommufd")
struct IOMMUFDTests {
    static let cases: [IOMMUFDCase] = [
        IOMMUFDCase(name: "Debian 6.1: older than iommufd (no configuration read needed)", release: "6.1.0-56-amd64",
                    id: "iommufd.unavailable", message: ["Linux 6.1.0-56-amd64 predates it", "6.2", "6.6"],
                    hint: ["nothing to fix for passthrough", "/dev/vfio/N"]),
        IOMMUFDCase(name: "Debian 6.12: built without CONFIG_IOMMUFD", config: "CONFIG_VFIO=m\n# CONFIG_IOMMUFD is not set\n",
                    id: "iommufd.unavailable",
                    message: ["built without it", "# CONFIG_IOMMUFD is not set in /boot/config-6.12.117+deb12-amd64"],
                    hint: ["CONFIG_VFIO_DEVICE_CDEV", "Debian's kernels"]),
        IOMMUFDCase(name: "a module not loaded yet", config: "CONFIG_IOMMUFD=m\nCONFIG_VFIO_DEVICE_CDEV=y\n",
                    id: "iommufd.unavailable", message: ["the iommufd module is not loaded"], hint: ["modprobe iommufd"]),
        IOMMUFDCase(name: "built in, but no /dev/iommu: a warning", config: "CONFIG_IOMMUFD=y\nCONFIG_VFIO_DEVICE_CDEV=y\n",
                    id: "iommufd.unavailable", severity: "warning", message: ["/dev/iommu does not exist"], hint: ["devtmpfs"]),
        IOMMUFDCase(name: "/dev/iommu without the VFIO cdev (CONFIG_VFIO_DEVICE_CDEV not set)",
                    config: "CONFIG_IOMMUFD=y\n# CONFIG_VFIO_DEVICE_CDEV is not set\n", iommuNode: true, id: "iommufd.unavailable",
                    message: ["no VFIO device cdev", "# CONFIG_VFIO_DEVICE_CDEV is not set in"]),
        IOMMUFDCase(name: "/dev/iommu on 6.4 with no configuration: no cdev by version", release: "6.4.0-1-amd64", iommuNode: true,
                    id: "iommufd.unavailable", message: ["no VFIO device cdev", "older than 6.6"]),
        IOMMUFDCase(name: "a module the kernel builds but lib/modules lacks", config: "CONFIG_IOMMUFD=m\n", installed: false,
                    id: "iommufd.unavailable", message: ["the iommufd module is not installed"], hint: ["install the modules"]),
        IOMMUFDCase(name: "no /dev/iommu and nothing to tell why", installed: false, id: "iommufd.unavailable",
                    message: ["could not be read to tell why", "/proc/config.gz"]),
        IOMMUFDCase(name: "all there", config: "CONFIG_IOMMUFD=m\nCONFIG_VFIO_DEVICE_CDEV=y\n", loaded: ["iommufd"], iommuNode: true,
                    cdevs: true, id: "iommufd.available", message: ["iommufd is available (/dev/iommu)", "1 in /dev/vfio/devices"],
                    hint: ["--iommufd"]),
    ]

    @Test("check names iommufd's state and why, as information (the group path works without it)", arguments: cases)
    func state(_ host: IOMMUFDCase) throws {
        let fake = checkHost { fake in
            fake.kernelRelease = host.release
            fake.kernelConfig = host.config
            fake.loadedModules += host.loaded
            if !host.installed { fake.installedModules.removeAll { $0 == "iommufd" } }
            if host.iommuNode { fake.iommuDeviceMode = 0o660 }
            fake.vfioCdevs = host.cdevs
        }
        defer { fake.remove() }
        let result = try check(fake, [])
        #expect(result.status == 0, "\(result.findings)")
        #expect(result.severity(host.id) == host.severity, "\(result.findings)")
        for part in host.message { #expect(result.message(host.id).contains(part), "\(result.message(host.id))") }
        for part in host.hint { #expect(result.hint(host.id).contains(part), "\(result.hint(host.id))") }
        let other = host.id == "iommufd.available" ? "iommufd.unavailable" : "iommufd.available"
        #expect(result.finding(other) == nil)
    }

    @Test("/proc/config.gz when /boot has no configuration: inflated and read; damaged or huge is unknown, never a crash")
    func procConfig() throws {
        let gz = checkHost { fake in fake.kernelRelease = "6.12.117+deb12-amd64" }
        defer { gz.remove() }
        gz.writeBytes("proc/config.gz", procConfigGz)
        let read = try check(gz, [])
        #expect(read.message("iommufd.unavailable").contains("# CONFIG_IOMMUFD is not set in /proc/config.gz"), "\(read.findings)")

        for damage: [UInt8] in [[0x1f, 0x8b] + [UInt8](repeating: 0xff, count: 200), Array(procConfigGz.prefix(40)),
                                 Array("CONFIG_IOMMUFD=y\n".utf8)] {
            let bad = checkHost { fake in
                fake.kernelRelease = "6.12.117+deb12-amd64"
                fake.installedModules.removeAll { $0 == "iommufd" }
            }
            defer { bad.remove() }
            bad.writeBytes("proc/config.gz", damage)
            let result = try check(bad, [])
            #expect(result.status == 0 && result.message("iommufd.unavailable").contains("could not be read"), "\(result.findings)")
        }
        // A configuration beyond the bound (4 MiB) is not read at all.
        let huge = checkHost { fake in
            fake.kernelRelease = "6.12.117+deb12-amd64"
            fake.kernelConfig = String(repeating: "CONFIG_X=y\n", count: 400_000) + "# CONFIG_IOMMUFD is not set\n"
            fake.installedModules.removeAll { $0 == "iommufd" }
        }
        defer { huge.remove() }
        #expect(try check(huge, []).message("iommufd.unavailable").contains("could not be read"))
    }

    @Test("a FIFO or a directory at /dev/iommu is no device, and is never opened")
    func fifo() throws {
        let fake = checkHost { fake in
            fake.kernelRelease = "6.12.117+deb12-amd64"
            fake.kernelConfig = "CONFIG_IOMMUFD=y\nCONFIG_VFIO_DEVICE_CDEV=y\n"
        }
        defer { fake.remove() }
        #expect(mkfifo(fake.root + "/dev/iommu", 0o600) == 0)
        let result = try check(fake, [])
        #expect(result.severity("iommufd.unavailable") == "warning" && result.message("iommufd.unavailable").contains("/dev/iommu does not exist"))
        unlink(fake.root + "/dev/iommu")
        fake.makeDirectory("dev/iommu")
        #expect(try check(fake, []).finding("iommufd.available") == nil)
    }

    @Test("show and list: a function on vfio-pci names its cdev (text and JSON); none without one")
    func show() throws {
        let fake = iommufdHost()
        defer { fake.remove() }
        let text = Vfioctl.capture(["show", "0000:05:10.0", "--root", fake.root])
        #expect(text.out.contains("vfio cdev:") && text.out.contains("/dev/vfio/devices/vfio8"), "\(text.out)")
        let json = try VFIOCommandsTests.json(Vfioctl.capture(["show", "0000:05:10.0", "--root", fake.root, "--format", "json"]).out)
        #expect((json["function"] as? [String: Any])?["vfio_cdev"] as? String == "/dev/vfio/devices/vfio8")
        let nic = try VFIOCommandsTests.json(Vfioctl.capture(["show", "0000:00:1c.0", "--root", fake.root, "--format", "json"]).out)
        #expect((nic["function"] as? [String: Any])?["vfio_cdev"] is NSNull)

        let old = checkHost()
        defer { old.remove() }
        let before = Vfioctl.capture(["show", "0000:05:10.0", "--root", old.root])
        #expect(before.out.contains("vfio cdev:") && before.out.contains("none (a kernel before 6.6"), "\(before.out)")
    }

    @Test("check ADDRESS on vfio-pci: vfio.cdev names the node, a warning when /dev lacks it")
    func cdevFinding() throws {
        let fake = iommufdHost()
        defer { fake.remove() }
        let result = try check(fake, ["0000:05:10.0"])
        #expect(result.severity("vfio.cdev", subject: "0000:05:10.0") == "info")
        #expect(result.message("vfio.cdev").contains("/dev/vfio/devices/vfio8") && result.message("vfio.cdev").contains("--iommufd"))
        unlink(fake.root + "/dev/vfio/devices/vfio8")
        let missing = try check(fake, ["0000:05:10.0"])
        #expect(missing.severity("vfio.cdev") == "warning" && missing.message("vfio.cdev").contains("does not exist"))
        #expect(missing.finding("iommufd.available") != nil)

        let old = checkHost()
        defer { old.remove() }
        #expect(try check(old, ["0000:05:10.0"]).finding("vfio.cdev") == nil)
    }

    @Test("a kernel without /dev/vfio/vfio at all, or whose /dev/vfio/vfio is iommufd's")
    func container() throws {
        let none = checkHost { fake in
            fake.kernelRelease = "6.12.117+deb12-amd64"
            fake.kernelConfig = "CONFIG_IOMMUFD=y\nCONFIG_VFIO_DEVICE_CDEV=y\n# CONFIG_VFIO_CONTAINER is not set\n"
            fake.vfioContainerMode = nil
            fake.iommuDeviceMode = 0o660
        }
        defer { none.remove() }
        let result = try check(none, [])
        #expect(result.status == 0 && result.severity("vfio.no-container") == "warning", "\(result.findings)")
        #expect(result.hint("vfio.no-container").contains("--iommufd") && result.finding("vfio.container-missing") == nil)

        let compat = checkHost { fake in
            fake.kernelRelease = "6.12.117+deb12-amd64"
            fake.kernelConfig = "CONFIG_IOMMUFD=m\nCONFIG_IOMMUFD_VFIO_CONTAINER=y\n"
            fake.vfioContainerMode = nil
        }
        defer { compat.remove() }
        let iommufd = try check(compat, [])
        #expect(iommufd.severity("vfio.container-missing") == "warning" && iommufd.hint("vfio.container-missing") == "modprobe iommufd")

        let broken = checkHost { fake in fake.vfioContainerMode = nil }
        defer { broken.remove() }
        #expect(try check(broken, []).severity("vfio.container-missing") == "error")
    }

    @Test("xml qemu-args --iommufd: QEMU's -object iommufd form where the host has it; refused (exit 2) with the reason where not")
    func qemuArgs() throws {
        let fake = iommufdHost()
        defer { fake.remove() }
        let ok = Vfioctl.capture(["xml", "qemu-args", "0000:05:10.0", "--iommufd", "--root", fake.root])
        #expect(ok.status == 0 && ok.out == "-object iommufd,id=iommufd0 -device vfio-pci,host=0000:05:10.0,iommufd=iommufd0\n",
                "\(ok.out)\(ok.err)")
        let plain = Vfioctl.capture(["xml", "qemu-args", "0000:05:10.0", "--root", fake.root])
        #expect(plain.out == "-device vfio-pci,host=0000:05:10.0\n")

        let debian = checkHost { fake in
            fake.kernelRelease = "6.12.117+deb12-amd64"
            fake.kernelConfig = "# CONFIG_IOMMUFD is not set\n"
        }
        defer { debian.remove() }
        let refused = Vfioctl.capture(["xml", "qemu-args", "0000:05:10.0", "--iommufd", "--root", debian.root])
        #expect(refused.status == 2 && refused.out.isEmpty, "\(refused.out)")
        #expect(refused.err.contains("error: --iommufd: iommufd is not available: this kernel (6.12.117+deb12-amd64) is built without it"),
                "\(refused.err)")
        #expect(refused.err.contains("hint:") && refused.err.contains("without --iommufd"))
    }
}

@Suite("vfio-pci's own options: config modprobe and config status")
struct VFIOPCIOptionTests {
    @Test("each option is written under a comment saying what it is for; the runtime ones say how to set them now")
    func modprobe() throws {
        let fake = checkHost()
        defer { fake.remove() }
        let result = Vfioctl.capture(["config", "modprobe", "--disable-idle-d3", "--disable-vga", "--root", fake.root])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out.contains("+# disable_vga: keeps vfio-pci from routing legacy VGA") && result.out.contains("+options vfio-pci disable_vga=1"))
        #expect(result.out.contains("+# disable_idle_d3: keeps idle devices") && result.out.contains("+options vfio-pci disable_idle_d3=1"))
        #expect(result.out.contains("echo 1 > /sys/module/vfio_pci/parameters/disable_idle_d3"))
        #expect(!result.out.contains("parameters/disable_vga"))
        let denylist = Vfioctl.capture(["config", "modprobe", "--disable-denylist", "--root", fake.root])
        #expect(denylist.err.contains("warning: disable_denylist"))
        let help = Vfioctl.capture(["config", "modprobe", "--help"])
        for option in ModprobeConfig.vfioPCIOptions { #expect(help.out.contains(option.flag), "\(option.flag)") }
        #expect(help.out.contains("vf-token"))

        let written = Vfioctl.capture(["config", "modprobe", "--enable-sriov", "--write", "--root", fake.root])
        #expect(written.status == 0, "\(written.err)")
        let status = try VFIOCommandsTests.json(Vfioctl.capture(["config", "status", "--root", fake.root, "--format", "json"]).out)
        let rows = status["settings"] as? [[String: Any]] ?? []
        let row = rows.first { $0["setting"] as? String == "vfio_pci.enable_sriov" }
        #expect(row?["state"] as? String == "reboot" && (row?["about"] as? String ?? "").contains("VF token"), "\(rows)")
        #expect((row?["hint"] as? String ?? "").contains("echo 1 > /sys/module/vfio_pci/parameters/enable_sriov"))
    }

    @Test("config status: an option on now but in no file is 'unsaved', with what it is for; one at its default is not shown")
    func status() throws {
        let fake = checkHost { fake in
            fake.moduleParameters["vfio_pci.disable_idle_d3"] = "Y"
            fake.moduleParameters["vfio_pci.nointxmask"] = "N"
        }
        defer { fake.remove() }
        let status = try VFIOCommandsTests.json(Vfioctl.capture(["config", "status", "--root", fake.root, "--format", "json"]).out)
        let rows = status["settings"] as? [[String: Any]] ?? []
        let row = rows.first { $0["setting"] as? String == "vfio_pci.disable_idle_d3" }
        #expect(row?["state"] as? String == "unsaved" && row?["running"] as? String == "Y", "\(rows)")
        #expect((row?["hint"] as? String ?? "").contains("--disable-idle-d3 --write") && (row?["about"] as? String ?? "").contains("D3"))
        #expect(!rows.contains { $0["setting"] as? String == "vfio_pci.nointxmask" })
        let text = Vfioctl.capture(["config", "status", "--root", fake.root])
        #expect(text.out.contains("vfio_pci.disable_idle_d3 is for this: keeps idle devices"), "\(text.out)")
    }
}
