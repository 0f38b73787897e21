import Foundation
import Glibc
import Testing
import VFIOTestSupport

/// The Debian package (scripts/package, docs/packaging.md), made from the release build the run
/// already has (scripts/test builds it for the lab too, and names it in VFIOCTL_RELEASE_BIN),
/// judged by lintian, installed with dpkg into a fresh root, run there in a chroot, and removed
/// and purged again. The fresh root is a Debian system of the essential packages and vfioctl's
/// Depends, nothing else, copied from this machine's installed packages with their dpkg records:
/// dpkg checks the Depends against it, and vfioctl, the completion script and the maintainer
/// script run with its libraries and its shell only.
///
/// Without a release build (a unit-test run of its own, not scripts/test) the suite is skipped
/// and says so; in CI (CI=true) it never is: a missing build or tool fails it.
@Suite("Debian package", .serialized, .enabled(if: PackageBuild.wanted, "no release build of vfioctl: scripts/test makes one (or: swift build -c release --static-swift-stdlib --product vfioctl)"))
struct PackageTests {
    @Test("scripts/package builds vfioctl_VERSION_ARCH.deb: the binary's version, Depends as dpkg-shlibdeps computes them")
    func builds() throws {
        let package = try PackageBuild.shared.get()
        #expect(URL(fileURLWithPath: package.deb).lastPathComponent == "vfioctl_\(package.version)_\(package.architecture).deb")
        let fields = try PackageBuild.run("dpkg-deb", ["-f", package.deb, "Package", "Version", "Section", "Priority", "Depends"])
        #expect(fields.out.contains("Package: vfioctl\nVersion: \(package.version)\nSection: admin\nPriority: optional\n"), "\(fields.out)")
        let depends = package.depends
        for name in ["libc6", "libgcc-s1", "libnl-3-200", "libnl-route-3-200", "libpci3", "libstdc++6", "kmod"] {
            #expect(depends.contains(name), "Depends names \(name): \(depends)")
        }
        // Every library the binary needs comes from a package Depends names.
        let needed = try PackageBuild.run("readelf", ["-d", PackageBuild.binary ?? ""]).out.split(separator: "\n")
            .compactMap { line -> String? in
                guard line.contains("(NEEDED)"), let open = line.firstIndex(of: "["), let close = line.lastIndex(of: "]") else { return nil }
                return String(line[line.index(after: open)..<close])
            }
        #expect(needed.contains("libpci.so.3") && !needed.contains { $0.hasPrefix("libswift") }, "\(needed)")
        for library in needed {
            let owner = try PackageBuild.run("sh", ["-c", "dpkg -S '*/\(library)' | head -n 1 | cut -d: -f1"])
            let name = owner.out.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(!name.isEmpty && depends.contains(name), "\(library) comes from '\(name)', which Depends names: \(depends)")
        }
    }

    @Test("lintian: no error and no warning; each override it is given is used and says why")
    func lintian() throws {
        let package = try PackageBuild.shared.get()
        // (--show-overrides would count an overridden error as an error in the exit status.)
        let lintian = try PackageBuild.run("lintian", ["--fail-on", "error,warning", "--display-info", package.deb], timeout: 600)
        let lines = lintian.out.split(separator: "\n")
        #expect(lintian.status == 0 && !lines.contains { $0.hasPrefix("E: ") || $0.hasPrefix("W: ") }, "\(lintian.out)\(lintian.err)")
        // An override that matches nothing is reported (unused-override, mismatched-override).
        #expect(!lintian.out.contains("unused-override") && !lintian.out.contains("mismatched-override"), "\(lintian.out)")
        let overrides = try PackageBuild.run("sh", ["-c", "dpkg-deb --fsys-tarfile '\(package.deb)' | tar -xOf - ./usr/share/lintian/overrides/vfioctl"]).out
        #expect(!overrides.isEmpty)
        for paragraph in overrides.components(separatedBy: "\n\n") where !paragraph.isEmpty {
            #expect(paragraph.hasPrefix("#"), "each override says why: \(paragraph)")
        }
    }

