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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The parts of the soak, one job each; every name soak.py had is still importable from it.
from soak_common import (CLIENT_KINDS, CLIENTS, FAULTS, HERE, MB, REPO, TIMED, SoakError,  # noqa: E402,F401
                         bs)
from harness import TANSU_NODE_ID, http_get, metric_series, metric_sum, parse_metrics  # noqa: E402,F401
from relays import FaultRelay  # noqa: E402
from soak_records import Ledger, Tail  # noqa: E402,F401
from soak_broker_check import served_directly  # noqa: E402
from soak_observe import (MetricsLedger, SoakObserve, delta_by, mean_ms, produce_latency,  # noqa: E402,F401
                          slow_responses)
from soak_processes import SoakProcesses  # noqa: E402
from soak_faults import SoakFaults  # noqa: E402
from soak_report import SoakReport, _by, _cell, table  # noqa: E402,F401


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


# ---------------------------------------------------------------------------------------------- the run

class Soak(SoakProcesses, SoakObserve, SoakFaults, SoakReport):
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
        self.served_directly = None  # of the records the group never read, those the broker serves directly
        self.abort = threading.Event()

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
        lost = self.ledger.lost()
        if lost and self.tansu is not None and self.tansu.poll() is None:
            self.log("%d acknowledged records unread: reading the topic from the broker, past the proxy" % len(lost))
            self.served_directly, read = served_directly("%s:%d" % (bs.HOST, self.tansu_port), self.topic,
                                                         self.o.partitions, lost)
            self.log("the broker served %d records directly, %d of the unread ones"
                     % (read, len(self.served_directly)))
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
