"""Admin operations through the proxy with kafka-python's KafkaAdminClient and confluent-kafka's AdminClient,
plus raw Metadata/ApiVersions requests compared with the same requests sent straight to Tansu.

Ground truth for values Tansu computes oddly (its ListOffsets "latest" is not the high watermark) is Tansu
itself: the same query sent directly must give the same answer, since the proxy passes these bytes through.
"""
import time

import pytest

import kafka_wire as kw
import workloads as wl
from harness import HOST, TANSU_NODE_ID

PARTITIONS = 3


def as_offset(committed):
    return getattr(committed, "offset", committed)  # kafka-python returns an int or an OffsetAndMetadata


def assert_proxy_addresses(p, observations):
    want = [(TANSU_NODE_ID, HOST, p.broker_port(TANSU_NODE_ID))]
    wrong = ["%s: %s" % (what, got) for what, got in observations if got != want]
    assert not wrong, "expected only %s (the proxy's listener for node %d); got %s" % (
        want, TANSU_NODE_ID, "; ".join(wrong))


def commit_group(bootstrap, topic, group, expected):
    """Consume `expected` records of topic in `group` and commit; returns committed {partition: offset}."""
    from kafka import TopicPartition
    consumer = wl.kp_consumer(bootstrap, group)
    try:
        consumer.subscribe([topic])
        got, _ = wl.kp_poll_until(consumer, expected, timeout=30, settle=0.2)
        assert sum(got.values()) == expected, "consumed %d of %d records" % (sum(got.values()), expected)
        consumer.commit()
        return {p: consumer.committed(TopicPartition(topic, p)) for p in range(PARTITIONS)}
    finally:
        consumer.close(autocommit=False)


