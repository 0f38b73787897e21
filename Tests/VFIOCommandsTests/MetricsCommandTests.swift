import Foundation
import Glibc
import Testing
import VFIOActuator
import VFIOCommands
import VFIOCore
import VFIOTestSupport

/// `vfioctl metrics` on fake hosts, judged by the real tools: Prometheus's `promtool check
/// metrics` (Debian's prometheus package) and a real node_exporter (prometheus-node-exporter)
/// serving the file over HTTP. scripts/setup installs both; a missing one fails, never skips.
@Suite("metrics: Prometheus's text format for node_exporter's textfile collector")
struct MetricsCommandTests {
    /// checkHost with a guest holding the VF's group (8) open, mtty's mdev types, group 3
    /// detached, 0000:01:00.0 persisted, and a last apply recorded.
    static func busyHost() throws -> BindingCommandTests.Host {
        let host = try BindingCommandTests.Host {
            $0.vfioUsers = [(pid: 4242, command: "qemu-system-x86", arguments: ["qemu-system-x86_64", "-name", "guest=web1"], groups: [8])]
        }
        host.fake.addMdevParent(.mtty)
        let detached = host.run(["detach", "0000:02:01.0"])
        #expect(detached.status == 0, "\(detached.err)")
        let persisted = host.run(["persist", "0000:01:00.0", "--write"])
        #expect(persisted.status == 0, "\(persisted.err)")
        host.fake.write("var/lib/vfioctl/last-apply", "apply ended=1795379200.250 outcome=ok changes=7\n")
        return host
    }

    /// A sample: its name, labels and value as written.
    struct Sample: Hashable, CustomStringConvertible {
        var name: String
        var labels: [String: String]
        /// As a number: node_exporter writes 1795379200.25 as 1.79537920025e+09.
        var value: Double
        var description: String { name + "{" + labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + "} \(value)" }
    }

    /// The samples of an exposition-format text (label order and escaping undone).
    static func samples(_ text: String, prefix: String = "vfioctl_") -> Set<Sample> {
        var samples: Set<Sample> = []
        for line in text.split(separator: "\n") where line.hasPrefix(prefix) {
            var name = "", labels: [String: String] = [:]
            var rest = Substring(line)
            name = String(rest.prefix { $0 != "{" && $0 != " " })
            rest = rest.dropFirst(name.count)
            if rest.first == "{" {
                rest = rest.dropFirst()
                while rest.first != "}" {
                    let label = String(rest.prefix { $0 != "=" })
                    rest = rest.dropFirst(label.count + 2)   // ="
                    var value = ""
                    while let c = rest.first, c != "\"" {
                        if c == "\\", let next = rest.dropFirst().first {
                            value.append(next == "n" ? "\n" : next)
                            rest = rest.dropFirst(2)
                        } else {
                            value.append(c)
                            rest = rest.dropFirst()
                        }
                    }
                    rest = rest.dropFirst()   // "
                    if rest.first == "," { rest = rest.dropFirst() }
                    labels[label] = value
                }
                rest = rest.dropFirst()
            }
            // node_exporter leaves out empty label values (Prometheus treats them as absent).
            samples.insert(Sample(name: name, labels: labels.filter { !$0.value.isEmpty }, value: Double(rest.dropFirst()) ?? .nan))
        }
        return samples
    }

