#!/usr/bin/env python3
"""What consumer-lag tracking costs the proxy: kafkascope with lag tracking (the default) against
`kafkascope proxy --lag false`, in the same run, on the small-request load.

Each round starts, for each variant in rotated order, a fresh in-memory Tansu and a fresh proxy (metrics on), then:
  - a consumer group member (confluent-kafka, in its own process) reads the topic and commits every 100 ms
    (enable.auto.commit, auto.commit.interval.ms=100), so that lag is computed all along;
  - a producer sends --requests one-record Produce requests, pipelined (linger.ms=0, batch.num.messages=1,
    acks=all), after 1,000 warm-up requests;
  - the proxy's CPU (utime+stime from /proc) is read before and after; requests/s is the produce requests counted
    by the proxy itself (kafkascope_requests_total{api="Produce"}) over the wall time from the first send to the
    last acknowledgement.
With --rate N the producer offers N requests a second instead of as many as it can (the variants then differ in
CPU per request only, not in how the requests fall into reads).
Prints per-variant medians and the ratio lag/no-lag, for requests/s and CPU per request, then the ratio within each
round and its median: the variants of one round run back to back, so that ratio is spared the machine's drifts.

With --baseline PATH the two variants are instead that binary and --kafkascope, both tracking lag: a before/after
comparison of two builds on the same load, in the same run.

  python3 Benchmarks/lag_bench.py [--requests N] [--rounds N] [--rate N] [--kafkascope PATH] [--baseline PATH]
"""
import argparse
import statistics
import sys
import tempfile
import time
import urllib.request

from bench_support import (HOST, KAFKASCOPE, BenchError, Components, Processes, cpu_seconds, logger, medians,
                           port_block, rotated, start_tansu)

log = logger("lag_bench")

# Prints "committed" once its first commit succeeded (proxy_instructions.py waits for that).
COMMITTER = r"""
import sys, time
from confluent_kafka import Consumer
said = []
def committed(error, partitions):
    if error is None and not said:
        said.append(True)
        print("committed", flush=True)
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": sys.argv[2], "client.id": "bench-committer",
              "auto.offset.reset": "earliest", "enable.auto.commit": True, "auto.commit.interval.ms": 100,
              "session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "on_commit": committed})
c.subscribe([sys.argv[3]])
while True:
    c.consume(num_messages=1000, timeout=0.1)
"""


