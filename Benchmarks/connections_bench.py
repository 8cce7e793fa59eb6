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
stderr. Load generator: connections_load.py; clients: proxy_load.py; shared helpers: bench_support.py. See
Benchmarks/README.md.

  python3 Benchmarks/connections_bench.py --kafkascope PATH [--rounds N] [--levels 1000,5000,9000]
"""
import argparse
import contextlib
import json
import os
import re
import resource
import socket
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from bench_support import (HOST, KAFKASCOPE, BenchError, Components, Processes, cleanup, cpu_seconds,
                           exit_on_signals, fmt, logger, machine_busy_seconds, medians, port_block, proc_status,
                           run_main, start_tansu, tail, tree_cpu_seconds)
from proxy_load import DeliveryErrors, create_topics, producer
from proxy_measure import percentile
from proxy_paths import TANSU_NODE_ID

log = logger("connections_bench")
LOAD = Path(__file__).resolve().with_name("connections_load.py")
# Runs the proxy with RLIMIT_NOFILE set to argv[1] (soft and hard), as the same process (exec).
LIMITED = ("import os, resource, sys; n = int(sys.argv[1]); resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)); "
           "os.execv(sys.argv[2], sys.argv[2:])")


# ---------------------------------------------------------------------------------------------- helpers

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


def fd_log_lines(path):
    """The proxy's log lines about running out of descriptors or failing to accept."""
    lines = Path(path).read_text(errors="replace").splitlines()
    return [x for x in lines if re.search(r"too many open files|EMFILE|descriptor|accept", x, re.I)]


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


class Generator:
    """connections_load.py in its own process (its own descriptor limit), driven over a Unix socket."""

    def __init__(self, procs, name):
        self.procs = procs
        path = procs.logdir / ("%s.sock" % name)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        server.listen(1)
        server.settimeout(30)
        self.proc = procs.spawn(name, [sys.executable, str(LOAD), str(path)])
        try:
            self.sock, _ = server.accept()
        except socket.timeout as e:
            raise BenchError("the load generator did not connect back; log tail:\n%s" % tail(self.proc.bench_log)) from e
        finally:
            server.close()
        self.file = self.sock.makefile("rb")

    def call(self, cmd, **params):
        """Sends a command; its answer must come within 30 s more than the command's own `timeout` (or 60 s)."""
        self.sock.settimeout(params.get("timeout", 60.0) + 30)
        try:
            self.sock.sendall((json.dumps(dict(cmd=cmd, **params)) + "\n").encode())
            line = self.file.readline()
        except (OSError, socket.timeout) as e:
            raise BenchError("load generator, %s: %s; log tail:\n%s" % (cmd, e, tail(self.proc.bench_log))) from e
        if not line:
            raise BenchError("load generator exited during %s; log tail:\n%s" % (cmd, tail(self.proc.bench_log)))
        return json.loads(line)

    def stop(self):
        with contextlib.suppress(Exception):
            self.sock.settimeout(2)
            self.sock.sendall(b'{"cmd": "quit"}\n')
            self.file.readline()
        with contextlib.suppress(Exception):
            self.sock.close()
        self.procs.stop(self.proc)


def start_proxy(procs, binary, tansu_port, ports, name, fd_limit=None, log_level="warning"):
    listen = port_block([0, 1 + TANSU_NODE_ID], ports)  # Tansu's node 111 is served on listen + 1 + 111
    metrics_port = port_block([0], ports)
    argv = [binary, "proxy", "--bootstrap-server", "%s:%d" % (HOST, tansu_port), "--listen", "%s:%d" % (HOST, listen),
            "--metrics-listen", "%s:%d" % (HOST, metrics_port), "--log-level", log_level]
    if fd_limit is not None:
        argv = [sys.executable, "-c", LIMITED, str(fd_limit)] + argv
    proc = procs.spawn(name, argv)
    procs.wait_port(proc, listen, 20)
    procs.wait_port(proc, metrics_port, 20)
    return proc, listen, metrics_port


def connections_active(metrics_port, side):
    return metric(scrape(metrics_port), "kafkascope_connections_active", side=side)


def require_all_answered(res, expected, what):
    """An open or sweep answer: `expected` requests answered, nothing failed, nothing left unanswered."""
    unanswered = res.get("unanswered")
    if res.get("answered") != expected or res.get("failed") or unanswered:
        raise BenchError("%s: %s of %d answered, failures %s, unanswered %s, generator states %s"
                         % (what, res.get("answered"), expected, res.get("failed"), unanswered, res.get("states")))


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


