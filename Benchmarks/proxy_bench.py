#!/usr/bin/env python3
"""End-to-end proxy benchmark: the same confluent-kafka load against a real Tansu broker, six ways in one run.

  direct                 client -> Tansu
  socat                  client -> socat (blind TCP forwarder, no decoding) -> Tansu
  kafkascope             client -> kafkascope proxy (decoding every frame, metrics on) -> Tansu
  kafkascope-no-metrics  client -> kafkascope proxy --no-metrics (forwarding and rewriting only) -> Tansu
  kafkascope-tls         client =TLS=> kafkascope proxy --tls-cert/--tls-key --upstream-tls (metrics on)
                           =TLS=> TLS broker -> Tansu
  haproxy-tls            client =TLS=> HAProxy (blind TLS-terminating forwarder, `mode tcp`, same certificate)
                           =TLS=> TLS broker -> Tansu

The "TLS broker" is an HAProxy `mode tcp` frontend terminating TLS in front of a plaintext Tansu (Tansu 0.6.0 has
no TLS); it is the same in both TLS paths and its CPU is not counted. The certificates (a throwaway CA and a server
certificate for 127.0.0.1) are made with the openssl CLI in a temporary directory at start and deleted at the end.

For each path, on a fresh in-memory Tansu and fresh topics:
  1. produce throughput: --records records of --record-bytes random bytes (no key, no compression, acks=all);
  2. consume throughput: a consumer reads that topic from the beginning (assign(), OFFSET_BEGINNING);
  3. latency: --latency-samples synchronous single-record produces (produce, flush, repeat) after a warm-up;
  4. forwarder CPU: utime+stime (+ reaped children) of the forwarder's process tree from /proc, read before and
     after phases 1 and 2, divided by the record bytes the client moved in them.

Prints a Markdown table and the ratios against direct, socat and kafkascope --no-metrics (the cost of the metrics),
then kafkascope-tls against kafkascope (plaintext) and haproxy-tls, with the TLS target.
See Benchmarks/README.md.

  python3 Benchmarks/proxy_bench.py [--records N] [--latency-samples N] [--kafkascope PATH] [--paths A,B,...]
"""
import argparse
import contextlib
import os
import random
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench_support import (BenchError, Processes, fmt, logger, machine_busy_seconds, port_is_free,
                           tansu_binary)

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parents[1]
log = logger("proxy_bench")
TANSU_NODE_ID = 111  # Tansu's fixed broker node id
CLK_TCK = os.sysconf("SC_CLK_TCK")
MB = 1e6
GB = 1e9
TLS_PATHS = ("kafkascope-tls", "haproxy-tls")


def port_block(offsets, taken, low=20000, high=50000, attempts=500):
    """A base port B such that B + o is free (and not already handed out) for every o in offsets."""
    rng = random.Random()
    for _ in range(attempts):
        base = rng.randrange(low, high - max(offsets))
        ports = [base + o for o in offsets]
        if not taken.intersection(ports) and all(port_is_free(p) for p in ports):
            taken.update(ports)
            return base
    raise BenchError("no free port block for offsets %s in %d-%d" % (offsets, low, high))


# ---------------------------------------------------------------------------------------------- CPU from /proc

def _stat_fields(pid):
    """(ppid, utime+stime, cutime+cstime) in clock ticks, or None if the process is gone."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = data[data.rindex(b")") + 2:].split()  # the command name may contain spaces and parentheses
    # rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15, cutime 16, cstime 17
    return int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14])


def _descendants(root):
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
        for pid in _descendants(root):
            fields = _stat_fields(pid)
            if fields is not None:
                total += fields[1] + fields[2]
        after = _stat_fields(root)
        if after is not None and after[2] == before[2]:
            return total / CLK_TCK
    raise BenchError("could not read a stable CPU time for process tree %d" % root)


def live_children(root):
    return len(_descendants(root))


def own_tcp_peer_ports():
    """Remote ports of this process's established TCP connections (librdkafka's threads included), from /proc:
    used to check that the client really went through the forwarder and never straight to Tansu."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink("/proc/self/fd/" + fd)
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


# ---------------------------------------------------------------------------------------------- components

def _tool(name, env, package, needed_by, missing):
    """Path of an external tool (the environment variable `env` may name it), or None after adding a line to
    `missing` that names the tool and the paths that need it."""
    path = os.environ.get(env) or shutil.which(name)
    if not path or not os.access(path, os.X_OK):
        missing.append("%s not found on PATH or in %s (apt-get install %s); needed by %s"
                       % (name, env, package, ", ".join(needed_by)))
        return None
    return path


