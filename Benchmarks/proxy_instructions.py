#!/usr/bin/env python3
"""User-space instructions per small request, counted by callgrind: the proxy benchmark's small-request load
(one-record Produce requests from confluent-kafka, pipelined) through Kafkascope, another Kafkascope build and
HAProxy, each run under `valgrind --tool=callgrind` in front of its own Tansu.

CPU seconds per request (proxy_bench.py) move by 10-20 % from run to run on these shared machines; instruction
counts do not, so this is how one change to the per-request path is judged. Each forwarder runs twice, with a short
and a long load, and the difference divided by the difference in requests is the cost of one request, start-up and
connection set-up cancelled out. The kernel's share (the socket calls, about half of the proxy's CPU time under this
load) is not counted: callgrind sees user space only.

    python3 Benchmarks/proxy_instructions.py --kafkascope .build/release/kafkascope --baseline OLD --haproxy

What consumer-lag tracking costs a request, on lag_bench.py's load (a consumer group committing every 100 ms):

    python3 Benchmarks/proxy_instructions.py --kafkascope .build/release/kafkascope --no-lag --group
"""
import argparse
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_support as bs
from lag_bench import COMMITTER
from proxy_load import create_topics, run_small_requests
from proxy_paths import TANSU_NODE_ID
from proxy_tls import haproxy_config

log = bs.logger("proxy_instructions")


