import Glibc
import VFIOCore

/// `vfioctl snapshot DIR`: copies what the device layer reads (the entries of SysfsLayout) into
/// DIR, links kept as the kernel wrote them (relative), so `--root DIR` replays the host.
/// It reads the host and writes only under DIR.
public struct SnapshotWriter {
    public let source: HostRoot

    public init(source: HostRoot) { self.source = source }

    public struct Summary: Sendable, Equatable {
        public var functions: Int
        public var files: Int
        public var links: Int
    }

    public func write(to destination: String) throws(VFIOError) -> Summary {
        var copier = Copier(source: source, destination: try prepare(destination))
        let layer = DeviceLayer(root: source, workers: 1)
        let entries = try layer.busEntries()
        let reader = FunctionReader(root: source)
        var groups: Set<String> = []
        var drivers: Set<String> = []
        for (_, name) in entries {
            copier.link(SysfsLayout.busDevices + "/" + name)
            let path = reader.devicePath(ofBusEntry: name)
            copier.directoryChain(path)
            guard let names = source.entries(path) else { continue }
            let present = Set(names)
            for attribute in SysfsLayout.functionAttributes where present.contains(attribute) {
                copier.file(path + "/" + attribute)
            }
            if present.contains(SysfsLayout.config) { copier.file(path + "/" + SysfsLayout.config, limit: 4096) }
            if present.contains("reset") { copier.marker(path + "/reset", mode: 0o200) }
            if present.contains("vfio-dev") {
                copier.directory(path + "/vfio-dev")
                for child in source.entries(path + "/vfio-dev") ?? [] {
                    copier.directory(path + "/vfio-dev/" + child)
                    // Its cdev's major:minor (Linux 6.6): what makes /dev/vfio/devices/vfioN.
                    copier.file(path + "/vfio-dev/" + child + "/dev")
                }
            }
            for link in SysfsLayout.functionLinks + names.filter({ SysfsValues.virtfnIndex($0) != nil })
            where present.contains(link) {
                guard let target = copier.link(path + "/" + link) else { continue }
                if link == "driver" { drivers.insert(SysfsPaths.lastComponent(of: target)) }
                if link == "iommu_group" { groups.insert(SysfsPaths.resolve(link: target, in: path)) }
            }
        }
        for driver in drivers.sorted() {
            let path = SysfsLayout.drivers + "/" + driver
            copier.directory(path)
            if let module = copier.link(path + "/module") {
                copier.directory(SysfsPaths.resolve(link: module, in: path))
            }
        }
        // Every group directory, not only the groups of functions that were read.
        for group in source.entries(SysfsLayout.iommuGroups) ?? [] {
            groups.insert(SysfsLayout.iommuGroups + "/" + group)
        }
        copier.directory(SysfsLayout.iommuGroups)
        for group in groups.sorted() {
            copier.directory(group + "/devices")
            for attribute in SysfsLayout.groupAttributes { copier.file(group + "/" + attribute) }
            for member in source.entries(group + "/devices") ?? [] {
                copier.link(group + "/devices/" + member)
            }
        }
        for unit in source.entries(SysfsLayout.classIOMMU) ?? [] {
            guard let unitPath = copier.linkedDirectory(SysfsLayout.classIOMMU + "/" + unit) else { continue }
            for attribute in SysfsLayout.iommuUnitAttributes { copier.file(unitPath + "/" + attribute) }
        }
        if source.entries(SysfsLayout.classIOMMU) != nil { copier.directory(SysfsLayout.classIOMMU) }
        for classDirectory in [SysfsLayout.classNet, SysfsLayout.classBlock, SysfsLayout.classGraphics] {
            guard let names = source.entries(classDirectory) else { continue }
            copier.directory(classDirectory)
            for name in names {
                guard let device = copier.linkedDirectory(classDirectory + "/" + name) else { continue }
                // What the checks read of each: state, stacking, the bond or bridge above.
                for attribute in ["operstate", "dev", "partition"] { copier.file(device + "/" + attribute) }
                copier.link(device + "/master")
                for holder in source.entries(device + "/holders") ?? [] {
                    copier.link(device + "/holders/" + holder)
                }
            }
        }
        copyMdevs(&copier)
        copyHostFacts(&copier)
        for table in SysfsLayout.iommuTables {
            let path = SysfsLayout.acpiTables + "/" + table
            // Readable by root only; without root its presence is still what matters.
            if source.exists(path) { copier.file(path, limit: 1 << 20, orMarker: true) }
        }
        copier.file(SysfsLayout.cpuinfo, limit: 1 << 22)
        if let failure = copier.firstFailure { throw failure }
        return Summary(functions: entries.count, files: copier.files, links: copier.links)
    }

