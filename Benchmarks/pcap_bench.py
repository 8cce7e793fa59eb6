#!/usr/bin/env python3
"""Offline capture analysis benchmark: `kafkascope pcap` against tshark's Kafka dissector, on the same captures, in
one run.

Captures (real traffic between confluent-kafka clients and a Tansu broker started on 127.0.0.1, recorded with
`tcpdump -i lo -s 0`):
  frame-heavy  many single-record Produce requests from several pipelining producer processes, and a consumer
               fetching the same topic concurrently with small fetches (>= 200,000 Kafka frames by default);
  bulk         1 KiB records produced in ~1 MB batches, then read back by a consumer (>= 200 MB by default);
  bulk-x2      the bulk capture followed by a copy of itself, shifted in time and with the client ports moved so
               that its flows are distinct (pure-Python pcap rewriting): for kafkascope's peak memory only.

For each capture and tool, --repeats runs (default 3), timed on the wall clock, with the peak RSS from
/usr/bin/time (GNU time's %M):
  kafkascope pcap FILE --port P --format summary --no-progress
  tshark -r FILE -d tcp.port==P,kafka -Y kafka -T fields -e kafka.api_key -e kafka.correlation_id

Prints Markdown tables (frames/s, MB/s, peak RSS, ratios kafkascope/tshark, the targets) on stdout, progress on
stderr. See Benchmarks/README.md.

Load: pcap_clients.py (the Kafka clients), pcap_load.py (recording the captures), pcap_copies.py (bulk-x2);
measurement: pcap_measure.py; report: pcap_report.py; shared helpers: bench_support.py.

With --baseline PATH another kafkascope build joins the rotation on the empty, frame-heavy and bulk captures, and
the report adds a table of --kafkascope against it: a before/after comparison in one run.

  python3 Benchmarks/pcap_bench.py [--repeats N] [--keep DIR | --captures DIR] [--kafkascope PATH] [--baseline PATH]
"""
import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_support import KAFKASCOPE, BenchError, Components, Processes, cleanup, exit_on_signals, logger, run_main
from pcap_clients import worker_main
from pcap_load import CAPTURES, load_meta, prepare_captures
from pcap_measure import bench
from pcap_report import report

log = logger("pcap_bench")


