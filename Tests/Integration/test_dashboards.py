"""The shipped Grafana dashboard and Prometheus alert rules against a real Prometheus scraping real proxies.

A Prometheus (Debian's `prometheus`) scrapes, every second, two proxies: one in front of Tansu that carries a
workload (records both ways, a consumer group, an existing topic created again, a frame with an unknown API
key), and one in front of a fake broker whose ApiVersions advertises a Produce version beyond the proxy's
codec (so a version is clamped). Then every PromQL expression of dashboards/kafkascope.json is run as an
instant query, with Grafana's variables substituted:

    $__rate_interval -> 1m, $__interval -> 5s, $__range -> 5m (and their _ms/_s forms);
    query variables -> the values Prometheus has for label_values(...) (all of them, as a regex, for
    multi-value or "include All" variables), else the variable's allValue, else .*;
    custom/constant/interval/textbox variables -> their current value.

Every query must parse and run; every panel must return at least one series unless its description contains
"(may be empty)". The alert rules must pass `promtool check rules`, load into that Prometheus and evaluate
without error. Every kafkascope_* name used anywhere must be a metric the proxy exports.
"""
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

import kafka_wire as kw
import workloads as wl
from harness import (HOST, REPO, _spawn, _stop_process, attach_log, fetch_metrics, find_port_block, metric_sum,
                     parse_metrics, tool_binary, wait_until)

DASHBOARD = os.environ.get("KAFKASCOPE_TEST_DASHBOARD") or str(REPO / "dashboards" / "kafkascope.json")
ALERTS = os.environ.get("KAFKASCOPE_TEST_ALERTS") or str(REPO / "deploy" / "prometheus" / "alerts.yml")
MAY_BE_EMPTY = "(may be empty)"
BUILTINS = {"__rate_interval": "1m", "__interval": "5s", "__interval_ms": "5000", "__range": "5m",
            "__range_s": "300", "__range_ms": "300000", "__auto_interval": "5s"}

# Every family the proxy documents (some appear only once something happened, e.g. a listener error or a SASL
# login; test_security.py checks the SASL and TLS families against real logins and reloads).
FAMILIES = {"requests_total", "request_duration_seconds", "broker_duration_seconds", "request_bytes_total",
            "response_bytes_total", "errors_total", "inflight_requests", "connections_active", "connections_total",
            "connection_errors_total", "frames_undecoded_total", "api_versions_clamped_total",
            "address_rewrites_total", "produced_records_total", "produced_bytes_total", "fetched_records_total",
            "fetched_bytes_total", "throttle_seconds", "clients", "build_info", "listener_errors_total",
            "label_values_folded_total", "sasl_authentications_total", "principal_requests_total",
            "tls_reloads_total", "invalid_values_total", "removed_version_requests_total", "consumergroup_lag",
            "consumergroup_lag_sum", "consumergroup_lag_seconds", "consumergroup_current_offset",
            "topic_partition_current_offset", "consumergroup_members", "consumergroup_lag_observed_timestamp_seconds",
            "lag_evictions_total", "start_time_seconds", "reads_paused_total", "reads_paused_seconds_total"}
KNOWN_NAMES = {"kafkascope_" + f + suffix for f in FAMILIES for suffix in ("", "_bucket", "_sum", "_count")}


# ------------------------------------------------------------------------------------------ Prometheus

