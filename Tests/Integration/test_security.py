"""TLS and SASL THROUGH the proxy, with kafka-python and confluent-kafka, in front of the secured stand-ins of
secured_brokers.py (HAProxy for TLS, SaslUpstream for SASL; test_secured_brokers.py checks them directly).

1. The four security-protocol combinations client->proxy / proxy->broker (PLAINTEXT/PLAINTEXT, SSL/SSL,
   PLAINTEXT/SSL, SSL/PLAINTEXT): both clients produce 1,000 records each and consume all 2,000 in consumer
   groups; contents by digest, committed offsets, a cluster view naming only the proxy's broker port, and no
   TCP connection from the clients to anything but the proxy.
2. Mutual TLS on the proxy (--tls-client-ca): refused without a client certificate, works with one.
3. SASL passes through: SASL_PLAINTEXT with SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN, SASL_SSL (TLS on both
   sides of the proxy), OAUTHBEARER with unsecured JWTs (principal = the JWT's sub); principals in
   kafkascope_principal_requests_total, authentications in kafkascope_sasl_authentications_total; a wrong
   password (OAUTHBEARER: a rejected token) fails as it does directly (ClientFailure compared) and counts as a
   failure; the legacy v0 exchange; KIP-368 re-authentication with no connection dropped.
4. Fast, explained failures that leave other connections alone: the broker presents an expired certificate or
   one from another CA (tls_handshake_failed), a plaintext client on the TLS listener and a TLS client on a
   plaintext listener (protocol_mismatch), a client that never starts its handshake; a healthy producer on the
   same proxy keeps producing meanwhile. Not failures: a connection closed before its first byte, and a broker's
   answer arriving after its client left (test_closed_before_the_first_byte, test_response_after_the_client_left).
5. Certificate reload on SIGHUP with producers running (no connection lost, new connections get the new
   certificate), a broken key keeps the old certificate; an expired certificate stops the proxy from starting;
   the metrics endpoint over HTTPS.
6. No secret (password, SCRAM proof, OAUTHBEARER JWT) in the trace log, /metrics, `kafkascope pcap --decode
   full`, or `kafkascope decode` of the recorded SaslAuthenticate frames; the raw recording holds the PLAIN
   password unless --record-redact-sasl is given.

Run with -s to see what the clients report in the failure tests.
"""
import base64
import collections
import contextlib
import os
import re
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import certificates as certs_tools
import kafka_wire as kw
import secured_brokers as sb
import workloads as wl
from harness import (HOST, TANSU_NODE_ID, PeerSampler, fetch_metrics, find_port_block, kafkascope_binary,
                     metric_sum, own_tcp_connections, parse_metrics, wait_until)
from relays import LoopbackServer, SwitchingRelay, read_exactly
from secured_clients import (CK_SUBJECT, CK_USER, KP_SUBJECT, KP_USER, OAUTH_SUBJECTS, failure_message, in_parallel,
                             observe, produce_and_read_back, produce_for, rejected_credentials, roundtrip, security)

sys.path.insert(0, str(Path(__file__).resolve().parent / "pcap"))
import pcapio  # noqa: E402

ROUNDTRIP_RECORDS = 1000  # per client, in the protocol-combination tests
SASL_RECORDS = 200        # per client, in the SASL round trips
OAUTH_RECORDS = 50        # per client, in the OAUTHBEARER round trip
API_SASL_AUTHENTICATE = sb.API_SASL_AUTHENTICATE

PLAINTEXT_ON_TLS = ("client side: the client speaks plaintext to a TLS listener (is its security.protocol SSL or "
                    "SASL_SSL?)")
TLS_ON_PLAINTEXT = ("client side: the client speaks TLS to a plaintext listener (is its security.protocol "
                    "PLAINTEXT or SASL_PLAINTEXT?)")
BROKER_CERT_FAILED = ("broker side: TLS handshake with the broker failed: the broker's certificate did not verify "
                      "(expired, not signed by the trusted CA, or not issued for this host)")
NO_CLIENT_CERT = "client side: TLS handshake with the client failed: the client sent no certificate"
CLIENT_HANDSHAKE_TIMEOUT = ("client side: the client did not complete the TLS handshake within 10 s (does it speak "
                            "TLS?)")


# ---------------------------------------------------------------------------------------------- helpers

def tls_listener_args(certs, pair=None, client_ca=False):
    """Proxy options serving TLS to clients with `pair` (default the test server certificate)."""
    pair = pair or certs.server
    args = ["--tls-cert", pair.cert, "--tls-key", pair.key]
    return args + (["--tls-client-ca", certs.ca_cert] if client_ca else [])


def upstream_tls_args(certs):
    """Proxy options for TLS to brokers, trusting the test CA (verification on)."""
    return ["--upstream-tls", "--upstream-ca", certs.ca_cert]


def proxy_view(p):
    """The only broker a client of proxy p may see: node 111 at the proxy's broker listener."""
    return [(TANSU_NODE_ID, HOST, p.broker_port(TANSU_NODE_ID))]


def metrics_of(p):
    return parse_metrics(fetch_metrics(p))


def closing_lines(p, reason=None):
    """The proxy's "closing connection" log lines, with `reason=<reason>` if given."""
    return [line for line in p.log_text().splitlines()
            if "closing connection" in line and (reason is None or "reason=%s " % reason in line)]


def assert_no_connection_errors(p):
    """Nothing closed for an error, nothing logged as such and nothing counted."""
    lines = closing_lines(p)
    assert not lines, lines[:5]
    assert metric_sum(metrics_of(p), "kafkascope_connection_errors_total") == 0


def log_lines(p, fragment):
    return [line for line in p.log_text().splitlines() if fragment in line]


