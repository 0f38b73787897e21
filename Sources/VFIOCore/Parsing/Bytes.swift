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

    /// A decimal integer with an optional sign, or nil for anything else (see `integer`).
    @inline(__always)
    public static func int(_ raw: UnsafeRawBufferPointer) -> Int? { integer(raw).value }

    /// The one parser for decimal integers read from a host (sysfs attributes, the numbers in
    /// link targets and directory names, /proc fields): it tells a value from empty text, junk
    /// and a number beyond Int, and never traps. `.attribute` syntax allows the whitespace and
    /// NULs sysfs puts around a value and one leading sign; `.name` only digits.
    public static func integer(_ raw: UnsafeRawBufferPointer, _ syntax: IntegerSyntax = .attribute) -> ParsedInteger {
        let bytes = syntax == .attribute ? trimmed(raw) : raw
        guard !bytes.isEmpty else { return .empty }
        var start = 0
        var negative = false
        if syntax == .attribute, bytes[0] == UInt8(ascii: "-") || bytes[0] == UInt8(ascii: "+") {
            negative = bytes[0] == UInt8(ascii: "-")
            start = 1
            guard bytes.count > 1 else { return .malformed }
        }
        var value = 0
        var overflow = false
        for index in start..<bytes.count {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return .malformed }
            guard !overflow else { continue } // keep checking the rest is digits: junk wins over overflow
            // Negative values accumulate downwards, so Int.min itself parses.
            let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = negative ? shifted.subtractingReportingOverflow(Int(digit)) : shifted.addingReportingOverflow(Int(digit))
            if o1 || o2 { overflow = true } else { value = next }
        }
        return overflow ? .overflow : .value(value)
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

/// Where a decimal integer's text comes from, which decides what may surround its digits.
public enum IntegerSyntax: Sendable {
    /// An attribute's text: whitespace or NULs around it, an optional '-' or '+'.
    case attribute
    /// A name (a directory entry, a link's last component, "virtfn12" after its prefix): digits only.
    case name
}

/// What the text of a decimal integer holds (`Bytes.integer`).
public enum ParsedInteger: Sendable, Equatable {
    case value(Int)
    /// No text (or only whitespace).
    case empty
    /// Something other than digits with an optional sign: "abc", "0x10", "1.5", "-", "１２".
    case malformed
    /// Digits whose value does not fit in Int.
    case overflow

    public var value: Int? {
        if case .value(let value) = self { return value }
        return nil
    }

    /// Parses a String's UTF-8 bytes.
    public init(_ text: some StringProtocol, _ syntax: IntegerSyntax = .attribute) {
        self = Bytes.with(text) { Bytes.integer($0, syntax) }
    }
}
