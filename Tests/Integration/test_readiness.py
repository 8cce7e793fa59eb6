"""Kafka 4.0 readiness (KIP-896): which clients still send API versions Kafka 4.0 removed.

Clients pinned to old protocol versions and current clients talk to Tansu through the proxy while tcpdump records
the client <-> proxy leg on loopback. The proxy's `GET /clients` document and its
`kafkascope_removed_version_requests_total` family are checked against what tshark decodes from that capture, and
`kafkascope pcap` (clients, summary, jsonl and prometheus formats) is run on the same capture and must tell the
same story:

- old clients (kafka-python with api_version (0, 10, 1) and (0, 9); confluent-kafka with api.version.request=false
  and broker.version.fallback=0.9.0) appear with the removed API versions they used, exactly as many requests as
  the capture holds, and have series in the metric;
- current clients (kafka-python and confluent-kafka with default settings, and a kafka-python admin client) appear
  with `removed_in_4_0 == []` and no series;
- every client's API versions and request counts equal the (api key, version, client id) triples tshark decodes.

Tansu 0.6.0 closes the connection on a Produce v1 or v2 and sends a ListOffsets v0 answer neither client can parse,
so the old clients use short timeouts and nothing they do is required to succeed: their requests cross the proxy,
which is what counts. Needs tcpdump and tshark (capturing on lo: root or capture rights), the jsonschema package,
kafka-python and confluent-kafka; a missing one fails the test.
"""
import collections
import datetime
import json
import re
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import workloads as wl
from wirecapture import LoopbackCapture
from harness import (HOST, TANSU_NODE_ID, attach_log, fetch_metrics, http_get, kafkascope_binary, metric_series,
                     metric_sum, parse_metrics, settled_metrics, tool_binary)

PCAP_DIR = Path(__file__).resolve().parent / "pcap"

# Lowest request version Apache Kafka 4.0 and later still accept (KIP-896, "Remove old client protocol API versions
# in Kafka 4.0"): the lower end of "validVersions" in Kafka's <Api>Request.json message schemas (e.g. Produce "3-13":
# versions 0-2 were removed in 4.0; Fetch "4-18"; ListOffsets "1-11"; OffsetCommit "2-10"; OffsetFetch "1-10";
# CreateTopics "2-7"; OffsetForLeaderEpoch "2-4"; Metadata "0-13" and the group APIs "0-..." lost nothing).
# Only the APIs the clients of this test send are listed; a request of any other API fails the test, so that a
# new one gets its baseline here instead of being silently taken as current.
KAFKA_4_BASELINE = {
    0: ("Produce", 3), 1: ("Fetch", 4), 2: ("ListOffsets", 1), 3: ("Metadata", 0), 8: ("OffsetCommit", 2),
    9: ("OffsetFetch", 1), 10: ("FindCoordinator", 0), 11: ("JoinGroup", 0), 12: ("Heartbeat", 0),
    13: ("LeaveGroup", 0), 14: ("SyncGroup", 0), 18: ("ApiVersions", 0), 19: ("CreateTopics", 2),
    22: ("InitProducerId", 0), 23: ("OffsetForLeaderEpoch", 2), 71: ("GetTelemetrySubscriptions", 0),
    72: ("PushTelemetry", 0),
}
API_KEYS = {name: key for key, (name, _) in KAFKA_4_BASELINE.items()}

OLD_KP = "kip896-old-kafka-python-0.10.1"   # kafka-python, api_version=(0, 10, 1)
OLD_KP09 = "kip896-old-kafka-python-0.9"    # kafka-python, api_version=(0, 9)
OLD_CK = "kip896-old-confluent-0.9.0"       # librdkafka, api.version.request=false, broker.version.fallback=0.9.0
NEW_KP = "kip896-current-kafka-python"
NEW_CK = "kip896-current-confluent"
ADMIN = "kip896-current-admin"              # kafka-python admin client (creates the topic)
OLD_CLIENTS = (OLD_KP, OLD_KP09, OLD_CK)
CURRENT_CLIENTS = (ADMIN, NEW_KP, NEW_CK)

