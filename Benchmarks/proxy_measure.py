"""proxy_bench's measurement: one path through the produce, consume, latency and small-request phases, with the forwarder's CPU
read from /proc around each phase and the machine's other load."""
import os
import statistics
import time
import uuid

from bench_support import MB, logger, machine_busy_seconds, tree_cpu_seconds
from proxy_load import create_topics, run_consume, run_latency, run_produce, run_small_requests

log = logger("proxy_bench")
GB = 1e9


def percentile(xs, q):
    """Nearest-rank percentile."""
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(round(q / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def after_phase(path, peers, what):
    """After a client phase: check that its connections went through the forwarder only, wait for socat's
    per-connection children to be reaped, read the forwarder's CPU (None without one), check all still run."""
    path.check_peers(peers, what)
    path.settle()
    cpu = path.cpu()
    path.check()
    return cpu


def bench_path(path, args, values):
    r = {"path": path.name}
    suffix = uuid.uuid4().hex[:8]
    topic, lat_topic, small_topic = "bench-%s" % suffix, "latency-%s" % suffix, "small-%s" % suffix
    create_topics(path.bootstrap, [topic, lat_topic], args.partitions, security=path.client_config)
    small = args.small_requests if not path.client_config else 0  # plaintext paths: HAProxy in plain TCP is the bar
    if small:
        create_topics(path.bootstrap, [small_topic], 1)  # one partition: one record per Produce request
    total_bytes = args.records * args.record_bytes

    path.settle()
    cpu0 = path.cpu()
    busy0, ours0, wall0 = machine_busy_seconds(), tree_cpu_seconds(os.getpid()), time.monotonic()
    r["produce_s"], peers, _ = run_produce(path.bootstrap, topic, lat_topic, values, args.records,
                                           args.phase_timeout, path.client_config)
    cpu1 = after_phase(path, peers, "produce")
    r["produce_mbs"] = total_bytes / MB / r["produce_s"]
    log("%s: produced %d x %d B in %.2f s = %.1f MB/s" % (path.name, args.records, args.record_bytes,
                                                          r["produce_s"], r["produce_mbs"]))

    r["consume_s"], peers = run_consume(path.bootstrap, topic, args.partitions, args.records, total_bytes,
                                        args.phase_timeout, path.client_config)
    cpu2 = after_phase(path, peers, "consume")
    r["consume_mbs"] = total_bytes / MB / r["consume_s"]
    log("%s: consumed in %.2f s = %.1f MB/s" % (path.name, r["consume_s"], r["consume_mbs"]))

    lat = run_latency(path.bootstrap, lat_topic, values[0], args.latency_samples, args.latency_warmup,
                      args.phase_timeout, path.client_config)
    path.settle()
    cpu3 = path.cpu()
    path.check()
    r["p50"], r["p99"] = percentile(lat, 50), percentile(lat, 99)
    r["mean"], r["max"] = statistics.fmean(lat), max(lat)
    log("%s: latency p50 %.3f ms, p99 %.3f ms, max %.3f ms (%d samples)"
        % (path.name, r["p50"], r["p99"], r["max"], len(lat)))

    cpu4 = cpu3
    if small:
        r["small_s"], peers, acked = run_small_requests(path.bootstrap, small_topic, lat_topic, small,
                                                        args.phase_timeout)
        cpu4 = after_phase(path, peers, "small requests")
        r["small_rps"] = acked / r["small_s"]
        log("%s: %d small requests in %.2f s = %.0f requests/s" % (path.name, acked, r["small_s"], r["small_rps"]))
    busy1, ours1, wall1 = machine_busy_seconds(), tree_cpu_seconds(os.getpid()), time.monotonic()
    # CPU used on the machine by processes other than this one and its children (Tansu, the forwarder):
    # anything else running at the same time, in cores on average. High values mean a disturbed measurement.
    r["other_cores"] = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / (wall1 - wall0)
    log("%s: other processes used %.2f cores" % (path.name, r["other_cores"]))

    if cpu0 is not None:
        r["cpu_produce_s"], r["cpu_consume_s"] = cpu1 - cpu0, cpu2 - cpu1
        r["cpu_latency_s"], r["cpu_small_s"] = cpu3 - cpu2, cpu4 - cpu3
        r["cpu_produce_per_gb"] = r["cpu_produce_s"] / (total_bytes / GB)
        r["cpu_consume_per_gb"] = r["cpu_consume_s"] / (total_bytes / GB)
        r["cpu_per_gb"] = (r["cpu_produce_s"] + r["cpu_consume_s"]) / (2 * total_bytes / GB)
        r["cpu_latency_ms_per_req"] = r["cpu_latency_s"] * 1000 / (args.latency_samples + args.latency_warmup)
        if small:
            r["cpu_small_us_per_req"] = r["cpu_small_s"] * 1e6 / acked
        log("%s: forwarder CPU %.2f s produce, %.2f s consume, %.2f s latency, %.2f s small-request phase"
            % (path.name, r["cpu_produce_s"], r["cpu_consume_s"], r["cpu_latency_s"], r["cpu_small_s"]))
    return r