    @Test("every kind of series, with the host's values")
    func series() throws {
        let host = try Self.busyHost()
        defer { host.fake.remove() }
        let result = host.run(["metrics"])
        #expect(result.status == 0 && result.err.isEmpty, "\(result.err)")
        let out = result.out
        for line in [
            #"vfioctl_pci_function_info{address="0000:01:00.0",vendor_id="8086",device_id="10d3",class="020000",driver="e1000e",iommu_group="2",numa_node="",vfio="false",persisted="true"} 1"#,
            #"vfioctl_pci_function_info{address="0000:02:01.0",vendor_id="8086",device_id="100e",class="020000",driver="vfio-pci",iommu_group="3",numa_node="",vfio="true",persisted="false"} 1"#,
            #"vfioctl_pci_function_info{address="0000:00:1e.0",vendor_id="8086",device_id="244e",class="060401",driver="",iommu_group="3",numa_node="",vfio="false",persisted="false"} 1"#,
            #"vfioctl_iommu_group_viable{group="3"} 1"#, #"vfioctl_iommu_group_functions{group="3"} 3"#,
            #"vfioctl_iommu_group_viable{group="6"} 0"#, #"vfioctl_iommu_group_functions{group="6"} 2"#,
            #"vfioctl_sriov_total_vfs{pf="0000:05:00.0"} 63"#, #"vfioctl_sriov_enabled_vfs{pf="0000:05:00.0"} 1"#,
            #"vfioctl_sriov_vfio_vfs{pf="0000:05:00.0"} 1"#, #"vfioctl_sriov_in_use_vfs{pf="0000:05:00.0"} 1"#,
            #"vfioctl_detached_functions{state="vfio"} 2"#, #"vfioctl_detached_functions{state="host"} 0"#,
            #"vfioctl_persisted_functions{state="host"} 1"#, #"vfioctl_persisted_functions{state="vfio"} 0"#,
            #"vfioctl_check_findings{id="iommu.enabled",severity="info"} 1"#,
            #"vfioctl_iommu_enabled{kind="intel"} 1"#, "vfioctl_interrupt_remapping_enabled 1",
            "vfioctl_last_apply_timestamp_seconds 1795379200.250", "vfioctl_last_apply_success 1", "vfioctl_last_apply_changes 7",
            #"vfioctl_mdev_available_instances{parent="mtty",type="mtty-1"} 24"#,
            #"vfioctl_mdev_available_instances{parent="mtty",type="mtty-2"} 12"#,
        ] {
            #expect(out.contains("\n" + line + "\n"), "\(line)")
        }
        // One info sample per function; the findings are check's host findings but the shell's memlock.
        #expect(out.components(separatedBy: "\nvfioctl_pci_function_info{").count - 1 == 12)
        let (_, check, _) = try host.json(["check"])
        var expected: [String: Int] = [:]
        for finding in check["findings"] as? [[String: Any]] ?? [] {
            let id = finding["id"] as? String ?? "", severity = finding["severity"] as? String ?? ""
            if !id.hasPrefix("memlock.") { expected["id=\(id),severity=\(severity)", default: 0] += 1 }
        }
        var found: [String: Int] = [:]
        for sample in Self.samples(out) where sample.name == "vfioctl_check_findings" {
            found["id=\(sample.labels["id"] ?? ""),severity=\(sample.labels["severity"] ?? "")"] = Int(sample.value)
        }
        #expect(found == expected && !found.isEmpty)
    }

    /// promtool's verdict on a text: its exit status and what it printed.
    static func promtool(_ text: String) throws -> TestProcess.Result {
        let result = try TestProcess.run("promtool", ["check", "metrics"], input: text, timeout: 60)
        if result.status == 127 || result.err.contains("No such file") {
            Issue.record("promtool is missing: scripts/setup test installs it (Debian package prometheus)")
        }
        return result
    }

    @Test("promtool check metrics finds nothing to say, on hosts of every kind")
    func promtoolAccepts() throws {
        let busy = try Self.busyHost(), sriov = try ApplyCommandTests.host()
        let noRemapping = try BindingCommandTests.Host { $0.interruptChips = ["IO-APIC", "PCI-MSI"] }
        var bench = FakeSysfs()
        benchHost(&bench, functions: 600)
        bench.build()
        defer { for fake in [busy.fake, sriov.fake, noRemapping.fake, bench] { fake.remove() } }
        let pool = try ApplyCommandTests.write(ApplyCommandTests.pool, in: sriov)
        #expect(sriov.run(["apply", pool]).status == 0)
        var texts = ["busy": busy.run(["metrics"]).out, "sriov after apply": sriov.run(["metrics"]).out,
                     "no interrupt remapping": noRemapping.run(["metrics"]).out,
                     "bench host, 600 functions": Vfioctl.capture(["metrics", "--root", bench.root]).out]
        let elsewhere = Invocation(actuators: Actuators(stateDirectory: bench.root + "/no-state"))
        for lab in ["passthrough-sriov", "no-intremap", "iommu-off"] {
            let root = Golden.repository + "/fixtures/lab/" + lab
            texts["lab " + lab] = Vfioctl.capture(["metrics", "--root", root], invocation: elsewhere).out
        }
        for (name, text) in texts.sorted(by: { $0.key < $1.key }) {
            #expect(text.contains("vfioctl_check_findings{") && text.contains("vfioctl_pci_function_info{"), "\(name): \(text)")
            let verdict = try Self.promtool(text)
            #expect(verdict.status == 0 && verdict.out.isEmpty && verdict.err.isEmpty, "\(name): \(verdict.out)\(verdict.err)")
            // No series twice (promtool 2.42 does not look).
            let lines = text.split(separator: "\n").filter { !$0.hasPrefix("#") }
            #expect(Set(lines.map { $0.prefix { $0 != " " } }).count == lines.count, "\(name)")
        }
        let off = texts["lab iommu-off"] ?? ""
        #expect(Self.samples(off).filter { $0.name == "vfioctl_iommu_enabled" }.map(\.value) == [0], "\(off)")
        #expect(Self.samples(off).contains { $0.name == "vfioctl_check_findings" && $0.labels["severity"] == "error" }, "\(off)")
        let unremapped = texts["no interrupt remapping"] ?? ""
        #expect(unremapped.contains("vfioctl_interrupt_remapping_enabled 0\n") && unremapped.contains("id=\"irq-remap.inactive\",severity=\"error\""))
        #expect((texts["sriov after apply"] ?? "").contains("vfioctl_sriov_vfio_vfs{pf=\"0000:05:00.0\"} 2\n"))
        // promtool does judge: a counter without _total is found.
        let bad = try Self.promtool("# HELP x_things things\n# TYPE x_things counter\nx_things 1\n")
        #expect(bad.status != 0 && (bad.out + bad.err).contains("_total"))
    }

