"""Protocol versions from Kafka's August 2026 schemas through the proxy: ApiVersions v5 (and a future v6),
Metadata v13, FindCoordinator v5-v6, DescribeCluster v2, Produce v13 and Fetch v18.

Tansu 0.6.0 does not speak these versions, so a scripted upstream answers instead: kafka_wire.FakeCluster, nodes 1, 7
and 1000 (sparse ids), advertising ApiVersions 0-5, Produce 3-13, Fetch 4-18, Metadata 0-13, FindCoordinator 0-6
and DescribeCluster 0-2 (a "2027 broker" also ApiVersions 0-6), with hand-packed responses naming every broker at
its real port and the answering broker's node id in throttle_time_ms. Through the proxy a raw-socket client checks:
  a. ApiVersions v5: the fake's max versions reach the client unlowered; the ClusterId and NodeId the client sends
     reach the fake unchanged, and NodeId=N sent to the listener broker-port-base+N reaches fake broker N;
  b. Metadata v13, FindCoordinator v5-v6, DescribeCluster v2: every broker address is
     <advertised host>:<broker-port-base + node id>, nothing else changes;
  c. Produce v13 (topics by id, after a Metadata v13 naming the id) and Fetch v18 answered NOT_LEADER_OR_FOLLOWER with
     a CurrentLeader and KIP-951 NodeEndpoints naming another broker at its real port: the client sees the proxy's
     address for it, nothing else changes;
  d. after that traffic, /metrics has no undecoded frame, counts Produce v13 and Fetch v18, and names the topic that
     Produce v13 gave only by id;
  e. ApiVersions v6 (above the codec's newest, v5) gets the proxy's answer, in the v0 format with error 35 listing
     ApiVersions 0-5, in place of the broker's v6 answer, which never reaches the client; the client's v5 retry sees
     ApiVersions lowered to 5 and Produce 13 / Fetch 18 untouched; no real broker port reaches the client;
  f. REBOOTSTRAP_REQUIRED (129) from the broker reaches the client byte for byte and is counted in
     kafkascope_errors_total.
"""
import copy
import struct
import uuid

import pytest

import kafka_wire as kw
from harness import HOST, find_port_block, metric_series, metric_sum, settled_metrics

NODES = (1, 7, 1000)
COORDINATORS = {"group-one": 1, "group-seven": 7, "group-thousand": 1000}
UNKNOWN_GROUP = "group-nobody"

# The newest versions the proxy's codec decodes (Kafka's schemas of August 2026).
CODEC_NEWEST = {kw.API_API_VERSIONS: 5, kw.API_PRODUCE: 13, kw.API_FETCH: 18, kw.API_METADATA: 13,
                kw.API_FIND_COORDINATOR: 6, kw.API_DESCRIBE_CLUSTER: 2}
# What a current broker advertises: all within the codec's newest, so nothing may be lowered.
NEW_RANGES = {kw.API_PRODUCE: (3, 13), kw.API_FETCH: (4, 18), kw.API_METADATA: (0, 13),
              kw.API_FIND_COORDINATOR: (0, 6), kw.API_API_VERSIONS: (0, 5), kw.API_DESCRIBE_CLUSTER: (0, 2)}
# A "2027 broker" that also speaks ApiVersions v6 (laid out as v5).
FUTURE_RANGES = dict(NEW_RANGES)
FUTURE_RANGES[kw.API_API_VERSIONS] = (0, 6)

RECORDS_PER_BATCH = 5


def start(fake_cluster, proxy, ranges=NEW_RANGES, advertised_host=None):
    """(fake cluster, proxy, host the client should see)."""
    fake = fake_cluster(list(NODES), coordinators=COORDINATORS, controller_id=7, api_ranges=ranges)
    base = find_port_block([0] + list(NODES))
    p = proxy(bootstrap=fake.bootstrap(), broker_port_base=base, node_ids=NODES, advertised_host=advertised_host)
    return fake, p, advertised_host or HOST


