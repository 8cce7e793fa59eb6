"""The TLS and SASL stand-ins of secured_brokers.py, checked with real clients connecting DIRECTLY (no proxy):
before the proxy's TLS/SASL support is tested against them, they must behave like a secured Kafka broker.

- SSL (HAProxy), SASL_PLAINTEXT with SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN, and SASL_SSL: kafka-python and
  confluent-kafka each produce 200 records and both consume all 400 in a consumer group, at the same time.
  OAUTHBEARER with unsecured JWTs (kafka-python's made here, sub dave; librdkafka's own, sub carol): 20 each.
- Wrong password (for OAUTHBEARER: a subject the stand-in does not accept), no client certificate for mutual
  TLS, an expired server certificate and one from an unknown CA fail, with what each client reports recorded by
  kafka_python_failure/confluent_failure (run with -s to see it); a later proxy test compares its own
  observations with these.
- On the wire: the SASL keys in ApiVersions (also Tansu's own list), error 58 + close on a wrong password, error
  33 for an unknown mechanism, no request before authentication; OAUTHBEARER's error report (RFC 7628 JSON, the
  client's 0x01, then error 58 + close) for expired, unaccepted and sub-less tokens; the legacy exchange
  (SaslHandshake v0, raw tokens) when SaslAuthenticate is not advertised; KIP-368 re-authentication with a 3 s
  session lifetime.
"""
import collections
import socket
import ssl

import pytest

import certificates as certs_tools
import kafka_wire as kw
import secured_brokers as sb
import workloads as wl
from harness import HOST, TANSU_NODE_ID
from secured_clients import (CK_SUBJECT, CK_USER, KP_PASSWORD, KP_SUBJECT, KP_USER, OAUTH_FAILED, OAUTH_SUBJECTS,
                             PLAIN_FAILED, SCRAM_FAILED, failure_message, in_parallel, observe,
                             produce_and_read_back, produce_for, rejected_credentials, roundtrip, security)

RECORDS = 200
OAUTH_RECORDS = 20


def secured_roundtrip(broker, kp, ck):
    """secured_clients.roundtrip with RECORDS records each; the cluster view must name the secured port only."""
    roundtrip(broker.bootstrap, kp, ck, [(TANSU_NODE_ID, HOST, broker.port)], records=RECORDS)


def assert_authenticated(upstream, mechanism, framing_prefix="SaslAuthenticate"):
    """Both clients authenticated (kafka-python as alice, confluent-kafka as bob) with `mechanism`, nothing
    failed, nothing broke inside the stand-in."""
    ok = upstream.successes()
    assert not upstream.failures(), "authentication failures: %s" % upstream.failures()
    assert not upstream.internal_errors, upstream.internal_errors
    assert {e.principal for e in ok} == {"User:" + KP_USER, "User:" + CK_USER}, ok
    assert {e.mechanism for e in ok} == {mechanism}, ok
    assert all(e.framing.startswith(framing_prefix) for e in ok), ok


def test_ssl_roundtrip(secured_broker, tls_certificates):
    broker = secured_broker("SSL")
    secured_roundtrip(broker, *security("SSL", tls_certificates))
    assert broker.haproxy.alive()


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"])
def test_sasl_plaintext_roundtrip(secured_broker, tls_certificates, mechanism):
    broker = secured_broker("SASL_PLAINTEXT")
    secured_roundtrip(broker, *security("SASL_PLAINTEXT", tls_certificates, mechanism))
    assert_authenticated(broker.sasl, mechanism)


def test_oauthbearer_roundtrip(secured_broker, tls_certificates):
    """OAUTHBEARER, SaslUpstream accepting subjects dave and carol: kafka-python (a token provider handing out an
    unsecured JWT made here, sub dave) and librdkafka (enable.sasl.oauthbearer.unsecure.jwt, principal=carol)
    produce 20 records each and both consume all 40 in groups."""
    broker = secured_broker("SASL_PLAINTEXT", valid_subjects=OAUTH_SUBJECTS)
    roundtrip(broker.bootstrap, *security("SASL_PLAINTEXT", tls_certificates, "OAUTHBEARER"),
              [(TANSU_NODE_ID, HOST, broker.port)], records=OAUTH_RECORDS)
    ok = broker.sasl.successes()
    assert {(e.principal, e.mechanism, e.framing) for e in ok} == {
        ("User:" + s, "OAUTHBEARER", v) for s, v in ((KP_SUBJECT, "SaslAuthenticate v2"),
                                                     (CK_SUBJECT, "SaslAuthenticate v1"))}, ok
    assert not broker.sasl.failures() and not broker.sasl.internal_errors