    @Test("docs/metrics.md lists exactly the families metrics writes")
    func documented() throws {
        let host = try Self.busyHost()
        defer { host.fake.remove() }
        let written = Set(host.run(["metrics"]).out.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { String($0.split(separator: " ")[2]) })
        let doc = try String(contentsOfFile: Golden.repository + "/docs/metrics.md", encoding: .utf8)
        let documented = Set(doc.split(separator: "\n").filter { $0.hasPrefix("| `vfioctl_") }.map { line in
            String(line.dropFirst(3).prefix { $0 != "`" })
        })
        #expect(written == documented, "written only: \(written.subtracting(documented)); documented only: \(documented.subtracting(written))")
    }

    @Test("--output: replaced atomically with what stdout gets, mode 0644, no temporary file left, a second run replaces it")
    func output() throws {
        let host = try Self.busyHost()
        defer { host.fake.remove() }
        let directory = host.fake.root + "/textfile"
        mkdir(directory, 0o755)
        let file = directory + "/vfioctl.prom"
        let first = host.run(["metrics", "--output", file])
        #expect(first.status == 0 && first.out.isEmpty && first.err.isEmpty, "\(first.err)")
        let written = try String(contentsOfFile: file, encoding: .utf8)
        #expect(written == host.run(["metrics"]).out)
        var info = stat()
        #expect(lstat(file, &info) == 0 && info.st_mode & 0o7777 == 0o644 && info.st_mode & S_IFMT == S_IFREG)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["vfioctl.prom"])
        #expect(host.run(["reattach", "--group", "3"]).status == 0)
        #expect(host.run(["metrics", "--output", file]).status == 0)
        let again = try String(contentsOfFile: file, encoding: .utf8)
        #expect(again.contains("vfioctl_detached_functions{state=\"vfio\"} 0\n") && !written.contains("vfioctl_detached_functions{state=\"vfio\"} 0\n"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["vfioctl.prom"])
        // A relative name is taken from the current directory.
        let relative = Vfioctl.capture(["metrics", "--root", host.fake.root, "--output", "no-such-directory/vfioctl.prom"])
        #expect(relative.status == 64 && relative.err.contains(FileManager.default.currentDirectoryPath + "/no-such-directory/"), "\(relative.err)")
    }