@pytest.fixture(params=[None, "kafkascope.proxy.test"], ids=["default-host", "advertised-host"])
def cluster(request, fake_cluster, proxy):
    return start(fake_cluster, proxy, advertised_host=request.param)


def tag():
    return "it-new-" + uuid.uuid4().hex[:12]


CODECS = {kw.API_API_VERSIONS: (kw.encode_api_versions_response, kw.decode_api_versions_response),
          kw.API_METADATA: (kw.encode_metadata_response, kw.decode_metadata_response),
          kw.API_FIND_COORDINATOR: (kw.encode_find_coordinator_response, kw.decode_find_coordinator_response),
          kw.API_DESCRIBE_CLUSTER: (kw.encode_describe_cluster_response, kw.decode_describe_cluster_response),
          kw.API_PRODUCE: (kw.encode_produce_response, kw.decode_produce_response),
          kw.API_FETCH: (kw.encode_fetch_response, kw.decode_fetch_response)}


def as_version(api_key, version, d):
    """Round trip through the version's encoder/decoder: what a client decodes from the response d."""
    encode, decode = CODECS[api_key]
    return decode(version, kw.Reader(encode(version, d), flexible=kw.is_flexible(api_key, version)))


def to_proxy(p, host, entries):
    """Broker/coordinator/endpoint entries with their address mapped to the proxy (entries without a node, as a
    coordinator error's node -1, stay as they are)."""
    for e in entries or []:
        if e["node_id"] >= 0:
            e["host"], e["port"] = host, p.broker_port(e["node_id"])


def one_answer(fake, client_id):
    answers = fake.sent_to(client_id)
    assert len(answers) == 1, "expected one upstream answer for %s, got %d" % (client_id, len(answers))
    return answers[0]


def received(fake, client_id, api_key):
    return [r for r in fake.received_by(client_id) if r.api_key == api_key]


def real_port_mentions(fake, payloads):
    """Where a fake broker's real port appears in what the client read: as an int32 or as text."""
    found = []
    for nid, port in fake.ports.items():
        for i, payload in enumerate(payloads):
            if struct.pack(">i", port) in payload or (":%d" % port).encode() in payload:
                found.append("node %d's port %d in response %d" % (nid, port, i))
    return found


def assert_proxy_addresses(p, host, brokers, what):
    assert sorted(b["node_id"] for b in brokers) == sorted(NODES), what
    for b in brokers:
        assert (b["host"], b["port"]) == (host, p.broker_port(b["node_id"])), "%s: %s" % (what, b)


# ---------------------------------------------------------------------------------------- traffic (a, b, c)

def exercise_api_versions(fake, p, host):
    """a. ApiVersions v5 through the bootstrap listener and through every broker listener."""
    cid = tag()
    with kw.WireClient(HOST, p.listen_port, client_id=cid) as c:
        got = c.api_versions(5, cluster_id=fake.CLUSTER_ID, node_id=-1)
    nid, upstream = one_answer(fake, cid)
    assert got["error_code"] == 0, got
    ranges = {k: (lo, hi) for k, lo, hi in got["api_keys"]}
    for key, newest in [(kw.API_PRODUCE, 13), (kw.API_FETCH, 18), (kw.API_METADATA, 13), (kw.API_API_VERSIONS, 5)]:
        assert ranges.get(key, (None, None))[1] == newest, "%s advertised to the client as %s, the broker has %s" % (
            kw.API_NAMES[key], ranges.get(key), fake.advertised(key))
    # Nothing lowered (everything is within the codec's newest), nothing else changed.
    assert got == as_version(kw.API_API_VERSIONS, 5, upstream), "ApiVersions v5 changed on its way"
    (request,) = received(fake, cid, kw.API_API_VERSIONS)
    sent = kw.api_versions_request(5, cluster_id=fake.CLUSTER_ID, node_id=-1)
    assert (request.version, request.body) == (5, sent), "the ApiVersions v5 request reached the broker as v%d %s" % (
        request.version, request.body.hex())

    with kw.WireClient(HOST, p.listen_port) as c:
        c.metadata(13)  # the rewritten Metadata opens the broker listeners
    for node in NODES:
        cid = tag()
        with kw.WireClient(HOST, p.broker_port(node), client_id=cid) as c:
            got = c.api_versions(5, cluster_id=fake.CLUSTER_ID, node_id=node)
        requests = received(fake, cid, kw.API_API_VERSIONS)
        assert {r.node_id for r in requests} == {node}, \
            "ApiVersions v5 with NodeId=%d sent to listener %d reached fake node(s) %s" % (
                node, p.broker_port(node), sorted({r.node_id for r in requests}))
        assert [(r.version, r.fields["cluster_id"], r.fields["node_id"]) for r in requests] == [
            (5, fake.CLUSTER_ID, node)], [r.fields for r in requests]
        assert [r.body for r in requests] == [kw.api_versions_request(5, cluster_id=fake.CLUSTER_ID, node_id=node)]
        assert got["error_code"] == 0 and got["throttle_time_ms"] == node, got