# Removed versions each old client sends in every run (seen with tshark against Tansu 0.6.0, kafka-python 3.0.12,
# confluent-kafka 2.16.2 / librdkafka 2.16.0); the exact sets are taken from the capture, these must be among them.
REQUIRED_REMOVED = {
    OLD_KP: {("Produce", 2), ("Fetch", 3)},
    OLD_KP09: {("Produce", 1), ("ListOffsets", 0)},
    OLD_CK: {("Produce", 1), ("Fetch", 1), ("ListOffsets", 0)},
}

CLIENT_KEYS = {"client_id", "software_name", "software_version", "addresses", "principal", "first_seen", "last_seen",
               "apis", "removed_in_4_0"}
RECORDS = 3
RUN_TIMEOUT = 120


# ---------------------------------------------------------------------------------------------- capture

Request = collections.namedtuple("Request", "time client_port api_key api_version client_id software_name "
                                            "software_version")


def tshark_requests(path, proxy_ports):
    """Every Kafka request PDU tshark's dissector finds on the client -> proxy leg, in file order, from
    `tshark -r FILE -d tcp.port==P,kafka ... -T pdml` (one <proto name="kafka"> per PDU, in the packet where TCP
    reassembly completes it)."""
    tshark = tool_binary("tshark", "tshark", env="TSHARK_BIN")
    argv = [tshark, "-r", str(path), "-n"]
    for port in proxy_ports:
        argv += ["-d", "tcp.port==%d,kafka" % port]
    argv += ["-Y", "kafka and (%s)" % " or ".join("tcp.dstport == %d" % p for p in proxy_ports), "-T", "pdml"]
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=RUN_TIMEOUT)
    assert done.returncode == 0, "tshark -r failed (%d): %s" % (done.returncode, done.stderr.decode()[-2000:])
    out = []
    for packet in ET.fromstring(done.stdout).iter("packet"):
        when = sport = None
        for proto in packet:
            fields = collections.defaultdict(list)
            for f in proto.iter("field"):
                if f.get("name"):
                    fields[f.get("name")].append(f.get("show"))
            first = lambda name: fields[name][0] if fields.get(name) else None  # noqa: E731
            if proto.get("name") == "frame":
                when = float(first("frame.time_epoch"))
            elif proto.get("name") == "tcp":
                sport = int(first("tcp.srcport"))
            elif proto.get("name") == "kafka":
                key, version = first("kafka.request_key") or first("kafka.api_key"), first("kafka.api_version")
                out.append(Request(when, sport, None if key is None else int(key),
                                   None if version is None else int(version), first("kafka.client_id"),
                                   first("kafka.client_software_name"), first("kafka.client_software_version")))
    return out


# ---------------------------------------------------------------------------------------------- clients

def run_admin(bootstrap, topic):
    wl.kp_create_topic(bootstrap, topic, 1, client_id=ADMIN)


def run_current_kafka_python(bootstrap, topic, group):
    from kafka import KafkaConsumer, KafkaProducer
    producer = KafkaProducer(bootstrap_servers=bootstrap, client_id=NEW_KP, acks="all", request_timeout_ms=10000,
                             max_block_ms=10000)
    try:
        futures = [producer.send(topic, key=b"new-kp-%d" % i, value=b"current kafka-python %d" % i)
                   for i in range(RECORDS)]
        producer.flush(timeout=20)
        failed = [repr(f.exception) if f.is_done else "not acknowledged" for f in futures if not f.succeeded()]
        assert not failed, "current kafka-python: sends failed: %s" % failed
    finally:
        producer.close(timeout=5)
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, client_id=NEW_KP, group_id=group,
                             auto_offset_reset="earliest", enable_auto_commit=False, request_timeout_ms=10000,
                             session_timeout_ms=6000, heartbeat_interval_ms=500)
    try:
        got, _ = wl.kp_poll_until(consumer, RECORDS, timeout=20, settle=0.2)
        assert sum(got.values()) >= RECORDS, "current kafka-python consumed %d records" % sum(got.values())
        consumer.commit()
    finally:
        consumer.close(autocommit=False, timeout_ms=5000)


