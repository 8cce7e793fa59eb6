"""The proxy's Prometheus endpoint, checked against independent observations: request counts and frame bytes
against a tshark capture of the client <-> proxy leg, latencies against a relay that delays every broker
response by a known amount, error counts against the error codes read from the responses themselves, the text
format against promtool, plus readiness, label capping and an HTTP client that never finishes its request."""
import collections
import socket
import subprocess
import time

import pytest

import kafka_wire as kw
import workloads as wl
from harness import (HOST, TANSU_NODE_ID, attach_log, can_connect, fetch_metrics, find_port_block, histogram,
                     http_get, metric_by, metric_series, metric_sum, parse_metrics, promtool_complaints, settled_metrics,
                     tool_binary, wait_until)
from relays import DelayingRelay
from wirecapture import LoopbackCapture

RECORDS = 2000


def scrape(p):
    return parse_metrics(fetch_metrics(p))



def api_name(key):
    return kw.API_NAMES.get(key, "api_key_%d" % key)


def diff_table(what, expected, got):
    """'' when equal, else one line per differing key."""
    keys = sorted(set(expected) | set(got), key=str)
    lines = ["  %-40s capture %-10s metrics %s" % (k, expected.get(k), got.get(k)) for k in keys
             if expected.get(k) != got.get(k)]
    return "" if not lines else "%s differ:\n%s" % (what, "\n".join(lines))


# ------------------------------------------------------------------------------------------ a. counts and bytes

def kafka_python_workload(bootstrap, topic):
    wl.kp_create_topic(bootstrap, topic, 2)
    records = wl.make_records(RECORDS, seed=11, prefix=topic)
    wl.kp_produce(bootstrap, topic, records)
    consumer = wl.kp_consumer(bootstrap, wl.unique("kp-metrics-group"), client_id="it-kp-metrics")
    try:
        consumer.subscribe([topic])
        got, _ = wl.kp_poll_until(consumer, RECORDS, timeout=30, settle=0.2)
        consumer.commit()
    finally:
        consumer.close(autocommit=False)
    return records, got


def confluent_workload(bootstrap, topic):
    wl.ck_create_topic(bootstrap, topic, 2)
    records = wl.make_records(RECORDS, seed=12, prefix=topic)
    wl.ck_produce(bootstrap, topic, records)
    consumer = wl.ck_consumer(bootstrap, wl.unique("ck-metrics-group"))
    try:
        consumer.subscribe([topic])
        got, _, errors = wl.ck_poll_until(consumer, RECORDS, timeout=30, settle=0.2)
        assert not errors, "consumer errors: %s" % errors[:5]
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return records, got