def exercise_addresses(fake, p, host):
    """b. Metadata v13, FindCoordinator v5/v6, DescribeCluster v2: proxy addresses, nothing else changed."""
    cid = tag()
    with kw.WireClient(HOST, p.listen_port, client_id=cid) as c:
        got = c.metadata(13)
    _, upstream = one_answer(fake, cid)
    assert_proxy_addresses(p, host, got["brokers"], "Metadata v13 brokers")
    want = copy.deepcopy(upstream)
    to_proxy(p, host, want["brokers"])
    assert got == as_version(kw.API_METADATA, 13, want), "Metadata v13: more than the broker addresses changed"

    keys = list(COORDINATORS) + [UNKNOWN_GROUP]
    for version in (5, 6):
        cid = tag()
        with kw.WireClient(HOST, p.listen_port, client_id=cid) as c:
            got = c.find_coordinator(version, keys)
        _, upstream = one_answer(fake, cid)
        by_key = {co["key"]: co for co in got["coordinators"]}
        assert sorted(by_key) == sorted(keys)
        for key, node in COORDINATORS.items():
            co = by_key[key]
            assert (co["node_id"], co["host"], co["port"], co["error_code"]) == (
                node, host, p.broker_port(node), 0), "FindCoordinator v%d: %s" % (version, co)
        assert by_key[UNKNOWN_GROUP]["error_code"] == kw.ERROR_COORDINATOR_NOT_AVAILABLE
        want = copy.deepcopy(upstream)
        to_proxy(p, host, want["coordinators"])
        assert got == as_version(kw.API_FIND_COORDINATOR, version, want), \
            "FindCoordinator v%d: more than the coordinator addresses changed" % version

    cid = tag()
    with kw.WireClient(HOST, p.listen_port, client_id=cid) as c:
        got = c.describe_cluster(2)
    _, upstream = one_answer(fake, cid)
    assert_proxy_addresses(p, host, got["brokers"], "DescribeCluster v2 brokers")
    want = copy.deepcopy(upstream)
    to_proxy(p, host, want["brokers"])
    assert got == as_version(kw.API_DESCRIBE_CLUSTER, 2, want), "DescribeCluster v2: more than the addresses changed"


