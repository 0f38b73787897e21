import Foundation
import Testing
import VFIOTestSupport

/// The collection in ansible/ under the real ansible-core (scripts/setup test installs it from
/// PyPI into /opt/vfioctl-test/ansible): ansible-playbook against an inventory of fake hosts, each
/// on the local connection with its own root and state directory, the modules running the built
/// vfioctl. Where ansible is missing these fail in CI and are skipped elsewhere.
@Suite("Ansible collection vfioctl.host under ansible-playbook", .enabled(if: Ansible.wanted))
struct AnsibleTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let cpuMap = "/usr/share/libvirt/cpu_map"

    /// The playbook of the fleet tests: facts, configuration, persistent records, a pool and a
    /// detach where the host has them, each result written to OUT/HOST.json on the controller;
    /// then the refusals on the broken host (ignored, written too).
    static let playbook = """
        - name: Fleet
          hosts: fleet
          gather_facts: false
          module_defaults:
            group/vfioctl.host.vfioctl: {executable: "{{ vfioctl_bin }}", root: "{{ root }}", state_dir: "{{ state }}"}
          tasks:
            - name: Facts
              vfioctl.host.vfioctl_facts:
                cpu_map: "{{ cpu_map }}"
              when: facts | default(true) | bool
            - name: Configuration
              vfioctl.host.vfioctl_config:
                cmdline: true
                initramfs: true
                modprobe: {vfio_ids: ["10de:1b80"], nested: true}
              register: config
            - name: Persistent assignment
              vfioctl.host.vfioctl_persist:
                groups: "{{ persist_groups }}"
              register: persist
            - name: Pool
              vfioctl.host.vfioctl_pool:
                spec: "{{ vf_pool }}"
              register: pool
              when: vf_pool is defined
            - name: Detach
              vfioctl.host.vfioctl_detach:
                groups: "{{ detach_groups }}"
              register: detach
              when: detach_groups is defined
            - name: Results
              ansible.builtin.copy:
                content: "{{ {'facts': ansible_facts.vfioctl | default(none), 'config': config, 'persist': persist, 'pool': pool, 'detach': detach} | to_nice_json }}"
                dest: "{{ out }}/{{ inventory_hostname }}.json"
                mode: "0644"
              delegate_to: localhost
              check_mode: false
              changed_when: false

        - name: Refusals
          hosts: broken
          gather_facts: false
          module_defaults:
            group/vfioctl.host.vfioctl: {executable: "{{ vfioctl_bin }}", root: "{{ root }}", state_dir: "{{ state }}"}
          tasks:
            - name: A pool that changes devices
              vfioctl.host.vfioctl_pool:
                content: |
                  [[pf]]
                  device = "0000:05:00.0"
                  vfs = 2
                  driver = "vfio-pci"
              register: pool
              ignore_errors: true
            - name: The boot disk to vfio-pci
              vfioctl.host.vfioctl_detach:
                addresses: ["0000:03:00.0"]
              register: detach
              ignore_errors: true
            - name: The boot disk to vfio-pci at every boot
              vfioctl.host.vfioctl_persist:
                addresses: ["0000:03:00.0"]
              register: persist
              ignore_errors: true
            - name: Results
              ansible.builtin.copy:
                content: "{{ {'pool': pool, 'detach': detach, 'persist': persist} | to_nice_json }}"
                dest: "{{ out }}/{{ inventory_hostname }}.json"
                mode: "0644"
              delegate_to: localhost
              check_mode: false
              changed_when: false

        """

    /// Three hosts, each with a Debian boot configuration that lacks what vfioctl_config writes:
    /// the command tests' small host (h1), the check host (h2, with an SR-IOV pool and a detached
    /// VF that are already as asked), and a check host asked for what vfioctl refuses (bad).
    struct Fleet {
        let ansible: Ansible
        var hosts: [String: FakeSysfs] = [:]
        var states: [String: String] = [:]
        let out: String
        let inventory: String
        let playbook: String

        init(cpuinfo: [String: String] = [:]) throws {
            ansible = try Ansible(repository: AnsibleTests.repository)
            out = ansible.directory + "/out"
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            hosts = ["h1": commandFixture(), "h2": checkHost(), "bad": checkHost()]
            var groups: [String: [String: Any]] = ["fleet": ["hosts": [String: Any]()], "broken": ["hosts": [String: Any]()]]
            for (name, fake) in hosts.sorted(by: { $0.key < $1.key }) {
                AnsibleTests.debianBoot(fake)
                if let file = cpuinfo[name] { fake.write("proc/cpuinfo", try String(contentsOfFile: AnsibleTests.repository + "/fixtures/cpuinfo/" + file, encoding: .utf8)) }
                let state = ansible.directory + "/state-" + name
                states[name] = state
                // vfioctl_root: the cpu_baseline playbook's name for it.
                var variables: [String: Any] = ["root": fake.root, "vfioctl_root": fake.root, "state": state]
                switch name {
                case "h2":
                    variables["persist_groups"] = [2]
                    variables["vf_pool"] = ["pf": [["device": "0000:05:00.0", "vfs": 1, "driver": "vfio-pci"]]]
                    variables["detach_groups"] = [8]
                case "bad": break
                default: variables["persist_groups"] = [17]
                }
                let group = name == "bad" ? "broken" : "fleet"
                var members = groups[group]?["hosts"] as? [String: Any] ?? [:]
                members[name] = variables
                groups[group]?["hosts"] = members
            }
            groups["all"] = ["vars": ["ansible_connection": "local", "ansible_python_interpreter": "/usr/bin/python3",
                                      "vfioctl_bin": Ansible.vfioctl, "cpu_map": AnsibleTests.cpuMap, "out": out]]
            let json = try JSONSerialization.data(withJSONObject: groups, options: [.prettyPrinted, .sortedKeys])
            inventory = try ansible.write("inventory.json", String(decoding: json, as: UTF8.self))
            playbook = try ansible.write("fleet.yml", AnsibleTests.playbook)
        }

        func remove() {
            for fake in hosts.values { fake.remove() }
            ansible.remove()
        }

        /// The fleet playbook; `facts: false` leaves vfioctl_facts out (one run reads them).
        func run(_ arguments: [String] = [], facts: Bool = true) throws -> TestProcess.Result {
            try ansible.playbook(playbook, inventory: inventory, arguments + (facts ? [] : ["-e", "facts=false"]))
        }

        /// What a host's playbook run wrote (its registered results).
        func results(_ host: String) throws -> [String: Any] {
            try TestProcess.json(String(contentsOfFile: out + "/\(host).json", encoding: .utf8))
        }

        /// Every file, link and directory under each host's root and state directory, with its bytes.
        func trees() -> [String: [String: String]] {
            var all: [String: [String: String]] = [:]
            for (name, fake) in hosts {
                all[name] = AnsibleTests.tree(fake.root)
                all["state-" + name] = AnsibleTests.tree(states[name] ?? "")
            }
            return all
        }
    }

    /// A Debian host's boot configuration without the IOMMU options or the vfio modules.
    static func debianBoot(_ fake: FakeSysfs) {
        fake.write("etc/default/grub", "GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\nGRUB_CMDLINE_LINUX=\"\"\n")
        fake.write("usr/sbin/update-grub", "#!/bin/sh\n", mode: 0o755)
        fake.write("usr/sbin/update-initramfs", "#!/bin/sh\n", mode: 0o755)
        fake.write("etc/initramfs-tools/modules", DebianFiles.initramfsToolsModules)
    }

    static func tree(_ root: String) -> [String: String] {
        var files: [String: String] = [:]
        guard let walker = FileManager.default.enumerator(atPath: root) else { return files }
        while let relative = walker.nextObject() as? String {
            let path = root + "/" + relative
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) {
                files[relative] = "link " + target
            } else if let data = FileManager.default.contents(atPath: path) {
                files[relative] = data.base64EncodedString()
            } else {
                files[relative] = "directory"
            }
        }
        return files
    }

    static func read(_ fake: FakeSysfs, _ path: String) -> String? { try? String(contentsOfFile: fake.root + "/" + path, encoding: .utf8) }

    /// vfioctl ARGUMENTS --format json under a host's root, by hand.
    static func vfioctl(_ fake: FakeSysfs, _ arguments: [String]) throws -> Any {
        let result = try TestProcess.run(Ansible.vfioctl, arguments + ["--format", "json", "--root", fake.root])
        return try JSONSerialization.jsonObject(with: Data(result.out.utf8))
    }

    static func equal(_ a: Any?, _ b: Any?) -> Bool {
        guard let a, let b else { return a == nil && b == nil }
        return NSDictionary(dictionary: ["v": a]).isEqual(to: ["v": b])
    }

    @Test("facts are vfioctl's documents; config, persist, pool, detach: a first run changes what differs, a second run changes nothing; refusals fail naming the host and vfioctl's reason")
    func idempotent() throws {
        let fleet = try Fleet()
        defer { fleet.remove() }
        let first = try fleet.run()
        let recap = Ansible.recap(first.out)
        #expect(first.status == 0, "\(first.out)\(first.err)")
        for host in ["h1", "h2"] {
            #expect((recap[host]?["changed"] ?? 0) >= 2 && recap[host]?["failed"] == 0, "\(host): \(recap)")
        }
        #expect(recap["bad"]?["ignored"] == 3, "\(recap)")

        // Facts: what vfioctl itself says, by hand, for each host.
        for host in ["h1", "h2"] {
            let fake = try #require(fleet.hosts[host])
            let facts = try #require(try fleet.results(host)["facts"] as? [String: Any])
            let list = try #require(try Self.vfioctl(fake, ["list"]) as? [String: Any])
            let groups = try #require(try Self.vfioctl(fake, ["groups"]) as? [String: Any])
            let check = try #require(try Self.vfioctl(fake, ["check"]) as? [String: Any])
            #expect(Self.equal(facts["functions"], list["functions"]), "\(host): functions")
            #expect(Self.equal(facts["groups"], groups["groups"]), "\(host): groups")
            #expect(Self.equal(facts["iommu"], groups["iommu"]), "\(host): iommu")
            #expect(Self.equal((facts["check"] as? [String: Any])?["findings"], check["findings"]), "\(host): check")
            let cpu = try #require(facts["cpu"] as? [String: Any])
            #expect(cpu["source"] as? String == "cpuinfo" && (facts["cpu_xml"] as? String)?.contains("<cpu") == true, "\(cpu)")
        }
        let h1 = try #require(fleet.hosts["h1"])
        let functions = try #require(try fleet.results("h1")["facts"] as? [String: Any])["functions"] as? [[String: Any]]
        #expect(functions?.compactMap { $0["address"] as? String } == ["0000:00:1c.0", "0000:01:00.0", "0000:02:00.0", "0000:02:00.1", "10000:e1:00.0", "10000:e1:10.0"])

        // The first run wrote the files, and said a reboot is wanted and what regenerates.
        let config = try #require(try fleet.results("h1")["config"] as? [String: Any])
        #expect(config["changed"] as? Bool == true && config["reboot_required"] as? Bool == true)
        #expect(config["regenerate"] as? [String] == ["update-grub", "update-initramfs -u -k all"], "\(config)")
        #expect(Self.read(h1, "etc/default/grub")?.contains("GRUB_CMDLINE_LINUX=\"intel_iommu=on iommu=pt\"") == true)
        #expect(Self.read(h1, "etc/modprobe.d/vfio.conf")?.contains("options vfio-pci ids=10de:1b80") == true)
        #expect(Self.read(h1, "etc/vfioctl/persist.conf")?.contains("address=0000:02:00.1") == true)
        #expect(Self.read(h1, "etc/initramfs-tools/modules")?.contains("vfio_pci") == true)
        // The pool and the detach of h2 were already so: nothing planned, nothing run.
        let h2 = try fleet.results("h2")
        for key in ["pool", "detach"] {
            let result = try #require(h2[key] as? [String: Any])
            #expect(result["changed"] as? Bool == false && (result["changes"] as? [Any])?.isEmpty == true, "\(key): \(result)")
        }

        // Refusals: the host is named, with vfioctl's error and hint.
        let broken = try fleet.results("bad")
        let pool = try #require(broken["pool"] as? [String: Any])
        #expect(pool["failed"] as? Bool == true && pool["rc"] as? Int == 64, "\(pool)")
        #expect((pool["msg"] as? String)?.contains("is a copy of a host's files, not a running kernel: apply can only plan there") == true, "\(pool)")
        #expect((pool["hint"] as? [String])?.first?.contains("--dry-run") == true, "\(pool)")
        let detach = try #require(broken["detach"] as? [String: Any])
        #expect(detach["failed"] as? Bool == true && detach["rc"] as? Int == 2, "\(detach)")
        #expect((detach["msg"] as? String)?.contains("0000:03:00.0") == true && (detach["msg"] as? String)?.contains("root") == true, "\(detach)")
        let persist = try #require(broken["persist"] as? [String: Any])
        #expect(persist["failed"] as? Bool == true && persist["rc"] as? Int == 2, "\(persist)")
        #expect((persist["msg"] as? String)?.contains("0000:03:00.0: 0000:03:00.0 is in use by the host") == true, "\(persist)")
        #expect(first.out.contains("fatal: [bad]: FAILED!"), "\(first.out)")

        // Again: nothing changes anywhere.
        let second = try fleet.run(facts: false)
        let again = Ansible.recap(second.out)
        #expect(second.status == 0, "\(second.out)\(second.err)")
        for host in ["h1", "h2"] {
            #expect(again[host]?["changed"] == 0 && again[host]?["failed"] == 0, "\(host): \(again)\n\(second.out)")
        }
        let reconfigured = try #require(try fleet.results("h1")["config"] as? [String: Any])
        #expect(reconfigured["changed"] as? Bool == false && reconfigured["reboot_required"] as? Bool == false, "\(reconfigured)")
    }

    @Test("check mode changes no byte of any host and reports what would change; diff mode shows vfioctl's plan and diffs")
    func checkMode() throws {
        let fleet = try Fleet()
        defer { fleet.remove() }
        let before = fleet.trees()
        let run = try fleet.run(["--check", "--diff"], facts: false)
        #expect(run.status == 0, "\(run.out)\(run.err)")
        let recap = Ansible.recap(run.out)
        for host in ["h1", "h2"] {
            #expect((recap[host]?["changed"] ?? 0) >= 2, "\(host): \(recap)")
        }
        #expect(fleet.trees() == before, "a host's files changed in check mode")
        // The pool on the broken host plans in check mode: changed, with vfioctl's plan as the diff.
        let pool = try #require(try fleet.results("bad")["pool"] as? [String: Any])
        #expect(pool["changed"] as? Bool == true && (pool["changes"] as? [[String: Any]])?.contains { $0["change"] as? String == "vf-count" } == true, "\(pool)")
        #expect(run.out.contains("vf-count 0000:05:00.0 sriov_numvfs: 1 -> 2"), "\(run.out)")
        #expect(run.out.contains("set-attribute /sys/bus/pci/devices/0000:05:00.0/sriov_numvfs"), "\(run.out)")
        // The configuration's diffs are vfioctl's.
        #expect(run.out.contains("+GRUB_CMDLINE_LINUX=\"intel_iommu=on iommu=pt\""), "\(run.out)")
        let config = try #require(try fleet.results("h1")["config"] as? [String: Any])
        #expect(config["reboot_required"] as? Bool == true && (config["files"] as? [[String: Any]])?.allSatisfy { $0["written"] as? Bool == false } == true)
    }

    @Test("the fleet CPU baseline playbook gives the baseline vfioctl cpu baseline gives over the same hosts' CPUs, and each host's compare")
    func cpuBaseline() throws {
        let fleet = try Fleet(cpuinfo: ["h1": "skylake-server-kvm.txt", "h2": "core2-workstation.txt", "bad": "skylake-server-kvm.txt"])
        defer { fleet.remove() }
        let baseline = fleet.ansible.directory + "/baseline.xml"
        let run = try fleet.ansible.playbook("vfioctl.host.cpu_baseline", inventory: fleet.inventory,
                                             ["-e", "vfioctl_baseline_file=" + baseline,
                                              "-e", "vfioctl_executable=" + Ansible.vfioctl, "-e", "vfioctl_cpu_map=" + Self.cpuMap])
        #expect(run.status == 0, "\(run.out)\(run.err)")
        // By hand: each host's CPU, then the baseline over the three files.
        var files: [String] = []
        for host in ["bad", "h1", "h2"] {
            let fake = try #require(fleet.hosts[host])
            let cpu = try TestProcess.run(Ansible.vfioctl, ["cpu", "host", "--format", "xml", "--root", fake.root, "--cpu-map", Self.cpuMap])
            #expect(cpu.status == 0, "\(cpu.err)")
            files.append(try fleet.ansible.write("cpu-\(host).xml", cpu.out))
        }
        let byHand = try TestProcess.run(Ansible.vfioctl, ["cpu", "baseline"] + files + ["--cpu-map", Self.cpuMap])
        #expect(byHand.status == 0 && byHand.out.contains("<model fallback='allow'>Conroe</model>"), "\(byHand.out)\(byHand.err)")
        #expect((try? String(contentsOfFile: baseline, encoding: .utf8)) == byHand.out)
        // Each host against it, by hand and as the playbook said it.
        for host in ["bad", "h1", "h2"] {
            let fake = try #require(fleet.hosts[host])
            let compare = try #require(try Self.vfioctl(fake, ["cpu", "compare", baseline, "--cpu-map", Self.cpuMap]) as? [String: Any])
            let model = try #require(((compare["host"] as? [String: Any])?["model"]) as? String)
            let result = try #require(compare["result"] as? String)
            #expect(run.out.contains("ok: [\(host)] => {\n    \"msg\": \"baseline Conroe (Intel, 3 hosts); this host (\(model)): \(result)"), "\(host): \(compare)\n\(run.out)")
        }
        #expect(Ansible.recap(run.out).keys.sorted() == ["bad", "h1", "h2"])
    }

    /// Every sanity test of ansible-core 2.19 but pylint (19 of its 28 s on a loaded 2-core
    /// machine; compile, import, validate-modules, pep8 and the doc tests catch what matters for
    /// modules, and the playbooks above run every module): validate-modules checks DOCUMENTATION
    /// against the argument specs, ansible-doc renders every module.
    @Test("ansible-test sanity on the collection (every test but pylint)")
    func sanity() throws {
        let ansible = try Ansible(repository: Self.repository)
        defer { ansible.remove() }
        #expect(FileManager.default.fileExists(atPath: Ansible.testHome + "/.ansible/test/venv"),
                "ansible-test's sanity environments are not made (scripts/setup test makes them in \(Ansible.testHome))")
        let run = try ansible.sanity(repository: Self.repository, ["--skip-test", "pylint"])
        #expect(run.status == 0, "\(run.out)\(run.err)")
        #expect(run.err.contains("Running sanity test \"validate-modules\"") || run.out.contains("Running sanity test \"validate-modules\""),
                "\(run.out)\(run.err)")
    }
}
