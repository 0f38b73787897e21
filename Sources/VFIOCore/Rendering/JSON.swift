/// A JSON value with one deterministic serialization: keys sorted, two-space indentation,
/// strings escaped per RFC 8259. The command line's JSON contract is built from these.
public indirect enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case string(String)
    case array([JSON])
    case object(JSONObject)
    /// Text already serialized at the depth where it is placed (see `serializedBytes(depth:)`).
    case raw([UInt8])
    /// An object written straight into the output, with no intermediate values: for the objects
    /// a document holds thousands of (one per PCI function).
    case stream(JSONStream)

    public static func optional(_ value: String?) -> JSON { value.map(JSON.string) ?? .null }
    public static func optional(_ value: Int?) -> JSON { value.map(JSON.int) ?? .null }
    public static func optional(_ value: Bool?) -> JSON { value.map(JSON.bool) ?? .null }
    public static func strings(_ values: [String]) -> JSON { .array(values.map(JSON.string)) }

    /// A top-level document: `{"schema_version": 1, ...}`.
    public static func document(_ fields: JSONObject) -> JSON {
        var fields = fields
        fields["schema_version"] = .int(JSON.schemaVersion)
        return .object(fields)
    }

    public static let schemaVersion = 1

    /// The text, ending with a newline.
    public func serialized() -> String {
        String(decoding: serializedBytes(), as: UTF8.self)
    }

    /// The UTF-8 text, ending with a newline.
    public func serializedBytes() -> [UInt8] {
        withSerializedBytes { Array($0) }
    }

    /// Runs `body` on the UTF-8 text (ending with a newline) without copying it out of the
    /// buffer it was written into: documents of thousands of functions are megabytes.
    public func withSerializedBytes<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T {
        let out = ByteWriter(capacity: estimatedSize + 64)
        write(into: out, indent: 0)
        out.append(UInt8(ascii: "\n"))
        return out.withBytes(body)
    }

    /// Bytes already serialized below this value (pieces), to size the output buffer once.
    var estimatedSize: Int {
        switch self {
        case .raw(let bytes): bytes.count
        case .array(let values): values.reduce(16) { $0 + $1.estimatedSize + 16 }
        case .object(let object): object.fields.reduce(16) { $0 + $1.value.estimatedSize + 32 }
        default: 16
        }
    }

    /// The text as it appears nested `depth` levels deep (no trailing newline), for `.raw`:
    /// large documents are serialized piecewise, in parallel, then assembled.
    public func serializedBytes(depth: Int) -> [UInt8] {
        let out = ByteWriter(capacity: 1024)
        write(into: out, indent: depth)
        return out.finish()
    }

    private func write(into out: ByteWriter, indent: Int) {
        switch self {
        case .null: out.append("null")
        case .bool(let value): out.append(value ? "true" : "false")
        case .int(let value): out.append(String(value))
        case .string(let value): JSON.writeString(value, into: out)
        case .raw(let bytes): out.append(bytes)
        case .stream(let stream):
            var writer = JSONObjectWriter(out: out, indent: indent)
            stream.write(&writer)
            writer.finish()
        case .array(let values):
            guard !values.isEmpty else { return out.append("[]") }
            out.append(UInt8(ascii: "["))
            for (position, value) in values.enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                out.newline(indent: indent + 1)
                value.write(into: out, indent: indent + 1)
            }
            out.newline(indent: indent)
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            guard !object.fields.isEmpty else { return out.append("{}") }
            out.append(UInt8(ascii: "{"))
            for (position, field) in object.sortedFields.enumerated() {
                if position > 0 { out.append(UInt8(ascii: ",")) }
                out.newline(indent: indent + 1)
                JSON.writeString(field.key, into: out)
                out.append(UInt8(ascii: ":"))
                out.append(UInt8(ascii: " "))
                field.value.write(into: out, indent: indent + 1)
            }
            out.newline(indent: indent)
            out.append(UInt8(ascii: "}"))
        }
    }

    /// One string as a JSON literal, quotes included.
    public static func quoted(_ value: String) -> String {
        let out = ByteWriter(capacity: value.utf8.count + 8)
        writeString(value, into: out)
        return out.withBytes { String(decoding: $0, as: UTF8.self) }
    }

    static func writeString(_ value: String, into out: ByteWriter) {
        out.append(UInt8(ascii: "\""))
        Bytes.with(value) { bytes in
            // Most strings need no escaping: copy them whole.
            if !bytes.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5c || $0 == 0x7f }) {
                out.append(bytes)
                return
            }
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "\""): out.append("\\\"")
                case UInt8(ascii: "\\"): out.append("\\\\")
                case 0x0a: out.append("\\n")
                case 0x0d: out.append("\\r")
                case 0x09: out.append("\\t")
                case 0..<0x20, 0x7f:
                    out.append("\\u00")
                    out.append(HexDigits.padded(UInt64(byte), width: 2))
                default: out.append(byte)
                }
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}