def assert_closed_with(p, reason, detail, side, timeout=5):
    """The proxy logged `closing connection` with reason= and a detail= starting with `detail`, and counted
    kafkascope_connection_errors_total{side, reason}."""
    def logged():
        return [line for line in closing_lines(p, reason) if "detail=" + detail in line]
    lines = wait_until(logged, timeout, what=lambda: "a closing connection line with reason=%s detail=%s (have: %s)"
                       % (reason, detail, closing_lines(p)[-3:]))
    count = metric_sum(metrics_of(p), "kafkascope_connection_errors_total", side=side, reason=reason)
    assert count >= len(lines), "kafkascope_connection_errors_total{side=%s,reason=%s} = %s, %d such closes logged" \
        % (side, reason, count, len(lines))


def raw_close_time(port, timeout=8.0, tls_context=None):
    """Opens a connection to the proxy, sends ApiVersions v0 (inside TLS when tls_context is given) and returns the
    seconds until the proxy closed it (None if it stayed open for `timeout`)."""
    started = time.monotonic()
    sock = socket.create_connection((HOST, port), timeout=timeout)
    try:
        if tls_context is not None:
            sock = tls_context.wrap_socket(sock, server_hostname=HOST)
        sock.sendall(kw.request_frame(kw.API_API_VERSIONS, 0, 1, b""))
        try:
            closed, _ = kw.wait_closed(sock, timeout - (time.monotonic() - started))
        except (ssl.SSLError, OSError):  # a TLS alert or reset is a close too
            closed = True
        return time.monotonic() - started if closed else None
    except (ssl.SSLError, ConnectionError):
        return time.monotonic() - started
    finally:
        sock.close()


def served_common_name(port, ca_cert, timeout=5):
    """The CN of the certificate a new TLS connection to `port` is served (verified against ca_cert, host
    127.0.0.1)."""
    context = ssl.create_default_context(cafile=str(ca_cert))
    with socket.create_connection((HOST, port), timeout=timeout) as raw:
        with context.wrap_socket(raw, server_hostname=HOST) as tls:
            subject = dict(x[0] for x in tls.getpeercert()["subject"])
    return subject["commonName"]


def assert_only_proxy_ports(sampler, p, forbidden):
    """The clients of this process never connected to any of `forbidden` (broker ports behind the proxy)."""
    direct = sampler.seen & set(forbidden)
    assert not direct, "clients connected to broker ports %s directly (proxy ports %s)" % (
        sorted(direct), sorted(p.proxy_ports([TANSU_NODE_ID])))


class IdleConnection:
    """A connection to `port` that never sends a byte; a thread notes when the proxy closes it."""

    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=5)
        self.started, self.closed_after = time.monotonic(), None
        self._thread = threading.Thread(target=self._watch, daemon=True, name="idle-connection")
        self._thread.start()

    def _watch(self):
        with contextlib.suppress(OSError):
            if kw.wait_closed(self.sock, 30)[0]:
                self.closed_after = time.monotonic() - self.started

    def wait(self, timeout):
        """Seconds from connecting until the proxy closed it, or None if still open after `timeout` in all."""
        self._thread.join(max(0.0, timeout - (time.monotonic() - self.started)))
        return self.closed_after

    def close(self):
        self.sock.close()


class HealthyProducer:
    """A kafka-python BackgroundProducer through the proxy for the duration of a failure test; checks that it
    kept producing without an error while the failures happened."""

    def __init__(self, bootstrap, topic, **cfg):
        self.producer = wl.BackgroundProducer(bootstrap, topic, interval=0.01, prefix=wl.unique("healthy"),
                                              client_id="it-healthy", **cfg)

    def __enter__(self):
        self.producer.start()
        self.producer.wait_acked(20, timeout=20)
        self.since, self.acked_before = time.monotonic(), len(self.producer.acked)
        return self

    def __exit__(self, *exc):
        self.producer.stop()

    def assert_unaffected(self):
        """More records acknowledged since __enter__, and no error."""
        wait_until(lambda: len(self.producer.acked) >= self.acked_before + 20, 10,
                   what="20 more acknowledgements of the healthy producer")
        assert not self.producer.errors_since(self.since), self.producer.errors_since(self.since)[:3]
        assert not self.producer.errors, self.producer.errors[:3]


# ---------------------------------------------------------------------------------------------- 1. protocols

COMBINATIONS = [("PLAINTEXT", "PLAINTEXT"), ("SSL", "SSL"), ("PLAINTEXT", "SSL"), ("SSL", "PLAINTEXT")]


@pytest.mark.parametrize("clients,broker", COMBINATIONS, ids=["%s-to-%s" % c for c in COMBINATIONS])
def test_security_protocol_combinations(proxy, tansu_factory, secured_broker, tls_certificates, clients, broker):
    """Both clients produce 1,000 records each and consume all 2,000 in groups through the proxy; the proxy
    translates between the clients' protocol and the broker's. No connection error is counted."""
    c = tls_certificates
    args = tls_listener_args(c) if clients == "SSL" else []
    if broker == "SSL":
        upstream = secured_broker("SSL")
        args += upstream_tls_args(c)
        forbidden = {upstream.port, upstream.tansu.port}
    else:
        upstream = tansu_factory()
        forbidden = {upstream.port}
    p = proxy(*args, bootstrap=upstream.bootstrap)
    kp, ck = security(clients, c)
    with PeerSampler() as sampler:
        roundtrip(p.bootstrap, kp, ck, proxy_view(p), records=ROUNDTRIP_RECORDS)
    assert_only_proxy_ports(sampler, p, forbidden)
    m = metrics_of(p)
    assert metric_sum(m, "kafkascope_produced_records_total") >= 2 * ROUNDTRIP_RECORDS
    assert_no_connection_errors(p)
    if broker == "SSL":
        assert upstream.haproxy.alive()


# ---------------------------------------------------------------------------------------------- 2. mutual TLS

