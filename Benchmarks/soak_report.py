"""The soak's report (Benchmarks/soak.py): built from the ledgers, the clients' reports and /metrics, with the
checks that fail the run; and the report as a Markdown table."""
from soak_common import MB, bs
from harness import metric_sum  # soak_common put Tests/Integration on sys.path
from soak_observe import delta_by, produce_latency, slow_responses


class SoakReport:
    """Soak's report (a mixin of soak.Soak, whose __init__ sets the state these methods use)."""


    # ------------------------------------------------------------------ report

    def build_report(self):
        o, m = self.o, self.final_metrics
        verdict = self.ledger.verdict(self.served_directly)
        producers = [self.client_report(p) or {"name": p.soak_name, "missing report": p.returncode}
                     for p in self.producers]
        consumers = [dict(self.client_report(p) or self.killed_report(p), name=p.soak_name, exit=p.returncode)
                     for p in self.consumers]
        rss = [b for _, _, b in self.rss]
        per_gen = {}
        for _, gen, b in self.rss:
            lo, hi = per_gen.get(gen, (b, b))
            per_gen[gen] = (min(lo, b), max(hi, b))
        resets = self.relay.resets
        relay = {"connections": len(self.relay.accepted), "resets": len(resets),
                 "resets with requests in flight": sum(1 for r in resets if r["requests"] > r["responses"]),
                 "responses delayed": self.relay.delayed,
                 "mean delay drawn (ms)": round(1000 * self.relay.delay_sum / max(1, self.relay.delayed), 1),
                 "max delay drawn (ms)": round(1000 * self.relay.delay_max, 1)}
        relay_fault = None
        if "relay" in o.fault_list:
            times = [r["at"] - self.t0 for r in resets]
            unseen = self.metrics.unseen([r["at"] for r in resets])
            # Outside the other faults' windows (where the proxy itself closes connections by the thousand, or
            # exits, or loses its broker), every reset hits a connection the proxy holds open, and must be counted.
            windows = [(f["start"] - 0.5, f["end"] + 2) for f in self.faults_done]
            must = sum(1 for t in times if not any(lo <= t <= hi for lo, hi in windows))
            counted = int(metric_sum(m, "kafkascope_connection_errors_total", side="broker", reason="connection_reset"))
            relay["resets after a proxy's last scrape"] = unseen
            relay["resets outside other faults' windows"] = must
            relay["reset times (s)"] = [round(t, 1) for t in times]
            if counted < must and not self.o.direct:
                self.failures.append("relay: %d resets outside the other faults' windows, but /metrics counted %d "
                                     "kafkascope_connection_errors_total{side=broker,reason=connection_reset}"
                                     % (must, counted))
            relay_fault = {"fault": "relay", "start": 0.0, "end": round(self.relay_off_at or 0, 1), **relay,
                           "metrics: broker connection errors": {k: int(v) for k, v in sorted(
                               _by(m, "kafkascope_connection_errors_total", "reason", side="broker").items())},
                           "metrics: Produce latency (mean ms)": produce_latency(m, {}),
                           "metrics: Produce responses slower than 100 ms at the broker":
                               slow_responses(m, {}, "Produce", 0.1),
                           "metrics: Metadata responses slower than 100 ms at the broker":
                               slow_responses(m, {}, "Metadata", 0.1)}
        self.report = {
            "options": {k: v for k, v in vars(o).items() if k not in ("fault_list",)},
            "records": verdict, "producers": producers, "consumers": consumers,
            "record bytes sent": sum(p.get("bytes", 0) for p in producers),
            "duration (s)": round(self.load_end, 1),
            "connections": {"client": int(metric_sum(m, "kafkascope_connections_total", side="client")),
                            "broker": int(metric_sum(m, "kafkascope_connections_total", side="broker")),
                            "relay": len(self.relay.accepted),
                            "hostile": sum((self.client_report(p) or {}).get("connections", 0)
                                           for p in self.hostile_procs)},
            "metrics": {"produced records": int(metric_sum(m, "kafkascope_produced_records_total", topic=self.topic)),
                        "fetched records": int(metric_sum(m, "kafkascope_fetched_records_total", topic=self.topic)),
                        "requests": int(metric_sum(m, "kafkascope_requests_total")),
                        "client connection errors": _by(m, "kafkascope_connection_errors_total", "reason",
                                                        side="client"),
                        "broker connection errors": _by(m, "kafkascope_connection_errors_total", "reason",
                                                        side="broker"),
                        "unanswered requests": _by(m, "kafkascope_requests_unanswered_total", "reason"),
                        "invalid values": _by(m, "kafkascope_invalid_values_total", "field"),
                        "address rewrites": _by(m, "kafkascope_address_rewrites_total", "api"),
                        "scrape failures": self.metrics.failures},
            "faults": ([relay_fault] if relay_fault else []) + self.faults_done,
            "proxy": {"generations": self.proxy_generation, "exits": [
                {"generation": g, "code": c, "asked": a} for g, c, a in self.proxy_exits],
                "rss min (MiB)": round(min(rss) / MB, 1) if rss else None,
                "rss max (MiB)": round(max(rss) / MB, 1) if rss else None,
                "rss per generation (MiB)": {g: [round(lo / MB, 1), round(hi / MB, 1)]
                                             for g, (lo, hi) in per_gen.items()},
                "rss samples": len(rss)},
        }
        f = self.failures
        served = verdict["lost, served by the broker directly"]
        if verdict["lost"] and served != 0:
            f.append("%d acknowledged records were never read, %s of them served by the broker directly (first: %s)"
                     % (verdict["lost"], "?" if served is None else served, verdict["lost_examples"]))
        elif verdict["lost"]:
            # Not a failure of the proxy: the broker itself does not serve them (soak_broker_check.py).
            self.log("%d acknowledged records were never read, and the broker does not serve them either (first: %s)"
                     % (verdict["lost"], verdict["lost_examples"]))
        if verdict["read in another partition than acknowledged"]:
            f.append("%d records read in another partition than their acknowledgement named"
                     % verdict["read in another partition than acknowledged"])
        if not verdict["acknowledged"]:
            f.append("no record was acknowledged")
        if rss and max(rss) > o.rss_limit_mb * MB:
            f.append("proxy RSS reached %.1f MiB, above --rss-limit-mb %.0f" % (max(rss) / MB, o.rss_limit_mb))
        if not rss and not o.direct:
            f.append("no RSS sample of the proxy")
        for fault in [] if o.direct else self.faults_done:  # the faults /metrics has a counter for (README, Metrics)
            if fault["fault"] == "hostile" and not (fault["metrics: client connection errors"].get("malformed_frame")
                                                    and fault["metrics: invalid values"]):
                f.append("hostile: /metrics counted no malformed_frame connection error or no invalid value: %s"
                         % {k: v for k, v in fault.items() if k.startswith("metrics")})
            if fault["fault"] == "broker-restart" and not fault["metrics: broker connection errors"]:
                f.append("broker-restart: /metrics counted no broker-side connection error")
        for proc, p in zip(self.producers, producers):
            if proc.returncode != 0 or "sent" not in p:
                f.append("%s exited with %s without its report; log tail:\n%s" % (
                    proc.soak_name, proc.returncode, bs.tail(self.logdir / ("%s.log" % proc.soak_name), 1500)))
            elif p["sent"] < p["records"] or p["unfinished"]:
                f.append("%s sent %d of its %d records, %d left unacknowledged" % (
                    p["name"], p["sent"], p["records"], p["unfinished"]))
        for p in consumers:
            if p.get("exit") not in (0, -9) and p["name"] not in [d.get("killed") for d in self.faults_done]:
                f.append("%s exited with %s" % (p["name"], p.get("exit")))
        self.report["failures"] = f


