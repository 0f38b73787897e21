import ArgumentParser
import VFIOActuator
import VFIOCore
import VFIODeviceLayer

/// A command that acts on the host through a Transaction. `Vfioctl.run` hands it the actuators
/// (the running kernel, or a test's simulation); nothing reaches it through globals.
protocol ActingCommand: ParsableCommand {
    func run(with actuators: Actuators) throws
}

extension ActingCommand {
    func run(in invocation: Invocation) throws { try run(with: .fromEnvironment()) }
}

/// Every command that changes the host is this: parse (ArgumentParser, then `prepare` makes the
/// request), open the transaction (privileges, lock, no unfinished journal), observe and plan
/// (`plan`, pure but for its reads), run the plan in the transaction, render its report. A refused
/// plan exits 2 after the report.
protocol ChangingCommand: VfioctlCommand {
    /// What the command line asks, checked: made once, before anything on the host is read.
    associatedtype Request = Void
    /// Its name in messages and the history: "detach", "sriov create".
    static var name: String { get }
    var actuation: ActuationOptions { get }
    var global: GlobalOptions { get }
    var output: FormatOptions { get }
    /// The request from what only the command line says: bad input throws and changes nothing.
    func prepare() throws -> Request
    func plan(_ request: Request, _ transaction: Transaction) throws -> Plan
    /// The report (stdout); the default prints RunOutput.
    func render(_ report: RunReport, _ transaction: Transaction) throws
}

extension ChangingCommand where Request == Void {
    func prepare() throws {}
}

extension ChangingCommand {
    func render(_ report: RunReport, _ transaction: Transaction) throws {
        Output.emit(output.format, json: { RunOutput.json(report) }, text: { RunOutput.text(report) })
    }

    func run(in invocation: Invocation) throws {
        let request = try prepare()
        let transaction = try actuation.open(Self.name, global: global, invocation: invocation)
        let plan = try plan(request, transaction)
        let report = try transaction.run(plan)
        try render(report, transaction)
        if plan.refused { throw Self.refusal(plan) }
    }

    /// Exit 2 with its first reason on stderr (the report on stdout lists them all).
    static func refusal(_ plan: Plan) -> VFIOError {
        let errors = Finding.ordered(plan.findings).filter { $0.severity == .error }
        guard let first = errors.first else { return VFIOError(.refused, "\(plan.operation.rawValue) refused: nothing was changed") }
        let more = errors.count > 1 ? " (and \(errors.count - 1) more reason\(errors.count > 2 ? "s" : ""), listed with the plan)" : ""
        return VFIOError(.refused, "\(plan.operation.rawValue) refused, nothing was changed: \(first.subject): \(first.message)\(more)",
                         hint: first.hint)
    }
}

/// Options every command that changes the host takes.
struct ActuationOptions: ParsableArguments {
    @Flag(name: .long, help: "Print the exact plan (action, sysfs path, value) and change nothing.")
    var dryRun = false

    @Option(name: .long, help: ArgumentHelp("Where the journal, lock and records live (default /var/lib/vfioctl under the root; also VFIOCTL_STATE_DIR).",
                                            valueName: "DIR"), completion: .directory)
    var stateDir: String?

    @Option(name: .long, help: ArgumentHelp("How long to wait for another vfioctl that holds the lock.", valueName: "SECONDS"))
    var wait: Double = 30

    func validate() throws {
        guard wait >= 0 && wait <= 3600 else { throw ValidationError("--wait takes 0 to 3600 seconds, not \(wait)") }
    }

    /// The transaction of this invocation.
    func open(_ name: String, global: GlobalOptions, invocation: Invocation, recovering: Bool = false) throws -> Transaction {
        try Transaction(name, layer: try global.deviceLayer(invocation), actuators: invocation.actuators, stateDirectory: stateDir,
                        command: (["vfioctl"] + CommandLine.arguments.dropFirst()).joined(separator: " "),
                        dryRun: dryRun, wait: wait, recovering: recovering, progress: { Output.diagnostic("vfioctl", $0) })
    }
}

/// What detach, reattach, persist and the xml commands work on: addresses (each stands for its
/// whole group) and groups.
struct GroupTargets: ParsableArguments {
    @Argument(help: ArgumentHelp("Functions, each standing for its whole IOMMU group: DDDD:BB:SS.F, BB:SS.F or libvirt's pci_DDDD_BB_SS_F.",
                                 valueName: "address"), completion: HostCompletion.functions.kind)
    var addresses: [String] = []

    @Option(name: .long, help: ArgumentHelp("An IOMMU group (repeatable).", valueName: "N"), completion: HostCompletion.groups.kind)
    var group: [Int] = []

    func parsed() throws(VFIOError) -> (addresses: [PCIAddress], groups: [Int]) {
        try Self.validate(group)
        return (try addresses.map { text throws(VFIOError) in try PCIAddress.parse(text) }, group)
    }

    /// At least one address or group; `command` and `example` make the message.
    func required(_ command: String, or alternative: String? = nil, hint: String) throws(VFIOError) -> (addresses: [PCIAddress], groups: [Int]) {
        let targets = try parsed()
        guard !targets.addresses.isEmpty || !targets.groups.isEmpty else {
            throw .usage("\(command) needs a PCI address" + (alternative.map { ", --group N or \($0)" } ?? " or --group N"), hint: hint)
        }
        return targets
    }

    /// IOMMU group numbers are the kernel's: 0 and up (an int).
    static func validate(_ groups: [Int]) throws(VFIOError) {
        for group in groups { try IOMMUGroup.validate(group) }
    }
}

/// `--driver vfio-pci|NAME`: which vfio driver detached functions go to (detach, persist).
struct DriverOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("vfio-pci, or a vfio-pci variant driver of the functions (default: the best variant "
                                            + "from the kernel's vfio_pci module aliases, as libvirt picks it, else vfio-pci).",
                                            valueName: "vfio-pci|NAME"))
    var driver: String?

    /// The choice; a name that cannot be a module's is a usage error.
    func choice() throws(VFIOError) -> VFIODriverChoice {
        guard let driver else { return .best }
        guard let choice = VFIODriverChoice.parse(driver) else {
            throw .usage("--driver '\(driver.printable)' is not a driver name (letters, digits, '_' and '-', at most 55)",
                         hint: "--driver vfio-pci, or a variant driver 'vfioctl show ADDRESS' lists under 'vfio variant drivers'")
        }
        return choice
    }
}