def run_current_confluent(bootstrap, topic, group):
    from confluent_kafka import Consumer, Producer
    reports = []
    producer = Producer({"bootstrap.servers": bootstrap, "client.id": NEW_CK, "message.timeout.ms": 15000})
    for i in range(RECORDS):
        producer.produce(topic, key=b"new-ck-%d" % i, value=b"current confluent %d" % i,
                         on_delivery=lambda err, msg: reports.append(err))
    left = producer.flush(20)
    assert left == 0 and reports == [None] * RECORDS, "current confluent-kafka: %d left, reports %s" % (left, reports)
    producer.close()
    consumer = Consumer({"bootstrap.servers": bootstrap, "client.id": NEW_CK, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False, "session.timeout.ms": 6000,
                         "heartbeat.interval.ms": 500})
    try:
        consumer.subscribe([topic])
        got, _, errors = wl.ck_poll_until(consumer, 2 * RECORDS, timeout=20, settle=0.2)
        assert not errors and sum(got.values()) >= 2 * RECORDS, \
            "current confluent-kafka consumed %d records, errors %s" % (sum(got.values()), errors[:3])
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()


def run_old_kafka_python(bootstrap, topic, group, client_id, api_version):
    """Produce (Tansu 0.6.0 closes the connection on Produce v1/v2: nothing is required to be delivered) and
    consume in a group for a few seconds; returns what happened, for the test's output."""
    from kafka import KafkaConsumer, KafkaProducer
    outcome = {}
    producer = KafkaProducer(bootstrap_servers=bootstrap, client_id=client_id, api_version=api_version, acks=1,
                             retries=0, linger_ms=0, request_timeout_ms=3000, max_block_ms=5000,
                             delivery_timeout_ms=6000)
    try:
        futures = [producer.send(topic, key=b"old-%d" % i, value=b"old kafka-python %d" % i) for i in range(RECORDS)]
        producer.flush(timeout=8)
        outcome["produce"] = [("ok" if f.succeeded() else repr(f.exception)) if f.is_done else "pending"
                              for f in futures]
    except Exception as e:  # noqa: BLE001 - an old protocol against Tansu: anything may fail
        outcome["produce"] = repr(e)
    finally:
        producer.close(timeout=3)
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, client_id=client_id, api_version=api_version,
                             group_id=group, auto_offset_reset="earliest", enable_auto_commit=False,
                             request_timeout_ms=5000, session_timeout_ms=6000, heartbeat_interval_ms=500)
    got = 0
    try:
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline and got < 2 * RECORDS:
            got += sum(len(msgs) for msgs in consumer.poll(timeout_ms=300).values())
        consumer.commit()
        outcome["consume"] = "%d records, committed" % got
    except Exception as e:  # noqa: BLE001
        outcome["consume"] = "%d records, then %r" % (got, e)
    finally:
        consumer.close(autocommit=False, timeout_ms=3000)
    return outcome


