import Foundation
import Glibc
import Testing
import VFIOTestSupport

/// vfioctl runs as root, edits boot configuration and reads whatever a tree or a file holds. This
/// campaign feeds the built binary damaged sysfs trees, hostile documents, configuration files
/// and journals, and odd arguments, and holds every outcome to the rules in `Runner` (no crash,
/// no hang, a clean `error:`, nothing changed unless asked, nothing written outside the root).
/// What it covers and how to replay a case: docs/hostile-input.md.
@Suite("Hostile-input campaign")
struct Campaign {
    /// The real kernel's tree from the lab (NVMe SR-IOV PF with 2 VFs, bridged group, endpoints).
    static let fixture = "lab/passthrough-sriov"
    static let addresses = ["0000:01:00.0", "0000:03:01.0", "0000:03:02.0", "0000:08:00.0", "0000:08:00.1", "0000:00:1f.2",
                            "0000:02:00.0", "0000:06:00.0"]
    static let groups = ["0", "9", "17", "23", "25"]

    static func indices(_ standard: Int) -> [Int] {
        if let only = CampaignSettings.only { return [only] }
        return Array(0..<CampaignSettings.cases(standard))
    }

    // MARK: damaged sysfs trees

    static let attributes = [
        "vendor", "device", "class", "subsystem_vendor", "subsystem_device", "revision", "numa_node", "boot_vga",
        "driver_override", "reset_method", "reset", "config", "config", "config", "uevent", "uevent", "sriov_totalvfs",
        "sriov_numvfs", "sriov_numvfs", "sriov_drivers_autoprobe", "sriov_offset", "sriov_stride", "sriov_vf_device",
        "iommu_group", "iommu_group", "driver", "physfn", "virtfn0", "virtfn1", "modalias", "enable", "irq",
        "current_link_speed", "max_link_speed", "net", "nvme",
    ]

    static let hostFiles = [
        "proc/cmdline", "proc/interrupts", "proc/modules", "proc/self/mountinfo", "proc/self/limits", "proc/swaps",
        "proc/net/route", "proc/net/if_inet6", "proc/cpuinfo", "proc/sys/kernel/osrelease", "sys/class/iommu/dmar0",
        "sys/kernel/iommu_groups/23/type", "sys/kernel/iommu_groups/23/devices/0000:08:00.0",
        "sys/kernel/iommu_groups/17/reserved_regions", "sys/module/kvm/parameters", "sys/firmware/acpi/tables/DMAR",
        "sys/class/net/enp1s0", "sys/class/block/nvme1n1", "sys/bus/pci/devices/0000:08:00.1", "sys/bus/pci/drivers/nvme",
        "dev/vfio/vfio", "sys/bus/pci/devices",
    ]

    static func readCommands(_ g: inout SeededGenerator, scratch: String) -> [String] {
        let address = g.pick(addresses)
        let group = g.pick(groups)
        return g.pick([
            ["list"], ["list", "--format", "json"], ["groups"], ["groups", "--format", "json"], ["show", address],
            ["show", address, "--format", "json"], ["check"], ["check", address], ["check", "--group", group, "--format", "json"],
            ["check", "--nested"], ["detach", address, "--dry-run"], ["detach", "--group", group, "--dry-run", "--format", "json"],
            ["reattach", "--all", "--dry-run"], ["sriov", "status"], ["sriov", "status", "--format", "json"],
            ["sriov", "create", "0000:08:00.0", "--count", "1", "--dry-run"], ["sriov", "destroy", "0000:08:00.0", "--dry-run"],
            ["xml", "hostdev", address], ["xml", "hostdev", "--group", group], ["persist", address], ["persist", "status"],
            ["config", "status"], ["config", "cmdline"], ["snapshot", scratch + "/snapshot"],
            ["export", "nova"], ["export", "kubevirt", "--format", "json"], ["export", "proxmox", address, "--node", "n1"],
            ["export", "sriov-device-plugin", "--group", group],
        ])
    }

