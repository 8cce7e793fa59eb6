"""proxy_bench's report: medians over the rounds as Markdown tables, the ratios between paths, every round, the
targets (against direct and socat, and against HAProxy), and the TLS section."""
from bench_support import MB, fmt, medians
from proxy_paths import TLS_PATHS

NUMERIC = ("produce_mbs", "consume_mbs", "p50", "p99", "mean", "max", "cpu_produce_per_gb", "cpu_consume_per_gb",
           "cpu_per_gb", "cpu_latency_ms_per_req", "small_rps", "cpu_small_us_per_req", "other_cores")
# The comparison tables' columns (header, key): throughput and CPU as ratios; latency as a difference in ms, except
# against haproxy, where every figure is a ratio.
COMPARED = (("produce", "produce_mbs"), ("consume", "consume_mbs"), ("p50", "p50"), ("p99", "p99"),
            ("CPU/GB produce", "cpu_produce_per_gb"), ("CPU/GB consume", "cpu_consume_per_gb"),
            ("CPU/GB both", "cpu_per_gb"), ("CPU/sync produce", "cpu_latency_ms_per_req"),
            ("small requests/s", "small_rps"), ("CPU/small request", "cpu_small_us_per_req"))
LATENCY = ("p50", "p99")
TLS_CPU_TARGET = 1.3  # kafkascope-tls CPU/GB at most this many times haproxy-tls's


def report(per_path, args, wall):
    results = [dict({"path": name, "rounds": len(rounds)}, **medians(rounds, NUMERIC))
               for name, rounds in per_path.items() if rounds]
    by = {r["path"]: r for r in results}
    lines = heading(args, wall) + medians_table(results)
    for base_name in ("direct", "haproxy", "socat", "kafkascope-no-metrics", "kafkascope-baseline"):
        base = by.get(base_name)
        if base is not None:
            lines += comparison_table("vs %s" % base_name, [(r["path"], r, base) for r in results if r is not base],
                                      latency_as_ratio=base_name == "haproxy")
    if "kafkascope-exchange-log" in by and "kafkascope" in by:
        lines += comparison_table("vs kafkascope: what the exchange log costs", [
            ("kafkascope-exchange-log", by["kafkascope-exchange-log"], by["kafkascope"])], latency_as_ratio=False)
    if args.rounds > 1:
        lines += rounds_table(per_path)
    lines += targets(by, args)
    haproxy = haproxy_targets(per_path, by, args)
    if haproxy:
        if lines and lines[-1] != "":
            lines.append("")
        lines.extend(haproxy)
    tls = tls_report(per_path, by, args)
    if tls:
        if lines[-1] != "":
            lines.append("")
        lines.extend(tls)
    print("\n".join(lines), flush=True)


def heading(args, wall):
    total_mb = args.records * args.record_bytes / MB
    return ["Records: %d x %d B = %.1f MB per path and round, %d partition(s), acks=all, no compression; "
            "latency: %d synchronous produces after %d warm-up; %d round(s)%s; wall time %.0f s."
            % (args.records, args.record_bytes, total_mb, args.partitions, args.latency_samples,
               args.latency_warmup, args.rounds, ", medians shown" if args.rounds > 1 else "", wall)
            + (" Small requests: %d pipelined one-record (100 B) Produce requests per plaintext path."
               % args.small_requests if args.small_requests else " No small requests.")
            + (" socat -b %d." % args.socat_block_size if args.socat_block_size else ""), ""]


def medians_table(results):
    lines = ["| path | produce MB/s | consume MB/s | latency p50 ms | latency p99 ms | forwarder CPU s/GB "
             "produce | forwarder CPU s/GB consume | forwarder CPU s/GB both | forwarder CPU ms/sync produce | "
             "small requests/s | forwarder CPU µs/small request |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["path"], fmt(r["produce_mbs"], ".1f"), fmt(r["consume_mbs"], ".1f"), fmt(r["p50"], ".3f"),
            fmt(r["p99"], ".3f"), fmt(r.get("cpu_produce_per_gb"), ".2f"), fmt(r.get("cpu_consume_per_gb"), ".2f"),
            fmt(r.get("cpu_per_gb"), ".2f"), fmt(r.get("cpu_latency_ms_per_req"), ".3f"),
            fmt(r.get("small_rps"), ".0f"), fmt(r.get("cpu_small_us_per_req"), ".1f")))
    return lines + [""]