    @Test("its files, in Debian's places: the binary, a page per command, completions, units, the hook, copyright and changelog")
    func files() throws {
        let package = try PackageBuild.shared.get()
        let listing = try PackageBuild.run("dpkg-deb", ["-c", package.deb]).out.split(separator: "\n")
        var modes: [String: String] = [:]
        for line in listing {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard let path = fields.last, fields.count >= 6 else { continue }
            modes[String(path.dropFirst(path.hasPrefix(".") ? 1 : 0))] = String(fields[0])
        }
        let pages = try PackageBuild.run(PackageBuild.binary ?? "", ["manual"]).out.split(separator: "\n").map { "/usr/share/man/man8/\($0).8.gz" }
        #expect(pages.count >= 16)
        let expected = ["/usr/sbin/vfioctl": "-rwxr-xr-x", "/usr/libexec/vfioctl/libvirt-hook": "-rwxr-xr-x",
                        "/usr/share/bash-completion/completions/vfioctl": "-rw-r--r--", "/usr/share/zsh/vendor-completions/_vfioctl": "-rw-r--r--",
                        "/usr/share/fish/vendor_completions.d/vfioctl.fish": "-rw-r--r--",
                        "/usr/lib/systemd/system/vfioctl-pools.service": "-rw-r--r--", "/usr/lib/systemd/system/vfioctl-persist.service": "-rw-r--r--",
                        "/usr/lib/systemd/system/vfioctl-metrics.service": "-rw-r--r--", "/usr/lib/systemd/system/vfioctl-metrics.timer": "-rw-r--r--",
                        "/usr/share/doc/vfioctl/copyright": "-rw-r--r--", "/usr/share/doc/vfioctl/changelog.gz": "-rw-r--r--",
                        "/usr/share/lintian/overrides/vfioctl": "-rw-r--r--"]
            .merging(pages.map { ($0, "-rw-r--r--") }) { $1 }
        for (path, mode) in expected {
            #expect(modes[path] == mode, "\(path): \(modes[path] ?? "missing")")
        }
        let unexpected = modes.filter { !$0.value.hasPrefix("d") && expected[$0.key] == nil }.keys.sorted()
        #expect(unexpected.isEmpty, "files nobody expects: \(unexpected)")
        #expect(!modes.keys.contains { $0.hasPrefix("/etc") || $0.hasPrefix("/usr/local") || $0.hasPrefix("/var") },
                "nothing in /etc (the package has no conffiles: /etc/vfioctl is the administrator's), /var or /usr/local")
        // The changelog is Debian's format, for this version, compressed as dpkg-deb would reproduce it.
        let changelog = try PackageBuild.run("sh", ["-c", "dpkg-deb --fsys-tarfile '\(package.deb)' | tar -xOf - ./usr/share/doc/vfioctl/changelog.gz | gzip -dc"])
        #expect(changelog.out.hasPrefix("vfioctl (\(package.version)) unstable; urgency=medium\n"), "\(changelog.out)")
        let parsed = try PackageBuild.run("sh", ["-c", "dpkg-deb --fsys-tarfile '\(package.deb)' | tar -xOf - ./usr/share/doc/vfioctl/changelog.gz | gzip -dc | dpkg-parsechangelog -l - -S Version"])
        #expect(parsed.status == 0 && parsed.out == package.version + "\n", "\(parsed.out)\(parsed.err)")
    }

    @Test("installs into a fresh root: runs there, man renders its pages, the completion and the hook work; remove and purge leave only the administrator's files and say so")
    func freshRoot() throws {
        let package = try PackageBuild.shared.get()
        let root = try FreshRoot(depends: package.depends)
        defer { root.remove() }
        let before = try root.files()

        let installed = try root.dpkg(["-i", package.deb])
        #expect(installed.status == 0, "\(installed.out)\(installed.err)")
        // Swift reads its arguments from /proc/self/cmdline: without /proc vfioctl has none, and
        // says so instead of printing its help.
        let noProc = try root.chroot(["vfioctl", "--version"])
        #expect(noProc.status == 1 && noProc.out.isEmpty && noProc.err.hasPrefix("error: vfioctl cannot read its command line"), "\(noProc.out)\(noProc.err)")
        try root.mountProc()
        let version = try root.chroot(["vfioctl", "--version"])
        #expect(version.status == 0 && version.out == package.version + "\n", "\(version.out)\(version.err)")
        // A real command on a real host's tree (a lab guest's snapshot), from the installed binary.
        try root.copy(PackageBuild.repository + "/fixtures/lab/passthrough", to: "/tmp/host")
        let groups = try root.chroot(["vfioctl", "groups", "--root", "/tmp/host", "--format", "json"])
        #expect(groups.status == 0 && groups.out.contains("\"groups\": ["), "\(groups.out)\(groups.err)")

        // Every page the package holds, as man shows it, without a warning.
        let pages = try FileManager.default.contentsOfDirectory(atPath: root.path + "/usr/share/man/man8").filter { $0.hasPrefix("vfioctl") }.sorted()
        #expect(pages.contains("vfioctl.8.gz") && pages.contains("vfioctl-sriov.8.gz"), "\(pages)")
        for page in pages {
            let shown = try PackageBuild.run("sh", ["-c", "man --warnings -E UTF-8 -l '\(root.path)/usr/share/man/man8/\(page)' | col -bx"],
                                             environment: ["MANWIDTH": "80"])
            #expect(shown.status == 0 && shown.err.isEmpty && shown.out.contains("EXIT STATUS"), "\(page): \(shown.err)")
        }

        // The installed bash completion, in the root's bash, completing through the root's vfioctl.
        let completed = try root.chroot(["bash", "--norc", "--noprofile", "-c", """
            source /usr/share/bash-completion/completions/vfioctl || exit 90
            COMP_WORDS=(vfioctl sriov ''); COMP_CWORD=2; COMP_LINE='vfioctl sriov '; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
            _vfioctl vfioctl '' sriov
            printf '%s\\n' "${COMPREPLY[@]}"
            """])
        #expect(completed.status == 0 && completed.err.isEmpty && completed.out.contains("create\n") && completed.out.contains("restore\n"),
                "\(completed.out)\(completed.err)")

        // The hook, enabled as docs/packaging.md says, runs the installed vfioctl (on the snapshot).
        #expect(try root.chroot(["sh", "-c", "mkdir -p /etc/libvirt/hooks/qemu.d && ln -s /usr/libexec/vfioctl/libvirt-hook /etc/libvirt/hooks/qemu.d/vfioctl"]).status == 0)
        let hook = try root.chroot(["/etc/libvirt/hooks/qemu.d/vfioctl", "guest", "prepare", "begin", "-"], environment: ["VFIOCTL_ROOT": "/tmp/host"],
                                   input: "<domain type='kvm'><name>guest</name><devices/></domain>")
        // 0: no finding stops it; 1: a verdict did (the snapshot's host has no vfio loaded). Either
        // way vfioctl ran: a hook that cannot run it lets the guest start "unchecked".
        #expect((hook.status == 0 || hook.status == 1) && !hook.err.contains("unchecked"), "\(hook.status): \(hook.out)\(hook.err)")

        // What the administrator has made with it by now: configuration and state.
        try root.write("/etc/vfioctl/pools.toml", "[[pf]]\ndevice = \"enp5s0f0\"\nvfs = 2\n")
        try root.write("/var/lib/vfioctl/detached", "original 0000:03:00.0 group=14 driver=e1000e module=e1000e override=-\n")
        try root.write("/var/lib/vfioctl/history", "detach 0000:03:00.0\n")
        let administrators = ["/etc/vfioctl", "/etc/vfioctl/pools.toml", "/var/lib/vfioctl", "/var/lib/vfioctl/detached", "/var/lib/vfioctl/history"]
        let hookLink = ["/etc/libvirt", "/etc/libvirt/hooks", "/etc/libvirt/hooks/qemu.d", "/etc/libvirt/hooks/qemu.d/vfioctl"]

        let removed = try root.dpkg(["-r", "vfioctl"])
        #expect(removed.status == 0, "\(removed.out)\(removed.err)")
        for said in ["vfioctl: kept /etc/vfioctl (your configuration)", "vfioctl: kept /var/lib/vfioctl (vfioctl's state",
                     "its records say these functions are detached to vfio-pci", "0000:03:00.0 (its driver before: e1000e)",
                     "kept /etc/libvirt/hooks/qemu.d/vfioctl, which leads to the removed hook"] {
            #expect(removed.out.contains(said), "remove says '\(said)': \(removed.out)")
        }
        let afterRemove = try root.files()
        #expect(afterRemove.subtracting(before) == Set(administrators + hookLink), "\(afterRemove.subtracting(before).sorted())")
        #expect(before.subtracting(afterRemove).isEmpty, "\(before.subtracting(afterRemove).sorted())")

        let purged = try root.dpkg(["-P", "vfioctl"])
        #expect(purged.status == 0, "\(purged.out)\(purged.err)")
        for said in ["deleting /var/lib/vfioctl, which recorded these functions as detached to vfio-pci", "0000:03:00.0 (its driver before: e1000e)",
                     "vfioctl: deleted /var/lib/vfioctl", "vfioctl: deleted /etc/libvirt/hooks/qemu.d/vfioctl (the hook is gone)",
                     "vfioctl: kept /etc/vfioctl (your configuration; delete it with: rm -r /etc/vfioctl)"] {
            #expect(purged.out.contains(said), "purge says '\(said)': \(purged.out)")
        }
        let afterPurge = try root.files()
        #expect(afterPurge.subtracting(before) == Set(administrators.prefix(2) + hookLink.dropLast()), "\(afterPurge.subtracting(before).sorted())")
        let status = try root.dpkg(["-s", "vfioctl"])
        #expect(status.status != 0 && status.err.contains("is not installed"), "\(status.out)\(status.err)")
    }

    @Test("dpkg refuses the package on a root without what it Depends on")
    func dependsAreChecked() throws {
        let package = try PackageBuild.shared.get()
        let root = try FreshRoot(depends: package.depends, leavingOut: "libpci3", files: false)
        defer { root.remove() }
        let installed = try root.dpkg(["-i", package.deb])
        #expect(installed.status != 0 && installed.err.contains("vfioctl depends on libpci3"), "\(installed.out)\(installed.err)")
    }
}

