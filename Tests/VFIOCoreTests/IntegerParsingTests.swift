import Testing
import VFIOCore

/// The one decimal parser for what is read from a host: a value, or why not, and never a trap.
@Suite("Parsing decimal integers")
struct IntegerParsingTests {
    @Test("attribute text: values at and beyond Int's limits, signs, whitespace, junk", arguments: [
        ("0", .value(0)), ("42\n", .value(42)), (" 12 ", .value(12)), ("\t-1\n\0", .value(-1)), ("+7", .value(7)),
        ("007", .value(7)), ("0000000000000000000000000000001", .value(1)), ("-0", .value(0)),
        ("9223372036854775807", .value(Int.max)), ("9223372036854775808", .overflow),
        ("-9223372036854775808", .value(Int.min)), ("-9223372036854775809", .overflow),
        ("9999999999999999999", .overflow), ("99999999999999999999", .overflow),
        ("123456789012345678901234567890", .overflow), ("-99999999999999999999999", .overflow),
        ("", .empty), (" \n", .empty), ("\0", .empty),
        ("+", .malformed), ("-", .malformed), ("+-1", .malformed), ("--1", .malformed), ("1-", .malformed),
        ("0x", .malformed), ("0x10", .malformed), ("1 2", .malformed), ("1.5", .malformed), ("abc", .malformed),
        ("99999999999999999999x", .malformed), ("１２", .malformed), ("1２", .malformed), ("٣", .malformed),
        ("12\u{a0}", .malformed), ("é", .malformed), ("1e3", .malformed),
    ] as [(String, ParsedInteger)])
    func attribute(text: String, parsed: ParsedInteger) {
        #expect(ParsedInteger(text) == parsed)
        #expect(Bytes.with(text) { Bytes.integer($0) } == parsed)
        #expect(Bytes.with(text, Bytes.int) == parsed.value)
    }

    @Test("name syntax: digits only, no sign or whitespace", arguments: [
        ("14", .value(14)), ("0", .value(0)), ("0012", .value(12)), ("9223372036854775807", .value(Int.max)),
        ("99999999999999999999", .overflow), ("", .empty), ("-1", .malformed), ("+1", .malformed), (" 1", .malformed),
        ("1\n", .malformed), ("self", .malformed), ("1a", .malformed),
    ] as [(String, ParsedInteger)])
    func name(text: String, parsed: ParsedInteger) {
        #expect(ParsedInteger(text, .name) == parsed)
    }

    @Test("the sysfs helpers built on it never trap and refuse what does not fit")
    func helpers() {
        #expect(SysfsValues.int("9999999999999999999") == nil)
        #expect(SysfsValues.numaNode("9999999999999999999\n") == nil)
        #expect(SysfsValues.flag("99999999999999999999") == nil)
        #expect(SysfsValues.groupNumber(fromLink: "../../kernel/iommu_groups/99999999999999999999") == nil)
        #expect(SysfsValues.groupNumber(fromLink: "../../kernel/iommu_groups/-1") == nil)
        #expect(SysfsValues.groupNumber(fromLink: "../../kernel/iommu_groups/+3") == nil)
        #expect(SysfsValues.virtfnIndex("virtfn99999999999999999999") == nil)
        #expect(SysfsValues.virtfnIndex("virtfn+1") == nil)
        #expect(SysfsValues.virtfnIndex("virtfn-1") == nil)
    }
}
