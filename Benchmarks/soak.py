#!/usr/bin/env python3
"""Kafkascope soak (issue 18): records with keys and headers through the proxy in front of Tansu, from
confluent-kafka and kafka-python producers (acks=all, idempotence on), read by a consumer group that commits, while
faults are injected; then every acknowledged record is looked for in what the group read.

  producers (processes) --\                      /-- fault relay (resets, delays) -- Tansu (memory, or s3 on moto)
  consumers (processes) ---+-- kafkascope proxy -+
  hostile client (process)/

Faults (--faults, comma-separated, `all` or `none`):
  proxy-restart   SIGTERM to the proxy: it drains and exits; a new one starts on the same ports
  relay           between proxy and broker, while the producers run: every second each open connection is reset
                  (RST both ways) with probability --reset-percent, at a random instant of that second, and every
                  response is held 0..--max-delay s (Tests/Integration/relays.py FaultRelay)
  consumer-kill   SIGKILL to a group member; after the session timeout a new member joins
  hostile         --hostile-connections connections sending garbage, oversized frames, half frames and Produce
                  requests whose batches have valid CRCs and impossible headers, for --hostile-seconds
  consumer-stall  SIGSTOP to a group member for --stall-seconds (it reads nothing, not even its sockets), then SIGCONT
  broker-restart  SIGTERM to Tansu and a new one on the same port and storage; needs --storage s3 (the default
                  when this fault is on): Tansu's memory store forgets everything, its s3:// engine on a local
                  moto server keeps it

The timed faults run one after another, spread over --duration, during which the producers pace their records;
the relay is on from the first record to the last acknowledgement. Checks: every acknowledged record is read with
the same key, value and headers (content hash; matched by it, the offsets delivery reports name are compared too);
duplicates counted and sorted by cause; the proxy's RSS sampled every second and below --rss-limit-mb; no proxy exit
but the ones the soak asked for, each with code 0; each fault's trace in /metrics. Progress on stderr every
--progress-every s; the report table on stdout (and --json-out FILE). Exit 1 when a check fails.

  python3 Benchmarks/soak.py --kafkascope BIN [--records N] [--duration S] [--faults LIST] ...
The proxy binary: --kafkascope, else $KAFKASCOPE_BIN, else .build/release/kafkascope. The defaults are the full run
of docs/reliability.md ("Soak (issue 18)"); Tests/Integration/test_soak.py runs the CI variant through run().
"""
import argparse
import collections
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO / "Tests" / "Integration"))

import bench_support as bs  # noqa: E402
from harness import TANSU_NODE_ID, http_get, metric_series, metric_sum, parse_metrics  # noqa: E402
from relays import FaultRelay  # noqa: E402

CLIENTS = str(HERE / "soak_clients.py")
FAULTS = ("proxy-restart", "relay", "consumer-kill", "hostile", "consumer-stall", "broker-restart")
TIMED = [f for f in FAULTS if f != "relay"]
CLIENT_KINDS = {"ck": "confluent-kafka", "kp": "kafka-python"}
MB = 1 << 20


class SoakError(bs.BenchError):
    """The soak cannot go on (a component missing or failing, or the proxy crashed); the message says why."""


def parse_clients(spec, what):
    """"ck:2,kp:1" -> ["ck", "ck", "kp"]."""
    out = []
    for part in filter(None, spec.split(",")):
        kind, _, count = part.partition(":")
        if kind not in CLIENT_KINDS:
            raise SoakError("--%s: unknown client %r (ck = confluent-kafka, kp = kafka-python)" % (what, kind))
        out += [kind] * int(count or 1)
    if not out:
        raise SoakError("--%s names no client" % what)
    return out


def parse_faults(spec):
    if spec == "all":
        return list(FAULTS)
    if spec in ("none", ""):
        return []
    faults = [f.strip() for f in spec.split(",") if f.strip()]
    unknown = [f for f in faults if f not in FAULTS]
    if unknown:
        raise SoakError("unknown faults %s; known: %s" % (unknown, ", ".join(FAULTS)))
    return [f for f in FAULTS if f in faults]