/// The package, built once for the suite from the release binary.
struct PackageBuild: Sendable {
    var deb: String
    var version: String
    var architecture: String
    /// The package names of its Depends (versions and alternatives aside).
    var depends: [String]

    struct Failure: Error, CustomStringConvertible { var description: String }

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let environment = ProcessInfo.processInfo.environment
    static let inCI = environment["CI"] == "true"

    /// VFIOCTL_RELEASE_BIN (scripts/test), else the release build in this checkout, if there is one.
    static let binary: String? = {
        if let path = environment["VFIOCTL_RELEASE_BIN"], !path.isEmpty { return path }
        let path = repository + "/.build/release/vfioctl"
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }()

    /// Run when there is a release build, and always in CI (where its absence is a failure).
    static let wanted = binary != nil || inCI

    static let shared: Result<PackageBuild, Failure> = {
        guard let binary else {
            return .failure(Failure(description: "no release build of vfioctl (CI=true: scripts/test sets VFIOCTL_RELEASE_BIN)"))
        }
        do {
            let output = NSTemporaryDirectory() + "vfioctl-package-test-\(getpid())"
            // gzip at level 1: 3 s instead of xz's minute; the files are the same.
            let built = try run(repository + "/scripts/package", ["--binary", binary, "--output", output, "--compression", "gzip"], timeout: 900)
            guard built.status == 0 else { return .failure(Failure(description: "scripts/package failed (\(built.status)):\n\(built.out)\(built.err)")) }
            let deb = built.out.trimmingCharacters(in: .whitespacesAndNewlines)
            let fields = try run("dpkg-deb", ["-f", deb, "Version", "Architecture", "Depends"]).out
            func field(_ name: String) -> String {
                fields.split(separator: "\n").first { $0.hasPrefix(name + ": ") }.map { String($0.dropFirst(name.count + 2)) } ?? ""
            }
            let depends = field("Depends").split(separator: ",").compactMap {
                $0.split(separator: "|").first?.trimmingCharacters(in: .whitespaces).split(separator: " ").first.map(String.init)
            }
            return .success(PackageBuild(deb: deb, version: field("Version"), architecture: field("Architecture"), depends: depends))
        } catch {
            return .failure(Failure(description: "scripts/package could not run: \(error)"))
        }
    }()