def leader_moved_override(fake, moved, scripted):
    """An override answering Produce and Fetch from the client ids in `moved` ({client id: new leader}) with
    NOT_LEADER_OR_FOLLOWER, a CurrentLeader and the new leader's NodeEndpoint at its real port; the decoded answers
    go to scripted[client id]."""
    def override(nid, api_key, version, corr, client_id, body):
        new_leader = moved.get(client_id)
        if new_leader is None or api_key not in (kw.API_PRODUCE, kw.API_FETCH):
            return None
        leader = {"leader_id": new_leader, "leader_epoch": 6}
        flexible = kw.is_flexible(api_key, version)
        if api_key == kw.API_PRODUCE:
            request = kw.decode_produce_request(version, kw.Reader(body, flexible=flexible))
            d = {"responses": [{"topic_id": t["topic_id"], "partitions": [
                {"index": pt["index"], "error_code": kw.ERROR_NOT_LEADER_OR_FOLLOWER, "base_offset": -1,
                 "log_append_time_ms": -1, "log_start_offset": -1, "record_errors": [],
                 "error_message": "not the leader", "current_leader": leader} for pt in t["partitions"]]}
                for t in request["topics"]],
                "throttle_time_ms": nid, "node_endpoints": [fake.node_endpoint(new_leader)]}
            frame = kw.response_frame(api_key, version, corr, kw.encode_produce_response(version, d))
        else:
            request = kw.decode_fetch_request(version, kw.Reader(body, flexible=flexible))
            d = {"throttle_time_ms": nid, "error_code": 0, "session_id": 0,
                 "responses": [{"topic_id": t["topic_id"], "partitions": [
                     {"partition_index": pt["partition"], "error_code": kw.ERROR_NOT_LEADER_OR_FOLLOWER,
                      "high_watermark": -1, "last_stable_offset": -1, "log_start_offset": -1,
                      "aborted_transactions": None, "preferred_read_replica": -1, "records": None,
                      "diverging_epoch": None, "current_leader": leader, "snapshot_id": None}
                     for pt in t["partitions"]]} for t in request["topics"]],
                 "node_endpoints": [fake.node_endpoint(new_leader)]}
            frame = kw.response_frame(api_key, version, corr, kw.encode_fetch_response(version, d))
        scripted[client_id] = d
        return frame
    return override


def exercise_produce_fetch(fake, p, host):
    """c. Produce v13 and Fetch v18 by topic id, one answered normally, one with the leader moved elsewhere."""
    moved, scripted = {}, {}
    fake.override = leader_moved_override(fake, moved, scripted)
    with kw.WireClient(HOST, p.listen_port) as c:
        md = c.metadata(13, [fake.TOPIC_NAME])
    (topic,) = md["topics"]
    assert (topic["name"], topic["topic_id"]) == (fake.TOPIC_NAME, fake.TOPIC_ID), topic
    leaders = {pt["partition_index"]: pt["leader_id"] for pt in topic["partitions"]}
    batch = kw.record_batch([(b"k%d" % i, b"value %d" % i, []) for i in range(RECORDS_PER_BATCH)])

    # Produce v13 to the leader of partition 0, then again with the leader moved to node 7.
    ok, elsewhere = tag(), tag()
    moved[elsewhere] = 7
    for cid in (ok, elsewhere):
        with kw.WireClient(HOST, p.broker_port(leaders[0]), client_id=cid) as c:
            got = c.produce(13, fake.TOPIC_ID, 0, batch)
        (request,) = received(fake, cid, kw.API_PRODUCE)
        assert (request.node_id, request.version, request.body) == (
            leaders[0], 13, kw.produce_request(13, fake.TOPIC_ID, 0, batch)), "Produce v13 reached the broker changed"
        if cid == ok:
            _, want = one_answer(fake, cid)
            assert got == as_version(kw.API_PRODUCE, 13, want), "Produce v13 answer changed"
            assert got["node_endpoints"] is None
            continue
        assert [pt["error_code"] for t in got["responses"] for pt in t["partitions"]] == [
            kw.ERROR_NOT_LEADER_OR_FOLLOWER]
        assert got["responses"][0]["partitions"][0]["current_leader"] == {"leader_id": 7, "leader_epoch": 6}
        assert got["node_endpoints"] == [{"node_id": 7, "host": host, "port": p.broker_port(7), "rack": "rack-7"}], \
            "Produce v13 NodeEndpoints as the client sees them: %s (broker 7 is really at %d, its listener is %d)" % (
                got["node_endpoints"], fake.ports[7], p.broker_port(7))
        want = copy.deepcopy(scripted[cid])
        to_proxy(p, host, want["node_endpoints"])
        assert got == as_version(kw.API_PRODUCE, 13, want), "Produce v13: more than the NodeEndpoints changed"

    # Fetch v18 from the leader of partition 1, then again with the leader moved to node 1000.
    ok, elsewhere = tag(), tag()
    moved[elsewhere] = 1000
    for cid in (ok, elsewhere):
        with kw.WireClient(HOST, p.broker_port(leaders[1]), client_id=cid) as c:
            got = c.fetch(18, fake.TOPIC_ID, 1)
        (request,) = received(fake, cid, kw.API_FETCH)
        assert (request.node_id, request.version, request.body) == (
            leaders[1], 18, kw.fetch_request(18, fake.TOPIC_ID, 1)), "Fetch v18 reached the broker changed"
        if cid == ok:
            _, want = one_answer(fake, cid)
            assert got == as_version(kw.API_FETCH, 18, want), "Fetch v18 answer changed"
            continue
        (partition,) = got["responses"][0]["partitions"]
        assert (partition["error_code"], partition["current_leader"]) == (
            kw.ERROR_NOT_LEADER_OR_FOLLOWER, {"leader_id": 1000, "leader_epoch": 6}), partition
        assert got["node_endpoints"] == [
            {"node_id": 1000, "host": host, "port": p.broker_port(1000), "rack": "rack-1000"}], \
            "Fetch v18 NodeEndpoints as the client sees them: %s (broker 1000 is really at %d, its listener is %d)" % (
                got["node_endpoints"], fake.ports[1000], p.broker_port(1000))
        want = copy.deepcopy(scripted[cid])
        to_proxy(p, host, want["node_endpoints"])
        assert got == as_version(kw.API_FETCH, 18, want), "Fetch v18: more than the NodeEndpoints changed"
    fake.override = None