def comparison_table(first_column, rows, latency_as_ratio=False):
    """For each (label, r, base) in rows a Markdown row of r's figures over base's (×), latency as r's minus base's
    (ms) unless latency_as_ratio; only the COMPARED columns that some row has for both."""
    cols = [(head, key) for head, key in COMPARED
            if any(r.get(key) is not None and base.get(key) for _, r, base in rows)]
    if not cols:
        return []

    def cell(r, base, key):
        if key in LATENCY and not latency_as_ratio:
            return "%+.3f ms" % (r[key] - base[key])
        return fmt_ratio(r.get(key), base.get(key), ".3f")
    return (["| %s | %s |" % (first_column, " | ".join(head for head, _ in cols)),
             "|---|" + "---:|" * len(cols)]
            + ["| %s | %s |" % (label, " | ".join(cell(r, base, key) for _, key in cols)) for label, r, base in rows]
            + [""])


def fmt_ratio(a, b, spec=".2f"):
    return "—" if a is None or not b else format(a / b, spec) + "×"


def rounds_table(per_path):
    lines = ["Every round (paths run in a rotated order each round):", "",
             "| round | path | produce MB/s | consume MB/s | p50 ms | p99 ms | max ms | CPU s/GB produce | "
             "CPU s/GB consume | small requests/s | CPU µs/small request | other load, cores |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    rows = sorted((r["round"], r["order"], r) for rounds in per_path.values() for r in rounds)
    for rnd, _, r in rows:
        lines.append("| %d | %s | %.1f | %.1f | %.3f | %.3f | %.3f | %s | %s | %s | %s | %.2f |" % (
            rnd + 1, r["path"], r["produce_mbs"], r["consume_mbs"], r["p50"], r["p99"], r["max"],
            fmt(r.get("cpu_produce_per_gb"), ".2f"), fmt(r.get("cpu_consume_per_gb"), ".2f"),
            fmt(r.get("small_rps"), ".0f"), fmt(r.get("cpu_small_us_per_req"), ".1f"), r["other_cores"]))
    return lines + [""]


def targets(by, args):
    """The "Targets" lines of the plaintext paths (a heading only when kafkascope and direct both ran)."""
    lines = []
    ks, direct, socat = by.get("kafkascope"), by.get("direct"), by.get("socat")
    bare = by.get("kafkascope-no-metrics")
    if ks and direct:
        lines.append("Targets%s:" % (" (medians)" if args.rounds > 1 else ""))
        lines.append("- kafkascope throughput vs direct ≥ 95%%: produce %.1f%%, consume %.1f%%"
                     % (100 * ks["produce_mbs"] / direct["produce_mbs"],
                        100 * ks["consume_mbs"] / direct["consume_mbs"]))
        lines.append("- kafkascope p99 − direct p99 ≤ 0.5 ms: %+.3f ms" % (ks["p99"] - direct["p99"]))
    if ks and socat and socat.get("cpu_per_gb"):
        lines.append("- kafkascope CPU/GB ÷ socat CPU/GB ≤ 1.5×: %.2f× (produce %.2f×, consume %.2f×)"
                     % (ks["cpu_per_gb"] / socat["cpu_per_gb"],
                        ks["cpu_produce_per_gb"] / socat["cpu_produce_per_gb"],
                        ks["cpu_consume_per_gb"] / socat["cpu_consume_per_gb"]))
    if ks and bare:
        lines.append("- metrics cost < 5%% of throughput (kafkascope vs kafkascope --no-metrics): produce %.1f%%, "
                     "consume %.1f%%; CPU/GB %.2f×"
                     % (100 * (1 - ks["produce_mbs"] / bare["produce_mbs"]),
                        100 * (1 - ks["consume_mbs"] / bare["consume_mbs"]),
                        ks["cpu_per_gb"] / bare["cpu_per_gb"] if bare.get("cpu_per_gb") else float("nan")))
    return lines


def target_line(text, r, base, key, limit, at_most, unit, spec, more=""):
    """"- text: ratio× (r's figure against base's unit[; more]): **met**/**missed**", the ratio of `key` held against
    `limit` (at most, or at least)."""
    a, b = r.get(key), base.get(key)
    if a is None or not b:
        return "- %s: not measured" % text
    ratio = a / b
    ok = ratio <= limit if at_most else ratio >= limit
    return "- %s: %.2f× (%s against %s %s%s): **%s**" % (text, ratio, format(a, spec), format(b, spec), unit,
                                                        "; " + more if more else "", "met" if ok else "missed")


def distinct(rounds, key):
    """The distinct values of `key` over the rounds, in order of appearance, "?" for a missing one."""
    seen = []
    for r in rounds:
        for v in str(r.get(key) or "?").split(", "):
            if v not in seen:
                seen.append(v)
    return ", ".join(seen)


def haproxy_targets(per_path, by, args):
    """Kafkascope against HAProxy in plain `mode tcp` (issue 17's baseline), and its added p99 over direct."""
    ks, ha, direct = by.get("kafkascope"), by.get("haproxy"), by.get("direct")
    if not ks or not ha:
        return []
    lines = ["Targets against HAProxy (`mode tcp`, %s, %s thread(s)%s):"
             % ("nbthread %d" % args.haproxy_threads if args.haproxy_threads else "default nbthread",
                distinct(per_path["haproxy"], "threads"), "; medians" if args.rounds > 1 else ""),
             target_line("small requests: kafkascope CPU per request ≤ 1.3× haproxy's", ks, ha,
                         "cpu_small_us_per_req", 1.3, True, "µs", ".1f"),
             target_line("small requests: kafkascope requests/s ≥ 0.97× haproxy's", ks, ha, "small_rps", 0.97, False,
                         "requests/s", ".0f"),
             target_line("bulk produce: kafkascope MB/s ≥ haproxy's", ks, ha, "produce_mbs", 1.0, False, "MB/s", ".1f"),
             target_line("bulk consume: kafkascope MB/s ≥ haproxy's", ks, ha, "consume_mbs", 1.0, False, "MB/s", ".1f"),
             target_line("bulk: kafkascope CPU/GB ≤ 1.2× haproxy's", ks, ha, "cpu_per_gb", 1.2, True, "CPU s/GB", ".2f",
                         "produce %s, consume %s" % (
                             fmt_ratio(ks.get("cpu_produce_per_gb"), ha.get("cpu_produce_per_gb")),
                             fmt_ratio(ks.get("cpu_consume_per_gb"), ha.get("cpu_consume_per_gb"))))]
    if direct:
        added = ks["p99"] - direct["p99"]
        lines.append("- sync-produce p99 added over direct ≤ 0.1 ms: kafkascope %+.3f ms (haproxy %+.3f ms): **%s**"
                     % (added, ha["p99"] - direct["p99"], "met" if added <= 0.1 else "missed"))
    return lines


def tls_report(per_path, by, args):
    """kafkascope-tls against kafkascope (plaintext) and haproxy-tls (the blind TLS-terminating forwarder), the
    forwarders' thread counts and negotiated ciphers, and the TLS target's verdict."""
    kt, ht = by.get("kafkascope-tls"), by.get("haproxy-tls")
    if kt is None and ht is None:
        return []
    lines = ["TLS to TLS: client =TLS=> forwarder =TLS=> TLS broker (HAProxy, `mode tcp`) -> Tansu; forwarder CPU is "
             "the forwarder's process tree only, the TLS broker's is not counted. HAProxy (forwarder and TLS broker): "
             + ("nbthread %d (--haproxy-threads)." % args.haproxy_threads if args.haproxy_threads
                else "default nbthread (one thread per CPU)."), ""]
    lines.append("| TLS path | forwarder threads | client ⇄ forwarder | forwarder ⇄ TLS broker |")
    lines.append("|---|---:|---|---|")
    for name in TLS_PATHS:
        rounds = per_path.get(name) or []
        if rounds:
            lines.append("| %s | %s | %s | %s |" % (name, distinct(rounds, "threads"), distinct(rounds, "tls_client"),
                                                    distinct(rounds, "tls_upstream")))
    lines.append("")
    bases = [(label, by.get(name)) for label, name in (("kafkascope (plaintext, same run)", "kafkascope"),
                                                       ("haproxy-tls", "haproxy-tls"))]
    bases = [(label, base) for label, base in bases if base is not None]
    if kt is not None and bases:
        lines += comparison_table("kafkascope-tls vs", [(label, kt, base) for label, base in bases])
    if kt is not None and ht is not None:
        lines.append("TLS target%s:" % (" (medians)" if args.rounds > 1 else ""))
        lines.append(target_line(
            "kafkascope-tls CPU/GB ≤ %.1f× haproxy-tls" % TLS_CPU_TARGET, kt, ht, "cpu_per_gb", TLS_CPU_TARGET, True,
            "CPU s/GB", ".2f", "produce %s, consume %s" % (
                fmt_ratio(kt.get("cpu_produce_per_gb"), ht.get("cpu_produce_per_gb")),
                fmt_ratio(kt.get("cpu_consume_per_gb"), ht.get("cpu_consume_per_gb")))))
    return lines
