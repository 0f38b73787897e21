import ArgumentParser
import VFIOCore
import VFIODeviceLayer

/// What Tab offers for an argument that names something on the host. The scripts ArgumentParser
/// generates (`vfioctl --generate-completion-script bash|zsh|fish`) call the binary back
/// (`vfioctl ---completion SUBCOMMAND -- ARGUMENT INDEX CURSOR WORDS...`); it answers from the host
/// under the root the words name (`--root DIR`), else VFIOCTL_ROOT, else /, through the device
/// layer's quick reads (`HostNames`, `MdevReader`). A person is waiting and a shell prints what
/// it gets: an unreadable root or host offers nothing, and nothing is written to stderr.
enum HostCompletion: Sendable {
    /// PCI functions: addresses (the short `BB:SS.F` of domain 0 when only it fits what is typed),
    /// or libvirt's node-device names once the word starts with `p`.
    case functions
    /// SR-IOV VFs, spelled as `functions`.
    case vfs
    /// IOMMU group numbers.
    case groups
    /// SR-IOV PFs: addresses (or node-device names) and their network interfaces.
    case pfs
    /// The network interfaces of SR-IOV PFs.
    case pfInterfaces
    /// mdev UUIDs, active or defined for mdevctl.
    case mdevs
    /// Active mdev UUIDs.
    case activeMdevs
    /// mdev parents as /sys/class/mdev_bus names them (a PCI parent also by node-device name).
    case mdevParents
    /// mdev type ids: of the parent named on the line, else of every parent.
    case mdevTypes

    /// The ArgumentParser completion that asks the host.
    var kind: CompletionKind {
        .custom { words, index, prefix in
            HostCompletion.answer(self, words: words, index: index, prefix: prefix,
                                  shell: CompletionShell.requesting, environmentRoot: Invocation.variable("VFIOCTL_ROOT"))
        }
    }

    /// The candidates for the word at `index` of `words` (`prefix` is that word up to the
    /// cursor), as `shell` takes them: zsh's `_describe` reads `value:description`, so a ':' in a
    /// value is escaped as `\:`; bash (through `CompletionScript.bash`, which joins the words bash
    /// split at ':' and trims what readline does not replace) and fish take them as they are.
    static func answer(_ what: HostCompletion, words: [String], index: Int, prefix: String, shell: CompletionShell?,
                       environmentRoot: String?) -> [String] {
        guard let root = root(words, index: index, environment: environmentRoot) else { return [] }
        let matching = what.candidates(root, typed: prefix, words: words).filter { $0.hasPrefix(prefix) }
        guard shell == .zsh else { return matching }
        return matching.map { String($0.flatMap { $0 == ":" ? ["\\", ":"] : [$0] }) }
    }

    /// The root the line reads: `--root DIR` or `--root=DIR` among the words (bash splits the
    /// latter into `--root`, `=`, `DIR`), else the environment's, else /. nil when it cannot be
    /// opened (an empty or missing directory).
    static func root(_ words: [String], index: Int, environment: String?) -> HostRoot? {
        var named: String?
        var position = 1
        while position < words.count {
            defer { position += 1 }
            guard position != index else { continue }
            let word = words[position]
            if word == "--" { break }
            if word.hasPrefix("--root=") {
                named = String(word.dropFirst(7))
            } else if word == "--root", position + 1 < words.count, position + 1 != index {
                position += 1
                if words[position] == "=", position + 1 < words.count, position + 1 != index { position += 1 }
                named = words[position]
            }
        }
        // As the command: --root names the root (empty: an error, so nothing), else VFIOCTL_ROOT, else /.
        if let named { return try? HostRoot(unquoted(named)) }
        guard let environment, !environment.isEmpty else { return .live }
        return try? HostRoot(environment)
    }

    /// A word as typed, without the quotes around it (the shells pass words verbatim).
    static func unquoted(_ word: String) -> String {
        for quote in ["'", "\""] where word.count >= 2 && word.hasPrefix(quote) && word.hasSuffix(quote) {
            return String(word.dropFirst().dropLast())
        }
        return word
    }

    func candidates(_ root: HostRoot, typed: String, words: [String]) -> [String] {
        let names = HostNames(root: root)
        switch self {
        case .functions:
            return Self.spellings(names.functions(), typed: typed)
        case .vfs:
            return Self.spellings(names.virtualFunctions(), typed: typed)
        case .groups:
            return names.groups().map(String.init)
        case .pfs:
            let pfs = names.physicalFunctions()
            return Self.spellings(pfs.map(\.address), typed: typed) + pfs.flatMap(\.interfaces)
        case .pfInterfaces:
            return names.physicalFunctions().flatMap(\.interfaces)
        case .mdevs:
            let state = MdevReader(root: root).read()
            return Set(state.devices.map(\.uuid) + state.definitions.map(\.uuid)).sorted().map(\.description)
        case .activeMdevs:
            return MdevReader(root: root).read().devices.map(\.uuid.description)
        case .mdevParents:
            let parents = MdevReader(root: root).read().parents
            return parents.map(\.name) + (typed.hasPrefix("p") ? parents.compactMap(\.address?.nodeDeviceName) : [])
        case .mdevTypes:
            let state = MdevReader(root: root).read()
            let named = words.dropFirst().lazy.compactMap { state.parent(Self.unquoted($0)) }.first
            return Array(Set((named.map { [$0] } ?? state.parents).flatMap { $0.types.map(\.id) })).sorted()
        }
    }

    /// Addresses as they fit what is typed: node-device names once it starts with `p`; else the
    /// canonical addresses, or, when none starts with it, the short `BB:SS.F` of domain 0.
    static func spellings(_ addresses: [PCIAddress], typed: String) -> [String] {
        if typed.hasPrefix("p") { return addresses.map(\.nodeDeviceName) }
        let canonical = addresses.map(\.description)
        if typed.isEmpty || canonical.contains(where: { $0.hasPrefix(typed) }) { return canonical }
        return addresses.filter { $0.domain == 0 }.map { String($0.description.dropFirst(5)) }
    }
}