# ---------------------------------------------------------------------------------------- tests

def test_api_versions_v5_not_lowered_and_routed_by_node_id(cluster):
    fake, p, host = cluster
    exercise_api_versions(fake, p, host)
    assert not fake.unsupported, "the broker got versions it does not advertise: %s" % fake.unsupported
    p.assert_alive()


def test_metadata_v13_find_coordinator_v6_describe_cluster_v2_rewritten(cluster):
    fake, p, host = cluster
    exercise_addresses(fake, p, host)
    assert not fake.unsupported, "the broker got versions it does not advertise: %s" % fake.unsupported
    p.assert_alive()


def test_node_endpoints_of_produce_v13_and_fetch_v18_rewritten(cluster):
    fake, p, host = cluster
    exercise_produce_fetch(fake, p, host)
    assert not fake.unsupported, "the broker got versions it does not advertise: %s" % fake.unsupported
    p.assert_alive()



def nonzero(m, name):
    return {", ".join("%s=%s" % kv for kv in sorted(labels)): v for labels, v in metric_series(m, name).items() if v}


def test_metrics_after_new_protocol_traffic(fake_cluster, proxy):
    fake, p, host = start(fake_cluster, proxy)
    exercise_api_versions(fake, p, host)
    exercise_addresses(fake, p, host)
    exercise_produce_fetch(fake, p, host)
    m = settled_metrics(p)

    assert metric_sum(m, "kafkascope_frames_undecoded_total") == 0, \
        "frames the codec could not decode: %s" % nonzero(m, "kafkascope_frames_undecoded_total")
    for api, version, count in [("Produce", 13, 2), ("Fetch", 18, 2), ("ApiVersions", 5, 4), ("Metadata", 13, 3),
                                ("FindCoordinator", 5, 1), ("FindCoordinator", 6, 1), ("DescribeCluster", 2, 1)]:
        got = metric_sum(m, "kafkascope_requests_total", api=api, version=version)
        assert got == count, "requests_total{api=%s,version=%d} = %s, expected %d (all: %s)" % (
            api, version, got, count, nonzero(m, "kafkascope_requests_total"))
    # Produce v13 names its topic only by id; the Metadata v13 before it gave the name.
    produced = nonzero(m, "kafkascope_produced_records_total")
    assert produced == {"topic=%s" % fake.TOPIC_NAME: 2 * RECORDS_PER_BATCH}, \
        "produced_records_total by topic: %s (topic %s has id %s)" % (produced, fake.TOPIC_NAME,
                                                                      uuid.UUID(bytes=fake.TOPIC_ID))
    for api in ("Produce", "Fetch"):
        got = metric_sum(m, "kafkascope_errors_total", api=api, error="NOT_LEADER_OR_FOLLOWER")
        assert got == 1, "errors_total{api=%s,error=NOT_LEADER_OR_FOLLOWER} = %s (all: %s)" % (
            api, got, nonzero(m, "kafkascope_errors_total"))
    p.assert_alive()