def find_components(args, names):
    """The binaries the selected paths `names` need, as a dict; BenchError naming everything that is missing."""
    missing = []
    tansu = tansu_binary(missing)
    socat = None
    if "socat" in names:
        socat = shutil.which("socat")
        if not socat:
            missing.append("socat not found on PATH (apt-get install socat)")
    kafkascope = None
    if any(n.startswith("kafkascope") for n in names):
        kafkascope = args.kafkascope
        if not os.path.isfile(kafkascope) or not os.access(kafkascope, os.X_OK):
            missing.append("kafkascope binary %r is missing or not executable (swift build -c release, or "
                           "--kafkascope PATH)" % kafkascope)
            kafkascope = None
        elif "kafkascope-tls" in names:
            try:
                usage = subprocess.run([kafkascope, "proxy", "--help"], stdin=subprocess.DEVNULL,
                                       capture_output=True, timeout=30)
                usage = (usage.stdout + usage.stderr).decode(errors="replace")
            except (OSError, subprocess.TimeoutExpired) as e:
                usage = "<%s>" % e
            if "--tls-cert" not in usage or "--upstream-tls" not in usage:
                missing.append("kafkascope binary %r has no --tls-cert/--upstream-tls (built before TLS support? "
                               "rebuild it, or --kafkascope PATH); needed by kafkascope-tls" % kafkascope)
    tls_paths = [n for n in names if n in TLS_PATHS]
    haproxy = openssl = None
    if tls_paths:
        haproxy = _tool("haproxy", "HAPROXY_BIN", "haproxy", tls_paths, missing)
        openssl = _tool("openssl", "OPENSSL_BIN", "openssl", tls_paths, missing)
    try:
        import confluent_kafka  # noqa: F401
    except ImportError as e:
        missing.append("python package confluent-kafka is not importable (%s)" % e)
    if missing:
        raise BenchError("missing components:\n  - " + "\n  - ".join(missing))
    return {"tansu": tansu, "socat": socat, "kafkascope": kafkascope, "haproxy": haproxy, "openssl": openssl}


# ---------------------------------------------------------------------------------------------- TLS

