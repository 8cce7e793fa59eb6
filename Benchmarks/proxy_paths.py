"""proxy_bench's paths: the seven ways of reaching a broker, each with its own fresh Tansu and the forwarder under
test (and, for the TLS paths, the TLS broker)."""
import time

from bench_support import HOST, BenchError, descendants, logger, port_block, proc_status, start_tansu, tree_cpu_seconds
from proxy_tls import haproxy_config, haproxy_log_ciphers, tls_probe

log = logger("proxy_bench")
PATHS = ("direct", "haproxy", "socat", "kafkascope", "kafkascope-no-metrics", "kafkascope-tls", "haproxy-tls")
# Not run unless named: the `kafkascope` path with another build (--baseline), for before/after comparisons, and
# with the exchange log on (written to a file in the log folder), for what the log costs.
EXTRA_PATHS = ("kafkascope-baseline", "kafkascope-exchange-log")
TLS_PATHS = ("kafkascope-tls", "haproxy-tls")
HAPROXY_PATHS = ("haproxy",) + TLS_PATHS  # the paths that run HAProxy: as the forwarder, or as the TLS broker
TANSU_NODE_ID = 111  # Tansu's fixed broker node id


class Path_:
    """One way of reaching a broker: its own fresh Tansu, and optionally a forwarder in front of it (and, for the
    TLS paths, the TLS broker between the two)."""

    def __init__(self, name, procs, components, ports, tls=None, haproxy_threads=None):
        self.name, self.procs = name, procs
        self.tansu_bin, self.socat_bin = components["tansu"], components["socat"]
        self.kafkascope_bin, self.haproxy_bin = components["kafkascope"], components["haproxy"]
        self.baseline_bin = components.get("baseline")
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
        self.tansu = start_tansu(self.procs, "%s-tansu" % self.name, self.tansu_bin, port, advertised_port)
        self.tansu_port = port

    def _start_behind_forwarder(self):
        """For a forwarder that does not rewrite broker addresses (socat, HAProxy): a Tansu advertising the
        forwarder's port, so that clients bootstrapping through it connect to the "broker" there again. Returns
        (Tansu's port, the forwarder's port)."""
        tansu_port, front = port_block([0], self.ports), port_block([0], self.ports)
        self._start_tansu(tansu_port, front)
        return tansu_port, front

    def _clients_at(self, port, *others):
        """Clients bootstrap at `port` and may connect to it and to `others` (the proxy's per-broker ports)."""
        self.bootstrap = "%s:%d" % (HOST, port)
        self.client_ports = {port, *others}

    def _start_haproxy(self, name, listen_port, server_port, pem=None, upstream_ca=None):
        """An HAProxy of haproxy_config(), run in the foreground (-db: one process, its threads inside it)."""
        cfg = self.procs.logdir / ("%s.cfg" % name)
        cfg.write_text(haproxy_config(listen_port, server_port, self.haproxy_threads, pem, upstream_ca))
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
        self.tls_broker = self._start_haproxy("%s-broker" % self.name, tls_port, tansu_port, self.tls.pem)

    def start(self):
        if self.name == "direct":
            port = port_block([0], self.ports)
            self._start_tansu(port, port)
            self._clients_at(port)
        elif self.name == "haproxy":
            # A blind forwarder like socat, but HAProxy's event loop and threads: `mode tcp`, plain TCP.
            tansu_port, front = self._start_behind_forwarder()
            self.forwarder = self._start_haproxy(self.name, front, tansu_port)
            self._clients_at(front)
        elif self.name == "socat":
            tansu_port, socat_port = self._start_behind_forwarder()
            block = ["-b", str(self.socat_block_size)] if self.socat_block_size else []
            self.forwarder = self.procs.spawn("socat", [self.socat_bin] + block + [
                "TCP-LISTEN:%d,bind=%s,fork,reuseaddr,nodelay" % (socat_port, HOST),
                "TCP:%s:%d,nodelay" % (HOST, tansu_port)])
            self.procs.wait_port(self.forwarder, socat_port, 10)
            self._clients_at(socat_port)
        elif self.name in ("kafkascope", "kafkascope-no-metrics", "kafkascope-baseline", "kafkascope-exchange-log"):
            tansu_port = port_block([0], self.ports)
            self._start_tansu(tansu_port, tansu_port)
            listen = port_block([0, 1 + TANSU_NODE_ID], self.ports)  # broker 111 -> listen + 1 + 111
            if self.name != "kafkascope-no-metrics":
                metrics = ["--metrics-listen", "%s:%d" % (HOST, port_block([0], self.ports))]
            else:
                metrics = ["--no-metrics"]  # forwarding and rewriting only: the baseline for what metrics cost
            if self.name == "kafkascope-exchange-log":
                metrics += ["--exchange-log", str(self.procs.logdir / "exchanges.jsonl")]
            binary = self.baseline_bin if self.name == "kafkascope-baseline" else self.kafkascope_bin
            self.forwarder = self.procs.spawn(self.name, [
                binary, "proxy", "--bootstrap-server", "%s:%d" % (HOST, tansu_port),
                "--listen", "%s:%d" % (HOST, listen), "--log-level", "warning"] + metrics)
            self.procs.wait_port(self.forwarder, listen, 20)
            self._clients_at(listen, listen + 1 + TANSU_NODE_ID)
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
            self._clients_at(listen, listen + 1 + TANSU_NODE_ID)
        elif self.name == "haproxy-tls":
            # HAProxy does not rewrite broker addresses (like socat), so Tansu advertises HAProxy's port.
            tls_port, front = port_block([0], self.ports), port_block([0], self.ports)
            self._start_tls_broker(tls_port, front)
            self.forwarder = self._start_haproxy(self.name, front, tls_port, self.tls.pem, self.tls.ca)
            self._clients_at(front)
        else:
            raise ValueError(self.name)
        if self.name in TLS_PATHS:
            self.client_config = self.tls.client_config()
            self.tls_client_side = tls_probe(int(self.bootstrap.rsplit(":", 1)[1]), self.tls.ca, self.name)
        if self.name in HAPROXY_PATHS:  # its thread count is shown in the report
            self.forwarder_threads = proc_status(self.forwarder.pid, "Threads")
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
        while time.monotonic() < deadline and descendants(self.forwarder.pid):
            time.sleep(0.05)

    def stop(self):
        for proc in (self.forwarder, self.tls_broker, self.tansu):
            if proc is not None:
                self.procs.stop(proc)

    def summary(self):
        """Call after stop(): the forwarder's thread count where it is shown (HAProxy, the TLS paths), and for the
        TLS paths the TLS version/cipher the forwarder chose for a client and what the TLS broker logged for the
        forwarder's own connections."""
        out = {"threads": self.forwarder_threads} if self.forwarder_threads is not None else {}
        if self.tls_broker is not None:
            name = self.tls_broker.bench_name
            upstream = haproxy_log_ciphers(self.tls_broker.bench_log, self.log_offsets.get(name, 0), "fc")
            out.update(tls_client=self.tls_client_side, tls_upstream=", ".join(upstream) or "?")
        return out