def run_old_confluent(bootstrap, topic, group):
    """librdkafka without ApiVersions, as for a 0.9.0 broker: produce (Produce v1, never acknowledged by Tansu),
    fetch from offset 0 of an assigned partition (Fetch v1), and join a group until its ListOffsets v0 gets the answer
    librdkafka cannot parse. Returns what happened."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    old = {"client.id": OLD_CK, "api.version.request": False, "broker.version.fallback": "0.9.0",
           "socket.timeout.ms": 3000}
    outcome, reports = {}, []
    producer = Producer(dict(old, **{"bootstrap.servers": bootstrap, "acks": 1, "linger.ms": 0,
                                     "message.timeout.ms": 4000, "request.timeout.ms": 3000}))
    for i in range(RECORDS):
        producer.produce(topic, key=b"old-ck-%d" % i, value=b"old confluent %d" % i,
                         on_delivery=lambda err, msg: reports.append(str(err)))
    outcome["produce"] = "%d left after flush, reports %s" % (producer.flush(8), reports)
    producer.purge()
    producer.flush(2)
    producer.close()

    for mode in ("assign", "subscribe"):
        consumer = Consumer(dict(old, **{"bootstrap.servers": bootstrap, "group.id": group,
                                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                                         "session.timeout.ms": 6000, "heartbeat.interval.ms": 500}))
        got, errors = 0, collections.Counter()
        try:
            if mode == "assign":
                consumer.assign([TopicPartition(topic, 0, 0)])
            else:
                consumer.subscribe([topic])
            # assign: until the records are read; subscribe: until the first error, which comes from the
            # ListOffsets v0 answer librdkafka cannot parse (JoinGroup v0 against Tansu can take a few seconds)
            deadline = time.monotonic() + (5 if mode == "assign" else 12)
            while time.monotonic() < deadline and (got < 2 * RECORDS if mode == "assign" else not errors):
                for m in consumer.consume(num_messages=100, timeout=0.3):
                    if m.error() is None:
                        got += 1
                    else:
                        errors[m.error().name()] += 1
        finally:
            consumer.close()
        outcome[mode] = "%d records, errors %s" % (got, dict(errors))
    return outcome


# ---------------------------------------------------------------------------------------------- checks

def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def check_clients_document(doc, where):
    """The /clients document's shape (see the module docstring): [] when fine, else problems. Also checks that
    removed_in_4_0 repeats entries of apis and that clients are sorted by client_id."""
    problems = []
    if not isinstance(doc, dict) or set(doc) != {"clients"} or not isinstance(doc["clients"], list):
        return ["%s: not an object with exactly a 'clients' list: %r" % (where, str(doc)[:300])]
    ids = []
    for c in doc["clients"]:
        if not isinstance(c, dict) or set(c) != CLIENT_KEYS:
            problems.append("%s: client entry with keys %s, expected %s" % (
                where, sorted(c) if isinstance(c, dict) else type(c).__name__, sorted(CLIENT_KEYS)))
            continue
        cid = c["client_id"]
        ids.append(cid)
        label = "%s client %r" % (where, cid)
        for key in ("client_id", "first_seen", "last_seen"):
            if not isinstance(c[key], str):
                problems.append("%s: %s is %r, expected a string" % (label, key, c[key]))
        for key in ("software_name", "software_version", "principal"):
            if c[key] is not None and not isinstance(c[key], str):
                problems.append("%s: %s is %r, expected a string or null" % (label, key, c[key]))
        if not isinstance(c["addresses"], list) or not c["addresses"] or not all(
                isinstance(a, str) and re.fullmatch(r"127\.0\.0\.1:[0-9]+", a) for a in c["addresses"]):
            problems.append("%s: addresses %r, expected a non-empty list of '127.0.0.1:port'" % (label,
                                                                                              c["addresses"]))
        try:
            if parse_time(c["first_seen"]) > parse_time(c["last_seen"]):
                problems.append("%s: first_seen %s after last_seen %s" % (label, c["first_seen"], c["last_seen"]))
        except (TypeError, ValueError) as e:
            problems.append("%s: first_seen/last_seen not ISO-8601 (%s): %r, %r" % (label, e, c["first_seen"],
                                                                                    c["last_seen"]))
        apis = {}
        for a in c["apis"] if isinstance(c["apis"], list) else [c["apis"]]:
            if not isinstance(a, dict) or set(a) != {"api", "versions"} or not isinstance(a["versions"], list):
                problems.append("%s: apis entry %r, expected {api, versions: [...]}" % (label, a))
                continue
            if a["api"] in {k[0] for k in apis}:
                problems.append("%s: api %s listed twice" % (label, a["api"]))
            for v in a["versions"]:
                if not isinstance(v, dict) or set(v) != {"version", "requests"} or not all(
                        type(v[k]) is int for k in v) or v["requests"] < 1:
                    problems.append("%s: %s versions entry %r, expected {version, requests >= 1}" % (label, a["api"],
                                                                                                    v))
                    continue
                if (a["api"], v["version"]) in apis:
                    problems.append("%s: %s v%d listed twice" % (label, a["api"], v["version"]))
                apis[(a["api"], v["version"])] = v["requests"]
        removed = c["removed_in_4_0"] if isinstance(c["removed_in_4_0"], list) else [c["removed_in_4_0"]]
        for r in removed:
            if not isinstance(r, dict) or set(r) != {"api", "version", "requests"}:
                problems.append("%s: removed_in_4_0 entry %r, expected {api, version, requests}" % (label, r))
            elif apis.get((r["api"], r["version"])) != r["requests"]:
                problems.append("%s: removed_in_4_0 entry %r, but apis say %s requests" % (
                    label, r, apis.get((r["api"], r["version"]))))
    if ids != sorted(ids, key=lambda i: (i is None, i or "")):
        problems.append("%s: clients not sorted by client_id: %s" % (where, ids))
    if len(set(ids)) != len(ids):
        problems.append("%s: a client_id appears more than once: %s" % (where, ids))
    return problems


def by_client(doc):
    """{client_id: entry} plus the entry's apis and removed_in_4_0 as {(api, version): requests}."""
    out = {}
    for c in doc["clients"]:
        apis = {(a["api"], v["version"]): v["requests"] for a in c["apis"] for v in a["versions"]}
        removed = {(r["api"], r["version"]): r["requests"] for r in c["removed_in_4_0"]}
        out[c["client_id"]] = dict(c, apis=apis, removed=removed)
    return out


