import Foundation
import Testing
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// libvirt's own judges: its RelaxNG schemas (virt-xml-validate, libvirt-clients) and its test
/// driver (virsh -c test:///default), which parses and formats the XML as libvirtd would.
enum Libvirt {
    static func temporary(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "vfioctl-xml-\(UUID().uuidString).xml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The elements inside a minimal domain.
    static func domain(_ devices: String) -> String {
        """
            <domain type='kvm'>
              <name>vfioctl-test</name>
              <memory unit='KiB'>65536</memory>
              <os><type arch='x86_64' machine='pc'>hvm</type></os>
              <devices>
            \(devices)  </devices>
            </domain>

            """
    }

    /// The elements inside a minimal domain, validated and defined; returns `virsh dumpxml`.
    static func defineDomain(_ devices: String) throws -> String {
        try judge(domain(devices), schema: "domain", define: "define", dump: "dumpxml vfioctl-test")
    }

    static func defineNetwork(_ network: String, name: String) throws -> String {
        try judge(network, schema: "network", define: "net-define", dump: "net-dumpxml '\(name)'")
    }

    static func judge(_ document: String, schema: String, define: String, dump: String) throws -> String {
        let file = try temporary(document)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let validated = try TestProcess.run("virt-xml-validate", [file, schema], timeout: 60)
        guard validated.status == 0 else {
            throw LibvirtRejected("virt-xml-validate (\(schema)) rejected:\n\(document)\n\(validated.out)\(validated.err)")
        }
        let virsh = try TestProcess.run("virsh", ["-c", "test:///default", "\(define) \(file); \(dump)"], timeout: 60)
        guard virsh.status == 0 else { throw LibvirtRejected("virsh \(define) rejected:\n\(document)\n\(virsh.err)") }
        // "Domain 'x' defined from FILE" comes first; the dump follows.
        return virsh.out.firstIndex(of: "<").map { String(virsh.out[$0...]) } ?? virsh.out
    }
}

struct LibvirtRejected: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

@Suite("libvirt XML")
struct XMLCommandTests {
    func xml(_ fake: FakeSysfs, _ arguments: [String]) -> (status: Int32, out: String, err: String) {
        Vfioctl.capture(["xml"] + arguments + ["--root", fake.root])
    }

    @Test("hostdev for a whole group: golden text, libvirt's schema and test driver accept it, addresses round-trip")
    func hostdevGroup() throws {
        let fake = checkHost()
        defer { fake.remove() }
        let result = xml(fake, ["hostdev", "0000:02:02.0", "--guest-address", "00:08", "--driver", "vfio", "--rom-bar", "off"])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out == """
            <hostdev mode='subsystem' type='pci' managed='yes'>
              <driver name='vfio'/>
              <source>
                <address domain='0x0000' bus='0x02' slot='0x01' function='0x0'/>
              </source>
              <rom bar='off'/>
              <address type='pci' domain='0x0000' bus='0x00' slot='0x08' function='0x0'/>
            </hostdev>
            <hostdev mode='subsystem' type='pci' managed='yes'>
              <driver name='vfio'/>
              <source>
                <address domain='0x0000' bus='0x02' slot='0x02' function='0x0'/>
              </source>
              <rom bar='off'/>
              <address type='pci' domain='0x0000' bus='0x00' slot='0x09' function='0x0'/>
            </hostdev>

            """)
        let dumped = try Libvirt.defineDomain(result.out)
        let devices = try DomainDevices.parse(dumped, source: "virsh dumpxml")
        #expect(devices.devices.map(\.address.description) == ["0000:02:01.0", "0000:02:02.0"])
        let allManaged = devices.devices.allSatisfy { $0.managed }
        #expect(allManaged)
    }

    @Test("a multifunction GPU on one guest slot: multifunction='on' on function 0; unmanaged; a ROM file")
    func multifunction() throws {
        let fake = checkHost()
        defer { fake.remove() }
        let result = xml(fake, ["hostdev", "--group", "6", "--guest-address", "0000:00:0a", "--managed", "no",
                                "--rom-file", "/usr/share/vgabios/rx580's.rom"])
        #expect(result.status == 0, "\(result.err)")
        #expect(result.out.contains("<address type='pci' domain='0x0000' bus='0x00' slot='0x0a' function='0x0' multifunction='on'/>"))
        #expect(result.out.contains("<address type='pci' domain='0x0000' bus='0x00' slot='0x0a' function='0x1'/>"))
        #expect(result.out.contains("<rom file='/usr/share/vgabios/rx580&apos;s.rom'/>"))
        #expect(result.out.contains("managed='no'"))
        let dumped = try Libvirt.defineDomain(result.out)
        #expect(dumped.contains("multifunction='on'") && dumped.contains("managed='no'"))
        let qemu = Vfioctl.capture(["xml", "qemu-args", "--group", "6", "--guest-address", "0a", "--root", fake.root])
        #expect(qemu.out == "-device vfio-pci,host=0000:04:00.0,addr=0x0a.0,multifunction=on -device vfio-pci,host=0000:04:00.1,addr=0x0a.1\n")
    }