def test_mutual_tls_on_the_proxy(proxy, tansu, tls_certificates):
    """--tls-client-ca: both clients without a certificate are refused in the handshake (reported as by a TLS
    1.3 server that requires one: a certificate_required alert), the proxy logs why; with the client
    certificate both produce and read back, and their requests count under the certificate's subject."""
    c = tls_certificates
    p = proxy(*tls_listener_args(c, client_ca=True))
    kp_failure, ck_failure = observe(p.bootstrap, *security("SSL", c), label="mutual TLS, no client certificate")
    assert kp_failure.raised == "KafkaTimeoutError: Unable to bootstrap from HOST:PORT", kp_failure
    assert kp_failure.mentions("[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required"), \
        kp_failure
    assert ck_failure.mentions("_TRANSPORT: ssl://HOST:PORT/bootstrap: Receive failed: ",
                               "tlsv13 alert certificate required"), ck_failure
    assert_closed_with(p, "tls_handshake_failed", NO_CLIENT_CERT, side="client")
    kp, ck = security("SSL", c, client_cert=True)
    produce_and_read_back(p.bootstrap, kp, ck, records=20, prefix="mtls")
    # The verified certificate's subject names the principal, as Kafka names an SSL principal.
    assert set(principal_requests(metrics_of(p))) == {"CN=" + c.client.common_name}, principal_requests(metrics_of(p))
    assert log_lines(p, "kafka.principal=CN=" + c.client.common_name)
    p.assert_alive()


# ---------------------------------------------------------------------------------------------- 3. SASL

def sasl_counts(m, mechanism, outcome):
    return metric_sum(m, "kafkascope_sasl_authentications_total", mechanism=mechanism, outcome=outcome)


def principal_requests(m):
    """{principal label: requests}."""
    out = collections.Counter()
    for (name, labels), value in m.items():
        if name == "kafkascope_principal_requests_total":
            out[dict(labels)["principal"]] += value
    return out


def assert_sasl_observed(p, upstream, mechanisms, users=(KP_USER, CK_USER)):
    """The proxy counted exactly the authentications the SASL upstream saw succeed, per mechanism, none failed;
    the requests of both principals are counted under their plain names (`users`: alice, bob; the JWT subjects
    with OAUTHBEARER), and the log says who authenticated."""
    m = metrics_of(p)
    for mechanism in mechanisms:
        seen = sum(1 for e in upstream.sasl.successes() if e.mechanism == mechanism)
        assert seen >= 2, upstream.sasl.events
        assert sasl_counts(m, mechanism, "success") == seen, (mechanism, sasl_counts(m, mechanism, "success"), seen)
        assert sasl_counts(m, mechanism, "failure") == 0
    by_principal = principal_requests(m)
    assert set(by_principal) == set(users), by_principal
    assert all(v > 0 for v in by_principal.values()), by_principal
    for user in users:
        assert [line for line in log_lines(p, "client authenticated") if "kafka.principal=%s " % user in line], \
            "no 'client authenticated' line with kafka.principal=%s" % user
    assert not upstream.sasl.failures() and not upstream.sasl.internal_errors


def test_sasl_plaintext_mechanisms_through_the_proxy(proxy, secured_broker, tls_certificates):
    """SASL_PLAINTEXT with SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN at the same time (one SaslUpstream offers all
    three): each mechanism's pair of clients produces and consumes in groups through the proxy."""
    c = tls_certificates
    upstream = secured_broker("SASL_PLAINTEXT")
    p = proxy(bootstrap=upstream.bootstrap)
    in_parallel(*[lambda mechanism=mechanism: roundtrip(p.bootstrap, *security("SASL_PLAINTEXT", c, mechanism),
                                                        proxy_view(p), records=SASL_RECORDS)
                  for mechanism in sb.PASSWORD_MECHANISMS], timeout=150)
    assert_sasl_observed(p, upstream, sb.PASSWORD_MECHANISMS)
    assert {e.principal for e in upstream.sasl.successes()} == {"User:" + KP_USER, "User:" + CK_USER}
    assert_no_connection_errors(p)


def test_oauthbearer_through_the_proxy(proxy, secured_broker, tls_certificates):
    """OAUTHBEARER over SASL_PLAINTEXT, SaslUpstream accepting subjects dave and carol: kafka-python (an unsecured
    JWT made by the test, sub dave) and librdkafka (its own unsecured JWT, principal=carol) produce 50 records
    each and both consume all 100 in groups through the proxy, which reads the principals from the JWTs' `sub`:
    kafkascope_principal_requests_total has exactly dave and carol, and the OAUTHBEARER successes equal the
    stand-in's."""
    c = tls_certificates
    upstream = secured_broker("SASL_PLAINTEXT", valid_subjects=OAUTH_SUBJECTS)
    p = proxy(bootstrap=upstream.bootstrap)
    roundtrip(p.bootstrap, *security("SASL_PLAINTEXT", c, "OAUTHBEARER"), proxy_view(p), records=OAUTH_RECORDS)
    assert {e.principal for e in upstream.sasl.successes()} == {"User:" + KP_SUBJECT, "User:" + CK_SUBJECT}
    assert_sasl_observed(p, upstream, ["OAUTHBEARER"], users=(KP_SUBJECT, CK_SUBJECT))
    assert_no_connection_errors(p)