    /// A program the suite needs; missing is a failure that names it.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], input: String? = nil,
                    timeout: Double = 120) throws -> TestProcess.Result {
        let result = try TestProcess.run(executable, arguments, environment: environment, input: input, timeout: timeout)
        if result.status == 127 && result.err.contains("No such file") {
            throw Failure(description: "\(executable) is not installed (scripts/setup test installs it): \(result.err)")
        }
        #expect(!result.timedOut, "\(executable) \(arguments) timed out")
        return result
    }
}

/// A fresh Debian root in a temporary directory: the essential packages and the closure of
/// `depends` over Depends and Pre-Depends, each package's files copied from this machine and its
/// dpkg record (status and file list) with them, so `dpkg --root` sees exactly those installed.
struct FreshRoot {
    let path: String

    /// `files: false` makes only dpkg's records of them (dpkg checks Depends against those).
    init(depends: [String], leavingOut excluded: String? = nil, files: Bool = true) throws {
        path = NSTemporaryDirectory() + "vfioctl-fresh-root-\(UUID().uuidString)"
        let script = """
            set -eu
            root=$1 exclude=$2 copy=$3; shift 3
            mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers" "$root/tmp"
            chmod 1777 "$root/tmp"
            touch "$root/var/lib/dpkg/available" "$root/var/lib/dpkg/diversions" "$root/var/lib/dpkg/statoverride"
            # merged /usr, as this machine has it
            for d in bin sbin lib lib32 lib64 libx32; do [ -L "/$d" ] && ln -s "$(readlink "/$d")" "$root/$d"; done
            arch=$(dpkg --print-architecture)
            dpkg-query -W -f='${Package};${db:Status-Abbrev};${Essential};${Depends}, ${Pre-Depends};${Provides}\\n' > "$root/.packages"
            packages=$(python3 - "$root/.packages" "$exclude" "$@" <<'PY'
            import sys
            rows = [line.rstrip("\\n").split(";") for line in open(sys.argv[1])]
            installed = {r[0]: r for r in rows if r[1].startswith("ii")}
            provides = {}
            for r in installed.values():
                for p in r[4].split(","):
                    if p.strip(): provides.setdefault(p.strip().split(" ")[0], r[0])
            exclude = sys.argv[2]
            def pick(alternatives):
                for a in alternatives.split("|"):
                    name = a.strip().split(" ")[0].split(":")[0]
                    if name == exclude: continue
                    if name in installed: return name
                    if name in provides: return provides[name]
                return None
            todo = [n for n, r in installed.items() if r[2] == "yes"] + sys.argv[3:]
            seen = set()
            while todo:
                name = todo.pop()
                if name in seen or name == exclude: continue
                if name not in installed: sys.exit("not installed here: " + name)
                seen.add(name)
                for d in installed[name][3].split(","):
                    if d.strip():
                        chosen = pick(d)
                        if chosen: todo.append(chosen)
            print("\\n".join(sorted(seen)))
            PY
            )
            rm "$root/.packages"
            lists=""
            for p in $packages; do
              for f in "/var/lib/dpkg/info/$p.list" "/var/lib/dpkg/info/$p:$arch.list"; do
                [ -f "$f" ] && cp "$f" "$root/var/lib/dpkg/info/" && lists="$lists $f"
              done
            done
            # Each file once, by its real directory (bin/x is usr/bin/x); /bin/sh is dash's link.
            if [ "$copy" = yes ]; then
              cat $lists | python3 -c '
            import os, sys
            seen = set()
            for line in sys.stdin:
                p = line.rstrip("\\n")
                if not p.startswith("/") or not (os.path.islink(p) or os.path.isfile(p)): continue
                q = os.path.join(os.path.realpath(os.path.dirname(p)), os.path.basename(p))
                if q not in seen:
                    seen.add(q)
                    print(q)
            print(os.path.join(os.path.realpath("/bin"), "sh"))
            ' > "$root/.files"
              tar -C / --no-recursion -cf - -T "$root/.files" 2>/dev/null | tar -C "$root" -xf -
              rm "$root/.files"
            fi
            python3 - "$root/var/lib/dpkg/status" $packages <<'PY'
            import sys
            wanted = set(sys.argv[2:])
            stanzas = [s for s in open("/var/lib/dpkg/status").read().split("\\n\\n") if s.strip()]
            keep = [s.strip("\\n") for s in stanzas if next(l[9:] for l in s.split("\\n") if l.startswith("Package: ")) in wanted]
            open(sys.argv[1], "w").write("\\n\\n".join(keep) + "\\n")
            PY
            """
        let made = try PackageBuild.run("bash", ["-c", script, "fresh-root", path, excluded ?? "", files ? "yes" : "no"] + depends, timeout: 300)
        guard made.status == 0 else { throw PackageBuild.Failure(description: "the fresh root could not be made:\n\(made.out)\(made.err)") }
    }