def options(argv=(), **overrides):
    """The soak's options: parsed from argv (the defaults for none), then `overrides` (for test_soak.py)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--kafkascope", default=os.environ.get("KAFKASCOPE_BIN") or str(REPO / ".build/release/kafkascope"))
    p.add_argument("--records", type=int, default=1_000_000, help="records in all (default 1,000,000)")
    p.add_argument("--record-bytes", type=int, default=1024, help="value bytes per record (default 1024)")
    p.add_argument("--partitions", type=int, default=6)
    p.add_argument("--linger-ms", type=int, default=20,
                   help="producers' linger.ms (larger: fewer batches, for the s3 store on moto)")
    p.add_argument("--producers", default="ck:2,kp:1", help="ck = confluent-kafka, kp = kafka-python (ck:2,kp:1)")
    p.add_argument("--consumers", default="ck:2,kp:1", help="group members, as --producers (ck:2,kp:1)")
    p.add_argument("--faults", default=",".join(f for f in FAULTS if f != "broker-restart"),
                   help="all, none, or a list of: %s (default: all but broker-restart, which needs the s3 store)"
                   % ", ".join(FAULTS))
    p.add_argument("--duration", type=float, default=600, help="seconds the producers spread the records over")
    p.add_argument("--storage", choices=("auto", "memory", "s3"), default="auto",
                   help="Tansu's storage; auto = s3 (on moto) with broker-restart, else memory")
    p.add_argument("--reset-percent", type=float, default=1.0, help="relay: %% of open connections reset per second")
    p.add_argument("--max-delay", type=float, default=0.2, help="relay: most seconds a response is held")
    p.add_argument("--hostile-connections", type=int, default=100)
    p.add_argument("--hostile-seconds", type=float, default=30)
    p.add_argument("--hostile-interval", type=float, default=0,
                   help="mean seconds between a hostile connection's frames (0: as fast as it can)")
    p.add_argument("--stall-seconds", type=float, default=30)
    p.add_argument("--session-timeout-ms", type=int, default=45000,
                   help="consumers' session timeout; above --stall-seconds so that the stalled member stays")
    p.add_argument("--drain-timeout", type=int, default=10, help="the proxy's --drain-timeout")
    p.add_argument("--max-frame-bytes", type=int, default=8 * MB, help="the proxy's --max-frame-bytes")
    p.add_argument("--message-timeout-ms", type=int, default=300000, help="producers' delivery timeout")
    p.add_argument("--rss-limit-mb", type=float, default=512, help="the proxy's RSS must stay below this")
    p.add_argument("--catchup-timeout", type=float, default=180,
                   help="seconds the group gets, after the last acknowledgement, to read everything")
    p.add_argument("--progress-every", type=float, default=10)
    p.add_argument("--seed", type=int, default=18)
    p.add_argument("--logdir", help="where logs and record files go (default: a new temporary directory)")
    p.add_argument("--keep-logs", action="store_true", help="keep the log directory after a passing run")
    p.add_argument("--json-out", help="also write the report as JSON to this file")
    p.add_argument("--record", action="store_true",
                   help="the proxy records both legs of every connection (--record LOGDIR/kafkascope-N.pcap)")
    p.add_argument("--direct", action="store_true",
                   help="no proxy: clients use the relay directly (a self-check of the harness and the broker, as "
                        "KAFKASCOPE_DIRECT=1 in the tests); the proxy's checks are skipped")
    opts = p.parse_args(list(argv))
    for key, value in overrides.items():
        if not hasattr(opts, key):
            raise SoakError("unknown option %s" % key)
        setattr(opts, key, value)
    opts.fault_list = parse_faults(opts.faults)
    opts.producer_kinds = parse_clients(opts.producers, "producers")
    opts.consumer_kinds = parse_clients(opts.consumers, "consumers")
    if opts.storage == "auto":
        opts.storage = "s3" if "broker-restart" in opts.fault_list else "memory"
    if "broker-restart" in opts.fault_list and opts.storage != "s3":
        raise SoakError("broker-restart needs --storage s3: Tansu's memory store forgets every record on restart")
    if "consumer-stall" in opts.fault_list and opts.session_timeout_ms <= opts.stall_seconds * 1000 + 5000:
        raise SoakError("--session-timeout-ms must exceed --stall-seconds by 5 s, or the stalled member is evicted")
    return opts


# ---------------------------------------------------------------------------------------------- bookkeeping

class Tail:
    """Complete lines appended to a file since the last call."""

    def __init__(self, path):
        self.path, self.pos, self.rest = Path(path), 0, b""

    def lines(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            return []
        self.pos += len(data)
        parts = (self.rest + data).split(b"\n")
        self.rest = parts.pop()
        return parts


class Ledger:
    """Acknowledged and read records by content digest (every record's key names its producer and sequence number,
    so digests are unique), with the partition and offset each was acknowledged at and read from.

    Records are matched by digest, not by offset: after a connection reset, an idempotent producer's retried batch
    is answered DUPLICATE_SEQUENCE_NUMBER by Tansu (it was written before the reset), and librdkafka then reports
    the batch delivered at offsets counted from -1, kafka-python at -1. Such acknowledgements are counted as
    `offset misreported`; their records must still be read."""

    UNKNOWN = (1 << 40) - 1  # offset of an acknowledgement without one

    def __init__(self):
        self.acked = {}  # 16-byte digest -> partition << 40 | offset
        self.consumed = {}  # digest -> where it was first read
        self.covered = 0  # acknowledged records read at least once
        self.consumed_total = self.redelivered = self.stored_twice = 0
        self.second_copies = []  # where records stored twice were read the second time

    @property
    def acknowledged(self):
        return len(self.acked)

    @staticmethod
    def _parse(line):
        digest, partition, offset = line.split()
        offset = int(offset)
        return bytes.fromhex(digest.decode()), (int(partition) << 40) | (offset if offset >= 0 else Ledger.UNKNOWN)

    def ack(self, line):
        digest, key = self._parse(line)
        if digest not in self.acked:
            self.acked[digest] = key
            self.covered += digest in self.consumed

    def consume(self, line):
        digest, key = self._parse(line)
        self.consumed_total += 1
        first = self.consumed.get(digest)
        if first is None:
            self.consumed[digest] = key
            self.covered += digest in self.acked
        elif first == key:
            self.redelivered += 1  # the same offset read again: at-least-once across a rebalance
        else:
            self.stored_twice += 1  # the same record at another offset: written twice
            self.second_copies.append(key)

    def holes(self):
        """{partition: [first, last] of each run of offsets between the lowest and highest read that no member
        read}: where records the group skipped would sit."""
        by_partition = collections.defaultdict(list)
        for key in list(self.consumed.values()) + self.second_copies:
            by_partition[key >> 40].append(key & self.UNKNOWN)
        out = {}
        for partition, offsets in sorted(by_partition.items()):
            offsets.sort()
            runs = [[a + 1, b - 1] for a, b in zip(offsets, offsets[1:]) if b > a + 1]
            if runs:
                out[partition] = runs
        return out

    def verdict(self):
        lost = [(d, k) for d, k in self.acked.items() if d not in self.consumed]
        misreported = sum(1 for d, k in self.acked.items() if d in self.consumed and k != self.consumed[d]
                          and (k & self.UNKNOWN) != self.UNKNOWN and k >> 40 == self.consumed[d] >> 40)
        unknown = sum(1 for k in self.acked.values() if k & self.UNKNOWN == self.UNKNOWN)
        other_partition = sum(1 for d, k in self.acked.items() if d in self.consumed and k >> 40 !=
                              self.consumed[d] >> 40)
        holes = self.holes()
        return {"acknowledged": len(self.acked), "consumed_deliveries": self.consumed_total,
                "offsets never read inside the range read (holes)": holes,
                "consumed_distinct": len(self.consumed), "lost": len(lost),
                "lost, acknowledged without offset": sum(1 for d, k in lost if k & self.UNKNOWN == self.UNKNOWN),
                "lost_examples": ["%s acked at p%d@%s" % (d.hex(), k >> 40, "?" if k & self.UNKNOWN == self.UNKNOWN
                                                           else k & self.UNKNOWN) for d, k in lost[:10]],
                "read in another partition than acknowledged": other_partition,
                "acknowledged without offset": unknown, "offset misreported": misreported,
                "redelivered": self.redelivered, "stored_twice": self.stored_twice,
                "consumed_unacknowledged": sum(1 for d in self.consumed if d not in self.acked)}


class MetricsLedger:
    """/metrics of every proxy generation, the last scrape of each kept, so that counters add up across restarts."""

    def __init__(self):
        self.generations, self.lock = [], threading.Lock()
        self.failures = 0

    def new_generation(self, port):
        with self.lock:
            self.generations.append({"port": port, "last": {}, "first": None, "scrapes": 0, "closed": False,
                                     "last_at": time.monotonic()})

    def close_generation(self):
        """The current proxy has exited: what now answers on its port is the next one."""
        with self.lock:
            self.generations[-1]["closed"] = True
            self.generations[-1]["closed_at"] = time.monotonic()

    def scrape(self):
        with self.lock:
            gen = self.generations[-1] if self.generations else None
        if gen is None:
            return None
        try:
            status, _, body = http_get(gen["port"], "/metrics", timeout=3)
        except OSError:
            self.failures += 1
            return None
        if status != 200:
            self.failures += 1
            return None
        parsed = parse_metrics(body.decode())
        with self.lock:
            if gen["closed"]:
                return None
            gen["last"], gen["last_at"] = parsed, time.monotonic()
            gen["first"] = gen["first"] or parsed
            gen["scrapes"] += 1
        return parsed

    def unseen(self, times):
        """How many of these monotonic times fell after the last scrape of a proxy generation that then exited:
        whatever that proxy counted then died with it."""
        with self.lock:
            windows = [(g["last_at"], g["closed_at"]) for g in self.generations if g.get("closed_at")]
        return sum(1 for t in times for lo, hi in windows if lo < t <= hi)

    def total(self):
        """Every series summed over the generations (meaningful for counters and histograms)."""
        out = collections.Counter()
        with self.lock:
            for gen in self.generations:
                for key, value in gen["last"].items():
                    out[key] += value
        return dict(out)


def delta_by(after, before, name, label, **labels):
    """{label value: increase} for the series of `name` that grew between two totals."""
    out = collections.Counter()
    for lbls, value in metric_series(after, name, **labels).items():
        out[dict(lbls).get(label)] += value
    for lbls, value in metric_series(before, name, **labels).items():
        out[dict(lbls).get(label)] -= value
    return {k: int(v) for k, v in sorted(out.items()) if v}


def mean_ms(after, before, family, api):
    """Mean of a latency histogram's observations between two totals, in milliseconds."""
    count = metric_sum(after, family + "_count", api=api) - metric_sum(before, family + "_count", api=api)
    total = metric_sum(after, family + "_sum", api=api) - metric_sum(before, family + "_sum", api=api)
    return round(1000 * total / count, 1) if count > 0 else None


