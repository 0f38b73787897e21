/// Parsing straight from bytes read out of sysfs, so the device layer allocates no String for
/// a value it only needs as a number. The String-taking parsers call these.
public enum Bytes {
    @inline(__always)
    static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x0a || byte == 0x09 || byte == 0x0d || byte == 0 }

    /// The bytes without surrounding whitespace.
    @inline(__always)
    public static func trimmed(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var start = 0
        var end = bytes.count
        while start < end, isSpace(bytes[start]) { start += 1 }
        while end > start, isSpace(bytes[end - 1]) { end -= 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }

    /// "0x8086\n" → 0x8086; an optional 0x prefix; at most 16 digits.
    public static func hex(_ raw: UnsafeRawBufferPointer) -> UInt64? {
        var bytes = trimmed(raw)
        if bytes.count >= 2, bytes[0] == UInt8(ascii: "0"), bytes[1] | 0x20 == UInt8(ascii: "x") {
            bytes = UnsafeRawBufferPointer(rebasing: bytes[2...])
        }
        guard !bytes.isEmpty, bytes.count <= 16 else { return nil }
        var value: UInt64 = 0
        for byte in bytes {
            guard let digit = HexDigits.value(of: byte) else { return nil }
            value = value << 4 | UInt64(digit)
        }
        return value
    }

    /// A decimal integer with an optional sign.
    public static func int(_ raw: UnsafeRawBufferPointer) -> Int? {
        let bytes = trimmed(raw)
        guard !bytes.isEmpty, bytes.count <= 19 else { return nil }
        var negative = false
        var value = 0
        for (position, byte) in bytes.enumerated() {
            if position == 0 && (byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+")) {
                guard bytes.count > 1 else { return nil }
                negative = byte == UInt8(ascii: "-")
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return negative ? -value : value
    }

    /// The text after the last '/' (the whole text when there is none), trailing slashes ignored.
    public static func lastComponent(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var end = bytes.count
        while end > 0, bytes[end - 1] == UInt8(ascii: "/") { end -= 1 }
        var start = end
        while start > 0, bytes[start - 1] != UInt8(ascii: "/") { start -= 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[start..<end])
    }

    /// Byte-wise ordering of two static strings (JSON key order).
    public static func less(_ a: StaticString, _ b: StaticString) -> Bool {
        let x = UnsafeRawBufferPointer(start: a.utf8Start, count: a.utf8CodeUnitCount)
        let y = UnsafeRawBufferPointer(start: b.utf8Start, count: b.utf8CodeUnitCount)
        return x.lexicographicallyPrecedes(y)
    }

    /// Whether `bytes` contain `needle` (plain byte search; no String machinery).
    public static func contains(_ bytes: UnsafeRawBufferPointer, _ needle: StaticString) -> Bool {
        let n = UnsafeRawBufferPointer(start: needle.utf8Start, count: needle.utf8CodeUnitCount)
        guard n.count <= bytes.count else { return false }
        outer: for start in 0...(bytes.count - n.count) {
            for index in 0..<n.count where bytes[start + index] != n[index] { continue outer }
            return true
        }
        return false
    }

    public static func string(_ bytes: UnsafeRawBufferPointer) -> String {
        String(decoding: bytes, as: UTF8.self)
    }

    /// Runs `body` on a String's UTF-8 bytes (native Strings are contiguous; others are copied).
    @inline(__always)
    public static func with<T>(_ text: some StringProtocol, _ body: (UnsafeRawBufferPointer) -> T) -> T {
        if let result = text.utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return Array(text.utf8).withUnsafeBytes(body)
    }
}
