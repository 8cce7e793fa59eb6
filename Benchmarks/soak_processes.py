"""Starting the soak's processes (Benchmarks/soak.py): moto, Tansu, the kafkascope proxy and the clients
(Benchmarks/soak_clients.py), the clients' reports, and the group's assignments from the consumers' logs."""
import collections
import contextlib
import json
import os
import shutil
import sys
import time
import urllib.request

from soak_common import CLIENT_KINDS, CLIENTS, SoakError, bs
from soak_records import Tail


class SoakProcesses:
    """Soak's components (a mixin of soak.Soak, whose __init__ sets the state these methods use)."""


    # ------------------------------------------------------------------ components

    def now(self):
        return time.monotonic() - self.t0 if self.t0 else 0.0

    def start_moto(self):
        port = bs.port_block([0], self.taken)
        moto = shutil.which("moto_server")
        argv = [moto, "-H", bs.HOST, "-p", str(port)] if moto else [sys.executable, "-m", "moto.server", "-H", bs.HOST,
                                                                     "-p", str(port)]
        self.moto = self.procs.spawn("moto", argv)
        self.procs.wait_port(self.moto, port, 30)
        request = urllib.request.Request("http://%s:%d/tansu" % (bs.HOST, port), method="PUT")
        with urllib.request.urlopen(request, timeout=10) as answer:
            if answer.status != 200:
                raise SoakError("moto: creating bucket tansu answered %d" % answer.status)
        self.moto_port = port

    def tansu_argv(self):
        env = []
        if self.o.storage == "s3":
            env = ["env", "AWS_ENDPOINT=http://%s:%d" % (bs.HOST, self.moto_port), "AWS_ACCESS_KEY_ID=soak",
                   "AWS_SECRET_ACCESS_KEY=soak", "AWS_DEFAULT_REGION=us-east-1", "AWS_ALLOW_HTTP=true"]
        storage = "s3://tansu/" if self.o.storage == "s3" else "memory://tansu/"
        return env + [self.tansu_bin, "broker", "--listener-url", "tcp://%s:%d" % (bs.HOST, self.tansu_port),
                      "--advertised-listener-url", "tcp://%s:%d" % (bs.HOST, self.relay.port),
                      "--storage-engine", storage]

    def start_tansu(self):
        deadline = time.monotonic() + 20
        while True:  # after a stop the port may take a moment to be bindable again
            self.tansu = self.procs.spawn("tansu", self.tansu_argv())
            try:
                self.procs.wait_port(self.tansu, self.tansu_port, max(1, deadline - time.monotonic()))
                return
            except bs.BenchError:
                if self.tansu.poll() is None or time.monotonic() > deadline:
                    raise
                self.procs.forget(self.tansu)
                time.sleep(0.3)

    def start_proxy(self):
        self.proxy_generation += 1
        strip = [x for k in os.environ if k.startswith("KAFKASCOPE_") for x in ("-u", k)]
        argv = ["env"] + strip + [
            self.kafkascope, "proxy", "--bootstrap-server", "%s:%d" % (bs.HOST, self.relay.port),
            "--listen", "%s:%d" % (bs.HOST, self.listen_port), "--broker-port-base", str(self.listen_port + 1),
            "--metrics-listen", "%s:%d" % (bs.HOST, self.metrics_port), "--drain-timeout", str(self.o.drain_timeout),
            "--max-frame-bytes", str(self.o.max_frame_bytes), "--log-level", "info"]
        if self.o.record:
            argv += ["--record", str(self.logdir / ("kafkascope-%d.pcap" % self.proxy_generation))]
        deadline = time.monotonic() + 30
        while True:  # the ports of the previous generation may linger for a moment
            proc = self.procs.spawn("kafkascope-%d" % self.proxy_generation, argv)
            try:
                self.procs.wait_port(proc, self.listen_port, max(1, deadline - time.monotonic()))
                self.procs.wait_port(proc, self.metrics_port, max(1, deadline - time.monotonic()))
                break
            except bs.BenchError:
                if proc.poll() is None or time.monotonic() > deadline:
                    raise
                self.procs.forget(proc)
                time.sleep(0.3)
        self.proxy = proc
        self.metrics.new_generation(self.metrics_port)
        self.metrics.scrape()

    def spawn_client(self, role, proc_name, **o):
        out = open(self.logdir / ("%s.report" % proc_name), "wb")
        err = open(self.logdir / ("%s.log" % proc_name), "wb")
        try:
            proc = self.procs.spawn(proc_name, [sys.executable, CLIENTS, role, json.dumps(o)], stdout=out, stderr=err)
        finally:
            out.close()
            err.close()
        proc.soak_role, proc.soak_name = role, proc_name
        return proc

    def client_report(self, proc):
        """The client's JSON report, with what its librdkafka logged: disconnections (FAIL) and, for producers,
        batches the broker answered DUPLICATE_SEQUENCE_NUMBER (DUPSEQ, with debug=eos)."""
        try:
            lines = (self.logdir / ("%s.report" % proc.soak_name)).read_text().strip().splitlines()
            report = json.loads(lines[-1]) if lines else None
        except (OSError, ValueError):
            return None
        if report is not None and report.get("client") == "confluent-kafka":
            log = collections.Counter()
            with contextlib.suppress(OSError), open(self.logdir / ("%s.log" % proc.soak_name), errors="replace") as f:
                for line in f:
                    if line.startswith("%"):
                        parts = line.split("|", 4)
                        if len(parts) > 3:
                            log[parts[2]] += 1
            report["librdkafka log"] = {"disconnected (FAIL)": log["FAIL"],
                                        "duplicate sequence (DUPSEQ)": log["DUPSEQ"]}
        return report

    def killed_report(self, proc):
        """For a member killed before it could report: what its record file holds."""
        with open(self.logdir / ("%s.records" % proc.soak_name), "rb") as f:
            records = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
        return {"client": CLIENT_KINDS[proc.soak_kind], "records": records}

    def start_consumer(self, kind):
        name = "consumer-%d" % (len(self.consumers) + 1)
        path = self.logdir / ("%s.records" % name)
        proc = self.spawn_client("consumer-" + kind, name, bootstrap=self.bootstrap, topic=self.topic,
                                 group=self.group, name=name, out=str(path),
                                 session_timeout_ms=self.o.session_timeout_ms)
        proc.soak_kind = kind
        self.consumers.append(proc)
        self.consume_tails.append(Tail(path))
        return proc

    def assigned(self):
        """{consumer name: partitions of its latest assignment} from the consumers' logs."""
        out = {}
        for proc in self.consumers:
            if proc.poll() is not None or proc.pid in self.stopped:
                continue
            parts = None
            with contextlib.suppress(OSError):
                for line in (self.logdir / ("%s.log" % proc.soak_name)).read_text(errors="replace").splitlines():
                    if "] assigned [" in line:
                        parts = json.loads(line.split("] assigned ", 1)[1])
                    elif "] revoked [" in line:
                        parts = []
            out[proc.soak_name] = parts or []
        return out

    def wait_group_assigned(self, timeout, members=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.assigned()
            parts = sorted(p for ps in got.values() for p in ps)
            if parts == list(range(self.o.partitions)) and (members is None or sum(1 for ps in got.values() if ps)
                                                            >= min(members, self.o.partitions)):
                return got
            self.check_alive()
            time.sleep(0.5)
        raise SoakError("the group did not assign all %d partitions within %.0f s: %s"
                        % (self.o.partitions, timeout, self.assigned()))