# ---------------------------------------------------------------------------------------------- phases

def tansu_check(gen, tansu, port, count, args):
    """Tansu alone holds `count` connections, each answered when opened and once more after all are open."""
    fds0 = fd_count(tansu.pid)
    res = gen.call("open", timeout=args.open_timeout, port=port, count=count, concurrency=args.concurrency,
                   answer_timeout=args.answer_timeout)
    require_all_answered(res, count, "Tansu alone, opening %d connections" % count)
    sweep = gen.call("sweep", timeout=args.answer_timeout)
    require_all_answered(sweep, count, "Tansu alone, a request on each of %d connections" % count)
    out = {"count": count, "open_s": res["seconds"], "answered_open": res["answered"], "answered_sweep":
           sweep["answered"], "fds": fd_count(tansu.pid) - fds0, "rss_kib": rss_kib(tansu.pid)}
    gen.call("close", which="all")
    wait_for("Tansu closing the connections", lambda: fd_count(tansu.pid) <= fds0 + 2, 60)
    log("Tansu alone: %d connections opened in %.1f s, all answered twice; Tansu held %d more descriptors, VmRSS "
        "%.0f MiB" % (count, res["seconds"], out["fds"], out["rss_kib"] / 1024))
    return out


def one_round(rnd, args, comps, procs, ports, check_tansu):
    r = {"round": rnd + 1}
    tansu_port = port_block([0], ports)
    tansu = start_tansu(procs, "tansu-r%d" % (rnd + 1), comps["tansu"], tansu_port)
    gen = Generator(procs, "load-r%d" % (rnd + 1))
    proxy = control_proxy = None
    try:
        if check_tansu:
            r["tansu"] = tansu_check(gen, tansu, tansu_port, max(args.levels), args)
        proxy, listen, mport = start_proxy(procs, comps["kafkascope"], tansu_port, ports, "kafkascope-r%d" % (rnd + 1))
        # The control: a second proxy in front of the same Tansu that only the producer uses. Its latency, taken
        # in turns with the proxy under test's, shows what the machine's other load did at the same moments.
        control_proxy, control_listen, _ = start_proxy(procs, comps["kafkascope"], tansu_port, ports,
                                                       "control-r%d" % (rnd + 1))
        bootstrap, control = "%s:%d" % (HOST, listen), "%s:%d" % (HOST, control_listen)
        topic = "latency-%s" % uuid.uuid4().hex[:8]
        create_topics(bootstrap, [topic], 1)
        r["p50_unloaded"], r["p99_unloaded"], r["c99_unloaded"], r["other_unloaded"] = latency(bootstrap, control, topic, args, "unloaded")
        wait_for("the producer's connections closed", lambda: connections_active(mport, "client") == 0, 30)
        time.sleep(args.settle)
        r["rss_idle_kib"], r["fds_idle"] = rss_kib(proxy.pid), fd_count(proxy.pid)
        errors0 = scrape(mport)
        log("round %d: proxy idle VmRSS %.1f MiB, %d descriptors" % (rnd + 1, r["rss_idle_kib"] / 1024, r["fds_idle"]))

        held = 0
        for level in args.levels:
            res = gen.call("open", timeout=args.open_timeout, port=listen, count=level - held,
                           concurrency=args.concurrency, answer_timeout=args.answer_timeout)
            require_all_answered(res, level - held, "opening connections %d-%d through the proxy" % (held + 1, level))
            r["open_s_%d" % level] = res["seconds"]
            held = level
            sweep = gen.call("sweep", timeout=args.answer_timeout)
            require_all_answered(sweep, level, "a request on each of %d connections" % level)
            samples = scrape(mport)
            client, broker = (metric(samples, "kafkascope_connections_active", side=s) for s in ("client", "broker"))
            if client != level or broker != level:
                raise BenchError("%d connections open, but the proxy reports %d client and %d broker connections"
                                 % (level, client, broker))
            time.sleep(args.settle)
            procs.check_alive(proxy)
            rss = rss_kib(proxy.pid)
            r["rss_kib_%d" % level], r["fds_%d" % level] = rss, fd_count(proxy.pid)
            r["per_conn_kib_%d" % level] = (rss - r["rss_idle_kib"]) / level
            r["sweep_p99_ms_%d" % level] = sweep["lat_ms"]["p99"]
            log("round %d: %d connections (opened in %.1f s), all answered twice; proxy VmRSS %.1f MiB = %.2f KiB per "
                "connection, %d descriptors; Tansu %d descriptors" % (
                    rnd + 1, level, res["seconds"], rss / 1024, r["per_conn_kib_%d" % level], r["fds_%d" % level],
                    fd_count(tansu.pid)))
        top = held

        cpu0, t0 = cpu_seconds(proxy.pid), time.monotonic()
        time.sleep(args.quiet_hold)
        r["cpu_quiet"] = (cpu_seconds(proxy.pid) - cpu0) / (time.monotonic() - t0)

        requests0 = metric(scrape(mport), "kafkascope_requests_total", api="ApiVersions")
        pinging = gen.call("ping", period=args.ping_period)["pinging"]
        if pinging != top:
            raise BenchError("only %d of %d connections idle when the pings started" % (pinging, top))
        pids = {"proxy": proxy.pid, "tansu": tansu.pid, "gen": gen.proc.pid}
        cpu0 = {k: cpu_seconds(p) for k, p in pids.items()}
        busy0, ours0, t0 = machine_busy_seconds(), tree_cpu_seconds(os.getpid()), time.monotonic()
        time.sleep(args.hold)
        wall = time.monotonic() - t0
        cpu1 = {k: cpu_seconds(p) for k, p in pids.items()}
        busy1, ours1 = machine_busy_seconds(), tree_cpu_seconds(os.getpid())
        requests = metric(scrape(mport), "kafkascope_requests_total", api="ApiVersions") - requests0
        for k in pids:
            r["cpu_hold_%s" % k] = (cpu1[k] - cpu0[k]) / wall
        r["hold_rps"] = requests / wall
        r["cpu_us_per_ping"] = (cpu1["proxy"] - cpu0["proxy"]) * 1e6 / requests if requests else None
        r["other_cores"] = max(0.0, (busy1 - busy0) - (ours1 - ours0)) / wall
        r["rss_hold_kib"] = rss_kib(proxy.pid)
        log("round %d: holding %d connections: proxy CPU %.3f cores quiet; with pings (%.0f requests/s) proxy %.3f, "
            "Tansu %.3f, generator %.3f cores, %.1f µs proxy CPU per request; other load %.2f cores" % (
                rnd + 1, top, r["cpu_quiet"], r["hold_rps"], r["cpu_hold_proxy"], r["cpu_hold_tansu"],
                r["cpu_hold_gen"], r["cpu_us_per_ping"] or 0, r["other_cores"]))

        r["p50_loaded"], r["p99_loaded"], r["c99_loaded"], r["other_loaded"] = latency(
            bootstrap, control, topic, args, "with %d connections" % top)
        pings = gen.call("unping", timeout=args.answer_timeout)
        if pings.get("failed") or pings.get("unanswered") or pings.get("busy") or pings["answered"] != pings["sent"]:
            raise BenchError("periodic requests: %d sent, %d answered, %s unanswered, %s a period late, failures %s"
                             % (pings["sent"], pings["answered"], pings.get("unanswered"), pings.get("busy"),
                                pings.get("failed")))
        r["pings"], r["ping_p99_ms"] = pings["answered"], pings["lat_ms"]["p99"] if pings["lat_ms"] else None
        sweep = gen.call("sweep", timeout=args.answer_timeout)
        require_all_answered(sweep, top, "the last request on each of %d connections" % top)
        samples = scrape(mport)
        errors = delta(metric_by(samples, "kafkascope_connection_errors_total", "reason"),
                       metric_by(errors0, "kafkascope_connection_errors_total", "reason"))
        # Every generator connection is still open here, so a request counted unanswered with client_closed was the
        # producers' (librdkafka closing with, say, a Metadata request in flight); any other reason is the proxy's.
        unanswered = delta(metric_series(samples, "kafkascope_requests_unanswered_total"),
                           metric_series(errors0, "kafkascope_requests_unanswered_total"))
        bad = {k: v for k, v in unanswered.items() if 'reason="client_closed"' not in k}
        if errors or bad:
            raise BenchError("the proxy counted connection errors %s and unanswered requests %s" % (errors, unanswered))
        r["client_closed"] = sum(unanswered.values())
        if unanswered:
            log("round %d: requests left unanswered by a closing producer: %s" % (rnd + 1, unanswered))
        r["rss_peak_kib"] = proc_status(proxy.pid, "VmHWM")
        log("round %d: %d periodic requests answered (p99 %.2f ms), last sweep answered on all %d"
            % (rnd + 1, r["pings"], r["ping_p99_ms"] or 0, top))

        gen.call("close", which="all")
        wait_for("the proxy closing the connections", lambda: connections_active(mport, "client") == 0
                 and connections_active(mport, "broker") == 0, 60)
        time.sleep(args.settle)
        r["rss_closed_kib"] = rss_kib(proxy.pid)  # what the allocator keeps; reused by the next connections
        r["p50_after"], r["p99_after"], r["c99_after"], r["other_after"] = latency(bootstrap, control, topic, args, "unloaded, after")
        procs.check_alive(proxy)
    finally:
        gen.stop()
        for p in (proxy, control_proxy):
            if p is not None:
                procs.stop(p)
        procs.stop(tansu)
    return r