@pytest.mark.parametrize("client", ["kafka-python", "confluent-kafka"])
def test_request_counts_and_bytes_match_a_capture(client, tansu, proxy, tmp_path, request):
    """Every request and response frame on the client <-> proxy leg, as tshark saw it, is in requests_total
    (by api, version and listener), request_bytes_total and response_bytes_total (by api, 4-byte size prefix
    included); produced/fetched records per topic match the workload."""
    p = proxy()
    topic = wl.unique("metrics-" + client.split("-")[0])
    broker_port = p.broker_port(TANSU_NODE_ID)
    log = tmp_path / "tshark.log"
    attach_log(request, "tshark log", log)
    with LoopbackCapture([p.listen_port, broker_port], tmp_path / "client-leg.pcapng", log) as cap:
        run = kafka_python_workload if client == "kafka-python" else confluent_workload
        records, got = run(p.bootstrap, topic)
        m = settled_metrics(p)
    diff = wl.compare_multisets(wl.digests(records), got)
    assert not diff, "workload: consumed records differ from produced ones: " + diff
    requests, responses = cap.frames()
    assert requests, "the capture holds no request at all"

    listener = {p.listen_port: "bootstrap", broker_port: str(TANSU_NODE_ID)}
    cap_requests = collections.Counter((api_name(f.api_key), str(f.api_version), listener[f.server_port])
                                       for f in requests)
    got_requests = {tuple(dict(labels)[k] for k in ("api", "version", "broker")): int(v)
                    for labels, v in metric_series(m, "kafkascope_requests_total").items()}
    cap_req_bytes, cap_resp_bytes = collections.Counter(), collections.Counter()
    for f in requests:
        cap_req_bytes[api_name(f.api_key)] += f.size
    for f in responses:
        cap_resp_bytes[api_name(f.api_key)] += f.size
    got_req_bytes = {k: int(v) for k, v in metric_by(m, "kafkascope_request_bytes_total", "api").items()}
    got_resp_bytes = {k: int(v) for k, v in metric_by(m, "kafkascope_response_bytes_total", "api").items() if v}
    # Every response is timed once, from the client's side and from the broker's: the proxy stamps the writes a
    # flush sends together, and a lost or doubled stamp shows here.
    cap_answered = dict(collections.Counter(api_name(f.api_key) for f in responses))
    timed = {family: {api: int(histogram(m, family, api=api)[1]) for api in cap_answered}
             for family in ("kafkascope_request_duration_seconds", "kafkascope_broker_duration_seconds")}
    problems = [d for d in (
        diff_table("requests_total by (api, version, broker)", dict(cap_requests), got_requests),
        diff_table("request_bytes_total by api", dict(cap_req_bytes), got_req_bytes),
        diff_table("response_bytes_total by api", dict(cap_resp_bytes), got_resp_bytes),
        *(diff_table("%s_count by api" % family, cap_answered, counts) for family, counts in timed.items())) if d]
    print("%s: %d requests / %d responses captured on %d connections; by api: %s" % (
        client, len(requests), len(responses), len({f.stream for f in requests}),
        dict(collections.Counter(api_name(f.api_key) for f in requests))))
    assert not problems, "\n".join(problems)
    for api in ("ApiVersions", "Metadata", "CreateTopics", "Produce", "Fetch", "JoinGroup", "OffsetCommit"):
        assert cap_req_bytes[api] > 0, "the workload should have sent %s; captured APIs: %s" % (
            api, sorted(cap_req_bytes))

    produced = metric_sum(m, "kafkascope_produced_records_total", topic=topic)
    fetched = metric_sum(m, "kafkascope_fetched_records_total", topic=topic)
    assert produced == RECORDS, "produced_records_total{topic=%s} = %s, expected %d" % (topic, produced, RECORDS)
    assert fetched >= RECORDS, "fetched_records_total{topic=%s} = %s, expected >= %d" % (topic, fetched, RECORDS)
    assert metric_sum(m, "kafkascope_produced_bytes_total", topic=topic) > 0
    assert metric_sum(m, "kafkascope_fetched_bytes_total", topic=topic) > 0


# ------------------------------------------------------------------------------------------ b. latency

@pytest.fixture
def delaying_relay():
    """Factory: DelayingRelay(upstream_port, delay).start(), stopped at teardown."""
    relays = []

    def make(upstream_port, delay):
        relay = DelayingRelay(upstream_port, delay).start()
        relays.append(relay)
        return relay

    yield make
    for relay in relays:
        relay.stop()


DELAY = 0.05