def metric(port, name, **labels):
    text = urllib.request.urlopen("http://%s:%d/metrics" % (HOST, port), timeout=10).read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all('%s="%s"' % kv in line for kv in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def one_round(variant, binary, lag, args, processes, tansu, base):
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    broker_port, listen, metrics_port = base, base + 1, base + 500
    t = start_tansu(processes, "tansu-%s" % variant, tansu, broker_port)
    proxy = processes.spawn("kafkascope-%s" % variant, [
        binary, "proxy", "--bootstrap-server", "%s:%d" % (HOST, broker_port),
        "--listen", "%s:%d" % (HOST, listen), "--metrics-listen", "%s:%d" % (HOST, metrics_port),
        "--log-level", "warning", "--lag", "true" if lag else "false"])
    processes.wait_port(proxy, listen, 20)
    bootstrap = "%s:%d" % (HOST, listen)
    topic = "small-requests"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, 1, 1)], operation_timeout=15).values():
        f.result(30)
    committer = processes.spawn("committer-%s" % variant, [sys.executable, "-c", COMMITTER, bootstrap, "bench-lag", topic])
    p = Producer({"bootstrap.servers": bootstrap, "client.id": "bench-small", "acks": "all", "linger.ms": 0,
                  "batch.num.messages": 1, "enable.idempotence": False, "compression.type": "none",
                  "queue.buffering.max.messages": 500000, "delivery.report.only.error": True})
    value = b"x" * 100

    def send(count, rate=0):
        """Produces `count` records, as fast as librdkafka takes them or, with `rate`, that many a second (in
        steps of 10 ms)."""
        start = time.monotonic()
        for i in range(count):
            if rate and i % max(1, rate // 100) == 0:
                ahead = start + i / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            while True:
                try:
                    p.produce(topic, value=value)
                    break
                except BufferError:
                    p.poll(0.005)
            if i % 1000 == 0:
                p.poll(0)
        if p.flush(120):
            raise BenchError("%s: records left unacknowledged" % variant)

    send(1000)
    # Measure once the committer has joined (Tansu completes a join after about the session timeout) and commits.
    deadline = time.monotonic() + 60
    while metric(metrics_port, "kafkascope_requests_total", api="OffsetCommit") == 0:
        if time.monotonic() > deadline:
            raise BenchError("%s: the committer sent no OffsetCommit within 60 s" % variant)
        send(100)
        time.sleep(0.2)
    requests0, commits0 = metric(metrics_port, "kafkascope_requests_total", api="Produce"), \
        metric(metrics_port, "kafkascope_requests_total", api="OffsetCommit")
    cpu0, t0 = cpu_seconds(proxy.pid), time.perf_counter()
    send(args.requests, args.rate)
    elapsed, cpu = time.perf_counter() - t0, cpu_seconds(proxy.pid) - cpu0
    requests = metric(metrics_port, "kafkascope_requests_total", api="Produce") - requests0
    commits = metric(metrics_port, "kafkascope_requests_total", api="OffsetCommit") - commits0
    lag_series = metric(metrics_port, "kafkascope_consumergroup_lag_sum") if lag else None
    processes.check_alive(proxy)
    for proc in (committer, proxy, t):
        processes.stop(proc)
    return {"rps": requests / elapsed, "cpu_us": cpu / requests * 1e6, "requests": requests, "commits": commits,
            "seconds": elapsed, "lag_sum": lag_series}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rate", type=int, default=0,
                        help="produce requests per second to offer (default 0: as many as the client sends); at a "
                             "rate both variants keep up with, both read answers in like batches, so CPU per request "
                             "compares their work rather than how fast the round happened to run")
    parser.add_argument("--kafkascope", default=KAFKASCOPE)
    parser.add_argument("--baseline", help="compare this kafkascope binary with --kafkascope, both tracking lag")
    args = parser.parse_args()
    # name: (binary, tracks lag); the first is the baseline the ratio divides by.
    variants = {"baseline": (args.baseline, True), "current": (args.kafkascope, True)} if args.baseline else \
        {"no-lag": (args.kafkascope, False), "lag": (args.kafkascope, True)}
    (base_name, current_name) = list(variants)
    components = Components()
    tansu = components.tansu()
    components.check()
    results = {name: [] for name in variants}
    ports = set()
    with tempfile.TemporaryDirectory(prefix="lag-bench-") as workdir:
        processes = Processes(workdir)
        try:
            for round_number in range(args.rounds):
                for variant in rotated(list(variants), round_number):
                    binary, lag = variants[variant]
                    r = one_round(variant, binary, lag, args, processes, tansu, port_block([0, 1, 500], ports))
                    results[variant].append(r)
                    log("round %d %-6s %8.0f req/s  %5.1f us CPU/request  %d produce requests, %d commits%s" % (
                        round_number + 1, variant, r["rps"], r["cpu_us"], r["requests"], r["commits"],
                        "" if r["lag_sum"] is None else ", lag_sum series total %.0f" % r["lag_sum"]))
        finally:
            processes.stop_all()
    median = {v: medians(rs, ("rps", "cpu_us", "commits")) for v, rs in results.items()}
    print("| variant | requests/s | proxy CPU per request | OffsetCommit requests per round |")
    print("|---|---:|---:|---:|")
    for v in variants:
        print("| %s | %.0f | %.1f µs | %.0f |" % (v, median[v]["rps"], median[v]["cpu_us"], median[v]["commits"]))
    print("\n%s / %s: requests/s %.3f, CPU per request %.3f (medians of %d rounds of %d requests%s)" % (
        current_name, base_name, median[current_name]["rps"] / median[base_name]["rps"],
        median[current_name]["cpu_us"] / median[base_name]["cpu_us"], args.rounds, args.requests,
        ", offered at %d/s" % args.rate if args.rate else ""))
    # The two variants of a round ran minutes apart at most; their ratio cancels the machine's slower drifts.
    paired = [(c["rps"] / b["rps"], c["cpu_us"] / b["cpu_us"]) for b, c in zip(results[base_name], results[current_name])]
    print("per-round ratios, requests/s: %s; CPU per request: %s; medians %.3f and %.3f" % (
        ", ".join("%.3f" % r for r, _ in paired), ", ".join("%.3f" % c for _, c in paired),
        statistics.median(r for r, _ in paired), statistics.median(c for _, c in paired)))


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        sys.exit("lag_bench: %s" % e)