    /// What MdevReader reads: each parent's link and types, each mdev's links and mdevctl's definitions.
    private func copyMdevs(_ copier: inout Copier) {
        if let parents = source.entries(SysfsLayout.mdevParents) {
            copier.directory(SysfsLayout.mdevParents)
            for name in parents {
                guard let parent = copier.linkedDirectory(SysfsLayout.mdevParents + "/" + name) else { continue }
                copier.link(parent + "/driver")
                let types = parent + "/" + SysfsLayout.mdevTypes
                for type in source.entries(types) ?? [] {
                    copier.directory(types + "/" + type + "/devices")
                    for attribute in SysfsLayout.mdevTypeAttributes { copier.file(types + "/" + type + "/" + attribute) }
                    for device in source.entries(types + "/" + type + "/devices") ?? [] { copier.link(types + "/" + type + "/devices/" + device) }
                }
            }
        }
        if let devices = source.entries(SysfsLayout.mdevDevices) {
            copier.directory(SysfsLayout.mdevDevices)
            for uuid in devices {
                guard let device = copier.linkedDirectory(SysfsLayout.mdevDevices + "/" + uuid) else { continue }
                for link in ["mdev_type", "iommu_group", "driver"] { copier.link(device + "/" + link) }
            }
        }
        for parent in source.entries(SysfsLayout.mdevDefinitions) ?? [] where parent != "scripts.d" {
            let directory = SysfsLayout.mdevDefinitions + "/" + parent
            for name in source.entries(directory) ?? [] where MdevUUID(name) != nil { copier.file(directory + "/" + name) }
        }
    }

