/// Text that came off the wire, made safe to show: client ids, SASL mechanisms and user names are the client's to
/// choose, and escape sequences or line breaks have no business in dashboards, terminals or line-based readers of
/// logs and the exposition.
public enum WireText {
    /// `value` with its control characters (C0, DEL, C1, and the Unicode line and paragraph separators) replaced
    /// by U+FFFD.
    public static func printable(_ value: String) -> String {
        guard value.unicodeScalars.contains(where: Self.isControl) else { return value }
        return String(String.UnicodeScalarView(value.unicodeScalars.map { Self.isControl($0) ? "\u{FFFD}" : $0 }))
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }
}