def removed_series(parsed):
    """kafkascope_removed_version_requests_total as {client_id: {(api, version int): value}}."""
    out = collections.defaultdict(dict)
    for labels, value in metric_series(parsed, "kafkascope_removed_version_requests_total").items():
        d = dict(labels)
        out[d.get("client_id")][(d.get("api"), int(d.get("version", -1)))] = int(value)
    return dict(out)


def fmt(table):
    return ", ".join("%s v%s: %s" % (api, v, n) for (api, v), n in sorted(table.items())) or "(none)"


def diff_tables(label, want, got):
    if want == got:
        return []
    keys = sorted(set(want) | set(got))
    return ["%s: %s" % (label, "; ".join("%s v%s capture %s, reported %s" % (k[0], k[1], want.get(k), got.get(k))
                                        for k in keys if want.get(k) != got.get(k)))]


def run_pcap(capture, ports, fmt_name):
    argv = [kafkascope_binary(), "pcap", str(capture)] + [a for p in ports for a in ("--port", str(p))] + [
        "--format", fmt_name, "--no-progress"]
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("`%s` did not finish within %d s" % (" ".join(argv), RUN_TIMEOUT), pytrace=False)
    assert done.returncode == 0, "`%s` exited %d; stderr:\n%s" % (" ".join(argv), done.returncode,
                                                                   done.stderr.decode(errors="replace")[-3000:])
    return done.stdout.decode(errors="replace")



def get_clients(p):
    status, headers, body = http_get(p.metrics_port, "/clients", timeout=10)
    assert status == 200, "GET /clients answered %d: %r" % (status, body[:300])
    try:
        return json.loads(body)
    except ValueError as e:
        pytest.fail("GET /clients is not JSON (%s): %r" % (e, body[:500]), pytrace=False)


# ---------------------------------------------------------------------------------------------- the test

