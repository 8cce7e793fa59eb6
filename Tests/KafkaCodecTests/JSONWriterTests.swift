import Foundation
import Testing

@testable import KafkaCodec

/// The JSON every report, the exchange log and `kafkascope decode` write: escaped as JSON requires, numbers whole,
/// and read back by a JSON parser as what went in.
@Suite struct JSONWriterTests {
    @Test func stringsAreEscapedAsJSONRequiresAndReadBackUnchanged() throws {
        let texts = ["plain", "quote \" and backslash \\", "lines\nand\rtabs\t", "\u{1}\u{1f} control", "é 𝄞 中", ""]
        var writer = JSONWriter()
        writer.beginArray()
        for text in texts { writer.string(text) }
        writer.endArray()
        #expect(writer.output == #"["plain","quote \" and backslash \\","lines\nand\rtabs\t","\u0001\u001f control","é 𝄞 中",""]"#)
        let parsed = try JSONSerialization.jsonObject(with: Data(writer.output.utf8)) as? [String]
        #expect(parsed == texts)
    }

    @Test func numbersKeysAndNestingKeepTheirOrder() throws {
        var writer = JSONWriter()
        writer.beginObject()
        writer.key("min")
        writer.number(Int64.min)
        writer.key("max")
        writer.number(UInt64.max)
        writer.key("zero")
        writer.number(0)
        writer.key("small")
        writer.number(Int16(-5))
        writer.key("list")
        writer.beginArray()
        writer.double(1.5)
        writer.double(.nan)
        writer.raw("null")
        writer.endArray()
        writer.key("time")
        writer.string(Timestamp.iso8601(microseconds: 1_796_612_958_123_456))
        writer.endObject()
        #expect(writer.output == #"{"min":-9223372036854775808,"max":18446744073709551615,"zero":0,"small":-5,"list":[1.5,"nan",null],"time":"2026-12-07T03:09:18.123456Z"}"#)
    }
}