def test_sasl_ssl_roundtrip(secured_broker, tls_certificates):
    """HAProxy (TLS) -> SaslUpstream -> Tansu, with SCRAM-SHA-512."""
    broker = secured_broker("SASL_SSL")
    secured_roundtrip(broker, *security("SASL_SSL", tls_certificates, "SCRAM-SHA-512"))
    assert_authenticated(broker.sasl, "SCRAM-SHA-512")
    assert broker.haproxy.alive()


# ---------------------------------------------------------------------------------------------- failures

@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "PLAIN", "OAUTHBEARER"])
def test_wrong_password(secured_broker, tls_certificates, mechanism):
    """Like Kafka: SaslAuthenticate error 58 with the broker's message, then the connection closes. kafka-python
    logs SaslAuthenticationFailedError with that message and raises KafkaTimeoutError when its bootstrap time is
    up; librdkafka hands _AUTHENTICATION with the message to error_cb. OAUTHBEARER, with JWT subjects mallory and
    eve where only dave and carol are accepted: the JWT is answered with the error report {"status":
    "invalid_token"}, both clients acknowledge it with 0x01 and get error 58 with that JSON as the message."""
    broker = secured_broker("SASL_PLAINTEXT", valid_subjects=OAUTH_SUBJECTS)
    rejected = rejected_credentials(mechanism)
    kp_failure, ck_failure = observe(broker.bootstrap, *security("SASL_PLAINTEXT", tls_certificates, mechanism,
                                                                 **rejected))
    message = failure_message(mechanism)
    assert kp_failure.raised == "KafkaTimeoutError: Unable to bootstrap from HOST:PORT", kp_failure
    assert kp_failure.mentions("[Error 58] SaslAuthenticationFailedError", message), kp_failure
    assert ck_failure.mentions("_AUTHENTICATION: sasl_plaintext://HOST:PORT/bootstrap: SASL authentication error: "
                               + message + " (after Nms in state AUTH_REQ)"), ck_failure
    assert not broker.sasl.successes()
    failed = broker.sasl.failures()
    assert {e.principal for e in failed} == {"User:" + rejected.get("kp_user", KP_USER),
                                             "User:" + rejected.get("ck_user", CK_USER)}, failed
    assert {e.message for e in failed} == {message}, failed
    assert not broker.sasl.internal_errors, broker.sasl.internal_errors


def test_mutual_tls(secured_broker, tls_certificates):
    """HAProxy with `verify required`: without a client certificate the TLS 1.3 server answers the client's
    first bytes with a certificate_required alert; with one, both clients produce."""
    broker = secured_broker("SSL", mutual_tls=True)
    kp_failure, ck_failure = observe(broker.bootstrap, *security("SSL", tls_certificates))
    assert kp_failure.mentions("KafkaConnectionError: [SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert "
                               "certificate required"), kp_failure
    assert ck_failure.mentions("_TRANSPORT: ssl://HOST:PORT/bootstrap: Receive failed: ",
                               "tlsv13 alert certificate required"), ck_failure
    kp, ck = security("SSL", tls_certificates, client_cert=True)
    topic = wl.unique("mtls")
    records = wl.make_records(20, prefix=topic)
    in_parallel(lambda: wl.kp_produce(broker.bootstrap, topic, records, **kp),
                lambda: wl.ck_produce(broker.bootstrap, topic, records, **ck))


@pytest.mark.parametrize("server", ["expired", "wrong_ca"])
def test_untrusted_server_certificate(secured_broker, tls_certificates, server):
    """Both clients refuse the handshake; kafka-python names the reason, librdkafka only 'certificate verify
    failed'."""
    pair = tls_certificates.expired_server if server == "expired" else tls_certificates.wrong_ca_server
    broker = secured_broker("SSL", pem=pair.pem)
    kp_failure, ck_failure = observe(broker.bootstrap, *security("SSL", tls_certificates))
    reason = "certificate has expired" if server == "expired" else "unable to get local issuer certificate"
    assert kp_failure.mentions("KafkaConnectionError: Handshake failed: [SSL: CERTIFICATE_VERIFY_FAILED] "
                               "certificate verify failed: " + reason), kp_failure
    # librdkafka usually says _SSL "SSL handshake failed", sometimes (about 1 run in 5) _TRANSPORT with the same
    # OpenSSL reason, depending on which of its code paths sees the alert first.
    assert ck_failure.mentions("_SSL: ssl://HOST:PORT/bootstrap: SSL handshake failed: ",
                               "certificate verify failed") or \
        ck_failure.mentions("_TRANSPORT: ssl://HOST:PORT/bootstrap: ", "certificate verify failed",
                            "in state SSL_HANDSHAKE"), ck_failure
    assert "SSL handshake failure" in broker.haproxy.log_text()