@pytest.mark.timeout_seconds(300)
def test_kafka_4_readiness_of_old_and_current_clients(tansu, proxy, tmp_path, request):
    import confluent_kafka
    import kafka
    try:
        import jsonschema
    except ImportError:
        pytest.fail("the jsonschema Python package is missing: pip install jsonschema (scripts/install-deps.sh)",
                    pytrace=False)
    tool_binary("tshark", "tshark", env="TSHARK_BIN")
    p = proxy()
    broker_port = p.broker_port(TANSU_NODE_ID)
    ports = [p.listen_port, broker_port]
    capture = tmp_path / "client-leg.pcap"
    log = tmp_path / "tcpdump.log"
    attach_log(request, "tcpdump log", log)

    empty = get_clients(p)
    assert empty == {"clients": []}, "GET /clients before any Kafka traffic: %r" % empty

    topic = wl.unique("kip896")
    outcomes = {}
    started = time.time()
    with LoopbackCapture(ports, capture, log, recorder="tcpdump"):
        run_admin(p.bootstrap, topic)
        run_current_kafka_python(p.bootstrap, topic, wl.unique("kip896-new-kp"))
        run_current_confluent(p.bootstrap, topic, wl.unique("kip896-new-ck"))
        outcomes[OLD_KP] = run_old_kafka_python(p.bootstrap, topic, wl.unique("kip896-old-kp"), OLD_KP, (0, 10, 1))
        outcomes[OLD_KP09] = run_old_kafka_python(p.bootstrap, topic, wl.unique("kip896-old-kp09"), OLD_KP09, (0, 9))
        outcomes[OLD_CK] = run_old_confluent(p.bootstrap, topic, wl.unique("kip896-old-ck"))
        metrics = settled_metrics(p, timeout=20.0)
        clients_doc = get_clients(p)
    finished = time.time()
    (tmp_path / "proxy-clients.json").write_text(json.dumps(clients_doc, indent=1))
    p.assert_alive("after the old and current clients")
    for cid, outcome in outcomes.items():
        print("%s: %s" % (cid, outcome))

    # --- what the wire says (tshark), against our baselines
    requests = tshark_requests(capture, ports)
    assert requests, "tshark decoded no Kafka request in %s" % capture
    undecoded = [r for r in requests if None in (r.api_key, r.api_version, r.client_id)]
    assert not undecoded, "tshark could not decode the request header (api key, version, client id) of %d " \
        "requests, e.g. %s" % (len(undecoded), undecoded[:3])
    unknown = sorted({r.api_key for r in requests} - set(KAFKA_4_BASELINE))
    assert not unknown, "requests of API keys %s: add their Kafka 4.0 baselines to KAFKA_4_BASELINE" % unknown
    wire = collections.defaultdict(collections.Counter)   # client id -> {(api, version): requests}
    wire_ports, wire_times, wire_software = (collections.defaultdict(set), collections.defaultdict(list),
                                             collections.defaultdict(set))
    for r in requests:
        wire[r.client_id][(KAFKA_4_BASELINE[r.api_key][0], r.api_version)] += 1
        wire_ports[r.client_id].add(r.client_port)
        wire_times[r.client_id].append(r.time)
        if r.api_key == 18 and r.software_name is not None:
            wire_software[r.client_id].add((r.software_name, r.software_version))
    wire_removed = {cid: {k: n for k, n in c.items() if k[1] < KAFKA_4_BASELINE[API_KEYS[k[0]]][1]}
                    for cid, c in wire.items()}
    for cid in sorted(wire):
        print("tshark: %-32s %s\n%34s removed in 4.0: %s" % (cid, fmt(wire[cid]), "", fmt(wire_removed[cid])))

    assert set(wire) == set(OLD_CLIENTS + CURRENT_CLIENTS), \
        "client ids on the wire %s, expected exactly %s" % (sorted(wire), sorted(OLD_CLIENTS + CURRENT_CLIENTS))
    workload = []
    for cid, required in REQUIRED_REMOVED.items():
        if not required <= set(wire_removed[cid]):
            workload.append("%s sent no %s (it sent %s)" % (cid, sorted(required - set(wire_removed[cid])),
                                                            fmt(wire[cid])))
    for cid in CURRENT_CLIENTS:
        if wire_removed[cid]:
            workload.append("current client %s sent removed versions %s" % (cid, fmt(wire_removed[cid])))
    assert not workload, "the workload did not do what this test needs (test or client problem):\n" + \
        "\n".join(workload)
    expected_software = {NEW_KP: ("kafka-python", kafka.__version__), ADMIN: ("kafka-python", kafka.__version__),
                         NEW_CK: ("confluent-kafka-python", "%s-rdkafka-%s" % (confluent_kafka.__version__,
                                                                                confluent_kafka.libversion()[0]))}
    for cid, sw in expected_software.items():
        assert wire_software[cid] == {sw}, "%s: ApiVersions software name/version on the wire %s, expected %s" % (
            cid, wire_software[cid], sw)

    problems = []

    # --- the proxy: GET /clients
    problems += check_clients_document(clients_doc, "GET /clients")
    proxy_clients = by_client(clients_doc) if not problems else {}
    if proxy_clients:
        if sorted(proxy_clients) != sorted(wire):
            problems.append("GET /clients lists %s, the capture has %s" % (sorted(proxy_clients), sorted(wire)))
        for cid, c in sorted(proxy_clients.items()):
            if cid not in wire:
                continue
            label = "GET /clients %s" % cid
            problems += diff_tables(label + " apis (against tshark)", dict(wire[cid]), c["apis"])
            problems += diff_tables(label + " removed_in_4_0 (against tshark)", wire_removed[cid], c["removed"])
            software = (c["software_name"], c["software_version"])
            if software != expected_software.get(cid, (None, None)):
                problems.append("%s: software %s, expected %s (from its ApiVersions v3+ request; null if it sent "
                                "none)" % (label, software, expected_software.get(cid, (None, None))))
            if c["principal"] is not None:
                problems.append("%s: principal %r on a plaintext listener without SASL" % (label, c["principal"]))
            stray = {a for a in c["addresses"] if int(a.rsplit(":", 1)[1]) not in wire_ports[cid]}
            if stray:
                problems.append("%s: addresses %s are not among the client's ports in the capture %s" % (
                    label, sorted(stray), sorted(wire_ports[cid])))
            first, last = parse_time(c["first_seen"]), parse_time(c["last_seen"])
            if not (started - 1 <= first and last <= finished + 1):
                problems.append("%s: first_seen %s / last_seen %s outside the workload (%s .. %s)" % (
                    label, c["first_seen"], c["last_seen"], started, finished))
            elif abs(first - min(wire_times[cid])) > 1.0 or not \
                    (max(wire_times[cid]) - 1.0 <= last <= finished + 1):
                problems.append("%s: first_seen %s / last_seen %s, its requests in the capture span %s .. %s" % (
                    label, c["first_seen"], c["last_seen"], min(wire_times[cid]), max(wire_times[cid])))

    # --- the proxy: kafkascope_removed_version_requests_total
    if "# TYPE kafkascope_removed_version_requests_total counter" not in fetch_metrics(p):
        problems.append("/metrics has no '# TYPE kafkascope_removed_version_requests_total counter' line")
    proxy_series = removed_series(metrics)
    for cid in OLD_CLIENTS:
        problems += diff_tables("kafkascope_removed_version_requests_total{client_id=%s} (against tshark)" % cid,
                                wire_removed[cid], proxy_series.get(cid, {}))
    stray = sorted(set(proxy_series) - set(OLD_CLIENTS))
    if stray:
        problems.append("kafkascope_removed_version_requests_total has series for %s: %s" % (
            stray, {cid: fmt(proxy_series[cid]) for cid in stray}))

    # --- kafkascope pcap --format clients on the same capture
    text = run_pcap(capture, ports, "clients")
    (tmp_path / "pcap-clients.json").write_text(text)
    try:
        pcap_doc = json.loads(text)
    except ValueError as e:
        pcap_doc = None
        problems.append("pcap --format clients: not one JSON document (%s): %r" % (e, text[:300]))
    if pcap_doc is not None:
        shape = check_clients_document(pcap_doc, "pcap --format clients")
        problems += shape
        pcap_clients = by_client(pcap_doc) if not shape else {}
        if pcap_clients and sorted(pcap_clients) != sorted(wire):
            problems.append("pcap --format clients lists %s, the capture has %s" % (sorted(pcap_clients),
                                                                                   sorted(wire)))
        first_packet = min(r.time for r in requests)
        for cid, c in sorted(pcap_clients.items()):
            label = "pcap --format clients %s" % cid
            if cid in proxy_clients:
                mine = proxy_clients[cid]
                problems += diff_tables(label + " apis (against GET /clients)", mine["apis"], c["apis"])
                problems += diff_tables(label + " removed_in_4_0 (against GET /clients)", mine["removed"],
                                        c["removed"])
                for key in ("software_name", "software_version", "principal"):
                    if c[key] != mine[key]:
                        problems.append("%s: %s %r, GET /clients %r" % (label, key, c[key], mine[key]))
            if cid in wire:
                problems += diff_tables(label + " apis (against tshark)", dict(wire[cid]), c["apis"])
                stray = {a for a in c["addresses"] if int(a.rsplit(":", 1)[1]) not in wire_ports[cid]}
                if stray:
                    problems.append("%s: addresses %s are not among the client's ports in the capture %s" % (
                        label, sorted(stray), sorted(wire_ports[cid])))
                first, last = parse_time(c["first_seen"]), parse_time(c["last_seen"])
                if not (first_packet - 1 <= first <= min(wire_times[cid]) + 0.05 and
                        max(wire_times[cid]) - 0.05 <= last <= finished + 1):
                    problems.append("%s: first_seen %s / last_seen %s, its requests in the capture span %.6f .. "
                                    "%.6f" % (label, c["first_seen"], c["last_seen"], min(wire_times[cid]),
                                              max(wire_times[cid])))

    # --- kafkascope pcap --format summary: the readiness table
    summary = run_pcap(capture, ports, "summary").splitlines()
    heading = [i for i, line in enumerate(summary) if "Kafka 4.0 readiness" in line]
    if len(heading) != 1:
        problems.append("pcap --format summary: %d lines mention 'Kafka 4.0 readiness', expected one heading:\n%s" % (
            len(heading), "\n".join(summary[:60])))
    else:
        section = []
        for line in summary[heading[0] + 1:]:
            if not line.strip():
                break
            section.append(line)
        rows = [line.split() for line in section]
        for cid in OLD_CLIENTS:
            for (api, version), n in sorted(wire_removed[cid].items()):
                if not any(cid in row and api in row and str(version) in row and str(n) in row for row in rows):
                    problems.append("pcap --format summary: no readiness row with %s %s v%d %d requests" % (
                        cid, api, version, n))
        for cid in CURRENT_CLIENTS:
            if any(cid in row for row in rows):
                problems.append("pcap --format summary: current client %s is in the readiness table" % cid)
        print("summary readiness table:\n" + "\n".join(summary[heading[0]:heading[0] + 1 + len(section)]))

    # --- kafkascope pcap --format jsonl: removed_in on exchanges of removed versions
    lines = [json.loads(line) for line in run_pcap(capture, ports, "jsonl").splitlines() if line.strip()]
    validator = jsonschema.Draft202012Validator(json.loads((PCAP_DIR / "exchange.schema.json").read_text()))
    flagged = collections.defaultdict(collections.Counter)
    wrong, invalid = [], []
    for x in lines:
        key, version = x.get("api_key"), x.get("api_version")
        if key not in KAFKA_4_BASELINE:
            wrong.append("api_key %s (no baseline)" % key)
            continue
        removed = version < KAFKA_4_BASELINE[key][1]
        if removed and x.get("removed_in") != "4.0":
            wrong.append("%s %s v%d: removed_in %r, expected '4.0'" % (x.get("client_id"), x.get("api"), version,
                                                                      x.get("removed_in")))
        elif not removed and "removed_in" in x:
            wrong.append("%s %s v%d: removed_in %r on a version Kafka 4.0 accepts" % (
                x.get("client_id"), x.get("api"), version, x["removed_in"]))
        if removed:
            flagged[x.get("client_id")][(KAFKA_4_BASELINE[key][0], version)] += 1
        invalid += ["%s %s v%d: %s" % (x.get("client_id"), x.get("api"), version, e.message[:200])
                    for e in validator.iter_errors(x)]
    if wrong:
        problems.append("pcap --format jsonl: %d exchanges with a wrong removed_in, e.g.:\n  %s" % (
            len(wrong), "\n  ".join(wrong[:10])))
    for cid in OLD_CLIENTS:
        if not flagged.get(cid):
            problems.append("pcap --format jsonl: no exchange of %s carries removed_in (it had %s answered)" % (
                cid, fmt(wire_removed[cid])))
        over = {k: n for k, n in flagged.get(cid, {}).items() if n > wire_removed[cid].get(k, 0)}
        if over:
            problems.append("pcap --format jsonl: %s has more removed exchanges than requests: %s" % (cid, over))
    if invalid:
        problems.append("pcap --format jsonl: %d lines do not validate against pcap/exchange.schema.json, e.g.:\n"
                        "  %s" % (len(invalid), "\n  ".join(invalid[:5])))

    # --- kafkascope pcap --format prometheus: the same family as the proxy's
    prom = run_pcap(capture, ports, "prometheus")
    if "# TYPE kafkascope_removed_version_requests_total counter" not in prom:
        problems.append("pcap --format prometheus has no kafkascope_removed_version_requests_total counter family")
    pcap_series = removed_series(parse_metrics(prom))
    for cid in sorted(set(pcap_series) | set(proxy_series)):
        problems += diff_tables("pcap --format prometheus removed_version_requests_total{client_id=%s} (against the "
                                "proxy's)" % cid, proxy_series.get(cid, {}), pcap_series.get(cid, {}))

    assert not problems, "%d problems:\n%s" % (len(problems), "\n".join(problems))
