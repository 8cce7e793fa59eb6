"""The soak's faults (Benchmarks/soak.py): the fault thread running the timed faults one after another, each fault,
and what /metrics counted in its window."""
import contextlib
import json
import os
import signal
import time

from soak_common import TIMED, SoakError, bs
from harness import TANSU_NODE_ID, http_get, metric_sum  # soak_common put Tests/Integration on sys.path
from soak_observe import delta_by, produce_latency


class SoakFaults:
    """Soak's faults (a mixin of soak.Soak, whose __init__ sets the state these methods use)."""


    # ------------------------------------------------------------------ faults

    def run_faults(self):
        timed = [f for f in TIMED if f in self.o.fault_list]
        try:
            self.wait(self.gap)
            for name in timed:
                before = self.metrics.total()
                start = self.now()
                self.current_fault = (name, start)
                self.log("fault %s: start" % name)
                detail = getattr(self, "fault_" + name.replace("-", "_"))()
                end = self.now()
                self.current_fault = None
                self.wait(5)  # let the counters settle before reading them
                self.metrics.scrape()
                after = self.metrics.total()
                detail.update(self.proxy_view(name, after, before))
                detail["producers acks paused (longest, s)"] = self.gaps(start, end + 5, 1)
                detail["group reads paused (longest, s)"] = self.gaps(start, end + 5, 2)
                detail["consumer events"] = self.consumer_events(start, end + 5)
                detail["during load"] = any(p.poll() is None for p in self.producers)
                self.faults_done.append({"fault": name, "start": round(start, 1), "end": round(end, 1), **detail})
                self.log("fault %s: done, %s" % (name, json.dumps(detail)))
                self.wait(max(0, self.gap - 5))
        except SoakError as e:
            if not self.abort.is_set():
                self.fault_error = e
        except Exception as e:  # noqa: BLE001 - reported to the main loop
            self.fault_error = SoakError("fault thread failed: %r" % e)

    def proxy_view(self, name, after, before):
        """What /metrics counted in the fault's window (summed over proxy generations)."""
        view = {"metrics: Produce latency (mean ms)": produce_latency(after, before)}
        errors = delta_by(after, before, "kafkascope_connection_errors_total", "reason", side="client")
        broker_errors = delta_by(after, before, "kafkascope_connection_errors_total", "reason", side="broker")
        unanswered = delta_by(after, before, "kafkascope_requests_unanswered_total", "reason")
        kafka_errors = delta_by(after, before, "kafkascope_errors_total", "error")
        if name == "hostile":
            view["metrics: client connection errors"] = errors
            view["metrics: broker connection errors"] = broker_errors
            view["metrics: invalid values"] = delta_by(after, before, "kafkascope_invalid_values_total", "field")
            view["metrics: undecoded frames"] = delta_by(after, before, "kafkascope_frames_undecoded_total", "reason")
        elif name in ("consumer-kill", "consumer-stall"):
            if name == "consumer-stall":
                view["metrics: read pauses"] = delta_by(after, before, "kafkascope_reads_paused_total", "reason")
                view["metrics: whole seconds paused"] = delta_by(after, before, "kafkascope_reads_paused_seconds_total", "side")
            view["metrics: client connection errors"] = errors
            view["metrics: unanswered requests"] = unanswered
            view["metrics: error codes"] = kafka_errors
        elif name == "broker-restart":
            view["metrics: broker connection errors"] = broker_errors
            view["metrics: client connection errors"] = errors
            view["metrics: unanswered requests"] = unanswered
            view["metrics: error codes"] = kafka_errors
        elif name == "proxy-restart":
            view["metrics: unanswered requests"] = unanswered
        return view

    def fault_proxy_restart(self):
        old = self.proxy
        before = self.metrics.scrape() or {}
        active = metric_sum(before, "kafkascope_connections_active", side="client")
        self.proxy_restarting.set()
        try:
            signalled = time.monotonic()
            old.send_signal(signal.SIGTERM)
            drain_scrapes = 0
            while old.poll() is None and time.monotonic() - signalled < self.o.drain_timeout + 15:
                if self.metrics.scrape() is not None:  # counts during the drain, while the endpoint answers
                    drain_scrapes += 1
                time.sleep(0.1)
            if old.poll() is None:
                raise SoakError("kafkascope still running %d s after SIGTERM (--drain-timeout %d); log tail:\n%s"
                                % (self.o.drain_timeout + 15, self.o.drain_timeout, bs.tail(old.bench_log)))
            exited = time.monotonic()
            self.metrics.close_generation()
            code = old.returncode
            self.proxy_exits.append((self.proxy_generation, code, True))
            self.procs.forget(old)
            if code != 0:
                self.failures.append("kafkascope generation %d exited with code %d after SIGTERM"
                                     % (self.proxy_generation, code))
            drained = "drained" in bs.tail(old.bench_log, 4000)
            self.start_proxy()
            listening = time.monotonic()
        finally:
            self.proxy_restarting.clear()
        first = self.metrics.generations[-1]["first"] or {}
        last = self.metrics.generations[-2]["last"]
        return {"client connections open at SIGTERM": int(active), "old proxy exit code": code,
                "metrics: old generation's kafkascope_connections_total{side=client} at its last scrape":
                    int(metric_sum(last, "kafkascope_connections_total", side="client")),
                "drain logged": drained, "SIGTERM to exit (s)": round(exited - signalled, 2),
                "new proxy listening after (s)": round(listening - exited, 2),
                "metrics: new generation's kafkascope_connections_total{side=client} starts at":
                    int(metric_sum(first, "kafkascope_connections_total", side="client")),
                "metrics: scrapes answered during the drain": drain_scrapes,
                "metrics: kafkascope_start_time_seconds old, new": [
                    metric_sum(last, "kafkascope_start_time_seconds"), metric_sum(first, "kafkascope_start_time_seconds")]}

    def fault_consumer_kill(self):
        victim = next(p for p in self.consumers if p.poll() is None and p.pid not in self.stopped)
        before = self.assigned().get(victim.soak_name, [])
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
        self.procs.forget(victim)
        killed = self.now()
        # The group notices when the session times out; then a new member takes the place of the dead one.
        # Tansu takes about half a session timeout more to form the group again.
        self.wait_group_assigned(2 * self.o.session_timeout_ms / 1000 + 30)
        rebalanced = self.now()
        replacement = self.start_consumer(victim.soak_kind)
        self.wait_group_assigned(60, members=len([p for p in self.consumers if p.poll() is None]))
        return {"killed": victim.soak_name, "its partitions": before,
                "partitions reassigned after (s)": round(rebalanced - killed, 1),
                "replacement": replacement.soak_name, "replacement assigned after (s)": round(self.now() - killed, 1)}

    def fault_hostile(self):
        name = "hostile-%d" % (len(self.hostile_procs) + 1)
        ports = [self.listen_port] if self.o.direct else [self.listen_port, self.listen_port + 1 + TANSU_NODE_ID]
        proc = self.spawn_client("hostile", name, ports=ports,
                                 connections=self.o.hostile_connections, seconds=self.o.hostile_seconds,
                                 seed=self.o.seed, max_frame_bytes=self.o.max_frame_bytes, topic="soak-hostile",
                                 interval=self.o.hostile_interval)
        self.hostile_procs.append(proc)
        deadline = time.monotonic() + self.o.hostile_seconds + 60
        while proc.poll() is None and time.monotonic() < deadline:
            self.wait(0.5)
        if proc.poll() is None:
            raise SoakError("the hostile client did not finish within %.0f s" % (self.o.hostile_seconds + 60))
        self.procs.forget(proc)
        got = self.client_report(proc)
        if proc.returncode != 0 or got is None:
            raise SoakError("the hostile client failed (code %s); log tail:\n%s"
                            % (proc.returncode, bs.tail(self.logdir / ("%s.log" % name))))
        return {"hostile client": got}

    def fault_consumer_stall(self):
        victim = [p for p in self.consumers if p.poll() is None and p.pid not in self.stopped][-1]
        parts = self.assigned().get(victim.soak_name, [])
        os.kill(victim.pid, signal.SIGSTOP)
        self.stopped.add(victim.pid)
        peak = 0.0
        end = time.monotonic() + self.o.stall_seconds
        try:
            while time.monotonic() < end:
                self.wait(min(2.0, max(0, end - time.monotonic())))
                with contextlib.suppress(Exception):
                    status, _, body = http_get(self.metrics_port, "/lag", timeout=3)
                    if status == 200:
                        for group in json.loads(body).get("groups", []):
                            if group.get("group") == self.group:
                                for topic in group.get("topics", []):
                                    peak = max(peak, topic.get("lag_seconds") or 0)
        finally:
            os.kill(victim.pid, signal.SIGCONT)
            self.stopped.discard(victim.pid)
        return {"stopped": victim.soak_name, "its partitions": parts, "seconds": self.o.stall_seconds,
                "metrics: peak /lag lag_seconds of the group (gauge)": round(peak, 1),
                "member still in the group after": victim.poll() is None}

    def fault_broker_restart(self):
        old = self.tansu
        self.broker_restarting.set()
        try:
            stopped = time.monotonic()
            self.procs.stop(old, signal.SIGTERM, timeout=15)
            down = time.monotonic()
            self.start_tansu()
            up = time.monotonic()
        finally:
            self.broker_restarting.clear()
        return {"old broker exit code": old.returncode, "stop (s)": round(down - stopped, 2),
                "start (s)": round(up - down, 2), "storage": self.o.storage}
