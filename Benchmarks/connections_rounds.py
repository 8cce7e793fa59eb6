"""The rounds of connections_bench.py (steps 1-4 of its description): Tansu alone, then the proxy holding
connections level by level, quiet and with periodic requests, and the producer's latency beside them."""
import os
import time
import uuid

from bench_support import (HOST, BenchError, cpu_seconds, logger, machine_busy_seconds, port_block, proc_status,
                           start_tansu, tree_cpu_seconds)
from connections_measure import (connections_active, delta, fd_count, latency, metric, metric_by, metric_series,
                                 rss_kib, scrape, wait_for)
from connections_processes import Generator, start_proxy
from proxy_load import create_topics

log = logger("connections_bench")


def require_all_answered(res, expected, what):
    """An open or sweep answer: `expected` requests answered, nothing failed, nothing left unanswered."""
    unanswered = res.get("unanswered")
    if res.get("answered") != expected or res.get("failed") or unanswered:
        raise BenchError("%s: %s of %d answered, failures %s, unanswered %s, generator states %s"
                         % (what, res.get("answered"), expected, res.get("failed"), unanswered, res.get("states")))


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