class TLSMaterial:
    """A throwaway CA, and a server certificate it signed for 127.0.0.1 (subjectAltName IP:127.0.0.1 and
    DNS:localhost), made with the openssl CLI in `directory`. `pem` is certificate + key, HAProxy's `ssl crt`."""

    def __init__(self, openssl, directory):
        d = Path(directory)
        self.ca, ca_key = d / "ca.crt", d / "ca.key"
        self.cert, self.key, self.pem = d / "server.crt", d / "server.key", d / "server.pem"
        csr, ext = d / "server.csr", d / "server.ext"

        def run(*argv):
            try:
                proc = subprocess.run([openssl] + [str(a) for a in argv], stdin=subprocess.DEVNULL,
                                      capture_output=True, timeout=60)
            except (OSError, subprocess.TimeoutExpired) as e:
                raise BenchError("openssl %s: %s" % (argv[0], e)) from e
            if proc.returncode != 0:
                raise BenchError("openssl %s failed (exit %d): %s" % (" ".join(map(str, argv[:2])), proc.returncode,
                                                                      proc.stderr.decode(errors="replace").strip()))

        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]  # EC P-256, as the tests use
        run("req", "-x509", *ec, "-keyout", ca_key, "-out", self.ca, "-days", "2", "-subj", "/CN=proxy_bench CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        run("req", "-new", *ec, "-keyout", self.key, "-out", csr, "-subj", "/CN=127.0.0.1")
        ext.write_text("basicConstraints = critical, CA:FALSE\n"
                       "keyUsage = critical, digitalSignature\n"
                       "extendedKeyUsage = serverAuth\n"
                       "subjectAltName = IP:127.0.0.1, DNS:localhost\n")
        run("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", ca_key, "-set_serial", "1000", "-days", "2",
            "-sha256", "-extfile", ext, "-out", self.cert)
        self.pem.write_bytes(self.cert.read_bytes() + self.key.read_bytes())
        for f in (ca_key, self.key, self.pem):
            f.chmod(0o600)

    def client_config(self):
        """confluent-kafka settings: TLS, this CA, host name verification on."""
        return {"security.protocol": "SSL", "ssl.ca.location": str(self.ca),
                "ssl.endpoint.identification.algorithm": "https"}


def haproxy_config(listen_port, server_port, pem, threads, upstream_ca=None):
    """HAProxy, `mode tcp`: terminate TLS on 127.0.0.1:listen_port with `pem`, forward to 127.0.0.1:server_port,
    over TLS verified against `upstream_ca` if given (else plaintext). One log line per connection once it reaches
    the server (`option logasap`), with the TLS version and cipher of both sides."""
    server_tls = (" ssl verify required ca-file %s verifyhost localhost" % upstream_ca) if upstream_ca else ""
    return "\n".join([
        "global",
        "    log stderr format raw local0 info",
        "    maxconn 1000",
    ] + (["    nbthread %d" % threads] if threads else []) + [
        "defaults",
        "    mode tcp",
        "    log global",
        "    option logasap",
        "    log-format \"conn %ci:%cp fc=%[ssl_fc_protocol]/%[ssl_fc_cipher] bc=%[ssl_bc_protocol]/%[ssl_bc_cipher]\"",
        "    timeout connect 5s",
        "    timeout client 10m",
        "    timeout server 10m",
        "frontend tls_in",
        "    bind %s:%d ssl crt %s" % (HOST, listen_port, pem),
        "    default_backend out",
        "backend out",
        "    server upstream %s:%d%s" % (HOST, server_port, server_tls),
        ""])


def haproxy_log_ciphers(log_path, offset, side):
    """The distinct `side` ("fc": the client's connection, "bc": the server's) TLS version/cipher pairs in an
    HAProxy log written with haproxy_config()'s format, from byte `offset` on."""
    try:
        with open(log_path, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return []
    seen = []
    for line in text.splitlines():
        if line.startswith("conn "):
            for field in line.split()[2:]:
                if field.startswith(side + "=") and field != side + "=-/-" and field[3:] not in seen:
                    seen.append(field[3:])
    return seen


def tls_probe(port, ca, what):
    """Connect to 127.0.0.1:port with TLS (Python's ssl: OpenSSL defaults, like librdkafka's, this CA, host name
    verification on) and return "version/cipher" as the server chose it."""
    ctx = ssl.create_default_context(cafile=str(ca))
    try:
        with socket.create_connection((HOST, port), timeout=10) as raw, \
                ctx.wrap_socket(raw, server_hostname=HOST) as conn:
            name, version, _ = conn.cipher()
    except (OSError, ssl.SSLError) as e:
        raise BenchError("%s: TLS handshake with %s:%d failed: %s" % (what, HOST, port, e)) from e
    return "%s/%s" % (version, name)


def thread_count(pid):
    with contextlib.suppress(OSError), open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return None


# ---------------------------------------------------------------------------------------------- paths

class Path_:
    """One way of reaching a broker: its own fresh Tansu, and optionally a forwarder in front of it (and, for the
    TLS paths, the TLS broker between the two)."""

    def __init__(self, name, procs, components, ports, tls=None, haproxy_threads=None):
        self.name, self.procs = name, procs
        self.tansu_bin, self.socat_bin = components["tansu"], components["socat"]
        self.kafkascope_bin, self.haproxy_bin = components["kafkascope"], components["haproxy"]
        self.ports = ports
        self.tls, self.haproxy_threads = tls, haproxy_threads  # TLSMaterial; HAProxy's nbthread (None: default)
        self.tansu = self.forwarder = self.tls_broker = None
        self.bootstrap = self.tansu_port = None
        self.client_ports = set()  # the ports a client of this path may connect to
        self.client_config = {}  # extra confluent-kafka settings (TLS)
        self.socat_block_size = None
        self.tls_client_side = None  # "version/cipher" the forwarder chose for a TLS client (probed at start)
        self.forwarder_threads = None
        self.log_offsets = {}

    def _start_tansu(self, port, advertised_port):
        argv = [self.tansu_bin, "broker",
                "--listener-url", "tcp://%s:%d" % (HOST, port),
                "--advertised-listener-url", "tcp://%s:%d" % (HOST, advertised_port),
                "--storage-engine", "memory://tansu/"]
        self.tansu = self.procs.spawn("%s-tansu" % self.name, argv)
        self.tansu_port = port
        self.procs.wait_port(self.tansu, port, 20)

    def _start_haproxy(self, name, listen_port, server_port, upstream_ca=None):
        """An HAProxy of haproxy_config(), run in the foreground (-db: one process, its threads inside it)."""
        cfg = self.procs.logdir / ("%s.cfg" % name)
        cfg.write_text(haproxy_config(listen_port, server_port, self.tls.pem, self.haproxy_threads, upstream_ca))
        log_path = self.procs.logdir / ("%s.log" % name)
        self.log_offsets[name] = log_path.stat().st_size if log_path.exists() else 0
        proc = self.procs.spawn(name, [self.haproxy_bin, "-db", "-f", str(cfg)])
        self.procs.wait_port(proc, listen_port, 10)
        return proc

    def _start_tls_broker(self, tls_port, advertised_port):
        """A plaintext Tansu that advertises `advertised_port`, behind the TLS broker: an HAProxy on `tls_port`
        terminating TLS with the server certificate."""
        tansu_port = port_block([0], self.ports)
        self._start_tansu(tansu_port, advertised_port)
        self.tls_broker = self._start_haproxy("%s-broker" % self.name, tls_port, tansu_port)

    def start(self):
        if self.name == "direct":
            port = port_block([0], self.ports)
            self._start_tansu(port, port)
            self.bootstrap = "%s:%d" % (HOST, port)
            self.client_ports = {port}
        elif self.name == "socat":
            # socat does not rewrite broker addresses, so this Tansu advertises socat's port: clients that
            # bootstrap through socat then connect to the "broker" at socat's port again.
            tansu_port = port_block([0], self.ports)
            socat_port = port_block([0], self.ports)
            self._start_tansu(tansu_port, socat_port)
            block = ["-b", str(self.socat_block_size)] if self.socat_block_size else []
            self.forwarder = self.procs.spawn("socat", [self.socat_bin] + block + [
                "TCP-LISTEN:%d,bind=%s,fork,reuseaddr,nodelay" % (socat_port, HOST),
                "TCP:%s:%d,nodelay" % (HOST, tansu_port)])
            self.procs.wait_port(self.forwarder, socat_port, 10)
            self.bootstrap = "%s:%d" % (HOST, socat_port)
            self.client_ports = {socat_port}
        elif self.name in ("kafkascope", "kafkascope-no-metrics"):
            tansu_port = port_block([0], self.ports)
            self._start_tansu(tansu_port, tansu_port)
            listen = port_block([0, 1 + TANSU_NODE_ID], self.ports)  # broker 111 -> listen + 1 + 111
            if self.name == "kafkascope":
                metrics = ["--metrics-listen", "%s:%d" % (HOST, port_block([0], self.ports))]
            else:
                metrics = ["--no-metrics"]  # forwarding and rewriting only: the baseline for what metrics cost
            self.forwarder = self.procs.spawn(self.name, [
                self.kafkascope_bin, "proxy", "--bootstrap-server", "%s:%d" % (HOST, tansu_port),
                "--listen", "%s:%d" % (HOST, listen), "--log-level", "warning"] + metrics)
            self.procs.wait_port(self.forwarder, listen, 20)
            self.bootstrap = "%s:%d" % (HOST, listen)
            self.client_ports = {listen, listen + 1 + TANSU_NODE_ID}
        elif self.name == "kafkascope-tls":
            # Tansu advertises the TLS broker's port; kafkascope connects there with TLS and rewrites broker 111's
            # address to its own listener, as in the plaintext path.
            tls_port = port_block([0], self.ports)
            self._start_tls_broker(tls_port, tls_port)
            listen = port_block([0, 1 + TANSU_NODE_ID], self.ports)
            self.forwarder = self.procs.spawn(self.name, [
                self.kafkascope_bin, "proxy", "--bootstrap-server", "%s:%d" % (HOST, tls_port),
                "--listen", "%s:%d" % (HOST, listen), "--log-level", "warning",
                "--metrics-listen", "%s:%d" % (HOST, port_block([0], self.ports)),
                "--tls-cert", str(self.tls.cert), "--tls-key", str(self.tls.key),
                "--upstream-tls", "--upstream-ca", str(self.tls.ca)])
            self.procs.wait_port(self.forwarder, listen, 20)
            self.bootstrap = "%s:%d" % (HOST, listen)
            self.client_ports = {listen, listen + 1 + TANSU_NODE_ID}
        elif self.name == "haproxy-tls":
            # HAProxy does not rewrite broker addresses (like socat), so Tansu advertises HAProxy's port.
            tls_port, front = port_block([0], self.ports), port_block([0], self.ports)
            self._start_tls_broker(tls_port, front)
            self.forwarder = self._start_haproxy(self.name, front, tls_port, upstream_ca=self.tls.ca)
            self.bootstrap = "%s:%d" % (HOST, front)
            self.client_ports = {front}
        else:
            raise ValueError(self.name)
        if self.name in TLS_PATHS:
            self.client_config = self.tls.client_config()
            self.tls_client_side = tls_probe(int(self.bootstrap.rsplit(":", 1)[1]), self.tls.ca, self.name)
            self.forwarder_threads = thread_count(self.forwarder.pid)
        log("%s: bootstrap %s (tansu pid %d%s%s)" % (self.name, self.bootstrap, self.tansu.pid,
                                                     ", TLS broker pid %d" % self.tls_broker.pid
                                                     if self.tls_broker else "",
                                                     ", forwarder pid %d" % self.forwarder.pid
                                                     if self.forwarder else ""))

    def check(self):
        self.procs.check_alive(self.tansu)
        for proc in (self.tls_broker, self.forwarder):
            if proc is not None:
                self.procs.check_alive(proc)

    def check_peers(self, peers, what):
        """The client's connections must all go to this path's ports: through a forwarder, never straight to
        Tansu's own port."""
        if not peers or not peers <= self.client_ports:
            raise BenchError("%s via %s: the client's TCP peers were ports %s, expected only %s (Tansu is on %d)"
                             % (what, self.name, sorted(peers), sorted(self.client_ports), self.tansu_port))

    def cpu(self):
        return None if self.forwarder is None else tree_cpu_seconds(self.forwarder.pid)

    def settle(self, timeout=3.0):
        """After a client closed: wait until socat's per-connection children have exited (and been reaped),
        so that their CPU time sits in the parent's cutime/cstime. Kafkascope and HAProxy have no children."""
        if self.forwarder is None:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and live_children(self.forwarder.pid):
            time.sleep(0.05)

    def stop(self):
        for proc in (self.forwarder, self.tls_broker, self.tansu):
            if proc is not None:
                self.procs.stop(proc)

    def tls_summary(self):
        """For the TLS paths (call after stop()): the TLS version/cipher the forwarder chose for a client, and
        what the TLS broker logged for the forwarder's own connections."""
        if self.tls_broker is None:
            return {}
        name = self.tls_broker.bench_name
        upstream = haproxy_log_ciphers(self.tls_broker.bench_log, self.log_offsets.get(name, 0), "fc")
        return {"tls_client": self.tls_client_side, "tls_upstream": ", ".join(upstream) or "?",
                "threads": self.forwarder_threads}


# ---------------------------------------------------------------------------------------------- workloads

def create_topics(bootstrap, topics, partitions, timeout=30, security=None):
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient(dict({"bootstrap.servers": bootstrap, "client.id": "bench-admin"}, **(security or {})))
    futures = admin.create_topics([NewTopic(t, num_partitions=partitions, replication_factor=1) for t in topics],
                                  request_timeout=timeout, operation_timeout=timeout)
    for topic, fut in futures.items():
        try:
            fut.result(timeout)
        except Exception as e:  # noqa: BLE001
            raise BenchError("creating topic %s via %s failed: %s" % (topic, bootstrap, e)) from e


class DeliveryErrors:
    def __init__(self):
        self.count, self.first = 0, None

    def __call__(self, err, msg):
        if err is not None:
            self.count += 1
            self.first = self.first or err

    def check(self, what):
        if self.count:
            raise BenchError("%s: %d deliveries failed, first: %s" % (what, self.count, self.first))


def producer(bootstrap, client_id, security=None, **extra):
    from confluent_kafka import Producer
    config = {"bootstrap.servers": bootstrap, "client.id": client_id, "acks": "all",
              "compression.type": "none", "enable.idempotence": False,
              "linger.ms": 5, "batch.size": 1000000,
              "queue.buffering.max.messages": 200000, "queue.buffering.max.kbytes": 512 * 1024,
              "message.timeout.ms": 60000, "request.timeout.ms": 30000,
              "delivery.report.only.error": True}  # no per-record Python callback unless it failed
    config.update(security or {})
    config.update(extra)
    return Producer(config)


def flush_all(p, timeout, what):
    left = p.flush(timeout)
    if left:
        raise BenchError("%s: %d records still unacknowledged after %.0f s" % (what, left, timeout))


def run_produce(bootstrap, topic, warm_topic, values, records, timeout, security=None):
    """Throughput of `records` records of len(values[0]) bytes, from the first produce() to the flush that
    acknowledges the last one. The connection is warmed up first (on another topic)."""
    errors = DeliveryErrors()
    p = producer(bootstrap, "bench-producer", security)
    try:
        for i in range(100):
            p.produce(warm_topic, value=values[i % len(values)], on_delivery=errors)
        flush_all(p, 30, "produce warm-up")
        errors.check("produce warm-up")
        n_values = len(values)
        deadline = time.monotonic() + timeout
        t0 = time.perf_counter()
        for i in range(records):
            v = values[i % n_values]
            while True:
                try:
                    p.produce(topic, value=v, on_delivery=errors)
                    break
                except BufferError:  # the local queue is full: serve delivery reports, retry
                    p.poll(0.005)
                    if time.monotonic() > deadline:
                        raise BenchError("produce: timed out after %.0f s at record %d" % (timeout, i))
            if i % 1000 == 0:
                p.poll(0)
        flush_all(p, max(1.0, deadline - time.monotonic()), "produce")
        elapsed = time.perf_counter() - t0
        errors.check("produce")
        peers = own_tcp_peer_ports()
    finally:
        p.flush(5)
    return elapsed, peers


def run_consume(bootstrap, topic, partitions, expected_records, expected_bytes, timeout, security=None):
    """Throughput of reading the whole topic from the beginning with assign(), from assign() to the last
    record. Metadata and the connection are set up first with list_topics()."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "client.id": "bench-consumer",
                  "group.id": "bench-%s" % uuid.uuid4().hex[:8], "enable.auto.commit": False,
                  "enable.partition.eof": False, "auto.offset.reset": "earliest", **(security or {})})
    try:
        md = c.list_topics(topic, timeout=20)
        if md.topics.get(topic) is None or md.topics[topic].error is not None:
            raise BenchError("consume: topic %s not in metadata: %s" % (topic, md.topics.get(topic)))
        count = size = 0
        deadline = time.monotonic() + timeout
        t0 = time.perf_counter()
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        while count < expected_records:
            if time.monotonic() > deadline:
                raise BenchError("consume: only %d of %d records after %.0f s" % (count, expected_records, timeout))
            for msg in c.consume(num_messages=10000, timeout=1.0):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise BenchError("consume: %s" % err)
                count += 1
                size += len(msg.value())
        elapsed = time.perf_counter() - t0
        peers = own_tcp_peer_ports()
    finally:
        c.close()
    if count != expected_records or size != expected_bytes:
        raise BenchError("consume: read %d records / %d bytes, expected %d / %d"
                         % (count, size, expected_records, expected_bytes))
    return elapsed, peers


def run_latency(bootstrap, topic, value, samples, warmup, timeout, security=None):
    """Milliseconds of produce() + flush() for one record at a time, acks=all, linger.ms=0."""
    errors = DeliveryErrors()
    p = producer(bootstrap, "bench-latency", security, **{"linger.ms": 0})
    out = []
    deadline = time.monotonic() + timeout
    try:
        for i in range(warmup + samples):
            t0 = time.perf_counter_ns()
            p.produce(topic, value=value, on_delivery=errors)
            left = p.flush(10)
            t1 = time.perf_counter_ns()
            if left:
                raise BenchError("latency: record %d not acknowledged within 10 s" % i)
            if i >= warmup:
                out.append((t1 - t0) / 1e6)
            if time.monotonic() > deadline:
                raise BenchError("latency: timed out after %.0f s at sample %d" % (timeout, i))
        errors.check("latency")
    finally:
        p.flush(5)
    return out


def percentile(xs, q):
    """Nearest-rank percentile."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(round(q / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def bench_path(path, args, values):
    r = {"path": path.name}
    suffix = uuid.uuid4().hex[:8]
    topic, lat_topic = "bench-%s" % suffix, "latency-%s" % suffix
    create_topics(path.bootstrap, [topic, lat_topic], args.partitions, security=path.client_config)
    total_bytes = args.records * args.record_bytes

    path.settle()
    cpu0 = path.cpu()
    busy0, ours0, wall0 = machine_busy_seconds(), tree_cpu_seconds(os.getpid()), time.monotonic()
    r["produce_s"], peers = run_produce(path.bootstrap, topic, lat_topic, values, args.records,
                                        args.phase_timeout, path.client_config)
    path.check_peers(peers, "produce")
    path.settle()
    cpu1 = path.cpu()
    path.check()
    r["produce_mbs"] = total_bytes / MB / r["produce_s"]
    log("%s: produced %d x %d B in %.2f s = %.1f MB/s" % (path.name, args.records, args.record_bytes,
                                                          r["produce_s"], r["produce_mbs"]))

    r["consume_s"], peers = run_consume(path.bootstrap, topic, args.partitions, args.records, total_bytes,
                                        args.phase_timeout, path.client_config)
    path.check_peers(peers, "consume")
    path.settle()
    cpu2 = path.cpu()
    path.check()
    r["consume_mbs"] = total_bytes / MB / r["consume_s"]
    log("%s: consumed in %.2f s = %.1f MB/s" % (path.name, r["consume_s"], r["consume_mbs"]))

    lat = run_latency(path.bootstrap, lat_topic, values[0], args.latency_samples, args.latency_warmup,
                      args.phase_timeout, path.client_config)
    path.settle()
    cpu3 = path.cpu()
    busy1, ours1, wall1 = machine_busy_seconds(), tree_cpu_seconds(os.getpid()), time.monotonic()
    path.check()
    # CPU used on the machine by processes other than this one and its children (Tansu, the forwarder):
    # anything else running at the same time, in cores on average. High values mean a disturbed measurement.
    r["other_cores"] = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / (wall1 - wall0)
    r["p50"], r["p99"] = percentile(lat, 50), percentile(lat, 99)
    r["mean"], r["max"] = statistics.fmean(lat), max(lat)
    log("%s: latency p50 %.3f ms, p99 %.3f ms, max %.3f ms (%d samples); other processes used %.2f cores"
        % (path.name, r["p50"], r["p99"], r["max"], len(lat), r["other_cores"]))

    if cpu0 is not None:
        r["cpu_produce_s"], r["cpu_consume_s"] = cpu1 - cpu0, cpu2 - cpu1
        r["cpu_latency_s"] = cpu3 - cpu2
        r["cpu_produce_per_gb"] = r["cpu_produce_s"] / (total_bytes / GB)
        r["cpu_consume_per_gb"] = r["cpu_consume_s"] / (total_bytes / GB)
        r["cpu_per_gb"] = (r["cpu_produce_s"] + r["cpu_consume_s"]) / (2 * total_bytes / GB)
        r["cpu_latency_ms_per_req"] = r["cpu_latency_s"] * 1000 / (args.latency_samples + args.latency_warmup)
        log("%s: forwarder CPU %.2f s produce, %.2f s consume, %.2f s latency phase"
            % (path.name, r["cpu_produce_s"], r["cpu_consume_s"], r["cpu_latency_s"]))
    return r


# ---------------------------------------------------------------------------------------------- report

NUMERIC = ("produce_mbs", "consume_mbs", "p50", "p99", "mean", "max", "cpu_produce_per_gb", "cpu_consume_per_gb",
           "cpu_per_gb", "cpu_latency_ms_per_req", "other_cores")


def median_of_rounds(name, rounds):
    """One row per path: the median over rounds of every figure."""
    row = {"path": name, "rounds": len(rounds)}
    for key in NUMERIC:
        xs = [r[key] for r in rounds if r.get(key) is not None]
        row[key] = statistics.median(xs) if xs else None
    return row


def comparison_row(label, r, base):
    """A Markdown row: r's throughput and CPU/GB over base's (×), and its latency minus base's (ms)."""
    def q(key):
        a, b = r.get(key), base.get(key)
        return "—" if a is None or b is None or b == 0 else "%.3f×" % (a / b)

    def d(key):
        return "%+.3f ms" % (r[key] - base[key])
    return "| %s | %s | %s | %s | %s | %s | %s | %s |" % (
        label, q("produce_mbs"), q("consume_mbs"), d("p50"), d("p99"),
        q("cpu_produce_per_gb"), q("cpu_consume_per_gb"), q("cpu_per_gb"))


TLS_CPU_TARGET = 1.3  # kafkascope-tls CPU/GB at most this many times haproxy-tls's


def tls_report(per_path, by, args):
    """kafkascope-tls against kafkascope (plaintext) and haproxy-tls (the blind TLS-terminating forwarder), the
    forwarders' thread counts and negotiated ciphers, and the TLS target's verdict."""
    kt, ht = by.get("kafkascope-tls"), by.get("haproxy-tls")
    if kt is None and ht is None:
        return []
    lines = ["TLS to TLS: client =TLS=> forwarder =TLS=> TLS broker (HAProxy, `mode tcp`) -> Tansu; forwarder CPU is "
             "the forwarder's process tree only, the TLS broker's is not counted. HAProxy (forwarder and TLS broker): "
             + ("nbthread %d (--haproxy-threads)." % args.haproxy_threads if args.haproxy_threads
                else "default nbthread (one thread per CPU)."), ""]
    lines.append("| TLS path | forwarder threads | client ⇄ forwarder | forwarder ⇄ TLS broker |")
    lines.append("|---|---:|---|---|")
    for name in TLS_PATHS:
        rounds = per_path.get(name) or []
        if not rounds:
            continue

        def distinct(key):
            seen = []
            for r in rounds:
                for v in str(r.get(key) or "?").split(", "):
                    if v not in seen:
                        seen.append(v)
            return ", ".join(seen)
        lines.append("| %s | %s | %s | %s |" % (name, distinct("threads"), distinct("tls_client"),
                                                distinct("tls_upstream")))
    lines.append("")
    bases = [(label, by.get(name)) for label, name in (("kafkascope (plaintext, same run)", "kafkascope"),
                                                       ("haproxy-tls", "haproxy-tls"))]
    bases = [(label, base) for label, base in bases if base is not None]
    if kt is not None and bases:
        lines.append("| kafkascope-tls vs | produce | consume | p50 | p99 | CPU/GB produce | CPU/GB consume | "
                     "CPU/GB both |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for label, base in bases:
            lines.append(comparison_row(label, kt, base))
        lines.append("")
    if kt is not None and ht is not None:
        lines.append("TLS target%s:" % (" (medians)" if args.rounds > 1 else ""))
        if kt.get("cpu_per_gb") is not None and ht.get("cpu_per_gb"):
            ratio = kt["cpu_per_gb"] / ht["cpu_per_gb"]
            lines.append("- kafkascope-tls CPU/GB ≤ %.1f× haproxy-tls: %.2f× (produce %s, consume %s; %.2f against "
                         "%.2f CPU s/GB): **%s**"
                         % (TLS_CPU_TARGET, ratio,
                            fmt_ratio(kt.get("cpu_produce_per_gb"), ht.get("cpu_produce_per_gb")),
                            fmt_ratio(kt.get("cpu_consume_per_gb"), ht.get("cpu_consume_per_gb")),
                            kt["cpu_per_gb"], ht["cpu_per_gb"], "met" if ratio <= TLS_CPU_TARGET else "missed"))
        else:
            lines.append("- kafkascope-tls CPU/GB ≤ %.1f× haproxy-tls: not measured (no CPU reading)"
                         % TLS_CPU_TARGET)
    return lines


def fmt_ratio(a, b):
    return "—" if a is None or not b else "%.2f×" % (a / b)


def report(per_path, args, wall):
    results = [median_of_rounds(name, rounds) for name, rounds in per_path.items() if rounds]
    by = {r["path"]: r for r in results}
    total_mb = args.records * args.record_bytes / MB
    lines = []
    lines.append("Records: %d x %d B = %.1f MB per path and round, %d partition(s), acks=all, no compression; "
                 "latency: %d synchronous produces after %d warm-up; %d round(s)%s; wall time %.0f s."
                 % (args.records, args.record_bytes, total_mb, args.partitions, args.latency_samples,
                    args.latency_warmup, args.rounds, ", medians shown" if args.rounds > 1 else "", wall)
                 + (" socat -b %d." % args.socat_block_size if args.socat_block_size else ""))
    lines.append("")
    lines.append("| path | produce MB/s | consume MB/s | latency p50 ms | latency p99 ms | forwarder CPU s/GB "
                 "produce | forwarder CPU s/GB consume | forwarder CPU s/GB both | forwarder CPU ms/sync produce |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["path"], fmt(r["produce_mbs"], ".1f"), fmt(r["consume_mbs"], ".1f"), fmt(r["p50"], ".3f"),
            fmt(r["p99"], ".3f"), fmt(r.get("cpu_produce_per_gb"), ".2f"), fmt(r.get("cpu_consume_per_gb"), ".2f"),
            fmt(r.get("cpu_per_gb"), ".2f"), fmt(r.get("cpu_latency_ms_per_req"), ".3f")))
    lines.append("")

    def ratio_rows(base_name):
        base = by.get(base_name)
        if base is None:
            return
        lines.append("| vs %s | produce | consume | p50 | p99 | CPU/GB produce | CPU/GB consume | CPU/GB both |"
                     % base_name)
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in results:
            if r is base:
                continue
            lines.append(comparison_row(r["path"], r, base))
        lines.append("")

    ratio_rows("direct")
    ratio_rows("socat")
    ratio_rows("kafkascope-no-metrics")

    if args.rounds > 1:
        lines.append("Every round (paths run in a rotated order each round):")
        lines.append("")
        lines.append("| round | path | produce MB/s | consume MB/s | p50 ms | p99 ms | max ms | CPU s/GB produce | "
                     "CPU s/GB consume | other load, cores |")
        lines.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        rows = sorted((r["round"], r["order"], r) for rounds in per_path.values() for r in rounds)
        for rnd, _, r in rows:
            lines.append("| %d | %s | %.1f | %.1f | %.3f | %.3f | %.3f | %s | %s | %.2f |" % (
                rnd + 1, r["path"], r["produce_mbs"], r["consume_mbs"], r["p50"], r["p99"], r["max"],
                fmt(r.get("cpu_produce_per_gb"), ".2f"), fmt(r.get("cpu_consume_per_gb"), ".2f"),
                r["other_cores"]))
        lines.append("")

    ks, direct, socat = by.get("kafkascope"), by.get("direct"), by.get("socat")
    bare = by.get("kafkascope-no-metrics")
    if ks and direct:
        lines.append("Targets%s:" % (" (medians)" if args.rounds > 1 else ""))
        lines.append("- kafkascope throughput vs direct ≥ 95%%: produce %.1f%%, consume %.1f%%"
                     % (100 * ks["produce_mbs"] / direct["produce_mbs"],
                        100 * ks["consume_mbs"] / direct["consume_mbs"]))
        lines.append("- kafkascope p99 − direct p99 ≤ 0.5 ms: %+.3f ms" % (ks["p99"] - direct["p99"]))
    if ks and socat and socat.get("cpu_per_gb"):
        lines.append("- kafkascope CPU/GB ÷ socat CPU/GB ≤ 1.5×: %.2f× (produce %.2f×, consume %.2f×)"
                     % (ks["cpu_per_gb"] / socat["cpu_per_gb"],
                        ks["cpu_produce_per_gb"] / socat["cpu_produce_per_gb"],
                        ks["cpu_consume_per_gb"] / socat["cpu_consume_per_gb"]))
    if ks and bare:
        lines.append("- metrics cost < 5%% of throughput (kafkascope vs kafkascope --no-metrics): produce %.1f%%, "
                     "consume %.1f%%; CPU/GB %.2f×"
                     % (100 * (1 - ks["produce_mbs"] / bare["produce_mbs"]),
                        100 * (1 - ks["consume_mbs"] / bare["consume_mbs"]),
                        ks["cpu_per_gb"] / bare["cpu_per_gb"] if bare.get("cpu_per_gb") else float("nan")))
    tls = tls_report(per_path, by, args)
    if tls:
        if lines[-1] != "":
            lines.append("")
        lines.extend(tls)
    print("\n".join(lines), flush=True)


# ---------------------------------------------------------------------------------------------- main

PATHS = ("direct", "socat", "kafkascope", "kafkascope-no-metrics", "kafkascope-tls", "haproxy-tls")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=150000, help="records per path for the throughput phases "
                    "(default 150000, i.e. ~154 MB of 1 KiB records)")
    ap.add_argument("--record-bytes", type=int, default=1024, help="value size in bytes (default 1024)")
    ap.add_argument("--latency-samples", type=int, default=2000, help="timed synchronous produces (default 2000)")
    ap.add_argument("--latency-warmup", type=int, default=200, help="untimed synchronous produces first (200)")
    ap.add_argument("--partitions", type=int, default=1, help="partitions per topic (default 1)")
    ap.add_argument("--rounds", type=int, default=5, help="repeat every path this many times, rotating the "
                    "order, and report medians (default 5)")
    ap.add_argument("--kafkascope", default=str(REPO / ".build" / "release" / "kafkascope"),
                    help="kafkascope binary (default .build/release/kafkascope)")
    ap.add_argument("--socat-block-size", type=int, default=None, help="pass -b N to socat (default: socat's "
                    "own, 8192 bytes per read/write)")
    ap.add_argument("--paths", default=",".join(PATHS), help="comma-separated subset, in run order (default %s)"
                    % ",".join(PATHS))
    ap.add_argument("--haproxy-threads", type=int, default=None, help="nbthread for both HAProxies of the TLS paths "
                    "(default: HAProxy's own, one thread per CPU)")
    ap.add_argument("--phase-timeout", type=float, default=120.0, help="seconds any one phase may take (120)")
    ap.add_argument("--keep-logs", action="store_true", help="keep the broker/forwarder logs directory")
    args = ap.parse_args()
    if min(args.records, args.latency_samples, args.record_bytes, args.partitions, args.rounds) < 1:
        ap.error("--records, --record-bytes, --latency-samples, --partitions and --rounds must be positive")
    if args.latency_warmup < 0:
        ap.error("--latency-warmup must not be negative")
    if args.haproxy_threads is not None and args.haproxy_threads < 1:
        ap.error("--haproxy-threads must be positive")
    names = [n.strip() for n in args.paths.split(",") if n.strip()]
    bad = [n for n in names if n not in PATHS]
    if bad or not names or len(set(names)) != len(names):
        ap.error("--paths: give each of %s at most once (got %s)" % (", ".join(PATHS), args.paths))

    components = find_components(args, names)
    # SIGTERM / SIGHUP -> SystemExit, so the finally below stops every process
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda s, f: sys.exit(128 + s))

    rng = random.Random(1)
    values = [rng.randbytes(args.record_bytes) for _ in range(64)]  # incompressible payloads
    logdir = tempfile.mkdtemp(prefix="proxy_bench-")
    procs = Processes(logdir)
    ports = set()
    per_path, ok = {name: [] for name in names}, False
    start = time.monotonic()
    log("logs in %s; %s" % (logdir, "; ".join("%s %s" % (k, v) for k, v in components.items() if v)))
    tls_dir = tls = None
    try:
        if any(n in TLS_PATHS for n in names):
            tls_dir = tempfile.mkdtemp(prefix="proxy_bench-tls-")  # throwaway CA and keys, deleted at the end
            tls = TLSMaterial(components["openssl"], tls_dir)
            log("TLS material (test CA, server certificate for 127.0.0.1) in %s" % tls_dir)
        for rnd in range(args.rounds):
            order = names[rnd % len(names):] + names[:rnd % len(names)]
            log("round %d of %d: %s" % (rnd + 1, args.rounds, ", ".join(order)))
            for pos, name in enumerate(order):
                path = Path_(name, procs, components, ports, tls=tls, haproxy_threads=args.haproxy_threads)
                path.socat_block_size = args.socat_block_size
                try:
                    path.start()
                    r = bench_path(path, args, values)
                finally:
                    path.stop()
                r.update(path.tls_summary())
                r["round"], r["order"] = rnd, pos
                per_path[name].append(r)
        ok = True
    finally:
        procs.stop_all()
        if tls_dir is not None:
            shutil.rmtree(tls_dir, ignore_errors=True)
        if ok and not args.keep_logs:
            shutil.rmtree(logdir, ignore_errors=True)
        elif not ok:
            log("logs kept in %s" % logdir)
    report(per_path, args, time.monotonic() - start)


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        print("proxy_bench: error: %s" % e, file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("proxy_bench: interrupted", file=sys.stderr)
        sys.exit(130)