    /// What FactsReader reads besides sysfs: /proc files, module parameters, /dev/vfio (as
    /// empty files with the nodes' modes), the running kernel's module lists (modules.dep only
    /// for the modules the checks ask about) and alias indexes, and the IPv4 addresses netlink gives.
    private func copyHostFacts(_ copier: inout Copier) {
        typealias Layout = SysfsLayout
        for file in [Layout.cmdline, Layout.osrelease, Layout.modules, Layout.limits, Layout.swaps, Layout.route,
                     Layout.ipv6Route, Layout.ifInet6, Layout.hostname] {
            copier.file(file, limit: 1 << 22)
        }
        copier.file(Layout.interrupts, limit: 8 << 20)
        copier.file(Layout.mountinfo, limit: 4 << 20)
        for module in FactsReader.modulesOfInterest {
            let base = Layout.sysModule + "/" + module
            for name in source.entries(base + "/parameters") ?? [] {
                copier.file(base + "/parameters/" + name, orMarker: true)
            }
            copier.file(base + "/initstate")
        }
        if let nodes = source.entries(Layout.devVFIO) {
            copier.directory(Layout.devVFIO)
            for node in nodes {
                guard let info = source.status(Layout.devVFIO + "/" + node) else { continue }
                if info.st_mode & S_IFMT == S_IFDIR {
                    // /dev/vfio/devices: the VFIO device cdevs, each recorded as a node.
                    copier.directory(Layout.devVFIO + "/" + node)
                    for cdev in source.entries(Layout.devVFIO + "/" + node) ?? [] {
                        guard let cdevInfo = source.status(Layout.devVFIO + "/" + node + "/" + cdev) else { continue }
                        copier.marker(Layout.devVFIO + "/" + node + "/" + cdev, mode: cdevInfo.st_mode & 0o7777)
                    }
                    continue
                }
                copier.marker(Layout.devVFIO + "/" + node, mode: info.st_mode & 0o7777)
            }
        }
        if let info = source.status(Layout.iommuDevice),
           info.st_mode & S_IFMT == S_IFCHR || (info.st_mode & S_IFMT == S_IFREG && !source.isLive) {
            copier.marker(Layout.iommuDevice, mode: info.st_mode & 0o7777)
        }
        for link in source.entries("dev/mapper") ?? [] { copier.link("dev/mapper/" + link) }
        if let release = source.text(Layout.osrelease)?.trimmingWhitespace() {
            if source.exists(Layout.bootConfig(release)) {
                copier.file(Layout.bootConfig(release), limit: Layout.kernelConfigLimit)
            } else if source.exists(Layout.procConfig) {
                copier.file(Layout.procConfig, limit: Layout.kernelConfigLimit)
            }
            let base = Layout.libModules(release)
            copier.file(base + "/modules.builtin", limit: 4 << 20)
            if let dep = source.text(base + "/modules.dep", limit: 16 << 20) {
                let kept = dep.split(separator: "\n").filter { line in
                    line.split(separator: ":").first.flatMap { ProcFiles.moduleName(fromPath: String($0)) }
                        .map(FactsReader.modulesOfInterest.contains) ?? false
                }
                copier.write(base + "/modules.dep", kept.map { $0 + "\n" }.joined())
            }
            // The indexes `show` looks modules up in (ModuleIndex); libkmod reads no other for a device.
            for index in ["modules.alias.bin", "modules.builtin.bin", "modules.builtin.alias.bin"] {
                copier.file(base + "/" + index, limit: 16 << 20)
            }
            // The vfio-pci variant drivers' aliases (VFIOVariants): only its `alias vfio_pci:` lines,
            // in their order, and only when the file is one vfioctl reads (a larger one stays unknown).
            if case .success(let bytes) = source.read(Layout.modulesAlias(release), limit: VFIOVariants.fileLimit + 1),
               bytes.count <= VFIOVariants.fileLimit {
                let aliases = VFIOVariants.aliases(modulesAlias: Substring(String(decoding: bytes, as: UTF8.self)))
                copier.write(Layout.modulesAlias(release), "# Aliases extracted from modules only: vfio_pci lines (vfioctl snapshot).\n"
                             + aliases.map { "alias \(VFIOVariants.linePrefix)\($0.pattern) \($0.module)\n" }.joined())
            }
        }
        // The kernel log's IOMMU messages only, as a regular file FactsReader reads back.
        if let log = FactsReader(root: source).kernelLog() {
            copier.write(Layout.kmsg, KernelLog.relevant(KernelLog.messages(log)).map { $0 + "\n" }.joined())
        }
        let addresses = source.isLive ? InterfaceAddresses.ipv4()
            : InterfaceAddresses.parse(source.text(Layout.recordedAddresses) ?? "")
        copier.write(Layout.recordedAddresses, InterfaceAddresses.render(addresses))
    }

    /// DIR must be new or empty: a snapshot never overwrites or mixes with other files. It is
    /// the root of everything written: nothing under it leads out of it.
    private func prepare(_ destination: String) throws(VFIOError) -> SafeDirectory {
        if let existing = FileRead.entries(destination), !existing.isEmpty {
            throw .usage("'\(destination.printable)' already exists and is not empty",
                         hint: "name a new or empty directory for the snapshot")
        }
        var absolute = destination
        if !destination.hasPrefix("/") {
            guard let current = SafeFiles.currentDirectory() else {
                throw .failed("cannot resolve '\(destination.printable)': the current directory is unreadable")
            }
            absolute = current + "/" + destination
        }
        do {
            return try FileWrite.makeDirectories(absolute, under: "/")
        } catch {
            throw .failed(error.message, hint: error.hint ?? "check the parent directory exists and is writable")
        }
    }
}