# ---------------------------------------------------------------------------------------------- the wire

def api_versions(port, version):
    with kw.WireClient(HOST, port, timeout=10) as c:
        d = c.api_versions(version)
    assert d["error_code"] == 0, d
    return {k: (lo, hi) for k, lo, hi in d["api_keys"]}


def sasl_call(client, api_key, version, body):
    """Sends one SASL request; returns the response body Reader. SaslAuthenticate v2 is flexible: request header
    v2 and response header v1 (kafka_wire.FLEXIBLE_FROM does not know key 36, so the frame is built here)."""
    flexible = api_key == sb.API_SASL_AUTHENTICATE and version >= 2
    corr = client.next_corr
    client.next_corr += 1
    header = kw.Writer().i16(api_key).i16(version).i32(corr).string(client.client_id, nullable=True)
    if flexible:
        header.uvarint(0)
    payload = header.bytes() + body
    client.sock.sendall(len(payload).to_bytes(4, "big") + payload)
    r = kw.Reader(client.recv_frame(), flexible=flexible)
    assert r.i32() == corr
    r.tags()
    return r


def sasl_handshake(client, mechanism):
    """SaslHandshake v1 for `mechanism`, which must be accepted."""
    r = sasl_call(client, sb.API_SASL_HANDSHAKE, 1, kw.Writer().string(mechanism).bytes())
    assert r.i16() == 0


def sasl_authenticate(client, token, version=2):
    """SaslAuthenticate `version` with `token`: (error_code, error_message, auth_bytes, session_lifetime_ms, None
    before v1)."""
    w = kw.Writer(flexible=version >= 2)
    w.uvarint(len(token) + 1) if version >= 2 else w.i32(len(token))
    r = sasl_call(client, sb.API_SASL_AUTHENTICATE, version, w.raw(token).tags().bytes())
    error, message, answer = r.i16(), r.string(), r.raw_bytes()
    return error, message, answer, r.i64() if version >= 1 else None


def plain_login(client, username, password, version=2):
    """SaslHandshake v1 PLAIN + SaslAuthenticate `version`: (error_code, error_message, session_lifetime_ms)."""
    sasl_handshake(client, "PLAIN")
    error, message, _, lifetime = sasl_authenticate(client, b"\0" + username.encode() + b"\0" + password.encode(),
                                                    version)
    return error, message, lifetime


def oauth_message(jwt, authzid=None):
    """An OAUTHBEARER client message (RFC 7628) carrying `jwt`, as kafka-python and librdkafka send it."""
    return b"n,%s,\x01auth=Bearer %s\x01\x01" % (b"a=" + authzid.encode() if authzid else b"", jwt.encode())