def test_sasl_ssl_through_the_proxy(proxy, secured_broker, tls_certificates):
    """SASL_SSL: TLS from the clients to the proxy, TLS from the proxy to HAProxy -> SaslUpstream -> Tansu,
    SCRAM-SHA-512 inside."""
    c = tls_certificates
    upstream = secured_broker("SASL_SSL")
    p = proxy(*tls_listener_args(c), *upstream_tls_args(c), bootstrap=upstream.bootstrap)
    roundtrip(p.bootstrap, *security("SASL_SSL", c, "SCRAM-SHA-512"), proxy_view(p), records=SASL_RECORDS)
    assert_sasl_observed(p, upstream, ["SCRAM-SHA-512"])
    assert_no_connection_errors(p)
    assert upstream.haproxy.alive()


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "PLAIN", "OAUTHBEARER"])
def test_wrong_password_fails_as_directly(proxy, secured_broker, tls_certificates, mechanism):
    """A wrong password (OAUTHBEARER: JWT subjects the stand-in rejects, answered with RFC 7628's error report,
    acknowledged by the client, then error 58): both clients report through the proxy exactly what they report
    connecting directly (ClientFailure, ports normalized), and the proxy counts outcome="failure" (the error
    report is not a success)."""
    c = tls_certificates
    direct = secured_broker("SASL_PLAINTEXT", valid_subjects=OAUTH_SUBJECTS)
    behind = secured_broker("SASL_PLAINTEXT", valid_subjects=OAUTH_SUBJECTS)
    p = proxy(bootstrap=behind.bootstrap)
    settings = security("SASL_PLAINTEXT", c, mechanism, **rejected_credentials(mechanism))
    direct_kp, direct_ck = observe(direct.bootstrap, *settings, label="direct")
    proxied_kp, proxied_ck = observe(p.bootstrap, *settings, label="through the proxy")
    message = failure_message(mechanism)
    assert direct_kp.mentions("[Error 58] SaslAuthenticationFailedError", message), direct_kp
    assert direct_ck.mentions("SASL authentication error: " + message), direct_ck
    for d, t in ((direct_kp, proxied_kp), (direct_ck, proxied_ck)):
        assert (t.raised, t.reported) == (d.raised, d.reported), \
            "%s through the proxy: %r\ndirectly: %r" % (d.client, t, d)
    failures = len(behind.sasl.failures())
    assert failures >= 2 and not behind.sasl.successes()
    m = metrics_of(p)
    assert sasl_counts(m, mechanism, "failure") == failures, (sasl_counts(m, mechanism, "failure"), failures)
    assert sasl_counts(m, mechanism, "success") == 0
    assert not principal_requests(m), "requests counted under a principal that never authenticated"
    assert log_lines(p, "client authentication failed")


def test_legacy_handshake_through_the_proxy(proxy, secured_broker, tls_certificates):
    """SaslHandshake v0 and raw tokens (no SaslAuthenticate advertised) with SCRAM-SHA-256 and PLAIN: both
    clients produce and read back through the proxy, which still learns the principals."""
    c = tls_certificates
    upstream = secured_broker("SASL_PLAINTEXT", legacy=True)
    p = proxy(bootstrap=upstream.bootstrap)
    for mechanism in ("SCRAM-SHA-256", "PLAIN"):
        produce_and_read_back(p.bootstrap, *security("SASL_PLAINTEXT", c, mechanism), records=50, prefix="legacy")
    ok = upstream.sasl.successes()
    assert {(e.principal, e.mechanism) for e in ok} == {("User:" + u, m) for u in (KP_USER, CK_USER)
                                                       for m in ("SCRAM-SHA-256", "PLAIN")}, ok
    assert {e.framing for e in ok} == {"legacy"}, ok
    assert set(upstream.sasl.handshake_versions) == {0} and not upstream.sasl.authenticate_versions
    assert_sasl_observed(p, upstream, ["SCRAM-SHA-256", "PLAIN"])
    assert_no_connection_errors(p)


@pytest.mark.timeout_seconds(90)
def test_reauthentication_through_the_proxy(proxy, secured_broker, tls_certificates):
    """KIP-368 with a 3 s session lifetime: both clients re-authenticate on their open connections through the
    proxy while producing for 7 s; nothing is closed, every record is acknowledged, and the proxy counts the
    re-authentications as successes."""
    c = tls_certificates
    upstream = secured_broker("SASL_PLAINTEXT", session_lifetime_ms=3000)
    p = proxy(bootstrap=upstream.bootstrap)
    proxy_ports = p.proxy_ports([TANSU_NODE_ID])
    snapshots = {}

    def snapshot(name):
        snapshots[name] = {conn for conn in own_tcp_connections(established_only=True) if conn[1] in proxy_ports}
    timers = [threading.Timer(1.5, snapshot, ("early",)), threading.Timer(6.5, snapshot, ("late",))]
    for t in timers:
        t.start()
    try:
        kp_sent, ck_sent = produce_for(p.bootstrap, wl.unique("reauth"),
                                       *security("SASL_PLAINTEXT", c, "SCRAM-SHA-256"), seconds=7)
    finally:
        for t in timers:
            t.cancel()
    assert kp_sent > 20 and ck_sent > 20
    # Re-authentications happen at about 2.6 s and 5.3 s: the connections open at 1.5 s are still open at 6.5 s.
    assert snapshots.get("early"), snapshots
    lost = snapshots["early"] - snapshots.get("late", set())
    assert not lost, "connections to the proxy closed while re-authenticating: %s (at 1.5 s %s, at 6.5 s %s)" % (
        sorted(lost), sorted(snapshots["early"]), sorted(snapshots.get("late", set())))
    reauth = collections.Counter(e.principal for e in upstream.sasl.reauthentications())
    print("\nre-authentications through the proxy by principal: %s" % dict(reauth))
    assert reauth["User:" + KP_USER] >= 1, "kafka-python never re-authenticated: %s" % upstream.sasl.events
    assert reauth["User:" + CK_USER] >= 1, "librdkafka never re-authenticated: %s" % upstream.sasl.events
    assert upstream.sasl.expired_closes == 0
    assert_sasl_observed(p, upstream, ["SCRAM-SHA-256"])  # successes include the re-authentications
    assert_no_connection_errors(p)


# ---------------------------------------------------------------------------------------------- 4. failures