    @Test("damaged sysfs trees: attributes, config space, links, FIFOs and /proc files")
    func sysfs() throws {
        let sandbox = try Sandbox(copying: Campaign.fixture)
        defer { sandbox.remove() }
        var runner = Runner(sandbox, family: "sysfs")
        let devices = sandbox.root + "/sys/bus/pci/devices/"
        for index in Campaign.indices(450) {
            var g = CampaignSettings.generator(family: "sysfs", index: index)
            var damaged: [(path: String, saved: String)] = []
            var what: [String] = []
            for _ in 0..<(g.chance(20) ? Int.random(in: 2...4, using: &g) : 1) {
                let path: String
                if g.chance(75) {
                    let function = g.pick(Campaign.addresses)
                    guard let directory = realpath(devices + function, nil) else { continue }
                    path = String(cString: directory) + "/" + g.pick(Campaign.attributes)
                    free(directory)
                } else {
                    path = sandbox.root + "/" + g.pick(Campaign.hostFiles)
                }
                guard !damaged.contains(where: { $0.path == path }) else { continue }
                let saved = sandbox.scratch + "/saved-\(damaged.count)"
                Surgery.removeAny(saved)
                rename(path, saved)
                damaged.append((path, saved))
                let shown = String(path.dropFirst(sandbox.root.count + 1))
                if path.hasSuffix("/config"), g.chance(70), let original = Surgery.read(saved) {
                    let (bytes, how) = HostileValues.configSpace(original, &g)
                    Surgery.write(path, bytes)
                    what.append("\(shown): \(how)")
                } else {
                    what.append("\(shown): " + HostileValues.damage(path, &g, sandbox: sandbox))
                }
            }
            let command = Campaign.readCommands(&g, scratch: sandbox.scratch) + ["--root", sandbox.root]
            runner.run(index, what.joined(separator: "; "), command)
            for (path, saved) in damaged.reversed() {
                Surgery.removeAny(path)
                rename(saved, path)
            }
            Surgery.removeAny(sandbox.scratch + "/snapshot")
        }
        #expect(runner.failures.isEmpty, "\(runner.summary)")
    }

    // MARK: hostile XML documents

    static let domain = """
        <domain type='kvm'>
          <name>guest</name>
          <memory unit='MiB'>1024</memory>
          <devices>
            <hostdev mode='subsystem' type='pci' managed='yes'>
              <source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source>
            </hostdev>
            <interface type='hostdev' managed='yes'>
              <mac address='52:54:00:6d:90:02'/>
              <source><address type='pci' domain='0x0000' bus='0x08' slot='0x00' function='0x1'/></source>
              <vlan><tag id='42'/></vlan>
            </interface>
          </devices>
        </domain>

        """

    static let cpu = """
        <cpu mode='custom' match='exact'>
          <model fallback='forbid'>Skylake-Client</model>
          <vendor>Intel</vendor>
          <feature policy='require' name='vmx'/>
          <feature policy='disable' name='hle'/>
        </cpu>

        """

    /// A CPUID dump (libvirt's cpudata XML) of a Skylake client, cut down to the leaves that
    /// decide its model.
    static let cpudata = """
        <!-- Intel(R) Core(TM) i5-6600 CPU @ 3.30GHz -->
        <cpudata arch='x86'>
          <cpuid eax_in='0x00000000' ecx_in='0x00' eax='0x00000016' ebx='0x756e6547' ecx='0x6c65746e' edx='0x49656e69'/>
          <cpuid eax_in='0x00000001' ecx_in='0x00' eax='0x000506e3' ebx='0x02100800' ecx='0x7ffafbff' edx='0xbfebfbff'/>
          <cpuid eax_in='0x00000007' ecx_in='0x00' eax='0x00000000' ebx='0x029c6fbf' ecx='0x00000000' edx='0x9c002400'/>
          <cpuid eax_in='0x0000000d' ecx_in='0x01' eax='0x0000000f' ebx='0x00000000' ecx='0x00000000' edx='0x00000000'/>
          <cpuid eax_in='0x80000000' ecx_in='0x00' eax='0x80000008' ebx='0x00000000' ecx='0x00000000' edx='0x00000000'/>
          <cpuid eax_in='0x80000001' ecx_in='0x00' eax='0x00000000' ebx='0x00000000' ecx='0x00000121' edx='0x2c100800'/>
          <msr index='0x10a' edx='0x00000000' eax='0x00000048'/>
        </cpudata>

        """

