"""Passive consumer-group lag: what the proxy's `/lag`, its lag metric families and `kafkascope pcap` say about a
consumer group, checked against the truth taken from outside Kafkascope.

- Exact lag at quiescence (Tansu, kafka-python and confluent-kafka through the proxy, tcpdump on the client leg):
  a 3-partition topic gets 5,000 records from both producers; a group consumes about 3,000 with commits and stops
  without leaving; 1,000 more are produced. The committed offsets are asked of Tansu directly (kafka-python admin,
  not through the proxy); the log end offsets are the highest acknowledged offset + 1 per partition, from the
  producers' delivery reports. ListOffsets is never used for the truth: Tansu 0.6.0's `latest` answers too low.
  `kafkascope_consumergroup_lag` and `/lag` must equal the true lag exactly, an OffsetCommit that Tansu refuses
  (UNKNOWN_MEMBER_ID) must not move the committed offset, `kafkascope pcap --format lag` and `--format prometheus`
  on the capture must give the same lag, and once the consumer has caught up and committed the lag is 0.
- Seconds: a group commits everything, records are produced, and 5 s later `kafkascope_consumergroup_lag_seconds`
  of that partition is 5 s within 1 s.
- KIP-848 and transactions: no client here speaks ConsumerGroupHeartbeat and Tansu 0.6.0 answers neither it nor
  a TxnOffsetCommit from a hand-made client, so a scripted upstream (kafka_wire.FakeCluster) answers them: members
  come and go with ConsumerGroupHeartbeat, a TxnOffsetCommit counts where its response says the partition succeeded
  and not where it failed, and ListOffsets `latest` gives the log end.
- Bounds: 10,000 distinct groups commit through a proxy that keeps 100: the evictions are counted and the proxy's
  RSS stays flat.
"""
import json
import struct
import time

import pytest

import kafka_wire as kw
import workloads as wl
from wirecapture import LoopbackCapture
from harness import (HOST, TANSU_NODE_ID, attach_log, fetch_metrics, find_port_block, http_get, kafkascope_binary,
                     metric_by, metric_sum, parse_metrics, promtool_complaints, tool_binary, wait_until)
from test_readiness import run_pcap

PARTITIONS = 3


# ---------------------------------------------------------------------------------------------- truth

def produce_kafka_python(bootstrap, topic, count, seed):
    """Produces `count` records; returns {partition: highest acknowledged offset + 1}."""
    producer = wl.kp_producer(bootstrap, client_id="it-lag-kafka-python")
    try:
        futures = [producer.send(topic, key=k, value=v, headers=h)
                   for k, v, h in wl.make_records(count, seed=seed, prefix="lag-kp")]
        producer.flush(timeout=60)
        ends = {}
        for f in futures:
            metadata = f.get(timeout=1)
            ends[metadata.partition] = max(ends.get(metadata.partition, 0), metadata.offset + 1)
        return ends
    finally:
        producer.close(timeout=10)


def produce_confluent(bootstrap, topic, count, seed):
    producer = wl.ck_producer(bootstrap, **{"client.id": "it-lag-confluent"})
    ends, failures = {}, []

    def on_delivery(err, msg):
        if err is not None:
            failures.append(str(err))
        else:
            ends[msg.partition()] = max(ends.get(msg.partition(), 0), msg.offset() + 1)

    for k, v, h in wl.make_records(count, seed=seed, prefix="lag-ck"):
        while True:
            try:
                producer.produce(topic, key=k, value=v, headers=h, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(60) == 0, "confluent-kafka: records left undelivered"
    assert not failures, "confluent-kafka deliveries failed: %s" % failures[:3]
    return ends


def merge_ends(*ends):
    out = {}
    for e in ends:
        for partition, end in e.items():
            out[partition] = max(out.get(partition, 0), end)
    return out


def committed_at_broker(broker_bootstrap, group, topic):
    """{partition: committed offset} as Tansu itself answers, asked directly rather than through the proxy."""
    admin = wl.kp_admin(broker_bootstrap, client_id="it-lag-truth")
    try:
        offsets = admin.list_group_offsets(group)[group]
        return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset >= 0}
    finally:
        admin.close()