def exhaustion(limit, args, comps, procs, ports):
    """The proxy with RLIMIT_NOFILE = limit, offered more connections than it has descriptors for."""
    e = {"limit": limit}
    tansu_port = port_block([0], ports)
    tansu = start_tansu(procs, "tansu-fd%d" % limit, comps["tansu"], tansu_port)
    gen = Generator(procs, "load-fd%d" % limit)
    proxy = None
    try:
        proxy, listen, mport = start_proxy(procs, comps["kafkascope"], tansu_port, ports, "kafkascope-fd%d" % limit,
                                           fd_limit=limit, log_level="info")
        with open("/proc/%d/limits" % proxy.pid) as f:
            line = next(x for x in f if x.startswith("Max open files"))
        if int(line.split()[3]) != limit:
            raise BenchError("the proxy's descriptor limit is not %d: %s" % (limit, line.strip()))
        before = scrape(mport)
        e["fds_base"] = fd_count(proxy.pid)
        e["capacity"] = (limit - e["fds_base"]) // 2
        e["attempted"] = attempt = e["capacity"] + args.exhaust_extra
        res = gen.call("open", timeout=args.open_timeout, port=listen, count=attempt, concurrency=args.exhaust_concurrency,
                       answer_timeout=args.answer_timeout)
        procs.check_alive(proxy)
        e["held"] = res["states"].get("idle", 0)
        e["refused_closed"] = sum(v for k, v in res["failed"].items() if k.startswith(("closed_by_peer", "reset")))
        e["failed_open"] = res["failed"]
        e["unanswered"] = res["unanswered"]
        e["fds_full"] = fd_count(proxy.pid)
        e["log_fd_lines_full"] = len(fd_log_lines(proxy.bench_log))
        log("fd limit %d: %d descriptors at start, room for about %d connections; offered %d: %d answered and held, "
            "%d closed by the proxy, unanswered %s; failures %s; proxy holds %d descriptors"
            % (limit, e["fds_base"], e["capacity"], attempt, e["held"], e["refused_closed"], res["unanswered"],
               res["failed"], e["fds_full"]))

        sweep = gen.call("sweep", timeout=args.answer_timeout)
        e["existing_answered"] = "%d of %d" % (sweep["answered"], sweep["sent"])
        e["existing_ok"] = sweep["answered"] == sweep["sent"] == e["held"] and not sweep["failed"]
        e["metrics_while_full"] = try_scrape(mport)[1]
        procs.check_alive(proxy)
        log("fd limit %d: while full, existing connections answered %s; /metrics: %s"
            % (limit, e["existing_answered"], e["metrics_while_full"]))

        closed = gen.call("close", which="unanswered")["closed"]
        freed = gen.call("close", which="answered", count=args.exhaust_free)["closed"]
        time.sleep(3)  # accepts back off for 1 s after EMFILE
        e["metrics_after_free"] = try_scrape(mport)[1]
        fresh = args.exhaust_free // 2  # half of the freed descriptors stay free, for /metrics among others
        new = gen.call("open", timeout=args.open_timeout, port=listen, count=fresh,
                       concurrency=args.exhaust_concurrency, answer_timeout=args.answer_timeout)
        e["new_answered"] = "%d of %d" % (new["answered"], fresh)
        e["new_ok"] = new["answered"] == fresh and not new["failed"] and not new["unanswered"]
        sweep2 = gen.call("sweep", timeout=args.answer_timeout)
        e["after_answered"] = "%d of %d" % (sweep2["answered"], sweep2["sent"])
        e["after_ok"] = sweep2["answered"] == sweep2["sent"] and not sweep2["failed"] and not sweep2["unanswered"]
        log("fd limit %d: closed %d unanswered and %d answered connections; /metrics then: %s; %s new connections "
            "answered; then %s open connections answered" % (limit, closed, freed, e["metrics_after_free"],
                                                              e["new_answered"], e["after_answered"]))

        time.sleep(2)
        procs.check_alive(proxy)
        e["alive"] = proxy.poll() is None
        after, e["metrics_end"] = try_scrape(mport, timeout=10)
        after = after or {}
        e["connection_errors"] = delta(metric_by(after, "kafkascope_connection_errors_total", "reason"),
                                       metric_by(before, "kafkascope_connection_errors_total", "reason"))
        e["clients_accepted"] = metric(after, "kafkascope_connections_total", side="client") - \
            metric(before, "kafkascope_connections_total", side="client")
        e["unanswered_requests"] = delta(metric_by(after, "kafkascope_requests_unanswered_total", "reason"),
                                         metric_by(before, "kafkascope_requests_unanswered_total", "reason"))
        e["families"] = sorted({k.partition("{")[0] for k in after
                                if re.search(r"accept|refus|descriptor|fd|limit|reject", k.partition("{")[0])})
        lines = Path(proxy.bench_log).read_text(errors="replace").splitlines()
        fd_lines = fd_log_lines(proxy.bench_log)
        e["log_fd_lines"] = len(fd_lines)
        e["log_fd_sample"] = fd_lines[:1]
        e["log_closing"] = sum(1 for x in lines if "closing connection" in x)
        e["log_lines"] = len(lines)
        log("fd limit %d: connection errors counted %s; unanswered requests counted %s; %d client connections "
            "accepted; log: %d lines, %d about descriptors/accept, %d 'closing connection'"
            % (limit, e["connection_errors"], e["unanswered_requests"], e["clients_accepted"], len(lines),
               len(fd_lines), e["log_closing"]))
        gen.call("close", which="all")
    finally:
        gen.stop()
        if proxy is not None:
            procs.stop(proxy)
        procs.stop(tansu)
    return e