def test_broker_latency_follows_a_slow_upstream(tansu_factory, delaying_relay, proxy):
    """A relay between the proxy and Tansu holds every broker response for 50 ms (Tansu advertises the relay's
    port, so the per-broker connections go through it too). broker_duration_seconds must show it: mean between
    45 and 250 ms for Metadata, ApiVersions and Produce, nothing at or below 25 ms, everything at or below
    250 ms; and the client-side request_duration can only be longer than the broker-side one."""
    tansu_port = find_port_block([0])
    relay = delaying_relay(tansu_port, DELAY)
    tansu_factory(port=tansu_port, advertised_port=relay.port)
    p = proxy(bootstrap="%s:%d" % (HOST, relay.port))
    topic = wl.unique("slow")
    wl.kp_create_topic(p.bootstrap, topic, 1)
    producer = wl.kp_producer(p.bootstrap, linger_ms=0)
    try:
        for i in range(8):  # eight separate Produce requests
            producer.send(topic, key=b"k%d" % i, value=b"v" * 100).get(timeout=15)
    finally:
        producer.close(timeout=10)
    m = settled_metrics(p)

    assert relay.connections >= 2, "the relay saw %d connections: the proxy bypassed it" % relay.connections
    assert relay.delays and min(relay.delays) >= DELAY * 0.98, "relay self-check: held %s" % relay.delays[:5]
    problems = []
    for api in ("Metadata", "ApiVersions", "Produce"):
        total, count, buckets = histogram(m, "kafkascope_broker_duration_seconds", api=api)
        if not count:
            problems.append("%s: no broker_duration observation" % api)
            continue
        mean = total / count
        if not 0.045 <= mean <= 0.25:
            problems.append("%s: mean broker duration %.4f s over %d, expected 0.045-0.25" % (api, mean, count))
        if buckets.get(0.025) != 0:
            problems.append("%s: %s observations <= 25 ms (buckets %s)" % (api, buckets.get(0.025), buckets))
        if buckets.get(0.25) != count:
            problems.append("%s: only %s of %d observations <= 250 ms (buckets %s)" % (
                api, buckets.get(0.25), count, buckets))
        r_total, r_count, _ = histogram(m, "kafkascope_request_duration_seconds", api=api)
        print("%s: broker_duration mean %.4f s over %d, request_duration mean %.4f s over %d" % (
            api, mean, count, r_total / max(r_count, 1), r_count))
        if r_count != count or r_total / r_count < mean:
            problems.append("%s: request_duration %.4f s over %d, broker_duration %.4f s over %d: the client "
                            "view must cover the broker view" % (api, r_total / max(r_count, 1), r_count, mean,
                                                                 count))
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------------------------------ c. errors

# Kafka error codes (org.apache.kafka.common.protocol.Errors) the test can meet.
ERROR_NAMES = {0: "NONE", 3: "UNKNOWN_TOPIC_OR_PARTITION", 22: "ILLEGAL_GENERATION", 25: "UNKNOWN_MEMBER_ID",
               27: "REBALANCE_IN_PROGRESS", 36: "TOPIC_ALREADY_EXISTS", 59: "UNKNOWN_PRODUCER_ID",
               79: "MEMBER_ID_REQUIRED"}


def error_names(codes):
    unknown = [c for c in codes if c not in ERROR_NAMES]
    assert not unknown, "error codes %s are not in the test's table; add them" % unknown
    return collections.Counter(ERROR_NAMES[c] for c in codes if c)