def options(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kafkascope", default=".build/release/kafkascope", help="kafkascope binary")
    p.add_argument("--baseline", help="another kafkascope build, counted the same way")
    p.add_argument("--haproxy", action="store_true", help="count HAProxy (mode tcp, as in proxy_bench) too")
    p.add_argument("--exchange-log", action="store_true",
                   help="count --kafkascope with --exchange-log (to a file) too, as kafkascope-exchange-log")
    p.add_argument("--no-lag", action="store_true",
                   help="count --kafkascope with --lag false too, as kafkascope-no-lag: what lag tracking costs")
    p.add_argument("--group", action="store_true",
                   help="run lag_bench's consumer group beside the load: a member reading the topic and committing "
                        "every 100 ms, so that the Fetch and OffsetCommit traffic that lag reads is counted too")
    p.add_argument("--requests", default="2000,12000", help="the short and the long load (default 2000,12000)")
    p.add_argument("--timeout", type=float, default=600, help="seconds for one load under valgrind")
    p.add_argument("--repeats", type=int, default=1,
                   help="count each forwarder this many times, in rotation, and give the median per request: how a "
                        "read's bytes fall into buffers changes from run to run, and with it a few hundred "
                        "instructions per request (memmove, mostly)")
    p.add_argument("--keep-logs", action="store_true")
    o = p.parse_args(argv)
    o.short, o.long = (int(x) for x in o.requests.split(","))
    if not 0 < o.short < o.long:
        p.error("--requests wants SHORT,LONG with 0 < SHORT < LONG")
    return o


def total_instructions(path):
    """The `summary:` (or `totals:`) line of a callgrind output file: instructions executed, all threads."""
    text = Path(path).read_text(errors="replace")
    found = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
    if not found:
        raise bs.BenchError("no instruction total in %s" % path)
    return int(found.group(1))


def count(o, procs, comp, name, binary, requests):
    """Instructions the forwarder `name` executed over its whole life with a load of `requests` small requests."""
    taken = set()
    tansu_port, front = bs.port_block([0], taken), bs.port_block([0, 1 + TANSU_NODE_ID], taken)
    out = procs.logdir / ("%s-%d.callgrind" % (name, requests))
    valgrind = [comp["valgrind"], "--tool=callgrind", "--callgrind-out-file=%s" % out]
    if name == "haproxy":
        bs.start_tansu(procs, "%s-tansu-%d" % (name, requests), comp["tansu"], tansu_port, front)
        cfg = procs.logdir / "haproxy.cfg"
        cfg.write_text(haproxy_config(front, tansu_port, None))
        argv = valgrind + [comp["haproxy"], "-db", "-f", str(cfg)]
    else:
        bs.start_tansu(procs, "%s-tansu-%d" % (name, requests), comp["tansu"], tansu_port)
        metrics = bs.port_block([0], taken)
        argv = valgrind + [binary, "proxy", "--bootstrap-server", "%s:%d" % (bs.HOST, tansu_port), "--listen",
                           "%s:%d" % (bs.HOST, front), "--metrics-listen", "%s:%d" % (bs.HOST, metrics),
                           "--log-level", "warning"]
        if name == "kafkascope-exchange-log":
            argv += ["--exchange-log", str(procs.logdir / ("exchanges-%d.jsonl" % requests))]
        if name == "kafkascope-no-lag":
            argv += ["--lag", "false"]
    forwarder = procs.spawn("%s-%d" % (name, requests), argv)
    procs.wait_port(forwarder, front, 120)
    bootstrap = "%s:%d" % (bs.HOST, front)
    create_topics(bootstrap, ["small", "warm"], 1, timeout=120)
    member = start_group(procs, "%s-group-%d" % (name, requests), bootstrap, o.timeout) if o.group else None
    _, _, acked = run_small_requests(bootstrap, "small", "warm", requests, o.timeout)
    if member:
        procs.stop(member)
    procs.stop(forwarder, signal.SIGTERM, timeout=120)
    log("%s: %d requests, %s instructions" % (name, acked, format(total_instructions(out), ",")))
    return total_instructions(out)


def start_group(procs, name, bootstrap, timeout):
    """Starts lag_bench's committing group member on the topic and waits for its first commit, producing a few
    records meanwhile (a member that has read nothing commits nothing). Returns the member's process."""
    from confluent_kafka import Producer
    member = procs.spawn(name, [sys.executable, "-c", COMMITTER, bootstrap, "bench-lag", "small"])
    producer = Producer({"bootstrap.servers": bootstrap, "client.id": "bench-group-feed"})
    deadline = time.monotonic() + timeout
    while "committed" not in member.bench_log.read_text(errors="replace"):
        if member.poll() is not None or time.monotonic() > deadline:
            raise bs.BenchError("%s: no commit within %.0f s (exit code %s); log tail:\n%s"
                                % (name, timeout, member.poll(), bs.tail(member.bench_log)))
        producer.produce("small", value=b"x" * 100)
        producer.flush(30)
        time.sleep(0.5)
    return member


def main():
    bs.exit_on_signals()
    o = options(sys.argv[1:])
    comp = bs.Components()
    targets = [("kafkascope", comp.kafkascope(o.kafkascope))]
    if o.baseline:
        targets.append(("kafkascope-baseline", comp.kafkascope(o.baseline)))
    if o.exchange_log:
        targets.append(("kafkascope-exchange-log", targets[0][1]))
    if o.no_lag:
        targets.append(("kafkascope-no-lag", targets[0][1]))
    tools = {"tansu": comp.tansu(), "valgrind": comp.tool("valgrind", "valgrind"),
             "haproxy": comp.tool("haproxy", "haproxy") if o.haproxy else None}
    comp.python_package("confluent_kafka", "confluent-kafka")
    comp.check()
    if o.haproxy:
        targets.append(("haproxy", None))
    logdir = Path(tempfile.mkdtemp(prefix="kafkascope-instructions-"))
    procs = bs.Processes(logdir)
    runs = {name: [] for name, _ in targets}
    with bs.cleanup(procs, o.keep_logs, log):
        stripped = {}
        for name, binary in targets:
            if binary:  # valgrind 3.19 cannot read the DWARF 5 that Swift 6 writes: count a copy without it
                stripped[name] = logdir / name
                subprocess.run(["strip", "--strip-debug", "-o", str(stripped[name]), binary], check=True)
        for repeat in range(o.repeats):
            for name, binary in bs.rotated(targets, repeat):
                binary = binary and str(stripped[name])
                short, long_ = (count(o, procs, tools, name, binary, n) for n in (o.short, o.long))
                runs[name].append((short, long_, (long_ - short) / (o.long - o.short)))
                procs.stop_all()
    rows = []
    for name, _ in targets:
        per = statistics.median(r[2] for r in runs[name])
        short, long_, _ = min(runs[name], key=lambda r: abs(r[2] - per))
        rows.append((name, short, long_, per, [r[2] for r in runs[name]]))
    print("User-space instructions per small request (callgrind), %d and %d one-record Produce requests:\n"
          % (o.short, o.long))
    print("| forwarder | instructions, %d requests | instructions, %d requests | per request%s |"
          % (o.short, o.long, ", median of %d (each run)" % o.repeats if o.repeats > 1 else ""))
    print("|---|---:|---:|---:|")
    for name, short, long_, per, each in rows:
        print("| %s | %s | %s | %s%s |" % (name, format(short, ","), format(long_, ","), format(round(per), ","),
                                          " (%s)" % ", ".join(format(round(x), ",") for x in each) if len(each) > 1 else ""))
    base = dict((r[0], r[3]) for r in rows)
    for other in ("kafkascope-baseline", "kafkascope-exchange-log", "kafkascope-no-lag", "haproxy"):
        if other in base:
            print("\nkafkascope ÷ %s: %.3f×" % (other, base["kafkascope"] / base[other]))


if __name__ == "__main__":
    bs.run_main("proxy_instructions", main)