def test_kafka_python_admin(tansu, proxy):
    from kafka import TopicPartition
    from kafka.admin import ConfigResource, ConfigResourceType, OffsetSpec
    p = proxy()
    topic, group = wl.unique("adm-kp"), wl.unique("adm-kp-group")
    admin = wl.kp_admin(p.bootstrap)
    direct = wl.kp_admin(tansu.bootstrap, client_id="it-direct-admin")
    addresses = []  # (what, [(node id, host, port)]), checked last so that a run without rewriting shows the rest
    try:
        before = set(admin.list_topics())
        assert topic not in before

        created = admin.create_topics({topic: {"num_partitions": PARTITIONS, "replication_factor": 1}})
        assert [(t["name"], t["error_code"]) for t in created["topics"]] == [(topic, 0)], created
        assert topic in set(admin.list_topics())
        (described,) = admin.describe_topics([topic])
        assert described["error_code"] == 0 and described["name"] == topic
        assert sorted(pt["partition_index"] for pt in described["partitions"]) == list(range(PARTITIONS))
        assert {pt["leader_id"] for pt in described["partitions"]} == {TANSU_NODE_ID}

        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        assert topic in configs.get("topic", {}), "no DescribeConfigs result for the topic: %s" % configs
        broker_configs = admin.describe_configs([ConfigResource(ConfigResourceType.BROKER, str(TANSU_NODE_ID))])
        assert str(TANSU_NODE_ID) in broker_configs.get("broker", {}), broker_configs

        # Records in partitions 0 and 1 only; partition 2 stays empty.
        records = wl.make_records(40, seed=3, prefix=topic)
        producer = wl.kp_producer(p.bootstrap)
        try:
            futures = [producer.send(topic, key=k, value=v, headers=h, partition=i % 2)
                       for i, (k, v, h) in enumerate(records)]
            producer.flush(timeout=30)
            assert all(f.succeeded() for f in futures), "some sends failed"
        finally:
            producer.close(timeout=10)
        committed = commit_group(p.bootstrap, topic, group, len(records))

        groups = admin.list_groups()
        assert group in {g["group_id"] for g in groups}, "group %s not listed: %s" % (group, groups)
        offsets = admin.list_group_offsets({group: None})[group]
        for part in (0, 1):
            assert offsets[TopicPartition(topic, part)].offset == as_offset(committed[part]) == 20, offsets

        tps = [TopicPartition(topic, part) for part in range(PARTITIONS)]
        for spec in (OffsetSpec.EARLIEST, OffsetSpec.LATEST):
            via_proxy = admin.list_partition_offsets({tp: spec for tp in tps})
            via_direct = direct.list_partition_offsets({tp: spec for tp in tps})
            assert {tp: o.offset for tp, o in via_proxy.items()} == {tp: o.offset for tp, o in via_direct.items()}
        earliest = admin.list_partition_offsets({tp: OffsetSpec.EARLIEST for tp in tps})
        latest = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in tps})
        assert all(earliest[tp].offset == 0 for tp in tps), earliest
        assert latest[tps[0]].offset > 0 and latest[tps[1]].offset > 0 and latest[tps[2]].offset == 0, latest

        cluster = admin.describe_cluster()
        assert cluster["controller_id"] == TANSU_NODE_ID
        addresses.append(("DescribeCluster brokers", [(b["broker_id"], b["host"], b["port"])
                                                      for b in cluster["brokers"]]))

        deleted = admin.delete_topics([topic])
        assert [(t["name"], t["error_code"]) for t in deleted["topics"]] == [(topic, 0)], deleted
        deadline = time.monotonic() + 10
        while topic in set(admin.list_topics()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert topic not in set(admin.list_topics()), "topic still listed after delete"
    finally:
        admin.close()
        direct.close()
    p.assert_alive()
    assert_proxy_addresses(p, addresses)


def test_confluent_admin(tansu, proxy):
    from confluent_kafka import ConsumerGroupState, TopicPartition
    from confluent_kafka.admin import ConfigResource, NewTopic, OffsetSpec
    p = proxy()
    topic, group = wl.unique("adm-ck"), wl.unique("adm-ck-group")
    admin = wl.ck_admin(p.bootstrap)
    direct = wl.ck_admin(tansu.bootstrap)

    addresses = []  # (what, [(node id, host, port)]), checked last so that a run without rewriting shows the rest
    md = admin.list_topics(timeout=15)
    assert topic not in md.topics
    addresses.append(("Metadata brokers", [(b.id, b.host, b.port) for b in md.brokers.values()]))

    for f in admin.create_topics([NewTopic(topic, PARTITIONS, 1)], operation_timeout=15).values():
        assert f.result(30) is None
    md = admin.list_topics(topic, timeout=15)
    assert md.topics[topic].error is None and sorted(md.topics[topic].partitions) == list(range(PARTITIONS))

    resource = ConfigResource("topic", topic)
    results = admin.describe_configs([resource], request_timeout=15)
    assert len(results) == 1
    (future,) = results.values()
    assert isinstance(future.result(30), dict)  # Tansu returns no entries; the call must still succeed

    records = wl.make_records(30, seed=4, prefix=topic)
    wl.ck_produce(p.bootstrap, topic, records)
    consumer = wl.ck_consumer(p.bootstrap, group)
    try:
        consumer.subscribe([topic])
        got, _, errors = wl.ck_poll_until(consumer, len(records), timeout=30, settle=0.2)
        assert not errors and sum(got.values()) == len(records)
        consumer.commit(asynchronous=False)

        listed = admin.list_consumer_groups(request_timeout=15).result(30)
        assert not listed.errors, listed.errors
        assert group in {g.group_id for g in listed.valid}, "group not listed"
        description = admin.describe_consumer_groups([group], request_timeout=15)[group].result(30)
        assert description.group_id == group
        assert description.state in (ConsumerGroupState.STABLE, ConsumerGroupState.COMPLETING_REBALANCING,
                                     ConsumerGroupState.PREPARING_REBALANCING), description.state
        addresses.append(("group coordinator", [(description.coordinator.id, description.coordinator.host,
                                                 description.coordinator.port)]))
    finally:
        consumer.close()

    tps = [TopicPartition(topic, part) for part in range(PARTITIONS)]
    for name, spec in (("earliest", OffsetSpec.earliest()), ("latest", OffsetSpec.latest())):
        via_proxy = {tp.partition: f.result(30).offset
                     for tp, f in admin.list_offsets({tp: spec for tp in tps}, request_timeout=15).items()}
        via_direct = {tp.partition: f.result(30).offset
                      for tp, f in direct.list_offsets({tp: spec for tp in tps}, request_timeout=15).items()}
        assert via_proxy == via_direct, name
        assert sorted(via_proxy) == list(range(PARTITIONS))
        if name == "earliest":
            assert set(via_proxy.values()) == {0}

    cluster = admin.describe_cluster(request_timeout=15).result(30)
    assert cluster.controller.id == TANSU_NODE_ID
    addresses.append(("DescribeCluster nodes", [(n.id, n.host, n.port) for n in cluster.nodes]))

    for f in admin.delete_topics([topic], operation_timeout=15).values():
        assert f.result(30) is None
    deadline = time.monotonic() + 10
    while topic in admin.list_topics(timeout=15).topics and time.monotonic() < deadline:
        time.sleep(0.2)
    assert topic not in admin.list_topics(timeout=15).topics
    p.assert_alive()
    assert_proxy_addresses(p, addresses)


@pytest.mark.parametrize("version", [0, 1, 4, 7, 9, 12])
def test_raw_metadata_matches_direct_except_addresses(tansu, proxy, version):
    """Metadata through the proxy equals Metadata from Tansu except broker host/port."""
    p = proxy()
    with kw.WireClient(HOST, tansu.port) as direct:
        want = direct.metadata(version)
    with kw.WireClient(HOST, p.listen_port) as c:
        got = c.metadata(version)
    for b in want["brokers"]:
        b["host"], b["port"] = HOST, p.broker_port(b["node_id"])
    assert got == want


@pytest.mark.parametrize("version", [0, 1, 2, 3])
def test_raw_api_versions_never_widened(tansu, proxy, version):
    """The proxy may pass ApiVersions through or narrow it, but must never advertise what Tansu lacks."""
    p = proxy()
    with kw.WireClient(HOST, tansu.port) as direct:
        upstream = {k: (lo, hi) for k, lo, hi in direct.api_versions(version)["api_keys"]}
    with kw.WireClient(HOST, p.listen_port) as c:
        got = c.api_versions(version)
    assert got["error_code"] == 0
    ranges = {k: (lo, hi) for k, lo, hi in got["api_keys"]}
    for key in (kw.API_API_VERSIONS, kw.API_METADATA, kw.API_FIND_COORDINATOR, 0, 1):  # + Produce, Fetch
        assert key in ranges, "api key %d missing through the proxy" % key
    for key, (lo, hi) in ranges.items():
        assert key in upstream, "api key %d advertised but Tansu lacks it" % key
        assert upstream[key][0] <= lo <= hi <= upstream[key][1], "api key %d: %s vs upstream %s" % (
            key, (lo, hi), upstream[key])
