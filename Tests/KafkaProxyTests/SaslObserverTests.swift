import Foundation
import Testing

@testable import KafkaProxy

/// The principal and outcome the proxy reads from SASL exchanges passing through, for each mechanism and form.
@Suite struct SaslObserverTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func principalsFromFirstTokens() {
        #expect(SaslPrincipal.from([0] + Self.bytes("alice") + [0] + Self.bytes("s3cret"), mechanism: "PLAIN") == "alice")
        #expect(SaslPrincipal.from(Self.bytes("admin") + [0] + Self.bytes("bob") + [0] + Self.bytes("pw"), mechanism: "PLAIN") == "bob")
        #expect(SaslPrincipal.from(Self.bytes("n,,n=carol,r=fyko+d2lbbFgONRv9qkxdawL"), mechanism: "SCRAM-SHA-256") == "carol")
        #expect(SaslPrincipal.from(Self.bytes("n,a=x,n=d=2Cave=3D,r=abc"), mechanism: "SCRAM-SHA-512") == "d,ave=")
        // header {"alg":"none"}, payload {"sub":"erin","exp":9999999999}
        let payload = Data(#"{"sub":"erin","exp":9999999999}"#.utf8).base64EncodedString()
            .replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        let token = Self.bytes("n,,\u{1}auth=Bearer eyJhbGciOiJub25lIn0.\(payload).\u{1}\u{1}")
        #expect(SaslPrincipal.from(token, mechanism: "OAUTHBEARER") == "erin")
        #expect(SaslPrincipal.from(Self.bytes("garbage"), mechanism: "PLAIN") == nil)
        #expect(SaslPrincipal.from(Self.bytes("n,,\u{1}auth=Bearer notajwt\u{1}\u{1}"), mechanism: "OAUTHBEARER") == nil)
        #expect(SaslPrincipal.from([0x60, 0x82], mechanism: "GSSAPI") == nil)
    }

    @Test func principalsAreBoundedAndPrintable() throws {
        let long = String(repeating: "x", count: 500)
        let name = try #require(SaslPrincipal.from([0] + Self.bytes(long + "\n") + [0] + Self.bytes("pw"), mechanism: "PLAIN"))
        #expect(name.count == SaslPrincipal.maximumLength)
        #expect(!name.contains("\n"))
    }

    @Test func framedScramSucceedsAfterTheSecondAnswer() {
        var observer = SaslObserver()
        observer.handshakeRequested(mechanism: "SCRAM-SHA-256", version: 1)
        #expect(observer.handshakeAnswered(errorCode: 0) == nil)
        #expect(!observer.expectsLegacyTokens)
        observer.tokenSent(Self.bytes("n,,n=alice,r=nonce"))
        #expect(observer.tokenAnswered(errorCode: 0, token: Self.bytes("r=nonce2,s=salt,i=4096")) == nil)
        observer.tokenSent(Self.bytes("c=biws,r=nonce2,p=proof"))
        #expect(observer.tokenAnswered(errorCode: 0, token: Self.bytes("v=verifier")) == .authenticated(mechanism: "SCRAM-SHA-256", principal: "alice"))
        #expect(observer.closed() == nil, "a finished exchange is not a failure at close")
    }

    @Test func aWrongPasswordFails() {
        var observer = SaslObserver()
        observer.handshakeRequested(mechanism: "PLAIN", version: 1)
        _ = observer.handshakeAnswered(errorCode: 0)
        observer.tokenSent([0] + Self.bytes("alice") + [0] + Self.bytes("wrong"))
        #expect(observer.tokenAnswered(errorCode: 58, token: []) == .failed(mechanism: "PLAIN", principal: "alice"))
    }

    @Test func anUnsupportedMechanismFailsAtTheHandshake() {
        var observer = SaslObserver()
        observer.handshakeRequested(mechanism: "GSSAPI", version: 1)
        #expect(observer.handshakeAnswered(errorCode: 33) == .failed(mechanism: "GSSAPI", principal: nil))
    }

    @Test func legacyTokensAreCountedUntilTheExchangeEnds() {
        var observer = SaslObserver()
        observer.handshakeRequested(mechanism: "PLAIN", version: 0)
        _ = observer.handshakeAnswered(errorCode: 0)
        #expect(observer.expectsLegacyTokens && observer.legacyLengthKnown)
        observer.tokenSent([0] + Self.bytes("bob") + [0] + Self.bytes("pw"))
        #expect(observer.unansweredLegacyTokens == 1)
        #expect(observer.tokenAnswered(errorCode: 0, token: []) == .authenticated(mechanism: "PLAIN", principal: "bob"))
        #expect(!observer.expectsLegacyTokens && observer.unansweredLegacyTokens == 0)
    }

    @Test func aLegacyFailureShowsAsAClose() {
        var observer = SaslObserver()
        observer.handshakeRequested(mechanism: "SCRAM-SHA-512", version: 0)
        _ = observer.handshakeAnswered(errorCode: 0)
        observer.tokenSent(Self.bytes("n,,n=carol,r=x"))
        _ = observer.tokenAnswered(errorCode: 0, token: Self.bytes("r=xy,s=s,i=4096"))
        observer.tokenSent(Self.bytes("c=biws,r=xy,p=bad"))
        #expect(observer.closed() == .failed(mechanism: "SCRAM-SHA-512", principal: "carol"))
    }

    @Test func unknownMechanismsEndAtTheNextRequest() {
        var observer = SaslObserver()
        observer.handshakeRequested(mechanism: "GSSAPI", version: 1)
        _ = observer.handshakeAnswered(errorCode: 0)
        observer.tokenSent([0x60, 0x01])
        #expect(observer.tokenAnswered(errorCode: 0, token: [0x60]) == nil)
        #expect(observer.otherRequestSent() == .authenticated(mechanism: "GSSAPI", principal: nil))
    }

    @Test func oauthbearerErrorReportIsNotSuccess() {
        var observer = SaslObserver()
        observer.handshakeRequested(mechanism: "OAUTHBEARER", version: 1)
        _ = observer.handshakeAnswered(errorCode: 0)
        observer.tokenSent(Self.bytes("n,,\u{1}auth=Bearer x.y.z\u{1}\u{1}"))
        #expect(observer.tokenAnswered(errorCode: 0, token: Self.bytes(#"{"status":"invalid_token"}"#)) == nil)
        observer.tokenSent([1])
        #expect(observer.tokenAnswered(errorCode: 58, token: []) == .failed(mechanism: "OAUTHBEARER", principal: nil))
    }

    @Test func reauthenticationStartsOver() {
        var observer = SaslObserver()
        for _ in 0..<2 {
            observer.handshakeRequested(mechanism: "PLAIN", version: 1)
            _ = observer.handshakeAnswered(errorCode: 0)
            observer.tokenSent([0] + Self.bytes("alice") + [0] + Self.bytes("pw"))
            #expect(observer.tokenAnswered(errorCode: 0, token: []) == .authenticated(mechanism: "PLAIN", principal: "alice"))
        }
    }

    @Test func mechanismLabelsAreBounded() {
        #expect(SaslObserver.label("scram-sha-256") == "SCRAM-SHA-256")
        #expect(SaslObserver.label("X-CUSTOM-\(UUID())") == "other")
    }
}