def gnu_time():
    """/usr/bin/time if it is GNU time (understands -f %M -o FILE), else None."""
    path = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else shutil.which("time")
    if not path:
        return None
    with tempfile.NamedTemporaryFile("r", suffix=".time") as f:
        try:
            subprocess.run([path, "-f", "%M %U %S", "-o", f.name, "true"], check=True, timeout=10,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            fields = f.read().split()
            if len(fields) == 3 and fields[0].isdigit():
                return path
        except (OSError, subprocess.SubprocessError):
            pass
    return None


def find_components(args, need_recording):
    """The programs this run needs, as a dict; BenchError naming everything that is missing."""
    components = Components()
    tools = {"kafkascope": components.kafkascope(args.kafkascope), "tshark": components.tool("tshark")}
    if args.baseline:
        tools["baseline"] = components.kafkascope(args.baseline)
    if need_recording:
        tools["tcpdump"] = components.tool("tcpdump")
        if tools["tcpdump"] and os.geteuid() != 0:
            log("warning: not root; tcpdump needs capture rights on lo (CAP_NET_RAW)")
        tools["tansu"] = components.tansu()
        components.python_package("confluent_kafka", "confluent-kafka")
    tools["time"] = gnu_time()
    components.check()
    if tools["time"] is None:
        log("warning: GNU time (/usr/bin/time) not found: peak RSS is polled from /proc/PID/status VmHWM every "
            "5 ms instead, a lower bound (apt-get install time)")
    fields = subprocess.run([tools["tshark"], "-G", "fields"], capture_output=True, text=True).stdout
    names = {line.split("\t")[2] for line in fields.splitlines() if line.startswith("F\t") and line.count("\t") >= 2}
    for field in ("kafka.api_key", "kafka.correlation_id"):
        if field not in names:
            raise BenchError("this tshark has no field %s (tshark -G fields | grep -w kafka)" % field)
    return tools


def tool_versions(tools):
    out = {}
    with contextlib.suppress(Exception):
        out["kafkascope"] = subprocess.run([tools["kafkascope"], "--version"], capture_output=True, text=True,
                                           timeout=10).stdout.strip()
    with contextlib.suppress(Exception):
        out["tshark"] = subprocess.run([tools["tshark"], "-v"], capture_output=True, text=True,
                                       timeout=10).stdout.splitlines()[0].strip()
    return out


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="runs per capture and tool; medians are reported (3)")
    ap.add_argument("--kafkascope", default=KAFKASCOPE,
                    help="kafkascope binary (default .build/release/kafkascope)")
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--keep", metavar="DIR", help="record missing captures into DIR and keep them there; "
                       "captures already in DIR are reused")
    where.add_argument("--captures", metavar="DIR", help="use the captures in DIR (frame-heavy.pcap, bulk.pcap; "
                       "ports from captures.json or --port); record nothing")
    ap.add_argument("--baseline", metavar="PATH", help="another kafkascope build, run in the same rotation on the "
                    "empty, frame-heavy and bulk captures: the report adds its ratios to --kafkascope's")
    ap.add_argument("--threads", type=int, choices=(1, 2), help="pass --threads N to kafkascope pcap (default: "
                    "its own default, 2 on a machine with more than one core)")
    ap.add_argument("--port", type=int, help="broker port of captures without captures.json (with --captures)")
    ap.add_argument("--small-records", type=int, default=110000, help="single-record produces in the frame-heavy "
                    "capture (default 110000: with their responses and the fetches, > 200,000 Kafka frames)")
    ap.add_argument("--small-bytes", type=int, default=32, help="value size of those records (default 32)")
    ap.add_argument("--producers", type=int, default=2, help="producer processes for the frame-heavy capture (2)")
    ap.add_argument("--window", type=int, default=2000, help="most records a frame-heavy producer has unacknowledged "
                    "(2000; 0 = no limit)")
    ap.add_argument("--frame-copies", type=int, default=1, help="record 1/N of --small-records live and build the "
                    "frame-heavy capture from N time- and port-shifted copies (default 1: all live)")
    ap.add_argument("--bulk-records", type=int, default=102400, help="1 KiB records in the bulk capture, produced "
                    "and consumed (default 102400: ~105 MB each way, > 200 MB of capture)")
    ap.add_argument("--bulk-bytes", type=int, default=1024, help="value size in the bulk capture (default 1024)")
    ap.add_argument("--phase-timeout", type=float, default=300.0, help="seconds a recording phase may take (300)")
    ap.add_argument("--run-timeout", type=float, default=600.0, help="seconds one analysis run may take (600)")
    ap.add_argument("--keep-logs", action="store_true", help="keep the logs directory")
    args = ap.parse_args()
    if min(args.repeats, args.small_records, args.small_bytes, args.producers, args.frame_copies,
           args.bulk_records, args.bulk_bytes) < 1 or args.window < 0:
        ap.error("counts and sizes must be positive")
    return args


def main():
    args = parse_args()
    tools = find_components(args, need_recording=not args.captures)
    exit_on_signals()
    versions = tool_versions(tools)
    workdir = Path(tempfile.mkdtemp(prefix="pcap_bench-"))
    if args.captures:
        capdir, captures_from = Path(args.captures), "captures from %s" % os.path.basename(os.path.normpath(args.captures))
    elif args.keep:
        capdir, captures_from = Path(args.keep), "captures cached in %s" % args.keep
        capdir.mkdir(parents=True, exist_ok=True)
    else:
        capdir, captures_from = workdir / "captures", "captures recorded in this run"
        capdir.mkdir()
    procs = Processes(workdir)
    x2_paths = {}
    start = time.monotonic()
    log("work directory %s; captures in %s; kafkascope %s; tshark %s" % (workdir, capdir, tools["kafkascope"],
                                                                        tools["tshark"]))
    # the temporary captures (neither --keep nor --captures) go even when the logs are kept
    with cleanup(procs, args.keep_logs, log, scratch=[workdir / "captures"]):
        had = load_meta(capdir)
        meta = prepare_captures(procs, tools, args, capdir, workdir, x2_paths, may_record=not args.captures)
        if args.keep and all(c in had for c in CAPTURES):
            captures_from = "captures reused from %s" % args.keep
        runs, changed = bench(procs, tools, args, capdir, meta, workdir, x2_paths)
    report(args, meta, runs, versions, time.monotonic() - start, changed, captures_from)


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "_worker":
        sys.exit(worker_main(sys.argv[2], sys.argv[3]))
    run_main("pcap_bench", main)
