/// Which fields carry secrets that must never be printed: SASL exchanges, passwords and delegation tokens.
public enum Redaction {
    public static let placeholder = "<redacted>"

    /// True for `authBytes` (SaslAuthenticate), any `…password…` field, and delegation-token secrets.
    public static func isSecret(fieldName name: String) -> Bool {
        let lowered = name.lowercased()
        return lowered == "authbytes" || lowered.contains("password") || lowered == "token" || lowered == "tokenid"
            || lowered == "hmac"
    }
}
