"""The report of connections_bench.py: Markdown tables and verdicts on stdout, for the rounds and for each
descriptor-exhaustion run."""
from bench_support import fmt, medians


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
    print("| kafkascope_listener_errors_total (failed accept()), by reason | %s |"
          % (", ".join("%s +%.0f" % kv for kv in e["listener_errors"].items()) or "nothing"))
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
    out_of_fds = e["connection_errors"].get("too_many_open_files", 0)
    paused = e["listener_errors"].get("too_many_open_files", 0)
    print("- every connection it closed for want of descriptors logged and counted as such: %s (%d closed by the "
          "proxy; %d descriptor lines in the log when full; %.0f counted in kafkascope_connection_errors_total by the "
          "end, %.0f of them as too_many_open_files)"
          % (verdict(e["log_fd_lines_full"] >= e["refused_closed"] and out_of_fds >= e["refused_closed"]),
             e["refused_closed"], e["log_fd_lines_full"], counted, out_of_fds))
    print("- while it could not accept, the pause logged and counted: %s (%d of the %d not served were left waiting "
          "in the listen backlog; %.0f failed accept() counted as too_many_open_files)"
          % (verdict(silent == 0 or paused > 0), silent, refused, paused))