def consume(consumer, count, timeout=60, partitions=0):
    """Consumes at least `count` records, and records of at least `partitions` partitions, and commits what was
    consumed (synchronously). librdkafka may take a count's worth from some partitions before it has fetched from
    another (one CI run took 3,000 from two of three), so a count alone does not make every partition take part."""
    got = 0
    seen = set()
    deadline = time.monotonic() + timeout
    while got < count or len(seen) < partitions:
        assert time.monotonic() < deadline, "consumed %d of %d records, from partitions %s, in %d s" % (
            got, count, sorted(seen), timeout)
        for m in consumer.consume(num_messages=max(1, min(500, count - got)), timeout=0.5):
            assert m.error() is None, "consumer error: %s" % m.error()
            got += 1
            seen.add(m.partition())
    consumer.commit(asynchronous=False)
    return got


# ---------------------------------------------------------------------------------------------- views

def lag_document(proxy):
    status, headers, body = http_get(proxy.metrics_port, "/lag")
    assert status == 200 and headers.get("content-type") == "application/json", (status, headers, body[:300])
    return json.loads(body)


def partitions_of(document, group, topic):
    """{partition: (committed, log end, lag)} of one group and topic in a /lag (or pcap --format lag) document."""
    for g in document["groups"]:
        if g["group"] != group:
            continue
        for t in g["topics"]:
            if t["topic"] == topic:
                return {p["partition"]: (p["committed_offset"], p["log_end_offset"], p["lag"]) for p in t["partitions"]}
    return {}


def metric_lag(parsed, group, topic):
    return {int(k): int(v) for k, v in metric_by(parsed, "kafkascope_consumergroup_lag", "partition",
                                                 group=group, topic=topic).items()}


def expected_view(committed, ends):
    return {p: (committed[p], ends[p], max(0, ends[p] - committed[p])) for p in committed}


# ---------------------------------------------------------------------------------------------- tests

