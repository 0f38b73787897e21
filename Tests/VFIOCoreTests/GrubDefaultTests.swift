import Foundation
import Testing
import VFIOCore

/// /etc/default/grub as distributions ship it, edited for passthrough: only the options change.
@Suite("GRUB command line edits")
struct GrubDefaultTests {
    static let debian = """
        # If you change this file, run 'update-grub' afterwards to update
        # /boot/grub/grub.cfg.
        # For full documentation of the options in this file, see:
        #   info -f grub -n 'Simple configuration'

        GRUB_DEFAULT=0
        GRUB_TIMEOUT=5
        GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
        GRUB_CMDLINE_LINUX_DEFAULT="quiet"
        GRUB_CMDLINE_LINUX=""

        # Uncomment to enable BadRAM filtering, modify to suit your needs
        #GRUB_BADRAM="0x01234567,0xfefefefe,0x89abcdef,0xefefefef"

        """

    static let ubuntu = """
        GRUB_DEFAULT=0
        GRUB_TIMEOUT_STYLE=hidden
        GRUB_TIMEOUT=0
        GRUB_DISTRIBUTOR=`( . /etc/os-release; echo ${NAME:-Ubuntu} ) 2>/dev/null || echo Ubuntu`
        GRUB_CMDLINE_LINUX_DEFAULT="quiet splash intel_iommu=off"
        GRUB_CMDLINE_LINUX='console=ttyS0,115200n8 iommu=soft'
        #GRUB_CMDLINE_LINUX="intel_iommu=on"
        """

    static let rhel = """
        GRUB_TIMEOUT=5
        GRUB_DISTRIBUTOR="$(sed 's, release .*$,,g' /etc/system-release)"
        GRUB_DEFAULT=saved
        GRUB_DISABLE_SUBMENU=true
        GRUB_TERMINAL_OUTPUT="console"
        GRUB_CMDLINE_LINUX="crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet"
        GRUB_DISABLE_RECOVERY="true"
        GRUB_ENABLE_BLSCFG=true

        """

    static let intel = GrubDefault.iommuOptions(vendor: "GenuineIntel")

    @Test("Debian: options added to the empty GRUB_CMDLINE_LINUX, every other byte kept; a second run changes nothing")
    func debian() throws {
        let edit = try GrubDefault.ensure(Self.intel, in: Self.debian)
        #expect(edit.text == Self.debian.replacingOccurrences(of: "GRUB_CMDLINE_LINUX=\"\"", with: "GRUB_CMDLINE_LINUX=\"intel_iommu=on iommu=pt\""))
        #expect(edit.changes == ["GRUB_CMDLINE_LINUX: add intel_iommu=on", "GRUB_CMDLINE_LINUX: add iommu=pt"])
        let again = try GrubDefault.ensure(Self.intel, in: edit.text)
        #expect(!again.changed && again.text == edit.text)
    }

    @Test("Ubuntu: single quotes kept, iommu=soft replaced in place, intel_iommu=off in _DEFAULT replaced, comments untouched")
    func ubuntu() throws {
        let edit = try GrubDefault.ensure(Self.intel, in: Self.ubuntu)
        #expect(edit.text.contains("GRUB_CMDLINE_LINUX_DEFAULT=\"quiet splash intel_iommu=on\"\n"))
        #expect(edit.text.contains("GRUB_CMDLINE_LINUX='console=ttyS0,115200n8 iommu=pt intel_iommu=on'\n"))
        #expect(edit.text.contains("#GRUB_CMDLINE_LINUX=\"intel_iommu=on\""))
        #expect(edit.changes.contains("GRUB_CMDLINE_LINUX_DEFAULT: intel_iommu=off -> intel_iommu=on"))
        #expect(edit.changes.contains("GRUB_CMDLINE_LINUX: iommu=soft -> iommu=pt"))
        #expect(try GrubDefault.ensure(Self.intel, in: edit.text).text == edit.text)
    }

    @Test("RHEL: a long line with commas and slashes; AMD gets iommu=pt only, never amd_iommu=on")
    func rhel() throws {
        let amd = GrubDefault.iommuOptions(vendor: "AuthenticAMD")
        #expect(amd == ["iommu=pt"])
        let edit = try GrubDefault.ensure(amd, in: Self.rhel)
        #expect(edit.text.contains("rhgb quiet iommu=pt\"\n"))
        #expect(edit.text.replacingOccurrences(of: " iommu=pt", with: "") == Self.rhel)
    }

    @Test("odd files: no assignment (one is appended), unquoted values, export, trailing comments, the last assignment wins", arguments: [
        ("GRUB_TIMEOUT=5\n", "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX=\"intel_iommu=on iommu=pt\"\n"),
        ("GRUB_TIMEOUT=5", "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX=\"intel_iommu=on iommu=pt\""),
        ("GRUB_CMDLINE_LINUX=quiet\n", "GRUB_CMDLINE_LINUX=\"quiet intel_iommu=on iommu=pt\"\n"),
        ("export GRUB_CMDLINE_LINUX=\"a\"  # keep me\n", "export GRUB_CMDLINE_LINUX=\"a intel_iommu=on iommu=pt\"  # keep me\n"),
        ("GRUB_CMDLINE_LINUX=\"a\"\nGRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX b\"\n",
         "GRUB_CMDLINE_LINUX=\"a\"\nGRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX b intel_iommu=on iommu=pt\"\n"),
        ("GRUB_CMDLINE_LINUX=\"x=\\\"y z\\\"\"\n", "GRUB_CMDLINE_LINUX=\"x=\\\"y z\\\" intel_iommu=on iommu=pt\"\n"),
    ])
    func oddFiles(before: String, after: String) throws {
        let edit = try GrubDefault.ensure(Self.intel, in: before)
        #expect(edit.text == after)
        #expect(try GrubDefault.ensure(Self.intel, in: edit.text).text == after)
    }
}