class Prometheus:
    def __init__(self, binary, workdir, targets, rule_files, log_path):
        self.port = find_port_block([0])
        self.log_path = log_path
        config = workdir / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n"
            "rule_files:\n%s"
            "scrape_configs:\n  - job_name: kafkascope\n    static_configs:\n      - targets: [%s]\n"
            % ("".join("  - %s\n" % json.dumps(str(f)) for f in rule_files) or "  []\n",
               ", ".join('"%s:%d"' % (HOST, t) for t in targets)))
        self.argv = [binary, "--config.file=%s" % config, "--storage.tsdb.path=%s" % (workdir / "tsdb"),
                     "--web.listen-address=%s:%d" % (HOST, self.port), "--log.level=info"]
        self.proc = None

    def start(self, timeout=30):
        with open(self.log_path, "ab") as log:
            log.write(("$ %s\n" % " ".join(self.argv)).encode())
        self.proc = _spawn(self.argv, self.log_path)

        def ready():
            assert self.proc.poll() is None, "prometheus exited with %s; see its log" % self.proc.returncode
            try:
                return urllib.request.urlopen("http://%s:%d/-/ready" % (HOST, self.port), timeout=2).status == 200
            except (OSError, urllib.error.URLError):
                return False
        wait_until(ready, timeout, interval=0.2, what="prometheus /-/ready")
        return self

    def stop(self):
        if self.proc is not None:
            _stop_process(self.proc)

    def api(self, path, **params):
        url = "http://%s:%d/api/v1/%s?%s" % (HOST, self.port, path, urllib.parse.urlencode(params, doseq=True))
        try:
            with urllib.request.urlopen(url, timeout=15) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:  # 400/422 carry the error as JSON
            body = e.read()
            try:
                return json.loads(body)
            except ValueError:
                return {"status": "error", "error": "HTTP %d: %r" % (e.code, body[:300])}

    def query(self, expr):
        return self.api("query", query=expr)


@pytest.fixture
def prometheus(request, tmp_path):
    """Factory: start(targets=[metrics ports], rule_files=[...]) -> a running Prometheus, stopped at teardown."""
    started = []

    def start(targets, rule_files=()):
        binary = tool_binary("prometheus", "prometheus", env="PROMETHEUS_BIN")
        workdir = tmp_path / ("prometheus-%d" % (len(started) + 1))
        workdir.mkdir()
        log_path = workdir / "prometheus.log"
        attach_log(request, "prometheus log", log_path)
        p = Prometheus(binary, workdir, targets, rule_files, log_path)
        started.append(p)
        return p.start()

    yield start
    for p in started:
        p.stop()


# ------------------------------------------------------------------------------------------ dashboard

def walk_panels(panels):
    for panel in panels or []:
        yield panel
        yield from walk_panels(panel.get("panels"))  # rows (collapsed rows nest their panels)


def all_panels(dashboard):
    yield from walk_panels(dashboard.get("panels"))
    for row in dashboard.get("rows") or []:  # the pre-5.0 layout
        yield from walk_panels(row.get("panels"))


def variable_query(var):
    q = var.get("query")
    if isinstance(q, dict):
        q = q.get("query") or q.get("expr") or ""
    return q or var.get("definition") or ""


def prom_regex_escape(value):
    """A literal value inside a PromQL =~ string: regex metacharacters escaped, backslashes doubled for PromQL."""
    return re.sub(r"([\\.^$*+?()\[\]{}|])", r"\\\\\1", value)


def resolve_variables(dashboard, prom):
    """{name: value} for the dashboard's template variables, and notes on how each was resolved."""
    values, notes = {}, {}
    for var in (dashboard.get("templating") or {}).get("list") or []:
        name, kind = var.get("name"), var.get("type")
        current = (var.get("current") or {}).get("value")
        if isinstance(current, list):
            current = current[0] if len(current) == 1 else None
        if current in ("$__all", "__all", ""):
            current = None
        if kind == "query":
            found = None
            m = re.match(r"^\s*label_values\(\s*(?:(.*),\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$",
                         variable_query(var) or "")
            if m:
                params = {"match[]": m.group(1).strip()} if m.group(1) else {}
                r = prom.api("label/%s/values" % m.group(2), **params)
                if r.get("status") == "success" and r.get("data"):
                    found = sorted(r["data"])
            if found:
                if var.get("multi") or var.get("includeAll"):
                    values[name] = found[0] if len(found) == 1 else "(%s)" % "|".join(
                        prom_regex_escape(v) for v in found)
                else:
                    values[name] = found[0]
                notes[name] = "label values %s" % found[:5]
            else:
                values[name] = var.get("allValue") or ".*"
                notes[name] = "unresolved query %r: %s" % (variable_query(var), values[name])
        elif kind == "datasource":
            values[name] = current or "prometheus"
        elif kind == "interval":
            values[name] = current or "1m"
        elif kind == "constant":
            values[name] = variable_query(var) or current or ""
        elif kind == "adhoc":
            values[name] = ""
        else:  # custom, textbox
            values[name] = current if current is not None else (var.get("allValue") or ".*")
        notes.setdefault(name, "%s: %r" % (kind, values[name]))
    return values, notes


