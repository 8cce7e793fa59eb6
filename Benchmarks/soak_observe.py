"""Watching the soak (Benchmarks/soak.py) as it runs: /metrics of every proxy generation and the deltas the report
reads from them; unasked-for exits, the proxy's RSS, new record lines, progress, pauses and consumer events."""
import collections
import contextlib
import threading
import time

from soak_common import MB, SoakError, bs
from harness import http_get, metric_series, metric_sum, parse_metrics  # soak_common put Tests/Integration on sys.path



class MetricsLedger:
    """/metrics of every proxy generation, the last scrape of each kept, so that counters add up across restarts."""

    def __init__(self):
        self.generations, self.lock = [], threading.Lock()
        self.failures = 0

    def new_generation(self, port):
        with self.lock:
            self.generations.append({"port": port, "last": {}, "first": None, "scrapes": 0, "closed": False,
                                     "last_at": time.monotonic()})

    def close_generation(self):
        """The current proxy has exited: what now answers on its port is the next one."""
        with self.lock:
            self.generations[-1]["closed"] = True
            self.generations[-1]["closed_at"] = time.monotonic()

    def scrape(self):
        with self.lock:
            gen = self.generations[-1] if self.generations else None
        if gen is None:
            return None
        try:
            status, _, body = http_get(gen["port"], "/metrics", timeout=3)
        except OSError:
            self.failures += 1
            return None
        if status != 200:
            self.failures += 1
            return None
        parsed = parse_metrics(body.decode())
        with self.lock:
            if gen["closed"]:
                return None
            gen["last"], gen["last_at"] = parsed, time.monotonic()
            gen["first"] = gen["first"] or parsed
            gen["scrapes"] += 1
        return parsed

    def unseen(self, times):
        """How many of these monotonic times fell after the last scrape of a proxy generation that then exited:
        whatever that proxy counted then died with it."""
        with self.lock:
            windows = [(g["last_at"], g["closed_at"]) for g in self.generations if g.get("closed_at")]
        return sum(1 for t in times for lo, hi in windows if lo < t <= hi)

    def total(self):
        """Every series summed over the generations (meaningful for counters and histograms)."""
        out = collections.Counter()
        with self.lock:
            for gen in self.generations:
                for key, value in gen["last"].items():
                    out[key] += value
        return dict(out)


def delta_by(after, before, name, label, **labels):
    """{label value: increase} for the series of `name` that grew between two totals."""
    out = collections.Counter()
    for lbls, value in metric_series(after, name, **labels).items():
        out[dict(lbls).get(label)] += value
    for lbls, value in metric_series(before, name, **labels).items():
        out[dict(lbls).get(label)] -= value
    return {k: int(v) for k, v in sorted(out.items()) if v}


def mean_ms(after, before, family, api):
    """Mean of a latency histogram's observations between two totals, in milliseconds."""
    count = metric_sum(after, family + "_count", api=api) - metric_sum(before, family + "_count", api=api)
    total = metric_sum(after, family + "_sum", api=api) - metric_sum(before, family + "_sum", api=api)
    return round(1000 * total / count, 1) if count > 0 else None


def produce_latency(after, before):
    """Produce latency seen by clients, and the broker's share of it (through the relay), means in ms."""
    return {"client side": mean_ms(after, before, "kafkascope_request_duration_seconds", "Produce"),
            "broker side": mean_ms(after, before, "kafkascope_broker_duration_seconds", "Produce")}


def slow_responses(after, before, api, seconds):
    """Responses of `api` whose broker-side latency exceeded `seconds` (a histogram bucket boundary)."""
    def above(m):
        count = metric_sum(m, "kafkascope_broker_duration_seconds_count", api=api)
        within = sum(v for lbls, v in metric_series(m, "kafkascope_broker_duration_seconds_bucket", api=api).items()
                     if float(dict(lbls)["le"]) == seconds)
        return count - within
    return int(above(after) - above(before))