def test_sasl_on_the_wire(secured_broker, tls_certificates):
    """What a proxy in front of a SASL listener will see: the API list, the error frames, the closes."""
    broker = secured_broker("SASL_PLAINTEXT", session_lifetime_ms=60000)
    tansu_keys = api_versions(broker.tansu.port, 3)
    # Recorded fact: Tansu 0.6.0 itself lists SaslHandshake v0-1 and SaslAuthenticate v0-2 (but has no SASL).
    assert (tansu_keys.get(17), tansu_keys.get(36)) == ((0, 1), (0, 2)), tansu_keys
    for version in (0, 3):
        keys = api_versions(broker.port, version)
        assert keys[17] == (0, 1) and keys[36] == (0, 2), keys
        assert {k: v for k, v in keys.items() if k not in (17, 36)} == \
            {k: v for k, v in tansu_keys.items() if k not in (17, 36)}

    with kw.WireClient(HOST, broker.port, timeout=10) as c:
        assert plain_login(c, KP_USER, KP_PASSWORD) == (0, None, 60000)
        assert c.metadata(1)["brokers"][0]["port"] == broker.port  # authenticated: Tansu answers
    with kw.WireClient(HOST, broker.port, timeout=10) as c:
        assert plain_login(c, KP_USER, "wrong", version=1) == (58, PLAIN_FAILED, 0)
        closed, rest = kw.wait_closed(c.sock, 5)
        assert closed and rest == b"", "connection not closed after error 58 (got %r)" % rest[:50]
    with kw.WireClient(HOST, broker.port, timeout=10) as c:
        r = sasl_call(c, sb.API_SASL_HANDSHAKE, 1, kw.Writer().string("GSSAPI").bytes())
        assert (r.i16(), r.array(lambda r: r.string())) == (33, list(sb.ALL_MECHANISMS))
        assert kw.wait_closed(c.sock, 5)[0], "connection not closed after UNSUPPORTED_SASL_MECHANISM"
    with kw.WireClient(HOST, broker.port, timeout=10) as c:
        c.send(kw.API_METADATA, 1, kw.metadata_request(1))
        closed, rest = kw.wait_closed(c.sock, 5)
        assert closed and rest == b"", "Metadata before authentication was not refused by a close"
    assert [e.ok for e in broker.sasl.events] == [True, False]
    assert not broker.sasl.internal_errors, broker.sasl.internal_errors


def test_oauthbearer_on_the_wire(secured_broker):
    """OAUTHBEARER as Kafka's OAuthBearerSaslServer runs it: an accepted JWT gets an empty answer and the session
    lifetime; an expired one, one for a subject not accepted and one without `sub` get the error report
    {"status":"invalid_token"} as a challenge (error 0, nothing ends yet), and the client's 0x01 then gets error
    58 with that JSON and the close. A message without auth=Bearer, or whose authzid is not the token's sub, fails
    at once."""
    broker = secured_broker("SASL_PLAINTEXT", session_lifetime_ms=60000, valid_subjects=OAUTH_SUBJECTS)
    with kw.WireClient(HOST, broker.port, timeout=10) as c:
        sasl_handshake(c, "OAUTHBEARER")
        assert sasl_authenticate(c, oauth_message(sb.unsecured_jwt(CK_SUBJECT))) == (0, None, b"", 60000)
        assert c.metadata(1)["brokers"][0]["port"] == broker.port  # authenticated: Tansu answers
    no_sub = "%s.%s." % (sb._base64url_json({"alg": "none"}), sb._base64url_json({"iat": 1, "exp": 2 ** 40}))
    for jwt in (sb.unsecured_jwt(KP_SUBJECT, lifetime=-60), sb.unsecured_jwt("mallory"), no_sub):
        with kw.WireClient(HOST, broker.port, timeout=10) as c:
            sasl_handshake(c, "OAUTHBEARER")
            assert sasl_authenticate(c, oauth_message(jwt), version=1) == (0, None, OAUTH_FAILED.encode(), 0)
            assert sasl_authenticate(c, b"\x01", version=1) == (58, OAUTH_FAILED, b"", 0)
            closed, rest = kw.wait_closed(c.sock, 5)
            assert closed and rest == b"", "connection not closed after error 58 (got %r)" % rest[:50]
    authzid_failed = ("Authentication failed: Client requested an authorization id (eve) that is different from "
                      "the token's principal name (carol)")
    generic = SCRAM_FAILED % "OAUTHBEARER"  # Kafka's message for a SaslException, whatever the mechanism
    for message, expected in ((b"n,,\x01\x01", generic),
                              (oauth_message(sb.unsecured_jwt(CK_SUBJECT), authzid="eve"), authzid_failed)):
        with kw.WireClient(HOST, broker.port, timeout=10) as c:
            sasl_handshake(c, "OAUTHBEARER")
            assert sasl_authenticate(c, message) == (58, expected, b"", 0)
            assert kw.wait_closed(c.sock, 5)[0], "connection not closed after error 58"
    assert [(e.ok, e.principal, e.message) for e in broker.sasl.events] == [
        (True, "User:carol", None), (False, "User:dave", OAUTH_FAILED), (False, "User:mallory", OAUTH_FAILED),
        (False, None, OAUTH_FAILED), (False, None, generic),
        (False, "User:carol", authzid_failed)], broker.sasl.events
    assert not broker.sasl.internal_errors, broker.sasl.internal_errors