    /// A document damaged in one of the ways that have broken XML readers.
    static func damage(xml: String, _ g: inout SeededGenerator) -> ([UInt8], String) {
        var bytes = Array(xml.utf8)
        let anchor = bytes.count / 2
        switch Int.random(in: 0..<14, using: &g) {
        case 0, 1:
            let depth = g.pick([300, 1_000, 5_000, 30_000, 100_000])
            let open = Array(String(repeating: "<a>", count: depth).utf8)
            let close = g.chance(50) ? Array(String(repeating: "</a>", count: depth).utf8) : []
            let at = bytes.firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
            bytes.insert(contentsOf: open + close, at: at)
            return (bytes, "elements nested \(depth) deep" + (close.isEmpty ? ", never closed" : ""))
        case 2:
            let attributes = (0..<50_000).map { " a\($0)='\($0)'" }.joined()
            return (Array("<cpu\(attributes)/>".utf8), "50,000 attributes")
        case 3:
            return (Array("<\(String(repeating: "n", count: 200_000))/>".utf8), "a 200,000-character name")
        case 4:
            let reference = g.pick(["&#0;", "&#xD800;", "&#x110000;", "&#99999999999999999999;", "&#;", "&#x;", "&unknown;",
                                    "&amp", "&#-1;", "&#x7FFFFFFFFFFFFFFF;", "&lt;<", "\u{0}"])
            let at = bytes.lastIndex(of: UInt8(ascii: ">")).map { min($0, anchor) } ?? 0
            bytes.insert(contentsOf: Array(reference.utf8), at: at)
            return (bytes, "the reference \(reference.debugDescription)")
        case 5:
            let laughs = """
                <?xml version="1.0"?>
                <!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
                <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
                <!ENTITY ext SYSTEM "file:///etc/shadow">]>
                """
            return (Array(laughs.utf8) + bytes.map { $0 == UInt8(ascii: "k") ? $0 : $0 } + Array("&lol3;&ext;".utf8), "entity expansion")
        case 6:
            let at = Int.random(in: 0...bytes.count, using: &g)
            return (Array(bytes.prefix(at)), "truncated at byte \(at)")
        case 7:
            for _ in 0..<Int.random(in: 1...12, using: &g) {
                bytes[Int.random(in: 0..<bytes.count, using: &g)] = UInt8.random(in: 0...255, using: &g)
            }
            return (bytes, "random bytes flipped")
        case 8:
            return ([0xef, 0xbb, 0xbf] + bytes, "a byte order mark")
        case 9:
            return ([0xff, 0xfe] + Array(xml.utf16).flatMap { [UInt8($0 & 0xff), UInt8($0 >> 8)] }, "UTF-16")
        case 10:
            let unterminated = g.pick(["<!--", "<![CDATA[", "<?pi", "<!DOCTYPE x [", "<a b='", "</"])
            bytes.insert(contentsOf: Array(unterminated.utf8), at: anchor)
            return (bytes, "an unterminated \(unterminated)")
        case 11:
            let hostdev = "<hostdev mode='subsystem' type='pci'><source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source></hostdev>"
            let many = String(repeating: hostdev, count: 3_000)
            return (Array(xml.replacingOccurrences(of: "<devices>", with: "<devices>" + many).utf8), "3,000 hostdevs")
        case 12:
            let value = g.pick(HostileValues.numbers)
            let shaped = xml.replacingOccurrences(of: "0x01", with: value).replacingOccurrences(of: "Skylake-Client", with: value)
                .replacingOccurrences(of: "42", with: value)
            return (Array(shaped.utf8), "the value \(value.debugDescription) in addresses, model and tag")
        default:
            return (bytes + [UInt8](repeating: UInt8(ascii: " "), count: (16 << 20) + 1), "more than 16 MiB")
        }
    }