# ---------------------------------------------------------------------------------------------- report

def verdict(ok):
    return "**met**" if ok else "**missed**"


def report(rounds, tansu, exhausted, args, wall):
    if rounds:
        report_rounds(rounds, tansu, args, wall)
    for e in exhausted:
        report_exhaustion(e, args)


def report_rounds(rounds, tansu, args, wall):
    levels = args.levels
    keys = (["rss_idle_kib"] + ["per_conn_kib_%d" % n for n in levels] + ["rss_kib_%d" % n for n in levels]
            + ["fds_%d" % levels[-1], "open_s_%d" % levels[-1], "cpu_quiet", "cpu_hold_proxy", "cpu_hold_tansu",
               "cpu_hold_gen", "cpu_us_per_ping", "hold_rps", "ping_p99_ms", "p50_unloaded", "p99_unloaded",
               "p50_loaded", "p99_loaded", "p50_after", "p99_after", "other_cores", "rss_peak_kib", "rss_closed_kib",
               "other_unloaded", "other_loaded", "other_after", "c99_unloaded", "c99_loaded", "c99_after",
               "ratio", "same_moment_ratio", "same_moment_ratio_unloaded"])
    for r in rounds:
        r["ratio"] = r["p99_loaded"] / r["p99_unloaded"]
        r["same_moment_ratio"] = r["p99_loaded"] / r["c99_loaded"]
        r["same_moment_ratio_unloaded"] = r["p99_unloaded"] / r["c99_unloaded"]
    m = medians(rounds, keys)
    top = levels[-1]
    print("Connections: %s (cumulative), ApiVersions v3 on each; hold %.0f s quiet, then %.0f s with one request per "
          "connection every %.0f s; producer: %d synchronous 100-byte produces after %d warm-up; %d round(s), "
          "medians shown; wall time %.0f s.\n" % (",".join(map(str, levels)), args.quiet_hold, args.hold,
                                                  args.ping_period, args.latency_samples, args.latency_warmup,
                                                  len(rounds), wall))
    if tansu:
        print("Tansu alone: %d connections opened in %.1f s, each answered on opening and again after all were open "
              "(%d and %d answers); Tansu held %d more descriptors, VmRSS %.0f MiB.\n"
              % (tansu["count"], tansu["open_s"], tansu["answered_open"], tansu["answered_sweep"], tansu["fds"],
                 tansu["rss_kib"] / 1024))
    print("| connections | proxy VmRSS MiB | RSS per connection KiB |")
    print("|---:|---:|---:|")
    print("| 0 (idle) | %s | — |" % fmt(m["rss_idle_kib"] / 1024, ".1f"))
    for n in levels:
        print("| %d | %s | %s |" % (n, fmt(m["rss_kib_%d" % n] / 1024, ".1f"), fmt(m["per_conn_kib_%d" % n], ".2f")))
    print()
    print("| holding %d connections | median |" % top)
    print("|---|---:|")
    rows = [("proxy descriptors", fmt(m["fds_%d" % top], ".0f")),
            ("seconds to open them (in steps)", fmt(m["open_s_%d" % top], ".1f")),
            ("proxy CPU, no traffic, cores", fmt(m["cpu_quiet"], ".3f")),
            ("periodic requests/s", fmt(m["hold_rps"], ".0f")),
            ("proxy CPU with them, cores", fmt(m["cpu_hold_proxy"], ".3f")),
            ("proxy CPU per periodic request, µs", fmt(m["cpu_us_per_ping"], ".1f")),
            ("Tansu CPU, cores", fmt(m["cpu_hold_tansu"], ".3f")),
            ("load generator CPU, cores", fmt(m["cpu_hold_gen"], ".3f")),
            ("periodic request p99, ms", fmt(m["ping_p99_ms"], ".2f")),
            ("proxy peak RSS (VmHWM), MiB", fmt(m["rss_peak_kib"] / 1024 if m["rss_peak_kib"] else None, ".1f")),
            ("proxy VmRSS after all closed, MiB", fmt(m["rss_closed_kib"] / 1024, ".1f")),
            ("requests the producers left unanswered when closing (client_closed), all rounds",
             "%d" % sum(r.get("client_closed", 0) for r in rounds)),
            ("other load, cores", fmt(m["other_cores"], ".2f"))]
    for k, v in rows:
        print("| %s | %s |" % (k, v))
    print()
    print("| producer | p50 ms | p99 ms | p99 ms through the control proxy, same moments | other load, cores |")
    print("|---|---:|---:|---:|---:|")
    for name, k in (("unloaded", "unloaded"), ("with %d connections" % top, "loaded"), ("unloaded, after", "after")):
        print("| %s | %s | %s | %s | %s |" % (name, fmt(m.get("p50_" + k), ".3f"), fmt(m["p99_" + k], ".3f"),
                                              fmt(m["c99_" + k], ".3f"), fmt(m["other_" + k], ".2f")))
    print()
    print("Every round:\n")
    cols = ["idle MiB"] + ["KiB/conn @%d" % n for n in levels] + [
        "quiet CPU", "hold CPU", "µs/request", "p99 unloaded", "p99 loaded", "p99 after", "loaded ÷ unloaded",
        "control p99 unloaded / loaded", "loaded ÷ control", "other load: hold / unloaded / loaded"]
    print("| round | " + " | ".join(cols) + " |")
    print("|---:|" + "---:|" * len(cols))
    for r in rounds:
        vals = [fmt(r["rss_idle_kib"] / 1024, ".1f")] + [fmt(r["per_conn_kib_%d" % n], ".2f") for n in levels] + [
            fmt(r["cpu_quiet"], ".3f"), fmt(r["cpu_hold_proxy"], ".3f"), fmt(r["cpu_us_per_ping"], ".1f"),
            fmt(r["p99_unloaded"], ".3f"), fmt(r["p99_loaded"], ".3f"), fmt(r["p99_after"], ".3f"),
            fmt(r["ratio"], ".2f") + "×", "%s / %s" % (fmt(r["c99_unloaded"], ".3f"), fmt(r["c99_loaded"], ".3f")),
            fmt(r["same_moment_ratio"], ".2f") + "×",
            "%s / %s / %s" % (fmt(r["other_cores"], ".2f"), fmt(r["other_unloaded"], ".2f"), fmt(r["other_loaded"], ".2f"))]
        print("| %d | %s |" % (r["round"], " | ".join(vals)))
    print()
    ratio = m["p99_loaded"] / m["p99_unloaded"]
    same = m["same_moment_ratio"]
    print("Targets (medians):")
    print("- %d connections through the proxy, each with its upstream connection, every request answered (on "
          "opening, on every connection after all were open, %.0f s of periodic requests, a last sweep), in every "
          "round: **met**" % (top, args.hold))
    for n in levels:
        print("- RSS per connection at %d ≤ 12 KiB: %.2f KiB: %s" % (n, m["per_conn_kib_%d" % n],
                                                                  verdict(m["per_conn_kib_%d" % n] <= 12)))
    print("- producer p99 with %d connections ≤ 2× unloaded: %.2f× (%.3f against %.3f ms): %s"
          % (top, ratio, m["p99_loaded"], m["p99_unloaded"], verdict(ratio <= 2)))
    print("  - median of the rounds' ratios: %.2f×; the same moments through the control proxy (no connections): "
          "loaded ÷ control %.2f× (unloaded ÷ control %.2f×): %s"
          % (m["ratio"], same, m["same_moment_ratio_unloaded"], verdict(same <= 2)))


