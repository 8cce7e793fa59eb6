/// Follows a connection's SASL authentication as it passes through, to learn the principal and the outcome.
///
/// Two forms exist. SaslHandshake v1 is followed by SaslAuthenticate requests: ordinary Kafka frames. After
/// SaslHandshake v0 the client sends bare tokens, each with a size prefix but no request header, and the broker
/// answers each with a bare token; the connection handler forwards those without pairing them as requests.
///
/// KIP-368 re-authentication repeats the exchange on an authenticated connection; the observer starts over.
struct SaslObserver {
    enum Event: Equatable {
        case authenticated(mechanism: String, principal: String?)
        case failed(mechanism: String, principal: String?)
    }

    private enum Phase: Equatable {
        case idle
        /// A SaslHandshake request is waiting for its response.
        case handshaking(mechanism: String, legacy: Bool)
        /// Tokens are being exchanged; `rounds` counts the broker's answers so far.
        case exchanging(mechanism: String, legacy: Bool, rounds: Int)
    }

    private var phase = Phase.idle
    private(set) var principal: String?
    /// Legacy tokens the client sent that the broker has not answered yet.
    private(set) var unansweredLegacyTokens = 0

    /// Whether the client's next frames are bare tokens rather than requests.
    var expectsLegacyTokens: Bool {
        if case .exchanging(_, legacy: true, _) = self.phase { return true }
        return false
    }

    /// Whether the legacy exchange under way ends after a known number of tokens; if not, the first client frame
    /// that is a request ends it.
    var legacyLengthKnown: Bool {
        guard case .exchanging(let mechanism, legacy: true, _) = self.phase else { return true }
        return Self.rounds(of: mechanism) != nil
    }

    /// Mechanisms whose exchange ends after a fixed number of broker answers. Others end when the client sends
    /// something other than a token (framed) or a frame that is a request (legacy).
    private static func rounds(of mechanism: String) -> Int? {
        switch mechanism.uppercased() {
        case "PLAIN", "OAUTHBEARER": 1
        case let name where name.hasPrefix("SCRAM-"): 2
        default: nil
        }
    }

    /// The bounded label for a mechanism.
    static func label(_ mechanism: String) -> String {
        let known = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI"]
        return known.first { $0 == mechanism.uppercased() } ?? "other"
    }

    mutating func handshakeRequested(mechanism: String, version: Int16) {
        self.phase = .handshaking(mechanism: mechanism, legacy: version == 0)
        self.unansweredLegacyTokens = 0
    }

    mutating func handshakeAnswered(errorCode: Int16) -> Event? {
        guard case .handshaking(let mechanism, let legacy) = self.phase else { return nil }
        guard errorCode == 0 else {
            self.phase = .idle
            return .failed(mechanism: mechanism, principal: nil)
        }
        self.phase = .exchanging(mechanism: mechanism, legacy: legacy, rounds: 0)
        return nil
    }

    /// A SaslAuthenticate request, or a legacy token, with the bytes it carries.
    mutating func tokenSent(_ token: [UInt8]) {
        guard case .exchanging(let mechanism, let legacy, let rounds) = self.phase else { return }
        if rounds == 0, let principal = SaslPrincipal.from(token, mechanism: mechanism) { self.principal = principal }
        if legacy { self.unansweredLegacyTokens += 1 }
    }

    /// The broker's answer to a token: a SaslAuthenticate response's error code and token, or a legacy token
    /// (error 0: a legacy failure closes the connection instead).
    mutating func tokenAnswered(errorCode: Int16, token: [UInt8]) -> Event? {
        guard case .exchanging(let mechanism, let legacy, let rounds) = self.phase else { return nil }
        if legacy { self.unansweredLegacyTokens = max(0, self.unansweredLegacyTokens - 1) }
        guard errorCode == 0 else {
            self.phase = .idle
            return .failed(mechanism: mechanism, principal: self.principal)
        }
        let answered = rounds + 1
        // An OAUTHBEARER answer with content is an error report (RFC 7628); the client acknowledges it and the
        // broker then fails the exchange, so it is not the end.
        let errorReport = mechanism.uppercased() == "OAUTHBEARER" && !token.isEmpty
        if let needed = Self.rounds(of: mechanism), answered >= needed, !errorReport {
            self.phase = .idle
            return .authenticated(mechanism: mechanism, principal: self.principal)
        }
        self.phase = .exchanging(mechanism: mechanism, legacy: legacy, rounds: answered)
        return nil
    }

    /// A request other than SaslHandshake or SaslAuthenticate: an exchange of unknown length is over.
    mutating func otherRequestSent() -> Event? {
        guard case .exchanging(let mechanism, _, let rounds) = self.phase, rounds > 0 else { return nil }
        self.phase = .idle
        return .authenticated(mechanism: mechanism, principal: self.principal)
    }

    /// The connection closed: an exchange still going failed (a legacy failure shows only as a close).
    mutating func closed() -> Event? {
        switch self.phase {
        case .idle: return nil
        case .handshaking(let mechanism, _), .exchanging(let mechanism, _, _):
            self.phase = .idle
            return .failed(mechanism: mechanism, principal: self.principal)
        }
    }
}
