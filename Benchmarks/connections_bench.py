#!/usr/bin/env python3
"""Many connections (issue 17): thousands of client connections held open through `kafkascope proxy` in front of
Tansu, the proxy's memory per connection, a healthy producer's latency beside them, and running out of file
descriptors.

Each round, on a fresh in-memory Tansu and a fresh proxy (metrics on, default limits):
  1. (first round, unless --no-tansu-check) Tansu alone: the load generator opens --levels' largest number of
     connections straight to Tansu, each sends an ApiVersions request and must be answered, then once more on
     every connection; then they are closed. This shows that Tansu holds that many connections itself.
  2. The proxy starts, and a control proxy (the same binary in front of the same Tansu, used by nothing but a
     producer); a topic is created and two confluent-kafka producers, one through each proxy, make
     --latency-samples synchronous one-record produces (after --latency-warmup), taking turns sample by sample:
     the unloaded latency, and the control's at the same moments (what the machine's other load did). Once the
     producers' connections are closed, the proxy's VmRSS is the idle RSS.
  3. For each level of --levels (default 1000,5000,9000, cumulative): the load generator (connections_load.py, its
     own process, non-blocking sockets on epoll) opens connections through the proxy up to that level; every new
     connection sends an ApiVersions v3 request and must get its answer (correlation id and error code checked).
     Then one more request on every open connection ("sweep"), all answered. The proxy's
     kafkascope_connections_active{side="client"} and {side="broker"} must both equal the level: every client
     connection holds its own upstream connection. After --settle s, RSS per connection = (VmRSS - idle) / level.
  4. Holding the largest level: --quiet-hold s with no traffic (proxy CPU), then every connection sends one
     request every --ping-period s, spread evenly, for --hold s (proxy, Tansu and generator CPU; the machine's
     other load), and, with the pings still running, the producers' latency again: loaded. The pings must all be
     answered, none still unanswered a whole period later. A last sweep over every connection, then all close
     and the producer's latency is measured once more (unloaded, after).
Then, once per --fd-limits value (default 1024 and 1025, both parities of what is left for connections), on a
fresh Tansu and proxy started with RLIMIT_NOFILE at that value (log level info):
  5. descriptor exhaustion: the generator opens more connections than the proxy has descriptors for (2 per
     connection) and waits --answer-timeout s for each first answer; then it checks that the proxy is alive, that
     every connection that was answered is answered again, and scrapes /metrics (the endpoint needs a descriptor
     too); then it closes the unanswered connections and --exhaust-free answered ones, scrapes /metrics again,
     opens half as many new ones, which must be answered, sweeps every connection again, and reads the proxy's
     log and /metrics for the refusals.

Prints Markdown tables (medians, every round, targets with verdicts, the exhaustion checks) on stdout, progress on
stderr. Load generator: connections_load.py; clients: proxy_load.py; shared helpers: bench_support.py. This file
holds the options and the main loop; the rounds (steps 1-4) are in connections_rounds.py, the exhaustion test
(step 5) in connections_exhaust.py, the generator and proxy processes in connections_processes.py, measuring in
connections_measure.py, and the tables in connections_report.py. See Benchmarks/README.md.

  python3 Benchmarks/connections_bench.py --kafkascope PATH [--rounds N] [--levels 1000,5000,9000]
"""
import argparse
import resource
import tempfile
import time

from bench_support import KAFKASCOPE, Components, Processes, cleanup, exit_on_signals, logger, run_main
from connections_exhaust import exhaustion
from connections_report import report
from connections_rounds import one_round

log = logger("connections_bench")


