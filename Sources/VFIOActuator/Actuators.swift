import Glibc
import VFIOCore
import VFIODeviceLayer

/// What a transaction changes the host through, chosen once per invocation: the running kernel
/// and rtnetlink by default; in tests a SimulatedKernel over a fake tree and a RecordingVFNetlink,
/// a crash after journal record N, and a short settle time. Passed in, never global.
public struct Actuators: Sendable {
    /// The kernel for a root (nil: the running kernel, which only a live root has).
    public var kernel: (@Sendable (HostRoot) -> any HostKernel)?
    /// VF attributes (nil: a netlink socket to the running kernel, on a live root).
    public var netlink: (any VFNetlink)?
    /// Cut the run short after journal record N (recovery tests).
    public var crash: JournalCrash?
    /// How long a probe, modprobe or VF creation may take to show its result.
    public var settleTimeout: Double
    /// Where the journal, lock and records live (nil: /var/lib/vfioctl under the root).
    public var stateDirectory: String?

    public init(kernel: (@Sendable (HostRoot) -> any HostKernel)? = nil, netlink: (any VFNetlink)? = nil,
                crash: JournalCrash? = nil, settleTimeout: Double = 10, stateDirectory: String? = nil) {
        self.kernel = kernel
        self.netlink = netlink
        self.crash = crash
        self.settleTimeout = settleTimeout
        self.stateDirectory = stateDirectory
    }

    /// The process's: the running kernel, VFIOCTL_STATE_DIR, and VFIOCTL_JOURNAL_KILL_AFTER=N (the
    /// lab's recovery tests SIGKILL a real run once journal record N is durable). Read once, by
    /// the command line's entry (Invocation.fromEnvironment).
    public static func fromEnvironment() -> Actuators {
        func variable(_ name: String) -> String? {
            getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        }
        return Actuators(crash: variable("VFIOCTL_JOURNAL_KILL_AFTER").flatMap { Int($0) }.map { JournalCrash(after: $0, mode: .kill) },
                         stateDirectory: variable("VFIOCTL_STATE_DIR"))
    }

    /// The state directory for `root`: --state-dir, then this one's, then /var/lib/vfioctl under it.
    public func state(_ option: String?, root: HostRoot) -> StateDirectory {
        if let path = option ?? stateDirectory, !path.isEmpty { return StateDirectory(path: path) }
        return StateDirectory(root: root)
    }

    /// The netlink seam for `root`: the given one, or a socket to the running kernel (none off the live host).
    public func vfNetlink(root: HostRoot) -> (any VFNetlink)? {
        netlink ?? (root.isLive ? try? LiveVFNetlink(root: root) : nil)
    }
}
