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
import os
import random
import statistics
import sys
import tempfile
import time
import urllib.request

from bench_support import (HOST, KAFKASCOPE, BenchError, Components, Processes, logger, medians,
                           port_block, rotated, start_tansu, user_and_system_seconds)

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


class Side:
    """One variant's stack: a fresh in-memory Tansu, a proxy (metrics on) in front of it, the committing group member
    and a producer of one-record requests, warmed up until the member commits through the proxy."""

    def __init__(self, variant, binary, lag, processes, tansu, base):
        from confluent_kafka import Producer
        from confluent_kafka.admin import AdminClient, NewTopic
        self.variant, self.lag, self.processes = variant, lag, processes
        broker_port, listen, self.metrics_port = base, base + 1, base + 500
        self.tansu = start_tansu(processes, "tansu-%s" % variant, tansu, broker_port)
        self.proxy = processes.spawn("kafkascope-%s" % variant, [
            binary, "proxy", "--bootstrap-server", "%s:%d" % (HOST, broker_port),
            "--listen", "%s:%d" % (HOST, listen), "--metrics-listen", "%s:%d" % (HOST, self.metrics_port),
            "--log-level", "warning", "--lag", "true" if lag else "false"])
        processes.wait_port(self.proxy, listen, 20)
        bootstrap = "%s:%d" % (HOST, listen)
        self.topic = "small-requests"
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for f in admin.create_topics([NewTopic(self.topic, 1, 1)], operation_timeout=15).values():
            f.result(30)
        self.committer = processes.spawn("committer-%s" % variant,
                                         [sys.executable, "-c", COMMITTER, bootstrap, "bench-lag", self.topic])
        self.producer = Producer({
            "bootstrap.servers": bootstrap, "client.id": "bench-small", "acks": "all", "linger.ms": 0,
            "batch.num.messages": 1, "enable.idempotence": False, "compression.type": "none",
            "queue.buffering.max.messages": 500000, "delivery.report.only.error": True})
        send([self], 1000)
        # Measure once the committer has joined (Tansu completes a join after about the session timeout) and commits.
        deadline = time.monotonic() + 60
        while self.metric("kafkascope_requests_total", api="OffsetCommit") == 0:
            if time.monotonic() > deadline:
                raise BenchError("%s: the committer sent no OffsetCommit within 60 s" % variant)
            send([self], 100)
            time.sleep(0.2)

    def metric(self, name, **labels):
        return metric(self.metrics_port, name, **labels)

    def counters(self):
        """(proxy CPU seconds, its user and system seconds, Produce, OffsetCommit and Fetch requests) so far."""
        return (proxy_cpu_seconds(self.proxy.pid), user_and_system_seconds(self.proxy.pid),
                *(self.metric("kafkascope_requests_total", api=api) for api in ("Produce", "OffsetCommit", "Fetch")))

    def result(self, before, elapsed):
        cpu0, (user0, system0), requests0, commits0, fetches0 = before
        cpu, (user, system), requests, commits, fetches = self.counters()
        self.processes.check_alive(self.proxy)
        return {"rps": (requests - requests0) / elapsed, "cpu_us": (cpu - cpu0) / (requests - requests0) * 1e6,
                "user_share": (user - user0) / max(1e-9, (user - user0) + (system - system0)),
                "requests": requests - requests0, "commits": commits - commits0, "fetches": fetches - fetches0,
                "lag_sum": self.metric("kafkascope_consumergroup_lag_sum") if self.lag else None}

    def stop(self):
        for proc in (self.committer, self.proxy, self.tansu):
            self.processes.stop(proc)


def proxy_cpu_seconds(pid):
    """CPU seconds of all the proxy's threads, summed from their schedstat in nanoseconds (the clock ticks of
    /proc/PID/stat are 10 ms, too coarse for the tenth of a second a side uses in a second at --rate 2000). A thread
    that ends between listing and reading is skipped rather than the sum falling back to the coarser clock, which
    would mix the two clocks in one difference; the proxy's event-loop threads live as long as it does."""
    try:
        threads = os.listdir("/proc/%d/task" % pid)
    except OSError:
        raise BenchError("process %d is gone" % pid)
    total = 0
    for thread in threads:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, thread)) as f:
                total += int(f.read().split()[0])
        except OSError:
            continue
    return total / 1e9