def produce_latency(after, before):
    """Produce latency seen by clients, and the broker's share of it (through the relay), means in ms."""
    return {"client side": mean_ms(after, before, "kafkascope_request_duration_seconds", "Produce"),
            "broker side": mean_ms(after, before, "kafkascope_broker_duration_seconds", "Produce")}


def slow_responses(after, before, api, seconds):
    """Responses of `api` whose broker-side latency exceeded `seconds` (a histogram bucket boundary)."""
    def above(m):
        count = metric_sum(m, "kafkascope_broker_duration_seconds_count", api=api)
        within = sum(v for lbls, v in metric_series(m, "kafkascope_broker_duration_seconds_bucket", api=api).items()
                     if float(dict(lbls)["le"]) == seconds)
        return count - within
    return int(above(after) - above(before))


# ---------------------------------------------------------------------------------------------- the run

class Soak:
    def __init__(self, opts, procs, log):
        self.o, self.procs, self.log = opts, procs, log
        self.logdir = procs.logdir
        self.taken = set()
        self.ledger, self.metrics = Ledger(), MetricsLedger()
        self.lock = threading.Lock()
        self.proxy = self.tansu = self.moto = self.relay = None
        self.proxy_generation = 0
        self.proxy_exits = []  # (generation, code, planned)
        self.proxy_restarting = threading.Event()
        self.broker_restarting = threading.Event()
        self.rss = []  # (t, generation, bytes)
        self.series = []  # (t, acked, covered, consumed deliveries)
        self.producers, self.consumers, self.hostile_procs = [], [], []
        self.ack_tails, self.consume_tails = [], []
        self.faults_done, self.current_fault = [], None
        self.fault_error = None
        self.failures = []
        self.t0 = None
        self.stopped = set()  # pids we SIGSTOPped, to SIGCONT on the way out
        self.abort = threading.Event()

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

    # ------------------------------------------------------------------ monitoring

    def check_alive(self):
        """A proxy or broker exit the soak did not ask for ends the run (and is a finding)."""
        proxy = self.proxy
        if proxy is not None and proxy.poll() is not None and not self.proxy_restarting.is_set():
            self.proxy_exits.append((self.proxy_generation, proxy.returncode, False))
            raise SoakError("kafkascope (generation %d, pid %d) exited on its own with code %s at t=%.0f s; log tail:"
                            "\n%s" % (self.proxy_generation, proxy.pid, proxy.returncode, self.now(),
                                      bs.tail(proxy.bench_log)))
        tansu = self.tansu
        if tansu is not None and tansu.poll() is not None and not self.broker_restarting.is_set():
            raise SoakError("Tansu exited on its own with code %s at t=%.0f s; log tail:\n%s"
                            % (tansu.returncode, self.now(), bs.tail(tansu.bench_log)))
        if self.fault_error is not None:
            raise self.fault_error

    def sample(self):
        """Once a second: the proxy's RSS, new record lines, the time series."""
        proxy = self.proxy
        if proxy is not None and proxy.poll() is None:
            kb = bs.proc_status(proxy.pid, "VmRSS")
            if kb is not None:
                self.rss.append((self.now(), self.proxy_generation, kb * 1024))
        for tail in self.ack_tails:
            for line in tail.lines():
                self.ledger.ack(line)
        for tail in self.consume_tails:
            for line in tail.lines():
                self.ledger.consume(line)
        self.series.append((self.now(), self.ledger.acknowledged, self.ledger.covered, self.ledger.consumed_total))

    def progress(self):
        rss = self.rss[-1][2] / MB if self.rss else 0
        m = self.metrics.generations[-1]["last"] if self.metrics.generations else {}
        fault = self.current_fault
        self.log("t=%4.0fs acked %s/%s, read %s (%s deliveries), proxy gen %d rss %.1f MiB, clients %d, relay resets "
                 "%d%s" % (self.now(), f"{self.ledger.acknowledged:,}", f"{self.o.records:,}",
                           f"{self.ledger.covered:,}",
                           f"{self.ledger.consumed_total:,}", self.proxy_generation, rss,
                           metric_sum(m, "kafkascope_connections_active", side="client"),
                           len(self.relay.resets) if self.relay else 0,
                           ", fault: %s (%.0f s in)" % (fault[0], self.now() - fault[1]) if fault else ""))

    def wait(self, seconds):
        """Sleeps in the fault thread; the main loop samples meanwhile."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.abort.wait(min(0.2, max(0, end - time.monotonic()))):
                raise SoakError("aborted")

    def gaps(self, start, end, column):
        """Longest stretch within [start, end] (soak seconds) in which column (1 = acked, 2 = read) did not grow."""
        points = [(t, row[column]) for row in self.series for t in [row[0]] if start - 1 <= t <= end + 1]
        longest, since, last = 0.0, None, None
        for t, value in points:
            if last is None or value > last:
                since = t
                last = value
            else:
                longest = max(longest, t - since)
        return round(longest, 1)

    def consumer_events(self, start, end):
        """Assignments, revocations, commit failures and errors the consumers logged within [start, end]."""
        wall0 = time.time() - self.now()
        lo, hi = time.strftime("%H:%M:%S", time.localtime(wall0 + start - 1)), \
            time.strftime("%H:%M:%S", time.localtime(wall0 + end + 1))
        counts = collections.Counter()
        for proc in self.consumers:
            with contextlib.suppress(OSError):
                for line in (self.logdir / ("%s.log" % proc.soak_name)).read_text(errors="replace").splitlines():
                    if not line.startswith("[consumer-"):
                        continue
                    stamp = line.split(" ", 2)[1].rstrip("]")
                    if lo <= stamp <= hi:
                        for word, what in (("] assigned", "assignments"), ("] revoked", "revocations"),
                                           ("commit failed", "commit failures"), ("error:", "errors"),
                                           ("poll failed", "errors")):
                            if word in line:
                                counts[what] += 1
        return dict(counts)

    # ------------------------------------------------------------------ faults

    def run_faults(self):
        timed = [f for f in TIMED if f in self.o.fault_list]
        try:
            self.wait(self.gap)
            for name in timed:
                before = self.metrics.total()
                start = self.now()
                self.current_fault = (name, start)
                self.log("fault %s: start" % name)
                detail = getattr(self, "fault_" + name.replace("-", "_"))()
                end = self.now()
                self.current_fault = None
                self.wait(5)  # let the counters settle before reading them
                self.metrics.scrape()
                after = self.metrics.total()
                detail.update(self.proxy_view(name, after, before))
                detail["producers acks paused (longest, s)"] = self.gaps(start, end + 5, 1)
                detail["group reads paused (longest, s)"] = self.gaps(start, end + 5, 2)
                detail["consumer events"] = self.consumer_events(start, end + 5)
                detail["during load"] = any(p.poll() is None for p in self.producers)
                self.faults_done.append({"fault": name, "start": round(start, 1), "end": round(end, 1), **detail})
                self.log("fault %s: done, %s" % (name, json.dumps(detail)))
                self.wait(max(0, self.gap - 5))
        except SoakError as e:
            if not self.abort.is_set():
                self.fault_error = e
        except Exception as e:  # noqa: BLE001 - reported to the main loop
            self.fault_error = SoakError("fault thread failed: %r" % e)

    def proxy_view(self, name, after, before):
        """What /metrics counted in the fault's window (summed over proxy generations)."""
        view = {"metrics: Produce latency (mean ms)": produce_latency(after, before)}
        errors = delta_by(after, before, "kafkascope_connection_errors_total", "reason", side="client")
        broker_errors = delta_by(after, before, "kafkascope_connection_errors_total", "reason", side="broker")
        unanswered = delta_by(after, before, "kafkascope_requests_unanswered_total", "reason")
        kafka_errors = delta_by(after, before, "kafkascope_errors_total", "error")
        if name == "hostile":
            view["metrics: client connection errors"] = errors
            view["metrics: broker connection errors"] = broker_errors
            view["metrics: invalid values"] = delta_by(after, before, "kafkascope_invalid_values_total", "field")
            view["metrics: undecoded frames"] = delta_by(after, before, "kafkascope_frames_undecoded_total", "reason")
        elif name in ("consumer-kill", "consumer-stall"):
            view["metrics: client connection errors"] = errors
            view["metrics: unanswered requests"] = unanswered
            view["metrics: error codes"] = kafka_errors
        elif name == "broker-restart":
            view["metrics: broker connection errors"] = broker_errors
            view["metrics: client connection errors"] = errors
            view["metrics: unanswered requests"] = unanswered
            view["metrics: error codes"] = kafka_errors
        elif name == "proxy-restart":
            view["metrics: unanswered requests"] = unanswered
        return view

    def fault_proxy_restart(self):
        old = self.proxy
        before = self.metrics.scrape() or {}
        active = metric_sum(before, "kafkascope_connections_active", side="client")
        self.proxy_restarting.set()
        try:
            signalled = time.monotonic()
            old.send_signal(signal.SIGTERM)
            drain_scrapes = 0
            while old.poll() is None and time.monotonic() - signalled < self.o.drain_timeout + 15:
                if self.metrics.scrape() is not None:  # counts during the drain, while the endpoint answers
                    drain_scrapes += 1
                time.sleep(0.1)
            if old.poll() is None:
                raise SoakError("kafkascope still running %d s after SIGTERM (--drain-timeout %d); log tail:\n%s"
                                % (self.o.drain_timeout + 15, self.o.drain_timeout, bs.tail(old.bench_log)))
            exited = time.monotonic()
            self.metrics.close_generation()
            code = old.returncode
            self.proxy_exits.append((self.proxy_generation, code, True))
            self.procs.forget(old)
            if code != 0:
                self.failures.append("kafkascope generation %d exited with code %d after SIGTERM"
                                     % (self.proxy_generation, code))
            drained = "drained" in bs.tail(old.bench_log, 4000)
            self.start_proxy()
            listening = time.monotonic()
        finally:
            self.proxy_restarting.clear()
        first = self.metrics.generations[-1]["first"] or {}
        last = self.metrics.generations[-2]["last"]
        return {"client connections open at SIGTERM": int(active), "old proxy exit code": code,
                "metrics: old generation's kafkascope_connections_total{side=client} at its last scrape":
                    int(metric_sum(last, "kafkascope_connections_total", side="client")),
                "drain logged": drained, "SIGTERM to exit (s)": round(exited - signalled, 2),
                "new proxy listening after (s)": round(listening - exited, 2),
                "metrics: new generation's kafkascope_connections_total{side=client} starts at":
                    int(metric_sum(first, "kafkascope_connections_total", side="client")),
                "metrics: scrapes answered during the drain": drain_scrapes}

    def fault_consumer_kill(self):
        victim = next(p for p in self.consumers if p.poll() is None and p.pid not in self.stopped)
        before = self.assigned().get(victim.soak_name, [])
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
        self.procs.forget(victim)
        killed = self.now()
        # The group notices when the session times out; then a new member takes the place of the dead one.
        # Tansu takes about half a session timeout more to form the group again.
        self.wait_group_assigned(2 * self.o.session_timeout_ms / 1000 + 30)
        rebalanced = self.now()
        replacement = self.start_consumer(victim.soak_kind)
        self.wait_group_assigned(60, members=len([p for p in self.consumers if p.poll() is None]))
        return {"killed": victim.soak_name, "its partitions": before,
                "partitions reassigned after (s)": round(rebalanced - killed, 1),
                "replacement": replacement.soak_name, "replacement assigned after (s)": round(self.now() - killed, 1)}

    def fault_hostile(self):
        name = "hostile-%d" % (len(self.hostile_procs) + 1)
        ports = [self.listen_port] if self.o.direct else [self.listen_port, self.listen_port + 1 + TANSU_NODE_ID]
        proc = self.spawn_client("hostile", name, ports=ports,
                                 connections=self.o.hostile_connections, seconds=self.o.hostile_seconds,
                                 seed=self.o.seed, max_frame_bytes=self.o.max_frame_bytes, topic="soak-hostile",
                                 interval=self.o.hostile_interval)
        self.hostile_procs.append(proc)
        deadline = time.monotonic() + self.o.hostile_seconds + 60
        while proc.poll() is None and time.monotonic() < deadline:
            self.wait(0.5)
        if proc.poll() is None:
            raise SoakError("the hostile client did not finish within %.0f s" % (self.o.hostile_seconds + 60))
        self.procs.forget(proc)
        got = self.client_report(proc)
        if proc.returncode != 0 or got is None:
            raise SoakError("the hostile client failed (code %s); log tail:\n%s"
                            % (proc.returncode, bs.tail(self.logdir / ("%s.log" % name))))
        return {"hostile client": got}

    def fault_consumer_stall(self):
        victim = [p for p in self.consumers if p.poll() is None and p.pid not in self.stopped][-1]
        parts = self.assigned().get(victim.soak_name, [])
        os.kill(victim.pid, signal.SIGSTOP)
        self.stopped.add(victim.pid)
        peak = 0.0
        end = time.monotonic() + self.o.stall_seconds
        try:
            while time.monotonic() < end:
                self.wait(min(2.0, max(0, end - time.monotonic())))
                with contextlib.suppress(Exception):
                    status, _, body = http_get(self.metrics_port, "/lag", timeout=3)
                    if status == 200:
                        for group in json.loads(body).get("groups", []):
                            if group.get("group") == self.group:
                                for topic in group.get("topics", []):
                                    peak = max(peak, topic.get("lag_seconds") or 0)
        finally:
            os.kill(victim.pid, signal.SIGCONT)
            self.stopped.discard(victim.pid)
        return {"stopped": victim.soak_name, "its partitions": parts, "seconds": self.o.stall_seconds,
                "metrics: peak /lag lag_seconds of the group (gauge)": round(peak, 1),
                "member still in the group after": victim.poll() is None}

    def fault_broker_restart(self):
        old = self.tansu
        self.broker_restarting.set()
        try:
            stopped = time.monotonic()
            self.procs.stop(old, signal.SIGTERM, timeout=15)
            down = time.monotonic()
            self.start_tansu()
            up = time.monotonic()
        finally:
            self.broker_restarting.clear()
        return {"old broker exit code": old.returncode, "stop (s)": round(down - stopped, 2),
                "start (s)": round(up - down, 2), "storage": self.o.storage}

    # ------------------------------------------------------------------ the whole run

    def plan(self):
        lengths = {"proxy-restart": 5, "consumer-kill": 1.5 * self.o.session_timeout_ms / 1000 + 15,
                   "hostile": self.o.hostile_seconds + 5, "consumer-stall": self.o.stall_seconds + 5,
                   "broker-restart": 10}
        timed = [f for f in TIMED if f in self.o.fault_list]
        busy = sum(lengths[f] for f in timed)
        self.gap = (self.o.duration - busy) / (len(timed) + 1)
        if timed and self.gap < 5:
            raise SoakError("--duration %.0f s is too short for the faults %s: at least %.0f s"
                            % (self.o.duration, ", ".join(timed), busy + 5 * (len(timed) + 1)))

    def run(self):
        o = self.o
        comp = bs.Components()
        self.kafkascope = None if o.direct else comp.kafkascope(o.kafkascope)
        self.tansu_bin = comp.tansu()
        comp.python_package("confluent_kafka", "confluent-kafka")
        comp.python_package("kafka", "kafka-python")
        if o.storage == "s3" and not shutil.which("moto_server"):
            comp.python_package("moto.server", "moto[server]")
        comp.check()
        self.plan()

        if o.storage == "s3":
            self.start_moto()
        self.tansu_port = bs.port_block([0], self.taken)
        self.relay = FaultRelay(self.tansu_port, reset_percent=o.reset_percent, max_delay=o.max_delay,
                                seed=o.seed).start()
        self.start_tansu()
        self.listen_port = bs.port_block([0, 1 + TANSU_NODE_ID], self.taken)
        self.metrics_port = bs.port_block([0], self.taken)
        if o.direct:
            if "proxy-restart" in o.fault_list:
                raise SoakError("--direct has no proxy to restart")
            self.listen_port = self.relay.port
        else:
            self.start_proxy()
        self.bootstrap = "%s:%d" % (bs.HOST, self.listen_port)
        suffix = "%x" % int(time.time())
        self.topic, self.group = "soak-%s" % suffix, "soak-group-%s" % suffix
        import workloads as wl
        wl.ck_create_topic(self.bootstrap, self.topic, o.partitions)
        self.log("proxy on %s (metrics %d), relay %d -> Tansu %d (%s storage), topic %s, logs in %s"
                 % (self.bootstrap, self.metrics_port, self.relay.port, self.tansu_port, o.storage, self.topic,
                    self.logdir))

        for kind in o.consumer_kinds:
            self.start_consumer(kind)
        self.t0 = time.monotonic()
        self.wait_group_assigned(90, members=len(o.consumer_kinds))
        self.log("group %s: %s" % (self.group, self.assigned()))

        share = [o.records // len(o.producer_kinds) + (i < o.records % len(o.producer_kinds))
                 for i in range(len(o.producer_kinds))]
        self.t0 = time.monotonic()
        if "relay" in o.fault_list:
            self.relay.active.set()
        for i, (kind, n) in enumerate(zip(o.producer_kinds, share)):
            name = "producer-%d-%s" % (i + 1, kind)
            path = self.logdir / ("%s.acks" % name)
            proc = self.spawn_client("producer-" + kind, name, bootstrap=self.bootstrap, topic=self.topic, name=name,
                                     records=n, seconds=o.duration, record_bytes=o.record_bytes, seed=o.seed + i,
                                     out=str(path), message_timeout_ms=o.message_timeout_ms, linger_ms=o.linger_ms)
            self.producers.append(proc)
            self.ack_tails.append(Tail(path))
        faults = threading.Thread(target=self.run_faults, name="faults", daemon=True)
        faults.start()

        last_progress = 0.0
        relay_off_at = None
        try:
            while True:
                time.sleep(1.0)
                self.check_alive()
                self.sample()
                if len(self.series) % 2 == 0 and not self.proxy_restarting.is_set():
                    self.metrics.scrape()
                if self.now() - last_progress >= o.progress_every:
                    self.progress()
                    last_progress = self.now()
                producing = any(p.poll() is None for p in self.producers)
                if not producing and relay_off_at is None:
                    self.relay.active.clear()
                    relay_off_at = self.now()
                    self.log("producers done at t=%.0f s" % relay_off_at)
                if not producing and not faults.is_alive():
                    break
            self.check_alive()
            self.log("faults done; waiting for the group to read everything acknowledged")
            deadline = time.monotonic() + o.catchup_timeout
            while self.ledger.covered < self.ledger.acknowledged and time.monotonic() < deadline:
                time.sleep(1.0)
                self.check_alive()
                self.sample()
                if self.now() - last_progress >= o.progress_every:
                    self.progress()
                    last_progress = self.now()
            self.load_end = self.now()
        finally:
            self.abort.set()
            faults.join(30)
        self.finish(relay_off_at)

    def finish(self, relay_off_at):
        for proc in self.consumers:
            if proc.poll() is None:
                with contextlib.suppress(OSError):
                    proc.send_signal(signal.SIGTERM)
        for proc in self.consumers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(60)
        self.sample()
        self.metrics.scrape()
        self.final_metrics = self.metrics.total()
        if self.proxy is not None and self.proxy.poll() is None:
            self.proxy_restarting.set()
            self.proxy.send_signal(signal.SIGTERM)
            try:
                code = self.proxy.wait(self.o.drain_timeout + 15)
            except subprocess.TimeoutExpired:
                code = None
            self.proxy_exits.append((self.proxy_generation, code, True))
            if code != 0:
                self.failures.append("kafkascope generation %d: %s at the end" % (
                    self.proxy_generation, "exit code %s after SIGTERM" % code if code is not None else
                    "still running %d s after SIGTERM" % (self.o.drain_timeout + 15)))
        self.relay_off_at = relay_off_at
        self.build_report()

    # ------------------------------------------------------------------ report

    def build_report(self):
        o, m = self.o, self.final_metrics
        verdict = self.ledger.verdict()
        producers = [self.client_report(p) or {"name": p.soak_name, "missing report": p.returncode}
                     for p in self.producers]
        consumers = [dict(self.client_report(p) or self.killed_report(p), name=p.soak_name, exit=p.returncode)
                     for p in self.consumers]
        rss = [b for _, _, b in self.rss]
        per_gen = {}
        for _, gen, b in self.rss:
            lo, hi = per_gen.get(gen, (b, b))
            per_gen[gen] = (min(lo, b), max(hi, b))
        resets = self.relay.resets
        relay = {"connections": len(self.relay.accepted), "resets": len(resets),
                 "resets with requests in flight": sum(1 for r in resets if r["requests"] > r["responses"]),
                 "responses delayed": self.relay.delayed,
                 "mean delay drawn (ms)": round(1000 * self.relay.delay_sum / max(1, self.relay.delayed), 1),
                 "max delay drawn (ms)": round(1000 * self.relay.delay_max, 1)}
        relay_fault = None
        if "relay" in o.fault_list:
            times = [r["at"] - self.t0 for r in resets]
            unseen = self.metrics.unseen([r["at"] for r in resets])
            # Outside the other faults' windows (where the proxy itself closes connections by the thousand, or
            # exits, or loses its broker), every reset hits a connection the proxy holds open, and must be counted.
            windows = [(f["start"] - 0.5, f["end"] + 2) for f in self.faults_done]
            must = sum(1 for t in times if not any(lo <= t <= hi for lo, hi in windows))
            counted = int(metric_sum(m, "kafkascope_connection_errors_total", side="broker", reason="connection_reset"))
            relay["resets after a proxy's last scrape"] = unseen
            relay["resets outside other faults' windows"] = must
            relay["reset times (s)"] = [round(t, 1) for t in times]
            if counted < must and not self.o.direct:
                self.failures.append("relay: %d resets outside the other faults' windows, but /metrics counted %d "
                                     "kafkascope_connection_errors_total{side=broker,reason=connection_reset}"
                                     % (must, counted))
            relay_fault = {"fault": "relay", "start": 0.0, "end": round(self.relay_off_at or 0, 1), **relay,
                           "metrics: broker connection errors": {k: int(v) for k, v in sorted(
                               _by(m, "kafkascope_connection_errors_total", "reason", side="broker").items())},
                           "metrics: Produce latency (mean ms)": produce_latency(m, {}),
                           "metrics: Produce responses slower than 100 ms at the broker":
                               slow_responses(m, {}, "Produce", 0.1),
                           "metrics: Metadata responses slower than 100 ms at the broker":
                               slow_responses(m, {}, "Metadata", 0.1)}
        self.report = {
            "options": {k: v for k, v in vars(o).items() if k not in ("fault_list",)},
            "records": verdict, "producers": producers, "consumers": consumers,
            "record bytes sent": sum(p.get("bytes", 0) for p in producers),
            "duration (s)": round(self.load_end, 1),
            "connections": {"client": int(metric_sum(m, "kafkascope_connections_total", side="client")),
                            "broker": int(metric_sum(m, "kafkascope_connections_total", side="broker")),
                            "relay": len(self.relay.accepted),
                            "hostile": sum((self.client_report(p) or {}).get("connections", 0)
                                           for p in self.hostile_procs)},
            "metrics": {"produced records": int(metric_sum(m, "kafkascope_produced_records_total", topic=self.topic)),
                        "fetched records": int(metric_sum(m, "kafkascope_fetched_records_total", topic=self.topic)),
                        "requests": int(metric_sum(m, "kafkascope_requests_total")),
                        "client connection errors": _by(m, "kafkascope_connection_errors_total", "reason",
                                                        side="client"),
                        "broker connection errors": _by(m, "kafkascope_connection_errors_total", "reason",
                                                        side="broker"),
                        "unanswered requests": _by(m, "kafkascope_requests_unanswered_total", "reason"),
                        "invalid values": _by(m, "kafkascope_invalid_values_total", "field"),
                        "address rewrites": _by(m, "kafkascope_address_rewrites_total", "api"),
                        "scrape failures": self.metrics.failures},
            "faults": ([relay_fault] if relay_fault else []) + self.faults_done,
            "proxy": {"generations": self.proxy_generation, "exits": [
                {"generation": g, "code": c, "asked": a} for g, c, a in self.proxy_exits],
                "rss min (MiB)": round(min(rss) / MB, 1) if rss else None,
                "rss max (MiB)": round(max(rss) / MB, 1) if rss else None,
                "rss per generation (MiB)": {g: [round(lo / MB, 1), round(hi / MB, 1)]
                                             for g, (lo, hi) in per_gen.items()},
                "rss samples": len(rss)},
        }
        f = self.failures
        if verdict["lost"]:
            f.append("%d acknowledged records were never read (first: %s)"
                     % (verdict["lost"], verdict["lost_examples"]))
        if verdict["read in another partition than acknowledged"]:
            f.append("%d records read in another partition than their acknowledgement named"
                     % verdict["read in another partition than acknowledged"])
        if not verdict["acknowledged"]:
            f.append("no record was acknowledged")
        if rss and max(rss) > o.rss_limit_mb * MB:
            f.append("proxy RSS reached %.1f MiB, above --rss-limit-mb %.0f" % (max(rss) / MB, o.rss_limit_mb))
        if not rss and not o.direct:
            f.append("no RSS sample of the proxy")
        for fault in [] if o.direct else self.faults_done:  # the faults /metrics has a counter for (README, Metrics)
            if fault["fault"] == "hostile" and not (fault["metrics: client connection errors"].get("malformed_frame")
                                                    and fault["metrics: invalid values"]):
                f.append("hostile: /metrics counted no malformed_frame connection error or no invalid value: %s"
                         % {k: v for k, v in fault.items() if k.startswith("metrics")})
            if fault["fault"] == "broker-restart" and not fault["metrics: broker connection errors"]:
                f.append("broker-restart: /metrics counted no broker-side connection error")
        for proc, p in zip(self.producers, producers):
            if proc.returncode != 0 or "sent" not in p:
                f.append("%s exited with %s without its report; log tail:\n%s" % (
                    proc.soak_name, proc.returncode, bs.tail(self.logdir / ("%s.log" % proc.soak_name), 1500)))
            elif p["sent"] < p["records"] or p["unfinished"]:
                f.append("%s sent %d of its %d records, %d left unacknowledged" % (
                    p["name"], p["sent"], p["records"], p["unfinished"]))
        for p in consumers:
            if p.get("exit") not in (0, -9) and p["name"] not in [d.get("killed") for d in self.faults_done]:
                f.append("%s exited with %s" % (p["name"], p.get("exit")))
        self.report["failures"] = f