@pytest.fixture
def switchable_tls_broker(tansu_factory, tls_certificates, tmp_path, request):
    """Tansu behind two HAProxy TLS terminators, a good one (test server certificate) and a bad one (`pem` set
    by bad(pem)), both reached through a SwitchingRelay that Tansu advertises. Connections made before
    switch_to_bad() stay on the good terminator."""
    from harness import attach_log
    stack = contextlib.ExitStack()
    relay = SwitchingRelay(0)
    stack.callback(relay.stop)
    tansu_port = find_port_block([0])

    class Broker:
        port = relay.port
        bootstrap = "%s:%d" % (HOST, relay.port)

        def __init__(self):
            self.good = sb.HAProxyTLS(tansu_port, tls_certificates.server.pem, tmp_path / "good", name="good")
            attach_log(request, "haproxy log (good)", self.good.log_path)
            stack.callback(self.good.stop)
            self.good.start()
            self.bad = None

        def bad_certificate(self, pem):
            self.bad = sb.HAProxyTLS(tansu_port, pem, tmp_path / "bad", name="bad")
            attach_log(request, "haproxy log (bad)", self.bad.log_path)
            stack.callback(self.bad.stop)
            self.bad.start()

        def switch_to_bad(self):
            relay.switch(self.bad.port)

    broker = Broker()
    relay.switch(broker.good.port)
    relay.start()
    broker.tansu = tansu_factory(port=tansu_port, advertised_port=relay.port)
    broker.relay = relay
    yield broker
    stack.close()


@pytest.mark.parametrize("server", ["expired", "wrong_ca"])
def test_untrusted_broker_certificate(proxy, switchable_tls_broker, tls_certificates, server):
    """The broker presents an expired certificate, or one from a CA the proxy does not trust: a client's
    connection is closed within a few seconds with tls_handshake_failed and the reason in the proxy's log, both
    clients fail to bootstrap, and a producer that connected before keeps producing through the same proxy."""
    c = tls_certificates
    broker = switchable_tls_broker
    broker.bad_certificate(c.expired_server.pem if server == "expired" else c.wrong_ca_server.pem)
    p = proxy(*upstream_tls_args(c), bootstrap=broker.bootstrap)
    topic = wl.unique("healthy")
    wl.kp_create_topic(p.bootstrap, topic, 1)
    with HealthyProducer(p.bootstrap, topic) as healthy:
        broker.switch_to_bad()
        elapsed = raw_close_time(p.listen_port)
        assert elapsed is not None and elapsed < 3, "connection not closed within 3 s (%s)" % elapsed
        kp_failure, ck_failure = observe(p.bootstrap, *security("PLAINTEXT", c), label="broker cert " + server)
        assert kp_failure.raised == "KafkaTimeoutError: Unable to bootstrap from HOST:PORT", kp_failure
        assert ck_failure.mentions("_ALL_BROKERS_DOWN"), ck_failure
        healthy.assert_unaffected()
    assert_closed_with(p, "tls_handshake_failed", BROKER_CERT_FAILED, side="broker")
    assert "SSL handshake failure" in broker.bad.log_text()
    assert broker.relay.accepted[-1] == broker.bad.port
    p.assert_alive()


@pytest.mark.parametrize("listener", ["tls", "plaintext"])
def test_protocol_mismatch(proxy, tansu, tls_certificates, listener):
    """A plaintext client on the proxy's TLS listener, and a TLS client on a plaintext one: closed at once with
    protocol_mismatch and the detail saying which security.protocol to check, both clients fail, and a
    healthy client keeps producing. On the TLS listener also a client that never starts its handshake: closed
    after the 10 s handshake deadline."""
    c = tls_certificates
    tls = listener == "tls"
    p = proxy(*(tls_listener_args(c) if tls else []))
    right, wrong = ("SSL", "PLAINTEXT") if tls else ("PLAINTEXT", "SSL")
    healthy_kp, _ = security(right, c)
    topic = wl.unique("healthy")
    wl.kp_create_topic(p.bootstrap, topic, 1, **healthy_kp)
    idle = IdleConnection(p.listen_port) if tls else None
    try:
        with HealthyProducer(p.bootstrap, topic, **healthy_kp) as healthy:
            context = None if tls else ssl.create_default_context(cafile=str(c.ca_cert))
            elapsed = raw_close_time(p.listen_port, tls_context=context)
            assert elapsed is not None and elapsed < 2, "connection not closed within 2 s (%s)" % elapsed
            kp_failure, ck_failure = observe(p.bootstrap, *security(wrong, c), label="%s client, %s listener"
                                             % (wrong, listener))
            assert kp_failure.raised == "KafkaTimeoutError: Unable to bootstrap from HOST:PORT", kp_failure
            # The proxy closes the connection: a disconnect to the client (or a reset, if its bytes were unread).
            if tls:
                assert kp_failure.mentions("socket disconnected") or \
                    kp_failure.mentions("Connection reset by peer"), kp_failure
                assert ck_failure.mentions("_ALL_BROKERS_DOWN"), ck_failure
            else:
                assert kp_failure.mentions("Handshake failed: [SSL: UNEXPECTED_EOF_WHILE_READING]") or \
                    kp_failure.mentions("Handshake failed: ", "Connection reset by peer"), kp_failure
                # librdkafka reads the close as a failed handshake or, when the reset overtakes its read (about
                # 1 run in 3), as a disconnect during the handshake: both say the handshake never completed.
                assert ck_failure.mentions("_TRANSPORT: ssl://HOST:PORT/bootstrap: SSL handshake failed: ") or \
                    ck_failure.mentions("_TRANSPORT: ssl://HOST:PORT/bootstrap: Disconnected: ",
                                        "in state SSL_HANDSHAKE"), ck_failure
            healthy.assert_unaffected()
            if tls:
                idle_for = idle.wait(15)
                assert idle_for is not None and 9 <= idle_for <= 13, \
                    "a connection that never sent a byte closed after %s s, 10 s expected" % idle_for
                healthy.assert_unaffected()
    finally:
        if idle is not None:
            idle.close()
    assert_closed_with(p, "protocol_mismatch", PLAINTEXT_ON_TLS if tls else TLS_ON_PLAINTEXT, side="client")
    if tls:
        assert_closed_with(p, "tls_handshake_failed", CLIENT_HANDSHAKE_TIMEOUT, side="client")
    p.assert_alive()