def send(sides, count, rate=0):
    """Produces `count` records to each side, as fast as librdkafka takes them or, with `rate`, that many a second
    (in steps of 10 ms). With two sides each record goes to both, in alternating order, so both proxies see the same
    load at the same moments."""
    start = time.monotonic()
    for i in range(count):
        if rate and i % max(1, rate // 100) == 0:
            ahead = start + i / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        for side in (sides if i % 2 == 0 else sides[::-1]):
            while True:
                try:
                    side.producer.produce(side.topic, value=VALUE)
                    break
                except BufferError:
                    side.producer.poll(0.005)
            if i % 1000 == 0:
                side.producer.poll(0)
    for side in sides:
        if side.producer.flush(120):
            raise BenchError("%s: records left unacknowledged" % side.variant)


VALUE = b"x" * 100


def measure(sides, args):
    before = [side.counters() for side in sides]
    t0 = time.perf_counter()
    send(sides, args.requests, args.rate)
    elapsed = time.perf_counter() - t0
    return [side.result(b, elapsed) for side, b in zip(sides, before)]


def run_rounds(variants, args, processes, tansu):
    """{variant: [one result per round]}: each round a fresh stack per variant, one after the other in rotated order,
    or with --together both stacks at once, measured over the same seconds (fresh stacks every --restart rounds)."""
    results = {name: [] for name in variants}
    ports = set()

    def start(name):
        binary, lag = variants[name]
        return Side(name, binary, lag, processes, tansu, port_block([0, 1, 500], ports))

    sides = []
    for round_number in range(args.rounds):
        if args.together:
            if round_number % args.restart == 0:
                for side in sides:
                    side.stop()
                sides = [start(name) for name in variants]
            measured = rotated(sides, round_number)
            for side, r in zip(measured, measure(measured, args)):
                results[side.variant].append(r)
        else:
            for name in rotated(list(variants), round_number):
                side = start(name)
                results[name].append(measure([side], args)[0])
                side.stop()
        for name in variants:
            r = results[name][-1]
            log("round %d %-8s %8.0f req/s  %5.1f us CPU/request  %d produce requests, %d commits, %d fetches%s" % (
                round_number + 1, name, r["rps"], r["cpu_us"], r["requests"], r["commits"], r["fetches"],
                "" if r["lag_sum"] is None else ", lag_sum series total %.0f" % r["lag_sum"]))
    for side in sides:
        side.stop()
    return results


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
    parser.add_argument("--together", action="store_true",
                        help="run both variants' stacks at once, each record offered to both in turn, and measure "
                             "them over the same seconds (needs --rate)")
    parser.add_argument("--restart", type=int, default=3,
                        help="with --together, fresh stacks every this many rounds (default 3)")
    args = parser.parse_args()
    # name: (binary, tracks lag); the first is the baseline the ratio divides by.
    variants = {"baseline": (args.baseline, True), "current": (args.kafkascope, True)} if args.baseline else \
        {"no-lag": (args.kafkascope, False), "lag": (args.kafkascope, True)}
    (base_name, current_name) = list(variants)
    if args.together and not args.rate:
        parser.error("--together needs --rate: at full speed the two stacks would compete for the cores")
    components = Components()
    tansu = components.tansu()
    components.check()
    with tempfile.TemporaryDirectory(prefix="lag-bench-") as workdir:
        processes = Processes(workdir)
        try:
            results = run_rounds(variants, args, processes, tansu)
        finally:
            processes.stop_all()
    median = {v: medians(rs, ("rps", "cpu_us", "user_share", "commits")) for v, rs in results.items()}
    print("| variant | requests/s | proxy CPU per request | of which user space | OffsetCommit requests per round |")
    print("|---|---:|---:|---:|---:|")
    for v in variants:
        print("| %s | %.0f | %.1f µs | %.0f %% | %.0f |" % (v, median[v]["rps"], median[v]["cpu_us"],
                                                     100 * median[v]["user_share"], median[v]["commits"]))
    print("\n%s / %s: requests/s %.3f, CPU per request %.3f (medians of %d rounds of %d requests%s)" % (
        current_name, base_name, median[current_name]["rps"] / median[base_name]["rps"],
        median[current_name]["cpu_us"] / median[base_name]["cpu_us"], args.rounds, args.requests,
        ", offered at %d/s" % args.rate if args.rate else ""))
    # The two variants of a round ran back to back, or at once with --together; their ratio cancels the machine's
    # slower drifts.
    paired = [(c["rps"] / b["rps"], c["cpu_us"] / b["cpu_us"]) for b, c in zip(results[base_name], results[current_name])]
    print("per-round ratios, requests/s: %s; CPU per request: %s" % (
        ", ".join("%.3f" % r for r, _ in paired), ", ".join("%.3f" % c for _, c in paired)))
    for what, ratios in (("requests/s", [r for r, _ in paired]), ("CPU per request", [c for _, c in paired])):
        low, high = median_interval(ratios)
        print("median per-round ratio, %s: %.3f (95 %% bootstrap interval %.3f-%.3f, %d rounds)" % (
            what, statistics.median(ratios), low, high, len(ratios)))


def median_interval(xs, resamples=10000, seed=1):
    """A 95 % bootstrap interval for the median of xs: how far the median could move with other rounds like these."""
    rng = random.Random(seed)
    meds = sorted(statistics.median(rng.choices(xs, k=len(xs))) for _ in range(resamples))
    return meds[int(0.025 * resamples)], meds[int(0.975 * resamples) - 1]


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        sys.exit("lag_bench: %s" % e)