def _by(m, name, label, **labels):
    return {k: int(v) for k, v in delta_by(m, {}, name, label, **labels).items()}


# ---------------------------------------------------------------------------------------------- output

def _cell(value):
    if isinstance(value, dict):
        return ", ".join("%s %s" % (k, _cell(v)) for k, v in value.items()) or "none"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_cell(v) for v in value) + "]"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def table(report):
    """The report as Markdown."""
    r, rec = report, report["records"]
    lines = ["| what | figure |", "|---|---|"]
    lines.append("| records acknowledged (acks=all) | %s of %s sent, %s bytes of keys, values and headers |"
                 % (_cell(rec["acknowledged"]), _cell(sum(p.get("sent", 0) for p in r["producers"])),
                    _cell(r["record bytes sent"])))
    lines.append("| producers | %s |" % "; ".join(
        "%s (%s): acked %s, failed %s%s" % (p.get("name"), p.get("client"), _cell(p.get("acked")),
                                            _cell(p.get("failed")),
                                            ", librdkafka logged %s" % _cell(p["librdkafka log"])
                                            if "librdkafka log" in p else "")
        for p in r["producers"]))
    lines.append("| consumers | %s |" % "; ".join(
        "%s (%s, exit %s): read %s, commits %s, commit failures %s, assignments %s%s" % (
            c["name"], c.get("client", "?"), c.get("exit"), _cell(c.get("records", "?")), _cell(c.get("commits", "?")),
            _cell(c.get("commit_failures", "?")), _cell(c.get("assignments", "?")),
            ", librdkafka logged %s" % _cell(c["librdkafka log"]["disconnected (FAIL)"]) + " disconnections"
            if "librdkafka log" in c else "") for c in r["consumers"]))
    lines.append("| connections | %s client and %s broker connections through the proxy (all generations), %s "
                 "through the relay, %s hostile |" % tuple(_cell(r["connections"][k]) for k in
                                                         ("client", "broker", "relay", "hostile")))
    lines.append("| duration | %s s of load and reading (records spread over %s s) |"
                 % (r["duration (s)"], r["options"]["duration"]))
    for fault in r["faults"]:
        detail = {k: v for k, v in fault.items() if k not in ("fault", "start", "end")}
        lines.append("| fault: %s (t=%s–%s s) | %s |" % (fault["fault"], fault["start"], fault["end"], _cell(detail)))
    lines.append("| lost | %s acknowledged records not read with the same key, value and headers (%s of them "
                 "acknowledged without an offset: a retry the broker answered DUPLICATE_SEQUENCE_NUMBER) |"
                 % (_cell(rec["lost"]), _cell(rec["lost, acknowledged without offset"])))
    if rec["offsets never read inside the range read (holes)"]:
        lines.append("| offsets the group never read | %s |"
                     % _cell(rec["offsets never read inside the range read (holes)"]))
    lines.append("| duplicates | %s deliveries of an offset read again (at-least-once: read, not committed, then "
                 "reassigned); %s records stored twice; %s records read that no delivery report acknowledged |"
                 % (_cell(rec["redelivered"]), _cell(rec["stored_twice"]), _cell(rec["consumed_unacknowledged"])))
    lines.append("| acknowledgements without the right offset | %s without one, %s with another offset of the same "
                 "partition (retries answered DUPLICATE_SEQUENCE_NUMBER), %s naming another partition |"
                 % (_cell(rec["acknowledged without offset"]), _cell(rec["offset misreported"]),
                    _cell(rec["read in another partition than acknowledged"])))
    px = r["proxy"]
    lines.append("| proxy RSS | %s–%s MiB over %s one-second samples; per generation %s |"
                 % (px["rss min (MiB)"], px["rss max (MiB)"], _cell(px["rss samples"]),
                    _cell(px["rss per generation (MiB)"])))
    lines.append("| proxy exits | %s |" % "; ".join(
        "generation %d: code %s%s" % (e["generation"], e["code"], "" if e["asked"] else " (NOT asked for)")
        for e in px["exits"]))
    lines.append("| /metrics (all generations) | %s |" % _cell(r["metrics"]))
    lines.append("| verdict | %s |" % ("pass" if not r["failures"] else "FAIL: " + "; ".join(r["failures"])))
    return "\n".join(lines)