    @Test("interface type='hostdev' for a VF: MAC, VLAN, port profile, as in the RHEL guide; libvirt keeps them")
    func interface() throws {
        let fake = checkHost()
        defer { fake.remove() }
        let result = xml(fake, ["interface", "05:10.0", "--mac", "52:54:00:6D:90:02", "--vlan", "42", "--virtualport-profile", "finance"])
        #expect(result.status == 0 && result.err.isEmpty, "\(result.err)")
        #expect(result.out == """
            <interface type='hostdev' managed='yes'>
              <mac address='52:54:00:6d:90:02'/>
              <source>
                <address type='pci' domain='0x0000' bus='0x05' slot='0x10' function='0x0'/>
              </source>
              <vlan>
                <tag id='42'/>
              </vlan>
              <virtualport type='802.1Qbh'>
                <parameters profileid='finance'/>
              </virtualport>
            </interface>

            """)
        let dumped = try Libvirt.defineDomain(result.out)
        #expect(dumped.contains("<mac address='52:54:00:6d:90:02'/>") && dumped.contains("<tag id='42'/>"))
        #expect(try DomainDevices.parse(dumped, source: "dumpxml").devices.first?.setsVFConfig == true)
        let native = xml(fake, ["interface", "05:10.0", "--vlan", "7:native", "--driver", "vfio"])
        #expect(native.out.contains("<tag id='7' nativeMode='untagged'/>"))
        _ = try Libvirt.defineDomain(native.out)
        let notVF = xml(fake, ["interface", "0000:01:00.0", "--mac", "52:54:00:00:00:01"])
        #expect(notVF.status == 0 && notVF.err.contains("warning: 0000:01:00.0 is not an SR-IOV VF"))
    }

    @Test("hostdev networks: one PF by name; VFs listed; several PFs become their VFs")
    func network() throws {
        let fake = checkHost()
        defer { fake.remove() }
        let pf = xml(fake, ["network", "vf-pool", "--pf", "enp5s0f0"])
        #expect(pf.status == 0, "\(pf.err)")
        #expect(pf.out == """
            <network>
              <name>vf-pool</name>
              <forward mode='hostdev' managed='yes'>
                <pf dev='enp5s0f0'/>
              </forward>
            </network>

            """)
        #expect(try Libvirt.defineNetwork(pf.out, name: "vf-pool").contains("<pf dev='enp5s0f0'/>"))
        let vfs = xml(fake, ["network", "pool <&> 2", "--vf", "0000:05:10.0"])
        #expect(vfs.out.contains("<name>pool &lt;&amp;&gt; 2</name>"))
        #expect(vfs.out.contains("<address type='pci' domain='0x0000' bus='0x05' slot='0x10' function='0x0'/>"))
        #expect(try Libvirt.defineNetwork(vfs.out, name: "pool <&> 2").contains("slot='0x10'"))
    }

    @Test("bad input is refused with the value and a hint", arguments: [
        (["interface", "05:10.0", "--mac", "01:00:5e:00:00:01"], 64, "multicast MAC"),
        (["interface", "05:10.0", "--mac", "00:00:00:00:00:00"], 64, "not a usable MAC"),
        (["interface", "05:10.0", "--mac", "52:54:00:zz:00:01"], 64, "is not a MAC address"),
        (["interface", "05:10.0", "--vlan", "0"], 64, "not a tag from 1 to 4094"),
        (["interface", "05:10.0", "--vlan", "4095"], 64, "not a tag from 1 to 4094"),
        (["interface", "05:10.0", "--vlan", "42:tagged"], 64, "not a tag from 1 to 4094"),
        (["interface", "0000:00:1e.0"], 64, "is a bridge"),
        (["interface", "0000:0f:00.0"], 1, "no PCI function 0000:0f:00.0"),
        (["hostdev", "0000:0f:00.0"], 1, "no PCI function 0000:0f:00.0"),
        (["hostdev"], 64, "needs a PCI address, --group N or --mdev UUID"),
        (["hostdev", "0000:02:01.0", "--guest-address", "00:20"], 64, "not a guest PCI slot"),
        (["hostdev", "0000:02:01.0", "--guest-address", "00:1f"], 64, "do not fit"),
        (["hostdev", "0000:02:01.0", "--rom-file", "a", "--rom-bar", "off"], 64, "not both"),
        (["network", "../etc/x", "--pf", "enp5s0f0"], 64, "cannot be a network name"),
        (["network", "pool"], 64, "needs --pf DEV or --vf ADDRESS"),
        (["network", "pool", "--pf", "enp1s0"], 64, "is not an SR-IOV PF"),
        (["network", "pool", "--pf", "eth9"], 1, "no network interface 'eth9'"),
        (["network", "pool", "--vf", "0000:01:00.0"], 64, "is not an SR-IOV VF"),
    ] as [([String], Int32, String)])
    func badInput(arguments: [String], status: Int32, message: String) {
        let fake = checkHost()
        defer { fake.remove() }
        let result = xml(fake, arguments)
        #expect(result.status == status && result.err.contains(message) && result.out.isEmpty, "\(arguments): \(result.status) \(result.err)")
    }
}