def test_api_versions_above_codec_answered_by_proxy(fake_cluster, proxy):
    fake, p, host = start(fake_cluster, proxy, ranges=FUTURE_RANGES)
    cid = tag()
    read = []  # every response payload the client reads
    with kw.WireClient(HOST, p.listen_port, client_id=cid) as c:
        # A "2027 client" starts at v6 ...
        corr = c.send(kw.API_API_VERSIONS, 6, kw.api_versions_request(6, cluster_id=fake.CLUSTER_ID))
        payload = c.recv_frame()
        read.append(payload)
        got_corr, r = kw.response_body_reader(kw.API_API_VERSIONS, 0, payload)  # response header v0
        assert got_corr == corr, "correlation id %d, expected %d" % (got_corr, corr)
        try:
            refused = kw.decode_api_versions_response(0, r)  # v0 body: error, [(key, min, max)], nothing else
        except (ValueError, struct.error) as e:
            raise AssertionError("the answer to ApiVersions v6 is not a v0 response (%s): %s" % (e, payload.hex()))
        assert refused["error_code"] == kw.ERROR_UNSUPPORTED_VERSION, refused
        listed = {k: (lo, hi) for k, lo, hi in refused["api_keys"]}
        assert listed.get(kw.API_API_VERSIONS) == (0, 5), "ApiVersions listed as %s" % (
            listed.get(kw.API_API_VERSIONS),)
        for key, (lo, hi) in listed.items():
            assert hi <= CODEC_NEWEST.get(key, hi), "v0 answer lists %s up to v%d" % (kw.API_NAMES.get(key), hi)

        # ... and retries at the newest version listed.
        payload, r = c.call(kw.API_API_VERSIONS, 5, kw.api_versions_request(5, cluster_id=fake.CLUSTER_ID))
        read.append(payload)
        got = kw.decode_api_versions_response(5, r)
        payload, r = c.call(kw.API_METADATA, 13, kw.metadata_request(13))
        read.append(payload)
        md = kw.decode_metadata_response(13, r)
        payload, r = c.call(kw.API_DESCRIBE_CLUSTER, 2, kw.describe_cluster_request(2))
        read.append(payload)
        dc = kw.decode_describe_cluster_response(2, r)

    v5 = [rq for rq in received(fake, cid, kw.API_API_VERSIONS) if rq.version == 5]
    assert len(v5) == 1, "the v5 retry reached the broker %d times" % len(v5)
    assert got["error_code"] == 0, got
    ranges = {k: (lo, hi) for k, lo, hi in got["api_keys"]}
    assert ranges[kw.API_API_VERSIONS] == (0, 5), "ApiVersions advertised as %s" % (ranges[kw.API_API_VERSIONS],)
    assert (ranges[kw.API_PRODUCE], ranges[kw.API_FETCH]) == ((3, 13), (4, 18)), ranges
    want = {"error_code": 0, "throttle_time_ms": v5[0].node_id, "tags": {},
            "api_keys": [(k, lo, min(hi, CODEC_NEWEST[k])) for k, lo, hi in fake.API_RANGES]}
    assert got == want, "ApiVersions v5 as the client sees it"
    assert_proxy_addresses(p, host, md["brokers"], "Metadata v13 brokers")
    assert_proxy_addresses(p, host, dc["brokers"], "DescribeCluster v2 brokers")
    mentions = real_port_mentions(fake, read)
    assert not mentions, "real broker ports reached the client: %s" % mentions

    # The proxy forwards the v6 request (ApiVersions changes nothing on a broker, and the request keeps its place
    # among the connection's in-flight ones) and puts its own answer in place of the broker's, which it cannot read.
    forwarded = [rq for rq in fake.requests if rq.api_key == kw.API_API_VERSIONS and rq.version > 5]
    answered = [f[4:] for nid, c, corr, f in fake.frames_sent for rq in forwarded
                if (nid, c, corr) == (rq.node_id, rq.client_id, rq.correlation_id)]
    assert read[0] not in answered, "the broker's v6 answer reached the client: %s" % read[0].hex()
    p.assert_alive()


