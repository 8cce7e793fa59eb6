"""Address rewriting against a scripted three-broker cluster with sparse node ids (1, 7, 1000).

The fake brokers (kafka_wire.FakeCluster) answer ApiVersions v0-v3, Metadata v0-v12, FindCoordinator v0-v4 and
DescribeCluster v0-v1 with hand-packed responses naming all three brokers at their real ports, and put the
answering broker's node id in throttle_time_ms. Through the proxy, a raw-socket client checks that:
  - every broker address is <advertised host>:<broker-port-base + node id>, nothing else changes;
  - the three per-broker listeners accept connections as soon as the rewritten Metadata is delivered;
  - a request sent to listener base+N reaches fake broker N (and no other).
"""
import copy
import uuid

import pytest

import kafka_wire as kw
from harness import HOST, can_connect, find_port_block

NODES = (1, 7, 1000)
COORDINATORS = {"group-one": 1, "group-seven": 7, "group-thousand": 1000}
UNKNOWN_GROUP = "group-nobody"


@pytest.fixture(params=[None, "kafkascope.proxy.test"], ids=["default-host", "advertised-host"])
def cluster(request, fake_cluster, proxy):
    """(fake cluster, proxy, expected advertised host)."""
    fake = fake_cluster(list(NODES), coordinators=COORDINATORS, controller_id=7)
    base = find_port_block([0] + list(NODES))
    p = proxy(bootstrap=fake.bootstrap(), broker_port_base=base, node_ids=NODES, advertised_host=request.param)
    return fake, p, request.param or HOST


def tag():
    return "it-" + uuid.uuid4().hex[:12]


def rewritten(fake_response, p, host):
    """What the client should get: the fake's response with broker addresses mapped to the proxy."""
    want = copy.deepcopy(fake_response)
    for b in want.get("brokers", []):
        b["host"], b["port"] = host, p.broker_port(b["node_id"])
    return want


def as_version(api_key, version, d):
    """Round trip through the version's encoder/decoder: drops fields the version does not have."""
    encode, decode = {kw.API_METADATA: (kw.encode_metadata_response, kw.decode_metadata_response),
                      kw.API_DESCRIBE_CLUSTER: (kw.encode_describe_cluster_response,
                                                kw.decode_describe_cluster_response)}[api_key]
    return decode(version, kw.Reader(encode(version, d), flexible=kw.is_flexible(api_key, version)))


def sent_by_fake(fake, client_id):
    answers = fake.sent_to(client_id)
    assert len(answers) == 1, "expected one upstream answer for %s, got %d" % (client_id, len(answers))
    return answers[0]


@pytest.mark.parametrize("version", [0, 1, 2, 4, 7, 8, 9, 10, 12])
def test_metadata_brokers_rewritten(cluster, version):
    fake, p, host = cluster
    cid = tag()
    with kw.WireClient(HOST, p.listen_port, client_id=cid) as c:
        got = c.metadata(version)
    _, upstream = sent_by_fake(fake, cid)
    assert sorted(b["node_id"] for b in got["brokers"]) == sorted(NODES)
    for b in got["brokers"]:
        assert (b["host"], b["port"]) == (host, p.broker_port(b["node_id"])), b
    # Everything else (node ids, racks, controller, cluster id, topics, leaders, throttle) is untouched.
    assert got == as_version(kw.API_METADATA, version, rewritten(upstream, p, host))


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_find_coordinator_rewritten(cluster, version):
    fake, p, host = cluster
    with kw.WireClient(HOST, p.listen_port) as c:
        for key, node in list(COORDINATORS.items()) + [(UNKNOWN_GROUP, None)]:
            (coord,) = c.find_coordinator(version, [key])["coordinators"]
            if node is None:
                assert coord["error_code"] == kw.ERROR_COORDINATOR_NOT_AVAILABLE and coord["node_id"] == -1, coord
            else:
                assert coord["error_code"] == 0, coord
                assert (coord["node_id"], coord["host"], coord["port"]) == (node, host, p.broker_port(node)), coord


def test_find_coordinator_v4_batched_rewritten(cluster):
    fake, p, host = cluster
    keys = list(COORDINATORS) + [UNKNOWN_GROUP]
    with kw.WireClient(HOST, p.listen_port) as c:
        got = c.find_coordinator(4, keys)
    by_key = {co["key"]: co for co in got["coordinators"]}
    assert sorted(by_key) == sorted(keys)
    for key, node in COORDINATORS.items():
        co = by_key[key]
        assert (co["node_id"], co["host"], co["port"], co["error_code"]) == (node, host, p.broker_port(node), 0), co
    assert by_key[UNKNOWN_GROUP]["error_code"] == kw.ERROR_COORDINATOR_NOT_AVAILABLE
    assert by_key[UNKNOWN_GROUP]["node_id"] == -1


@pytest.mark.parametrize("version", [0, 1])
def test_describe_cluster_rewritten(cluster, version):
    fake, p, host = cluster
    cid = tag()
    with kw.WireClient(HOST, p.listen_port, client_id=cid) as c:
        got = c.describe_cluster(version)
    _, upstream = sent_by_fake(fake, cid)
    assert got == as_version(kw.API_DESCRIBE_CLUSTER, version, rewritten(upstream, p, host))


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_api_versions_not_widened(cluster, version):
    fake, p, host = cluster
    with kw.WireClient(HOST, p.listen_port) as c:
        got = c.api_versions(version)
    assert got["error_code"] == 0
    upstream = {k: (lo, hi) for k, lo, hi in kw.FakeCluster.API_RANGES}
    ranges = {k: (lo, hi) for k, lo, hi in got["api_keys"]}
    assert set(ranges) <= set(upstream), "advertises APIs the upstream lacks: %s" % (set(ranges) - set(upstream))
    assert kw.API_METADATA in ranges and kw.API_API_VERSIONS in ranges
    for key, (lo, hi) in ranges.items():
        assert upstream[key][0] <= lo <= hi <= upstream[key][1], (key, (lo, hi), upstream[key])


def test_broker_listeners_open_and_route_to_their_broker(cluster):
    fake, p, host = cluster
    with kw.WireClient(HOST, p.listen_port) as c:
        c.metadata(1)
    # The client would connect right after receiving the rewritten metadata: no retry here.
    closed = [n for n in NODES if not can_connect(p.broker_port(n))]
    assert not closed, "no listener on broker-port-base + node id for nodes %s (base %d)" % (closed,
                                                                                        p.broker_port_base)
    for node in NODES:
        cid = tag()
        with kw.WireClient(HOST, p.broker_port(node), client_id=cid) as c:
            md = c.metadata(12)
            coord = c.find_coordinator(3, ["group-thousand"])["coordinators"][0]
        receivers = {r.node_id for r in fake.received_by(cid)}
        assert receivers == {node}, "requests sent to listener for node %d reached fake node(s) %s" % (
            node, sorted(receivers))
        assert md["throttle_time_ms"] == node, "answered by node %d, expected %d" % (md["throttle_time_ms"], node)
        assert {(b["node_id"], b["host"], b["port"]) for b in md["brokers"]} == {
            (n, host, p.broker_port(n)) for n in NODES}
        assert (coord["node_id"], coord["host"], coord["port"]) == (1000, host, p.broker_port(1000))
    p.assert_alive()
