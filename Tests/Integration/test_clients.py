"""Real clients through the proxy: create a topic, produce 10,000 compressed records with keys and headers
(acks=all), consume them all in a consumer group, commit, and check that every record arrived exactly once,
unchanged, and that the client only ever saw (and connected to) proxy addresses."""
import pytest

from harness import HOST, TANSU_NODE_ID, PeerSampler
import workloads as wl

RECORDS = 10_000
PARTITIONS = 3


def assert_only_proxy_addresses(proxy, tansu, brokers, coordinator, peer_ports):
    """brokers: [(node_id, host, port)], coordinator: (host, port), peer_ports: remote ports this process used."""
    expected_port = proxy.broker_port(TANSU_NODE_ID)
    problems = []
    if sorted(b[0] for b in brokers) != [TANSU_NODE_ID]:
        problems.append("broker list %s, expected only node %d" % (brokers, TANSU_NODE_ID))
    for node_id, host, port in brokers:
        if (host, port) != (HOST, expected_port):
            problems.append("broker %s advertised as %s:%s, expected %s:%d" % (node_id, host, port, HOST,
                                                                               expected_port))
    if coordinator != (HOST, expected_port):
        problems.append("group coordinator %s:%s, expected %s:%d" % (coordinator + (HOST, expected_port)))
    if tansu.port in peer_ports:
        problems.append("the client opened a TCP connection straight to Tansu's port %d" % tansu.port)
    unexpected = peer_ports - proxy.proxy_ports([TANSU_NODE_ID])
    if unexpected:
        problems.append("the client connected to non-proxy ports %s" % sorted(unexpected))
    assert not problems, "address rewriting: " + "; ".join(problems)


def run_kafka_python(proxy, tansu):
    from kafka import TopicPartition
    topic, group = wl.unique("kp-topic"), wl.unique("kp-group")
    records = wl.make_records(RECORDS, seed=1, prefix=topic)
    with PeerSampler() as peers:
        wl.kp_create_topic(proxy.bootstrap, topic, PARTITIONS)
        produced = wl.kp_produce(proxy.bootstrap, topic, records, compression_type="lz4", batch_size=64 * 1024)
        consumer = wl.kp_consumer(proxy.bootstrap, group, client_id="it-kp-consumer")
        try:
            consumer.subscribe([topic])
            got, parts = wl.kp_poll_until(consumer, RECORDS, timeout=40)
            assignment = consumer.assignment()
            consumer.commit()
            tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
            committed = {tp.partition: consumer.committed(tp) for tp in tps}
            positions = {tp.partition: consumer.position(tp) for tp in tps}
            cluster = consumer._client.cluster
            brokers = [(b.node_id, b.host, b.port) for b in cluster.brokers()]
            coord = cluster.broker_metadata(cluster.get_coordinator(group))
            coordinator = (coord.host, coord.port) if coord else (None, None)
        finally:
            consumer.close(autocommit=False)
    return dict(records=records, produced=produced, got=got, parts=parts, assignment=len(assignment),
                committed=committed, positions=positions, brokers=brokers, coordinator=coordinator,
                peers=peers.seen)


def run_confluent(proxy, tansu):
    from confluent_kafka import TopicPartition
    topic, group = wl.unique("ck-topic"), wl.unique("ck-group")
    records = wl.make_records(RECORDS, seed=2, prefix=topic)
    with PeerSampler() as peers:
        wl.ck_create_topic(proxy.bootstrap, topic, PARTITIONS)
        produced = wl.ck_produce(proxy.bootstrap, topic, records, **{"compression.type": "zstd",
                                                                      "batch.size": 256 * 1024})
        consumer = wl.ck_consumer(proxy.bootstrap, group)
        try:
            consumer.subscribe([topic])
            got, parts, errors = wl.ck_poll_until(consumer, RECORDS, timeout=40)
            assert not errors, "consumer errors: %s" % errors[:5]
            assignment = consumer.assignment()
            consumer.commit(asynchronous=False)
            tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
            committed = {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=15)}
            positions = {tp.partition: tp.offset for tp in consumer.position(tps)}
            admin = wl.ck_admin(proxy.bootstrap)
            md = admin.list_topics(timeout=15)
            brokers = [(b.id, b.host, b.port) for b in md.brokers.values()]
            own = consumer.list_topics(topic, timeout=15)  # the consumer's own view, too
            brokers += [(b.id, b.host, b.port) for b in own.brokers.values()]
            description = admin.describe_consumer_groups([group], request_timeout=15)[group].result(30)
            coordinator = (description.coordinator.host, description.coordinator.port)
        finally:
            consumer.close()
    return dict(records=records, produced=produced, got=got, parts=parts, assignment=len(assignment),
                committed=committed, positions=positions, brokers=sorted(set(brokers)), coordinator=coordinator,
                peers=peers.seen)


@pytest.mark.parametrize("client", ["kafka-python", "confluent-kafka"])
def test_produce_consume_through_proxy(client, tansu, proxy):
    p = proxy()
    r = (run_kafka_python if client == "kafka-python" else run_confluent)(p, tansu)

    assert sum(r["produced"].values()) == RECORDS
    assert sorted(r["produced"]) == list(range(PARTITIONS)), "keys should spread over all partitions: %s" % (
        dict(r["produced"]),)
    diff = wl.compare_multisets(wl.digests(r["records"]), r["got"])
    assert not diff, "consumed records differ from produced ones: " + diff
    assert dict(r["parts"]) == dict(r["produced"]), "per-partition counts differ (produced %s, consumed %s)" % (
        dict(r["produced"]), dict(r["parts"]))
    assert r["assignment"] == PARTITIONS, "the single group member should own all %d partitions" % PARTITIONS
    for part in range(PARTITIONS):
        committed = r["committed"][part]
        committed = getattr(committed, "offset", committed)  # kafka-python: int or OffsetAndMetadata
        assert committed == r["positions"][part], "partition %d: committed %s, position %s" % (
            part, committed, r["positions"][part])
    p.assert_alive("after the workload")
    assert_only_proxy_addresses(p, tansu, r["brokers"], r["coordinator"], r["peers"])
