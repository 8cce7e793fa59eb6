"""pcap_bench's load: the captures. Each is recorded with tcpdump from a fresh Tansu while pcap_clients' clients
run, or reused from a captures directory; bulk-x2 is made from bulk by pcap_copies."""
import contextlib
import json
import os
import re
import signal
import time
from pathlib import Path

from bench_support import HOST, MB, BenchError, logger, port_block, start_tansu, tail
from pcap_clients import run_workers
from pcap_copies import concat_copies

log = logger("pcap_bench")
CAPTURES = ("frame-heavy", "bulk")          # recorded (or given with --captures)
DERIVED = "bulk-x2"                          # made from bulk
META = "captures.json"                       # how each capture in a captures directory was made


class Recording:
    """A fresh in-memory Tansu on 127.0.0.1:PORT and `tcpdump -i lo -w FILE -s 0 'tcp port PORT'`."""

    def __init__(self, procs, tools, name, path, ports):
        self.procs, self.tools, self.name, self.path = procs, tools, name, Path(path)
        self.port = port_block([0], ports)
        self.bootstrap = "%s:%d" % (HOST, self.port)
        self.tansu = self.tcpdump = None
        self.stats = {}

    def __enter__(self):
        # started before tcpdump, so that the probe for its port is not in the capture
        self.tansu = start_tansu(self.procs, "%s-tansu" % self.name, self.tools["tansu"], self.port)
        # -B: 256 MiB kernel buffer (no drops while the clients and Tansu keep both cores busy); -Z root: keep
        # writing as root (tcpdump otherwise drops to its own user, which may not write to our directory)
        argv = [self.tools["tcpdump"], "-i", "lo", "-n", "-s", "0", "-B", "262144", "-Z", "root",
                "-w", str(self.path), "tcp port %d" % self.port]
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self.tcpdump = self.procs.spawn("tcpdump-%s" % self.name, argv)
        deadline = time.monotonic() + 20
        while "listening on" not in tail(self.tcpdump.bench_log):
            if self.tcpdump.poll() is not None:
                raise BenchError("tcpdump exited with code %s (root or capture rights on lo needed):\n%s"
                                 % (self.tcpdump.returncode, tail(self.tcpdump.bench_log)))
            if time.monotonic() > deadline:
                raise BenchError("tcpdump did not report 'listening on' within 20 s:\n%s"
                                 % tail(self.tcpdump.bench_log))
            time.sleep(0.02)
        log("%s: Tansu on %s (pid %d), tcpdump capturing into %s" % (self.name, self.bootstrap, self.tansu.pid,
                                                                     self.path))
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None and self.tcpdump.poll() is None:
                # tcpdump gets packets in blocks that are handed over when full or after its 1 s buffer timeout:
                # wait for the last block before SIGINT, or the last responses would be missing
                time.sleep(2.0)
            if self.tcpdump.poll() is not None and exc_type is None:
                raise BenchError("tcpdump exited early with code %s:\n%s"
                                 % (self.tcpdump.returncode, tail(self.tcpdump.bench_log)))
            self.procs.stop(self.tcpdump, sig=signal.SIGINT, timeout=20)
            text = tail(self.tcpdump.bench_log)
            for key, pattern in (("captured", r"(\d+) packets? captured"),
                                 ("received", r"(\d+) packets? received by filter"),
                                 ("dropped", r"(\d+) packets? dropped by kernel")):
                m = re.search(pattern, text)
                self.stats[key] = int(m.group(1)) if m else None
        finally:
            self.procs.stop(self.tansu)
        if exc_type is None:
            if self.stats.get("dropped") is None:
                raise BenchError("tcpdump did not report its packet counts:\n%s" % tail(self.tcpdump.bench_log))
            if self.stats["dropped"]:
                log("warning: %s: tcpdump dropped %d packets" % (self.name, self.stats["dropped"]))
        return False


