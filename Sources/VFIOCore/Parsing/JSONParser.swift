/// A strict RFC 8259 reader for the small JSON files vfioctl reads from the host (mdevctl's
/// definitions): objects, arrays, strings (escapes and surrogate pairs), integers, true, false,
/// null. Hostile input gets an error naming the byte offset, never a crash: nesting is capped,
/// numbers that are not integers in Int's range are refused, and the whole text must be one value.
public enum JSONParser {
    public static let maxDepth = 64

    public struct Failure: Error, Sendable, Equatable {
        public var message: String
    }

    public static func parse(_ text: String) throws(Failure) -> JSON {
        var reader = Reader(bytes: Array(text.utf8))
        reader.skipSpace()
        let value = try reader.value(depth: 0)
        reader.skipSpace()
        guard reader.index == reader.bytes.count else { throw reader.fail("text after the value") }
        return value
    }

    struct Reader {
        let bytes: [UInt8]
        var index = 0

        func fail(_ why: String) -> Failure { Failure(message: "\(why) at byte \(index)") }

        mutating func skipSpace() {
            while index < bytes.count, [0x20, 0x09, 0x0a, 0x0d].contains(bytes[index]) { index += 1 }
        }

        mutating func expect(_ word: String) throws(Failure) {
            let word = Array(word.utf8)
            guard bytes.count - index >= word.count, Array(bytes[index..<index + word.count]) == word else {
                throw fail("expected '\(String(decoding: word, as: UTF8.self))'")
            }
            index += word.count
        }

        mutating func value(depth: Int) throws(Failure) -> JSON {
            guard depth < JSONParser.maxDepth else { throw fail("nested deeper than \(JSONParser.maxDepth)") }
            guard index < bytes.count else { throw fail("the text ends where a value should be") }
            switch bytes[index] {
            case UInt8(ascii: "{"):
                index += 1
                var fields: [(key: String, value: JSON)] = []
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(JSONObject(fields)) }
                while true {
                    skipSpace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                    let key = try string()
                    skipSpace()
                    try expect(":")
                    skipSpace()
                    fields.append((key, try value(depth: depth + 1)))
                    skipSpace()
                    guard index < bytes.count else { throw fail("the object is not closed") }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    try expect("}")
                    return .object(JSONObject(fields))
                }
            case UInt8(ascii: "["):
                index += 1
                var values: [JSON] = []
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(values) }
                while true {
                    skipSpace()
                    values.append(try value(depth: depth + 1))
                    skipSpace()
                    guard index < bytes.count else { throw fail("the array is not closed") }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    try expect("]")
                    return .array(values)
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .int(try integer())
            default: throw fail("unexpected byte 0x" + HexDigits.padded(UInt64(bytes[index]), width: 2))
            }
        }

        mutating func integer() throws(Failure) -> Int {
            let start = index
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 { index += 1 }
            if index < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) {
                throw fail("only whole numbers are read")
            }
            let digits = String(decoding: bytes[start..<index], as: UTF8.self)
            guard let value = Int(digits), digits != "-", !(digits.hasPrefix("0") && digits.count > 1), !digits.hasPrefix("-0") || digits == "-0" else {
                throw fail("'\(digits)' is not a number in range")
            }
            return value
        }

        mutating func hex4() throws(Failure) -> UInt32 {
            guard bytes.count - index >= 4 else { throw fail("a \\u escape needs four hex digits") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                guard let digit = HexDigits.value(of: bytes[index]) else { throw fail("a \\u escape needs four hex digits") }
                value = value << 4 | UInt32(digit)
                index += 1
            }
            return value
        }

        mutating func string() throws(Failure) -> String {
            index += 1
            var out: [UInt8] = []
            while true {
                guard index < bytes.count else { throw fail("the string is not closed") }
                let byte = bytes[index]
                index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    // Invalid UTF-8 in the file is replaced, never trusted as text.
                    return String(decoding: out, as: UTF8.self)
                case 0..<0x20: throw fail("a control character inside a string")
                case UInt8(ascii: "\\"):
                    guard index < bytes.count else { throw fail("the string is not closed") }
                    let escaped = bytes[index]
                    index += 1
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escaped)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0c)
                    case UInt8(ascii: "n"): out.append(0x0a)
                    case UInt8(ascii: "r"): out.append(0x0d)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xd800...0xdbff).contains(scalar) {
                            try expect("\\u")
                            let low = try hex4()
                            guard (0xdc00...0xdfff).contains(low) else { throw fail("a lone surrogate in a \\u escape") }
                            scalar = 0x10000 + ((scalar - 0xd800) << 10) + (low - 0xdc00)
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { throw fail("a lone surrogate in a \\u escape") }
                        out.append(contentsOf: Array(String(Character(unicode)).utf8))
                    default: throw fail("an unknown escape")
                    }
                default: out.append(byte)
                }
            }
        }
    }
}
