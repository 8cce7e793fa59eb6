/// A minimal streaming JSON writer that keeps key order, which the renderer needs to follow the schema order.
///
/// It writes UTF-8 bytes and copies strings that need no escaping whole: appending scalar by scalar to a `String`
/// made the exchange log cost four times the proxy's own work per request.
package struct JSONWriter {
    private var bytes: [UInt8] = []
    private var needsComma = [false]

    package init() {
        self.bytes.reserveCapacity(512)
    }

    /// The document so far.
    package var output: String { String(decoding: self.bytes, as: UTF8.self) }

    package mutating func beginObject() { self.value(UInt8(ascii: "{")); self.needsComma.append(false) }
    package mutating func endObject() { self.needsComma.removeLast(); self.bytes.append(UInt8(ascii: "}")) }
    package mutating func beginArray() { self.value(UInt8(ascii: "[")); self.needsComma.append(false) }
    package mutating func endArray() { self.needsComma.removeLast(); self.bytes.append(UInt8(ascii: "]")) }

    package mutating func key(_ name: String) {
        self.separate()
        self.appendString(name)
        self.bytes.append(UInt8(ascii: ":"))
        self.needsComma[self.needsComma.count - 1] = false
    }

    package mutating func string(_ text: String) {
        self.separate()
        self.appendString(text)
    }

    package mutating func raw(_ literal: String) {
        self.separate()
        self.bytes.append(contentsOf: literal.utf8)
    }

    package mutating func number<T: BinaryInteger>(_ number: T) {
        self.separate()
        guard let value = Int64(exactly: number) else { return self.bytes.append(contentsOf: String(number).utf8) }
        if value < 0 { self.bytes.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var start = digits.count
            repeat {
                start -= 1
                digits[start] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            self.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[start...]))
        }
    }

    package mutating func double(_ number: Double) {
        // JSON has no NaN or infinity; say them as strings rather than emit invalid JSON.
        number.isFinite ? self.raw(String(number)) : self.string(String(number))
    }

    private mutating func value(_ byte: UInt8) {
        self.separate()
        self.bytes.append(byte)
    }

    private mutating func separate() {
        if self.needsComma[self.needsComma.count - 1] { self.bytes.append(UInt8(ascii: ",")) }
        self.needsComma[self.needsComma.count - 1] = true
    }

    /// Quotes `text`, escaping what JSON requires: quotes, backslashes and control characters. Bytes from 0x80 up
    /// are never among them, so valid UTF-8 passes through as it is.
    private mutating func appendString(_ text: String) {
        self.bytes.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { utf8 in
            var start = 0
            for index in utf8.indices {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                self.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
                self.appendEscaped(byte)
                start = index + 1
            }
            self.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
        self.bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendEscaped(_ byte: UInt8) {
        self.bytes.append(UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): self.bytes.append(byte)
        case UInt8(ascii: "\n"): self.bytes.append(UInt8(ascii: "n"))
        case UInt8(ascii: "\r"): self.bytes.append(UInt8(ascii: "r"))
        case UInt8(ascii: "\t"): self.bytes.append(UInt8(ascii: "t"))
        default:
            let hex = Array("0123456789abcdef".utf8)
            self.bytes.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
        }
    }
}
