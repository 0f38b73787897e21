/// The error every layer reports to the command line: what failed (with the values), a hint that
/// fixes it, and the exit status it maps to.
public struct VFIOError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Bad input on the command line or in a file the user named (exit 64).
        case usage
        /// The operation could not be done (exit 1).
        case failed
        /// A check or guard refused (exit 2).
        case refused
        /// A run cut short on purpose after a journal record (recovery tests): nothing may
        /// clean up after it, as nothing would after a kill (exit 1).
        case interrupted
    }

    public var kind: Kind
    public var message: String
    public var hint: String?

    public init(_ kind: Kind, _ message: String, hint: String? = nil) {
        self.kind = kind
        self.message = message
        self.hint = hint
    }

    public static func usage(_ message: String, hint: String? = nil) -> VFIOError { .init(.usage, message, hint: hint) }
    public static func failed(_ message: String, hint: String? = nil) -> VFIOError { .init(.failed, message, hint: hint) }

    public var exitCode: Int32 {
        switch kind {
        case .usage: 64
        case .failed, .interrupted: 1
        case .refused: 2
        }
    }

    public var description: String { hint.map { "\(message) (hint: \($0))" } ?? message }
}

extension PCIAddress {
    /// Parses a function as a user names it (an address, or libvirt's node-device name: see
    /// `init?(argument:)`) or throws a usage error that shows the value and both spellings.
    public static func parse(_ text: String) throws(VFIOError) -> PCIAddress {
        guard let address = PCIAddress(argument: text) else {
            throw .usage(text.hasPrefix("pci_") ? "'\(text.printable)' is not libvirt's node-device name of a PCI function"
                                                : "'\(text.printable)' is not a PCI address",
                         hint: spellings)
        }
        return address
    }

    /// The accepted spellings, for hints.
    static let spellings = "write DDDD:BB:SS.F or BB:SS.F in hex (0000:01:00.0), or libvirt's node-device name "
        + "pci_DDDD_BB_SS_F (pci_0000_01_00_0) (see 'vfioctl list')"
}

extension String {
    /// The string with control characters escaped, safe to echo in a one-line message.
    public var printable: String {
        var out = ""
        for scalar in unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7f {
                out += "\\x" + HexDigits.padded(UInt64(scalar.value), width: 2)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out.count > 120 ? String(out.prefix(117)) + "..." : out
    }
}