def test_closed_before_the_first_byte(proxy, tansu, tls_certificates):
    """A connection that closes without sending a byte (a TCP health check, a port scan, the `proxy` fixture's
    own readiness check) is an ordinary close on a TLS listener as on a plaintext one: no "closing connection"
    line and no kafkascope_connection_errors_total. (It once logged a failed handshake, "eof during handshake".)"""
    c = tls_certificates
    listeners = {"plaintext": proxy(), "tls": proxy(*tls_listener_args(c))}
    for p in listeners.values():
        for _ in range(3):
            socket.create_connection((HOST, p.listen_port), timeout=5).close()
    time.sleep(0.5)
    problems = {}
    for name, p in listeners.items():
        lines = closing_lines(p)
        errors = metric_sum(metrics_of(p), "kafkascope_connection_errors_total")
        if lines or errors:
            problems[name] = "%d connection errors counted, logged: %s" % (errors, lines[:2])
    assert not problems, problems


class SlowBroker(LoopbackServer):
    """A listener (TLS with `pair`, else plaintext) that answers every request with an ApiVersions v0 response
    `delay` seconds after reading it, and reads nothing meanwhile: a close_notify sent by the proxy in the meantime
    does not stop the answer (as a busy broker, or a long-polling Fetch, would do)."""

    name = "slow-broker"

    def __init__(self, delay, pair=None):
        super().__init__()
        self.context = None
        if pair is not None:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(str(pair.cert), str(pair.key))
        self.delay, self.received, self.answered = delay, [], []
        self.bootstrap = "%s:%d" % (HOST, self.port)

    def _accepted(self, raw):
        self._track(raw)
        self._spawn(self._serve, "slow-broker-conn", raw)

    def _serve(self, raw):
        body = kw.encode_api_versions_response(0, {"error_code": 0, "api_keys": [(kw.API_API_VERSIONS, 0, 3)]})
        with contextlib.suppress(OSError, ValueError, EOFError):
            raw.settimeout(10)
            conn = raw
            if self.context:
                conn = self.context.wrap_socket(raw, server_side=True)
                self._track(conn)  # wrapping detaches `raw`: stop() must close this one
            while True:
                head = read_exactly(conn, 4)
                payload = read_exactly(conn, int.from_bytes(head, "big"))
                corr = int.from_bytes(payload[4:8], "big")
                self.received.append(corr)
                time.sleep(self.delay)
                conn.sendall(kw.response_frame(kw.API_API_VERSIONS, 0, corr, body))
                self.answered.append(corr)


@pytest.mark.parametrize("upstream", ["tls", "plaintext"])
def test_response_after_the_client_left(proxy, tls_certificates, upstream):
    """A client sends a request and closes before the answer (clients do this when they shut down); the broker,
    over TLS, answers anyway. The answer has nobody to go to: it is dropped, no error. The proxy's TLS connection
    to the broker keeps delivering data while it waits for the broker's close_notify; that late response was once
    reported as an unsolicited response. With a plaintext broker (the control) the connection is gone at once."""
    c = tls_certificates
    tls = upstream == "tls"
    broker = SlowBroker(0.5, pair=c.server if tls else None).start()
    try:
        p = proxy(*(upstream_tls_args(c) if tls else []), bootstrap=broker.bootstrap)
        received = len(broker.received)
        with socket.create_connection((HOST, p.listen_port), timeout=5) as client:
            client.sendall(kw.request_frame(kw.API_API_VERSIONS, 0, 4242, b""))
            wait_until(lambda: len(broker.received) > received, 5, what="the request reaching the broker")
        wait_until(lambda: 4242 in broker.answered, 5, what="the broker answering after the client left")
        time.sleep(0.3)
        assert log_lines(p, "client closed with requests in flight"), "the client did not leave in time"
        assert_no_connection_errors(p)
    finally:
        broker.stop()


# ---------------------------------------------------------------------------------------------- 5. reload

class SteadyConfluentProducer:
    """confluent-kafka producing one record every 10 ms on its own thread until stopped; records delivery
    errors and every error_cb report (a lost connection shows there)."""

    def __init__(self, bootstrap, topic, **cfg):
        self.producer = wl.ck_producer(bootstrap, **{"client.id": "it-ck-steady", "error_cb": self._error, **cfg})
        self.topic, self.sent, self.delivered, self.errors = topic, 0, 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="steady-ck-producer")

    def _error(self, err):
        self.errors.append("error_cb %s: %s" % (err.name(), err.str()))

    def _delivered(self, err, msg):
        if err is not None:
            self.errors.append("delivery: %s" % err)
        else:
            self.delivered += 1

    def _run(self):
        while not self._stop.is_set():
            self.producer.produce(self.topic, b"ck-%d" % self.sent, on_delivery=self._delivered)
            self.sent += 1
            self.producer.poll(0.01)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(10)
        remaining = self.producer.flush(15)
        self.producer = None  # destroyed now, not when garbage collected (it would reconnect to a stopped proxy)
        return remaining


