import VFIOCore

/// Config spaces recorded on real machines as `lspci -xxx` / `lspci -xxxx` prints them
/// ("00:1c.0 PCI bridge: ..." then "00: 86 80 ..." lines), and the hosts they make: each device a
/// function of a FakeSysfs tree with those bytes as its `config` file, placed behind the bridge
/// whose secondary bus it sits on. `lspci -F FILE` reads the same bytes: the tests' oracle.
public struct LspciDump: Sendable {
    public struct Device: Sendable {
        public var address: PCIAddress
        public var bytes: [UInt8]

        public var vendorID: UInt16 { word(0x00) }
        public var deviceID: UInt16 { word(0x02) }
        public var classCode: UInt32 { UInt32(bytes[0x0b]) << 16 | UInt32(bytes[0x0a]) << 8 | UInt32(bytes[0x09]) }
        public var headerType: UInt8 { bytes[0x0e] & 0x7f }
        public var revision: UInt8 { bytes[0x08] }
        /// A bridge's secondary and subordinate bus numbers (header types 1 and 2).
        public var secondaryBus: UInt8? { headerType == 1 || headerType == 2 ? bytes[0x19] : nil }
        public var subordinateBus: UInt8? { headerType == 1 || headerType == 2 ? bytes[0x1a] : nil }

        func word(_ offset: Int) -> UInt16 { UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8 }
    }

    public var devices: [Device]

    /// Parses a dump; devices whose config space is not a whole 64, 256 or 4096 bytes are an error.
    public init(_ text: String) throws {
        var devices: [Device] = []
        for line in text.split(separator: "\n") {
            let first = line.split(separator: " ", maxSplits: 1).first.map(String.init) ?? ""
            if let address = PCIAddress(first) {
                devices.append(Device(address: address, bytes: []))
            } else if first.hasSuffix(":"), let offset = Int(first.dropLast(), radix: 16), !devices.isEmpty {
                let values = line.split(separator: " ").dropFirst().compactMap { UInt8($0, radix: 16) }
                guard values.count == 16, offset == devices[devices.count - 1].bytes.count else {
                    throw LspciDumpError("line '\(line)' of \(devices[devices.count - 1].address) is not the next 16 bytes")
                }
                devices[devices.count - 1].bytes += values
            }
        }
        for device in devices where ![64, 256, 4096].contains(device.bytes.count) {
            throw LspciDumpError("\(device.address) has \(device.bytes.count) bytes of config space")
        }
        self.devices = devices
    }

    /// The dump with every device cut to `length` bytes (what an unprivileged `lspci -x` shows).
    public func truncated(to length: Int) -> LspciDump {
        var copy = self
        for index in copy.devices.indices { copy.devices[index].bytes = Array(copy.devices[index].bytes.prefix(length)) }
        return copy
    }

    /// The dump in `lspci -xxxx` form, as `lspci -F` reads it back.
    public var text: String {
        devices.map { device in
            var out = device.address.description + " Device\n"
            for offset in stride(from: 0, to: device.bytes.count, by: 16) {
                out += HexDigits.padded(UInt64(offset), width: 2) + ":"
                    + device.bytes[offset..<offset + 16].map { " " + HexDigits.padded(UInt64($0), width: 2) }.joined() + "\n"
            }
            return out
        }.joined(separator: "\n")
    }

    /// FakeSysfs functions with the recorded bytes, each behind the bridge whose bus range holds
    /// its bus (nearest), the ids and class the kernel would take from the same bytes. No
    /// driver, no group (callers add them), `reset_method` left out.
    public func functions() -> [FakeFunction] {
        devices.map { device in
            var f = FakeFunction(device.address.description, vendor: device.vendorID, device: device.deviceID, class: device.classCode)
            f.revision = device.revision
            f.rawConfig = device.bytes
            f.resetMethods = nil
            // As the kernel reads them (pci_setup_device): at 0x2c in a type 0 header, 0x40 in a CardBus one.
            if let offset = device.headerType == 0 ? 0x2c : device.headerType == 2 ? 0x40 : nil, device.bytes.count >= offset + 4 {
                f.subsystemVendorID = device.word(offset)
                f.subsystemDeviceID = device.word(offset + 2)
            }
            // The nearest bridge above: the one whose secondary bus is this device's bus.
            f.parent = devices.first { $0.address.domain == device.address.domain && $0.secondaryBus == device.address.bus
                && $0.address.bus != device.address.bus }?.address
            return f
        }
    }
}

public struct LspciDumpError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