    /// /proc in the root, as every running system has it; unmounted by `remove`.
    func mountProc() throws {
        try FileManager.default.createDirectory(atPath: path + "/proc", withIntermediateDirectories: true)
        let mounted = try PackageBuild.run("mount", ["-t", "proc", "proc", path + "/proc"])
        guard mounted.status == 0 else { throw PackageBuild.Failure(description: "mount -t proc in the fresh root: \(mounted.err)") }
    }

    func remove() {
        _ = try? TestProcess.run("umount", [path + "/proc"], timeout: 60)
        // Only a root whose /proc is not mounted (any more) is deleted.
        guard (try? TestProcess.run("mountpoint", ["-q", path + "/proc"], timeout: 60))?.status != 0 else { return }
        FakeSysfs.removeTree(path)
    }

    /// dpkg on this root: its files and its database, maintainer scripts in a chroot.
    func dpkg(_ arguments: [String]) throws -> TestProcess.Result {
        // Everything the package holds (whatever path-exclude this machine's dpkg.cfg.d has), and
        // no line in this machine's /var/log/dpkg.log.
        try PackageBuild.run("dpkg", ["--root=" + path, "--log=/dev/null", "--path-include=*"] + arguments,
                             environment: ["DEBIAN_FRONTEND": "noninteractive"], timeout: 300)
    }

    /// A command in the root, with the root's PATH and nothing of this process's environment.
    func chroot(_ command: [String], environment: [String: String] = [:], input: String? = nil) throws -> TestProcess.Result {
        let variables = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LC_ALL=C.UTF-8"] + environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        return try PackageBuild.run("chroot", [path, "/usr/bin/env", "-i"] + variables + command, input: input)
    }

    func copy(_ source: String, to destination: String) throws {
        let copied = try PackageBuild.run("cp", ["-a", source, path + destination])
        guard copied.status == 0 else { throw PackageBuild.Failure(description: "cp \(source): \(copied.err)") }
    }

    func write(_ file: String, _ text: String) throws {
        let url = URL(fileURLWithPath: path + file)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try text.write(to: url, atomically: false, encoding: .utf8)
    }

    /// Every path in the root as the root sees it, but dpkg's database and /tmp.
    func files() throws -> Set<String> {
        let found = try PackageBuild.run("find", [path, "-mindepth", "1", "(", "-path", path + "/var/lib/dpkg", "-o", "-path", path + "/tmp", "-o",
                                                  "-path", path + "/proc", ")", "-prune", "-o", "-printf", "/%P\\n"])
        return Set(found.out.split(separator: "\n").map(String.init))
    }
}