@pytest.mark.timeout_seconds(120)
def test_certificate_reload(proxy, tansu, tls_certificates, tmp_path):
    """With both clients producing over TLS: the certificate files are replaced by a second pair and the proxy
    gets SIGHUP. New connections are served the new certificate, the producers' connections stay up, nothing
    fails, kafkascope_tls_reloads_total{outcome="success"} >= 1. Then a broken key file and SIGHUP: the new
    certificate stays in use, logged, outcome="failure" counted."""
    c = tls_certificates
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_bytes(c.server.cert.read_bytes())
    key.write_bytes(c.server.key.read_bytes())
    second = certs_tools.issue_server_pair(c, wl.unique("reloaded"))
    p = proxy("--tls-cert", cert, "--tls-key", key)
    assert served_common_name(p.listen_port, c.ca_cert) == c.server.common_name
    kp, ck = security("SSL", c)
    topic = wl.unique("reload")
    wl.kp_create_topic(p.bootstrap, topic, 1, **kp)
    proxy_ports = p.proxy_ports([TANSU_NODE_ID])

    def client_connections():
        return {conn for conn in own_tcp_connections(established_only=True) if conn[1] in proxy_ports}

    def replace(path, data):
        staged = path.with_suffix(".new")
        staged.write_bytes(data)
        os.replace(staged, path)

    kp_producer = wl.BackgroundProducer(p.bootstrap, topic, interval=0.01, client_id="it-kp-steady", **kp).start()
    ck_producer = SteadyConfluentProducer(p.bootstrap, topic, **ck).start()
    stopped = False
    try:
        kp_producer.wait_acked(50, timeout=20)
        wait_until(lambda: ck_producer.delivered >= 50, 20, what="50 confluent-kafka deliveries")
        time.sleep(1)  # both clients have settled on their connections
        before = client_connections()
        assert before, "no client connection to the proxy seen"

        replace(key, second.key.read_bytes())
        replace(cert, second.cert.read_bytes())
        p.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: log_lines(p, "TLS certificate reloaded"), 10, what="'TLS certificate reloaded' logged")
        wait_until(lambda: served_common_name(p.listen_port, c.ca_cert) == second.common_name, 10,
                   what="the new certificate served to new connections")
        acked, delivered = len(kp_producer.acked), ck_producer.delivered
        wait_until(lambda: len(kp_producer.acked) > acked + 50 and ck_producer.delivered > delivered + 50, 20,
                   what="both producers still producing after the reload")
        m = metrics_of(p)
        assert metric_sum(m, "kafkascope_tls_reloads_total", outcome="success") >= 1
        failures_before = metric_sum(m, "kafkascope_tls_reloads_total", outcome="failure")

        key.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
        p.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: log_lines(p, "TLS certificate not reloaded; the previous one stays in use"), 10,
                   what="'TLS certificate not reloaded' logged")
        m = metrics_of(p)
        assert metric_sum(m, "kafkascope_tls_reloads_total", outcome="failure") >= failures_before + 1
        assert served_common_name(p.listen_port, c.ca_cert) == second.common_name
        produce_and_read_back(p.bootstrap, kp, ck, records=10, prefix="after-broken-key")

        acked, delivered = len(kp_producer.acked), ck_producer.delivered
        wait_until(lambda: len(kp_producer.acked) > acked + 20 and ck_producer.delivered > delivered + 20, 20,
                   what="both producers still producing after the failed reload")
        after = client_connections()
        lost = before - after
        assert not lost, "client connections to the proxy lost during the reloads: %s (before %s, after %s)" % (
            sorted(lost), sorted(before), sorted(after))
        kp_producer.stop()
        remaining = ck_producer.stop()
        stopped = True
    finally:
        if not stopped:
            kp_producer.stop()
            ck_producer.stop()
    assert not kp_producer.errors, kp_producer.errors[:3]
    assert len(kp_producer.acked) == kp_producer.sent, (len(kp_producer.acked), kp_producer.sent)
    assert remaining == 0 and not ck_producer.errors, (remaining, ck_producer.errors[:3])
    assert ck_producer.delivered == ck_producer.sent, (ck_producer.delivered, ck_producer.sent)
    assert_no_connection_errors(p)


def test_expired_certificate_refuses_to_start(proxy, tansu, tls_certificates):
    c = tls_certificates
    p = proxy(*tls_listener_args(c, pair=c.expired_server), expect_exit=True)
    code = p.wait(20)
    assert code != 0
    text = p.log_text()
    assert re.search(r"the certificate in %s expired on 2020-01-02" % re.escape(str(c.expired_server.cert)), text), \
        text[-2000:]


def test_metrics_endpoint_over_tls(proxy, tansu, tls_certificates):
    """--metrics-tls-cert/--metrics-tls-key: /metrics answers over HTTPS to a client trusting the test CA (host name
    checked), and a plain HTTP request on that port gets no metrics."""
    import http.client
    c = tls_certificates
    p = proxy("--metrics-tls-cert", c.server.cert, "--metrics-tls-key", c.server.key)
    context = ssl.create_default_context(cafile=str(c.ca_cert))
    conn = http.client.HTTPSConnection(HOST, p.metrics_port, timeout=5, context=context)
    try:
        conn.request("GET", "/metrics")
        response = conn.getresponse()
        body = response.read().decode()
    finally:
        conn.close()
    assert response.status == 200 and "kafkascope_build_info" in body, (response.status, body[:200])
    with pytest.raises((http.client.HTTPException, OSError)):
        plain = http.client.HTTPConnection(HOST, p.metrics_port, timeout=5)
        try:
            plain.request("GET", "/metrics")
            plain.getresponse().read()
        finally:
            plain.close()
    p.assert_alive()


# ---------------------------------------------------------------------------------------------- 6. secrets

def sasl_tokens(monkeypatch):
    """Records every token the SASL upstream's PLAIN, SCRAM and OAUTHBEARER servers receive: [(mechanism,
    bytes)]."""
    seen = []

    def recording(cls):
        step = cls.step

        def recorded(self, token):
            seen.append((self.name, bytes(token)))
            return step(self, token)
        monkeypatch.setattr(cls, "step", recorded)
    for cls in (sb._Plain, sb._Scram, sb._OAuthBearer):
        recording(cls)
    return seen


def needles(secret):
    """A secret as it could show up in text: as is, JSON-escaped, hex, base64."""
    forms = {secret, secret.replace(b"/", b"\\/"), secret.hex().encode(), secret.hex().upper().encode(),
             base64.b64encode(secret), base64.b64encode(secret).replace(b"/", b"\\/")}
    if b"\0" in secret:
        forms.add(secret.replace(b"\0", b"\\u0000"))
    return forms


def find_secrets(data, secrets_by_name):
    """Names of the secrets found in `data` (bytes or text) in any form of needles()."""
    if isinstance(data, str):
        data = data.encode()
    return sorted(name for name, secret in secrets_by_name.items() if any(n in data for n in needles(secret)))


def sasl_authenticate_frames(recording, ports):
    """Every SaslAuthenticate request frame (size prefix included) in the recording, on connections to `ports`."""
    cap = pcapio.read_pcap(str(recording))
    frames = []
    for conn in pcapio.connections(cap, set(ports)).values():
        requests, _ = conn.frames()
        data, _ = conn.c2s.build()
        frames += [(conn.server[1], data[r.start:r.end]) for r in requests if r.api_key == API_SASL_AUTHENTICATE]
    return frames