def test_rebootstrap_required_passes_through_and_is_counted(fake_cluster, proxy):
    fake, p, host = start(fake_cluster, proxy)

    # KIP-1242: ApiVersions v5 naming another cluster is answered REBOOTSTRAP_REQUIRED by the broker.
    av = tag()
    with kw.WireClient(HOST, p.listen_port, client_id=av) as c:
        corr = c.send(kw.API_API_VERSIONS, 5, kw.api_versions_request(5, cluster_id="some-other-cluster"))
        payload = c.recv_frame()
    (_, frame), = fake.frames_sent_to(av)
    _, upstream = one_answer(fake, av)
    assert upstream["error_code"] == kw.ERROR_REBOOTSTRAP_REQUIRED, upstream
    assert payload == struct.pack(">i", corr) + frame[8:], \
        "ApiVersions v5 REBOOTSTRAP_REQUIRED changed on its way:\n  broker %s\n  client %s" % (
            frame[4:].hex(), payload.hex())

    # KIP-1102: a Metadata v13 response with the top-level REBOOTSTRAP_REQUIRED (no brokers, no topics).
    md = tag()
    answer = {"throttle_time_ms": 0, "brokers": [], "cluster_id": fake.CLUSTER_ID, "controller_id": -1,
              "topics": [], "error_code": kw.ERROR_REBOOTSTRAP_REQUIRED}

    def override(nid, api_key, version, correlation_id, client_id, body):
        if client_id == md and api_key == kw.API_METADATA:
            return kw.response_frame(api_key, version, correlation_id, kw.encode_metadata_response(version, answer))
        return None
    fake.override = override
    with kw.WireClient(HOST, p.listen_port, client_id=md) as c:
        corr = c.send(kw.API_METADATA, 13, kw.metadata_request(13))
        payload = c.recv_frame()
    (_, frame), = fake.frames_sent_to(md)
    assert payload == struct.pack(">i", corr) + frame[8:], \
        "Metadata v13 REBOOTSTRAP_REQUIRED changed on its way:\n  broker %s\n  client %s" % (
            frame[4:].hex(), payload.hex())
    _, r = kw.response_body_reader(kw.API_METADATA, 13, payload)
    assert kw.decode_metadata_response(13, r)["error_code"] == kw.ERROR_REBOOTSTRAP_REQUIRED

    m = settled_metrics(p)
    errors = nonzero(m, "kafkascope_errors_total")
    assert errors == {"api=ApiVersions, error=REBOOTSTRAP_REQUIRED": 1,
                      "api=Metadata, error=REBOOTSTRAP_REQUIRED": 1}, "errors_total: %s" % errors
    p.assert_alive()