def test_broker_errors_are_counted_by_name(tansu, proxy):
    """Real Tansu errors through the proxy, read from the responses by the test, must appear in
    kafkascope_errors_total under the same API and Kafka error name, as often as the responses carry them:
    Produce of an idempotent batch from a producer id Tansu never issued (UNKNOWN_PRODUCER_ID; Tansu 0.6.0
    accepts a Produce to a partition that does not exist, so that one is sent too and must count nothing),
    OffsetCommit from an unknown member (UNKNOWN_MEMBER_ID) and with a wrong generation (ILLEGAL_GENERATION),
    and CreateTopics of an existing topic (TOPIC_ALREADY_EXISTS)."""
    p = proxy()
    topic = wl.unique("errors")
    wl.kp_create_topic(p.bootstrap, topic, 2)
    seen = collections.defaultdict(collections.Counter)  # api -> error name -> count, from the responses

    admin = wl.kp_admin(p.bootstrap)
    try:
        result = admin.create_topics({topic: {"num_partitions": 2, "replication_factor": 1}}, raise_errors=False)
    finally:
        admin.close()
    codes = [t["error_code"] for t in result["topics"]]
    assert codes == [36], "second CreateTopics of %s: Tansu answered %s, expected [36]" % (topic, result)
    seen["CreateTopics"] += error_names(codes)

    unknown_producer = kw.record_batch(wl.make_records(3, seed=3, prefix="pid"), producer_id=424242,
                                       producer_epoch=3, base_sequence=0)
    plain = kw.record_batch(wl.make_records(3, seed=4, prefix="p99"))
    with kw.WireClient(HOST, p.broker_port(TANSU_NODE_ID), client_id="it-errors") as c:
        produced = []
        for partition, batch in ((0, unknown_producer), (99, plain)):
            _, r = c.call(kw.API_PRODUCE, 8, kw.produce_request(8, topic, partition, batch))
            response = kw.decode_produce_response(8, r)
            produced.append([pt["error_code"] for t in response["responses"] for pt in t["partitions"]])
        assert produced[0] == [59], "idempotent Produce with an unknown producer id: Tansu answered %s" % (
            produced[0],)
        seen["Produce"] += error_names(produced[0] + produced[1])

        commits = []
        _, r = c.call(kw.API_OFFSET_COMMIT, 7, kw.offset_commit_request(
            7, wl.unique("no-such-group"), 5, "ghost-member", {topic: {0: 1, 1: 1}}))
        commits.append(kw.decode_offset_commit_response(7, r))
        # A real member, then a commit with its id and a generation it never had.
        consumer = wl.kp_consumer(p.bootstrap, wl.unique("errors-group"), client_id="it-errors-member")
        try:
            consumer.subscribe([topic])
            wait_until(lambda: consumer.poll(timeout_ms=200) is not None and consumer.assignment(), 20,
                       what="the consumer's partition assignment")
            generation = consumer._coordinator._generation  # kafka-python's own record of the group membership
            _, r = c.call(kw.API_OFFSET_COMMIT, 7, kw.offset_commit_request(
                7, consumer.config["group_id"], generation.generation_id + 7, generation.member_id,
                {topic: {0: 1}}))
            commits.append(kw.decode_offset_commit_response(7, r))
        finally:
            consumer.close(autocommit=False)
        commit_codes = [[pt["error_code"] for t in d["topics"] for pt in t["partitions"]] for d in commits]
        assert commit_codes == [[25, 25], [22]], (
            "OffsetCommit: Tansu answered %s, expected [[25, 25], [22]] (UNKNOWN_MEMBER_ID for both partitions "
            "of an unknown member, ILLEGAL_GENERATION for a wrong generation)" % commit_codes)
        seen["OffsetCommit"] += error_names(commit_codes[0] + commit_codes[1])

    m = settled_metrics(p)
    problems = []
    for api, expected in seen.items():
        got = {k: int(v) for k, v in metric_by(m, "kafkascope_errors_total", "error", api=api).items() if v}
        d = diff_table("errors_total{api=%s} by error" % api, dict(expected), got)
        if d:
            problems.append(d.replace("capture", "responses"))
    assert not problems, "\n".join(problems)
    assert seen["Produce"] == {"UNKNOWN_PRODUCER_ID": 1}


# ------------------------------------------------------------------------------------------ d. format, endpoints