def test_legacy_handshake_v0(secured_broker, tls_certificates):
    """With only SaslHandshake v0 advertised and no SaslAuthenticate, both clients fall back to the pre-KIP-152
    exchange (raw length-prefixed tokens), with SCRAM-SHA-256 and with PLAIN (which answers an empty token)."""
    broker = secured_broker("SASL_PLAINTEXT", legacy=True)
    keys = api_versions(broker.port, 3)
    assert keys[17] == (0, 0) and 36 not in keys, keys
    for mechanism in ("SCRAM-SHA-256", "PLAIN"):
        kp, ck = security("SASL_PLAINTEXT", tls_certificates, mechanism)
        produce_and_read_back(broker.bootstrap, kp, ck, records=50, prefix="legacy")
    ok = broker.sasl.successes()
    assert {(e.principal, e.mechanism) for e in ok} == {("User:" + u, m) for u in (KP_USER, CK_USER)
                                                       for m in ("SCRAM-SHA-256", "PLAIN")}, ok
    assert {e.framing for e in ok} == {"legacy"}, ok
    assert set(broker.sasl.handshake_versions) == {0} and not broker.sasl.authenticate_versions
    assert not broker.sasl.failures() and not broker.sasl.internal_errors


@pytest.mark.timeout_seconds(90)
def test_reauthentication(secured_broker, tls_certificates):
    """KIP-368: with session_lifetime_ms=3000 in SaslAuthenticate, both clients re-authenticate on their open
    connections (kafka-python at 85-95 % of the lifetime, librdkafka likewise) while producing for 7 s; no
    connection is closed for an expired session and every record is acknowledged."""
    broker = secured_broker("SASL_PLAINTEXT", session_lifetime_ms=3000)
    kp, ck = security("SASL_PLAINTEXT", tls_certificates, "SCRAM-SHA-256")
    kp_sent, ck_sent = produce_for(broker.bootstrap, wl.unique("reauth"), kp, ck, seconds=7)
    assert kp_sent > 20 and ck_sent > 20
    reauth = collections.Counter(e.principal for e in broker.sasl.reauthentications())
    print("\nre-authentications by principal: %s; authenticate versions %s"
          % (dict(reauth), dict(broker.sasl.authenticate_versions)))
    assert reauth["User:" + KP_USER] >= 1, "kafka-python never re-authenticated: %s" % broker.sasl.events
    assert reauth["User:" + CK_USER] >= 1, "librdkafka never re-authenticated: %s" % broker.sasl.events
    assert broker.sasl.expired_closes == 0
    assert not broker.sasl.failures() and not broker.sasl.internal_errors


# ---------------------------------------------------------------------------------------------- certificates

def test_certificates(tls_certificates):
    """The generated material is what the TLS tests assume, and a second server pair from the same CA (for
    reload tests) is trusted by a client of the test CA."""
    c = tls_certificates
    for pair in (c.server, c.client):
        assert certs_tools.verify(c.ca_cert, pair.cert)[0]
    assert "certificate has expired" in certs_tools.verify(c.ca_cert, c.expired_server.cert)[1]
    assert "unable to get local issuer certificate" in certs_tools.verify(c.ca_cert, c.wrong_ca_server.cert)[1]
    assert certs_tools.verify(c.other_ca.cert, c.wrong_ca_server.cert)[0]
    text = certs_tools.describe(c.server.cert)
    assert "IP Address:127.0.0.1" in text and "DNS:localhost" in text, text
    second = certs_tools.issue_server_pair(c, "server-reload")
    assert certs_tools.verify(c.ca_cert, second.cert)[0]
    assert second.cert.read_bytes() != c.server.cert.read_bytes()
    # A plain TLS server on the second pair is accepted by hostname-checking Python client of the test CA.
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(second.cert, second.key)
    client_ctx = ssl.create_default_context(cafile=str(c.ca_cert))
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(1)
        with socket.create_connection(listener.getsockname(), timeout=5) as raw:
            accepted, _ = listener.accept()
            with accepted:
                accepted.settimeout(5)
                results = in_parallel(lambda: server_ctx.wrap_socket(accepted, server_side=True).version(),
                                      lambda: client_ctx.wrap_socket(raw, server_hostname=HOST)
                                      .getpeercert()["subject"])
    assert results[1] == ((("commonName", "server-reload"),),), results
