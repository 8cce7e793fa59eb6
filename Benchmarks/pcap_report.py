"""pcap_bench's report: medians per capture and tool as Markdown tables, every run, and the targets' verdicts."""
import os
import statistics

from bench_support import MB, REPO, fmt, medians
from pcap_load import CAPTURES, DERIVED
from pcap_measure import EMPTY

TARGET_FRAMES_RATIO = 30.0                   # kafkascope frames/s >= 30x tshark's on frame-heavy
TARGET_MBS_RATIO = 10.0                      # kafkascope MB/s >= 10x tshark's on bulk
FLAT_RSS_LIMIT = 1.25                        # bulk-x2 peak RSS / bulk peak RSS: "flat", far from 2x


def summarize(runs, capture, tool):
    """Medians over the runs; `net` figures use the wall time minus the tool's median start-up time (its median
    on the empty capture)."""
    rs = [r for r in runs if r["capture"] == capture and r["tool"] == tool]
    if not rs:
        return None
    m = medians(rs, ("wall", "rss_kib", "cpu"))
    wall = m["wall"]
    empty = [r["wall"] for r in runs if r["capture"] == EMPTY and r["tool"] == tool]
    startup = statistics.median(empty) if empty and capture != EMPTY else 0.0
    net = max(wall - startup, 1e-9)
    frames = rs[0]["frames"]
    return {"runs": len(rs), "wall": wall, "frames": frames, "bytes": rs[0]["bytes"],
            "frames_consistent": all(r["frames"] == frames for r in rs),
            "fps": frames / wall, "mbs": rs[0]["bytes"] / MB / wall,
            "startup": startup, "net": net, "net_fps": frames / net, "net_mbs": rs[0]["bytes"] / MB / net,
            "rss": m["rss_kib"] / 1024,
            "rss_max": max(r["rss_kib"] for r in rs) / 1024,
            "cpu": m["cpu"],
            "other": max([r["other_cores"] for r in rs if r["other_cores"] is not None], default=None),
            "totals": rs[0]}


def report(args, meta, runs, versions, wall, changed, captures_from):
    lines = heading(args, versions, wall, changed, captures_from)
    for part in (captures_table(runs, meta), medians_table(runs), ratios_table(runs), baseline_table(args, runs),
                 runs_table(runs)):
        lines += part + [""]
    lines += targets(runs)
    print("\n".join(lines), flush=True)


def heading(args, versions, wall, changed, captures_from):
    lines = ["kafkascope pcap vs %s; %d run(s) per capture and tool, medians shown; whole benchmark %.0f s (%s)."
             % (versions.get("tshark", "tshark").rstrip("."), args.repeats, wall, captures_from)]
    # Paths relative to the repository, so that reports pasted into docs carry no machine paths.
    lines.append("kafkascope %s (%s%s)." % (versions.get("kafkascope", "?"), os.path.relpath(args.kafkascope, REPO),
                                            ", --threads %d" % args.threads if args.threads else ""))
    if changed:
        lines.append("**Warning: the kafkascope binary changed on disk during the run: figures mix two builds.**")
    return lines + [""]


