"""Client-side helpers shared by the TLS/SASL tests: test_secured_brokers.py (clients connecting straight to the
stand-ins of secured_brokers.py) and test_security.py (the same clients through the proxy).

- security(): kafka-python and confluent-kafka settings for one security protocol, kafka-python as alice and
  confluent-kafka as bob (with OAUTHBEARER: JWT subjects dave and carol), so that authentication events and
  principal labels tell them apart. rejected_credentials(): what makes a mechanism fail (a wrong password, or
  JWT subjects that SaslUpstream's valid_subjects leave out).
- in_parallel(): run client work on threads at once.
- roundtrip(): both clients produce, then both consume everything in consumer groups of their own and commit;
  contents by digest, committed offsets, and the cluster view each client ended with (expected_brokers).
- produce_and_read_back(): a smaller produce + read-back with both clients (legacy SASL exchange).
- produce_for(): both clients produce one record at a time for a while (KIP-368 re-authentication).
- observe(): what each client reports when it cannot connect (secured_brokers.kafka_python_failure /
  confluent_failure, at the same time), printed for -s.
"""
import concurrent.futures
import time

import secured_brokers as sb
import workloads as wl

PARTITIONS = 3
KP_USER, KP_PASSWORD = "alice", sb.DEFAULT_USERS["alice"]  # kafka-python authenticates as alice,
CK_USER, CK_PASSWORD = "bob", sb.DEFAULT_USERS["bob"]      # confluent-kafka as bob: events tell them apart
# OAUTHBEARER: kafka-python sends an unsecured JWT made here with sub dave, librdkafka its own with sub carol.
KP_SUBJECT, CK_SUBJECT = "dave", "carol"
OAUTH_SUBJECTS = (KP_SUBJECT, CK_SUBJECT)  # SaslUpstream(valid_subjects=) for tests that reject others

# Kafka's SaslAuthenticate error messages (SaslServerAuthenticator, PlainSaslServer) that SaslUpstream sends.
SCRAM_FAILED = "Authentication failed during authentication due to invalid credentials with SASL mechanism %s"
PLAIN_FAILED = "Authentication failed: Invalid username or password"
# OAUTHBEARER: RFC 7628's error report for a rejected token (Kafka's OAuthBearerSaslServer), which becomes the
# error message once the client acknowledges it.
OAUTH_FAILED = '{"status":"invalid_token"}'


def failure_message(mechanism):
    """The SaslAuthenticate error message SaslUpstream sends when rejected_credentials(mechanism) are used."""
    if mechanism == "OAUTHBEARER":
        return OAUTH_FAILED
    return PLAIN_FAILED if mechanism == "PLAIN" else SCRAM_FAILED % mechanism


def rejected_credentials(mechanism):
    """security() keyword arguments that SaslUpstream rejects: a wrong password, or for OAUTHBEARER subjects
    (mallory, eve) outside OAUTH_SUBJECTS (the stand-in must be given valid_subjects=OAUTH_SUBJECTS)."""
    if mechanism == "OAUTHBEARER":
        return {"kp_user": "mallory", "ck_user": "eve"}
    return {"kp_password": "wrong", "ck_password": "wrong"}


def security(protocol, certs, mechanism=None, client_cert=False, kp_password=KP_PASSWORD, ck_password=CK_PASSWORD,
             kp_user=None, ck_user=None):
    """(kafka-python settings, confluent-kafka settings) for one protocol; certs: certificates.Certificates (the
    test CA is trusted; client_cert: present the client certificate, for mutual TLS). kp_user/ck_user default to
    alice/bob, with OAUTHBEARER to the JWT subjects dave/carol (passwords unused)."""
    oauth = mechanism == "OAUTHBEARER"
    kp_user = kp_user or (KP_SUBJECT if oauth else KP_USER)
    ck_user = ck_user or (CK_SUBJECT if oauth else CK_USER)
    client = certs.client if client_cert else None
    return (sb.kafka_python_security(protocol, certs.ca_cert, client, mechanism, kp_user, kp_password),
            sb.confluent_security(protocol, certs.ca_cert, client, mechanism, ck_user, ck_password))


def in_parallel(*calls, timeout=120):
    """Runs the callables on threads, returns their results in order (re-raising the first failure)."""
    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(c) for c in calls]
        return [f.result(timeout=timeout) for f in futures]


# ---------------------------------------------------------------------------------------------- round trips

def kp_group_consume(bootstrap, topic, expected, kp, partitions=PARTITIONS, timeout=30):
    """kafka-python consumes `expected` records of `topic` in a fresh group and commits: (Counter of digests,
    sum of committed offsets, [(node id, host, port)] of its cluster view)."""
    from kafka import TopicPartition
    consumer = wl.kp_consumer(bootstrap, wl.unique("kp-group"), client_id="it-kp-consumer", **kp)
    try:
        consumer.subscribe([topic])
        got, _ = wl.kp_poll_until(consumer, expected, timeout=timeout, settle=0.3)
        consumer.commit()
        committed = sum(consumer.committed(TopicPartition(topic, p)) or 0 for p in range(partitions))
        cluster = consumer._client.cluster
        brokers = sorted((b.node_id, b.host, b.port) for b in cluster.brokers())
    finally:
        consumer.close(autocommit=False)
    return got, committed, brokers


