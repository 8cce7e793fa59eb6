import Foundation

/// Reads who a client claims to be from the first token of its SASL exchange. Nothing is verified (the broker
/// does that); the name serves only as a bounded metric label and a log field, and no other part of the token
/// (password, proof, bearer token) is kept.
enum SaslPrincipal {
    /// Longer names are cut, so that a client cannot make a label or a log line arbitrarily large.
    static let maximumLength = 128

    static func from(_ token: [UInt8], mechanism: String) -> String? {
        let name: String?
        switch mechanism.uppercased() {
        case "PLAIN": name = self.plainAuthenticationID(token)
        case let scram where scram.hasPrefix("SCRAM-"): name = self.scramUser(token)
        case "OAUTHBEARER": name = self.oauthSubject(token)
        default: name = nil
        }
        guard let name, !name.isEmpty else { return nil }
        return String(name.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.prefix(self.maximumLength).map(Character.init))
    }

    /// RFC 4616: `authzid NUL authcid NUL passwd`; Kafka authenticates the authcid.
    static func plainAuthenticationID(_ token: [UInt8]) -> String? {
        let parts = token.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return nil }
        return String(decoding: parts[1], as: UTF8.self)
    }

    /// RFC 5802 client-first message: `gs2-header n=user,r=nonce`, where the user name escapes `,` and `=`.
    static func scramUser(_ token: [UInt8]) -> String? {
        let text = String(decoding: token, as: UTF8.self)
        let fields = text.split(separator: ",", omittingEmptySubsequences: false)
        // The GS2 header is the first two fields (channel binding flag, optional a=authzid).
        guard fields.count >= 4, let user = fields.dropFirst(2).first(where: { $0.hasPrefix("n=") }) else { return nil }
        return user.dropFirst(2).replacingOccurrences(of: "=2C", with: ",").replacingOccurrences(of: "=3D", with: "=")
    }

    /// RFC 7628 client response: `gs2-header ^A auth=Bearer <JWT> ^A ^A`; the principal is the JWT's `sub`
    /// claim, as Kafka's default unsecured validator takes it.
    static func oauthSubject(_ token: [UInt8]) -> String? {
        let pairs = token.split(separator: 0x01).map { String(decoding: $0, as: UTF8.self) }
        guard let auth = pairs.first(where: { $0.hasPrefix("auth=") }) else { return nil }
        let value = auth.dropFirst("auth=".count)
        guard value.lowercased().hasPrefix("bearer ") else { return nil }
        let parts = value.dropFirst("bearer ".count).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count >= 2, let payload = self.base64URLDecode(parts[1]),
            let claims = try? JSONSerialization.jsonObject(with: payload) as? [String: Any]
        else { return nil }
        return claims["sub"] as? String
    }

    private static func base64URLDecode(_ text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64)
    }
}