def captures_table(runs, meta):
    lines = ["| capture | how it was made | file MB | packets | Kafka frames (kafkascope) | Kafka frames (tshark) "
             "| tshark lines | unanswered | gaps | tcpdump dropped |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for cap in CAPTURES + (DERIVED,):
        k, t = summarize(runs, cap, "kafkascope"), summarize(runs, cap, "tshark")
        if not k:
            continue
        m = meta.get(cap, {})
        how = m.get("how", "?")
        if cap in CAPTURES and "records" in m:
            how += " (%s%d x %d B records%s)" % ("each: " if "concat" in m else "", m["records"], m["value_bytes"],
                                                ", %d producers" % m["producers"] if "producers" in m else "")
        dropped = (m.get("tcpdump") or {}).get("dropped")
        kt = k["totals"]
        lines.append("| %s | %s | %.1f | %d | %d | %s | %s | %d | %d | %s |" % (
            cap, how, k["bytes"] / MB, kt.get("packets", 0), k["frames"], t["frames"] if t else "—",
            t["totals"]["lines"] if t else "—", kt.get("unanswered", 0), kt.get("gaps", 0),
            "—" if dropped is None else dropped))
    return lines


def medians_table(runs):
    lines = ["| capture | tool | wall s | frames/s | MB/s | peak RSS MiB | CPU s | wall − start-up s | "
             "frames/s without start-up | MB/s without start-up | max other load, cores |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for cap in (EMPTY,) + CAPTURES + (DERIVED,):
        for tool in ("kafkascope", "tshark", "baseline"):
            s = summarize(runs, cap, tool)
            if s and cap == EMPTY:
                lines.append("| empty (start-up) | %s | %.3f | — | — | %.1f | %.2f | — | — | — | %s |" % (
                    tool, s["wall"], s["rss"], s["cpu"], fmt(s["other"], ".2f")))
            elif s:
                lines.append("| %s | %s | %.3f | %.0f | %.1f | %.1f | %.2f | %.3f | %.0f | %.1f | %s |" % (
                    cap, tool, s["wall"], s["fps"], s["mbs"], s["rss"], s["cpu"], s["net"], s["net_fps"],
                    s["net_mbs"], fmt(s["other"], ".2f")))
    return lines


def ratios_table(runs):
    lines = ["| capture | frames/s kafkascope/tshark | MB/s kafkascope/tshark | without start-up | "
             "peak RSS kafkascope/tshark |",
             "|---|---:|---:|---:|---:|"]
    for cap in CAPTURES:
        k, t = summarize(runs, cap, "kafkascope"), summarize(runs, cap, "tshark")
        if k and t:
            lines.append("| %s | %.1f× | %.1f× | %.1f× | %.3f× |" % (
                cap, k["fps"] / t["fps"], k["mbs"] / t["mbs"], k["net_mbs"] / t["net_mbs"], k["rss"] / t["rss"]))
    return lines


def baseline_table(args, runs):
    """--kafkascope against --baseline: the ratio of their medians, and the median of the ratios of the runs
    that shared a repetition (next to each other in time, so less apart in the machine's other load)."""
    if not args.baseline:
        return []
    lines = ["--kafkascope against --baseline (%s): below 1 is faster" % os.path.relpath(args.baseline, REPO), "",
             "| capture | wall, ratio of medians | wall, median of per-repetition ratios | CPU s, ratio of medians |",
             "|---|---:|---:|---:|"]
    for cap in (EMPTY,) + CAPTURES:
        k, b = summarize(runs, cap, "kafkascope"), summarize(runs, cap, "baseline")
        if not (k and b):
            continue
        walls = {(r["tool"], r["rep"]): r["wall"] for r in runs if r["capture"] == cap}
        paired = [walls["kafkascope", rep] / walls["baseline", rep] for (tool, rep) in walls
                  if tool == "baseline" and ("kafkascope", rep) in walls]
        lines.append("| %s | %.3f | %.3f | %s |" % (cap, k["wall"] / b["wall"], statistics.median(paired),
                                                   "%.3f" % (k["cpu"] / b["cpu"]) if b["cpu"] > 0 else "—"))
    return lines


def runs_table(runs):
    lines = ["Every run:", "",
             "| capture | tool | run | wall s | frames | frames/s | MB/s | peak RSS MiB | CPU s | other load, cores |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(runs, key=lambda r: (((EMPTY,) + CAPTURES + (DERIVED,)).index(r["capture"]), r["tool"],
                                         r["rep"])):
        empty = r["capture"] == EMPTY
        lines.append("| %s | %s | %d | %.3f | %d | %s | %s | %.1f | %.2f | %s |" % (
            r["capture"], r["tool"], r["rep"] + 1, r["wall"], r["frames"],
            "—" if empty else "%.0f" % (r["frames"] / r["wall"]),
            "—" if empty else "%.1f" % (r["bytes"] / MB / r["wall"]),
            r["rss_kib"] / 1024, r["cpu"], fmt(r["other_cores"], ".2f")))
    return lines


def verdict(ok):
    return "**met**" if ok else "**missed**"


def targets(runs):
    """The "Targets:" lines, and Notes on whatever makes the figures doubtful."""
    lines = ["Targets:"]
    for cap, key, unit, spec, target in (("frame-heavy", "fps", "frames/s", ".0f", TARGET_FRAMES_RATIO),
                                         ("bulk", "mbs", "MB/s", ".1f", TARGET_MBS_RATIO)):
        k, t = summarize(runs, cap, "kafkascope"), summarize(runs, cap, "tshark")
        if k and t:
            q = k[key] / t[key]
            lines.append("- %s: kafkascope %s ≥ %.0f× tshark's: %.1f× (%s vs %s %s; %.1f× without either tool's "
                         "start-up) — %s" % (cap, unit, target, q, format(k[key], spec), format(t[key], spec), unit,
                                             k["net_" + key] / t["net_" + key], verdict(q >= target)))
    fh_k, b_k = summarize(runs, "frame-heavy", "kafkascope"), summarize(runs, "bulk", "kafkascope")
    x2 = summarize(runs, DERIVED, "kafkascope")
    if b_k and x2:
        q = x2["rss"] / b_k["rss"]
        lines.append("- peak memory flat in file size: kafkascope on bulk-x2 (%.0f MB) %.1f MiB vs bulk (%.0f MB) "
                     "%.1f MiB = %.2f× for %.2f× the file (≤ %.2f× counted as flat) — %s"
                     % (x2["bytes"] / MB, x2["rss"], b_k["bytes"] / MB, b_k["rss"], q, x2["bytes"] / b_k["bytes"],
                        FLAT_RSS_LIMIT, verdict(q <= FLAT_RSS_LIMIT)))
    notes = []
    if fh_k and fh_k["frames"] < 200000:
        notes.append("the frame-heavy capture has only %d Kafka frames (< 200,000): raise --small-records"
                     % fh_k["frames"])
    if b_k and b_k["bytes"] < 200 * MB:
        notes.append("the bulk capture is only %.1f MB (< 200 MB): raise --bulk-records" % (b_k["bytes"] / MB))
    for cap in CAPTURES + (DERIVED,):
        k, t = summarize(runs, cap, "kafkascope"), summarize(runs, cap, "tshark")
        if k and t and k["frames"] != t["frames"]:
            notes.append("%s: the tools counted different numbers of Kafka frames (kafkascope %d, tshark %d)"
                         % (cap, k["frames"], t["frames"]))
        for s in (k, t):
            if s and not s["frames_consistent"]:
                notes.append("%s: a tool counted different frame numbers in different runs" % cap)
    if notes:
        lines += ["", "Notes:"] + ["- " + n for n in notes]
    return lines