def test_exposition_passes_promtool_and_endpoints_answer(tansu, proxy, tmp_path):
    """After a workload (records both ways, an error, a frame with an unknown API key), /metrics is valid
    text format 0.0.4 by `promtool check metrics` (exit 0, no complaint), is served as version=0.0.4, and the
    other endpoints answer: /healthz 200, /readyz 200, anything else 404; every response closes its
    connection."""
    promtool = tool_binary("promtool", "prometheus", env="PROMTOOL_BIN")
    p = proxy()
    topic = wl.unique("format")
    wl.kp_create_topic(p.bootstrap, topic, 1)
    records = wl.make_records(50, seed=5, prefix=topic)
    wl.kp_produce(p.bootstrap, topic, records)
    assert sum(wl.kp_read_all(p.bootstrap, topic, 1, 50, timeout=20).values()) == 50
    admin = wl.kp_admin(p.bootstrap)
    try:
        admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}}, raise_errors=False)
    finally:
        admin.close()
    with kw.WireClient(HOST, p.listen_port, client_id="it-unknown-api") as c:
        c.api_versions(0)
        c.send(32000, 0, b"")  # forwarded opaquely; Tansu 0.6.0 drops the connection (UnknownContainer)
        kw.wait_closed(c.sock, 3)
    settled_metrics(p)
    status, headers, body = http_get(p.metrics_port, "/metrics")
    assert status == 200
    assert "version=0.0.4" in headers.get("content-type", ""), "content-type %r" % headers.get("content-type")
    assert headers.get("content-type", "").startswith("text/plain"), headers
    text = body.decode()
    (tmp_path / "metrics.txt").write_text(text)
    for family in ("kafkascope_requests_total", "kafkascope_errors_total", "kafkascope_produced_records_total",
                   "kafkascope_fetched_records_total", "kafkascope_frames_undecoded_total",
                   "kafkascope_request_duration_seconds", "kafkascope_build_info"):
        assert "# TYPE %s " % family in text, "no %s family in the exposition" % family
    m = parse_metrics(text)
    assert metric_sum(m, "kafkascope_frames_undecoded_total", direction="request", reason="unknown_api") == 1
    complaints = promtool_complaints(promtool, body)
    assert not complaints, "promtool check metrics:\n%s" % "\n".join(complaints)

    for path, expected in (("/healthz", 200), ("/readyz", 200), ("/unknown", 404), ("/metrics/extra", 404),
                           ("/", 404)):
        status, headers, _ = http_get(p.metrics_port, path)
        assert status == expected, "GET %s answered %d, expected %d" % (path, status, expected)
        assert headers.get("connection", "").lower() == "close", "GET %s: connection header %r" % (
            path, headers.get("connection"))
    # Two requests on one connection: the first is answered, then the proxy closes.
    with socket.create_connection((HOST, p.metrics_port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        closed, got = kw.wait_closed(s, 5)
    assert closed, "the metrics endpoint kept the connection open after answering"
    assert got.count(b"HTTP/1.1 200") == 1, "expected exactly one answer before the close: %r" % got


# ------------------------------------------------------------------------------------------ e. readiness

def test_readyz_waits_for_a_reachable_bootstrap_broker(tansu_factory, proxy):
    """With nothing listening at --bootstrap-server, /readyz is 503 (and /healthz 200) for several probe
    periods; once Tansu starts on that port, /readyz turns 200 within 5 s and the proxy serves Metadata."""
    port = find_port_block([0])
    broker = tansu_factory(port=port, start=False)
    p = proxy(bootstrap="%s:%d" % (HOST, port))
    deadline = time.monotonic() + 3.0  # three probe periods
    while time.monotonic() < deadline:
        ready, _, body = http_get(p.metrics_port, "/readyz")
        health, _, _ = http_get(p.metrics_port, "/healthz")
        assert (ready, health) == (503, 200), "no broker yet: /readyz %d %r, /healthz %d" % (ready, body, health)
        time.sleep(0.25)
    assert http_get(p.metrics_port, "/metrics")[0] == 200, "/metrics should be served while not ready"
    broker.start()
    started = time.monotonic()
    wait_until(lambda: http_get(p.metrics_port, "/readyz")[0] == 200, 5.0,
               what="/readyz 200 within 5 s of the bootstrap broker accepting connections")
    became_ready = time.monotonic() - started
    assert http_get(p.metrics_port, "/healthz")[0] == 200
    with kw.WireClient(HOST, p.listen_port) as c:
        md = c.metadata(1)
    assert [b["node_id"] for b in md["brokers"]] == [TANSU_NODE_ID]
    assert became_ready <= 5.0


# ------------------------------------------------------------------------------------------ f. label cap

def test_label_cap_folds_extra_topics_and_clients(tansu, proxy):
    """--metrics-label-cap 3: one record to each of 6 topics gives at most 3 topic labels of their own, the
    rest under topic="__other__", nothing lost in the sum, and label_values_folded_total{label="topic"} > 0.
    Six raw connections with distinct client ids likewise leave at most 3 client_id values besides
    __other__."""
    p = proxy("--metrics-label-cap", 3)
    topics = [wl.unique("cap%d" % i) for i in range(6)]
    admin = wl.kp_admin(p.bootstrap)
    try:
        result = admin.create_topics({t: {"num_partitions": 1, "replication_factor": 1} for t in topics})
        assert all(t["error_code"] == 0 for t in result["topics"]), result
    finally:
        admin.close()
    producer = wl.kp_producer(p.bootstrap, linger_ms=0)
    try:
        for t in topics:
            producer.send(t, key=b"k", value=b"one record").get(timeout=15)
    finally:
        producer.close(timeout=10)
    for i in range(6):
        with kw.WireClient(HOST, p.listen_port, client_id="it-cap-client-%d" % i) as c:
            c.api_versions(3)
    m = settled_metrics(p)

    by_topic = metric_by(m, "kafkascope_produced_records_total", "topic")
    own = sorted(t for t in by_topic if t != "__other__")
    assert len(own) <= 3, "%d topic labels of their own with a cap of 3: %s" % (len(own), own)
    assert set(own) <= set(topics), "unexpected topic labels %s" % own
    assert sum(by_topic.values()) == 6, "produced_records_total sums to %s, expected 6: %s" % (
        sum(by_topic.values()), by_topic)
    assert by_topic.get("__other__") == 6 - sum(by_topic[t] for t in own) and by_topic.get("__other__", 0) >= 3, \
        "__other__ should hold the records of the %d folded topics: %s" % (6 - len(own), by_topic)
    assert metric_sum(m, "kafkascope_label_values_folded_total", label="topic") > 0

    clients = {dict(labels)["client_id"] for labels in metric_series(m, "kafkascope_clients")}
    assert len(clients - {"__other__"}) <= 3, "client_id labels beyond the cap: %s" % sorted(clients)
    assert "__other__" in clients, "7+ client ids with a cap of 3 but no __other__: %s" % sorted(clients)
    assert metric_sum(m, "kafkascope_label_values_folded_total", label="client_id") > 0


# ------------------------------------------------------------------------------------------ g. slow HTTP client

def test_stalled_http_clients_do_not_block_scrapes_or_traffic(tansu, proxy):
    """Connections to the metrics port that send nothing, half a request line, or headers without the final
    blank line stay open; meanwhile full scrapes from other connections answer within 2 s each and a produce
    through the proxy succeeds."""
    p = proxy()
    stalled = []
    try:
        for partial in (b"", b"GET /metr", b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"):
            s = socket.create_connection((HOST, p.metrics_port), timeout=5)
            if partial:
                s.sendall(partial)
            stalled.append(s)
        time.sleep(0.3)
        for i in range(3):
            started = time.monotonic()
            status, _, body = http_get(p.metrics_port, "/metrics", timeout=5)
            elapsed = time.monotonic() - started
            assert status == 200 and b"kafkascope_build_info" in body, "scrape %d: %d %r" % (i, status, body[:200])
            assert elapsed < 2.0, "scrape %d took %.2f s with stalled clients around" % (i, elapsed)
        topic = wl.unique("stalled")
        started = time.monotonic()
        produced = wl.kp_produce(p.bootstrap, topic, wl.make_records(20, seed=7, prefix=topic), timeout=20)
        assert sum(produced.values()) == 20
        assert time.monotonic() - started < 20
        for s in stalled:  # none of them was answered
            s.setblocking(False)
            try:
                data = s.recv(65536)
            except BlockingIOError:
                data = None
            assert not data, "a stalled request was answered: %r" % data
    finally:
        for s in stalled:
            s.close()
    p.assert_alive()


# ------------------------------------------------------------------------------------------ metrics port busy

def test_proxy_exits_when_the_metrics_port_is_taken(tansu, proxy):
    """If --metrics-listen cannot be bound, the proxy exits with an error (non-zero) instead of running without
    metrics."""
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        holder.listen(1)
        taken = holder.getsockname()[1]
        p = proxy("--metrics-listen", "%s:%d" % (HOST, taken), expect_exit=True)
        try:
            code = p.wait(20)
        except subprocess.TimeoutExpired:
            raise AssertionError("the proxy still runs 20 s after failing to bind its metrics port %d" % taken) \
                from None
    assert code != 0, "the proxy exited with 0 although its metrics port %d was taken" % taken
    assert "%s:%d" % (HOST, taken) in p.log_text(), "the proxy's error output does not name the metrics address"
    assert not can_connect(p.listen_port), "the Kafka listener is still accepting connections"