def _by(m, name, label, **labels):
    return {k: int(v) for k, v in delta_by(m, {}, name, label, **labels).items()}


# ---------------------------------------------------------------------------------------------- output

def _cell(value):
    if isinstance(value, dict):
        return ", ".join("%s %s" % (k, _cell(v)) for k, v in value.items()) or "none"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_cell(v) for v in value) + "]"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def table(report):
    """The report as Markdown."""
    r, rec = report, report["records"]
    lines = ["| what | figure |", "|---|---|"]
    lines.append("| records acknowledged (acks=all) | %s of %s sent, %s bytes of keys, values and headers |"
                 % (_cell(rec["acknowledged"]), _cell(sum(p.get("sent", 0) for p in r["producers"])),
                    _cell(r["record bytes sent"])))
    lines.append("| producers | %s |" % "; ".join(
        "%s (%s): acked %s, failed %s%s" % (p.get("name"), p.get("client"), _cell(p.get("acked")),
                                            _cell(p.get("failed")),
                                            ", librdkafka logged %s" % _cell(p["librdkafka log"])
                                            if "librdkafka log" in p else "")
        for p in r["producers"]))
    lines.append("| consumers | %s |" % "; ".join(
        "%s (%s, exit %s): read %s, commits %s, commit failures %s, assignments %s%s" % (
            c["name"], c.get("client", "?"), c.get("exit"), _cell(c.get("records", "?")), _cell(c.get("commits", "?")),
            _cell(c.get("commit_failures", "?")), _cell(c.get("assignments", "?")),
            ", librdkafka logged %s" % _cell(c["librdkafka log"]["disconnected (FAIL)"]) + " disconnections"
            if "librdkafka log" in c else "") for c in r["consumers"]))
    lines.append("| connections | %s client and %s broker connections through the proxy (all generations), %s "
                 "through the relay, %s hostile |" % tuple(_cell(r["connections"][k]) for k in
                                                         ("client", "broker", "relay", "hostile")))
    lines.append("| duration | %s s of load and reading (records spread over %s s) |"
                 % (r["duration (s)"], r["options"]["duration"]))
    for fault in r["faults"]:
        detail = {k: v for k, v in fault.items() if k not in ("fault", "start", "end")}
        lines.append("| fault: %s (t=%s–%s s) | %s |" % (fault["fault"], fault["start"], fault["end"], _cell(detail)))
    served = rec["lost, served by the broker directly"]
    lines.append("| lost | %s acknowledged records not read with the same key, value and headers (%s of them "
                 "acknowledged without an offset: a retry the broker answered DUPLICATE_SEQUENCE_NUMBER)%s |"
                 % (_cell(rec["lost"]), _cell(rec["lost, acknowledged without offset"]),
                    "" if served is None else "; read directly from the broker, past the proxy, %s of them were "
                    "served, so %s the broker never serves" % (_cell(served), _cell(rec["lost"] - served))))
    if rec["offsets never read inside the range read (holes)"]:
        lines.append("| offsets the group never read | %s |"
                     % _cell(rec["offsets never read inside the range read (holes)"]))
    lines.append("| duplicates | %s deliveries of an offset read again (at-least-once: read, not committed, then "
                 "reassigned); %s records stored twice; %s records read that no delivery report acknowledged |"
                 % (_cell(rec["redelivered"]), _cell(rec["stored_twice"]), _cell(rec["consumed_unacknowledged"])))
    lines.append("| acknowledgements without the right offset | %s without one, %s with another offset of the same "
                 "partition (retries answered DUPLICATE_SEQUENCE_NUMBER), %s naming another partition |"
                 % (_cell(rec["acknowledged without offset"]), _cell(rec["offset misreported"]),
                    _cell(rec["read in another partition than acknowledged"])))
    px = r["proxy"]
    lines.append("| proxy RSS | %s–%s MiB over %s one-second samples; per generation %s |"
                 % (px["rss min (MiB)"], px["rss max (MiB)"], _cell(px["rss samples"]),
                    _cell(px["rss per generation (MiB)"])))
    lines.append("| proxy exits | %s |" % "; ".join(
        "generation %d: code %s%s" % (e["generation"], e["code"], "" if e["asked"] else " (NOT asked for)")
        for e in px["exits"]))
    lines.append("| /metrics (all generations) | %s |" % _cell(r["metrics"]))
    lines.append("| verdict | %s |" % ("pass" if not r["failures"] else "FAIL: " + "; ".join(r["failures"])))
    return "\n".join(lines)
