#!/usr/bin/env python3
"""End-to-end proxy benchmark: the same confluent-kafka load against a real Tansu broker, seven ways in one run.

  direct                 client -> Tansu
  haproxy                client -> HAProxy (`mode tcp`, plain TCP: the blind forwarder to beat) -> Tansu
  socat                  client -> socat (blind TCP forwarder, no decoding) -> Tansu
  kafkascope             client -> kafkascope proxy (decoding every frame, metrics on) -> Tansu
  kafkascope-no-metrics  client -> kafkascope proxy --no-metrics (forwarding and rewriting only) -> Tansu
  kafkascope-tls         client =TLS=> kafkascope proxy --tls-cert/--tls-key --upstream-tls (metrics on)
                           =TLS=> TLS broker -> Tansu
  haproxy-tls            client =TLS=> HAProxy (blind TLS-terminating forwarder, `mode tcp`, same certificate)
                           =TLS=> TLS broker -> Tansu

Run only when named in --paths: kafkascope-baseline (--baseline BINARY on the kafkascope path) and
kafkascope-exchange-log (the kafkascope path with --exchange-log to a file: what the log costs).

The "TLS broker" is an HAProxy `mode tcp` frontend terminating TLS in front of a plaintext Tansu (Tansu 0.6.0 has
no TLS); it is the same in both TLS paths and its CPU is not counted. The certificates (a throwaway CA and a server
certificate for 127.0.0.1) are made with the openssl CLI in a temporary directory at start and deleted at the end.

For each path, on a fresh in-memory Tansu and fresh topics:
  1. produce throughput: --records records of --record-bytes random bytes (no key, no compression, acks=all);
  2. consume throughput: a consumer reads that topic from the beginning (assign(), OFFSET_BEGINNING);
  3. latency: --latency-samples synchronous single-record produces (produce, flush, repeat) after a warm-up;
  4. small requests (plaintext paths): --small-requests pipelined Produce requests of one 100-byte record each;
  5. forwarder CPU: utime+stime (+ reaped children) of the forwarder's process tree from /proc, read around each
     phase, per GB of record bytes moved (phases 1 and 2) and per request (phases 3 and 4).

Prints a Markdown table and the ratios against direct, haproxy (every figure, with the HAProxy targets), socat and
kafkascope --no-metrics (the cost of the metrics), then kafkascope-tls against kafkascope (plaintext) and
haproxy-tls, with the TLS target.
See Benchmarks/README.md.

The paths: proxy_paths.py, proxy_tls.py; load: proxy_load.py (the clients); measurement: proxy_measure.py; report:
proxy_report.py; shared helpers: bench_support.py.

  python3 Benchmarks/proxy_bench.py [--records N] [--latency-samples N] [--kafkascope PATH] [--paths A,B,...]
"""
import argparse
import random
import subprocess
import tempfile
import time

from bench_support import KAFKASCOPE, Components, Processes, cleanup, exit_on_signals, logger, rotated, run_main
from proxy_measure import bench_path
from proxy_paths import EXTRA_PATHS, HAPROXY_PATHS, PATHS, TLS_PATHS, Path_
from proxy_report import report
from proxy_tls import TLSMaterial

log = logger("proxy_bench")


