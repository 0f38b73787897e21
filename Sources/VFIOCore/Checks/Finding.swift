/// One result of a check: a stable id scripts can match ("group.not-viable"), how bad it is,
/// what it is about ("host" or a PCI address), what is wrong, and how to fix it.
public struct Finding: Sendable, Equatable {
    public enum Severity: String, Sendable, Comparable, CaseIterable {
        case error
        case warning
        case info

        var rank: Int {
            switch self {
            case .error: 0
            case .warning: 1
            case .info: 2
            }
        }

        public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
    }

    public var id: String
    public var severity: Severity
    public var subject: String
    public var message: String
    public var hint: String?

    public init(_ id: String, _ severity: Severity, _ subject: String, _ message: String, hint: String? = nil) {
        self.id = id
        self.severity = severity
        self.subject = subject
        self.message = message
        self.hint = hint
    }

    public static let host = "host"

    /// A refusal when who holds /dev/vfio/`group` open was not read (`HostFacts.vfioUsers` nil):
    /// a plan that would take a group from under a guest must know there is none.
    public static func holdersUnknown(_ group: Int, _ subject: String) -> Finding {
        Finding("device.holders-unknown", .error, subject,
                "could not tell who holds /dev/vfio/\(group) open (the open groups were not read): "
                    + "\(subject) is not changed while a guest may be using it",
                hint: "this is a bug in vfioctl: the command must read /proc/*/fd before planning; report it")
    }

    /// "host" first, then subjects by PCI address, then the rest; within a subject errors first.
    public static func ordered(_ findings: [Finding]) -> [Finding] {
        func key(_ subject: String) -> (Int, PCIAddress?, String) {
            if subject == host { return (0, nil, subject) }
            if let address = PCIAddress(subject) { return (1, address, subject) }
            return (2, nil, subject)
        }
        return findings.enumerated().sorted { a, b in
            let (x, y) = (key(a.element.subject), key(b.element.subject))
            if x.0 != y.0 { return x.0 < y.0 }
            if let p = x.1, let q = y.1, p != q { return p < q }
            if x.2 != y.2 { return x.2 < y.2 }
            if a.element.severity != b.element.severity { return a.element.severity < b.element.severity }
            return a.offset < b.offset
        }.map(\.element)
    }
}

/// The outcome of `vfioctl check`.
public struct CheckReport: Sendable, Equatable {
    public var findings: [Finding]
    public var groups: [GroupViability]
    public var targets: [PCIAddress]

    public init(findings: [Finding], groups: [GroupViability] = [], targets: [PCIAddress] = []) {
        self.findings = Finding.ordered(findings)
        self.groups = groups.sorted { $0.id < $1.id }
        self.targets = targets.sorted()
    }

    /// `fail` exactly when some finding is an error.
    public var passed: Bool { !findings.contains { $0.severity == .error } }

    public func count(_ severity: Finding.Severity) -> Int { findings.filter { $0.severity == severity }.count }
}
