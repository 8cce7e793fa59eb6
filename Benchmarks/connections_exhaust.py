"""Descriptor exhaustion for connections_bench.py (step 5 of its description): the proxy with a low RLIMIT_NOFILE,
offered more connections than it has descriptors for."""
import re
import time
from pathlib import Path

from bench_support import BenchError, logger, port_block, start_tansu
from connections_measure import delta, fd_count, metric, metric_by, scrape, try_scrape
from connections_processes import Generator, start_proxy

log = logger("connections_bench")


def fd_log_lines(path):
    """The proxy's log lines about running out of descriptors or failing to accept."""
    lines = Path(path).read_text(errors="replace").splitlines()
    return [x for x in lines if re.search(r"too many open files|EMFILE|descriptor|accept", x, re.I)]


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
        e["existing_answered"] = "%d of %d" % (sweep["answered"], sweep["sent"]) + (
            "; failures meanwhile: %s" % sweep["failed"] if sweep["failed"] else "")
        # A backlog client the proxy accepts meanwhile and closes for want of descriptors fails as "..._while_waiting":
        # not one of the held connections this sweep checks.
        held_failures = {k: v for k, v in sweep["failed"].items() if "_while_waiting" not in k}
        e["existing_ok"] = sweep["answered"] == sweep["sent"] == e["held"] and not held_failures
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
        e["listener_errors"] = delta(metric_by(after, "kafkascope_listener_errors_total", "reason"),
                                     metric_by(before, "kafkascope_listener_errors_total", "reason"))
        e["families"] = sorted({k.partition("{")[0] for k in after
                                if re.search(r"accept|refus|descriptor|fd|limit|reject|listener_error",
                                             k.partition("{")[0])})
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