class SoakObserve:
    """Soak's monitoring (a mixin of soak.Soak, whose __init__ sets the state these methods use)."""


    # ------------------------------------------------------------------ monitoring

    def check_alive(self):
        """A proxy or broker exit the soak did not ask for ends the run (and is a finding)."""
        proxy = self.proxy
        if proxy is not None and proxy.poll() is not None and not self.proxy_restarting.is_set():
            self.proxy_exits.append((self.proxy_generation, proxy.returncode, False))
            raise SoakError("kafkascope (generation %d, pid %d) exited on its own with code %s at t=%.0f s; log tail:"
                            "\n%s" % (self.proxy_generation, proxy.pid, proxy.returncode, self.now(),
                                      bs.tail(proxy.bench_log)))
        tansu = self.tansu
        if tansu is not None and tansu.poll() is not None and not self.broker_restarting.is_set():
            raise SoakError("Tansu exited on its own with code %s at t=%.0f s; log tail:\n%s"
                            % (tansu.returncode, self.now(), bs.tail(tansu.bench_log)))
        if self.fault_error is not None:
            raise self.fault_error

    def sample(self):
        """Once a second: the proxy's RSS, new record lines, the time series."""
        proxy = self.proxy
        if proxy is not None and proxy.poll() is None:
            kb = bs.proc_status(proxy.pid, "VmRSS")
            if kb is not None:
                self.rss.append((self.now(), self.proxy_generation, kb * 1024))
        for tail in self.ack_tails:
            for line in tail.lines():
                self.ledger.ack(line)
        for tail in self.consume_tails:
            for line in tail.lines():
                self.ledger.consume(line)
        self.series.append((self.now(), self.ledger.acknowledged, self.ledger.covered, self.ledger.consumed_total))

    def progress(self):
        rss = self.rss[-1][2] / MB if self.rss else 0
        m = self.metrics.generations[-1]["last"] if self.metrics.generations else {}
        fault = self.current_fault
        self.log("t=%4.0fs acked %s/%s, read %s (%s deliveries), proxy gen %d rss %.1f MiB, clients %d, relay resets "
                 "%d%s" % (self.now(), f"{self.ledger.acknowledged:,}", f"{self.o.records:,}",
                           f"{self.ledger.covered:,}",
                           f"{self.ledger.consumed_total:,}", self.proxy_generation, rss,
                           metric_sum(m, "kafkascope_connections_active", side="client"),
                           len(self.relay.resets) if self.relay else 0,
                           ", fault: %s (%.0f s in)" % (fault[0], self.now() - fault[1]) if fault else ""))

    def wait(self, seconds):
        """Sleeps in the fault thread; the main loop samples meanwhile."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.abort.wait(min(0.2, max(0, end - time.monotonic()))):
                raise SoakError("aborted")

    def gaps(self, start, end, column):
        """Longest stretch within [start, end] (soak seconds) in which column (1 = acked, 2 = read) did not grow."""
        points = [(t, row[column]) for row in self.series for t in [row[0]] if start - 1 <= t <= end + 1]
        longest, since, last = 0.0, None, None
        for t, value in points:
            if last is None or value > last:
                since = t
                last = value
            else:
                longest = max(longest, t - since)
        return round(longest, 1)

    def consumer_events(self, start, end):
        """Assignments, revocations, commit failures and errors the consumers logged within [start, end]."""
        wall0 = time.time() - self.now()
        lo, hi = time.strftime("%H:%M:%S", time.localtime(wall0 + start - 1)), \
            time.strftime("%H:%M:%S", time.localtime(wall0 + end + 1))
        counts = collections.Counter()
        for proc in self.consumers:
            with contextlib.suppress(OSError):
                for line in (self.logdir / ("%s.log" % proc.soak_name)).read_text(errors="replace").splitlines():
                    if not line.startswith("[consumer-"):
                        continue
                    stamp = line.split(" ", 2)[1].rstrip("]")
                    if lo <= stamp <= hi:
                        for word, what in (("] assigned", "assignments"), ("] revoked", "revocations"),
                                           ("commit failed", "commit failures"), ("error:", "errors"),
                                           ("poll failed", "errors")):
                            if word in line:
                                counts[what] += 1
        return dict(counts)
