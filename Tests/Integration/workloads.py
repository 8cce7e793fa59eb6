"""Client workloads shared by the integration tests (kafka-python and confluent-kafka)."""
import collections
import hashlib
import random
import time
import uuid

HOST = "127.0.0.1"


def unique(prefix):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def make_records(n, seed=0, prefix="rec"):
    """n distinct records: (key bytes, value bytes, headers [(str, bytes)]). Values mix compressible text
    with random bytes and vary in size; some records repeat a header key or carry an empty header value."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        key = ("%s-%06d-%08x" % (prefix, i, rng.getrandbits(32))).encode()
        value = ("value %d of %s; " % (i, prefix)).encode() * rng.randint(1, 12) + rng.randbytes(rng.randint(1, 96))
        if i % 997 == 0:
            value += rng.randbytes(8000)  # a few larger records
        headers = [("idx", str(i).encode()), ("trace", rng.randbytes(8))]
        if i % 7 == 0:
            headers.append(("idx", b"dup-%d" % i))
        if i % 11 == 0:
            headers.append(("empty", b""))
        out.append((key, value, headers))
    return out


def digest(key, value, headers):
    h = hashlib.sha256()
    for part in [key or b"", value or b""] + [x for k, v in (headers or []) for x in (k.encode(), v or b"")]:
        h.update(len(part).to_bytes(4, "big"))
        h.update(part)
    return h.hexdigest()


def digests(records):
    return collections.Counter(digest(*r) for r in records)


def compare_multisets(expected, got):
    """Human-readable difference of two Counters of digests ('' when equal)."""
    if expected == got:
        return ""
    missing = expected - got
    extra = got - expected
    dups = sum(c - 1 for c in got.values() if c > 1)
    return ("expected %d records, got %d: %d missing, %d unexpected or duplicated (%d duplicates)"
            % (sum(expected.values()), sum(got.values()), sum(missing.values()), sum(extra.values()), dups))


# ---------------------------------------------------------------------------------------------- kafka-python

def kp_admin(bootstrap, **cfg):
    from kafka import KafkaAdminClient
    return KafkaAdminClient(bootstrap_servers=bootstrap, client_id=cfg.pop("client_id", "it-admin"),
                            request_timeout_ms=cfg.pop("request_timeout_ms", 15000), **cfg)


def kp_create_topic(bootstrap, topic, partitions=3, **cfg):
    admin = kp_admin(bootstrap, **cfg)
    try:
        result = admin.create_topics({topic: {"num_partitions": partitions, "replication_factor": 1}})
        errors = [t for t in result["topics"] if t["error_code"] != 0]
        assert not errors, "create_topics failed: %s" % errors
    finally:
        admin.close()


def kp_producer(bootstrap, **cfg):
    from kafka import KafkaProducer
    config = dict(bootstrap_servers=bootstrap, acks="all", linger_ms=10, request_timeout_ms=15000,
                  max_block_ms=15000)
    config.update(cfg)
    return KafkaProducer(**config)


def kp_produce(bootstrap, topic, records, timeout=60, **cfg):
    """Produce all records, wait for every acknowledgement; returns {partition: count}."""
    producer = kp_producer(bootstrap, **cfg)
    try:
        futures = [producer.send(topic, key=k, value=v, headers=h) for k, v, h in records]
        producer.flush(timeout=timeout)
        per_partition = collections.Counter()
        failures = []
        for f in futures:
            if not f.is_done:
                failures.append("not acknowledged within %d s" % timeout)
            elif f.failed():
                failures.append(repr(f.exception))
            else:
                per_partition[f.value.partition] += 1
        assert not failures, "%d of %d sends failed, first: %s" % (len(failures), len(records), failures[0])
        return per_partition
    finally:
        producer.close(timeout=10)


def kp_consumer(bootstrap, group=None, **cfg):
    from kafka import KafkaConsumer
    config = dict(bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                  enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=500,
                  request_timeout_ms=15000, max_poll_records=2000)
    config.update(cfg)
    return KafkaConsumer(**config)


def kp_poll_until(consumer, expected_count, timeout, settle=1.0):
    """Poll until expected_count records arrived (then `settle` more seconds to catch duplicates) or timeout.
    Returns (Counter of digests, Counter of partitions)."""
    got, parts = collections.Counter(), collections.Counter()
    deadline = time.monotonic() + timeout
    settle_until = None
    while time.monotonic() < deadline:
        for tp, msgs in consumer.poll(timeout_ms=250).items():
            for m in msgs:
                got[digest(m.key, m.value, m.headers)] += 1
                parts[tp.partition] += 1
        if settle_until is None and sum(got.values()) >= expected_count:
            settle_until = time.monotonic() + settle
        if settle_until is not None and time.monotonic() >= settle_until:
            break
    return got, parts


def kp_read_all(bootstrap, topic, partitions, expected_count, timeout=30, **cfg):
    """Read a topic from the beginning without a group (assign + seek); returns Counter of digests."""
    from kafka import TopicPartition
    consumer = kp_consumer(bootstrap, group=None, **cfg)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        # From offset 0 rather than seek_to_beginning: that asks ListOffsets for the earliest offset, which Tansu
        # 0.6.0 sometimes answers too high on a partition being written (18 once, losing 18 records of the read).
        for tp in tps:
            consumer.seek(tp, 0)
        got, _ = kp_poll_until(consumer, expected_count, timeout)
        return got
    finally:
        consumer.close()


# ---------------------------------------------------------------------------------------------- confluent-kafka

def ck_admin(bootstrap, **cfg):
    from confluent_kafka.admin import AdminClient
    return AdminClient({"bootstrap.servers": bootstrap, "client.id": "it-ck-admin", **cfg})


def ck_create_topic(bootstrap, topic, partitions=3, **cfg):
    from confluent_kafka.admin import NewTopic
    admin = ck_admin(bootstrap, **cfg)  # keep a reference: a collected AdminClient fails its futures with _DESTROY
    for f in admin.create_topics([NewTopic(topic, partitions, 1)], operation_timeout=15).values():
        f.result(30)


def ck_producer(bootstrap, **cfg):
    from confluent_kafka import Producer
    config = {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 10, "client.id": "it-ck-producer"}
    config.update(cfg)
    return Producer(config)


def ck_produce(bootstrap, topic, records, timeout=60, **cfg):
    producer = ck_producer(bootstrap, **cfg)
    per_partition, failures = collections.Counter(), []

    def on_delivery(err, msg):
        if err is not None:
            failures.append(str(err))
        else:
            per_partition[msg.partition()] += 1

    deadline = time.monotonic() + timeout
    for k, v, h in records:
        while True:
            try:
                producer.produce(topic, key=k, value=v, headers=h, on_delivery=on_delivery)
                break
            except BufferError:  # local queue full: serve delivery reports, then retry
                assert time.monotonic() < deadline, "producer queue stayed full"
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(max(1.0, deadline - time.monotonic()))
    assert remaining == 0, "%d records not delivered within %d s" % (remaining, timeout)
    assert not failures, "%d of %d deliveries failed, first: %s" % (len(failures), len(records), failures[0])
    assert sum(per_partition.values()) == len(records)
    return per_partition


def ck_consumer(bootstrap, group, **cfg):
    from confluent_kafka import Consumer
    config = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
              "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500,
              "client.id": "it-ck-consumer"}
    config.update(cfg)
    return Consumer(config)


def ck_poll_until(consumer, expected_count, timeout, settle=1.0):
    got, parts, errors = collections.Counter(), collections.Counter(), []
    deadline = time.monotonic() + timeout
    settle_until = None
    while time.monotonic() < deadline:
        for m in consumer.consume(num_messages=1000, timeout=0.25):
            if m.error() is not None:
                errors.append(str(m.error()))
                continue
            got[digest(m.key(), m.value(), m.headers())] += 1
            parts[m.partition()] += 1
        if settle_until is None and sum(got.values()) >= expected_count:
            settle_until = time.monotonic() + settle
        if settle_until is not None and time.monotonic() >= settle_until:
            break
    return got, parts, errors


class BackgroundProducer:
    """kafka-python producer sending distinct records on its own thread until stopped, recording which
    sends were acknowledged (acks=all) and which failed. No retries and no idempotence, so a record is
    either acknowledged once or reported failed."""

    def __init__(self, bootstrap, topic, interval=0.002, prefix=None, **cfg):
        import threading
        config = dict(enable_idempotence=False, retries=0, linger_ms=2, request_timeout_ms=4000,
                      delivery_timeout_ms=8000, max_block_ms=3000, reconnect_backoff_max_ms=500)
        config.update(cfg)
        self.producer = kp_producer(bootstrap, **config)
        self.topic, self.interval = topic, interval
        self.prefix = prefix or unique("bg")
        self.acked, self.errors, self.sent = [], [], 0  # errors: (monotonic time, repr)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="background-producer")

    def _record(self, i):
        return (("%s-%07d" % (self.prefix, i)).encode(), b"payload-%d-" % i + b"x" * (i % 200),
                [("seq", str(i).encode())])

    def _run(self):
        i = 0
        while not self._stop.is_set():
            rec = self._record(i)
            i += 1
            try:
                f = self.producer.send(self.topic, key=rec[0], value=rec[1], headers=rec[2])
                self.sent += 1
                f.add_callback(lambda _md, rec=rec: self.acked.append(rec))
                f.add_errback(lambda e: self.errors.append((time.monotonic(), repr(e))))
            except Exception as e:  # noqa: BLE001 - e.g. KafkaTimeoutError while metadata is unavailable
                self.errors.append((time.monotonic(), repr(e)))
                self._stop.wait(0.05)
            self._stop.wait(self.interval)

    def start(self):
        self._thread.start()
        return self

    def wait_acked(self, n, timeout):
        deadline = time.monotonic() + timeout
        while len(self.acked) < n and time.monotonic() < deadline:
            if self.errors:
                raise AssertionError("background producer failed before %d acks: %s" % (n, self.errors[:3]))
            time.sleep(0.05)
        assert len(self.acked) >= n, "only %d of %d records acknowledged within %d s" % (len(self.acked), n, timeout)

    def errors_since(self, t):
        return [e for e in list(self.errors) if e[0] >= t]

    def stop(self, close_timeout=3):
        self._stop.set()
        self._thread.join(10)
        # kafka-python's close() raises (and stays open) while flush() times out on batches that cannot be sent;
        # they expire after delivery_timeout_ms, so retry a little longer than that, then force it.
        deadline = time.monotonic() + 10
        while True:
            try:
                self.producer.close(timeout=close_timeout)
                return
            except Exception:  # noqa: BLE001
                if time.monotonic() >= deadline:
                    break
        sender = getattr(self.producer, "_sender", None)
        if sender is not None:
            sender.force_close()
        self.producer._closed = True
