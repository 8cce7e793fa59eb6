/// A minimal streaming JSON writer that keeps key order, which the renderer needs to follow the schema order.
package struct JSONWriter {
    package private(set) var output = ""
    private var needsComma = [false]

    package init() {}

    package mutating func beginObject() { self.value("{"); self.needsComma.append(false) }
    package mutating func endObject() { self.needsComma.removeLast(); self.output += "}" }
    package mutating func beginArray() { self.value("["); self.needsComma.append(false) }
    package mutating func endArray() { self.needsComma.removeLast(); self.output += "]" }

    package mutating func key(_ name: String) {
        self.separate()
        self.appendString(name)
        self.output += ":"
        self.needsComma[self.needsComma.count - 1] = false
    }

    package mutating func string(_ text: String) {
        self.separate()
        self.appendString(text)
    }

    package mutating func raw(_ literal: String) { self.value(literal) }

    package mutating func number<T: BinaryInteger>(_ number: T) { self.value(String(number)) }

    package mutating func double(_ number: Double) {
        // JSON has no NaN or infinity; say them as strings rather than emit invalid JSON.
        number.isFinite ? self.value(String(number)) : self.string(String(number))
    }

    private mutating func value(_ literal: String) {
        self.separate()
        self.output += literal
    }

    private mutating func separate() {
        if self.needsComma[self.needsComma.count - 1] { self.output += "," }
        self.needsComma[self.needsComma.count - 1] = true
    }

    private mutating func appendString(_ text: String) {
        self.output += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": self.output += "\\\""
            case "\\": self.output += "\\\\"
            case "\n": self.output += "\\n"
            case "\r": self.output += "\\r"
            case "\t": self.output += "\\t"
            case let control where control.value < 0x20:
                let hex = String(control.value, radix: 16)
                self.output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: self.output.unicodeScalars.append(scalar)
            }
        }
        self.output += "\""
    }
}