@pytest.mark.timeout_seconds(300)
def test_exact_lag_at_quiescence_from_proxy_and_capture(tansu, proxy, tmp_path, request):
    p = proxy()
    broker_port = p.broker_port(TANSU_NODE_ID)
    capture = tmp_path / "client-leg.pcap"
    log = tmp_path / "tcpdump.log"
    attach_log(request, "tcpdump log", log)
    topic, group = wl.unique("lag-orders"), wl.unique("lag-group")
    with LoopbackCapture([p.listen_port, broker_port], capture, log, recorder="tcpdump"):
        wl.kp_create_topic(p.bootstrap, topic, partitions=PARTITIONS)
        ends = merge_ends(produce_kafka_python(p.bootstrap, topic, 2500, seed=1),
                          produce_confluent(p.bootstrap, topic, 2500, seed=2))
        # Small fetches, and records of every partition among the 3,000 or so consumed, so that each has a commit.
        consumer = wl.ck_consumer(p.bootstrap, group, **{"client.id": "it-lag-consumer",
                                                         "max.partition.fetch.bytes": 32768})
        consumer.subscribe([topic])
        consumed = consume(consumer, 3000, partitions=PARTITIONS)
        # The consumer stays in the group, not polling, while 1,000 more records arrive.
        ends = merge_ends(ends, produce_kafka_python(p.bootstrap, topic, 1000, seed=3))
        assert sum(ends.values()) == 6000, "acknowledged log ends %s" % ends
        committed = committed_at_broker(tansu.bootstrap, group, topic)
        assert sorted(committed) == list(range(PARTITIONS)) and sum(committed.values()) == consumed, (
            "Tansu's committed offsets %s for %d records consumed" % (committed, consumed))
        truth = expected_view(committed, ends)
        assert 0 < sum(lag for _, _, lag in truth.values()) <= 3000 + 1000

        # A commit Tansu refuses (a member id it does not know) must not move anything.
        with kw.WireClient(HOST, broker_port, client_id="it-lag-ghost") as c:
            _, r = c.call(kw.API_OFFSET_COMMIT, 7, kw.offset_commit_request(
                7, group, 1, "ghost-member", {topic: {0: 0, 1: 0, 2: 0}}))
            codes = [pt["error_code"] for t in kw.decode_offset_commit_response(7, r)["topics"] for pt in t["partitions"]]
        assert codes and all(code != 0 for code in codes), "Tansu accepted a ghost member's commit: %s" % codes
        assert committed_at_broker(tansu.bootstrap, group, topic) == committed

        def proxy_agrees():
            document = lag_document(p)
            return document if partitions_of(document, group, topic) == truth else None
        try:
            document = wait_until(proxy_agrees, 15, interval=0.2, what="/lag equal to the true lag")
        except AssertionError:
            pytest.fail("/lag says %s for %s, the truth (broker commits, delivery reports) is %s" % (
                partitions_of(lag_document(p), group, topic), group, truth), pytrace=False)
        exposition = fetch_metrics(p)
        complaints = promtool_complaints(tool_binary("promtool", "prometheus", env="PROMTOOL_BIN"), exposition)
        assert not complaints, "promtool check metrics on /metrics with lag:\n%s" % "\n".join(complaints)
        parsed = parse_metrics(exposition)
        assert metric_lag(parsed, group, topic) == {q: lag for q, (_, _, lag) in truth.items()}
        assert metric_sum(parsed, "kafkascope_consumergroup_lag_sum", group=group, topic=topic) == \
            sum(lag for _, _, lag in truth.values())
        assert {int(k): int(v) for k, v in metric_by(parsed, "kafkascope_consumergroup_current_offset", "partition",
                                                     group=group, topic=topic).items()} == committed
        assert {int(k): int(v) for k, v in metric_by(parsed, "kafkascope_topic_partition_current_offset",
                                                     "partition", topic=topic).items()} == ends
        assert metric_sum(parsed, "kafkascope_consumergroup_members", group=group) == 1
        observed = metric_sum(parsed, "kafkascope_consumergroup_lag_observed_timestamp_seconds", group=group, topic=topic)
        assert abs(observed - time.time()) < 60, "observed timestamp %s" % observed
        group_document = next(g for g in document["groups"] if g["group"] == group)
        assert group_document["members"] == 1 and group_document["last_commit"], group_document
    p.assert_alive("after the lag workload")

    # The capture of the same traffic, read offline, gives the same lag as of its end.
    offline = json.loads(run_pcap(capture, [p.listen_port, broker_port], "lag"))
    assert partitions_of(offline, group, topic) == truth, "pcap --format lag: %s" % partitions_of(offline, group, topic)
    prometheus = parse_metrics(run_pcap(capture, [p.listen_port, broker_port], "prometheus"))
    assert metric_lag(prometheus, group, topic) == {q: lag for q, (_, _, lag) in truth.items()}
    summary = run_pcap(capture, [p.listen_port, broker_port], "summary")
    row = next((line.split() for line in summary.splitlines() if line.startswith(group + " ")), None)
    assert row and row[1] == topic and int(row[5]) == sum(lag for _, _, lag in truth.values()), summary

    # The consumer catches up and commits: no lag left.
    consume(consumer, sum(lag for _, _, lag in truth.values()))
    consumer.close()
    final = committed_at_broker(tansu.bootstrap, group, topic)
    assert final == ends, "after catching up Tansu holds %s, the log ends are %s" % (final, ends)
    wait_until(lambda: all(lag == 0 for _, _, lag in partitions_of(lag_document(p), group, topic).values()) or None,
               15, interval=0.2, what="lag 0 after the consumer caught up")
    assert metric_lag(parse_metrics(fetch_metrics(p)), group, topic) == {q: 0 for q in range(PARTITIONS)}


def test_lag_in_seconds_is_the_age_of_the_first_uncommitted_record(tansu, proxy):
    p = proxy()
    topic, group = wl.unique("lag-seconds"), wl.unique("lag-seconds-group")
    wl.kp_create_topic(p.bootstrap, topic, partitions=1)
    produce_kafka_python(p.bootstrap, topic, 100, seed=4)
    consumer = wl.ck_consumer(p.bootstrap, group, **{"client.id": "it-lag-seconds"})
    consumer.subscribe([topic])
    consume(consumer, 100)
    produced_at = time.time()
    produce_kafka_python(p.bootstrap, topic, 50, seed=5)
    time.sleep(5 - (time.time() - produced_at))
    parsed = parse_metrics(fetch_metrics(p))
    seconds = metric_by(parsed, "kafkascope_consumergroup_lag_seconds", "partition", group=group, topic=topic)
    assert set(seconds) == {"0"}, "lag_seconds series: %s" % seconds
    assert abs(seconds["0"] - 5) <= 1, "lag in seconds %.3f, 5 s after the first uncommitted record" % seconds["0"]
    assert metric_lag(parsed, group, topic) == {0: 50}
    consumer.close()