    @Test("hostile XML: domains for check and the libvirt hook, CPU descriptions and CPUID dumps for cpu host, compare and baseline")
    func xml() throws {
        let sandbox = try Sandbox(copying: Campaign.fixture)
        defer { sandbox.remove() }
        var runner = Runner(sandbox, family: "xml")
        let cpuMap = ["--cpu-map", "/usr/share/libvirt/cpu_map"]
        for index in Campaign.indices(160) {
            var g = CampaignSettings.generator(family: "xml", index: index)
            let isCPU = g.chance(40)
            let isDump = isCPU && g.chance(50)
            let (bytes, what) = Campaign.damage(xml: isDump ? Campaign.cpudata : isCPU ? Campaign.cpu : Campaign.domain, &g)
            let file = sandbox.scratch + "/document.xml"
            Surgery.write(file, bytes)
            let root = ["--root", sandbox.root]
            if isDump {
                let command = g.pick([["cpu", "host", "--cpuid", file, "--format", "json"] + cpuMap, ["cpu", "baseline", file, file] + cpuMap,
                                      ["cpu", "compare", file, "--host", file] + cpuMap, ["cpu", "host", "--cpuid", "-"] + cpuMap])
                runner.run(index, "CPUID dump: " + what, command + root, input: bytes)
            } else if isCPU {
                let command = g.pick([["cpu", "compare", file] + cpuMap, ["cpu", "baseline", file, file] + cpuMap,
                                      ["cpu", "baseline", file, "--features"] + cpuMap, ["xml", "cpu", "--baseline", file] + cpuMap])
                runner.run(index, "CPU XML: " + what, command + root)
            } else if g.chance(40) {
                runner.run(index, "domain XML on the libvirt hook's stdin: " + what, ["check", "--libvirt-hook"] + root, input: bytes)
            } else {
                runner.run(index, "domain XML: " + what, ["check", "--domain", g.chance(50) ? file : "-", "--format", "json"] + root,
                           input: bytes)
            }
        }
        #expect(runner.failures.isEmpty, "\(runner.summary)")
    }

    // MARK: hostile pool files

    static let toml = """
        [[pf]]
        device = "0000:08:00.0"
        vfs = 2
        driver = "vfio-pci"
        network = "pool-a"

        [[pf.vf]]
        index = 1
        driver = "none"

        [detach]
        devices = ["0000:01:00.0"]
        groups = [9]

        """

    static let yaml = """
        pf:
          - device: "0000:08:00.0"
            vfs: 2
            driver: vfio-pci
            network: pool-a
            vf:
              - index: 1
                driver: none
        detach:
          devices: ["0000:01:00.0"]
          groups: [9]

        """

