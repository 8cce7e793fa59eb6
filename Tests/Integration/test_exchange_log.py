"""`kafkascope proxy --exchange-log`: one JSON line per request and its response, in the schema of
`kafkascope pcap --format jsonl`, as proof that the proxy and the capture analysis read frames the same way.

Real clients (kafka-python, confluent-kafka) through the proxy in front of Tansu, the client <-> proxy leg
recorded with tcpdump meanwhile; the capture read with `kafkascope pcap` must hold the same exchanges as the log,
field for field, but for what differs by construction: times (`ts`, `latency_ms`), capture positions
(`request_packet`, `response_packet`, null in the log), and `broker` (the proxy's listener in the capture, the
broker behind it in the log).
"""
import collections
import json
import time

import jsonschema
import pytest

import workloads as wl
from harness import TANSU_NODE_ID, attach_log, wait_until
from test_readiness import PCAP_DIR, run_pcap
from wirecapture import LoopbackCapture

BY_CONSTRUCTION = ("ts", "latency_ms", "request_packet", "response_packet", "broker")


def log_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def comparable(line):
    return json.dumps({k: v for k, v in line.items() if k not in BY_CONSTRUCTION}, sort_keys=True)


@pytest.mark.timeout_seconds(240)
def test_the_exchange_log_holds_what_the_capture_holds(tansu, proxy, tmp_path, request):
    log_path = tmp_path / "exchanges.jsonl"
    p = proxy("--exchange-log", log_path)
    broker_port = p.broker_port(TANSU_NODE_ID)
    capture = tmp_path / "client-leg.pcap"
    tcpdump_log = tmp_path / "tcpdump.log"
    attach_log(request, "tcpdump log", tcpdump_log)
    topic, group = wl.unique("xlog"), wl.unique("xlog-group")
    with LoopbackCapture([p.listen_port, broker_port], capture, tcpdump_log, recorder="tcpdump"):
        wl.kp_create_topic(p.bootstrap, topic, partitions=2)
        records = wl.make_records(300, seed=5, prefix="xlog")
        wl.kp_produce(p.bootstrap, topic, records[:150])
        wl.ck_produce(p.bootstrap, topic, records[150:])
        consumer = wl.ck_consumer(p.bootstrap, group)
        consumer.subscribe([topic])
        got, _, errors = wl.ck_poll_until(consumer, 300, timeout=60)
        consumer.commit(asynchronous=False)
        consumer.close()
        assert sum(got.values()) == 300 and not errors, "consumed %d of 300 records (%s)" % (sum(got.values()), errors)
        # Every client has left: its connections are closed, and the log has written all it will.
        time.sleep(1.0)
    p.exit_expected = True
    p.stop()  # the log is complete once the proxy has drained and exited

    logged = log_lines(log_path)
    captured = [json.loads(line) for line in run_pcap(capture, [p.listen_port, broker_port], "jsonl").splitlines()
                if line.strip()]
    assert len(logged) > 30, "only %d lines in the exchange log" % len(logged)

    validator = jsonschema.Draft202012Validator(json.loads((PCAP_DIR / "exchange.schema.json").read_text()))
    invalid = ["%s: %s" % (x.get("api"), e.message[:200]) for x in logged for e in validator.iter_errors(x)]
    assert not invalid, "exchange log lines outside the jsonl schema:\n%s" % "\n".join(invalid[:10])
    assert all(x["request_packet"] is None and x["response_packet"] is None for x in logged)
    assert all(x["broker"].endswith(":%d" % tansu.port) for x in logged), "the log names the broker behind the proxy"

    # The capture's unanswered requests are those still waiting when tcpdump stopped; the proxy saw them answered.
    answered = [x for x in captured if "unanswered" not in x]
    print("exchange log: %d lines; capture: %d answered, %d unanswered" % (
        len(logged), len(answered), len(captured) - len(answered)))
    want = collections.Counter(comparable(x) for x in answered)
    have = collections.Counter(comparable(x) for x in logged)
    missing, extra = want - have, have - want
    # The log may hold a few more: exchanges completed after the capture stopped (none expected here).
    assert not missing, "%d exchanges of the capture are not in the exchange log, e.g.:\n%s" % (
        sum(missing.values()), "\n".join(list(missing)[:5]))
    assert sum(extra.values()) <= len(captured) - len(answered), "exchanges logged that the capture lacks:\n%s" % (
        "\n".join(list(extra)[:5]))
    apis = {x["api"] for x in logged}
    assert {"Produce", "Fetch", "Metadata", "ApiVersions", "JoinGroup", "OffsetCommit"} <= apis, apis
    assert any(x["topics"] == [topic] for x in logged if x["api"] == "Produce"), "Produce lines name their topic"