# ---------------------------------------------------------------------------------------------- scripted upstream

API_LIST_OFFSETS, API_TXN_OFFSET_COMMIT, API_CONSUMER_GROUP_HEARTBEAT = 2, 28, 68
# Flexible versions used below (ListOffsets v7, TxnOffsetCommit v3, ConsumerGroupHeartbeat v0).
kw.FLEXIBLE_FROM.update({API_LIST_OFFSETS: 6, API_TXN_OFFSET_COMMIT: 3, API_CONSUMER_GROUP_HEARTBEAT: 0})
SCRIPTED_TOPIC = kw.FakeCluster.TOPIC_NAME


def heartbeat_request(group, member, epoch):
    # ConsumerGroupHeartbeatRequest v0: GroupId, MemberId, MemberEpoch, InstanceId?, RackId?, RebalanceTimeoutMs,
    # SubscribedTopicNames?[], ServerAssignor?, TopicPartitions?[], tags.
    w = kw.Writer(flexible=True).string(group).string(member).i32(epoch).string(None, nullable=True)
    w.string(None, nullable=True).i32(30000)
    w.array([SCRIPTED_TOPIC], lambda w, t: w.string(t), nullable=True).string(None, nullable=True)
    return w.array(None, None, nullable=True).tags().bytes()


def heartbeat_response(member, epoch):
    # ThrottleTimeMs, ErrorCode, ErrorMessage?, MemberId?, MemberEpoch, HeartbeatIntervalMs, Assignment? (-1), tags.
    w = kw.Writer(flexible=True).i32(0).i16(0).string(None, nullable=True).string(member, nullable=True)
    return w.i32(epoch).i32(5000).i8(-1).tags().bytes()


def txn_commit_request(group, offsets):
    # TxnOffsetCommitRequest v3: TransactionalId, GroupId, ProducerId, ProducerEpoch, GenerationId, MemberId,
    # GroupInstanceId?, Topics[Name, Partitions[PartitionIndex, CommittedOffset, CommittedLeaderEpoch,
    # CommittedMetadata?]].
    w = kw.Writer(flexible=True).string("it-txn").string(group).i64(4000).i16(0).i32(3).string("member-a")
    w.string(None, nullable=True)

    def partition(w, item):
        w.i32(item[0]).i64(item[1]).i32(-1).string(None, nullable=True).tags()
    w.array([SCRIPTED_TOPIC], lambda w, t: w.string(t).array(sorted(offsets.items()), partition).tags())
    return w.tags().bytes()


def txn_commit_response(codes):
    w = kw.Writer(flexible=True).i32(0)
    w.array([SCRIPTED_TOPIC], lambda w, t: w.string(t).array(
        sorted(codes.items()), lambda w, item: w.i32(item[0]).i16(item[1]).tags()).tags())
    return w.tags().bytes()


def list_offsets_request(partitions):
    # ListOffsetsRequest v7: ReplicaId, IsolationLevel, Topics[Name, Partitions[PartitionIndex, CurrentLeaderEpoch,
    # Timestamp]]; -1 asks for the latest offset.
    w = kw.Writer(flexible=True).i32(-1).i8(0)
    w.array([SCRIPTED_TOPIC], lambda w, t: w.string(t).array(
        partitions, lambda w, q: w.i32(q).i32(-1).i64(-1).tags()).tags())
    return w.tags().bytes()


def list_offsets_response(ends):
    w = kw.Writer(flexible=True).i32(0)
    w.array([SCRIPTED_TOPIC], lambda w, t: w.string(t).array(
        sorted(ends.items()), lambda w, item: w.i32(item[0]).i16(0).i64(-1).i64(item[1]).i32(5).tags()).tags())
    return w.tags().bytes()