/// A growable byte buffer with no per-byte bookkeeping beyond a bounds check.
final class ByteWriter {
    private var storage: UnsafeMutablePointer<UInt8>
    private var count = 0
    private var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 64)
        storage = .allocate(capacity: self.capacity)
    }

    deinit { storage.deallocate() }

    private func reserve(_ extra: Int) {
        guard count + extra > capacity else { return }
        var newCapacity = capacity * 2
        while newCapacity < count + extra { newCapacity *= 2 }
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        grown.update(from: storage, count: count)
        storage.deallocate()
        storage = grown
        capacity = newCapacity
    }

    /// Lets `body` write up to `count` bytes in place; it returns how many it wrote.
    @inline(__always)
    func withSpace(_ count: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Int) {
        reserve(count)
        self.count += body(storage + self.count)
    }

    @inline(__always)
    func append(_ byte: UInt8) {
        reserve(1)
        storage[count] = byte
        count += 1
    }

    func append(_ bytes: UnsafeRawBufferPointer) {
        reserve(bytes.count)
        if let base = bytes.baseAddress { (storage + count).update(from: base.assumingMemoryBound(to: UInt8.self), count: bytes.count) }
        count += bytes.count
    }

    func append(_ bytes: [UInt8]) { bytes.withUnsafeBytes { append($0) } }

    func append(_ text: String) { Bytes.with(text) { append($0) } }

    func newline(indent: Int) {
        reserve(1 + indent * 2)
        storage[count] = UInt8(ascii: "\n")
        (storage + count + 1).initialize(repeating: UInt8(ascii: " "), count: indent * 2)
        count += 1 + indent * 2
    }

    /// The bytes written.
    func finish() -> [UInt8] { Array(UnsafeBufferPointer(start: storage, count: count)) }

    func withBytes<T>(_ body: (UnsafeRawBufferPointer) -> T) -> T {
        body(UnsafeRawBufferPointer(start: storage, count: count))
    }
}

/// The body of a streamed object (see `JSON.stream`).
public struct JSONStream: Sendable, Equatable {
    public let write: @Sendable (inout JSONObjectWriter) -> Void

    public init(_ write: @escaping @Sendable (inout JSONObjectWriter) -> Void) { self.write = write }

    /// Streams are equal when they write the same text.
    public static func == (a: JSONStream, b: JSONStream) -> Bool {
        JSON.stream(a).serializedBytes() == JSON.stream(b).serializedBytes()
    }
}

/// Writes one object's fields, which must come in key order (checked in debug builds; the
/// tests check the output).
public struct JSONObjectWriter {
    let out: ByteWriter
    let indent: Int
    private var fields = 0
    private var lastKey: StaticString?

    init(out: ByteWriter, indent: Int) {
        self.out = out
        self.indent = indent
        out.append(UInt8(ascii: "{"))
    }

    private mutating func key(_ key: StaticString) {
        assert(lastKey.map { Bytes.less($0, key) } ?? true, "JSON keys out of order at \(key)")
        lastKey = key
        // `,\n` + indentation + `"key": `, in one reservation.
        let spaces = (indent + 1) * 2
        out.withSpace(2 + spaces + key.utf8CodeUnitCount + 4) { p in
            var n = 0
            if fields > 0 { p[n] = UInt8(ascii: ","); n += 1 }
            p[n] = UInt8(ascii: "\n"); n += 1
            (p + n).initialize(repeating: UInt8(ascii: " "), count: spaces); n += spaces
            p[n] = UInt8(ascii: "\""); n += 1
            (p + n).initialize(from: key.utf8Start, count: key.utf8CodeUnitCount); n += key.utf8CodeUnitCount
            p[n] = UInt8(ascii: "\""); p[n + 1] = UInt8(ascii: ":"); p[n + 2] = UInt8(ascii: " ")
            return n + 3
        }
        fields += 1
    }