def run(opts, log=None):
    """One soak; returns the report (report["failures"] empty when every check passed). Stops every process it
    started, also on error; keeps the log directory when a check failed, on error, or with --keep-logs."""
    log = log or bs.logger("soak")
    logdir = Path(opts.logdir) if opts.logdir else Path(tempfile.mkdtemp(prefix="kafkascope-soak-"))
    logdir.mkdir(parents=True, exist_ok=True)
    procs = bs.Processes(logdir)
    soak = Soak(opts, procs, log)
    ok = False
    try:
        soak.run()
        ok = not soak.report["failures"]
        soak.report["logs"] = str(logdir)
        return soak.report
    finally:
        soak.abort.set()
        for pid in list(soak.stopped):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGCONT)
        procs.stop_all()
        if soak.relay is not None:
            soak.relay.stop()
        if ok and not opts.keep_logs:
            shutil.rmtree(logdir, ignore_errors=True)
        else:
            log("logs kept in %s" % logdir)


def main():
    bs.exit_on_signals()
    opts = options(sys.argv[1:])
    report = run(opts)
    print(table(report))
    if opts.json_out:
        Path(opts.json_out).write_text(json.dumps(report, indent=2, default=str))
    if report["failures"]:
        sys.exit(1)


if __name__ == "__main__":
    bs.run_main("soak", main)