def test_kip848_members_and_transactional_commits_from_a_scripted_upstream(fake_cluster, proxy):
    """Scripted upstream: Tansu 0.6.0 and the clients here cannot produce ConsumerGroupHeartbeat or a
    TxnOffsetCommit of our choosing."""
    group = wl.unique("kip848-group")

    def override(nid, api_key, version, corr, client_id, body):
        if api_key == API_CONSUMER_GROUP_HEARTBEAT:
            r = kw.Reader(body, flexible=True)
            _, member, epoch = r.string(), r.string(), r.i32()
            return kw.response_frame(api_key, version, corr, heartbeat_response(member, max(epoch, 0) + 1))
        if api_key == API_TXN_OFFSET_COMMIT:
            # Partition 1 fails (CONCURRENT_TRANSACTIONS, 51): its offset must not count.
            return kw.response_frame(api_key, version, corr, txn_commit_response({0: 0, 1: 51}))
        if api_key == API_LIST_OFFSETS:
            return kw.response_frame(api_key, version, corr, list_offsets_response({0: 100, 1: 80}))
        return None

    ranges = {kw.API_API_VERSIONS: (0, 3), kw.API_METADATA: (0, 12), API_CONSUMER_GROUP_HEARTBEAT: (0, 1),
              API_TXN_OFFSET_COMMIT: (0, 5), API_LIST_OFFSETS: (0, 10)}
    fake = fake_cluster([1], override=override, api_ranges=ranges)
    p = proxy(bootstrap=fake.bootstrap(), broker_port_base=find_port_block([0, 1]), node_ids=(1,))
    with kw.WireClient(HOST, p.listen_port, client_id="it-kip848") as c:
        for member in ("member-a", "member-b", "member-c"):
            c.call(API_CONSUMER_GROUP_HEARTBEAT, 0, heartbeat_request(group, member, 0))
        c.call(API_CONSUMER_GROUP_HEARTBEAT, 0, heartbeat_request(group, "member-c", -1))  # leaves
        c.call(API_TXN_OFFSET_COMMIT, 3, txn_commit_request(group, {0: 40, 1: 70}))
        c.call(API_LIST_OFFSETS, 7, list_offsets_request([0, 1]))

    def settled():
        parsed = parse_metrics(fetch_metrics(p))
        return parsed if metric_sum(parsed, "kafkascope_consumergroup_lag", group=group) else None
    parsed = wait_until(settled, 10, interval=0.2, what="lag of the scripted group")
    assert metric_sum(parsed, "kafkascope_consumergroup_members", group=group) == 2
    assert metric_lag(parsed, group, SCRIPTED_TOPIC) == {0: 60}, "partition 1's commit failed: no lag for it"
    document = lag_document(p)
    assert partitions_of(document, group, SCRIPTED_TOPIC) == {0: (40, 100, 60)}
    assert {(e["partition"], e["offset"]) for e in document["log_end_offsets"]} == {(0, 100), (1, 80)}
    assert metric_sum(parsed, "kafkascope_frames_undecoded_total") == 0


# ---------------------------------------------------------------------------------------------- bounds

def rss_kib(pid):
    with open("/proc/%d/status" % pid) as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@pytest.mark.timeout_seconds(300)
def test_ten_thousand_groups_stay_within_the_bound(tansu, proxy):
    p = proxy("--lag-max-groups", "100")
    topic = wl.unique("lag-bounds")
    wl.kp_create_topic(p.bootstrap, topic, partitions=1)
    produce_kafka_python(p.bootstrap, topic, 10, seed=6)
    samples = []
    with kw.WireClient(HOST, p.broker_port(TANSU_NODE_ID), client_id="it-lag-bounds") as c:
        for index in range(10_000):
            # A group with no members accepts a commit from outside it (generation -1), as an admin's would.
            c.send(kw.API_OFFSET_COMMIT, 7, kw.offset_commit_request(7, "bounds-%05d" % index, -1, "", {topic: {0: 5}}))
            if index % 500 == 499:
                for _ in range(500):
                    c.recv_frame()
                samples.append(rss_kib(p.pid))
    parsed = parse_metrics(fetch_metrics(p))
    groups = metric_by(parsed, "kafkascope_consumergroup_lag_sum", "group")
    assert len(groups) == 100 and all(g.startswith("bounds-") for g in groups), "groups exported: %d" % len(groups)
    assert metric_sum(parsed, "kafkascope_lag_evictions_total", table="groups") == 9_900
    growth = samples[-1] - samples[3]
    assert growth < 4 * 1024, "RSS grew by %d KiB from 2,000 to 10,000 groups: %s" % (growth, samples)