def record_frame_heavy(procs, tools, path, args, ports):
    """Single-record Produce requests from --producers pipelining producer processes, and a consumer fetching
    the same topic concurrently with small fetches (up to 16 KiB, answered after at most 5 ms)."""
    records = -(-args.small_records // args.frame_copies)
    per = [records // args.producers + (1 if i < records % args.producers else 0) for i in range(args.producers)]
    t0 = time.monotonic()
    with Recording(procs, tools, "frame-heavy", path, ports) as rec:
        # one partition per producer: with several producers on one partition, this Tansu (memory storage) was
        # seen to leave an offset that Fetch never returns, so the consumer could not finish
        run_workers(procs, [("frame-heavy-admin", "create-topic", {"bootstrap": rec.bootstrap, "topic": "small",
                                                                   "partitions": args.producers})], 60)
        log("frame-heavy: %d single-record produces from %d producers, one consumer fetching concurrently"
            % (records, args.producers))
        specs = [("frame-heavy-consumer", "consumer",
                  {"bootstrap": rec.bootstrap, "topic": "small", "records": records, "client_id": "pcap-bench-fetch",
                   "partitions": args.producers,
                   "config": {"fetch.wait.max.ms": 100, "fetch.min.bytes": 1, "max.partition.fetch.bytes": 16384}})]
        specs += [("frame-heavy-producer-%d" % i, "small-producer",
                   {"bootstrap": rec.bootstrap, "topic": "small", "records": n, "value_bytes": args.small_bytes,
                    "client_id": "pcap-bench-small-%d" % i, "seed": i, "window": args.window, "partition": i})
                  for i, n in enumerate(per)]
        results = run_workers(procs, specs, args.phase_timeout)
    for name, r in sorted(results.items()):
        log("frame-heavy: %s: %d records in %.1f s" % (name, r.get("records", 0), r.get("seconds", 0)))
    return {"records": records, "producers": args.producers, "value_bytes": args.small_bytes, "port": rec.port,
            "tcpdump": rec.stats, "record_seconds": time.monotonic() - t0}


def record_bulk(procs, tools, path, args, ports):
    """--bulk-records 1 KiB records in ~1 MB batches, then a consumer reads them all back (1 MiB fetches)."""
    t0 = time.monotonic()
    with Recording(procs, tools, "bulk", path, ports) as rec:
        run_workers(procs, [("bulk-admin", "create-topic", {"bootstrap": rec.bootstrap, "topic": "bulk"})], 60)
        log("bulk: producing %d x %d B" % (args.bulk_records, args.bulk_bytes))
        run_workers(procs, [("bulk-producer", "bulk-producer",
                             {"bootstrap": rec.bootstrap, "topic": "bulk", "records": args.bulk_records,
                              "value_bytes": args.bulk_bytes, "client_id": "pcap-bench-bulk"})], args.phase_timeout)
        log("bulk: consuming them back")
        run_workers(procs, [("bulk-consumer", "consumer",
                             {"bootstrap": rec.bootstrap, "topic": "bulk", "records": args.bulk_records,
                              "client_id": "pcap-bench-bulk-fetch"})], args.phase_timeout)
    return {"records": args.bulk_records, "value_bytes": args.bulk_bytes, "port": rec.port, "tcpdump": rec.stats,
            "record_seconds": time.monotonic() - t0}


def load_meta(d):
    with contextlib.suppress(FileNotFoundError, ValueError):
        return json.loads((Path(d) / META).read_text())
    return {}


def save_meta(d, meta):
    (Path(d) / META).write_text(json.dumps(meta, indent=2) + "\n")


def prepare_captures(procs, tools, args, capdir, workdir, x2_paths, may_record):
    capdir = Path(capdir)
    meta = load_meta(capdir)
    ports = set()
    for name in CAPTURES:
        path = capdir / ("%s.pcap" % name)
        if path.exists() and name in meta:
            log("%s: reusing %s (%.1f MB)" % (name, path, path.stat().st_size / MB))
            continue
        if path.exists() and args.captures and args.port:
            meta[name] = {"port": args.port, "how": "given"}
            log("%s: using %s with --port %d" % (name, path, args.port))
            continue
        if not may_record:
            raise BenchError("%s: no %s, or no port for it (%s in the directory, or --port)" % (name, path, META))
        if name == "frame-heavy":
            raw = capdir / "frame-heavy.live.pcap" if args.frame_copies > 1 else path
            info = record_frame_heavy(procs, tools, raw, args, ports)
            if args.frame_copies > 1:
                log("frame-heavy: building %d time- and port-shifted copies of the live capture" % args.frame_copies)
                info["concat"] = concat_copies(raw, path, args.frame_copies, [info["port"]])
                raw.unlink()
                info["how"] = "%d time/port-shifted copies of one live capture" % args.frame_copies
            else:
                info["how"] = "recorded live"
        else:
            info = record_bulk(procs, tools, path, args, ports)
            info["how"] = "recorded live"
        meta[name] = info
        meta.pop(DERIVED, None)  # made from bulk: redo it
        save_meta(capdir, meta)
        log("%s: %s, %.1f MB, tcpdump: %s" % (name, info["how"], path.stat().st_size / MB, info["tcpdump"]))
    x2 = capdir / ("%s.pcap" % DERIVED)
    if not (x2.exists() and DERIVED in meta):
        if not os.access(capdir, os.W_OK):  # a read-only --captures directory: make it in the work directory
            x2 = Path(workdir) / ("%s.pcap" % DERIVED)
        log("%s: bulk followed by a time- and port-shifted copy of itself" % DERIVED)
        t0 = time.monotonic()
        info = concat_copies(capdir / "bulk.pcap", x2, 2, [meta["bulk"]["port"]])
        info.update(port=meta["bulk"]["port"], how="bulk + a copy shifted in time and client ports")
        meta[DERIVED] = info
        log("%s: %.1f MB in %.1f s" % (DERIVED, x2.stat().st_size / MB, time.monotonic() - t0))
        with contextlib.suppress(OSError):  # in a read-only --captures directory it is just not remembered
            save_meta(capdir, meta)
    x2_paths[DERIVED] = x2
    return meta
