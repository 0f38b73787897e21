import ArgumentParser
import Glibc
import Synchronization
import VFIOCore
import VFIODeviceLayer

/// `--format text|json`: text is for people and may change; JSON is the contract (docs/json.md).
public enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case text
    case json
}

struct FormatOptions: ParsableArguments {
    @Option(name: .long, help: "Output format: text (for people) or json (stable, see docs/json.md).")
    var format: OutputFormat = .text
}

/// `--root DIR` on every command; VFIOCTL_ROOT=DIR works too.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Read (and change) the host under DIR instead of / (also VFIOCTL_ROOT).",
                                            valueName: "DIR"), completion: .directory)
    var root: String?

    func hostRoot(_ invocation: Invocation) throws(VFIOError) -> HostRoot {
        if let root = root ?? invocation.root { return try HostRoot(root) }
        return .live
    }

    /// The device layer for this invocation.
    func deviceLayer(_ invocation: Invocation) throws(VFIOError) -> DeviceLayer {
        DeviceLayer(root: try hostRoot(invocation), idsPath: invocation.pciIDs)
    }
}

/// Where output goes: the process's stdout/stderr, or a capture (tests).
public final class OutputSink: Sendable {
    private let captured = Mutex((out: "", err: ""))
    private let capturing: Bool

    public var standardOutput: String { captured.withLock { $0.out } }
    public var standardError: String { captured.withLock { $0.err } }

    public static let process = OutputSink(capturing: false)

    public init() { capturing = true }
    private init(capturing: Bool) { self.capturing = capturing }

    func write(bytes: UnsafeRawBufferPointer, to fd: Int32) {
        guard capturing else {
            _ = FileWrite.all(fd, bytes)  // a failed write to stdout or stderr has nowhere to be told
            return
        }
        write(String(decoding: bytes, as: UTF8.self), to: fd)
    }

    func write(_ text: String, to fd: Int32) {
        guard capturing else {
            _ = FileWrite.all(fd, text)
            return
        }
        captured.withLock { buffers in
            if fd == STDERR_FILENO { buffers.err += text } else { buffers.out += text }
        }
    }
}

/// stdout for results, stderr for diagnostics.
enum Output {
    @TaskLocal static var sink: OutputSink = .process

    static func write(_ text: String, to fd: Int32 = STDOUT_FILENO) {
        sink.write(text, to: fd)
    }

    static func emit(_ format: OutputFormat, json: () -> JSON, text: () -> String) {
        switch format {
        case .json: json().withSerializedBytes { sink.write(bytes: $0, to: STDOUT_FILENO) }
        case .text: write(text())
        }
    }

    /// Builds and serializes long arrays on every core.
    static let mapper = PieceMapper { count, piece in ParallelMap.map(count, piece) }

    static func diagnostic(_ level: String, _ message: String) {
        write("\(level): \(message)\n", to: STDERR_FILENO)
    }

    static func warning(_ message: String) { diagnostic("warning", message) }
    static func hint(_ message: String) { diagnostic("hint", message) }
}