VAR_RE = re.compile(r"\$\{([A-Za-z0-9_]+)(?::[^}]*)?\}|\[\[([A-Za-z0-9_]+)(?::[^\]]*)?\]\]|\$([A-Za-z0-9_]+)")


def substitute(expr, variables):
    """expr with Grafana variables replaced; raises KeyError naming an unknown variable."""
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in BUILTINS:
            return BUILTINS[name]
        if name in variables:
            return variables[name]
        raise KeyError(name)
    return VAR_RE.sub(repl, expr)


def kafkascope_names(expr):
    return set(re.findall(r"\bkafkascope_[a-zA-Z0-9_]+", expr))


# ------------------------------------------------------------------------------------------ workload

def run_workload(tansu_proxy, fake_proxy, seconds):
    """Traffic of every kind the dashboard shows, spread over `seconds` so that several scrapes see it."""
    topic = wl.unique("dash")
    wl.kp_create_topic(tansu_proxy.bootstrap, topic, 2)
    admin = wl.kp_admin(tansu_proxy.bootstrap, client_id="it-dash-admin")
    try:  # an error: TOPIC_ALREADY_EXISTS
        admin.create_topics({topic: {"num_partitions": 2, "replication_factor": 1}}, raise_errors=False)
    finally:
        admin.close()
    with kw.WireClient(HOST, tansu_proxy.listen_port, client_id="it-dash-unknown-api") as c:
        c.api_versions(0)
        c.send(32000, 0, b"")  # unknown API key: forwarded undecoded (Tansu then drops the connection)
        kw.wait_closed(c.sock, 3)
    with kw.WireClient(HOST, fake_proxy.listen_port, client_id="it-dash-clamp") as c:
        c.api_versions(3)  # the fake advertises Produce up to v99: clamped by the proxy

    consumer = wl.kp_consumer(tansu_proxy.bootstrap, wl.unique("dash-group"), client_id="it-dash-consumer")
    producer = wl.kp_producer(tansu_proxy.bootstrap, client_id="it-dash-producer", linger_ms=5)
    consumed = 0
    sent = 0
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for k, v, h in wl.make_records(50, seed=sent, prefix="%s-%d" % (topic, sent)):
                producer.send(topic, key=k, value=v, headers=h)
            sent += 50
            producer.flush(timeout=15)
            consumed += sum(len(msgs) for msgs in consumer.poll(timeout_ms=300).values())
            consumer.commit()
    finally:
        producer.close(timeout=10)
        consumer.close(autocommit=False)
    assert sent > 0 and consumed > 0, "workload: %d sent, %d consumed" % (sent, consumed)
    return topic


# ------------------------------------------------------------------------------------------ the test