    @Test("the summary is kept between runs while the kernel's uevent count, boot and taint stay: the same text; read again when one moves, or the cache is not sound")
    func summaryCache() throws {
        let host = try Self.busyHost()
        defer { host.fake.remove() }
        let fake = host.fake
        let cache = fake.root + "/run/vfioctl/metrics-summary"
        func kernel(seqnum: Int, taint: Int = 0) {
            fake.write("proc/sys/kernel/random/boot_id", "5b1f9c1e-7d5c-4c52-9b7e-0e6f3a1d2c4b\n")
            fake.write("sys/kernel/uevent_seqnum", "\(seqnum)\n")
            fake.write("proc/sys/kernel/tainted", "\(taint)\n")
        }
        /// A change the kernel would announce with a uevent, made without one: only a fresh read sees it.
        func unbindQuietly(_ address: String) {
            unlink(fake.root + "/" + fake.devicePath(PCIAddress(address)!) + "/driver")
        }
        let fresh = host.run(["metrics", "--no-cache"])
        #expect(fresh.status == 0, "\(fresh.err)")
        #expect(host.run(["metrics"]).out == fresh.out)
        #expect(access(cache, F_OK) != 0, "a tree without the kernel's uevent count is never cached")

        kernel(seqnum: 4100)
        #expect(host.run(["metrics"]).out == fresh.out)
        var info = stat()
        #expect(lstat(cache, &info) == 0 && info.st_mode & 0o7777 == 0o600 && info.st_uid == geteuid())
        #expect(host.run(["metrics"]).out == fresh.out, "what the cache gives is what a read gives")
        unbindQuietly("0000:01:00.0")
        #expect(host.run(["metrics"]).out == fresh.out, "no uevent since: the summary is reused")
        let changed = host.run(["metrics", "--no-cache"]).out
        #expect(changed != fresh.out && changed.contains("address=\"0000:01:00.0\""))
        kernel(seqnum: 4101)
        #expect(host.run(["metrics"]).out == changed, "a uevent since: read again")

        // Another boot, another taint: read again.
        unbindQuietly("0000:04:00.1")
        let second = host.run(["metrics", "--no-cache"]).out
        #expect(second != changed)
        kernel(seqnum: 4101, taint: 2048)
        #expect(host.run(["metrics"]).out == second)

        // A cache that is not sound is not used: another format, garbage, a file others can write.
        for (damage, address) in [("garbage", "0000:05:10.0"), ("truncated", "0000:04:00.0"), ("mode", "0000:03:00.0")] {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: cache)))
            switch damage {
            case "garbage": try Data("vfioctl-summary 1\n5b1f9c1e-7d5c-4c52-9b7e-0e6f3a1d2c4b 4101 2048\n\u{1}\u{2}".utf8).write(to: URL(fileURLWithPath: cache))
            case "truncated": try Data(bytes.prefix(bytes.count - 3)).write(to: URL(fileURLWithPath: cache))
            default: chmod(cache, 0o666)
            }
            let before = host.run(["metrics", "--no-cache"]).out
            unbindQuietly(address)
            let now = host.run(["metrics", "--no-cache"]).out
            #expect(now != before, "\(damage): \(address) unbound")
            #expect(host.run(["metrics"]).out == now, "\(damage): read again")
            #expect(lstat(cache, &info) == 0 && info.st_mode & 0o7777 == 0o600, "\(damage): written again")
        }
    }

    @Test("what the summary cache gives back is what was read: SR-IOV PFs with their VFs, subsystem ids, NUMA nodes, vfio-dev")
    func summaryCacheRoundTrip() throws {
        let fake = ExportHosts.host(vmd: true)
        defer { fake.remove() }
        fake.write("proc/sys/kernel/random/boot_id", "0d3c6a1e-1111-4c52-9b7e-0e6f3a1d2c4b\n")
        fake.write("sys/kernel/uevent_seqnum", "7\n")
        fake.write("proc/sys/kernel/tainted", "0\n")
        func metrics(_ extra: [String] = []) -> String { Vfioctl.capture(["metrics", "--root", fake.root] + extra).out }
        let fresh = metrics(["--no-cache"])
        #expect(fresh.contains("vfioctl_sriov_enabled_vfs{"), "\(fresh)")
        #expect(metrics() == fresh)
        #expect(access(fake.root + "/run/vfioctl/metrics-summary", F_OK) == 0)
        #expect(metrics() == fresh)
    }

    @Test("a bad --output is an error naming it, with a hint, and nothing is written",
          arguments: [("/textfile", "is a directory"), ("/textfile/vfioctl.txt", "is not named NAME.prom"),
                      ("/textfile/.prom", "is not named NAME.prom"), ("/missing/vfioctl.prom", "is not an existing directory"),
                      ("/textfile/", "names no file"), ("/textfile/sub.prom", "is a directory"), ("/file.prom/x.prom", "file.prom")])
    func badOutput(path: String, message: String) throws {
        let host = try BindingCommandTests.Host()
        defer { host.fake.remove() }
        mkdir(host.fake.root + "/textfile", 0o755)
        mkdir(host.fake.root + "/textfile/sub.prom", 0o755)
        host.fake.write("file.prom", "kept\n")
        let result = host.run(["metrics", "--output", host.fake.root + path])
        #expect(result.status == 64 && result.out.isEmpty, "\(result.err)")
        #expect(result.err.hasPrefix("error: --output '\(host.fake.root + path)'") && result.err.contains(message), "\(result.err)")
        #expect(result.err.contains("\nhint: "), "\(result.err)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: host.fake.root + "/textfile") == ["sub.prom"])
        #expect(try String(contentsOfFile: host.fake.root + "/file.prom", encoding: .utf8) == "kept\n")
    }

    @Test("a directory no file can be made in (sysfs, /proc) is refused before the host is read")
    func unwritableOutput() throws {
        for path in ["/sys/vfioctl.prom", "/proc/vfioctl.prom"] {
            let result = Vfioctl.capture(["metrics", "--root", "/nonexistent-root", "--output", path])
            // The output is checked first: the missing root is never reached.
            #expect(result.status == 64 && result.err.contains("cannot create a file in") && result.err.contains("\nhint: "), "\(result.err)")
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test("apply records how it ended (ok with its changes, ok with none, refused, failed); a dry run records nothing")
    func lastApply() throws {
        let host = try ApplyCommandTests.host()
        defer { host.fake.remove() }
        let record = host.fake.root + "/var/lib/vfioctl/last-apply"
        let file = try ApplyCommandTests.write(ApplyCommandTests.pool, in: host)
        #expect(host.run(["apply", file, "--dry-run"]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: record))
        let before = Int(Date().timeIntervalSince1970)
        let (status, document, err) = try host.json(["apply", file])
        #expect(status == 0, "\(err)")
        let changes = (document["changes"] as? [Any])?.count ?? 0
        #expect(changes > 5)
        var run = try LastRun.parse(try String(contentsOfFile: record, encoding: .utf8), path: record)
        #expect(run.outcome == .ok && run.changes == changes && run.ended / 1000 >= before && run.ended / 1000 <= Int(Date().timeIntervalSince1970))
        var info = stat()
        #expect(stat(record, &info) == 0 && info.st_mode & 0o777 == 0o644)
        let metrics = host.run(["metrics"]).out
        #expect(metrics.contains("vfioctl_last_apply_success 1\n") && metrics.contains("vfioctl_last_apply_changes \(changes)\n"))
        #expect(metrics.contains("vfioctl_last_apply_timestamp_seconds \(run.endedText)\n"))

        #expect(host.run(["apply", file]).status == 0)
        run = try LastRun.parse(try String(contentsOfFile: record, encoding: .utf8), path: record)
        #expect(run.outcome == .ok && run.changes == 0)

        let tooMany = try ApplyCommandTests.write("[[pf]]\ndevice = \"enp5s0f0\"\nvfs = 9\n", in: host, name: "many.toml")
        #expect(host.run(["apply", tooMany]).status == 2)
        run = try LastRun.parse(try String(contentsOfFile: record, encoding: .utf8), path: record)
        #expect(run.outcome == .refused && run.changes == 0)
        #expect(host.run(["metrics"]).out.contains("vfioctl_last_apply_success 0\n"))

        let fresh = try ApplyCommandTests.host()
        defer { fresh.fake.remove() }
        fresh.netlink?.fail(interface: "enp5s0f0", attribute: "spoofchk", vf: 3, code: EOPNOTSUPP)
        let failing = try ApplyCommandTests.write(ApplyCommandTests.pool, in: fresh)
        #expect(fresh.run(["apply", failing]).status == 1)
        let failed = try LastRun.parse(try String(contentsOfFile: fresh.fake.root + "/var/lib/vfioctl/last-apply", encoding: .utf8), path: record)
        #expect(failed.outcome == .failed && failed.changes == 0)

        // A damaged record stops metrics with the file named and what to do.
        host.fake.write("var/lib/vfioctl/last-apply", "apply yesterday\n")
        let damaged = host.run(["metrics"])
        #expect(damaged.status == 1 && damaged.err.contains("last-apply is damaged") && damaged.err.contains("hint: delete it"), "\(damaged.err)")
        // With --output: the file there stays as it was, and the temporary file is gone.
        let directory = host.fake.root + "/textfile"
        mkdir(directory, 0o755)
        host.fake.write("textfile/vfioctl.prom", "vfioctl_iommu_enabled 1\n")
        #expect(host.run(["metrics", "--output", directory + "/vfioctl.prom"]).status == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["vfioctl.prom"])
        #expect(try String(contentsOfFile: directory + "/vfioctl.prom", encoding: .utf8) == "vfioctl_iommu_enabled 1\n")
    }
}

/// A real node_exporter (Debian's prometheus-node-exporter) with only the textfile collector,
/// on a free loopback port, reading the directory `metrics --output` writes into, scraped over
/// HTTP. It is killed however the test ends; every wait has a deadline.
@Suite("metrics: a real node_exporter serves them")
struct NodeExporterTests {
    static let binary = "/usr/bin/prometheus-node-exporter"

    /// A TCP port on 127.0.0.1 nobody listens on now.
    static func freePort() -> UInt16? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0 else { return nil }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return named == 0 ? UInt16(bigEndian: address.sin_port) : nil
    }

    /// GET http://127.0.0.1:PORT/PATH over HTTP/1.0 (the server closes when done): the body of a
    /// 200 answer; nil when nothing answers, or not within `timeout` seconds.
    static func get(port: UInt16, path: String, timeout: Int = 5) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard connected == 0 else { return nil }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else { return nil }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { break }
            guard count > 0 else { return nil }   // the deadline passed, or the connection broke
            response += buffer[0..<count]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard text.hasPrefix("HTTP/1.0 200") || text.hasPrefix("HTTP/1.1 200"), let end = text.range(of: "\r\n\r\n") else { return nil }
        return String(text[end.upperBound...])
    }

    /// Starts node_exporter on a free port over `directory`, waits (at most 30 s) until it answers,
    /// and hands its /metrics to `body`; the process is killed when this returns or throws.
    static func serving(_ directory: String, log: String, _ body: (UInt16) throws -> Void) throws {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            Issue.record("\(binary) is missing: scripts/setup test installs it (Debian package prometheus-node-exporter)")
            return
        }
        for _ in 0..<3 {   // another process may take the free port first: try another
            guard let port = freePort() else { continue }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = ["--web.listen-address=127.0.0.1:\(port)", "--collector.disable-defaults", "--collector.textfile",
                                 "--collector.textfile.directory=\(directory)"]
            _ = FileManager.default.createFile(atPath: log, contents: nil)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            try process.run()
            defer {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            let deadline = Date().addingTimeInterval(30)
            while process.isRunning && Date() < deadline && get(port: port, path: "/metrics", timeout: 2) == nil {
                usleep(100_000)
            }
            guard process.isRunning else { continue }
            guard get(port: port, path: "/metrics", timeout: 2) != nil else {
                Issue.record("node_exporter did not answer on 127.0.0.1:\(port) within 30 s: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
                return
            }
            try body(port)
            return
        }
        Issue.record("node_exporter could not listen on a free port: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
    }

    @Test("node_exporter's textfile collector serves every vfioctl series with the host's values, and follows a change")
    func scraped() throws {
        let host = try MetricsCommandTests.busyHost()
        defer { host.fake.remove() }
        let directory = host.fake.root + "/var/lib/prometheus/node-exporter"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let file = directory + "/vfioctl.prom"
        #expect(host.run(["metrics", "--output", file]).status == 0)
        let written = MetricsCommandTests.samples(try String(contentsOfFile: file, encoding: .utf8))
        #expect(written.count > 40)
        try Self.serving(directory, log: host.fake.root + "/node-exporter.log") { port in
            let page = try #require(Self.get(port: port, path: "/metrics"))
            #expect(page.contains("node_textfile_scrape_error 0\n"), "\(page)")
            #expect(page.contains("# TYPE vfioctl_sriov_in_use_vfs gauge\n"))
            let served = MetricsCommandTests.samples(page)
            #expect(served == written, "served only: \(served.subtracting(written)); written only: \(written.subtracting(served))")
            #expect(served.contains(MetricsCommandTests.Sample(name: "vfioctl_sriov_in_use_vfs", labels: ["pf": "0000:05:00.0"], value: 1)))
            // The host changes; the next run's file is what the next scrape serves.
            #expect(host.run(["reattach", "--group", "3"]).status == 0)
            #expect(host.run(["metrics", "--output", file]).status == 0)
            let next = MetricsCommandTests.samples(try #require(Self.get(port: port, path: "/metrics")))
            #expect(next.contains(MetricsCommandTests.Sample(name: "vfioctl_detached_functions", labels: ["state": "vfio"], value: 0)))
            #expect(next.contains(MetricsCommandTests.Sample(name: "vfioctl_iommu_group_viable", labels: ["group": "3"], value: 0)))
        }
    }
}
