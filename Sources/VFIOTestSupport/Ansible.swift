import Foundation
import Glibc

/// The real ansible-core of the test suite (scripts/setup test installs it from PyPI into a venv)
/// running playbooks against the collection in ansible/, each host on the local connection.
public struct Ansible: Sendable {
    /// The venv scripts/setup makes (VFIOCTL_ANSIBLE_VENV: another one).
    public static var venv: String {
        ProcessInfo.processInfo.environment["VFIOCTL_ANSIBLE_VENV"].flatMap { $0.isEmpty ? nil : $0 } ?? "/opt/vfioctl-test/ansible"
    }
    public static var playbookProgram: String { venv + "/bin/ansible-playbook" }
    /// ansible-test's HOME, where scripts/setup made its sanity environments.
    public static var testHome: String { "/opt/vfioctl-test/ansible-test" }
    public static var installed: Bool { FileManager.default.isExecutableFile(atPath: playbookProgram) }
    public static var inCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }
    /// Run where ansible is installed, and always in CI (where its absence is a failure).
    public static var wanted: Bool { installed || inCI }

    /// The vfioctl the modules run: the release build scripts/test names (VFIOCTL_RELEASE_BIN), else
    /// the one the suite already uses.
    public static var vfioctl: String {
        ProcessInfo.processInfo.environment["VFIOCTL_RELEASE_BIN"].flatMap { $0.isEmpty ? nil : $0 } ?? TestProcess.vfioctl
    }

    /// A scratch directory: the collection where ansible looks for it
    /// (DIR/collections/ansible_collections/vfioctl/host, a link to ansible/), its home and
    /// temporary directories.
    public let directory: String
    public let collection: String

    public struct Missing: Error, CustomStringConvertible {
        public var description: String
    }

    /// `repository`: the checkout whose ansible/ is the collection.
    public init(repository: String) throws {
        guard Self.installed else {
            throw Missing(description: "ansible-playbook is not installed at \(Self.playbookProgram) (scripts/setup test installs ansible-core into \(Self.venv))")
        }
        directory = NSTemporaryDirectory() + "vfioctl-ansible-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let namespace = directory + "/collections/ansible_collections/vfioctl"
        try FileManager.default.createDirectory(atPath: namespace, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/home", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/tmp", withIntermediateDirectories: true)
        collection = namespace + "/host"
        try FileManager.default.createSymbolicLink(atPath: collection, withDestinationPath: repository + "/ansible")
        FileManager.default.createFile(atPath: directory + "/ansible.cfg", contents: Data())
    }

    public func remove() { try? FileManager.default.removeItem(atPath: directory) }

    /// Writes `text` to DIR/NAME and returns the path.
    public func write(_ name: String, _ text: String) throws -> String {
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// ansible-playbook PLAYBOOK -i INVENTORY ARGUMENTS..., isolated from the machine's ansible
    /// configuration, without colour.
    public func playbook(_ playbook: String, inventory: String, _ arguments: [String] = [], timeout: Double = 600) throws -> TestProcess.Result {
        try TestProcess.run(Self.playbookProgram, [playbook, "-i", inventory] + arguments, environment: [
            "ANSIBLE_CONFIG": directory + "/ansible.cfg",
            "ANSIBLE_HOME": directory + "/home",
            "ANSIBLE_LOCAL_TEMP": directory + "/tmp",
            "ANSIBLE_REMOTE_TEMP": directory + "/tmp",
            "ANSIBLE_COLLECTIONS_PATH": directory + "/collections",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_DEPRECATION_WARNINGS": "0",
            "LC_ALL": "C.UTF-8",
        ], timeout: timeout)
    }

    /// `ansible-test sanity ARGUMENTS...` on a copy of the collection under
    /// DIR/sanity/ansible_collections/vfioctl/host (where ansible-test wants a collection), in the
    /// environments scripts/setup made (HOME=testHome), for the venv's Python.
    public func sanity(repository: String, _ arguments: [String], timeout: Double = 600) throws -> TestProcess.Result {
        let python = try TestProcess.run(Self.venv + "/bin/python", ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        let version = python.out.trimmingCharacters(in: .whitespacesAndNewlines)
        let copy = directory + "/sanity/ansible_collections/vfioctl/host"
        try FileManager.default.createDirectory(atPath: directory + "/sanity/ansible_collections/vfioctl", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: repository + "/ansible", toPath: copy)
        let path = Self.venv + "/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        return try TestProcess.run("/usr/bin/env", ["-C", copy, "HOME=" + Self.testHome, "PATH=" + path, "LC_ALL=C.UTF-8",
                                                    Self.venv + "/bin/ansible-test", "sanity", "--python", version, "--color", "no"] + arguments,
                                   timeout: timeout)
    }

    /// The PLAY RECAP's counts per host: ok, changed, failed, ...
    public static func recap(_ output: String) -> [String: [String: Int]] {
        var hosts: [String: [String: Int]] = [:]
        guard let start = output.range(of: "PLAY RECAP") else { return hosts }
        for line in output[start.upperBound...].split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            var counts: [String: Int] = [:]
            for field in parts[1].split(separator: " ") {
                let pair = field.split(separator: "=")
                if pair.count == 2, let value = Int(pair[1]) { counts[String(pair[0])] = value }
            }
            if !counts.isEmpty { hosts[parts[0].trimmingCharacters(in: .whitespaces)] = counts }
        }
        return hosts
    }
}