@pytest.mark.timeout_seconds(120)
def test_dashboard_queries_and_alert_rules_work_on_real_metrics(tansu, proxy, fake_cluster, prometheus, tmp_path):
    promtool = tool_binary("promtool", "prometheus", env="PROMTOOL_BIN")
    assert os.path.isfile(DASHBOARD), "dashboard %s does not exist" % DASHBOARD
    assert os.path.isfile(ALERTS), "alert rules %s do not exist" % ALERTS
    with open(DASHBOARD) as f:
        dashboard = json.load(f)

    done = subprocess.run([promtool, "check", "rules", ALERTS], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=30)
    assert done.returncode == 0, "promtool check rules %s (exit %d):\n%s" % (ALERTS, done.returncode,
                                                                             done.stdout.decode())

    fake = fake_cluster([1])
    fake.API_RANGES = [(kw.API_PRODUCE, 3, 99)] + [r for r in fake.API_RANGES if r[0] != kw.API_PRODUCE]
    tansu_proxy = proxy()
    fake_proxy = proxy(bootstrap=fake.bootstrap(), node_ids=(1,))
    prom = prometheus([tansu_proxy.metrics_port, fake_proxy.metrics_port], rule_files=[ALERTS])
    wait_until(lambda: (prom.query('count(up{job="kafkascope"} == 1) == 2').get("data") or {}).get("result"),
               30, interval=0.5, what=lambda: "prometheus scraping both proxies (targets: %s)" % [
                   (t.get("scrapeUrl"), t.get("health"), t.get("lastError"))
                   for t in (prom.api("targets").get("data") or {}).get("activeTargets", [])])

    run_workload(tansu_proxy, fake_proxy, seconds=7)
    # Wait for a scrape that saw the whole workload: Prometheus's request count equals the proxies' own.
    final = parse_metrics(fetch_metrics(tansu_proxy))
    want = metric_sum(final, "kafkascope_requests_total")

    def scraped_all():
        r = prom.query('sum(kafkascope_requests_total{instance="%s:%d"})' % (HOST, tansu_proxy.metrics_port))
        result = (r.get("data") or {}).get("result") or []
        return result and float(result[0]["value"][1]) >= want
    wait_until(scraped_all, 15, interval=0.5, what="a scrape with all %d requests" % want)
    time.sleep(2.5)  # a few evaluation cycles for the alert rules

    exported = {name for (name, _) in final} | {name for (name, _) in
                                               parse_metrics(fetch_metrics(fake_proxy))}
    variables, notes = resolve_variables(dashboard, prom)
    failures, empty_panels, unknown_names, report = [], [], set(), []
    panels = [p for p in all_panels(dashboard) if p.get("targets")]
    assert panels, "the dashboard has no panel with queries"
    for panel in panels:
        title = panel.get("title") or "<panel id %s>" % panel.get("id")
        series, queried = 0, 0
        for target in panel["targets"]:
            expr = target.get("expr")
            if not expr:
                continue
            queried += 1
            unknown_names |= {n for n in kafkascope_names(expr) if n not in KNOWN_NAMES and n not in exported}
            try:
                query = substitute(expr, variables)
            except KeyError as e:
                failures.append("%s [%s]: undefined variable $%s in %r" % (title, target.get("refId"), e.args[0],
                                                                          expr))
                continue
            r = prom.query(query)
            if r.get("status") != "success":
                failures.append("%s [%s]: %s: %s\n    %s" % (title, target.get("refId"), r.get("errorType"),
                                                             r.get("error"), query))
                continue
            series += len(r["data"]["result"]) if r["data"]["resultType"] in ("vector", "matrix") else 1
        if not queried:
            continue
        report.append("%-50s %d series" % (title[:50], series))
        if series == 0:
            empty_panels.append(title)
    may_be_empty = {p.get("title") for p in panels if MAY_BE_EMPTY in (p.get("description") or "")}
    must_have_data = [t for t in empty_panels if t not in may_be_empty]

    # Alert rules: loaded, evaluated, healthy; their metric names exist too.
    rules = prom.api("rules")
    loaded = [rule for group in rules["data"]["groups"] for rule in group["rules"]]
    assert loaded, "Prometheus loaded no rule from %s" % ALERTS
    recorded = {rule["name"] for rule in loaded if rule.get("type") == "recording"}
    unknown_names -= recorded
    for rule in loaded:
        unknown_names |= {n for n in kafkascope_names(rule["query"])
                          if n not in KNOWN_NAMES and n not in exported and n not in recorded}
        if rule.get("health") == "err":
            failures.append("alert rule %s: %s" % (rule.get("name"), rule.get("lastError")))

    print("\nvariables: %s\n%s\npanels without data: %s (allowed: %s)" % (
        notes, "\n".join(report), empty_panels or "none", sorted(t for t in empty_panels if t in may_be_empty)))
    assert not failures, "%d queries failed:\n%s" % (len(failures), "\n".join(failures))
    assert not unknown_names, "names the proxy does not export: %s" % sorted(unknown_names)
    assert not must_have_data, ("panels returned no series (mark them \"%s\" in their description if that is "
                                "expected): %s" % (MAY_BE_EMPTY, must_have_data))
