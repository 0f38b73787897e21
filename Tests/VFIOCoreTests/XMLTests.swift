import Testing
import VFIOCore

@Suite("XML reader")
struct XMLTests {
    @Test("elements, attributes in either quote, entities, CDATA, comments, declaration, doctype")
    func parse() throws {
        let root = try XMLParser.parse("""
            <?xml version="1.0"?>
            <!DOCTYPE domain>
            <!-- a comment -->
            <domain type='kvm' id="1">
              <name>a &amp; b &lt;&#x41;&#66;&gt;</name>
              <description><![CDATA[<raw> & text]]></description>
              <devices><hostdev/><!-- inner --></devices>
            </domain>
            """)
        #expect(root.name == "domain" && root.attribute("type") == "kvm" && root.attribute("id") == "1")
        #expect(root.first("name")?.text == "a & b <AB>")
        #expect(root.first("description")?.text == "<raw> & text")
        #expect(root.first("devices")?.elements.map(\.name) == ["hostdev"])
        #expect(root.first("devices")?.line == 7)
    }

    @Test("malformed documents fail with the line", arguments: [
        ("<a><b></a>", 1, "</a> closes <b>"),
        ("<a>\n<b>\n</a>", 3, "</a> closes <b>"),
        ("<a x='1' x='2'/>", 1, "appears twice"),
        ("<a x=1/>", 1, "must be quoted"),
        ("<a>&bogus;</a>", 1, "unknown entity"),
        ("<a>fish & chips</a>", 1, "'&' that starts no entity"),
        ("<a/><b/>", 1, "content after the root"),
        ("", 1, "empty"),
        ("<a>\n<!-- open", 2, "comment is not closed"),
        ("<a>", 1, "<a> is not closed"),
    ] as [(String, Int, String)])
    func malformed(text: String, line: Int, message: String) {
        do {
            _ = try XMLParser.parse(text)
            Issue.record("parsed \(text)")
        } catch {
            #expect(error.line == line, "\(error)")
            #expect(error.message.contains(message), "\(error)")
        }
    }

    @Test("elements nested deeper than 256 levels are refused with the line and a hint; 256 levels parse, render and compare")
    func depthLimit() throws {
        func nested(_ depth: Int) -> String {
            String(repeating: "<a>\n", count: depth) + String(repeating: "</a>", count: depth)
        }
        let deepest = try XMLParser.parse(nested(XMLParser.maxDepth))
        #expect(XMLParser.maxDepth == 256)
        let rendered = deepest.rendered()
        #expect(try XMLParser.parse(rendered).rendered() == rendered && deepest == deepest)
        do {
            _ = try XMLParser.parse(nested(XMLParser.maxDepth + 1))
            Issue.record("a document nested \(XMLParser.maxDepth + 1) levels was read")
        } catch {
            #expect(error.line == 257 && error.message == "elements nested deeper than 256 levels", "\(error)")
            #expect(error.hint?.contains("nest fewer than 10 levels") == true)
        }
    }

    @Test("rendering escapes text and attribute values")
    func render() {
        let element = XMLElement("network", children: [
            .element(XMLElement("name", children: [.text("pool <a> & 'b'")])),
            .element(XMLElement("pf", [("dev", "eth'0")])),
        ])
        #expect(element.rendered() == """
            <network>
              <name>pool &lt;a&gt; &amp; 'b'</name>
              <pf dev='eth&apos;0'/>
            </network>

            """)
    }
}

@Suite("libvirt domain XML")
struct DomainXMLTests {
    static let domain = """
        <domain type='kvm'>
          <name>win11</name>
          <devices>
            <hostdev mode='subsystem' type='pci' managed='yes'>
              <source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source>
            </hostdev>
            <hostdev mode='subsystem' type='pci'>
              <source><address domain='0' bus='1' slot='0' function='1'/></source>
            </hostdev>
            <hostdev mode='subsystem' type='usb'><source><vendor id='0x1234'/></source></hostdev>
            <interface type='hostdev' managed='yes'>
              <source><address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x2'/></source>
              <mac address='52:54:00:6d:90:02'/>
              <vlan><tag id='42'/></vlan>
            </interface>
            <interface type='network'><source network='sriov-pool'/></interface>
            <hostdev mode='subsystem' type='pci' managed='no'>
              <source><address domain='0x10000' bus='0xe1' slot='010' function='0'/></source>
            </hostdev>
          </devices>
        </domain>
        """

    @Test("hostdevs and hostdev interfaces with their addresses (hex, decimal, octal) and managed policy")
    func parse() throws {
        let devices = try DomainDevices.parse(Self.domain, source: "win11.xml")
        #expect(devices.name == "win11")
        #expect(devices.devices.map(\.address.description) == ["0000:01:00.0", "0000:01:00.1", "10000:e1:08.0", "0000:03:10.2"])
        #expect(devices.devices.map(\.managed) == [true, false, false, true])
        #expect(devices.devices.map(\.kind) == [.hostdev, .hostdev, .hostdev, .interface])
        #expect(devices.devices.last?.setsVFConfig == true)
        #expect(devices.networkInterfaces == ["sriov-pool"])
    }

    @Test("bad domains are usage errors that say where", arguments: [
        ("<domain><devices><hostdev type='pci'><source/></hostdev></devices></domain>", "has no <source><address"),
        ("<domain><devices><hostdev type='pci'><source><address bus='0x100' slot='0' function='0'/></source></hostdev></devices></domain>",
         "bus='0x100' is not a number up to 255"),
        ("<domain><devices><hostdev type='pci'><source><address bus='1' slot='0x20' function='0'/></source></hostdev></devices></domain>",
         "slot='0x20'"),
        ("<domain><devices><hostdev type='pci' managed='maybe'/></devices></domain>", "managed='maybe'"),
        ("<network/>", "the root element is <network>"),
        ("<domain><devices>", "malformed XML at line 1"),
    ] as [(String, String)])
    func bad(xml: String, message: String) {
        #expect {
            try DomainDevices.parse(xml, source: "guest.xml")
        } throws: { error in
            guard let error = error as? VFIOError else { return false }
            return error.kind == .usage && error.message.hasPrefix("guest.xml") && error.message.contains(message)
        }
    }

    @Test("libvirt's number rules", arguments: [("0x1f", UInt64(31)), ("31", 31), ("037", 31), ("0", 0)] as [(String, UInt64)])
    func numbers(text: String, value: UInt64) {
        #expect(DomainDevices.libvirtNumber(text) == value)
    }
}
