"""Measuring for connections_bench.py: a process's descriptors and VmRSS, the proxy's /metrics (scraped, summed,
compared), waiting for a condition, and a producer's latency through the proxy beside a control proxy's."""
import os
import re
import time
import urllib.request

from bench_support import HOST, BenchError, logger, machine_busy_seconds, proc_status, tree_cpu_seconds
from proxy_load import DeliveryErrors, producer
from proxy_measure import percentile

log = logger("connections_bench")


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def rss_kib(pid):
    return proc_status(pid, "VmRSS")


def scrape(port, timeout=10.0):
    """/metrics as {'name{labels}': value}."""
    text = urllib.request.urlopen("http://%s:%d/metrics" % (HOST, port), timeout=timeout).read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def try_scrape(port, timeout=3.0):
    """(samples or None, what happened): for an endpoint that may not answer."""
    try:
        return scrape(port, timeout), "answered"
    except Exception as e:  # noqa: BLE001 - any failure is the finding
        return None, "no answer within %.0f s (%s)" % (timeout, type(e).__name__)


def metric(samples, name, **labels):
    """The sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for key, value in samples.items():
        base, _, rest = key.partition("{")
        if base == name and all('%s="%s"' % kv in rest for kv in labels.items()):
            total += value
    return total


def metric_series(samples, name):
    """{'{labels}': value} of every sample of `name`."""
    return {key[len(name):]: value for key, value in samples.items() if key.partition("{")[0] == name}


def metric_by(samples, name, label):
    """{value of `label`: sum} over the samples of `name`."""
    out = {}
    for key, value in samples.items():
        base, _, rest = key.partition("{")
        if base == name:
            m = re.search(r'%s="([^"]*)"' % label, rest)
            k = m.group(1) if m else ""
            out[k] = out.get(k, 0.0) + value
    return out


def delta(after, before):
    keys = set(after) | set(before)
    return {k: after.get(k, 0.0) - before.get(k, 0.0) for k in sorted(keys) if after.get(k, 0.0) != before.get(k, 0.0)}


def wait_for(what, predicate, timeout, interval=0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise BenchError("%s: not within %.0f s" % (what, timeout))
        time.sleep(interval)


def connections_active(metrics_port, side):
    return metric(scrape(metrics_port), "kafkascope_connections_active", side=side)


def paired_latency(bootstraps, topic, args):
    """Milliseconds of produce() + flush() of one 100-byte record (acks=all, linger.ms=0), one producer per
    bootstrap, taking turns sample by sample (the first of each pair alternating), so that every producer sees the
    same moments of the machine's other load. A list of samples per producer, after the warm-up."""
    producers = [producer(b, "conn-bench-latency-%d" % i, **{"linger.ms": 0}) for i, b in enumerate(bootstraps)]
    errors = [DeliveryErrors() for _ in producers]
    out = [[] for _ in producers]
    value = b"x" * 100
    deadline = time.monotonic() + args.phase_timeout
    try:
        for i in range(args.latency_warmup + args.latency_samples):
            for k in (range(len(producers)) if i % 2 == 0 else reversed(range(len(producers)))):
                t0 = time.perf_counter_ns()
                producers[k].produce(topic, value=value, on_delivery=errors[k])
                left = producers[k].flush(10)
                t1 = time.perf_counter_ns()
                if left:
                    raise BenchError("latency via %s: record %d not acknowledged within 10 s" % (bootstraps[k], i))
                if i >= args.latency_warmup:
                    out[k].append((t1 - t0) / 1e6)
            if time.monotonic() > deadline:
                raise BenchError("latency: timed out after %.0f s at sample %d" % (args.phase_timeout, i))
        for k, e in enumerate(errors):
            e.check("latency via %s" % bootstraps[k])
    finally:
        for p in producers:
            p.flush(5)
    return out


def latency(bootstrap, control, topic, args, what):
    """p50 and p99 through the proxy under test, p99 through the control proxy in the same moments, and the cores
    other processes than ours used meanwhile."""
    busy0, ours0, t0 = machine_busy_seconds(), tree_cpu_seconds(os.getpid()), time.monotonic()
    lat, ctl = paired_latency([bootstrap, control], topic, args)
    other = max(0.0, (machine_busy_seconds() - busy0) - (tree_cpu_seconds(os.getpid()) - ours0)) / \
        (time.monotonic() - t0)
    p50, p99, c99 = percentile(lat, 50), percentile(lat, 99), percentile(ctl, 99)
    log("%s: sync produce p50 %.3f ms, p99 %.3f ms, max %.3f ms; through the control proxy p99 %.3f ms; other load "
        "%.2f cores" % (what, p50, p99, max(lat), c99, other))
    return p50, p99, c99, other