def report_exhaustion(e, args):
    print("\nDescriptor exhaustion, RLIMIT_NOFILE %d (%d descriptors at start, room for about %d connections):\n"
          % (e["limit"], e["fds_base"], e["capacity"]))
    print("| check | result |")
    print("|---|---|")
    print("| offered | %d connections |" % e["attempted"])
    print("| answered and held | %d |" % e["held"])
    print("| closed by the proxy right away | %d |" % e["refused_closed"])
    print("| never answered within %.0f s (still connecting / waiting) | %s |"
          % (args.answer_timeout, ", ".join("%s %d" % kv for kv in sorted(e["unanswered"].items())) or "0"))
    print("| proxy descriptors when full | %d |" % e["fds_full"])
    print("| existing connections answered while full | %s |" % e["existing_answered"])
    print("| /metrics while full | %s |" % e["metrics_while_full"])
    print("| /metrics after closing the unanswered ones and %d answered ones | %s |"
          % (args.exhaust_free, e["metrics_after_free"]))
    print("| new connections answered after that | %s |" % e["new_answered"])
    print("| every open connection answered after that | %s |" % e["after_answered"])
    print("| proxy alive at the end | %s |" % ("yes" if e["alive"] else "**no**"))
    print("| /metrics at the end | %s |" % e["metrics_end"])
    print("| client connections accepted (kafkascope_connections_total) | %.0f |" % e["clients_accepted"])
    print("| kafkascope_connection_errors_total, by reason | %s |"
          % (", ".join("%s +%.0f" % kv for kv in e["connection_errors"].items()) or "nothing"))
    print("| kafkascope_requests_unanswered_total, by reason | %s |"
          % (", ".join("%s +%.0f" % kv for kv in e["unanswered_requests"].items()) or "nothing"))
    print("| metric families about accept/refusal/descriptors | %s |" % (", ".join(e["families"]) or "none"))
    print("| log lines about descriptors or accept | %d%s |"
          % (e["log_fd_lines"], "".join("<br>`%s`" % x[:400].replace("|", "\\|") for x in e["log_fd_sample"])))
    print("| log lines `closing connection` | %d |" % e["log_closing"])
    refused = e["attempted"] - e["held"]
    silent = sum(e["unanswered"].values())
    counted = sum(e["connection_errors"].values())
    print("\nVerdicts (RLIMIT_NOFILE %d):" % e["limit"])
    print("- the proxy does not crash: %s" % verdict(e["alive"]))
    print("- existing connections answered while it is out of descriptors: %s (%s)"
          % (verdict(e["existing_ok"]), e["existing_answered"]))
    print("- new connections answered once descriptors are free: %s (%s; then %s of the open ones)"
          % (verdict(e["new_ok"] and e["after_ok"]), e["new_answered"], e["after_answered"]))
    print("- every connection it could not serve refused, logged and counted: %s (%d not served: %d closed by the "
          "proxy, %d left waiting unanswered and unlogged; %d descriptor lines in the log when full; %.0f counted in "
          "kafkascope_connection_errors_total by the end)"
          % (verdict(silent == 0 and e["log_fd_lines_full"] >= e["refused_closed"] and counted >= e["refused_closed"]),
             refused, e["refused_closed"], silent, e["log_fd_lines_full"], counted))


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