# ---------------------------------------------------------------------------------------------- main

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kafkascope", default=KAFKASCOPE, help="kafkascope binary (default .build/release/kafkascope)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds, each on a fresh Tansu and proxy (3)")
    ap.add_argument("--levels", default="1000,5000,9000", help="connection counts, ascending (1000,5000,9000)")
    ap.add_argument("--concurrency", type=int, default=200, help="connections opening at a time (200)")
    ap.add_argument("--answer-timeout", type=float, default=30.0, help="seconds a request may wait (30)")
    ap.add_argument("--open-timeout", type=float, default=300.0, help="seconds one open step may take (300)")
    ap.add_argument("--settle", type=float, default=2.0, help="seconds before reading RSS (2)")
    ap.add_argument("--quiet-hold", type=float, default=10.0, help="seconds holding without traffic (10)")
    ap.add_argument("--hold", type=float, default=30.0, help="seconds holding with periodic requests (30)")
    ap.add_argument("--ping-period", type=float, default=10.0, help="seconds between one connection's periodic "
                    "requests (10: 900 requests/s at 9,000 connections)")
    ap.add_argument("--latency-samples", type=int, default=1000, help="timed synchronous produces (1000)")
    ap.add_argument("--latency-warmup", type=int, default=200, help="untimed synchronous produces first (200)")
    ap.add_argument("--phase-timeout", type=float, default=120.0, help="seconds a producer phase may take (120)")
    ap.add_argument("--no-tansu-check", action="store_true", help="skip Tansu alone in the first round")
    ap.add_argument("--fd-limits", default="1024,1025", help="RLIMIT_NOFILE values for the exhaustion test "
                    "(1024,1025; empty: no exhaustion test)")
    ap.add_argument("--exhaust-extra", type=int, default=300, help="connections offered beyond the room (300)")
    ap.add_argument("--exhaust-free", type=int, default=100, help="connections closed, then opened anew (100)")
    ap.add_argument("--exhaust-concurrency", type=int, default=64, help="connections opening at a time (64)")
    ap.add_argument("--keep-logs", action="store_true", help="keep the logs directory")
    args = ap.parse_args()
    try:
        args.levels = [int(x) for x in args.levels.split(",") if x.strip()]
        args.fd_limits = [int(x) for x in args.fd_limits.split(",") if x.strip()]
    except ValueError:
        ap.error("--levels and --fd-limits take comma-separated integers")
    if not args.levels or args.levels != sorted(set(args.levels)) or args.levels[0] < 1:
        ap.error("--levels: positive, ascending, distinct")
    if args.rounds < 0 or (args.rounds == 0 and not args.fd_limits):
        ap.error("nothing to do")
    if any(n < 64 for n in args.fd_limits):
        ap.error("--fd-limits: at least 64")
    return args


def main():
    args = parse_args()
    comps = Components()
    found = {"tansu": comps.tansu(), "kafkascope": comps.kafkascope(args.kafkascope)}
    comps.python_package("confluent_kafka", "confluent-kafka")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    need = 2 * max(args.levels) + 200  # the proxy: two per connection
    if args.rounds and hard != resource.RLIM_INFINITY and hard < need:
        comps.missing.append("a descriptor limit (hard RLIMIT_NOFILE) of at least %d for the proxy; it is %d"
                             % (need, hard))
    comps.check()
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the proxy, Tansu and the generator
    exit_on_signals()
    logdir = tempfile.mkdtemp(prefix="connections_bench-")
    procs = Processes(logdir)
    ports, rounds, exhausted, tansu = set(), [], [], None
    start = time.monotonic()
    log("logs in %s; kafkascope %s; tansu %s; descriptor limit %d" % (logdir, found["kafkascope"], found["tansu"],
                                                                      hard))
    with cleanup(procs, args.keep_logs, log):
        for rnd in range(args.rounds):
            log("round %d of %d" % (rnd + 1, args.rounds))
            r = one_round(rnd, args, found, procs, ports, check_tansu=rnd == 0 and not args.no_tansu_check)
            tansu = r.pop("tansu", tansu)
            rounds.append(r)
        for limit in args.fd_limits:
            exhausted.append(exhaustion(limit, args, found, procs, ports))
    report(rounds, tansu, exhausted, args, time.monotonic() - start)


if __name__ == "__main__":
    run_main("connections_bench", main)