def ck_group_consume(bootstrap, topic, expected, ck, partitions=PARTITIONS, timeout=30):
    """kp_group_consume for confluent-kafka (consumer errors fail it)."""
    from confluent_kafka import TopicPartition
    consumer = wl.ck_consumer(bootstrap, wl.unique("ck-group"), **ck)
    try:
        consumer.subscribe([topic])
        got, _, errors = wl.ck_poll_until(consumer, expected, timeout=timeout, settle=0.3)
        assert not errors, "confluent-kafka consumer errors: %s" % errors[:3]
        consumer.commit(asynchronous=False)
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        committed = sum(max(tp.offset, 0) for tp in consumer.committed(tps, timeout=15))
        md = consumer.list_topics(timeout=15)
        brokers = sorted((b.id, b.host, b.port) for b in md.brokers.values())
    finally:
        consumer.close()
    return got, committed, brokers


def roundtrip(bootstrap, kp, ck, expected_brokers, records=200, partitions=PARTITIONS, consume_timeout=30):
    """kafka-python creates a topic; both clients produce `records` records at once, then both consume all of
    them in a group of their own at once and commit. Checks contents (digests of key, value and headers),
    committed offsets, and that each client's cluster view is exactly expected_brokers ([(node id, host,
    port)]). Returns the topic."""
    topic = wl.unique("sec-topic")
    wl.kp_create_topic(bootstrap, topic, partitions, client_id="it-kp-admin", **kp)
    kp_records = wl.make_records(records, seed=1, prefix=topic + "-kp")
    ck_records = wl.make_records(records, seed=2, prefix=topic + "-ck")
    in_parallel(lambda: wl.kp_produce(bootstrap, topic, kp_records, client_id="it-kp-producer", **kp),
                lambda: wl.ck_produce(bootstrap, topic, ck_records, **ck))
    expected = wl.digests(kp_records + ck_records)
    total = 2 * records
    (kp_got, kp_committed, kp_brokers), (ck_got, ck_committed, ck_brokers) = in_parallel(
        lambda: kp_group_consume(bootstrap, topic, total, kp, partitions, consume_timeout),
        lambda: ck_group_consume(bootstrap, topic, total, ck, partitions, consume_timeout))
    problems = []
    for name, got, committed, brokers in (("kafka-python", kp_got, kp_committed, kp_brokers),
                                          ("confluent-kafka", ck_got, ck_committed, ck_brokers)):
        diff = wl.compare_multisets(expected, got)
        if diff:
            problems.append("%s consumed: %s" % (name, diff))
        if committed != total:
            problems.append("%s committed offsets sum to %d, expected %d" % (name, committed, total))
        if brokers != sorted(expected_brokers):
            problems.append("%s sees brokers %s, expected %s" % (name, brokers, sorted(expected_brokers)))
    assert not problems, "; ".join(problems)
    return topic


def produce_and_read_back(bootstrap, kp, ck, records=50, prefix="sec", partitions=PARTITIONS):
    """kafka-python creates a topic, both clients produce `records` records at once, kafka-python reads all of
    them back without a group; asserts they are the ones produced."""
    topic = wl.unique(prefix)
    kp_records = wl.make_records(records, seed=3, prefix=topic + "-kp")
    ck_records = wl.make_records(records, seed=4, prefix=topic + "-ck")
    wl.kp_create_topic(bootstrap, topic, partitions, **kp)
    in_parallel(lambda: wl.kp_produce(bootstrap, topic, kp_records, **kp),
                lambda: wl.ck_produce(bootstrap, topic, ck_records, **ck))
    got = wl.kp_read_all(bootstrap, topic, partitions, 2 * records, **kp)
    diff = wl.compare_multisets(wl.digests(kp_records + ck_records), got)
    assert not diff, "read back: %s" % diff
    return topic


def produce_for(bootstrap, topic, kp, ck, seconds=7.0, interval=0.1):
    """Both clients produce one record at a time (each acknowledged before the next, acks=all) for `seconds`, on
    one connection each unless something closes it. Returns (kafka-python sent, confluent-kafka sent); any send
    error fails."""
    def kafka_python():
        producer = wl.kp_producer(bootstrap, client_id="it-kp-steady", **kp)
        sent, end = 0, time.monotonic() + seconds
        try:
            while time.monotonic() < end:
                producer.send(topic, b"kp-%d" % sent).get(10)
                sent += 1
                time.sleep(interval)
        finally:
            producer.close(timeout=5)
        return sent

    def confluent():
        producer = wl.ck_producer(bootstrap, **{"client.id": "it-ck-steady", **ck})
        failures, sent, end = [], 0, time.monotonic() + seconds
        while time.monotonic() < end:
            producer.produce(topic, b"ck-%d" % sent, on_delivery=lambda err, msg: err and failures.append(err))
            sent += 1
            assert producer.flush(10) == 0, "confluent-kafka record %d not acknowledged within 10 s" % sent
            time.sleep(interval)
        assert not failures, failures[:3]
        return sent

    return in_parallel(kafka_python, confluent)


# ---------------------------------------------------------------------------------------------- failures

def observe(bootstrap, kp, ck, timeout=2.0, label=""):
    """(kafka-python ClientFailure, confluent-kafka ClientFailure), observed at the same time, printed for -s."""
    kp_failure, ck_failure = in_parallel(lambda: sb.kafka_python_failure(bootstrap, timeout=timeout, **kp),
                                         lambda: sb.confluent_failure(bootstrap, timeout=timeout, **ck))
    for f in (kp_failure, ck_failure):
        print("\n%s%s (%.1f s): raised %r" % (label + ": " if label else "", f.client, f.elapsed, f.raised))
        for line in f.reported:
            print("    " + line)
    return kp_failure, ck_failure