def find_components(args, names):
    """The binaries the selected paths `names` need, as a dict; BenchError naming everything that is missing."""
    components = Components()
    tansu = components.tansu()
    socat = components.tool("socat") if "socat" in names else None
    kafkascope = None
    if any(n.startswith("kafkascope") for n in names):
        kafkascope = components.kafkascope(args.kafkascope)
        if kafkascope and "kafkascope-tls" in names:
            try:
                usage = subprocess.run([kafkascope, "proxy", "--help"], stdin=subprocess.DEVNULL,
                                       capture_output=True, timeout=30)
                usage = (usage.stdout + usage.stderr).decode(errors="replace")
            except (OSError, subprocess.TimeoutExpired) as e:
                usage = "<%s>" % e
            if "--tls-cert" not in usage or "--upstream-tls" not in usage:
                components.missing.append("kafkascope binary %r has no --tls-cert/--upstream-tls (built before TLS "
                                          "support? rebuild it, or --kafkascope PATH); needed by kafkascope-tls"
                                          % kafkascope)
    tls_paths = [n for n in names if n in TLS_PATHS]
    haproxy_paths = [n for n in names if n in HAPROXY_PATHS]
    haproxy = components.tool("haproxy", env="HAPROXY_BIN", needed_by=haproxy_paths) if haproxy_paths else None
    openssl = components.tool("openssl", env="OPENSSL_BIN", needed_by=tls_paths) if tls_paths else None
    baseline = None
    if "kafkascope-baseline" in names:
        baseline = components.kafkascope(args.baseline) if args.baseline else None
        if not args.baseline:
            components.missing.append("--baseline BINARY, the other build that kafkascope-baseline runs")
    components.python_package("confluent_kafka", "confluent-kafka")
    components.check()
    return {"tansu": tansu, "socat": socat, "kafkascope": kafkascope, "haproxy": haproxy, "openssl": openssl,
            "baseline": baseline}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=150000, help="records per path for the throughput phases "
                    "(default 150000, i.e. ~154 MB of 1 KiB records)")
    ap.add_argument("--record-bytes", type=int, default=1024, help="value size in bytes (default 1024)")
    ap.add_argument("--latency-samples", type=int, default=2000, help="timed synchronous produces (default 2000)")
    ap.add_argument("--latency-warmup", type=int, default=200, help="untimed synchronous produces first (200)")
    ap.add_argument("--small-requests", type=int, default=100000, help="pipelined one-record Produce requests per "
                    "plaintext path (default 100000; 0 skips the phase)")
    ap.add_argument("--partitions", type=int, default=1, help="partitions per topic (default 1)")
    ap.add_argument("--rounds", type=int, default=5, help="repeat every path this many times, rotating the "
                    "order, and report medians (default 5)")
    ap.add_argument("--kafkascope", default=KAFKASCOPE,
                    help="kafkascope binary (default .build/release/kafkascope)")
    ap.add_argument("--baseline", default=None, help="another kafkascope build, run as the kafkascope-baseline "
                    "path (name it in --paths) to compare builds in the same run")
    ap.add_argument("--socat-block-size", type=int, default=None, help="pass -b N to socat (default: socat's "
                    "own, 8192 bytes per read/write)")
    ap.add_argument("--paths", default=",".join(PATHS), help="comma-separated subset, in run order (default %s)"
                    % ",".join(PATHS))
    ap.add_argument("--haproxy-threads", type=int, default=None, help="nbthread for every HAProxy (the haproxy "
                    "path's, and both of the TLS paths'; default: HAProxy's own, one thread per CPU)")
    ap.add_argument("--phase-timeout", type=float, default=120.0, help="seconds any one phase may take (120)")
    ap.add_argument("--keep-logs", action="store_true", help="keep the broker/forwarder logs directory")
    args = ap.parse_args()
    if min(args.records, args.latency_samples, args.record_bytes, args.partitions, args.rounds) < 1:
        ap.error("--records, --record-bytes, --latency-samples, --partitions and --rounds must be positive")
    if min(args.latency_warmup, args.small_requests) < 0:
        ap.error("--latency-warmup and --small-requests must not be negative")
    if args.haproxy_threads is not None and args.haproxy_threads < 1:
        ap.error("--haproxy-threads must be positive")
    names = [n.strip() for n in args.paths.split(",") if n.strip()]
    bad = [n for n in names if n not in PATHS + EXTRA_PATHS]
    if bad or not names or len(set(names)) != len(names):
        ap.error("--paths: give each of %s at most once (got %s)" % (", ".join(PATHS + EXTRA_PATHS), args.paths))
    return args, names


def main():
    args, names = parse_args()
    components = find_components(args, names)
    exit_on_signals()
    rng = random.Random(1)
    values = [rng.randbytes(args.record_bytes) for _ in range(64)]  # incompressible payloads
    logdir = tempfile.mkdtemp(prefix="proxy_bench-")
    procs = Processes(logdir)
    ports = set()
    per_path = {name: [] for name in names}
    start = time.monotonic()
    log("logs in %s; %s" % (logdir, "; ".join("%s %s" % (k, v) for k, v in components.items() if v)))
    tls = None
    scratch = []  # deleted at the end even when the logs are kept
    with cleanup(procs, args.keep_logs, log, scratch):
        if any(n in TLS_PATHS for n in names):
            tls_dir = tempfile.mkdtemp(prefix="proxy_bench-tls-")  # throwaway CA and keys
            scratch.append(tls_dir)
            tls = TLSMaterial(components["openssl"], tls_dir)
            log("TLS material (test CA, server certificate for 127.0.0.1) in %s" % tls_dir)
        for rnd in range(args.rounds):
            order = rotated(names, rnd)
            log("round %d of %d: %s" % (rnd + 1, args.rounds, ", ".join(order)))
            for pos, name in enumerate(order):
                path = Path_(name, procs, components, ports, tls=tls, haproxy_threads=args.haproxy_threads)
                path.socat_block_size = args.socat_block_size
                try:
                    path.start()
                    r = bench_path(path, args, values)
                finally:
                    path.stop()
                r.update(path.summary())
                r["round"], r["order"] = rnd, pos
                per_path[name].append(r)
    report(per_path, args, time.monotonic() - start)


if __name__ == "__main__":
    run_main("proxy_bench", main)