    static func damage(pool: String, yaml: Bool, _ g: inout SeededGenerator) -> ([UInt8], String) {
        switch Int.random(in: 0..<10, using: &g) {
        case 0 where yaml:
            var bomb = "a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n"
            for level in 1...g.pick([6, 9, 12]) {
                let previous = level == 1 ? "a" : "l\(level - 1)"
                bomb += "l\(level): &l\(level) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ",") + "]\n"
            }
            return (Array((bomb + pool).utf8), "an alias bomb")
        case 0, 1:
            let depth = g.pick([500, 5_000, 100_000])
            let nested = yaml ? "x: " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "\n"
                : "x = " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "\n"
            return (Array((nested + pool).utf8), "lists nested \(depth) deep")
        case 2 where !yaml:
            let depth = g.pick([500, 5_000, 50_000])
            return (Array(("x = " + String(repeating: "{a=", count: depth) + "1" + String(repeating: "}", count: depth) + "\n" + pool).utf8),
                    "inline tables nested \(depth) deep")
        case 2, 3:
            let value = g.pick(HostileValues.numbers)
            let key = g.pick(["vfs", "index", "groups", "devices", "device", "driver", "network"])
            let lines = pool.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
                guard line.trimmingCharacters(in: .whitespaces).hasPrefix(key) || line.contains("  \(key):") else { return String(line) }
                return line.prefix(while: { $0 != "=" && $0 != ":" }) + (yaml ? ": " : " = ") + value
            }
            return (Array(lines.joined(separator: "\n").utf8), "\(key) = \(value.debugDescription)")
        case 4:
            var bytes = Array(pool.utf8)
            for _ in 0..<Int.random(in: 1...8, using: &g) {
                bytes[Int.random(in: 0..<bytes.count, using: &g)] = UInt8.random(in: 0...255, using: &g)
            }
            return (bytes, "random bytes flipped")
        case 5:
            let at = Int.random(in: 0...pool.utf8.count, using: &g)
            return (Array(pool.utf8.prefix(at)), "truncated at byte \(at)")
        case 6:
            return (Array((pool + pool).utf8), "everything twice (duplicate keys and PFs)")
        case 7:
            let many = String(repeating: yaml ? "  - index: 1\n    driver: host\n" : "[[pf.vf]]\nindex = 1\n", count: 20_000)
            return (Array((pool + (yaml ? "" : many)).utf8), "20,000 VF sections")
        case 8:
            return (Array(pool.utf8) + [0, 0xff, 0xfe] + Array("\nvfs = 1\n".utf8), "NUL and bytes that are not UTF-8")
        default:
            let long = String(repeating: "e", count: 100_000)
            return (Array(pool.replacingOccurrences(of: "pool-a", with: long).utf8), "a 100,000-character network name")
        }
    }

    @Test("hostile pool files for apply and xml network: alias bombs, nesting, numbers, bytes")
    func pools() throws {
        let sandbox = try Sandbox(copying: Campaign.fixture)
        defer { sandbox.remove() }
        var runner = Runner(sandbox, family: "pools")
        for index in Campaign.indices(160) {
            var g = CampaignSettings.generator(family: "pools", index: index)
            let yaml = g.chance(50)
            let (bytes, what) = Campaign.damage(pool: yaml ? Campaign.yaml : Campaign.toml, yaml: yaml, &g)
            let file = sandbox.scratch + "/pools." + (yaml ? g.pick(["yaml", "yml"]) : "toml")
            Surgery.write(file, bytes)
            let command = g.chance(65) ? ["apply", file, "--dry-run", "--format", "json"] : ["xml", "network", "--pool", file]
            runner.run(index, (yaml ? "YAML: " : "TOML: ") + what, command + ["--root", sandbox.root])
            Surgery.removeAny(file)
        }
        #expect(runner.failures.isEmpty, "\(runner.summary)")
    }

    // MARK: damaged journals and state files

    static let journalLines = [
        "vfioctl-journal 1", "run detach pid=4242 started=1795379200", "run reattach pid=1 started=0", "run sriov-create pid=-1 started=-5",
        "command vfioctl detach --group 9", "original 0000:01:00.0 group=9 driver=e1000e module=e1000e override=-",
        "original 0000:01:00.0 group=99999999999999999999 driver=% module=- override=vfio-pci", "record 0000:01:00.0",
        "sriov 0000:08:00.0 numvfs=2 autoprobe=0", "sriov 0000:08:00.0 numvfs=99999999999999999999 autoprobe=7",
        "step 0 set-override 0000:01:00.0 vfio-pci", "step 1 unbind 0000:01:00.0 e1000e vfio-pci", "step 2 probe 0000:01:00.0",
        "step 3 verify 0000:01:00.0 driver vfio-pci", "step 4 await-node 9", "step -1 probe 0000:01:00.0",
        "step 9223372036854775807 probe 0000:01:00.0", "step 5 await-vfs 0000:08:00.0 99999999999999999999",
        "step 6 set-attribute 0000:08:00.0 sriov_numvfs 2", "step 7 bind-vfs 0000:08:00.0 vfio-pci",
        "step 8 set-vf 0000:08:00.0 eth0 -1 vlan 4095 9 ffff", "step 9 set-vf 0000:08:00.0 eth0 0 rate -5 99999999999999999999",
        "vf 0000:08:00.0 eth0 0 mac=ff:ff:ff:ff:ff:ff vlan=-1 qos=99 proto=zzzz spoofchk=2 trust=- state=x rate=a,b",
        "begin 0", "done 0", "begin -1", "done -1", "begin 99999999999999999999", "begin 1000000", "failed 2 EBUSY%20writing",
        "failed -3 %ZZ", "rollback", "rolled-back", "finished", "step 0 probe 0000:01:00.0", "begin", "step", "record",
        "original", "run", "%", "\u{0}", "step 1 set-override 10000000000:ff:1f.7 x", "begin 0 extra fields",
    ]

    @Test("damaged journals and state files for recover, detach, reattach and persist")
    func journals() throws {
        let sandbox = try Sandbox(copying: Campaign.fixture)
        defer { sandbox.remove() }
        var runner = Runner(sandbox, family: "journals")
        for index in Campaign.indices(160) {
            var g = CampaignSettings.generator(family: "journals", index: index)
            Surgery.removeAny(sandbox.state)
            mkdir(sandbox.state, 0o755)
            var lines = g.chance(85) ? ["vfioctl-journal 1"] : []
            for _ in 0..<Int.random(in: 0...14, using: &g) { lines.append(g.pick(Campaign.journalLines)) }
            var text = Array(lines.joined(separator: "\n").utf8) + (g.chance(80) ? [0x0a] : [])
            if g.chance(15) { text += HostileValues.text(&g) }
            let name = g.pick(["journal", "journal", "journal", "records", "vf-originals", "history", "lock"])
            let path = sandbox.state + "/" + name
            var what = "\(name): \(lines.count) lines"
            if g.chance(20) {
                what = "\(name): " + HostileValues.damage(path, &g, sandbox: sandbox)
            } else {
                Surgery.write(path, text)
            }
            let address = g.pick(Campaign.addresses)
            let command = g.pick([["recover", "--dry-run"], ["recover", "--dry-run", "--finish"], ["recover", "--dry-run", "--format", "json"],
                                  ["detach", address, "--dry-run"], ["reattach", "--all", "--dry-run"], ["reattach", address, "--dry-run"],
                                  ["sriov", "restore", "0000:08:00.0", "--dry-run"], ["apply", "/nonexistent.toml", "--dry-run"]])
            runner.run(index, what, command + ["--state-dir", sandbox.state, "--root", sandbox.root])
        }
        #expect(runner.failures.isEmpty, "\(runner.summary)")
    }

    // MARK: hostile arguments

    @Test("hostile arguments: numbers at every limit, empty and control-character values, unknown forms")
    func arguments() throws {
        let sandbox = try Sandbox(copying: Campaign.fixture)
        defer { sandbox.remove() }
        var runner = Runner(sandbox, family: "arguments")
        let values = HostileValues.numbers + ["", " ", "\u{1}", "\u{7f}", "0000:01:00.0", "01:00.0", "pci_0000_01_00_0", "10000:00:00.0",
                                              "ffffffff:ff:1f.7", "0000:01:00.8", "0000:01:20.0", "-", "--", "--root", "/", "..",
                                              String(repeating: "x", count: 5_000), "enp1s0", "eth0", "auto", "none", "host",
                                              "52:54:00:00:00:01", "ff:ff:ff:ff:ff:ff", "802.1ad", "on", "off"]
        let shapes: [[String]] = [
            ["show", "V"], ["check", "V"], ["check", "--group", "V"], ["detach", "V", "--dry-run"], ["detach", "--group", "V", "--dry-run"],
            ["reattach", "V", "--dry-run"], ["reattach", "--group", "V", "--dry-run"], ["xml", "hostdev", "V"],
            ["xml", "hostdev", "--group", "V"], ["xml", "hostdev", "0000:01:00.0", "--guest-address", "V"],
            ["xml", "hostdev", "0000:01:00.0", "--rom-file", "V"], ["xml", "interface", "V"], ["xml", "network", "V", "--vf", "V"],
            ["xml", "network", "n", "--pf", "V"], ["sriov", "status", "V"], ["sriov", "create", "V", "--count", "V", "--dry-run"],
            ["sriov", "create", "0000:08:00.0", "--count", "V", "--dry-run"], ["sriov", "create", "0000:08:00.0", "--count", "1", "--driver", "V", "--dry-run"],
            ["sriov", "set", "0000:08:00.0", "--vf", "V", "--mac", "V", "--dry-run"], ["sriov", "set", "0000:08:00.0", "--vf", "0", "--vlan", "V", "--dry-run"],
            ["sriov", "set", "0000:08:00.0", "--vf", "0", "--vlan", "5", "--qos", "V", "--dry-run"],
            ["sriov", "set", "0000:08:00.0", "--vf", "0", "--max-tx-rate", "V", "--dry-run"], ["persist", "V"], ["persist", "--group", "V"],
            ["config", "modprobe", "--vfio-ids", "V"], ["config", "modprobe", "--softdep", "V"], ["cpu", "models", "V"],
            ["detach", "0000:01:00.0", "--dry-run", "--wait", "V"], ["list", "--format", "V"], ["check", "--domain", "V"],
            ["list", "--class", "V"], ["list", "--driver", "V", "--format", "json"], ["list", "--vendor", "V"], ["list", "--group", "V"],
            ["apply", "V", "--dry-run"], ["V"], ["show", "V", "V", "V"],
            ["export", "V"], ["export", "nova", "V"], ["export", "nova", "--group", "V"], ["export", "neutron", "0000:08:10.0", "--physnet", "V"],
            ["export", "kubevirt", "--name", "V"], ["export", "proxmox", "--node", "V"], ["export", "proxmox", "--name", "V", "--node", "n1"],
            ["export", "nova", "--check", "V"], ["export", "nova", "--numa-policy", "V"],
        ]
        for index in Campaign.indices(300) {
            var g = CampaignSettings.generator(family: "arguments", index: index)
            let shape = g.pick(shapes)
            let arguments = shape.map { $0 == "V" ? g.pick(values) : $0 }
            runner.run(index, "arguments", arguments + ["--root", sandbox.root])
        }
        #expect(runner.failures.isEmpty, "\(runner.summary)")
    }
}