/// Copies files, links and directories from a root to a destination, relative path for path,
/// through `SafeDirectory`: new files are created with O_EXCL|O_NOFOLLOW, and no link (the
/// snapshot's own, or one planted) leads a write out of the destination.
struct Copier {
    let source: HostRoot
    let destination: SafeDirectory
    var files = 0
    var links = 0
    var created: Set<String> = []
    var firstFailure: VFIOError?
    /// The directory written in last (a function's attributes come one after another).
    var last: (relative: String, directory: SafeDirectory)?

    init(source: HostRoot, destination: SafeDirectory) {
        self.source = source
        self.destination = destination
    }

    /// The directory `relative` under the destination, created when missing.
    mutating func open(_ relative: String) -> SafeDirectory? {
        if let last, last.relative == relative { return last.directory }
        do {
            let directory = relative.isEmpty ? destination : try destination.open(relative, create: true)
            last = (relative, directory)
            return directory
        } catch {
            fail(error.message)
            return nil
        }
    }

    mutating func directory(_ relative: String) {
        guard !relative.isEmpty, !created.contains(relative) else { return }
        guard open(relative) != nil else { return }
        var path = relative
        while !path.isEmpty, created.insert(path).inserted { path = SysfsPaths.directory(of: path) }
    }

    /// Creates the directories along `relative`.
    mutating func directoryChain(_ relative: String) { directory(relative) }

    /// Copies a readable file; a missing or unreadable file is skipped (the reader skips it too),
    /// or left as an empty file when only its presence is read (`orMarker`).
    mutating func file(_ relative: String, limit: Int = 65536, orMarker: Bool = false) {
        guard let bytes = source.bytes(relative, limit: limit) else {
            if orMarker { marker(relative, mode: 0o400) }
            return
        }
        put(relative, bytes, mode: 0o644)
    }

    /// A file with the given text.
    mutating func write(_ relative: String, _ text: String) { put(relative, Array(text.utf8), mode: 0o644) }

    /// An empty file whose presence is what matters (write-only attributes such as `reset`),
    /// with exactly this mode, whatever the umask (a /dev/vfio/vfio of 0666 matters).
    mutating func marker(_ relative: String, mode: mode_t) { put(relative, [], mode: mode) }

    private mutating func put(_ relative: String, _ bytes: [UInt8], mode: mode_t) {
        let parent = SysfsPaths.directory(of: relative)
        directory(parent)
        guard let directory = open(parent) else { return }
        do {
            try directory.write(SysfsPaths.lastComponent(of: relative), bytes, mode: mode, durable: false)
            files += 1
        } catch {
            fail(error.message)
        }
    }

    /// Recreates a link with the same text; returns the text.
    @discardableResult
    mutating func link(_ relative: String) -> String? {
        guard let target = source.link(relative) else { return nil }
        let parent = SysfsPaths.directory(of: relative)
        directory(parent)
        guard let directory = open(parent) else { return target }
        do {
            try directory.link(SysfsPaths.lastComponent(of: relative), to: target)
            links += 1
        } catch {
            fail(error.message)
        }
        return target
    }

    /// A link (a class entry, a bus entry) and the directory it leads to, created in the copy;
    /// that directory's path from the root, nil when `relative` is no link.
    mutating func linkedDirectory(_ relative: String) -> String? {
        guard let target = link(relative) else { return nil }
        let resolved = SysfsPaths.resolve(link: target, in: SysfsPaths.directory(of: relative))
        directory(resolved)
        return resolved
    }

    private mutating func fail(_ message: String) {
        if firstFailure == nil { firstFailure = .failed(message, hint: "check free space and permissions under the snapshot directory") }
    }
}