@pytest.mark.parametrize("redact", [False, True], ids=["plain-recording", "redacted-recording"])
def test_no_secret_leaks(proxy, secured_broker, tls_certificates, tmp_path, monkeypatch, redact):
    """SCRAM-SHA-256, PLAIN and OAUTHBEARER sessions of both clients over TLS (SASL_SSL to the proxy,
    SASL_PLAINTEXT behind it) with --log-level trace and --record: no password, SCRAM client proof, JWT, SASL
    token or private-key line in the log, /metrics, `kafkascope pcap --format jsonl --decode full` or `kafkascope
    decode` of each recorded SaslAuthenticate request. (The JWT's sub, dave or carol, is the principal and is
    logged by design; the token is what must not appear.) The raw recording holds the PLAIN passwords and the
    JWTs without --record-redact-sasl (so the search can find them) and no secret with it."""
    c = tls_certificates
    users = {KP_USER: secrets.token_hex(16), CK_USER: secrets.token_hex(16)}
    tokens = sasl_tokens(monkeypatch)
    upstream = secured_broker("SASL_PLAINTEXT", users=users)
    recording = tmp_path / "traffic.pcap"
    p = proxy(*tls_listener_args(c), "--record", recording, *(["--record-redact-sasl"] if redact else []),
              bootstrap=upstream.bootstrap, log_level="trace")
    for mechanism in ("SCRAM-SHA-256", "PLAIN", "OAUTHBEARER"):
        kp, ck = security("SASL_SSL", c, mechanism, kp_password=users[KP_USER], ck_password=users[CK_USER])
        topic = wl.unique("secret")
        records = wl.make_records(5, prefix=topic)
        in_parallel(lambda: wl.kp_produce(p.bootstrap, topic, records, **kp),
                    lambda: wl.ck_produce(p.bootstrap, topic, records, **ck))
    assert {e.mechanism for e in upstream.sasl.successes()} == {"SCRAM-SHA-256", "PLAIN", "OAUTHBEARER"}
    metrics_text = fetch_metrics(p)
    p.send_signal(signal.SIGTERM)  # closes the recording
    assert p.wait(20) == 0

    secret_values = {"password of %s" % u: pw.encode() for u, pw in users.items()}
    for i, (mechanism, token) in enumerate(tokens):
        if mechanism == "PLAIN":
            secret_values["PLAIN token %d" % i] = token
        elif mechanism == "OAUTHBEARER":
            secret_values["OAUTHBEARER token %d" % i] = token
            jwt = re.search(rb"\x01auth=Bearer ([^\x01]+)\x01", token)
            if jwt:
                secret_values["JWT %d" % i] = jwt.group(1)
        elif b",p=" in token:
            secret_values["%s client-final %d" % (mechanism, i)] = token
            secret_values["%s client proof %d" % (mechanism, i)] = token.rsplit(b",p=", 1)[1]
    assert sum(1 for name in secret_values if "client proof" in name) >= 2, tokens
    assert sum(1 for name in secret_values if name.startswith("JWT")) >= 2, tokens
    key_lines = [line for line in c.server.key.read_text().splitlines() if line and not line.startswith("-----")]
    assert key_lines
    for i, line in enumerate(key_lines):
        secret_values["private key line %d" % i] = line.encode()
    secret_values["private key (DER)"] = base64.b64decode("".join(key_lines))

    log = p.log_text()
    assert re.search(r"kafka\.api=SaslAuthenticate .*request", log), "no trace line for SaslAuthenticate"
    ports = [p.listen_port, p.broker_port(TANSU_NODE_ID), upstream.port]
    jsonl = subprocess.run([kafkascope_binary(), "pcap", str(recording), "--format", "jsonl", "--decode", "full",
                            *[a for port in ports for a in ("--port", str(port))]],
                           capture_output=True, timeout=60)
    assert jsonl.returncode == 0, jsonl.stderr.decode(errors="replace")
    assert b'"SaslAuthenticate"' in jsonl.stdout, jsonl.stdout[:500]
    frames = sasl_authenticate_frames(recording, ports)
    legs = collections.Counter("client" if port != upstream.port else "broker" for port, _ in frames)
    assert legs["client"] >= 8 and legs["broker"] >= 8, legs  # per client: 1 PLAIN, 2 SCRAM, 1 OAUTHBEARER
    places = {"proxy log": log, "/metrics": metrics_text, "pcap --decode full": jsonl.stdout + jsonl.stderr}
    for i, (port, frame) in enumerate(frames):
        path = tmp_path / ("sasl-authenticate-%d.bin" % i)
        path.write_bytes(frame)
        decoded = subprocess.run([kafkascope_binary(), "decode", str(path)], capture_output=True, timeout=30)
        assert decoded.returncode == 0, decoded.stderr.decode(errors="replace")
        assert b"SaslAuthenticate" in decoded.stdout and b"<redacted>" in decoded.stdout, decoded.stdout[:500]
        places["decode of frame %d (port %d)" % (i, port)] = decoded.stdout + decoded.stderr
    leaks = {place: found for place, text in places.items() if (found := find_secrets(text, secret_values))}
    assert not leaks, "secrets found: %s" % leaks

    raw = recording.read_bytes()
    in_raw = find_secrets(raw, {k: v for k, v in secret_values.items() if "private key" not in k})
    assert not find_secrets(raw, {k: v for k, v in secret_values.items() if "private key" in k})
    if not redact:
        assert {"password of %s" % u for u in users} <= set(in_raw), \
            "the PLAIN passwords are not in the raw recording: the search cannot work (%s)" % in_raw
        assert any(name.startswith("JWT") for name in in_raw), \
            "no JWT in the raw recording: the search cannot work (%s)" % in_raw
    else:
        assert not in_raw, "--record-redact-sasl: the raw recording still holds %s" % in_raw
