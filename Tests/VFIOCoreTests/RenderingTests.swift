import Testing
import VFIOCore

@Suite("JSON writer")
struct JSONTests {
    @Test("keys are sorted, nested values indented, strings escaped")
    func serialization() {
        let value = JSON.object([
            "b": .array([.int(1), .null, .bool(true)]),
            "a": .string("quote \" backslash \\ newline \n tab \t bell \u{07} é"),
            "c": .object([:]),
            "d": .array([]),
        ])
        #expect(value.serialized() == """
            {
              "a": "quote \\" backslash \\\\ newline \\n tab \\t bell \\u0007 é",
              "b": [
                1,
                null,
                true
              ],
              "c": {},
              "d": []
            }

            """)
    }

    @Test("documents carry schema_version")
    func document() {
        #expect(JSON.document(["functions": .array([])]).serialized() == "{\n  \"functions\": [],\n  \"schema_version\": 1\n}\n")
    }
}

@Suite("Text tables")
struct TextTableTests {
    @Test("columns align and the last one is not padded")
    func alignment() {
        let table = TextTable(header: ["A", "LONGER", "C"], rows: [["xxx", "y", "last"], ["z", "", "end"]])
        #expect(table.render() == """
            A    LONGER  C
            xxx  y       last
            z            end

            """)
    }
}