    /// A lower-case hex string of at least `width` digits ("8086"), or null.
    public mutating func hex(_ key: StaticString, _ value: UInt64?, width: Int) {
        self.key(key)
        guard let value else { return out.append("null") }
        let digits = max(width, max(1, (64 - value.leadingZeroBitCount + 3) / 4))
        out.withSpace(digits + 2) { p in
            p[0] = UInt8(ascii: "\"")
            var rest = value
            for position in stride(from: digits, through: 1, by: -1) {
                p[position] = HexDigits.lower[Int(rest & 0xf)]
                rest >>= 4
            }
            p[digits + 1] = UInt8(ascii: "\"")
            return digits + 2
        }
    }

    /// A PCI address in canonical form, or null.
    public mutating func address(_ key: StaticString, _ value: PCIAddress?) {
        string(key, value?.description)
    }

    public mutating func string(_ key: StaticString, _ value: String?) {
        self.key(key)
        if let value { JSON.writeString(value, into: out) } else { out.append("null") }
    }

    public mutating func int(_ key: StaticString, _ value: Int?) {
        self.key(key)
        out.append(value.map(String.init) ?? "null")
    }

    public mutating func bool(_ key: StaticString, _ value: Bool?) {
        self.key(key)
        out.append(value.map { $0 ? "true" : "false" } ?? "null")
    }

    public mutating func strings(_ key: StaticString, _ values: [String]) {
        self.key(key)
        guard !values.isEmpty else { return out.append("[]") }
        out.append(UInt8(ascii: "["))
        for (position, value) in values.enumerated() {
            if position > 0 { out.append(UInt8(ascii: ",")) }
            out.newline(indent: indent + 2)
            JSON.writeString(value, into: out)
        }
        out.newline(indent: indent + 1)
        out.append(UInt8(ascii: "]"))
    }

    /// A nested object, or null when `body` is nil.
    public mutating func object(_ key: StaticString, _ body: ((inout JSONObjectWriter) -> Void)?) {
        self.key(key)
        guard let body else { return out.append("null") }
        var nested = JSONObjectWriter(out: out, indent: indent + 1)
        body(&nested)
        nested.finish()
    }

    public mutating func value(_ key: StaticString, _ value: JSON) {
        self.key(key)
        out.append(value.serializedBytes(depth: indent + 1))
    }

    mutating func finish() {
        if fields > 0 { out.newline(indent: indent) }
        out.append(UInt8(ascii: "}"))
    }
}

/// Maps indices to serialized pieces, serially or (on the command line) on all cores. Long
/// arrays — thousands of functions on an SR-IOV host — are built and serialized through one.
public struct PieceMapper: Sendable {
    public let map: @Sendable (Int, @Sendable (Int) -> [UInt8]) -> [[UInt8]]

    public init(_ map: @escaping @Sendable (Int, @Sendable (Int) -> [UInt8]) -> [[UInt8]]) { self.map = map }

    public static let serial = PieceMapper { count, piece in (0..<count).map(piece) }

    /// An array whose elements are built and serialized (nested `depth` levels deep) by this mapper.
    public func array(_ count: Int, depth: Int, _ element: @escaping @Sendable (Int) -> JSON) -> JSON {
        .array(map(count) { element($0).serializedBytes(depth: depth) }.map(JSON.raw))
    }
}

/// A JSON object's fields in the order written. Serialization sorts them by key unless they are
/// already sorted (renderers write them sorted, which saves hashing and sorting per object).
/// A key set twice keeps the last value.
public struct JSONObject: Sendable, Equatable, ExpressibleByDictionaryLiteral {
    public private(set) var fields: [(key: String, value: JSON)]

    public init(dictionaryLiteral elements: (String, JSON)...) {
        fields = elements.map { (key: $0.0, value: $0.1) }
    }

    public init(_ fields: [(key: String, value: JSON)]) { self.fields = fields }

    public subscript(key: String) -> JSON? {
        get { fields.last { $0.key == key }?.value }
        set {
            fields.removeAll { $0.key == key }
            if let newValue { fields.append((key, newValue)) }
        }
    }

    public var isEmpty: Bool { fields.isEmpty }

    /// Fields by key (the last of duplicates wins).
    var sortedFields: [(key: String, value: JSON)] {
        var strictlySorted = true
        for index in fields.indices.dropFirst() where !(fields[index - 1].key < fields[index].key) {
            strictlySorted = false
            break
        }
        if strictlySorted { return fields }
        var last: [String: Int] = [:]
        for (index, field) in fields.enumerated() { last[field.key] = index }
        return last.sorted { $0.key < $1.key }.map { fields[$0.value] }
    }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        let x = a.sortedFields
        let y = b.sortedFields
        return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}
